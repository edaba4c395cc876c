/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* relay.c: moving plaintext between the application and the TLS session (relay.h). */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"
#include "ssa-io.h"

#define RELAY_BUF 65536            /* four TLS records of plaintext */
#define DRAIN_TIMEOUT_MS 30000     /* wait for the app to take data before a reset */

/* Data read from one side, not yet all written to the other. */
struct pending {
	char buf[RELAY_BUF];
	size_t len, off;
};

static bool pending_empty(const struct pending *p)
{
	return p->off == p->len;
}

static void set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * Reset the application's connection, but only after the data already
 * written to it was received (SIOCOUTQ is 0), waiting at most
 * DRAIN_TIMEOUT_MS: a close with SO_LINGER 0 sends RST, which discards
 * anything not yet delivered.
 */
static void reset_app(int app_fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int64_t deadline = ssa_now_ms() + DRAIN_TIMEOUT_MS;
	int outq;

	while (ioctl(app_fd, SIOCOUTQ, &outq) == 0 && outq > 0 && ssa_now_ms() < deadline)
		poll(NULL, 0, 5);
	setsockopt(app_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

void relay_run(gnutls_session_t s, int net_fd, int app_fd, bool truncation_eof, unsigned linger_s,
	       unsigned stall_s, struct relay_result *res)
{
	int64_t stall_deadline = -1; /* while the peer takes none of our data */
	struct pending to_peer = { 0 }, to_app = { 0 };
	bool app_eof = false;      /* the application will send no more */
	bool bye_sent = false;     /* our close_notify is out */
	bool peer_eof = false;     /* the peer will send no more */
	bool truncated = false;    /* ... because TCP closed without close_notify */
	bool app_gone = false;     /* the application no longer reads */
	bool app_shut = false;     /* we passed the end of file on */
	bool app_fin = false;      /* its FIN arrived, maybe behind data not read yet */
	int64_t linger_deadline = -1; /* after the application's FIN */

	*res = (struct relay_result){ .end = "closed" };
	set_nonblocking(net_fd);
	set_nonblocking(app_fd);

	for (;;) {
		bool progress = false, want_net_read = false, want_net_write = false;
		bool want_app_read = false, want_app_write = false;
		ssize_t n;

		/* Peer -> application. */
		if (!peer_eof && pending_empty(&to_app)) {
			n = gnutls_record_recv(s, to_app.buf, sizeof to_app.buf);
			if (n > 0) {
				to_app.len = (size_t)n;
				to_app.off = 0;
				progress = true;
			} else if (n == 0) {
				peer_eof = true;
				progress = true;
			} else if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				want_net_read = gnutls_record_get_direction(s) == 0;
				want_net_write = !want_net_read;
			} else if (!gnutls_error_is_fatal((int)n)) {
				progress = true; /* a warning alert, or a post-handshake message */
			} else {
				peer_eof = truncated = true;
				res->end = n == GNUTLS_E_PREMATURE_TERMINATION ? "truncated: TCP closed without close_notify"
									: gnutls_strerror((int)n);
				progress = true;
			}
		}
		if (!pending_empty(&to_app)) {
			if (app_gone) {
				to_app.off = to_app.len; /* nobody will read it */
			} else {
				n = send(app_fd, to_app.buf + to_app.off, to_app.len - to_app.off, MSG_NOSIGNAL);
				if (n > 0) {
					to_app.off += (size_t)n;
					res->bytes_to_app += (uint64_t)n;
					progress = true;
					if (linger_deadline >= 0) /* the application still reads */
						linger_deadline = ssa_now_ms() + linger_s * 1000;
				} else if (errno == EAGAIN) {
					want_app_write = true;
				} else if (errno != EINTR) {
					app_gone = true;
					progress = true;
				}
			}
		}
		if (peer_eof && pending_empty(&to_app) && !app_shut) {
			app_shut = true;
			progress = true;
			if (truncated && !truncation_eof) {
				res->error = true;
				reset_app(app_fd);
				break; /* the caller's close() sends the RST */
			}
			shutdown(app_fd, SHUT_WR);
		}

		/* Application -> peer. */
		if (!app_eof && pending_empty(&to_peer)) {
			n = recv(app_fd, to_peer.buf, sizeof to_peer.buf, 0);
			if (n > 0) {
				to_peer.len = (size_t)n;
				to_peer.off = 0;
				progress = true;
			} else if (n == 0) {
				app_eof = app_fin = true;
				if (linger_deadline < 0)
					linger_deadline = ssa_now_ms() + linger_s * 1000;
				progress = true;
			} else if (errno == EAGAIN || errno == EINTR) {
				want_app_read = true;
			} else {
				/* An abortive close (RST): no close_notify, so the
				 * peer cannot take a cut-off request for a whole one. */
				res->end = "the application reset its connection; closed without close_notify";
				res->error = true;
				break;
			}
		}
		if (!pending_empty(&to_peer)) {
			n = gnutls_record_send(s, to_peer.buf + to_peer.off, to_peer.len - to_peer.off);
			if (n > 0) {
				to_peer.off += (size_t)n;
				res->bytes_to_peer += (uint64_t)n;
				progress = true;
				stall_deadline = -1;
				if (linger_deadline >= 0) /* the peer still reads */
					linger_deadline = ssa_now_ms() + linger_s * 1000;
			} else if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				want_net_write = true;
				if (stall_deadline < 0)
					stall_deadline = ssa_now_ms() + stall_s * 1000;
			} else {
				/* The peer is gone: the application's writes fail
				 * from now on, as on TCP (EPIPE). */
				res->end = "peer closed while the application was sending";
				res->error = true;
				reset_app(app_fd);
				break;
			}
		}
		if (app_eof && pending_empty(&to_peer) && !bye_sent) {
			int r = gnutls_bye(s, GNUTLS_SHUT_WR);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
				want_net_write = true;
			} else {
				bye_sent = true;
				shutdown(net_fd, SHUT_WR);
				progress = true;
			}
		}

		if (bye_sent && app_shut)
			break;
		if (progress || gnutls_record_check_pending(s) > 0)
			continue;

		short net_events = (short)((want_net_read ? POLLIN : 0) | (want_net_write ? POLLOUT : 0));
		short app_events = (short)((want_app_read ? POLLIN : 0) | (want_app_write ? POLLOUT : 0));
		/* Learn of the application's FIN even while its data waits for
		 * a peer that does not read: that starts the idle timeout. */
		if (!app_fin)
			app_events |= POLLRDHUP;
		/* A descriptor we wait nothing from stays out: poll(2) would
		 * report its POLLHUP or POLLERR at once, over and over. */
		struct pollfd fds[2] = {
			{ .fd = net_events ? net_fd : -1, .events = net_events },
			{ .fd = app_events ? app_fd : -1, .events = app_events },
		};
		int timeout = -1;
		if (linger_deadline >= 0 && !want_app_write) {
			/* The application is done sending; the peer has
			 * linger_s seconds, moving no byte either way, to
			 * finish. */
			int64_t left = linger_deadline - ssa_now_ms();
			if (left <= 0) {
				res->end = "gave up waiting for the peer's close_notify";
				res->error = true;
				if (!app_gone)
					reset_app(app_fd); /* never a clean end of file */
				break;
			}
			timeout = (int)left;
		}
		if (stall_deadline >= 0) {
			/* A peer that takes none of our data for stall_s
			 * seconds: the application may be long gone, its FIN
			 * stuck behind the data (no shim code can tell us). */
			int64_t left = stall_deadline - ssa_now_ms();
			if (left <= 0) {
				res->end = "the peer took no data for too long";
				res->error = true;
				reset_app(app_fd);
				break;
			}
			if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
			res->end = "poll failed";
			res->error = true;
			break;
		}
		if (!app_fin && (fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			app_fin = true;
			if (linger_deadline < 0)
				linger_deadline = ssa_now_ms() + linger_s * 1000;
		}
	}
	if (!res->error && truncated)
		res->end = "truncated: delivered as end of file (truncation = eof)";
	else if (!res->error)
		res->end = "close_notify both ways";
	/* A clean end: the caller's close() ends the application's
	 * connection with FIN, not the reset armed for the helper's death. */
	if (!res->error)
		loopback_arm_reset(app_fd, false);
}
