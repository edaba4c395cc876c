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
/* Filler beyond what the end's receive buffer can take. */
#define HOLD_MARGIN (64u << 10)
/* Beyond this, something is wrong. */
#define HOLD_FILLER_MAX (64u << 20)

/*
 * Write filler into fd until more than the end can ever take stays unsent.
 * The end, never read, takes at most its receive buffer (SO_RCVBUF,
 * socket(7)), and its window may still open by some kilobytes after the
 * first zero window; so write that plus HOLD_MARGIN.  Every write ends a
 * record (MSG_EOR): no later write of the application can be appended to
 * a filler segment, so it needs new send buffer and waits, as poll(2)
 * says, for TCP_NOTSENT_LOWAT.  0 with *written, or -errno.
 */
static int fill(int fd, int end, uint32_t *written, int64_t deadline)
{
	static const char zeros[65536];
	uint32_t total = 0, target;
	int rcvbuf = 0, unsent = 0, r;
	socklen_t len = sizeof rcvbuf;

	if (REAL(getsockopt)(end, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) < 0)
		return -errno;
	target = rcvbuf > 0 && (uint32_t)rcvbuf < HOLD_FILLER_MAX ? (uint32_t)rcvbuf + HOLD_MARGIN : HOLD_FILLER_MAX;
	while (total < target) {
		size_t chunk = target - total < sizeof zeros ? target - total : sizeof zeros;
		ssize_t n = send(fd, zeros, chunk, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_EOR);
		if (n > 0) {
			total += (uint32_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (ioctl(fd, SIOCOUTQNSD, &unsent) < 0)
			return -errno;
		if (unsent > 0)
			break; /* a small SO_SNDBUF: as much unsent as it holds */
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
	r = fill(fd, h->end, &h->filler, deadline);
	if (r == 0 && REAL(setsockopt)(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &one, sizeof one) < 0)
		r = -errno;
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
