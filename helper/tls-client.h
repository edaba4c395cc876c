/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tls-client.h: the helper's TLS client session (GnuTLS). */
#ifndef SSA_TLS_CLIENT_H
#define SSA_TLS_CLIENT_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>

#include "policy.h"
#include "ssa-wire.h"

/* What the application asked for on top of the policy (SPEC §2), already
 * checked against it by the caller.  Buffers are the caller's. */
struct tls_client_request {
	const char *alpn;               /* comma-separated, or NULL */
	gnutls_datum_t *trust;          /* PEM blobs of extra trust anchors */
	size_t n_trust;
	bool replace_trust;             /* use only those (app-trust-store = replace) */
	gnutls_datum_t chain, key;      /* client certificate, or empty */
	const char *cipher_mods;        /* from tls_client_cipher_modifiers(), or NULL */
};

/*
 * Priority modifiers for the suites the application disabled (":-CIPHER"
 * each: GnuTLS removes a suite by its bulk cipher, so every suite sharing
 * it goes too), after checking that those it enabled are allowed by policy
 * `p`.  Names are IANA or GnuTLS suite names, or GnuTLS cipher names.
 * Returns 0 with mods[0..size) set, -EINVAL (unknown name) or -EPERM (the
 * policy does not allow an enabled suite), with the reason.
 */
int tls_client_cipher_modifiers(const struct policy *p, const char *const *off, size_t n_off,
				const char *const *on, size_t n_on, char *mods, size_t size, char *why,
				size_t why_size);

/* The suites the session's priorities enable, newline-separated
 * (TLS_TRUSTED_CIPHERS), into buf[0..size). */
const char *tls_client_trusted_ciphers(gnutls_session_t session, char *buf, size_t size);

/*
 * Do the TLS handshake as a client on connected socket `fd` and validate the
 * peer: the chain against the policy's trust store and the certificate
 * against `hostname` (RFC 6125, through gnutls_session_set_verify_cert), with
 * SNI when hostname is a DNS name (RFC 6066), within the policy's versions,
 * priority and handshake timeout.
 *
 * Returns 0 and a session on fd that the caller owns (tls_client_free());
 * or -EPROTO (handshake failed or peer rejected), -ETIMEDOUT, -ECONNRESET
 * (the TCP connection broke), -ECANCELED (the policy cannot be applied:
 * bad priority string, unreadable trust store) or -ENOMEM, with the reason
 * in why[0..why_size); -EINVAL when the application's certificate and key
 * cannot be used.  fd stays the caller's either way.
 */
int tls_client_handshake(int fd, const char *hostname, const struct policy *policy,
			 const struct tls_client_request *request, gnutls_session_t *session, char *why,
			 size_t why_size);

/* Release a session from tls_client_handshake() (not its socket). */
void tls_client_free(gnutls_session_t session);

/* Add what the application can ask about (TLS_CHOSEN_VERSION,
 * TLS_CHOSEN_CIPHER, TLS_PEER_IDENTITY, TLS_PEER_CERTIFICATE_CHAIN) to a
 * result message. */
void tls_client_describe(gnutls_session_t session, struct ssa_msg *m);

/* The protocol ALPN settled on, or "" (points into the session). */
const char *tls_client_alpn(gnutls_session_t session, char *buf, size_t size);

/* What became of the peer's stapled OCSP response, in words. */
const char *tls_client_ocsp_status(gnutls_session_t session);

/* The negotiated version as "TLS1.3" and suite name, for the journal. */
const char *tls_client_version_name(gnutls_session_t session);
const char *tls_client_cipher_name(gnutls_session_t session);

#endif /* SSA_TLS_CLIENT_H */
