/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* hold.c: the helper's half of the hold (hold.h). */
#include "hold.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app-socket.h"
#include "loopback.h"
#include "ssa-io.h"

int hold_take(int app, int end)
{
	if (!app_socket_is_tcp(app, 0) || !app_socket_is_tcp(end, 0) || !loopback_are_ends(&app_socket_libc, app, end))
		return -EPROTO;
	loopback_arm_reset(end, true);
	return 0;
}

int hold_release(int app, int end, uint32_t filler, int lowat, int64_t deadline_ms)
{
	static char sink[65536];

	/* MSG_TRUNC: TCP discards the bytes instead of copying them into
	 * sink (tcp(7)), which is never written, so never faulted in. */
	while (filler > 0) {
		ssize_t n = recv(end, sink, filler < sizeof sink ? filler : sizeof sink, MSG_DONTWAIT | MSG_TRUNC);
		if (n > 0) {
			filler -= (uint32_t)n;
		} else if (n == 0) {
			return -ECONNRESET; /* the application closed its socket */
		} else if (errno == EAGAIN) {
			int r = ssa_wait(end, POLLIN, deadline_ms);
			if (r < 0)
				return r;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	/* Acknowledge the last filler now: with its acknowledgement delayed
	 * (up to 40 ms), Nagle's algorithm would hold the application's first
	 * small write back (tcp(7), TCP_QUICKACK, TCP_NODELAY). */
	setsockopt(end, IPPROTO_TCP, TCP_QUICKACK, &(int){ 1 }, sizeof(int));
	if (setsockopt(app, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat) < 0)
		return -errno;
	return 0;
}

void hold_reset(int end)
{
	loopback_arm_reset(end, true);
	close(end);
}
