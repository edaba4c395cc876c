/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ssa-wire.h: the messages between the shim and ssa-helper.
 *
 * Both ends are built from the same tree, but the helper treats every byte
 * it reads as hostile: each message is a fixed header followed by a body of
 * at most SSA_WIRE_BODY_MAX bytes made of tag-length-value fields, every one
 * of them bounded.  All integers are in network byte order.
 *
 *   header:  "SSA" version(u8) | type(u16) | reserved(u16) | body length(u32)
 *   field:   tag(u16) | length(u16) | value
 *
 * The conversations on a control connection (an AF_UNIX stream socket to a
 * fresh helper):
 *
 * connect()   shim -> helper      SSA_MSG_CONNECT, then one byte with
 *                                 SCM_RIGHTS: the application's socket, the
 *                                 other end of its loopback connection (the
 *                                 hold: shim/hold.h), the files (enum ssa_file)
 *             helper -> shim      SSA_MSG_RESULT: errno 0, or the failure and
 *                                 its reason
 * listen()    shim -> helper      SSA_MSG_LISTEN (the same fields, no peer),
 *                                 then SCM_RIGHTS: the bound TCP socket, the
 *                                 application's end of a SOCK_SEQPACKET pair,
 *                                 the files
 *             helper -> shim      SSA_MSG_RESULT: whether the keys and the
 *                                 policy allow listening; the helper then
 *                                 stays as the listener of this socket
 * each client listener -> helper  SSA_MSG_ACCEPT (the LISTEN body plus the
 *                                 application's identity), then SCM_RIGHTS:
 *                                 the client's TCP socket, the files
 *             helper -> listener  SSA_MSG_RESULT about the handshake, then
 *                                 (on success only) one byte with
 *                                 SCM_RIGHTS: the application's end of the
 *                                 plaintext connection
 *             listener -> app     the same result and descriptor as one
 *                                 SOCK_SEQPACKET message, which accept()
 *                                 receives
 * after a     helper -> shim      SSA_MSG_SESSION, any number, on the same
 * client's                        control socket, until the connection
 * verdict                         ends: resumption data (a TLS 1.3 ticket
 *                                 that arrived after the handshake, or a
 *                                 TLS 1.2 session) for the shim's cache
 */
#ifndef SSA_WIRE_H
#define SSA_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 2: the application's socket comes held (SSA_TAG_HOLD_*), not listening. */
#define SSA_WIRE_VERSION 2
#define SSA_WIRE_HEADER_SIZE 12
/* Largest body of either message; a peer chain of a few certificates fits. */
#define SSA_WIRE_BODY_MAX (128 * 1024)

enum ssa_msg_type {
	SSA_MSG_CONNECT = 1,
	SSA_MSG_RESULT = 2,
	SSA_MSG_LISTEN = 3,
	SSA_MSG_ACCEPT = 4,
	SSA_MSG_SESSION = 5,
};

/* Fields of SSA_MSG_CONNECT. */
enum ssa_connect_tag {
	SSA_TAG_HOSTNAME = 1,  /* string: name for SNI and verification */
	SSA_TAG_RESOLVE = 2,   /* string: name to resolve (AF_HOSTNAME) */
	SSA_TAG_ADDRESS = 3,   /* struct sockaddr_in or sockaddr_in6 bytes */
	SSA_TAG_PORT = 4,      /* u16, with SSA_TAG_RESOLVE */
	SSA_TAG_EXE = 5,       /* string: the program, as the client sees it */
	SSA_TAG_VERSION_MIN = 6, /* u32: TLS_VERSION_MIN the application set */
	SSA_TAG_VERSION_MAX = 7, /* u32: TLS_VERSION_MAX the application set */
	SSA_TAG_ALPN = 8,      /* string: TLS_ALPN, comma-separated protocols */
	SSA_TAG_FILES = 9,     /* u32: enum ssa_file bits, the files passed */
	SSA_TAG_CIPHER_OFF = 10, /* string: a suite TLS_DISABLE_CIPHER removed (repeats) */
	SSA_TAG_CIPHER_ON = 11,  /* string: a suite TLS_ENABLE_CIPHER asked for (repeats) */
	SSA_TAG_SESSION_REUSE = 12, /* u32: TLS_SESSION_REUSE the application set */
	SSA_TAG_REVOCATION = 13, /* u32: TLS_REVOCATION_CHECKS / TLS_OCSP_STAPLED_CHECKS,
	                          * bit 0 set: the first given, bit 1 its value; bits 2, 3 the second */
	SSA_TAG_KEY_PAIRS = 14,  /* u32: chain and key descriptors that follow, in pairs */
	SSA_TAG_PEER_AUTH = 15,  /* u32: TLS_REQUEST_PEER_AUTH (listening sockets) */
	SSA_TAG_HOLD_FILLER = 36, /* u32: filler bytes the shim wrote to hold the socket */
	SSA_TAG_HOLD_LOWAT = 37,  /* u32: the socket's own TCP_NOTSENT_LOWAT, to restore */
	SSA_TAG_SESSION_DATA = 38, /* bytes: CONNECT: resumption data to try; SESSION: new data */
	SSA_TAG_SESSION_TTL = 39,  /* u32: LISTEN, ACCEPT: TLS_SESSION_TTL, seconds */
	SSA_TAG_TICKET_KEY = 40,   /* bytes: ACCEPT: the listening socket's session ticket key */
	/* Added by the listener to SSA_MSG_ACCEPT: whom it serves. */
	SSA_TAG_APP_PID = 32,    /* u32: the application's pid, from SO_PEERCRED */
	SSA_TAG_APP_UID = 33,    /* u32: its uid */
	SSA_TAG_APP_GID = 34,    /* u32: its gid */
	SSA_TAG_EXE_VERIFIED = 35, /* u32: 1 if SSA_TAG_EXE was read from /proc */
};

/*
 * Files the application opened with its own permissions and passes after
 * the sockets (SCM_RIGHTS): the helper never opens a path an application
 * names.  First the trust anchors if SSA_TAG_FILES has SSA_FILE_TRUST, then
 * SSA_TAG_KEY_PAIRS pairs of chain (PEM, leaf first) and key (PEM or DER).
 * The descriptors may be shared by several helpers: they are read with
 * pread(2), never moving the file offset.
 */
enum ssa_file {
	SSA_FILE_TRUST = 1 << 0, /* TLS_TRUSTED_PEER_CERTIFICATES: PEM file, or a directory's files */
};

/* Most chain and key pairs on one socket (several for SNI). */
#define SSA_KEY_PAIRS_MAX 8

/* Fields of SSA_MSG_RESULT. */
enum ssa_result_tag {
	SSA_TAG_ERRNO = 16,      /* u32: 0 on success, else an errno of SPEC §3 */
	SSA_TAG_REASON = 17,     /* string: why it failed (TLS_ERROR) */
	SSA_TAG_ID = 18,         /* u64: connection id, as logged */
	SSA_TAG_VERSION = 19,    /* u32: TLS_1_0 .. TLS_1_3 */
	SSA_TAG_CIPHER = 20,     /* string: negotiated suite */
	SSA_TAG_PEER_IDENTITY = 21, /* string: subject DN of the peer */
	SSA_TAG_PEER_CHAIN = 22, /* string: PEM, leaf first (may repeat) */
	SSA_TAG_PEER_ADDR = 23,  /* sockaddr of the peer */
	SSA_TAG_LOCAL_ADDR = 24, /* sockaddr of the network-side socket */
	SSA_TAG_ALPN_CHOSEN = 25, /* string: the protocol ALPN settled on */
	SSA_TAG_VERSION_RANGE = 26, /* u32: effective min << 8 | max */
	SSA_TAG_POLICY = 27,     /* string: the policy sections that applied */
	SSA_TAG_OCSP = 28,       /* string: the stapled OCSP response's fate */
	SSA_TAG_TRUSTED_CIPHERS = 29, /* string: the suites the session offered, newline-separated */
	SSA_TAG_SNI = 30,        /* string: the server name the client asked for (accept) */
	SSA_TAG_RESUMED = 31,    /* u32: 1 if the session was resumed */
};

/* Longest string field of any message (a PEM certificate fits; a chain is
 * sent as one SSA_TAG_PEER_CHAIN field per certificate). */
#define SSA_WIRE_FIELD_MAX 0xffff

/*
 * A message being built in caller-owned memory.  ssa_msg_init() sets it up;
 * the put functions append fields and set `overflow` instead of writing past
 * the end, so a caller checks once, before sending.
 */
struct ssa_msg {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

/* Start a message of `type` in buf[0..cap).  cap must be at least
 * SSA_WIRE_HEADER_SIZE; the body may grow to cap - SSA_WIRE_HEADER_SIZE or
 * SSA_WIRE_BODY_MAX, whichever is smaller. */
void ssa_msg_init(struct ssa_msg *m, uint8_t *buf, size_t cap, enum ssa_msg_type type);
/* Append a field with `len` bytes of `value` (len <= SSA_WIRE_FIELD_MAX). */
void ssa_msg_put(struct ssa_msg *m, uint16_t tag, const void *value, size_t len);
/* Append a NUL-free string field (the NUL is not sent); NULL is skipped. */
void ssa_msg_put_str(struct ssa_msg *m, uint16_t tag, const char *s);
/* Append fields already encoded (another message's body, len bytes). */
void ssa_msg_put_raw(struct ssa_msg *m, const void *fields, size_t len);
void ssa_msg_put_u16(struct ssa_msg *m, uint16_t tag, uint16_t v);
void ssa_msg_put_u32(struct ssa_msg *m, uint16_t tag, uint32_t v);
void ssa_msg_put_u64(struct ssa_msg *m, uint16_t tag, uint64_t v);
/* Write the body length into the header; returns the total length to send,
 * or 0 if a field did not fit (m->overflow). */
size_t ssa_msg_finish(struct ssa_msg *m);

/*
 * Check a received header.  On success returns the body length (at most
 * SSA_WIRE_BODY_MAX); returns -EPROTO for a wrong magic, version, type or an
 * oversized body.
 */
long ssa_wire_check_header(const uint8_t header[SSA_WIRE_HEADER_SIZE], enum ssa_msg_type want);

/* The type of a received header (not checked). */
enum ssa_msg_type ssa_wire_type(const uint8_t header[SSA_WIRE_HEADER_SIZE]);

/* Iterates over the fields of a received body (not owned). */
struct ssa_field_iter {
	const uint8_t *p;
	size_t left;
};

struct ssa_field {
	uint16_t tag;
	uint16_t len;
	const uint8_t *value; /* points into the body */
};

void ssa_field_iter_init(struct ssa_field_iter *it, const uint8_t *body, size_t len);
/* Next field: returns 1 and fills *f, 0 at the end, -EPROTO if the body is
 * truncated or malformed. */
int ssa_field_next(struct ssa_field_iter *it, struct ssa_field *f);

/* Value decoders: return 0, or -EPROTO if the field has the wrong size. */
int ssa_field_u16(const struct ssa_field *f, uint16_t *v);
int ssa_field_u32(const struct ssa_field *f, uint32_t *v);
int ssa_field_u64(const struct ssa_field *f, uint64_t *v);
/* Copy a string field into dst[0..size) NUL-terminated.  Returns 0, or
 * -EPROTO if it holds a NUL or does not fit. */
int ssa_field_str(const struct ssa_field *f, char *dst, size_t size);
/* The same into a new malloc'd string the caller frees; -ENOMEM, -EPROTO. */
int ssa_field_strdup(const struct ssa_field *f, char **dst);

#endif /* SSA_WIRE_H */
