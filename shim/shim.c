/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/*
 * shim.c: libssa-shim's exported socket calls, the Secure Socket API.
 *
 * Linked with -lssa-shim or loaded with LD_PRELOAD, this library defines
 * socket(), connect(), setsockopt(), getsockopt(), getpeername(),
 * getsockname(), getaddrinfo(), listen(), accept(), accept4(), close(),
 * dup2() and dup3().  For a descriptor that is not an IPPROTO_TLS socket
 * each of them costs one load and a branch, then calls the C library's own
 * function (libc.h).  For a TLS socket each looks up its record
 * (tls-socket.h), takes its lock, calls the room that does the work, and
 * turns the -errno that every internal function returns into -1 and
 * errno; nothing else sets errno.
 *
 * The rooms: connect.h (the client side and addresses), options.h (the
 * IPPROTO_TLS options), files.h (the files options name), server.h
 * (listen and accept), hold.h (the socket held during an attempt),
 * exchange.h (a request to a helper and its verdict).  From connect() on,
 * reads and writes are the kernel's: no call of the data path passes here.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connect.h"
#include "in_tls.h"
#include "libc.h"
#include "options.h"
#include "optval.h"
#include "server.h"
#include "tls-socket.h"

#define SSA_EXPORT __attribute__((visibility("default")))

/* An internal result (0 or more, or -errno) as a socket call returns it. */
static int result(int r)
{
	if (r >= 0)
		return r;
	errno = -r;
	return -1;
}

SSA_EXPORT int socket(int domain, int type, int protocol)
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	int fd, r;

	if (__builtin_expect(protocol != IPPROTO_TLS, 1))
		return REAL(socket)(domain, type, protocol);
	/* socket(2) of the SSA: stream sockets of these three domains only. */
	if (domain != AF_INET && domain != AF_INET6 && domain != AF_HOSTNAME)
		return result(-EAFNOSUPPORT);
	if (base != SOCK_STREAM)
		return result(-EPROTONOSUPPORT);
	fd = REAL(socket)(domain == AF_INET6 ? AF_INET6 : AF_INET, type, IPPROTO_TCP);
	if (fd < 0)
		return -1;
	r = tls_socket_add(fd, domain);
	if (r < 0) {
		REAL(close)(fd);
		return result(r);
	}
	return fd;
}

SSA_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct tls_socket *s = tls_socket_get(fd);
	int r;

	if (__builtin_expect(s == NULL, 1))
		return REAL(connect)(fd, addr, len);
	pthread_mutex_lock(&s->lock);
	r = connect_start(fd, s, addr, len);
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	return result(r);
}

SSA_EXPORT int setsockopt(int fd, int level, int name, const void *optval, socklen_t optlen)
{
	struct tls_socket *s = tls_socket_get(fd);
	int r;

	if (__builtin_expect(s == NULL, 1))
		return REAL(setsockopt)(fd, level, name, optval, optlen);
	if (level != IPPROTO_TLS) {
		tls_socket_put(s);
		return REAL(setsockopt)(fd, level, name, optval, optlen);
	}
	pthread_mutex_lock(&s->lock);
	r = options_set(s, name, optval, optlen);
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	return result(r);
}

/* getsockopt() of a TLS socket at any level: 0 or -errno with the answer
 * given, or 1 to let the C library answer. */
static int tls_getsockopt(struct tls_socket *s, int fd, int level, int name, void *optval, socklen_t *optlen)
{
	if (level == IPPROTO_TLS) {
		connect_collect_if_done(s, fd);
		return options_get(s, name, optval, optlen);
	}
	if (level != SOL_SOCKET)
		return 1;
	switch (name) {
	case SO_ERROR:
		return connect_so_error(s, fd, optval, optlen);
	case SO_PROTOCOL:
		return optval_put_int(IPPROTO_TLS, optval, optlen);
	case SO_DOMAIN:
		return optval_put_int(s->domain, optval, optlen);
	case SO_ACCEPTCONN:
	case SO_TYPE:
		/* A listening socket's descriptor is the accept queue; it
		 * answers for the listening TCP socket it stands for. */
		if (s->state == TLS_SOCKET_LISTENING)
			return optval_put_int(name == SO_ACCEPTCONN ? 1 : SOCK_STREAM, optval, optlen);
		return 1;
	default:
		return 1;
	}
}

SSA_EXPORT int getsockopt(int fd, int level, int name, void *optval, socklen_t *optlen)
{
	struct tls_socket *s = tls_socket_get(fd);
	int r;

	if (__builtin_expect(s == NULL, 1))
		return REAL(getsockopt)(fd, level, name, optval, optlen);
	pthread_mutex_lock(&s->lock);
	r = tls_getsockopt(s, fd, level, name, optval, optlen);
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	return r == 1 ? REAL(getsockopt)(fd, level, name, optval, optlen) : result(r);
}

SSA_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct tls_socket *s = tls_socket_get(fd);
	int r;

	if (__builtin_expect(s == NULL, 1))
		return REAL(getpeername)(fd, addr, len);
	pthread_mutex_lock(&s->lock);
	r = connect_peername(s, fd, addr, len);
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	return result(r);
}

SSA_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct tls_socket *s = tls_socket_get(fd);
	int r;

	if (__builtin_expect(s == NULL, 1))
		return REAL(getsockname)(fd, addr, len);
	pthread_mutex_lock(&s->lock);
	r = connect_sockname(s, fd, addr, len);
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	return r == 1 ? REAL(getsockname)(fd, addr, len) : result(r);
}

SSA_EXPORT int listen(int fd, int backlog)
{
	struct tls_socket *s = tls_socket_get(fd);
	int r;

	if (__builtin_expect(s == NULL, 1))
		return REAL(listen)(fd, backlog);
	pthread_mutex_lock(&s->lock);
	r = server_listen(fd, s, backlog);
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	return result(r);
}

SSA_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct tls_socket *s = tls_socket_get(fd);
	int r;

	if (__builtin_expect(s == NULL, 1))
		return REAL(accept4)(fd, addr, len, flags);
	r = server_accept(fd, s, addr, len, flags); /* locks for itself */
	tls_socket_put(s);
	return result(r);
}

SSA_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}

/*
 * getaddrinfo(3) for IPPROTO_TLS: the C library knows no such protocol and
 * fails with EAI_SOCKTYPE, so resolve as for TCP and label the results with
 * IPPROTO_TLS.  Event loops (Python's asyncio among them) resolve with the
 * socket's own type and protocol before connecting.
 */
SSA_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			   struct addrinfo **res)
{
	struct addrinfo tcp_hints;
	int r;

	if (__builtin_expect(!hints || hints->ai_protocol != IPPROTO_TLS, 1))
		return REAL(getaddrinfo)(node, service, hints, res);
	if (hints->ai_socktype != 0 && hints->ai_socktype != SOCK_STREAM)
		return EAI_SOCKTYPE;
	tcp_hints = *hints;
	tcp_hints.ai_socktype = SOCK_STREAM;
	tcp_hints.ai_protocol = IPPROTO_TCP;
	r = REAL(getaddrinfo)(node, service, &tcp_hints, res);
	if (r == 0)
		for (struct addrinfo *ai = *res; ai; ai = ai->ai_next)
			ai->ai_protocol = IPPROTO_TLS;
	return r;
}

SSA_EXPORT int close(int fd)
{
	tls_socket_forget(fd);
	return REAL(close)(fd);
}

SSA_EXPORT int dup2(int oldfd, int newfd)
{
	int r = REAL(dup2)(oldfd, newfd);

	if (r >= 0 && oldfd != newfd)
		tls_socket_forget(newfd);
	return r;
}

SSA_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	int r = REAL(dup3)(oldfd, newfd, flags);

	if (r >= 0)
		tls_socket_forget(newfd);
	return r;
}
