/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tls-socket.h: the shim's record of each IPPROTO_TLS descriptor.
 *
 * The descriptor the application holds is a real TCP socket from socket()
 * on.  On a successful connect() it is connected over loopback to a socket
 * the helper holds, and carries plaintext; the helper owns the TLS session.
 * After listen() the descriptor is the application's end of a
 * SOCK_SEQPACKET accept queue fed by a listening helper (listener.h in the
 * helper), and each descriptor accept() returns is a plaintext TCP socket
 * like a connected client's.  This record holds what the kernel cannot: the
 * state of the TLS connection, the host name, and what the helper reported.
 */
#ifndef SSA_TLS_SOCKET_H
#define SSA_TLS_SOCKET_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "in_tls.h"
#include "sessions.h"
#include "ssa-msg.h"

enum tls_socket_state {
	TLS_SOCKET_IDLE,       /* created, never connected */
	TLS_SOCKET_CONNECTING, /* an attempt is under way: the helper works, ctl is open */
	TLS_SOCKET_CONNECTED,  /* plaintext flows */
	TLS_SOCKET_FAILED,     /* connect() failed; the socket is unusable */
	TLS_SOCKET_LISTENING,  /* listen() succeeded: the fd is the accept queue */
};

/* Longest TLS_ERROR reason kept, NUL included. */
#define TLS_ERROR_MAX SSA_REASON_MAX

struct tls_socket {
	atomic_int refs;          /* table's reference + one per user */
	pthread_mutex_t lock;     /* guards everything below */
	int domain;               /* AF_INET, AF_INET6 or AF_HOSTNAME */
	ino_t ino;                /* inode of the socket, to detect a reused fd */
	enum tls_socket_state state;
	int ctl;                  /* control socket to the helper while connecting, or -1 */
	int64_t attempt_ms;       /* ssa_now_ms() when the connect attempt started */
	int pending_error;        /* errno of an attempt that ended unseen, for SO_ERROR */
	char error[TLS_ERROR_MAX];        /* TLS_ERROR, "" if none */
	/* What the application asked for (SPEC §2): the request's options
	 * (TLS_HOSTNAME in opts.hostname, TLS_PROGRAM in opts.exe), sent at
	 * connect() or listen(); the helper checks them against the policy,
	 * which they may only tighten (tighten.h). */
	struct ssa_request opts;
	int session_ttl;                  /* TLS_SESSION_TTL, seconds, or -1 */
	struct session_key session_key;   /* what its resumption data is kept for (sessions.h) */
	uint64_t context;                 /* TLS_CONTEXT */
	/* Files the application opened (files.h), -1 if unset. */
	int trust_fd;                     /* TLS_TRUSTED_PEER_CERTIFICATES */
	int chain_fd[SSA_KEY_PAIRS_MAX];  /* TLS_CERTIFICATE_CHAIN, in the order given */
	int key_fd[SSA_KEY_PAIRS_MAX];    /* TLS_PRIVATE_KEY of the chain at the same index */
	int n_chains;
	bool accepted;                    /* returned by accept(): the server side */
	/* The socket was closed by a path the shim does not see; so, perhaps,
	 * were the descriptors above, whose numbers may name the
	 * application's files now: the record leaves them alone (owned-fd.h). */
	bool orphaned;
	/* What the helper reported (connect(), accept()), or for a listening
	 * socket its bound address in res.local. */
	struct ssa_result res;
};

/*
 * Register a new record for `fd` (domain as given to socket()).  Returns 0 or
 * -ENOMEM, -EMFILE (fd beyond the table).
 */
int tls_socket_add(int fd, int domain);

/*
 * The record of `fd` with a reference the caller drops with
 * tls_socket_put(), or NULL if fd is not an IPPROTO_TLS socket.  A record
 * whose descriptor was closed behind the shim's back (its inode changed) is
 * dropped and NULL returned.
 */
struct tls_socket *tls_socket_get(int fd);
void tls_socket_put(struct tls_socket *s);

/* Forget `fd` (it is being closed or replaced).  Safe for any fd. */
void tls_socket_forget(int fd);

/* Nonzero once any IPPROTO_TLS socket was created: the only test on the path
 * of every other socket call.  */
extern atomic_bool tls_socket_any;

/* Set s->error from a printf format (the caller holds s->lock). */
void tls_socket_set_error(struct tls_socket *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* SSA_TLS_SOCKET_H */
