/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* peer-connect.c: the TCP connection to the peer (peer-connect.h). */
#include "peer-connect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ssa-io.h"

void sockaddr_format(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, size, "(family %d)", sa->sa_family);
	}
}

/* One attempt, ending by `deadline_ms`: a connected blocking socket or -errno. */
static int connect_one(const struct sockaddr *addr, socklen_t len, int64_t deadline_ms)
{
	struct pollfd p = { .events = POLLOUT };
	socklen_t elen = sizeof(int);
	int fd, err = 0, r, one = 1;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	/* Handshake records are small and latency-bound. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, addr, len) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto fail;
		}
		p.fd = fd;
		for (;;) {
			int64_t left = deadline_ms - ssa_now_ms();
			if (left <= 0) {
				err = ETIMEDOUT;
				goto fail;
			}
			r = poll(&p, 1, (int)left);
			if (r > 0)
				break;
			if (r < 0 && errno != EINTR) {
				err = errno;
				goto fail;
			}
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		if (err)
			goto fail;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		err = errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -err;
}

int peer_connect(const char *name, uint16_t port, const struct sockaddr *addr, socklen_t addr_len,
		 unsigned timeout_ms, struct sockaddr_storage *peer, socklen_t *peer_len, char *why,
		 size_t why_size)
{
	int64_t deadline = ssa_now_ms() + timeout_ms;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP };
	struct addrinfo *res = NULL, *ai;
	char service[8], where[80];
	int fd = -EHOSTUNREACH, r;

	if (!name) {
		fd = connect_one(addr, addr_len, deadline);
		if (fd >= 0) {
			memcpy(peer, addr, addr_len);
			*peer_len = addr_len;
		} else {
			sockaddr_format(addr, where, sizeof where);
			snprintf(why, why_size, "TCP connection to %s failed: %s", where, strerror(-fd));
		}
		return fd;
	}
	snprintf(service, sizeof service, "%u", port);
	r = getaddrinfo(name, service, &hints, &res);
	if (r != 0) {
		snprintf(why, why_size, "cannot resolve %s: %s", name,
			 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai->ai_addr, ai->ai_addrlen, deadline);
		if (fd >= 0) {
			memcpy(peer, ai->ai_addr, ai->ai_addrlen);
			*peer_len = ai->ai_addrlen;
			break;
		}
		sockaddr_format(ai->ai_addr, where, sizeof where);
		snprintf(why, why_size, "TCP connection to %s (%s) failed: %s", name, where, strerror(-fd));
		if (fd == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return fd;
}
