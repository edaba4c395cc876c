/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* listener.c: the helper behind a listening IPPROTO_TLS socket (listener.h). */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "helper-channel.h"
#include "ssa-io.h"
#include "ssa-wire.h"

/* How long a client's helper may take from the TCP connection to its
 * verdict: beyond its own handshake timeout (policy, at most a few
 * minutes), it is presumed lost. */
#define HANDSHAKE_VERDICT_MS (5 * 60 * 1000)
/* How long to read a verdict once it has started to arrive. */
#define VERDICT_READ_MS 2000
/* After accept(2) failed for want of descriptors or memory: pause. */
#define ACCEPT_BACKOFF_MS 100

/* A client whose helper is doing the handshake. */
struct handshake {
	int ctl;            /* control connection to that helper */
	int64_t deadline;   /* ssa_now_ms() by which its verdict is due */
};

/* A plaintext connection ready for the application, waiting for room in
 * the accept queue. */
struct ready {
	uint8_t *msg;       /* SSA_MSG_RESULT, header and body */
	size_t len;
	int fd;             /* the application's end, or -1: none held */
};

struct listener {
	int listen_fd, queue_fd;
	const uint8_t *request;
	size_t request_len;
	const int *files;
	size_t n_files;
	struct handshake hs[LISTENER_HANDSHAKES_MAX];
	size_t n_hs;
	struct ready held;
	int64_t accept_pause_until;
	struct listener_stats *stats;
};

/*
 * Hand one client to a fresh helper: the SSA_MSG_ACCEPT request, then the
 * client's socket and the files.  Takes `client` (closes our copy).
 */
static void dispatch(struct listener *l, int client)
{
	int fds[SSA_FDS_MAX];
	char why[256];
	int ctl, r;

	ctl = helper_channel_open(why, sizeof why);
	if (ctl < 0) {
		sd_journal_send("MESSAGE=TLS listener: a client was dropped: %s", why, "PRIORITY=%d", LOG_WARNING,
				"SYSLOG_IDENTIFIER=ssa-helper", NULL);
		l->stats->lost++;
		close(client);
		return;
	}
	fds[0] = client;
	memcpy(fds + 1, l->files, l->n_files * sizeof *fds);
	r = ssa_send_all(ctl, l->request, l->request_len, ssa_now_ms() + VERDICT_READ_MS);
	if (r == 0)
		r = ssa_send_fds(ctl, fds, 1 + l->n_files);
	close(client);
	if (r < 0) {
		l->stats->lost++;
		close(ctl);
		return;
	}
	l->hs[l->n_hs++] = (struct handshake){ .ctl = ctl, .deadline = ssa_now_ms() + HANDSHAKE_VERDICT_MS };
}

/* Take every client the kernel has queued, up to the handshake limit. */
static void accept_clients(struct listener *l)
{
	while (l->n_hs < LISTENER_HANDSHAKES_MAX) {
		int client = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (client >= 0) {
			dispatch(l, client);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			l->accept_pause_until = ssa_now_ms() + ACCEPT_BACKOFF_MS;
		return;
	}
}

/* Put a ready connection in the accept queue: one SOCK_SEQPACKET message
 * with the descriptor.  0, -EAGAIN (no room yet) or -errno. */
static int enqueue(int queue_fd, const uint8_t *msg, size_t len, int fd)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control = { 0 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof control.buf };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	while (sendmsg(queue_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

/* Forward the held connection if the queue has room now. */
static void flush_held(struct listener *l)
{
	int r = enqueue(l->queue_fd, l->held.msg, l->held.len, l->held.fd);

	if (r == -EAGAIN)
		return;
	if (r == 0)
		l->stats->accepted++;
	close(l->held.fd);
	free(l->held.msg);
	l->held = (struct ready){ .fd = -1 };
}

/* The errno a verdict carries, or -1 if it has none. */
static int verdict_errno(const uint8_t *body, size_t len)
{
	struct ssa_field_iter it;
	struct ssa_field f;
	uint32_t e;

	ssa_field_iter_init(&it, body, len);
	while (ssa_field_next(&it, &f) > 0)
		if (f.tag == SSA_TAG_ERRNO && ssa_field_u32(&f, &e) == 0)
			return (int)e;
	return -1;
}

/* Read the verdict of handshake i and forward a success to the
 * application; the handshake is over either way. */
static void collect(struct listener *l, size_t i)
{
	int64_t deadline = ssa_now_ms() + VERDICT_READ_MS;
	int ctl = l->hs[i].ctl, fd = -1;
	uint8_t *msg = NULL;
	long body_len = -EPROTO;
	int r;

	l->hs[i] = l->hs[--l->n_hs];
	msg = malloc(SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX);
	r = msg ? ssa_recv_exact(ctl, msg, SSA_WIRE_HEADER_SIZE, deadline) : -ENOMEM;
	if (r == 0 && (body_len = ssa_wire_check_header(msg, SSA_MSG_RESULT)) < 0)
		r = (int)body_len;
	if (r == 0)
		r = ssa_recv_exact(ctl, msg + SSA_WIRE_HEADER_SIZE, (size_t)body_len, deadline);
	if (r == 0 && verdict_errno(msg + SSA_WIRE_HEADER_SIZE, (size_t)body_len) == 0)
		r = ssa_recv_fds(ctl, &fd, 1, deadline);
	else
		r = -1;
	close(ctl);
	if (r < 0) {
		/* Refused (the client's helper logged why), or lost. */
		l->stats->refused++;
		free(msg);
		return;
	}
	l->held = (struct ready){ .msg = msg, .len = SSA_WIRE_HEADER_SIZE + (size_t)body_len, .fd = fd };
	flush_held(l);
}

void listener_run(int listen_fd, int queue_fd, const uint8_t *request, size_t request_len, const int *files,
		  size_t n_files, struct listener_stats *stats)
{
	struct listener l = { .listen_fd = listen_fd, .queue_fd = queue_fd, .request = request,
			      .request_len = request_len, .files = files, .n_files = n_files,
			      .held = { .fd = -1 }, .stats = stats };
	struct pollfd p[2 + LISTENER_HANDSHAKES_MAX];
	int sndbuf = 2 * (SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX);

	*stats = (struct listener_stats){ 0 };
	/* Room for the largest message (a client's whole chain). */
	setsockopt(queue_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		int64_t now = ssa_now_ms(), wake = -1;
		bool holding = l.held.fd >= 0;
		bool may_accept = l.n_hs < LISTENER_HANDSHAKES_MAX && now >= l.accept_pause_until;

		/* POLLHUP on the queue, reported whatever the events: the
		 * application closed its listening socket. */
		p[0] = (struct pollfd){ .fd = queue_fd, .events = holding ? POLLOUT : 0 };
		p[1] = (struct pollfd){ .fd = may_accept ? listen_fd : -1, .events = POLLIN };
		for (size_t i = 0; i < l.n_hs; i++) {
			/* While a connection waits for room, leave the others'
			 * verdicts in their sockets. */
			p[2 + i] = (struct pollfd){ .fd = holding ? -1 : l.hs[i].ctl, .events = POLLIN };
			if (wake < 0 || l.hs[i].deadline < wake)
				wake = l.hs[i].deadline;
		}
		if (!may_accept && l.n_hs < LISTENER_HANDSHAKES_MAX && (wake < 0 || l.accept_pause_until < wake))
			wake = l.accept_pause_until;
		int timeout = wake < 0 ? -1 : wake > now ? (int)(wake - now) : 0;
		if (poll(p, 2 + l.n_hs, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents & (POLLHUP | POLLERR))
			break;
		if (holding && (p[0].revents & POLLOUT))
			flush_held(&l);
		now = ssa_now_ms();
		/* Verdicts first, from the last slot down: collect() moves the
		 * last handshake into the slot it frees. */
		for (size_t i = l.n_hs; i-- > 0;) {
			if (l.held.fd >= 0)
				break;
			if (p[2 + i].revents) {
				collect(&l, i);
			} else if (now >= l.hs[i].deadline) {
				close(l.hs[i].ctl);
				l.hs[i] = l.hs[--l.n_hs];
				stats->lost++;
			}
		}
		if (p[1].revents & POLLIN)
			accept_clients(&l);
	}
	for (size_t i = 0; i < l.n_hs; i++)
		close(l.hs[i].ctl);
	if (l.held.fd >= 0) {
		close(l.held.fd);
		free(l.held.msg);
	}
}
