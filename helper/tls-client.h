/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tls-client.h: the helper's TLS client session (GnuTLS). */
#ifndef SSA_TLS_CLIENT_H
#define SSA_TLS_CLIENT_H

#include <gnutls/gnutls.h>
#include <stddef.h>

#include "policy.h"
#include "ssa-wire.h"

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
 * in why[0..why_size).  fd stays the caller's either way.
 */
int tls_client_handshake(int fd, const char *hostname, const struct policy *policy,
			 gnutls_session_t *session, char *why, size_t why_size);

/* Release a session from tls_client_handshake() (not its socket). */
void tls_client_free(gnutls_session_t session);

/* Add what the application can ask about (TLS_CHOSEN_VERSION,
 * TLS_CHOSEN_CIPHER, TLS_PEER_IDENTITY, TLS_PEER_CERTIFICATE_CHAIN) to a
 * result message. */
void tls_client_describe(gnutls_session_t session, struct ssa_msg *m);

/* The negotiated version as "TLS1.3" and suite name, for the journal. */
const char *tls_client_version_name(gnutls_session_t session);
const char *tls_client_cipher_name(gnutls_session_t session);

#endif /* SSA_TLS_CLIENT_H */
