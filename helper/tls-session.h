/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tls-session.h: the helper's TLS sessions, client and server (GnuTLS). */
#ifndef SSA_TLS_CLIENT_H
#define SSA_TLS_CLIENT_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>

#include "policy.h"
#include "ssa-msg.h"

/* What the application asked for on top of the policy (SPEC §2), already
 * checked against it by the caller.  Buffers are the caller's. */
struct tls_request {
	const char *alpn;               /* comma-separated, or NULL; a server's in order of preference */
	gnutls_datum_t *trust;          /* PEM blobs of extra trust anchors */
	size_t n_trust;
	bool replace_trust;             /* use only those (app-trust-store = replace) */
	/* Certificates: a client's (GnuTLS picks one the server accepts), or
	 * a server's (picked by the SNI the client sent; the first without). */
	gnutls_datum_t chain[SSA_KEY_PAIRS_MAX], key[SSA_KEY_PAIRS_MAX];
	size_t n_pairs;
	bool request_peer_auth;         /* server: require and verify a client certificate */
	const char *cipher_mods;        /* from tls_priority_cipher_modifiers(), or NULL */
	/* Client resumption (SPEC §2): data to try (size 0: none), and
	 * where new data goes: a TLS 1.3 ticket when it arrives after the
	 * handshake (a GNUTLS_HANDSHAKE_NEW_SESSION_TICKET hook), a TLS 1.2
	 * session at the end of the handshake.  on_session may be NULL. */
	gnutls_datum_t resume;
	void (*on_session)(void *user, const gnutls_datum_t *data);
	void *on_session_user;
	/* Server resumption: the listening socket's ticket key, or NULL;
	 * the lifetime of the tickets issued, seconds (0: GnuTLS's). */
	const gnutls_datum_t *ticket_key;
	unsigned session_ttl;
};

/*
 * Check that every chain of `req` parses and matches its key, as
 * gnutls_certificate_set_x509_key_mem2(3) does, so that a listening socket
 * with a wrong pair fails at listen() rather than at its first client.
 * With `keep` (a listener that forks its clients' helpers), keep them
 * parsed in this process for those helpers: tls_server_handshake() in
 * them uses these, instead of parsing the files again, for a request whose
 * chains and keys hold the same bytes; they stay for the life of the
 * process.  Returns 0, -EPROTO (a key does not match its chain), -EINVAL
 * (a file that is no certificate or key), with the reason, or -ENOMEM.
 */
int tls_server_keys_preload(const struct tls_request *req, bool keep, char *why, size_t why_size);

/* The suites the session's priorities enable, newline-separated
 * (TLS_TRUSTED_CIPHERS), into buf[0..size). */
const char *tls_session_trusted_ciphers(gnutls_session_t session, char *buf, size_t size);

/*
 * Do the TLS handshake as a client on connected socket `fd` and validate the
 * peer: the chain against the policy's trust store and the certificate
 * against `hostname` (RFC 6125, GnuTLS's gnutls_certificate_verify_peers(3)), with
 * SNI when hostname is a DNS name (RFC 6066), within the policy's versions,
 * priority and handshake timeout.
 *
 * Returns 0 and a session on fd that the caller owns (tls_session_free());
 * or -EPROTO (handshake failed or peer rejected), -ETIMEDOUT, -ECONNRESET
 * (the TCP connection broke), -ECANCELED (the policy cannot be applied:
 * bad priority string, unreadable trust store) or -ENOMEM, with the reason
 * in why[0..why_size); -EINVAL when the application's certificate and key
 * cannot be used.  fd stays the caller's either way.
 */
int tls_client_handshake(int fd, const char *hostname, const struct policy *policy,
			 const struct tls_request *request, gnutls_session_t *session, char *why,
			 size_t why_size);

/*
 * Do the TLS handshake as a server on the accepted socket `fd`, within the
 * policy's versions, priority and handshake timeout: present the chain whose
 * leaf matches the client's SNI (RFC 6066 §3; a name none of them holds is
 * refused with unrecognized_name, no name gets the first chain), select a
 * protocol from req->alpn in the server's order (RFC 7301 §3.2; a client
 * offering none of them is refused with no_application_protocol), and with
 * req->request_peer_auth require a client certificate valid for TLS client
 * authentication against the policy's trust store and req->trust.
 *
 * The server name the client asked for goes to sni[0..sni_size) ("" if
 * none), whether the handshake succeeds or not.  Returns 0 and a session
 * the caller owns (tls_session_free()); or -EPROTO (handshake failed,
 * client rejected), -ETIMEDOUT, -ECONNRESET, -ECANCELED (policy unusable),
 * -EINVAL (certificates unusable) or -ENOMEM, with the reason in
 * why[0..why_size).  fd stays the caller's either way.
 */
int tls_server_handshake(int fd, const struct policy *policy, const struct tls_request *request,
			 gnutls_session_t *session, char *sni, size_t sni_size, char *why, size_t why_size);

/* Release a session from tls_client_handshake() or tls_server_handshake()
 * (not its socket). */
void tls_session_free(gnutls_session_t session);

/* Fill in what the application can ask about (TLS_CHOSEN_VERSION,
 * TLS_CHOSEN_CIPHER, TLS_ALPN, TLS_TRUSTED_CIPHERS, TLS_PEER_IDENTITY,
 * TLS_PEER_CERTIFICATE_CHAIN): res's malloc'd strings are set here (NULL
 * if memory ran out) and freed with ssa_result_free(). */
void tls_session_describe(gnutls_session_t session, struct ssa_result *res);

/* The protocol ALPN settled on, or "" (points into the session). */
const char *tls_session_alpn(gnutls_session_t session, char *buf, size_t size);

/* What became of the peer's stapled OCSP response, in words. */
const char *tls_session_ocsp_status(gnutls_session_t session);

/* The negotiated version as "TLS1.3" and suite name, for the journal. */
const char *tls_session_version_name(gnutls_session_t session);
const char *tls_session_cipher_name(gnutls_session_t session);

#endif /* SSA_TLS_CLIENT_H */
