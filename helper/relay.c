/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* relay.c: moving plaintext between the application and the TLS session (relay.h). */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"
#include "ssa-io.h"

#define RELAY_BUF 65536            /* four TLS records of plaintext */
#define DRAIN_TIMEOUT_MS 30000     /* wait for the app to take data before a reset */

/* What a read, write or finish of one side says besides a byte count. */
enum {
	RELAY_AGAIN = -1,     /* nothing now: wait for the side's descriptor */
	RELAY_BROKEN = -2,    /* the side is gone (r->res->end says how) */
	RELAY_SKIP = -3,      /* read: nothing for us, but something happened */
	RELAY_STOP = -4,      /* the relay ends now (r->res->end and error set) */
};

struct relay;

/* One direction: plaintext from a source to a sink. */
struct flow {
	ssize_t (*read)(struct relay *r, char *buf, size_t len);
	ssize_t (*write)(struct relay *r, const char *buf, size_t len);
	int (*finish)(struct relay *r);   /* pass the end of file on: 0, RELAY_AGAIN or RELAY_STOP */
	uint64_t *bytes;
	char *buf;                        /* RELAY_BUF bytes, not zeroed (relay_run()) */
	size_t len, off;                  /* read, not yet all written */
	bool eof;                         /* the source will send no more */
	bool finished;                    /* the sink has the end of file */
};

struct relay {
	gnutls_session_t s;
	int net_fd, app_fd;
	bool truncation_eof;
	unsigned linger_s, stall_s;
	struct relay_result *res;
	struct flow to_app, to_peer;
	bool truncated;                   /* the peer closed TCP without close_notify */
	bool app_gone;                    /* the application no longer reads */
	bool app_fin;                     /* its FIN arrived, maybe behind data not read yet */
	bool stop;
	short net_events, app_events;     /* what the last calls wait for */
	int64_t linger_deadline;          /* after the application's FIN, or -1 */
	int64_t stall_deadline;           /* while the peer takes none of our data, or -1 */
};

static void set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * Reset the application's connection, but only after the data already
 * written to it left our send queue (tcp(7): SIOCOUTQNSD is 0; what the
 * application's end has received survives the reset), waiting at most
 * DRAIN_TIMEOUT_MS for it to read: a close with SO_LINGER 0 sends RST,
 * which discards anything not yet sent.  The wait sleeps on POLLOUT with
 * TCP_NOTSENT_LOWAT 1, which reports writable only once nothing is left
 * unsent; an application end that is gone (POLLERR, POLLHUP) ends it.
 */
static void reset_app(int app_fd)
{
	int64_t deadline = ssa_now_ms() + DRAIN_TIMEOUT_MS;
	int unsent;

	setsockopt(app_fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &(int){ 1 }, sizeof(int));
	while (ioctl(app_fd, SIOCOUTQNSD, &unsent) == 0 && unsent > 0) {
		struct pollfd p = { .fd = app_fd, .events = POLLOUT };
		int64_t left = deadline - ssa_now_ms();
		int n = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (n == 0 || (n > 0 && (p.revents & (POLLERR | POLLHUP))))
			break;
	}
	loopback_arm_reset(app_fd, true);
}

/* End the relay with an error, resetting the application's connection
 * (never a clean end of file) unless it is gone. */
static int stop(struct relay *r, const char *why, bool reset)
{
	r->res->end = why;
	r->res->error = true;
	r->stop = true;
	if (reset)
		reset_app(r->app_fd);
	return RELAY_STOP;
}

/* The application still moves data: the idle timeout starts again. */
static void app_moved(struct relay *r)
{
	if (r->linger_deadline >= 0)
		r->linger_deadline = ssa_now_ms() + r->linger_s * 1000;
}

/* GnuTLS wants the network socket readable or writable. */
static void want_net(struct relay *r)
{
	r->net_events |= gnutls_record_get_direction(r->s) ? POLLOUT : POLLIN;
}

/* --- the peer's side: the TLS session --------------------------------------- */

static ssize_t peer_read(struct relay *r, char *buf, size_t len)
{
	ssize_t n = gnutls_record_recv(r->s, buf, len);

	if (n >= 0)
		return n; /* 0: close_notify */
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
		want_net(r);
		return RELAY_AGAIN;
	}
	if (!gnutls_error_is_fatal((int)n))
		return RELAY_SKIP; /* a warning alert, or a post-handshake message */
	r->truncated = true;
	r->res->end = n == GNUTLS_E_PREMATURE_TERMINATION ? "truncated: TCP closed without close_notify"
							   : gnutls_strerror((int)n);
	return RELAY_BROKEN;
}

static ssize_t peer_write(struct relay *r, const char *buf, size_t len)
{
	ssize_t n = gnutls_record_send(r->s, buf, len);

	if (n > 0) {
		r->stall_deadline = -1;
		app_moved(r); /* the peer still reads */
		return n;
	}
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
		r->net_events |= POLLOUT;
		if (r->stall_deadline < 0)
			r->stall_deadline = ssa_now_ms() + r->stall_s * 1000;
		return RELAY_AGAIN;
	}
	/* The peer is gone: the application's writes fail from now on, as
	 * on TCP (EPIPE). */
	return stop(r, "peer closed while the application was sending", true);
}

/* The application's end of file: close_notify after all its data
 * (RFC 8446 §6.1). */
static int peer_finish(struct relay *r)
{
	int e = gnutls_bye(r->s, GNUTLS_SHUT_WR);

	if (e == GNUTLS_E_AGAIN || e == GNUTLS_E_INTERRUPTED) {
		r->net_events |= POLLOUT;
		return RELAY_AGAIN;
	}
	shutdown(r->net_fd, SHUT_WR);
	return 0;
}

/* --- the application's side: the loopback socket ---------------------------- */

static ssize_t app_read(struct relay *r, char *buf, size_t len)
{
	ssize_t n = recv(r->app_fd, buf, len, 0);

	if (n >= 0) {
		if (n == 0) {
			r->app_fin = true;
			if (r->linger_deadline < 0)
				r->linger_deadline = ssa_now_ms() + r->linger_s * 1000;
		}
		return n;
	}
	if (errno == EAGAIN || errno == EINTR) {
		r->app_events |= POLLIN;
		return RELAY_AGAIN;
	}
	/* An abortive close (RST): no close_notify, so the peer cannot take
	 * a cut-off request for a whole one. */
	return stop(r, "the application reset its connection; closed without close_notify", false);
}

static ssize_t app_write(struct relay *r, const char *buf, size_t len)
{
	ssize_t n;

	if (r->app_gone)
		return (ssize_t)len; /* nobody will read it */
	n = send(r->app_fd, buf, len, MSG_NOSIGNAL);
	if (n > 0) {
		app_moved(r);
		return n;
	}
	if (errno == EAGAIN || errno == EINTR) {
		r->app_events |= POLLOUT;
		return RELAY_AGAIN;
	}
	r->app_gone = true;
	return (ssize_t)len;
}

/* The peer's end of file: the application's too, unless it was a
 * truncation the policy does not read as one. */
static int app_finish(struct relay *r)
{
	if (r->truncated && !r->truncation_eof)
		return stop(r, r->res->end, true); /* the caller's close() sends the RST */
	shutdown(r->app_fd, SHUT_WR);
	return 0;
}

/* --- the relay -------------------------------------------------------------- */

/* Move what can be moved now in one direction: true if anything moved. */
static bool pump(struct relay *r, struct flow *f)
{
	bool progress = false;
	ssize_t n;

	if (!f->eof && f->off == f->len) {
		n = f->read(r, f->buf, RELAY_BUF);
		if (n > 0) {
			f->len = (size_t)n;
			f->off = 0;
			progress = true;
		} else if (n == 0 || n == RELAY_BROKEN) {
			f->eof = progress = true;
		} else if (n == RELAY_SKIP || n == RELAY_STOP) {
			progress = true;
		}
	}
	if (!r->stop && f->off < f->len) {
		n = f->write(r, f->buf + f->off, f->len - f->off);
		if (n > 0) {
			f->off += (size_t)n;
			if (!(f == &r->to_app && r->app_gone))
				*f->bytes += (uint64_t)n;
			progress = true;
		}
	}
	if (!r->stop && f->eof && f->off == f->len && !f->finished && f->finish(r) != RELAY_AGAIN)
		f->finished = progress = true;
	return progress || r->stop;
}

/*
 * Sleep until one side can move, or a deadline: false if the relay ends
 * (a deadline passed, or poll failed).
 */
static bool wait_sides(struct relay *r)
{
	int64_t now = ssa_now_ms();
	int timeout = -1;
	short app_events = r->app_events;

	/* Learn of the application's FIN even while its data waits for a peer
	 * that does not read: that starts the idle timeout. */
	if (!r->app_fin)
		app_events |= POLLRDHUP;
	if (r->linger_deadline >= 0 && !(r->app_events & POLLOUT)) {
		/* The application is done sending; the peer has linger_s
		 * seconds, moving no byte either way, to finish. */
		if (r->linger_deadline <= now) {
			stop(r, "gave up waiting for the peer's close_notify", !r->app_gone);
			return false;
		}
		timeout = (int)(r->linger_deadline - now);
	}
	if (r->stall_deadline >= 0) {
		/* A peer that takes none of our data: the application may be
		 * long gone, its FIN stuck behind the data. */
		if (r->stall_deadline <= now) {
			stop(r, "the peer took no data for too long", true);
			return false;
		}
		if (timeout < 0 || r->stall_deadline - now < timeout)
			timeout = (int)(r->stall_deadline - now);
	}
	/* A descriptor we wait nothing from stays out: poll(2) would report
	 * its POLLHUP or POLLERR at once, over and over. */
	struct pollfd fds[2] = {
		{ .fd = r->net_events ? r->net_fd : -1, .events = r->net_events },
		{ .fd = app_events ? r->app_fd : -1, .events = app_events },
	};
	if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
		stop(r, "poll failed", true);
		return false;
	}
	if (!r->app_fin && (fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
		r->app_fin = true;
		if (r->linger_deadline < 0)
			r->linger_deadline = ssa_now_ms() + r->linger_s * 1000;
	}
	return true;
}

void relay_run(gnutls_session_t s, int net_fd, int app_fd, bool truncation_eof, struct relay_result *res)
{
	/* Never zeroed: a forked helper touches, and so faults in, only the
	 * pages its data fills (zeroing both was 32 page faults per
	 * connection before the first byte passed). */
	static char to_app_buf[RELAY_BUF], to_peer_buf[RELAY_BUF];
	struct relay r = {
		.s = s, .net_fd = net_fd, .app_fd = app_fd, .truncation_eof = truncation_eof,
		.linger_s = RELAY_CLOSE_NOTIFY_IDLE_S, .stall_s = RELAY_PEER_STALL_S, .res = res,
		.linger_deadline = -1, .stall_deadline = -1,
		.to_app = { .read = peer_read, .write = app_write, .finish = app_finish,
			    .bytes = &res->bytes_to_app, .buf = to_app_buf },
		.to_peer = { .read = app_read, .write = peer_write, .finish = peer_finish,
			     .bytes = &res->bytes_to_peer, .buf = to_peer_buf },
	};
	*res = (struct relay_result){ .end = "closed" };
	set_nonblocking(net_fd);
	set_nonblocking(app_fd);

	while (!r.stop && !(r.to_app.finished && r.to_peer.finished)) {
		bool progress;

		r.net_events = r.app_events = 0;
		progress = pump(&r, &r.to_app);
		if (!r.stop)
			progress |= pump(&r, &r.to_peer);
		if (r.stop || progress || gnutls_record_check_pending(s) > 0)
			continue;
		if (!wait_sides(&r))
			break;
	}
	if (!res->error && r.truncated)
		res->end = "truncated: delivered as end of file (truncation = eof)";
	else if (!res->error)
		res->end = "close_notify both ways";
	/* A clean end: the caller's close() ends the application's
	 * connection with FIN, not the reset armed for the helper's death. */
	if (!res->error)
		loopback_arm_reset(app_fd, false);
}
