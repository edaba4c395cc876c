/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* loopback.c: a TCP connection over loopback (loopback.h). */
#include "loopback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>

#include "ssa-io.h"

bool ssa_same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_storage *in[2] = { a, b };
	uint8_t addr[2][16];
	in_port_t port[2];

	for (int i = 0; i < 2; i++) {
		if (in[i]->ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)in[i];
			memset(addr[i], 0, 10);
			addr[i][10] = addr[i][11] = 0xff;
			memcpy(addr[i] + 12, &s4->sin_addr, 4);
			port[i] = s4->sin_port;
		} else if (in[i]->ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)in[i];
			memcpy(addr[i], &s6->sin6_addr, 16);
			port[i] = s6->sin6_port;
		} else {
			return false;
		}
	}
	return port[0] == port[1] && memcmp(addr[0], addr[1], 16) == 0;
}

/* A loopback listener that `fd` (of `domain`) can reach, with the address
 * to connect to in *addr, *len: fd (FD_CLOEXEC, non-blocking) or -errno. */
static int listener_for(const struct loopback_calls *calls, int fd, int domain, struct sockaddr_storage *addr,
			socklen_t *len)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int v6only = 0, l, r;
	socklen_t optlen = sizeof v6only;
	bool ipv6 = domain == AF_INET6 &&
		    calls->getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &optlen) == 0 && v6only;

	l = calls->socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l < 0)
		return -errno;
	*len = ipv6 ? sizeof in6 : sizeof in;
	if (bind(l, ipv6 ? (struct sockaddr *)&in6 : (struct sockaddr *)&in, *len) < 0 || calls->listen(l, 1) < 0 ||
	    calls->getsockname(l, (struct sockaddr *)addr, len) < 0) {
		r = -errno;
		calls->close(l);
		return r;
	}
	if (domain == AF_INET6 && !ipv6) {
		struct sockaddr_in v4 = *(struct sockaddr_in *)addr;
		struct sockaddr_in6 *mapped = (struct sockaddr_in6 *)addr;
		memset(mapped, 0, sizeof *mapped);
		mapped->sin6_family = AF_INET6;
		mapped->sin6_port = v4.sin_port;
		mapped->sin6_addr.s6_addr[10] = mapped->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&mapped->sin6_addr.s6_addr[12], &v4.sin_addr, 4);
		*len = sizeof *mapped;
	}
	return l;
}

/* Connect fd to the listener at addr and accept the connection from fd. */
static int connect_and_accept(const struct loopback_calls *calls, int fd, int listener,
			      const struct sockaddr_storage *addr, socklen_t len, int64_t deadline)
{
	struct sockaddr_storage ours, theirs;
	socklen_t n;
	int err = 0, r, end;

	r = calls->connect(fd, (const struct sockaddr *)addr, len);
	if (r < 0 && errno != EINPROGRESS && errno != EINTR)
		return -errno;
	if (r < 0) {
		/* A non-blocking socket, or a signal: the connection goes on. */
		if ((r = ssa_wait(fd, POLLOUT, deadline)) < 0)
			return r;
		n = sizeof err;
		if (calls->getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n) < 0)
			return -errno;
		if (err)
			return -err;
	}
	n = sizeof ours;
	if (calls->getsockname(fd, (struct sockaddr *)&ours, &n) < 0)
		return -errno;
	for (int tries = 0; tries < 16; tries++) {
		if ((r = ssa_wait(listener, POLLIN, deadline)) < 0)
			return r;
		n = sizeof theirs;
		end = calls->accept4(listener, (struct sockaddr *)&theirs, &n, SOCK_CLOEXEC);
		if (end < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				continue;
			return -errno;
		}
		if (ssa_same_endpoint(&ours, &theirs))
			return end;
		calls->close(end);
	}
	return -EADDRINUSE;
}

int loopback_connect(const struct loopback_calls *calls, int fd, int64_t deadline_ms)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof addr;
	int domain = AF_INET, listener, end;

	if (calls->getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return -errno;
	len = sizeof addr;
	listener = listener_for(calls, fd, domain, &addr, &len);
	if (listener < 0)
		return listener;
	end = connect_and_accept(calls, fd, listener, &addr, len, deadline_ms);
	calls->close(listener);
	return end;
}

bool loopback_are_ends(const struct loopback_calls *calls, int a, int b)
{
	struct sockaddr_storage a_local, a_peer, b_local, b_peer;
	socklen_t n[4] = { sizeof a_local, sizeof a_peer, sizeof b_local, sizeof b_peer };

	return calls->getsockname(a, (struct sockaddr *)&a_local, &n[0]) == 0 &&
	       calls->getpeername(a, (struct sockaddr *)&a_peer, &n[1]) == 0 &&
	       calls->getsockname(b, (struct sockaddr *)&b_local, &n[2]) == 0 &&
	       calls->getpeername(b, (struct sockaddr *)&b_peer, &n[3]) == 0 &&
	       ssa_same_endpoint(&a_local, &b_peer) && ssa_same_endpoint(&a_peer, &b_local);
}

void loopback_arm_reset(int fd, bool on)
{
	struct linger lg = { .l_onoff = on, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}
