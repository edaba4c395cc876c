/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* tls-session.c: the helper's TLS sessions with GnuTLS, client and server
 * (tls-session.h). */
#include "tls-session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "in_tls.h"
#include "ssa-io.h"
#include "ssa-x509.h"
#include "tls-priority.h"
#include "trust-anchors.h"

/* What a session owns besides itself (gnutls_session_get_ptr). */
struct session_state {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	/* Server: the leaf of each chain, to refuse an SNI none of them holds. */
	gnutls_x509_crt_t leaf[SSA_KEY_PAIRS_MAX];
	size_t n_leaves;
	bool keys_preloaded;     /* server: cred and leaf are server_keys' */
	char asked[256];         /* server: the name the client asked for (SNI), or "" */
	bool refused;            /* server: check_sni() refused it */
	/* Client: where resumption data goes (tls_request). */
	void (*on_session)(void *user, const gnutls_datum_t *data);
	void *on_session_user;
	/* The transport (gnutls_transport_set_ptr(3)): the peer's socket, and
	 * the handshake's one absolute deadline (ssa_now_ms(); 0 after it). */
	int fd;
	int64_t deadline_ms;
	/* The peer's certificate is verified by verify_peer(), against these
	 * (the name, the purpose), with the result in `status`. */
	gnutls_typed_vdata_st checks[2];
	unsigned n_checks, status;
	/* Anchors left for verify_peer() to load. */
	struct trust_deferral trust;
};

/* Pull and push on the peer's socket: recv(2) and sendmsg(2), errno as
 * they set it (EAGAIN on a non-blocking socket). */
static ssize_t transport_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	const struct session_state *st = ptr;

	return recv(st->fd, buf, len, 0);
}

static ssize_t transport_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	const struct session_state *st = ptr;
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };

	return sendmsg(st->fd, &m, MSG_NOSIGNAL);
}

/*
 * Wait up to `ms` for data (gnutls_transport_set_pull_timeout_function(3)),
 * never past the handshake's deadline: 1 when readable, 0 on timeout, -1
 * with errno.  GnuTLS's own handshake timeout counts only the time spent
 * in reads, not the waits between them, so a peer trickling a byte a
 * second never reached it (SPEC §3: one absolute deadline).
 */
static int transport_wait(gnutls_transport_ptr_t ptr, unsigned ms)
{
	const struct session_state *st = ptr;
	int64_t until = ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : ssa_now_ms() + (int64_t)ms;
	int r;

	if (st->deadline_ms > 0 && (until < 0 || until > st->deadline_ms))
		until = st->deadline_ms;
	r = ssa_wait(st->fd, POLLIN, until);
	if (r == 0)
		return 1;
	if (r == -ETIMEDOUT)
		return 0;
	errno = -r;
	return -1;
}

/* A TLS 1.3 ticket arrived (after the handshake): its resumption data to
 * on_session.  gnutls_handshake_set_hook_function(3). */
static int ticket_hook(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
		       const gnutls_datum_t *msg)
{
	struct session_state *st = gnutls_session_get_ptr(s);
	gnutls_datum_t data = { 0 };

	(void)htype;
	(void)when;
	(void)incoming;
	(void)msg;
	/* During a TLS 1.2 handshake there is no complete session yet: the
	 * caller takes that one at the end of the handshake. */
	if (st->on_session && gnutls_protocol_get_version(s) == GNUTLS_TLS1_3 &&
	    gnutls_session_get_data2(s, &data) == 0) {
		st->on_session(st->on_session_user, &data);
		gnutls_free(data.data);
	}
	return 0;
}

/* A resumed session has no Certificate message: the name is checked
 * against the chain stored in it (RFC 6125).  0 or -EPROTO. */
static int check_resumed_name(gnutls_session_t s, const char *hostname, char *why, size_t why_size)
{
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt;
	unsigned n = 0;
	int ok = 0;

	certs = gnutls_certificate_get_peers(s, &n);
	if (certs && n > 0 && gnutls_x509_crt_init(&crt) == 0) {
		ok = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
		     gnutls_x509_crt_check_hostname2(crt, hostname, 0);
		gnutls_x509_crt_deinit(crt);
	}
	if (ok)
		return 0;
	snprintf(why, why_size, "peer certificate rejected: the resumed session's certificate does not name '%s'",
		 hostname);
	return -EPROTO;
}

/* An IPv4 or IPv6 literal (with or without a zone, "fe80::1%eth0"): no SNI
 * for those (RFC 6066 §3). */
static bool is_ip_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char v6[INET6_ADDRSTRLEN + 1];
	size_t n = strcspn(name, "%");

	if (inet_pton(AF_INET, name, buf) == 1)
		return true;
	if (n >= sizeof v6)
		return false;
	memcpy(v6, name, n);
	v6[n] = '\0';
	return inet_pton(AF_INET6, v6, buf) == 1;
}

/* Why the peer's certificate was rejected, in GnuTLS's words; the purpose
 * it lacks by name when that was the problem (RFC 5280 §4.2.1.12), and the
 * host name it does not hold (`host`, or NULL for a client's). */
static void verify_reason(gnutls_session_t s, const char *purpose, const char *host, char *why, size_t why_size)
{
	struct session_state *st = gnutls_session_get_ptr(s);
	unsigned status = st->status;
	gnutls_datum_t out = { 0 };

	if (status & GNUTLS_CERT_PURPOSE_MISMATCH) {
		snprintf(why, why_size, "peer certificate rejected: its extended key usage (at the leaf or an "
			 "intermediate CA) does not allow %s", purpose);
		return;
	}
	if (gnutls_certificate_verification_status_print(status, gnutls_certificate_type_get(s), &out, 0) == 0) {
		size_t n = strlen((const char *)out.data);
		while (n > 0 && out.data[n - 1] == ' ')
			out.data[--n] = '\0';
		snprintf(why, why_size, "peer certificate rejected: %s%s%s%s", out.data,
			 host && (status & GNUTLS_CERT_UNEXPECTED_OWNER) ? " (it does not name '" : "",
			 host && (status & GNUTLS_CERT_UNEXPECTED_OWNER) ? host : "",
			 host && (status & GNUTLS_CERT_UNEXPECTED_OWNER) ? "')" : "");
		gnutls_free(out.data);
	} else {
		snprintf(why, why_size, "peer certificate rejected (status 0x%x)", status);
	}
}

/* The negotiated version as TLS_1_0 .. TLS_1_3, or -1. */
static int tls_version_of(gnutls_session_t s)
{
	switch (gnutls_protocol_get_version(s)) {
	case GNUTLS_TLS1_0: return TLS_1_0;
	case GNUTLS_TLS1_1: return TLS_1_1;
	case GNUTLS_TLS1_2: return TLS_1_2;
	case GNUTLS_TLS1_3: return TLS_1_3;
	default: return -1;
	}
}

/* The negotiated version within the policy's (a priority string that names
 * versions itself may allow others): 0 or -EPROTO with the reason. */
static int check_version(gnutls_session_t s, const struct policy *p, char *why, size_t why_size)
{
	int v = tls_version_of(s);

	if (v >= p->min_version && v <= p->max_version)
		return 0;
	snprintf(why, why_size, "negotiated %s, outside the policy's min-version and max-version",
		 tls_session_version_name(s));
	return -EPROTO;
}

/* After a successful handshake: what the policy adds to GnuTLS's checks
 * (versions, stapled OCSP required, SPKI pins).  0 or -EPROTO with the
 * reason. */
static int check_policy_extras(gnutls_session_t s, const struct policy *p, char *why, size_t why_size)
{
	const gnutls_datum_t *certs;
	unsigned n = 0;
	char seen[128];

	if (check_version(s, p, why, why_size) < 0)
		return -EPROTO;
	if (p->ocsp_stapling == POLICY_OCSP_REQUIRE && !gnutls_ocsp_status_request_is_checked(s, 0)) {
		snprintf(why, why_size, "the peer sent no valid stapled OCSP response (ocsp-stapling = require)");
		return -EPROTO;
	}
	if (!p->pins)
		return 0;
	certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || n == 0 || ssa_spki_pin(&certs[0], seen, sizeof seen) < 0) {
		snprintf(why, why_size, "cannot compute the peer's SPKI pin");
		return -EPROTO;
	}
	for (const char *pin = p->pins; *pin; pin += strspn(pin, " ")) {
		size_t len = strcspn(pin, " ");
		if (len == strlen(seen) && strncmp(pin, seen, len) == 0)
			return 0;
		pin += len;
	}
	snprintf(why, why_size, "peer key does not match the pinned keys: expected %s, seen %s", p->pins, seen);
	return -EPROTO;
}

/* Add one chain (PEM, leaf first) and its key (PEM or DER, SPEC §2) to
 * cred: 0, -EPROTO (they do not match) or -EINVAL, with the reason. */
static int add_key_pair(gnutls_certificate_credentials_t cred, const gnutls_datum_t *chain,
			const gnutls_datum_t *key, size_t index, char *why, size_t why_size)
{
	bool key_pem = memmem(key->data, key->size, "-----BEGIN", 10) != NULL;
	int r;

	if (key_pem) {
		r = gnutls_certificate_set_x509_key_mem2(cred, chain, key, GNUTLS_X509_FMT_PEM, NULL, 0);
	} else {
		gnutls_x509_crt_t *crts = NULL;
		gnutls_x509_privkey_t k = NULL;
		unsigned n = 0;
		r = gnutls_x509_crt_list_import2(&crts, &n, chain, GNUTLS_X509_FMT_PEM, 0);
		if (r >= 0 && (r = gnutls_x509_privkey_init(&k)) >= 0 &&
		    (r = gnutls_x509_privkey_import(k, key, GNUTLS_X509_FMT_DER)) >= 0)
			r = gnutls_certificate_set_x509_key(cred, crts, n, k);
		for (unsigned i = 0; i < n; i++)
			gnutls_x509_crt_deinit(crts[i]);
		gnutls_free(crts);
		if (k)
			gnutls_x509_privkey_deinit(k);
	}
	if (r >= 0)
		return 0;
	if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
		snprintf(why, why_size, "TLS_PRIVATE_KEY does not match TLS_CERTIFICATE_CHAIN%s", 
			 index ? " (a later pair)" : "");
		return -EPROTO;
	}
	snprintf(why, why_size, "TLS_CERTIFICATE_CHAIN and TLS_PRIVATE_KEY cannot be used: %s", gnutls_strerror(r));
	return -EINVAL;
}

/* The application's chains and keys: 0, -EPROTO or -EINVAL with the
 * reason. */
static int add_key_pairs(gnutls_certificate_credentials_t cred, const struct tls_request *req, char *why,
			 size_t why_size)
{
	for (size_t i = 0; i < req->n_pairs; i++) {
		int r = add_key_pair(cred, &req->chain[i], &req->key[i], i, why, why_size);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * The verification of the peer's certificate (gnutls_session_set_verify_function(3)),
 * run by GnuTLS once the peer's Certificate (and, in TLS 1.3, its
 * CertificateVerify) is in, never in a resumed handshake.  It is GnuTLS's
 * own gnutls_session_set_verify_cert2() verification (lib/auto-verify.c,
 * the same calls and results), after loading the anchors left for now
 * (trust_anchors_arrange()).  A session's verify function takes the place
 * of the credentials' (gnutls_certificate_set_verify_function()): GnuTLS
 * runs one or the other, the session's first, so the loading cannot be a
 * separate callback run before gnutls_session_set_verify_cert2()'s.
 */
static int verify_peer(gnutls_session_t s)
{
	struct session_state *st = gnutls_session_get_ptr(s);

	if (trust_anchors_load_deferred(&st->trust, s, st->cred) < 0)
		return GNUTLS_E_INTERNAL_ERROR;
	if (gnutls_certificate_verify_peers(s, st->checks, st->n_checks, &st->status) < 0)
		return GNUTLS_E_CERTIFICATE_ERROR;
	return st->status ? GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR : 0;
}


/* Offer the application's ALPN list (RFC 7301), or as a server select
 * from it (flags GNUTLS_ALPN_*). */
static int set_alpn(gnutls_session_t s, const char *list, unsigned flags)
{
	gnutls_datum_t protos[32];
	unsigned n = 0;
	const char *p = list;

	while (*p && n < 32) {
		size_t len = strcspn(p, ",");
		protos[n].data = (unsigned char *)p;
		protos[n++].size = (unsigned)len;
		p += len;
		if (*p == ',')
			p++;
	}
	return gnutls_alpn_set_protocols(s, protos, n, flags);
}

const char *tls_session_alpn(gnutls_session_t s, char *buf, size_t size)
{
	gnutls_datum_t chosen = { 0 };

	buf[0] = '\0';
	if (gnutls_alpn_get_selected_protocol(s, &chosen) == 0 && chosen.size < size) {
		memcpy(buf, chosen.data, chosen.size);
		buf[chosen.size] = '\0';
	}
	return buf;
}

/* Free what a session owns besides itself. */
static void state_free(struct session_state *st)
{
	if (!st)
		return;
	/* Credentials holding the supervisor's preloaded trust list are left
	 * to the exit of this forked helper: freeing them writes to every page
	 * of the list, which copies each one from the supervisor (in a
	 * profile, most of a helper's CPU time) only to throw it away. */
	if (st->cred && !st->trust.preloaded && !st->keys_preloaded)
		gnutls_certificate_free_credentials(st->cred);
	if (st->prio)
		gnutls_priority_deinit(st->prio);
	for (size_t i = 0; i < st->n_leaves && !st->keys_preloaded; i++)
		gnutls_x509_crt_deinit(st->leaf[i]);
	trust_anchors_end(&st->trust, 0, NULL, 0);
	free(st);
}

/*
 * A new session of `role` on fd with the state's credentials and the
 * policy's priorities, owning `st` from then on: 0 and *out, or -errno
 * with the reason (st is then the caller's still).
 */
static int session_new(unsigned role, int fd, const struct policy *p, const struct tls_request *req,
		       struct session_state *st, gnutls_session_t *out, char *why, size_t why_size)
{
	gnutls_session_t s;
	int r;

	if (gnutls_init(&s, role) < 0)
		return -ENOMEM;
	r = tls_priority_build(p, req->cipher_mods ? req->cipher_mods : "", &st->prio, why, why_size);
	if (r == 0 && gnutls_priority_set(s, st->prio) < 0)
		r = -ECANCELED;
	if (r == 0 && gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, st->cred) < 0)
		r = -ENOMEM;
	if (r < 0) {
		gnutls_deinit(s);
		return r;
	}
	st->fd = fd;
	st->deadline_ms = ssa_now_ms() + (int64_t)p->handshake_timeout * 1000;
	gnutls_transport_set_ptr(s, st);
	gnutls_transport_set_pull_function(s, transport_pull);
	gnutls_transport_set_vec_push_function(s, transport_push);
	gnutls_transport_set_pull_timeout_function(s, transport_wait);
	gnutls_handshake_set_timeout(s, p->handshake_timeout * 1000);
	gnutls_session_set_ptr(s, st);
	*out = s;
	return 0;
}

/* Run the handshake of `s` to its end: 0, or -errno with the reason
 * (GnuTLS's error mapped to SPEC §3).  `purpose` names what the peer's
 * certificate is verified for, `host` the name (client) or NULL. */
static int run_handshake(gnutls_session_t s, unsigned timeout_s, const char *purpose, const char *host, char *why,
			 size_t why_size)
{
	int r;

	do
		r = gnutls_handshake(s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	/* The deadline was the handshake's (transport_wait()). */
	((struct session_state *)gnutls_session_get_ptr(s))->deadline_ms = 0;
	switch (r) {
	case GNUTLS_E_SUCCESS:
		return 0;
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
		/* Tell the peer (RFC 8446 §6.2: bad_certificate and kin). */
		gnutls_alert_send_appropriate(s, r);
		verify_reason(s, purpose, host, why, why_size);
		return -EPROTO;
	case GNUTLS_E_TIMEDOUT:
		snprintf(why, why_size, "TLS handshake timed out after %u s", timeout_s);
		return -ETIMEDOUT;
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
	case GNUTLS_E_PREMATURE_TERMINATION:
		snprintf(why, why_size, "TLS handshake failed: the peer closed or reset the TCP connection (%s)",
			 gnutls_strerror(r));
		return -ECONNRESET;
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		snprintf(why, why_size, "TLS handshake failed: the peer sent alert '%s'",
			 gnutls_alert_get_name(gnutls_alert_get(s)));
		return -EPROTO;
	default:
		/* Tell the peer, where an alert fits (unrecognized_name,
		 * no_application_protocol, certificate_required ...). */
		gnutls_alert_send_appropriate(s, r);
		snprintf(why, why_size, "TLS handshake failed: %s", gnutls_strerror(r));
		return -EPROTO;
	}
}

int tls_client_handshake(int fd, const char *hostname, const struct policy *p,
			 const struct tls_request *req, gnutls_session_t *session, char *why,
			 size_t why_size)
{
	struct session_state *st = calloc(1, sizeof *st);
	gnutls_session_t s = NULL;
	int r;

	if (!st || gnutls_certificate_allocate_credentials(&st->cred) < 0) {
		free(st);
		return -ENOMEM;
	}
	r = trust_anchors_arrange(&st->trust, st->cred, p->trust_store, req->trust, req->n_trust, req->replace_trust,
				  true, why, why_size);
	if (r == 0)
		r = add_key_pairs(st->cred, req, why, why_size);
	if (r == 0)
		r = session_new(GNUTLS_CLIENT, fd, p, req, st, &s, why, why_size);
	if (r < 0) {
		state_free(st);
		return r;
	}
	if (!is_ip_literal(hostname)) {
		/* SNI carries the name without a root's trailing dot. */
		size_t n = strlen(hostname);
		if (n > 1 && hostname[n - 1] == '.')
			n--;
		gnutls_server_name_set(s, GNUTLS_NAME_DNS, hostname, n);
	}
	/* The chain, the name (RFC 6125) and the purpose: serverAuth at the
	 * leaf and at every CA that restricts purposes (RFC 5280 §4.2.1.12). */
	st->checks[0] = (gnutls_typed_vdata_st){ .type = GNUTLS_DT_DNS_HOSTNAME, .data = (unsigned char *)hostname };
	st->checks[1] = (gnutls_typed_vdata_st){ .type = GNUTLS_DT_KEY_PURPOSE_OID,
						 .data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER };
	st->n_checks = 2;
	gnutls_session_set_verify_function(s, verify_peer);
	if (req->alpn && set_alpn(s, req->alpn, 0) < 0) {
		snprintf(why, why_size, "TLS_ALPN: GnuTLS refused the protocol list");
		tls_session_free(s);
		return -EINVAL;
	}
	/* Data that does not resume (stale, corrupt, another server's) only
	 * means a full handshake. */
	if (req->resume.size)
		gnutls_session_set_data(s, req->resume.data, req->resume.size);
	st->on_session = req->on_session;
	st->on_session_user = req->on_session_user;
	if (req->on_session)
		gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET, GNUTLS_HOOK_POST, ticket_hook);
	r = run_handshake(s, p->handshake_timeout, "TLS server authentication (serverAuth)", hostname, why, why_size);
	r = trust_anchors_end(&st->trust, r, why, why_size);
	if (r == 0 && gnutls_session_is_resumed(s))
		r = check_resumed_name(s, hostname, why, why_size);
	if (r == 0)
		r = check_policy_extras(s, p, why, why_size);
	if (r < 0 && r != -ETIMEDOUT && r != -ECONNRESET)
		gnutls_alert_send(s, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
	if (r < 0) {
		tls_session_free(s);
		return r;
	}
	if (req->on_session && gnutls_protocol_get_version(s) != GNUTLS_TLS1_3) {
		gnutls_datum_t data = { 0 };
		if (gnutls_session_get_data2(s, &data) == 0) {
			req->on_session(req->on_session_user, &data);
			gnutls_free(data.data);
		}
	}
	*session = s;
	return 0;
}

/* Server, after the ClientHello: refuse a server name that none of the
 * chains holds (RFC 6066 §3: unrecognized_name). */
static int check_sni(gnutls_session_t s)
{
	struct session_state *st = gnutls_session_get_ptr(s);
	char name[256];
	size_t len = sizeof name;
	unsigned type;

	if (gnutls_server_name_get(s, name, &len, &type, 0) < 0 || type != GNUTLS_NAME_DNS)
		return 0; /* no SNI: the first chain */
	memcpy(st->asked, name, sizeof name);
	for (size_t i = 0; i < st->n_leaves; i++)
		if (gnutls_x509_crt_check_hostname2(st->leaf[i], name, 0))
			return 0;
	st->refused = true;
	return GNUTLS_E_UNRECOGNIZED_NAME;
}

/* Keep the leaf of each chain of `req` in leaf[], *n_leaves of them, for
 * check_sni(): 0 or -EINVAL. */
static int keep_leaves(gnutls_x509_crt_t *leaf, size_t *n_leaves, const struct tls_request *req)
{
	for (size_t i = 0; i < req->n_pairs; i++) {
		gnutls_x509_crt_t *crts = NULL;
		unsigned n = 0;
		if (gnutls_x509_crt_list_import2(&crts, &n, &req->chain[i], GNUTLS_X509_FMT_PEM, 0) < 0 || n == 0)
			return -EINVAL;
		leaf[(*n_leaves)++] = crts[0];
		for (unsigned j = 1; j < n; j++)
			gnutls_x509_crt_deinit(crts[j]);
		gnutls_free(crts);
	}
	return 0;
}

/* The key pairs a listener parsed once (tls_server_keys_preload()), which
 * the helpers it forks inherit: their credentials, the leaf of each chain,
 * and a digest of the bytes they were parsed from. */
static struct {
	gnutls_certificate_credentials_t cred;
	gnutls_x509_crt_t leaf[SSA_KEY_PAIRS_MAX];
	size_t n_leaves;
	uint8_t digest[32];
} server_keys;

/* A SHA-256 digest of the chains and keys of `req`, each with its length. */
static void digest_key_pairs(const struct tls_request *req, uint8_t out[32])
{
	gnutls_hash_hd_t h;

	memset(out, 0, 32);
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return;
	for (size_t i = 0; i < req->n_pairs; i++) {
		const gnutls_datum_t *d[] = { &req->chain[i], &req->key[i] };
		for (size_t k = 0; k < 2; k++) {
			uint32_t len = d[k]->size;
			gnutls_hash(h, &len, sizeof len);
			gnutls_hash(h, d[k]->data, d[k]->size);
		}
	}
	gnutls_hash_deinit(h, out);
}

int tls_server_keys_preload(const struct tls_request *req, bool keep, char *why, size_t why_size)
{
	gnutls_certificate_credentials_t cred;
	gnutls_x509_crt_t leaf[SSA_KEY_PAIRS_MAX];
	size_t n_leaves = 0;
	int r = 0;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < req->n_pairs && r == 0; i++)
		r = add_key_pair(cred, &req->chain[i], &req->key[i], i, why, why_size);
	if (r == 0 && keep_leaves(leaf, &n_leaves, req) < 0) {
		snprintf(why, why_size, "TLS_CERTIFICATE_CHAIN holds no certificate");
		r = -EINVAL;
	}
	if (r < 0 || !keep || server_keys.cred) {
		/* One listener per process: a second set is checked, not kept. */
		for (size_t i = 0; i < n_leaves; i++)
			gnutls_x509_crt_deinit(leaf[i]);
		gnutls_certificate_free_credentials(cred);
		return r;
	}
	server_keys.cred = cred;
	memcpy(server_keys.leaf, leaf, sizeof leaf);
	server_keys.n_leaves = n_leaves;
	digest_key_pairs(req, server_keys.digest);
	return 0;
}

/* The server's credentials for `req`: the preloaded ones if they were
 * parsed from the same bytes (a helper forked by its listener), else
 * parsed now.  The pairs' match was checked by the listener at listen()
 * (tls_server_keys_preload()), so it is not checked again (a test
 * signature per connection).  0, or -errno with the reason. */
static int server_credentials(struct session_state *st, const struct tls_request *req, char *why,
			      size_t why_size)
{
	uint8_t digest[32];
	int r;

	if (server_keys.cred && req->n_pairs) {
		digest_key_pairs(req, digest);
		if (memcmp(digest, server_keys.digest, sizeof digest) == 0) {
			st->cred = server_keys.cred;
			memcpy(st->leaf, server_keys.leaf, sizeof st->leaf);
			st->n_leaves = server_keys.n_leaves;
			st->keys_preloaded = true;
			return 0;
		}
	}
	if (gnutls_certificate_allocate_credentials(&st->cred) < 0)
		return -ENOMEM;
	gnutls_certificate_set_flags(st->cred, GNUTLS_CERTIFICATE_SKIP_KEY_CERT_MATCH);
	if ((r = add_key_pairs(st->cred, req, why, why_size)) < 0)
		return r;
	if (keep_leaves(st->leaf, &st->n_leaves, req) < 0) {
		snprintf(why, why_size, "TLS_CERTIFICATE_CHAIN holds no certificate");
		return -EINVAL;
	}
	return 0;
}

int tls_server_handshake(int fd, const struct policy *p, const struct tls_request *req,
			 gnutls_session_t *session, char *sni, size_t sni_size, char *why, size_t why_size)
{
	struct session_state *st = calloc(1, sizeof *st);
	gnutls_session_t s = NULL;
	int r;

	if (!st)
		return -ENOMEM;
	r = server_credentials(st, req, why, why_size);
	/* A client certificate is verified against the store and the
	 * application's anchors.  The store loads when the client's
	 * certificate is in (as a client's does), unless the application gave
	 * anchors: the CertificateRequest names those, so they must be there
	 * before it, and the store before them. */
	if (r == 0 && req->request_peer_auth)
		r = trust_anchors_arrange(&st->trust, st->cred, p->trust_store, req->trust, req->n_trust,
					  req->replace_trust, req->n_trust == 0, why, why_size);
	else if (r == 0)
		r = trust_anchors_add_app(st->cred, req->trust, req->n_trust, why, why_size);
	if (r == 0)
		r = session_new(GNUTLS_SERVER, fd, p, req, st, &s, why, why_size);
	if (r < 0) {
		state_free(st);
		return r;
	}
	gnutls_handshake_set_post_client_hello_function(s, check_sni);
	if (req->ticket_key && gnutls_session_ticket_enable_server(s, req->ticket_key) == 0 && req->session_ttl)
		gnutls_db_set_cache_expiration(s, (int)req->session_ttl);
	if (req->request_peer_auth) {
		/* Verified during the handshake: the chain against the trust
		 * anchors, and the leaf's purpose (RFC 5280 §4.2.1.12). */
		st->checks[0] = (gnutls_typed_vdata_st){ .type = GNUTLS_DT_KEY_PURPOSE_OID,
							 .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT };
		st->n_checks = 1;
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_function(s, verify_peer);
	}
	if (req->alpn && set_alpn(s, req->alpn, GNUTLS_ALPN_SERVER_PRECEDENCE | GNUTLS_ALPN_MANDATORY) < 0) {
		snprintf(why, why_size, "TLS_ALPN: GnuTLS refused the protocol list");
		tls_session_free(s);
		return -EINVAL;
	}
	r = run_handshake(s, p->handshake_timeout, "TLS client authentication (clientAuth)", NULL, why, why_size);
	r = trust_anchors_end(&st->trust, r, why, why_size);
	if (r == 0 && (r = check_version(s, p, why, why_size)) < 0)
		gnutls_alert_send(s, GNUTLS_AL_FATAL, GNUTLS_A_PROTOCOL_VERSION);
	snprintf(sni, sni_size, "%s", st->asked);
	if (r == GNUTLS_E_SUCCESS) {
		*session = s;
		return 0;
	}
	if (st->refused)
		snprintf(why, why_size, "the client asked for server name '%s' (SNI), which no TLS_CERTIFICATE_CHAIN "
			 "holds", st->asked);
	tls_session_free(s);
	return r;
}

void tls_session_free(gnutls_session_t s)
{
	if (!s)
		return;
	struct session_state *st = gnutls_session_get_ptr(s);
	gnutls_deinit(s);
	state_free(st);
}

/* The suites the session's priorities enable, newline-separated, into
 * buf[0..size). */
const char *tls_session_trusted_ciphers(gnutls_session_t s, char *buf, size_t size)
{
	struct session_state *st = gnutls_session_get_ptr(s);
	size_t used = 0;
	unsigned sidx;

	buf[0] = '\0';
	for (unsigned idx = 0;; idx++) {
		int r = gnutls_priority_get_cipher_suite_index(st->prio, idx, &sidx);
		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (r < 0)
			continue;
		const char *name = gnutls_cipher_suite_info(sidx, NULL, NULL, NULL, NULL, NULL);
		if (name && used + strlen(name) + 2 < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "\n" : "", name);
	}
	return buf;
}

const char *tls_session_ocsp_status(gnutls_session_t s)
{
	gnutls_datum_t resp = { 0 };

	if (gnutls_ocsp_status_request_is_checked(s, 0))
		return "stapled response verified: good";
	if (gnutls_ocsp_status_request_get(s, &resp) == 0 && resp.size > 0)
		return "stapled response present but not verified";
	return "no stapled response";
}

const char *tls_session_version_name(gnutls_session_t s)
{
	const char *n = gnutls_protocol_get_name(gnutls_protocol_get_version(s));

	return n ? n : "unknown";
}

const char *tls_session_cipher_name(gnutls_session_t s)
{
	const char *n = gnutls_ciphersuite_get(s);

	return n ? n : "unknown";
}

/* Append a PEM certificate to the malloc'd string *chain: 0 or -ENOMEM. */
static int append_pem(char **chain, const gnutls_datum_t *pem)
{
	size_t have = *chain ? strlen(*chain) : 0;
	char *p = realloc(*chain, have + pem->size + 1);

	if (!p)
		return -ENOMEM;
	memcpy(p + have, pem->data, pem->size);
	p[have + pem->size] = '\0';
	*chain = p;
	return 0;
}

/* The subject DN of DER certificate `der`, malloc'd, or NULL. */
static char *subject_dn(const gnutls_datum_t *der)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = { 0 };
	char *out = NULL;

	if (gnutls_x509_crt_init(&crt) < 0)
		return NULL;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) == 0 && gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
		out = strdup((const char *)dn.data);
		gnutls_free(dn.data);
	}
	gnutls_x509_crt_deinit(crt);
	return out;
}

void tls_session_describe(gnutls_session_t s, struct ssa_result *res)
{
	const gnutls_datum_t *certs;
	char suites[4096];
	unsigned n = 0;

	res->version = tls_version_of(s);
	snprintf(res->cipher, sizeof res->cipher, "%s", tls_session_cipher_name(s));
	tls_session_alpn(s, res->alpn, sizeof res->alpn);
	res->trusted_ciphers = strdup(tls_session_trusted_ciphers(s, suites, sizeof suites));
	certs = gnutls_certificate_get_peers(s, &n);
	if (certs && n > 0)
		res->peer_identity = subject_dn(&certs[0]);
	for (unsigned i = 0; certs && i < n; i++) {
		gnutls_datum_t pem = { 0 };
		if (gnutls_pem_base64_encode2("CERTIFICATE", &certs[i], &pem) == 0) {
			append_pem(&res->peer_chain, &pem);
			gnutls_free(pem.data);
		}
	}
}
