/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * trust-anchors.h: the trust anchors a handshake verifies its peer with:
 * the policy's trust store (SPEC §4, trust-store) and the application's
 * own (TLS_TRUSTED_PEER_CERTIFICATES, app-trust-store), loaded once per
 * supervisor or, in a helper started alone, only when the peer's
 * certificate is in and, for trust-store = system, only the anchors that
 * chain names (trust-index.h).  See ssa-helper(8), TRUST ANCHORS.
 *
 * Whatever is loaded and when, the verdict is GnuTLS's with the whole
 * store: the store's anchors come before the application's (GnuTLS picks
 * among anchors of one name by their order), and the index yields every
 * anchor GnuTLS's verification could look up for the chain.
 */
#ifndef SSA_TRUST_ANCHORS_H
#define SSA_TRUST_ANCHORS_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>

#include "ssa-msg.h"

/*
 * Anchors left for when the peer's certificate is in (one per session,
 * zeroed by its owner; trust_anchors_end() releases it).
 */
struct trust_deferral {
	char *store;                 /* the policy's trust store to load, or NULL: nothing left */
	const gnutls_datum_t *app;   /* the application's PEM files to add after it (the caller's) */
	size_t n_app;
	int error;                   /* what loading them gave: 0, -ECANCELED or -EINVAL, why in `why` */
	char why[SSA_REASON_MAX];
	/* The credentials hold a list trust_anchors_preload() made: memory
	 * this process shares copy-on-write with the one that forked it. */
	bool preloaded;
};

/*
 * Load trust store `store` (a policy's trust-store value: "system", a PEM
 * file or a directory) now, once, for the handshakes of the helpers this
 * process forks (the supervisor).  Returns 0 (also when 32 stores are
 * loaded already or memory ran out: the others load per handshake) or
 * -ECANCELED with the reason in why[0..why_size) (the store does not
 * load).  trust_anchors_preload_free() forgets them all (before a reload).
 */
int trust_anchors_preload(const char *store, char *why, size_t why_size);
void trust_anchors_preload_free(void);

/*
 * Add the application's anchors, app[0..n_app) (PEM, the caller's), to
 * cred now: 0, or -EINVAL with the reason (a file with no certificate in
 * it, or one GnuTLS cannot parse).
 */
int trust_anchors_add_app(gnutls_certificate_credentials_t cred, const gnutls_datum_t *app, size_t n_app,
			  char *why, size_t why_size);

/*
 * Arrange the anchors of one handshake in cred: the policy's trust store
 * `store`, then the application's anchors app[0..n_app) (app-trust-store =
 * add), or only the latter (`replace`).  A store preloaded by
 * trust_anchors_preload() is taken now (cred owns it from then on, and
 * d->preloaded says so).
 * Otherwise, with `defer`, the store and the application's anchors are
 * left in *d for trust_anchors_load_deferred(), and only parsed now, so
 * that a file with no certificate fails before the handshake; without
 * `defer`, all of it is loaded now.  app must outlive the handshake.
 * Returns 0, or -ECANCELED (the store does not load), -EINVAL (the
 * application's anchors) or -ENOMEM, with the reason.
 */
int trust_anchors_arrange(struct trust_deferral *d, gnutls_certificate_credentials_t cred, const char *store,
			  const gnutls_datum_t *app, size_t n_app, bool replace, bool defer, char *why,
			  size_t why_size);

/*
 * Load what *d left, now that the peer's certificate chain is in session
 * s (a certificate verify function, gnutls_session_set_verify_function(3)):
 * for "system", the anchors the trust index names for that chain (its
 * certificates' subjects and issuers), or the whole store where the index
 * cannot be used; any other store whole; then the application's anchors.
 * Returns 0 (also when nothing was left), or -ECANCELED or -EINVAL, with
 * the reason kept in d->why (and d->error set).  Nothing is left after it.
 */
int trust_anchors_load_deferred(struct trust_deferral *d, gnutls_session_t s,
				gnutls_certificate_credentials_t cred);

/*
 * The handshake is over (r: its result, 0 or -errno): release *d, and
 * return the anchors' failure to load if that is why it failed (the reason
 * copied to why[0..why_size)), else r.
 */
int trust_anchors_end(struct trust_deferral *d, int r, char *why, size_t why_size);

#endif
