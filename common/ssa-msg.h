/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ssa-msg.h: the two messages between the shim, the helper and the
 * listener, as C structs, with their limits, encoders and decoders.
 *
 * This is the one place that knows which field carries what (ssa-wire.h
 * has the framing: header, tag-length-value fields).  Every limit is stated
 * here once: the shim refuses at setsockopt() what a decoder would refuse,
 * and the decoders refuse anything else, field by field, as hostile input.
 *
 * A request (SSA_MSG_CONNECT, SSA_MSG_LISTEN or SSA_MSG_ACCEPT) says what
 * the application asked for; a result (SSA_MSG_RESULT) is a helper's
 * verdict and what the application may ask about the connection
 * afterwards.  The descriptors that travel with them (ssa-io.h) are listed
 * in ssa-wire.h.
 */
#ifndef SSA_MSG_H
#define SSA_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "in_tls.h"
#include "ssa-wire.h"

/* --- limits --------------------------------------------------------------- */

/* TLS_ALPN: the comma-separated list, NUL included. */
#define SSA_ALPN_MAX 256
/* TLS_DISABLE_CIPHER and TLS_ENABLE_CIPHER: suites in each list. */
#define SSA_CIPHERS_MAX 16
/* One suite name, NUL included (TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 fits). */
#define SSA_CIPHER_NAME_MAX 65
/* A program path, NUL included. */
#define SSA_EXE_MAX 4096
/* TLS_ERROR, NUL included: longer reasons are cut. */
#define SSA_REASON_MAX 512
/* Resumption data (SSA_TAG_SESSION_DATA): one field. */
#define SSA_SESSION_MAX SSA_WIRE_FIELD_MAX
/* A session ticket key (gnutls_session_ticket_key_generate(3)). */
#define SSA_TICKET_KEY_SIZE 64
/* TLS_CHOSEN_CIPHER, TLS_SNI, TLS_POLICY_SECTIONS, TLS_OCSP_STATUS. */
#define SSA_CIPHER_MAX 64
#define SSA_SNI_MAX 256
#define SSA_SECTIONS_MAX 256
#define SSA_OCSP_STATUS_MAX 96

/* --- the request ---------------------------------------------------------- */

/* What the application asked for (SPEC §2), checked against the policy by
 * the helper (tighten.h).  -1 in an int field means "not set". */
struct ssa_request {
	enum ssa_msg_type kind;            /* SSA_MSG_CONNECT, _LISTEN or _ACCEPT */
	/* CONNECT: the peer. */
	char hostname[SSA_HOSTNAME_MAX];   /* SNI and verification name */
	char resolve[SSA_HOSTNAME_MAX];    /* AF_HOSTNAME: the name to resolve, or "" */
	uint16_t port;                     /* with resolve: host byte order */
	struct sockaddr_storage addr;      /* without resolve: sockaddr_in or _in6 */
	socklen_t addr_len;
	/* Everything: the program and its options. */
	char exe[SSA_EXE_MAX];             /* the program, as the sender sees it, or "" */
	int version_min, version_max;      /* TLS_VERSION_MIN/MAX, or -1 */
	char alpn[SSA_ALPN_MAX];           /* TLS_ALPN, or "" */
	char ciphers_off[SSA_CIPHERS_MAX][SSA_CIPHER_NAME_MAX]; /* TLS_DISABLE_CIPHER */
	size_t n_off;
	char ciphers_on[SSA_CIPHERS_MAX][SSA_CIPHER_NAME_MAX];  /* TLS_ENABLE_CIPHER */
	size_t n_on;
	int session_reuse;                 /* TLS_SESSION_REUSE 0/1, or -1 */
	int revocation_checks;             /* TLS_REVOCATION_CHECKS 0/1, or -1 */
	int ocsp_stapled_checks;           /* TLS_OCSP_STAPLED_CHECKS 0/1, or -1 */
	bool peer_auth;                    /* LISTEN, ACCEPT: TLS_REQUEST_PEER_AUTH */
	/* The files that follow the sockets (ssa-wire.h). */
	bool trust_file;                   /* TLS_TRUSTED_PEER_CERTIFICATES */
	uint32_t n_pairs;                  /* chain and key pairs, 0..SSA_KEY_PAIRS_MAX */
	/* CONNECT: the hold (shim/hold.h). */
	uint32_t hold_filler;
	int hold_lowat;
	/* CONNECT: resumption data to try (opaque to the shim), malloc'd by
	 * the decoder (ssa_request_free()), or the encoder's caller's. */
	uint8_t *session;
	size_t session_len;
	/* LISTEN, ACCEPT: TLS_SESSION_TTL of the listening socket, or 0. */
	uint32_t session_ttl;
	/* ACCEPT: the listening socket's session ticket key, if any. */
	bool has_ticket_key;
	uint8_t ticket_key[SSA_TICKET_KEY_SIZE];
	/* ACCEPT: whom the listener serves, as it established it. */
	bool has_app;
	uint32_t app_pid, app_uid, app_gid;
	bool app_exe_verified;
};

/* An empty request of `kind`: every option unset. */
void ssa_request_init(struct ssa_request *r, enum ssa_msg_type kind);

/* Free what a decoder allocated in r (the resumption data) and wipe the
 * ticket key. */
void ssa_request_free(struct ssa_request *r);

/*
 * Encode `r` as a whole message (header and body) into buf[0..cap).
 * Returns its length, or 0 if it does not fit.
 */
size_t ssa_request_encode(const struct ssa_request *r, uint8_t *buf, size_t cap);

/*
 * Decode a request body of type `kind` (from the header) into *r.  Returns
 * 0, or -EPROTO for anything out of bounds: a truncated field, a value of
 * the wrong size or range, a string with a NUL or too long, a field given
 * twice that may appear once, a field unknown or foreign to `kind`, a
 * request that lacks what its kind needs (a peer for CONNECT, a chain for
 * LISTEN and ACCEPT).  On -EPROTO, *bad_tag (if not NULL) is the offending
 * field's tag, or 0 for the request as a whole.
 */
int ssa_request_decode(enum ssa_msg_type kind, const uint8_t *body, size_t len, struct ssa_request *r,
		       unsigned *bad_tag);

/* --- the result ----------------------------------------------------------- */

/* A helper's verdict (SPEC §3) and what the application may ask after it. */
struct ssa_result {
	int err;                           /* 0: connected; else an errno of SPEC §3 */
	char reason[SSA_REASON_MAX];       /* TLS_ERROR, or "" */
	uint64_t id;                       /* TLS_ID, as logged */
	char sections[SSA_SECTIONS_MAX];   /* TLS_POLICY_SECTIONS, or "" */
	int range_min, range_max;          /* effective versions, or -1 */
	/* On success. */
	int version;                       /* TLS_1_0 .. TLS_1_3, or -1 */
	char cipher[SSA_CIPHER_MAX];       /* TLS_CHOSEN_CIPHER */
	char alpn[SSA_ALPN_MAX];           /* TLS_ALPN after connect, or "" */
	char sni[SSA_SNI_MAX];             /* accepted: TLS_SNI */
	char ocsp[SSA_OCSP_STATUS_MAX];    /* TLS_OCSP_STATUS */
	bool resumed;                      /* TLS_RESUMED_SESSION */
	char *peer_identity;               /* TLS_PEER_IDENTITY, malloc'd, or NULL */
	char *peer_chain;                  /* TLS_PEER_CERTIFICATE_CHAIN (PEM), malloc'd, or NULL */
	char *trusted_ciphers;             /* TLS_TRUSTED_CIPHERS, malloc'd, or NULL */
	struct sockaddr_storage peer, local;
	socklen_t peer_len, local_len;     /* 0: not known */
};

/* An empty result: no error, nothing known. */
void ssa_result_init(struct ssa_result *r);

/* Free the malloc'd strings of `r` and empty it. */
void ssa_result_free(struct ssa_result *r);

/*
 * Encode `r` as a whole message into buf[0..cap).  Returns its length.  If
 * the description does not fit (a huge peer chain), the message carries
 * only the verdict, the id and the addresses; 0 only if even that does not
 * fit.
 */
size_t ssa_result_encode(const struct ssa_result *r, uint8_t *buf, size_t cap);

/*
 * Decode a result body into *r (initialized here; free with
 * ssa_result_free()).  A reason longer than SSA_REASON_MAX is cut, not
 * refused.  Returns 0, -ENOMEM, or -EPROTO as ssa_request_decode() (no
 * errno field is a malformed result).
 */
int ssa_result_decode(const uint8_t *body, size_t len, struct ssa_result *r);

/* --- resumption data after the verdict ----------------------------------- */

/* Encode an SSA_MSG_SESSION of `len` (1..SSA_SESSION_MAX) bytes into
 * buf[0..cap): the message's length, or 0 if it does not fit. */
size_t ssa_session_encode(const uint8_t *data, size_t len, uint8_t *buf, size_t cap);

/* Decode an SSA_MSG_SESSION body: 0 with *data pointing into the body and
 * *len, or -EPROTO. */
int ssa_session_decode(const uint8_t *body, size_t body_len, const uint8_t **data, size_t *len);

#endif /* SSA_MSG_H */
