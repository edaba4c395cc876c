/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* hold.c: the application's socket held during an attempt (hold.h). */
#include "hold.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>

#include "libc.h"
#include "loopback.h"
#include "ssa-io.h"

/* Loopback answers in microseconds; this bounds a machine in trouble. */
#define HOLD_SETUP_MS 5000
/* The filler needed is the end's receive window plus one byte (about
 * 160 KiB with Linux's default buffers); beyond this, something is wrong. */
#define HOLD_FILLER_MAX (64u << 20)

/* Write filler into fd until some of it stays unsent behind the end's
 * closed window (SIOCOUTQNSD, tcp(7)); fd has TCP_NOTSENT_LOWAT 1.
 * 0 with *written, or -errno. */
static int fill(int fd, uint32_t *written, int64_t deadline)
{
	static const char zeros[65536];
	uint32_t total = 0;
	int unsent = 0, r;

	for (;;) {
		ssize_t n = send(fd, zeros, sizeof zeros, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			total += (uint32_t)n;
			if (total > HOLD_FILLER_MAX)
				return -ENOBUFS;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (ioctl(fd, SIOCOUTQNSD, &unsent) < 0)
			return -errno;
		if (unsent > 0)
			break;
		/* Out of send buffer with everything sent: wait for the
		 * acknowledgements, then write on. */
		if ((r = ssa_wait(fd, POLLOUT, deadline)) < 0)
			return r;
	}
	*written = total;
	return 0;
}

void hold_dissolve(int fd)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	int err;
	socklen_t n = sizeof err;

	REAL(connect)(fd, &unspec, sizeof unspec);
	REAL(getsockopt)(fd, SOL_SOCKET, SO_ERROR, &err, &n);
}

int hold_begin(int fd, struct hold *h)
{
	const struct loopback_calls calls = {
		.socket = REAL(socket), .connect = shim_libc.connect, .listen = shim_libc.listen,
		.accept4 = shim_libc.accept4, .getsockname = shim_libc.getsockname,
		.getpeername = shim_libc.getpeername, .getsockopt = shim_libc.getsockopt, .close = shim_libc.close,
	};
	int64_t deadline = ssa_now_ms() + HOLD_SETUP_MS;
	socklen_t len = sizeof h->lowat;
	int one = 1, r;

	*h = (struct hold){ .end = -1 };
	if (REAL(getsockopt)(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &h->lowat, &len) < 0)
		h->lowat = 0;
	r = loopback_connect(&calls, fd, deadline);
	if (r < 0) {
		hold_dissolve(fd);
		return r;
	}
	h->end = r;
	r = REAL(setsockopt)(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &one, sizeof one) < 0 ? -errno : 0;
	if (r == 0)
		r = fill(fd, &h->filler, deadline);
	if (r < 0)
		hold_abandon(fd, h);
	return r;
}

void hold_abandon(int fd, struct hold *h)
{
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };

	REAL(setsockopt)(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &h->lowat, sizeof h->lowat);
	hold_dissolve(fd);
	if (h->end >= 0) {
		REAL(setsockopt)(h->end, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
		REAL(close)(h->end);
		h->end = -1;
	}
}
