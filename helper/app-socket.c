/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* app-socket.c: the application's end of a connection (app-socket.h). */
#include "config.h"
#include "app-socket.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ssa-io.h"

static int sockopt_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof v;

	return getsockopt(fd, level, name, &v, &len) == 0 ? v : -1;
}

int app_socket_check(int app, int listener)
{
	int fds[2] = { app, listener };

	for (int i = 0; i < 2; i++) {
		int domain = sockopt_int(fds[i], SOL_SOCKET, SO_DOMAIN);
		if ((domain != AF_INET && domain != AF_INET6) ||
		    sockopt_int(fds[i], SOL_SOCKET, SO_PROTOCOL) != IPPROTO_TCP ||
		    sockopt_int(fds[i], SOL_SOCKET, SO_ACCEPTCONN) != 1)
			return -EPROTO;
	}
	return 0;
}

/* A TCP socket of AF_INET or AF_INET6, listening or not as `listening`. */
static bool is_tcp(int fd, int listening)
{
	int domain = sockopt_int(fd, SOL_SOCKET, SO_DOMAIN);

	return (domain == AF_INET || domain == AF_INET6) && sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP &&
	       sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN) == listening;
}

int app_socket_check_listening(int tcp, int queue)
{
	if (!is_tcp(tcp, 1) || sockopt_int(queue, SOL_SOCKET, SO_DOMAIN) != AF_UNIX ||
	    sockopt_int(queue, SOL_SOCKET, SO_TYPE) != SOCK_SEQPACKET)
		return -EPROTO;
	return 0;
}

int app_socket_check_accepted(int tcp)
{
	/* Not more: a client that already reset fails at the handshake,
	 * which says so. */
	return is_tcp(tcp, 0) ? 0 : -EPROTO;
}

void app_socket_release(int app)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };

	connect(app, &unspec, sizeof unspec);
}

/* The same address and port, allowing for an IPv4-mapped IPv6 form. */
static bool same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	struct sockaddr_in va, vb;
	const struct sockaddr_storage *in[2] = { a, b };
	struct sockaddr_in *out[2] = { &va, &vb };

	for (int i = 0; i < 2; i++) {
		if (in[i]->ss_family == AF_INET) {
			*out[i] = *(const struct sockaddr_in *)in[i];
		} else if (in[i]->ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)in[i];
			if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
				return false;
			out[i]->sin_port = s6->sin6_port;
			memcpy(&out[i]->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		} else {
			return false;
		}
	}
	return va.sin_port == vb.sin_port && va.sin_addr.s_addr == vb.sin_addr.s_addr;
}

/* Wait for `events` on fd until the deadline: 0 or -ETIMEDOUT/-errno. */
static int wait_until(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - ssa_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int app_socket_attach(int app, int listener, int timeout_ms)
{
	int64_t deadline = ssa_now_ms() + timeout_ms;
	struct sockaddr_storage target, ours, theirs;
	socklen_t len = sizeof target;
	int r, b;

	if (getsockname(listener, (struct sockaddr *)&target, &len) < 0)
		return -errno;
	if (sockopt_int(app, SOL_SOCKET, SO_DOMAIN) == AF_INET6 && target.ss_family == AF_INET) {
		/* An IPv6 socket reaches the IPv4 listener at its mapped address. */
		struct sockaddr_in v4 = *(struct sockaddr_in *)&target;
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&target;
		memset(v6, 0, sizeof *v6);
		v6->sin6_family = AF_INET6;
		v6->sin6_port = v4.sin_port;
		v6->sin6_addr.s6_addr[10] = v6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&v6->sin6_addr.s6_addr[12], &v4.sin_addr, 4);
		len = sizeof *v6;
	}
	app_socket_release(app); /* LISTEN -> CLOSE: connect() needs it */
	r = connect(app, (struct sockaddr *)&target, len);
	if (r < 0 && errno != EINPROGRESS)
		return -errno;
	len = sizeof ours;
	if (getsockname(app, (struct sockaddr *)&ours, &len) < 0)
		return -errno;
	/* Only the connection from the application's socket is ours: another
	 * local process could have reached the listener first. */
	for (int tries = 0; tries < 16; tries++) {
		r = wait_until(listener, POLLIN, deadline);
		if (r < 0)
			return r;
		len = sizeof theirs;
		b = accept4(listener, (struct sockaddr *)&theirs, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (b < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				continue;
			return -errno;
		}
		if (same_endpoint(&ours, &theirs))
			return b;
		close(b);
	}
	return -EADDRINUSE;
}

int app_socket_pair(int domain, int *app, int timeout_ms)
{
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int a = -1, b = -ENOMEM;

	if (listener < 0)
		return -errno;
	if (bind(listener, (struct sockaddr *)&lo, sizeof lo) < 0 || listen(listener, 4) < 0) {
		b = -errno;
		goto out;
	}
	a = socket(domain == AF_INET6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (a < 0) {
		b = -errno;
		goto out;
	}
	b = app_socket_attach(a, listener, timeout_ms);
	if (b < 0) {
		close(a);
		goto out;
	}
	/* The helper's end is non-blocking, as the relay wants it. */
	*app = a;
out:
	close(listener);
	return b;
}
