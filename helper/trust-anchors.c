/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* trust-anchors.c: the anchors a handshake verifies its peer with, loaded
 * when needed (trust-anchors.h). */
#include "trust-anchors.h"

#include <errno.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trust-index.h"

/* Peer certificates whose subjects and issuers are looked up in the trust
 * index; a longer chain loads the whole store (GnuTLS verifies at most 16). */
#define PEER_CERTS_MAX 64

/* Trust stores loaded once for the helpers this process forks
 * (trust_anchors_preload()): each a trust list, handed to one session's
 * credentials and then no longer ours. */
#define PRELOAD_MAX 32
static struct {
	char *store;
	gnutls_x509_trust_list_t list;
} preload[PRELOAD_MAX];
static size_t n_preload;

/* Add trust store `store` ("system", a PEM file or a directory) to `list`,
 * whole: 0, or -ECANCELED with the reason.  "system" is GnuTLS's system
 * trust, or the bundle the environment names (trust_bundle_overridden()),
 * read the same way. */
static int add_store(gnutls_x509_trust_list_t list, const char *store, char *why, size_t why_size)
{
	struct stat st;
	int r;

	if (strcmp(store, "system") == 0 && trust_bundle_overridden())
		r = gnutls_x509_trust_list_add_trust_file(list, trust_bundle_path(), NULL, GNUTLS_X509_FMT_PEM,
							  GNUTLS_TL_NO_DUPLICATES, 0);
	else if (strcmp(store, "system") == 0)
		r = gnutls_x509_trust_list_add_system_trust(list, 0, 0);
	else if (stat(store, &st) == 0 && S_ISDIR(st.st_mode))
		r = gnutls_x509_trust_list_add_trust_dir(list, store, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
	else
		r = gnutls_x509_trust_list_add_trust_file(list, store, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
	if (r > 0)
		return 0;
	snprintf(why, why_size, "policy: trust store '%s' %s%s", store, r == 0 ? "holds no certificate" : "cannot be loaded: ",
		 r == 0 ? "" : gnutls_strerror(r));
	return -ECANCELED;
}

/* Load trust store `store` into a new trust list: 0 and *out, or
 * -ECANCELED with the reason. */
static int load_trust_list(const char *store, gnutls_x509_trust_list_t *out, char *why, size_t why_size)
{
	int r;

	if (gnutls_x509_trust_list_init(out, 0) < 0) {
		snprintf(why, why_size, "out of memory for the trust store");
		return -ECANCELED;
	}
	if ((r = add_store(*out, store, why, why_size)) < 0)
		gnutls_x509_trust_list_deinit(*out, 1);
	return r;
}

/* Hand the list preloaded for `store`, if any, to cred: true if there was
 * one. */
static bool take_preloaded(gnutls_certificate_credentials_t cred, const char *store)
{
	for (size_t i = 0; i < n_preload; i++)
		if (preload[i].list && strcmp(preload[i].store, store) == 0) {
			gnutls_certificate_set_trust_list(cred, preload[i].list, 0);
			preload[i].list = NULL; /* the credentials own it now */
			return true;
		}
	return false;
}

/* Load trust store `store` into cred now, whole: 0 or -ECANCELED. */
static int load_store(gnutls_certificate_credentials_t cred, const char *store, char *why, size_t why_size)
{
	gnutls_x509_trust_list_t list = NULL;
	int r;

	if ((r = load_trust_list(store, &list, why, why_size)) < 0)
		return r;
	gnutls_certificate_set_trust_list(cred, list, 0);
	return 0;
}

/* The system store's anchors for the chain the peer sent, through the
 * trust index (trust-index.h): those whose subject is the subject or the
 * issuer of any certificate of the chain.  GnuTLS's verification looks
 * anchors up by exactly these names (the issuer of a certificate, and a
 * certificate of the chain that is itself trusted), so it reaches the same
 * verdict as with the whole store.  The number added, or < 0 (the index
 * cannot be used: load the whole store). */
static int add_indexed_anchors(gnutls_session_t s, gnutls_x509_trust_list_t list)
{
	gnutls_datum_t dns[2 * PEER_CERTS_MAX];
	const gnutls_datum_t *certs;
	char why[SSA_REASON_MAX];
	size_t n_dns = 0;
	unsigned n = 0;
	int r;

	certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || n == 0 || n > PEER_CERTS_MAX)
		return -E2BIG;
	for (unsigned i = 0; i < n; i++) {
		gnutls_x509_crt_t crt;
		if (gnutls_x509_crt_init(&crt) < 0)
			break;
		/* One that does not parse fails GnuTLS's verification too. */
		if (gnutls_x509_crt_import(crt, &certs[i], GNUTLS_X509_FMT_DER) == 0) {
			if (gnutls_x509_crt_get_raw_dn(crt, &dns[n_dns]) == 0)
				n_dns++;
			if (gnutls_x509_crt_get_raw_issuer_dn(crt, &dns[n_dns]) == 0)
				n_dns++;
		}
		gnutls_x509_crt_deinit(crt);
	}
	r = trust_index_load(trust_index_path(), trust_bundle_path(), dns, n_dns, list, why, sizeof why);
	for (size_t i = 0; i < n_dns; i++)
		gnutls_free(dns[i].data);
	return r;
}

void trust_anchors_preload_free(void)
{
	for (size_t i = 0; i < n_preload; i++) {
		if (preload[i].list)
			gnutls_x509_trust_list_deinit(preload[i].list, 1);
		free(preload[i].store);
	}
	n_preload = 0;
}

int trust_anchors_preload(const char *store, char *why, size_t why_size)
{
	gnutls_x509_trust_list_t list;
	int r;

	for (size_t i = 0; i < n_preload; i++)
		if (strcmp(preload[i].store, store) == 0)
			return 0;
	if (n_preload == PRELOAD_MAX)
		return 0; /* the others load at each handshake */
	if ((r = load_trust_list(store, &list, why, why_size)) < 0)
		return r;
	preload[n_preload].store = strdup(store);
	if (!preload[n_preload].store) {
		gnutls_x509_trust_list_deinit(list, 1);
		return 0;
	}
	preload[n_preload++].list = list;
	return 0;
}

int trust_anchors_add_app(gnutls_certificate_credentials_t cred, const gnutls_datum_t *app, size_t n_app,
			  char *why, size_t why_size)
{
	for (size_t i = 0; i < n_app; i++) {
		int r = gnutls_certificate_set_x509_trust_mem(cred, &app[i], GNUTLS_X509_FMT_PEM);
		if (r <= 0) {
			snprintf(why, why_size, "TLS_TRUSTED_PEER_CERTIFICATES: %s",
				 r == 0 ? "no PEM certificate in it" : gnutls_strerror(r));
			return -EINVAL;
		}
	}
	return 0;
}

/* What trust_anchors_add_app() will say of the application's anchors,
 * found now, by the same parse (gnutls_x509_crt_list_import2()), for when
 * they are added later: 0 or -EINVAL with the reason. */
static int check_app(const gnutls_datum_t *app, size_t n_app, char *why, size_t why_size)
{
	for (size_t i = 0; i < n_app; i++) {
		gnutls_x509_crt_t *crts = NULL;
		unsigned n = 0;
		int r = gnutls_x509_crt_list_import2(&crts, &n, &app[i], GNUTLS_X509_FMT_PEM, 0);
		for (unsigned j = 0; r >= 0 && j < n; j++)
			gnutls_x509_crt_deinit(crts[j]);
		gnutls_free(crts);
		if (r < 0 || n == 0) {
			snprintf(why, why_size, "TLS_TRUSTED_PEER_CERTIFICATES: %s",
				 r == GNUTLS_E_NO_CERTIFICATE_FOUND || n == 0 ? "no PEM certificate in it"
				 : gnutls_strerror(r));
			return -EINVAL;
		}
	}
	return 0;
}

int trust_anchors_arrange(struct trust_deferral *d, gnutls_certificate_credentials_t cred, const char *store,
			  const gnutls_datum_t *app, size_t n_app, bool replace, bool defer, char *why,
			  size_t why_size)
{
	int r;

	if (!replace && take_preloaded(cred, store))
		d->preloaded = true;
	if (replace || d->preloaded)
		return trust_anchors_add_app(cred, app, n_app, why, why_size);
	if (defer) {
		if ((r = check_app(app, n_app, why, why_size)) < 0)
			return r;
		if (!(d->store = strdup(store)))
			return -ENOMEM;
		d->app = app;
		d->n_app = n_app;
		return 0;
	}
	if ((r = load_store(cred, store, why, why_size)) < 0)
		return r;
	return trust_anchors_add_app(cred, app, n_app, why, why_size);
}

/* Nothing more is to be loaded (app is the caller's). */
static void forget(struct trust_deferral *d)
{
	free(d->store);
	d->store = NULL;
	d->app = NULL;
	d->n_app = 0;
}

int trust_anchors_load_deferred(struct trust_deferral *d, gnutls_session_t s,
				gnutls_certificate_credentials_t cred)
{
	gnutls_x509_trust_list_t list;
	int r = 0;

	if (!d->store)
		return 0;
	gnutls_certificate_get_trust_list(cred, &list);
	if (strcmp(d->store, "system") != 0 || add_indexed_anchors(s, list) < 0)
		r = add_store(list, d->store, d->why, sizeof d->why);
	if (r == 0)
		r = trust_anchors_add_app(cred, d->app, d->n_app, d->why, sizeof d->why);
	forget(d);
	d->error = r;
	return r;
}

int trust_anchors_end(struct trust_deferral *d, int r, char *why, size_t why_size)
{
	forget(d);
	if (r < 0 && d->error) {
		snprintf(why, why_size, "%s", d->why);
		return d->error;
	}
	return r;
}
