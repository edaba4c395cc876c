/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* server.c: listen() and accept() of an IPPROTO_TLS socket (server.h). */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exchange.h"
#include "files.h"
#include "hold.h"
#include "libc.h"
#include "ssa-errno.h"
#include "ssa-io.h"

/* What listen() must refuse before any helper is involved: 0 or -errno. */
static int check_listen(struct tls_socket *s)
{
	if (s->state != TLS_SOCKET_IDLE || s->accepted) {
		tls_socket_set_error(s, "a socket that is connected or was connected cannot listen");
		return -EOPNOTSUPP;
	}
	if (s->domain == AF_HOSTNAME) {
		tls_socket_set_error(s, "an AF_HOSTNAME socket names a peer: listen on an AF_INET or AF_INET6 socket");
		return -EOPNOTSUPP;
	}
	if (s->n_chains == 0) {
		tls_socket_set_error(s, "a listening TLS socket needs TLS_CERTIFICATE_CHAIN and TLS_PRIVATE_KEY "
					"before listen()");
		return -EINVAL;
	}
	return files_check_pairs(s);
}

/* The helper's verdict on listening, over a fresh control connection:
 * 0, or -errno with TLS_ERROR set. */
static int ask_helper(int fd, struct tls_socket *s, int queue)
{
	struct ssa_request req = s->opts;
	int ctl, e;

	req.kind = SSA_MSG_LISTEN;
	req.session_ttl = s->session_ttl > 0 ? (uint32_t)s->session_ttl : 0;
	ctl = exchange_open(s, &req, (const int[]){ fd, queue }, 2);
	if (ctl < 0)
		return ctl == -ECONNABORTED || ctl == -ECANCELED || ctl == -ENOBUFS ? ctl : -ECANCELED;
	e = exchange_verdict(s, ctl);
	REAL(close)(ctl);
	if (e == ECONNABORTED && !s->res.err)
		tls_socket_set_error(s, "the SSA helper went away before it took the listening socket");
	return -e;
}

/* Put the accept queue in place of the socket at fd, with the socket's
 * status and descriptor flags and SO_RCVTIMEO: 0 or -errno. */
static int install_queue(int fd, int queue, int fl, int fdfl, const struct timeval *rcvtimeo)
{
	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(queue, F_SETFL, fcntl(queue, F_GETFL) | O_NONBLOCK);
	if (rcvtimeo->tv_sec || rcvtimeo->tv_usec)
		REAL(setsockopt)(queue, SOL_SOCKET, SO_RCVTIMEO, rcvtimeo, sizeof *rcvtimeo);
	if (REAL(dup3)(queue, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		return -errno;
	return 0;
}

int server_listen(int fd, struct tls_socket *s, int backlog)
{
	struct sockaddr_storage local;
	socklen_t local_len = sizeof local;
	struct timeval rcvtimeo = { 0 };
	socklen_t tv_len = sizeof rcvtimeo;
	struct stat st;
	int queue[2], r, fl, fdfl;

	if (s->state == TLS_SOCKET_LISTENING)
		return 0; /* as listen(2) again: the helper keeps its backlog */
	if ((r = check_listen(s)) < 0)
		return r;
	if (REAL(listen)(fd, backlog) < 0)
		return -errno;
	/* The flags before the helper has the socket: it makes the (shared)
	 * open file non-blocking for itself. */
	fl = fcntl(fd, F_GETFL);
	fdfl = fcntl(fd, F_GETFD);
	if (REAL(getsockname)(fd, (struct sockaddr *)&local, &local_len) < 0)
		local_len = 0;
	REAL(getsockopt)(fd, SOL_SOCKET, SO_RCVTIMEO, &rcvtimeo, &tv_len);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, queue) < 0) {
		r = errno;
		hold_dissolve(fd);
		tls_socket_set_error(s, "cannot make the accept queue: %s", strerror(r));
		return -ssa_errno_internal(r);
	}
	s->error[0] = '\0';
	r = ask_helper(fd, s, queue[1]);
	REAL(close)(queue[1]);
	if (r == 0) {
		r = install_queue(fd, queue[0], fl, fdfl, &rcvtimeo);
		if (r < 0) {
			tls_socket_set_error(s, "cannot install the accept queue: %s", strerror(-r));
			r = -ENOBUFS;
		} else if (fstat(fd, &st) == 0) {
			s->ino = st.st_ino; /* the record now stands for the queue */
		}
	} else {
		hold_dissolve(fd); /* LISTEN -> CLOSE, as before the call */
	}
	REAL(close)(queue[0]);
	if (r < 0)
		return r;
	memcpy(&s->res.local, &local, sizeof local);
	s->res.local_len = local_len;
	s->state = TLS_SOCKET_LISTENING;
	return 0;
}

/*
 * Take the next message of the accept queue `fd` into buf[0..cap) with its
 * descriptor, once one waits (blocking unless the queue is non-blocking)
 * and the application can take a descriptor: what ssa_recvmsg_fds()
 * returns, or -EMFILE/-ENFILE with the message left in the queue for a
 * later accept() (SPEC §3).  Received without that check, the kernel would
 * drop the descriptor of an application out of them (MSG_CTRUNC), and the
 * client with it.  (Another thread opening a descriptor between the check
 * and the receipt still can; that connection is then ECONNABORTED.)
 */
static ssize_t take_message(int fd, uint8_t *buf, size_t cap, int *conn, size_t *n_fds)
{
	for (;;) {
		uint8_t first;
		ssize_t n = recv(fd, &first, 1, MSG_PEEK); /* waits as accept() would */
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		if (n == 0)
			return 0; /* the listener is gone */
		int probe = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (probe < 0)
			return -errno;
		REAL(close)(probe);
		n = ssa_recvmsg_fds(fd, buf, cap, conn, 1, n_fds, MSG_DONTWAIT);
		if (n != -EAGAIN || (fcntl(fd, F_GETFL) & O_NONBLOCK))
			return n;
		/* Another thread took it: wait for the next. */
	}
}

/*
 * Receive one connection from the accept queue `fd` (blocking unless the
 * queue is non-blocking): the new descriptor, its record in *out (with a
 * reference), or -errno: -EPIPE (the listener is gone), -EPROTO (a message
 * that cannot be understood), -EMFILE/-ENFILE (take_message()), or
 * recvmsg(2)'s.  `domain` is the listening socket's.
 */
static int receive_connection(int fd, int domain, int flags, struct tls_socket **out)
{
	size_t cap = SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX, n_fds = 0;
	uint8_t *buf = malloc(cap);
	struct tls_socket *t = NULL;
	int conn = -1, r;
	ssize_t n;
	long body_len;

	if (!buf)
		return -ENOMEM;
	n = take_message(fd, buf, cap, &conn, &n_fds);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	if (n == 0 && n_fds == 0) {
		free(buf);
		return -EPIPE;
	}
	body_len = (size_t)n >= SSA_WIRE_HEADER_SIZE ? ssa_wire_check_header(buf, SSA_MSG_RESULT) : -EPROTO;
	r = n_fds != 1 || body_len < 0 || (size_t)body_len != (size_t)n - SSA_WIRE_HEADER_SIZE ? -EPROTO : 0;
	if (r == 0)
		r = tls_socket_add(conn, domain);
	if (r == 0 && !(t = tls_socket_get(conn)))
		r = -ENOMEM;
	if (r == 0) {
		pthread_mutex_lock(&t->lock);
		ssa_result_free(&t->res);
		r = ssa_result_decode(buf + SSA_WIRE_HEADER_SIZE, (size_t)body_len, &t->res);
		if (r == 0 && t->res.err != 0)
			r = -EPROTO;
		t->state = TLS_SOCKET_CONNECTED;
		t->accepted = true;
		pthread_mutex_unlock(&t->lock);
	}
	free(buf);
	if (r < 0) {
		tls_socket_put(t);
		if (n_fds) {
			tls_socket_forget(conn);
			REAL(close)(conn);
		}
		return r;
	}
	if (!(flags & SOCK_CLOEXEC))
		fcntl(conn, F_SETFD, 0);
	if (flags & SOCK_NONBLOCK)
		fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) | O_NONBLOCK);
	*out = t;
	return conn;
}

int server_accept(int fd, struct tls_socket *s, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct tls_socket *t = NULL;
	int domain, conn;

	pthread_mutex_lock(&s->lock);
	if (s->state != TLS_SOCKET_LISTENING) {
		tls_socket_set_error(s, "accept() needs a listening socket");
		pthread_mutex_unlock(&s->lock);
		return -EINVAL;
	}
	domain = s->domain;
	pthread_mutex_unlock(&s->lock);
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	if (addr && !len)
		return -EFAULT;
	/* Without the lock: other threads may accept or ask at the same time. */
	conn = receive_connection(fd, domain, flags, &t);
	if (conn == -EPIPE || conn == -EPROTO) {
		pthread_mutex_lock(&s->lock);
		tls_socket_set_error(s, conn == -EPIPE ? "the SSA helper serving this listening socket is gone "
							 "(see the journal)"
						       : "a connection from the SSA helper could not be understood");
		pthread_mutex_unlock(&s->lock);
		return conn == -EPIPE ? -EINVAL : -ECONNABORTED;
	}
	if (conn < 0)
		return conn;
	if (addr) {
		socklen_t have = *len;
		pthread_mutex_lock(&t->lock);
		memcpy(addr, &t->res.peer, have < t->res.peer_len ? have : t->res.peer_len);
		*len = t->res.peer_len;
		pthread_mutex_unlock(&t->lock);
	}
	tls_socket_put(t);
	return conn;
}
