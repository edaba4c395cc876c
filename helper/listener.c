/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* listener.c: the helper behind a listening IPPROTO_TLS socket (listener.h). */
#include "listener.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "helper-channel.h"
#include "journal.h"
#include "policy-watch.h"
#include "spare.h"
#include "tls-session.h"
#include "ssa-io.h"
#include "ssa-msg.h"

/* How long a client's helper may take beyond handshake-timeout (its
 * start, its policy) before its verdict is presumed lost. */
#define VERDICT_MARGIN_MS 2000
/* How long to read a verdict once it has started to arrive. */
#define VERDICT_READ_MS 2000
/* After accept(2) failed for want of descriptors or memory: pause. */
#define ACCEPT_BACKOFF_MS 100

/* Where a client comes from, for the per-source cap: its IPv4 address, or
 * the /64 prefix of its IPv6 address (one host may hold a whole /64). */
struct source {
	uint8_t bytes[8];
};

/* A client whose helper is doing the handshake. */
struct handshake {
	int ctl;            /* control connection to that helper */
	int64_t deadline;   /* ssa_now_ms() by which its verdict is due */
	struct source from;
};

/* A client accepted while its source, or every slot, was busy: waiting
 * for a helper, at most until its handshake would have had to end. */
struct waiting {
	int fd;
	int64_t deadline;
	struct source from;
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
	int64_t handshake_ms;          /* handshake-timeout */
	struct handshake hs[LISTENER_HANDSHAKES_MAX];
	size_t n_hs;
	struct waiting waiting[LISTENER_WAITING_MAX];  /* oldest first */
	size_t n_waiting;
	struct ready held;
	int64_t accept_pause_until;
	struct listener_stats *stats;
	listener_serve_fn *serve_here;  /* standalone: fork a child that serves */
	struct spare spare;             /* standalone: the next client's child (spare.h) */
	int dispatching;                /* the client being handed to a helper, or -1 */
};

/* In a child forked for a client (spare.h: ahead of it, or for it when
 * none waits), right after fork(2): keep nothing of the listener's but the
 * journal.  Its client's socket and the files come again with the
 * request. */
static void prepare_child(void *user)
{
	struct listener *l = user;

	signal(SIGCHLD, SIG_DFL);
	policy_watch_forget();
	if (l->dispatching >= 0)
		close(l->dispatching);
	close(l->listen_fd);
	close(l->queue_fd);
	for (size_t i = 0; i < l->n_hs; i++)
		close(l->hs[i].ctl);
	for (size_t i = 0; i < l->n_waiting; i++)
		if (l->waiting[i].fd >= 0)
			close(l->waiting[i].fd);
	if (l->held.fd >= 0)
		close(l->held.fd);
	for (size_t i = 0; i < l->n_files; i++)
		close(l->files[i]);
}

/* In that child, with its end of the control socket: serve the client. */
static void serve_child(int ctl, const void *context, size_t len, void *user)
{
	const struct listener *l = user;

	(void)context;
	(void)len;
	l->serve_here(ctl);
}

/*
 * Standalone: start a client's helper as a child of this process, which
 * has everything loaded already: the child forked ahead (spare.h), or one
 * forked now (a fork(2), not a process start).  It gets only its end of
 * the control socket.  Returns our end, or -errno.
 */
static int fork_helper(struct listener *l, int client)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* A policy change made before this client came applies to it: not
	 * the child forked with the old one. */
	if (policy_watch_refresh())
		spare_discard(&l->spare);
	l->dispatching = client;
	pid = spare_start(&l->spare, prepare_child, serve_child, l, sv[1], "A", 1);
	l->dispatching = -1;
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return (int)pid;
	}
	return sv[0];
}

/*
 * Hand one client to a fresh helper: the SSA_MSG_ACCEPT request, then the
 * client's socket and the files.  Takes `client` (closes our copy).
 */
static void dispatch(struct listener *l, int client, const struct source *from)
{
	int fds[SSA_FDS_MAX];
	char why[256];
	int ctl, r;

	if (l->serve_here) {
		ctl = fork_helper(l, client);
		if (ctl < 0)
			snprintf(why, sizeof why, "cannot fork a helper: %s", strerror(-ctl));
	} else {
		ctl = helper_channel_open(why, sizeof why);
	}
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
	l->hs[l->n_hs++] = (struct handshake){
		.ctl = ctl, .deadline = ssa_now_ms() + l->handshake_ms + VERDICT_MARGIN_MS, .from = *from
	};
}

static struct source source_of(const struct sockaddr_storage *ss)
{
	struct source src = { { 0 } };

	if (ss->ss_family == AF_INET) {
		memcpy(src.bytes, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			memcpy(src.bytes, a->s6_addr + 12, 4);
		else
			memcpy(src.bytes, a->s6_addr, 8);
	}
	return src;
}

/* Whether n (at most 4) more descriptors can be opened now: where they
 * cannot, a client waits (in the kernel's backlog, or here) rather than
 * being dropped for want of one. */
static bool descriptors_free(const struct listener *l, int n)
{
	int fd[4], got = 0;

	while (got < n && (fd[got] = fcntl(l->queue_fd, F_DUPFD_CLOEXEC, 0)) >= 0)
		got++;
	for (int i = 0; i < got; i++)
		close(fd[i]);
	return got == n;
}

/* Whether a client from `from` may have a helper now: a free slot, its
 * source below its share of them, and descriptors to reach a helper. */
static bool may_start(const struct listener *l, const struct source *from)
{
	size_t same = 0;

	if (l->n_hs >= LISTENER_HANDSHAKES_MAX)
		return false;
	for (size_t i = 0; i < l->n_hs; i++)
		same += memcmp(&l->hs[i].from, from, sizeof *from) == 0;
	/* A control socket pair, and the plaintext connection to come. */
	return same < LISTENER_PER_SOURCE_MAX && descriptors_free(l, 3);
}

/* Start the waiting clients that may start now, oldest first; drop those
 * whose handshake could no longer end in time. */
static void start_waiting(struct listener *l)
{
	int64_t now = ssa_now_ms();
	size_t kept = 0;

	for (size_t i = 0; i < l->n_waiting; i++) {
		struct waiting w = l->waiting[i];
		/* Out of the list before it is closed or handed on: a helper
		 * forked meanwhile closes the waiting clients' descriptors,
		 * whose numbers may be reused by then. */
		l->waiting[i].fd = -1;
		if (now >= w.deadline) {
			close(w.fd);
			l->stats->lost++;
		} else if (may_start(l, &w.from)) {
			dispatch(l, w.fd, &w.from);
		} else {
			l->waiting[kept++] = w;
		}
	}
	l->n_waiting = kept;
}

/* Take every client the kernel has queued while there is room to keep
 * it: a helper at once, or a place among the waiting. */
static void accept_clients(struct listener *l)
{
	while (l->n_waiting < LISTENER_WAITING_MAX) {
		/* Keep descriptors for the helpers of those accepted
		 * (may_start()); without them, clients wait in the backlog. */
		if (!descriptors_free(l, 4)) {
			l->accept_pause_until = ssa_now_ms() + ACCEPT_BACKOFF_MS;
			return;
		}
		struct sockaddr_storage addr;
		socklen_t len = sizeof addr;
		int client = accept4(l->listen_fd, (struct sockaddr *)&addr, &len, SOCK_CLOEXEC);
		if (client >= 0) {
			struct source from = source_of(&addr);
			if (may_start(l, &from))
				dispatch(l, client, &from);
			else
				l->waiting[l->n_waiting++] = (struct waiting){
					.fd = client, .deadline = ssa_now_ms() + l->handshake_ms, .from = from
				};
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
	return ssa_sendmsg_fds(queue_fd, msg, len, &fd, 1, MSG_DONTWAIT);
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

/* Read the verdict of handshake i and forward a success to the
 * application; the handshake is over either way. */
static void collect(struct listener *l, size_t i)
{
	int64_t deadline = ssa_now_ms() + VERDICT_READ_MS;
	int ctl = l->hs[i].ctl, fd = -1;
	struct ssa_result res;
	enum ssa_msg_type type;
	uint8_t *body = NULL, *msg = NULL;
	size_t len = 0;
	int r;

	l->hs[i] = l->hs[--l->n_hs];
	ssa_result_init(&res);
	r = ssa_recv_message(ctl, 1u << SSA_MSG_RESULT, &type, &body, &len, deadline);
	if (r == 0)
		r = ssa_result_decode(body, len, &res);
	free(body);
	if (r == 0)
		r = res.err ? -res.err : ssa_recv_fds(ctl, &fd, 1, deadline);
	close(ctl);
	/* The verdict again, as the application's accept() reads it. */
	if (r == 0 && (msg = malloc(SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX)))
		len = ssa_result_encode(&res, msg, SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX);
	ssa_result_free(&res);
	if (r < 0 || !msg || len == 0) {
		/* Refused (the client's helper logged why), or lost. */
		l->stats->refused++;
		free(msg);
		if (fd >= 0)
			close(fd);
		return;
	}
	l->held = (struct ready){ .msg = msg, .len = len, .fd = fd };
	flush_held(l);
}

/* Serve the listening socket until the application closes its end of the
 * accept queue (POLLHUP).  Every descriptor in *l stays the caller's. */
static void listener_run(struct listener *l)
{
	struct pollfd p[2 + LISTENER_HANDSHAKES_MAX];
	int sndbuf = 2 * (SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX);

	if (l->serve_here && !helper_channel_service_installed()) {
		signal(SIGCHLD, SIG_IGN); /* the kernel reaps the children */
		/* The policy for the helpers forked here, parsed once and
		 * watched (policy-watch.h). */
		policy_watch_start();
	} else
		l->serve_here = NULL;
	/* Room for the largest message (a client's whole chain). */
	setsockopt(l->queue_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	fcntl(l->listen_fd, F_SETFL, fcntl(l->listen_fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		int64_t now = ssa_now_ms(), wake = -1;
		bool holding = l->held.fd >= 0;
		bool room = l->n_waiting < LISTENER_WAITING_MAX;
		bool may_accept = room && now >= l->accept_pause_until;

		/* POLLHUP on the queue, reported whatever the events: the
		 * application closed its listening socket. */
		p[0] = (struct pollfd){ .fd = l->queue_fd, .events = holding ? POLLOUT : 0 };
		p[1] = (struct pollfd){ .fd = may_accept ? l->listen_fd : -1, .events = POLLIN };
		for (size_t i = 0; i < l->n_hs; i++) {
			/* While a connection waits for room, leave the others'
			 * verdicts in their sockets. */
			p[2 + i] = (struct pollfd){ .fd = holding ? -1 : l->hs[i].ctl, .events = POLLIN };
			if (wake < 0 || l->hs[i].deadline < wake)
				wake = l->hs[i].deadline;
		}
		/* The oldest waiting client expires first. */
		if (l->n_waiting && (wake < 0 || l->waiting[0].deadline < wake))
			wake = l->waiting[0].deadline;
		if (room && !may_accept && (wake < 0 || l->accept_pause_until < wake))
			wake = l->accept_pause_until;
		int timeout = wake < 0 ? -1 : wake > now ? (int)(wake - now) : 0;
		if (l->serve_here)
			timeout = spare_poll_timeout(&l->spare, timeout);
		if (poll(p, 2 + l->n_hs, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents & (POLLHUP | POLLERR))
			break;
		if (holding && (p[0].revents & POLLOUT))
			flush_held(l);
		now = ssa_now_ms();
		/* Verdicts first, from the last slot down: collect() moves the
		 * last handshake into the slot it frees. */
		for (size_t i = l->n_hs; i-- > 0;) {
			if (l->held.fd >= 0)
				break;
			if (p[2 + i].revents) {
				collect(l, i);
			} else if (now >= l->hs[i].deadline) {
				close(l->hs[i].ctl);
				l->hs[i] = l->hs[--l->n_hs];
				l->stats->lost++;
			}
		}
		start_waiting(l);
		if (p[1].revents & POLLIN)
			accept_clients(l);
		/* The next client's child, forked ahead (spare.h) once a first
		 * client came, and not on top of the last one's start. */
		if (l->serve_here)
			spare_fork_if_due(&l->spare, prepare_child, serve_child, l);
	}
	spare_discard(&l->spare);
	for (size_t i = 0; i < l->n_hs; i++)
		close(l->hs[i].ctl);
	for (size_t i = 0; i < l->n_waiting; i++)
		close(l->waiting[i].fd);
	if (l->held.fd >= 0) {
		close(l->held.fd);
		free(l->held.msg);
	}
}

/* The request each client's helper gets: the application's, plus whom it
 * came from, as this helper established it.  A whole SSA_MSG_ACCEPT message
 * (malloc'd, *len bytes), or NULL. */
static uint8_t *accept_request(const struct job *j, bool resumption, size_t *len)
{
	size_t cap = SSA_WIRE_HEADER_SIZE + 16384;
	uint8_t *buf = malloc(cap);
	struct ssa_request q = j->req;

	if (!buf)
		return NULL;
	q.kind = SSA_MSG_ACCEPT;
	q.has_app = true;
	q.app_pid = (uint32_t)j->cred.pid;
	q.app_uid = (uint32_t)j->cred.uid;
	q.app_gid = (uint32_t)j->cred.gid;
	q.app_exe_verified = j->exe_verified;
	memcpy(q.exe, j->exe, sizeof q.exe);
	/* One ticket key for all this socket's clients (SPEC §2): made here,
	 * held in memory, handed to each client's helper, never written. */
	gnutls_datum_t key = { 0 };
	if (resumption && gnutls_session_ticket_key_generate(&key) == 0 && key.size == sizeof q.ticket_key) {
		memcpy(q.ticket_key, key.data, key.size);
		q.has_ticket_key = true;
	}
	if (key.data) {
		explicit_bzero(key.data, key.size);
		gnutls_free(key.data);
	}
	*len = ssa_request_encode(&q, buf, cap);
	explicit_bzero(q.ticket_key, sizeof q.ticket_key);
	if (*len == 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Check the keys and the policy, report, and hand the listening socket
 * over to the loop: 0 with *stats, or -errno with the reason. */
static int serve(struct job *j, int listen_fd, int queue_fd, struct listener_stats *stats,
		 listener_serve_fn *serve_here)
{
	int files[1 + 2 * SSA_KEY_PAIRS_MAX];
	struct policy policy;
	gnutls_datum_t trust = { 0 };
	struct tls_request request = { .trust = &trust };
	struct ssa_result res;
	size_t n_files = 0, len = 0;
	uint8_t *msg = NULL;
	int r;

	r = job_policy(j, &policy, &request);
	/* The listener keeps the descriptors: each client's helper reads the
	 * files.  Standalone, it also keeps the keys parsed, and a helper it
	 * forks uses them if the files still hold the same bytes. */
	if (r == 0)
		r = tls_server_keys_preload(&request, serve_here && !helper_channel_service_installed(), j->reason,
					    sizeof j->reason);
	job_request_free(&request);
	if (r == 0 && !(msg = accept_request(j, policy.session_resumption, &len))) {
		snprintf(j->reason, sizeof j->reason, "the listening socket's request is too large");
		r = -ENOBUFS;
	}
	if (r < 0)
		return r;
	if (j->trust_fd >= 0)
		files[n_files++] = j->trust_fd;
	for (size_t i = 0; i < 2 * j->req.n_pairs; i++)
		files[n_files++] = j->pair_fd[i];
	ssa_result_init(&res);
	res.range_min = policy.min_version;
	res.range_max = policy.max_version;
	r = job_report(j, &res);
	close(j->ctl);
	j->ctl = -1;
	if (r == 0) {
		static struct listener l; /* large: not on the stack */
		l = (struct listener){ .listen_fd = listen_fd, .queue_fd = queue_fd, .request = msg,
				       .request_len = len, .files = files, .n_files = n_files,
				       .handshake_ms = (int64_t)policy.handshake_timeout * 1000,
				       .held = { .fd = -1 }, .stats = stats, .serve_here = serve_here,
				       .spare = SPARE_AFTER_FIRST, .dispatching = -1 };
		listener_run(&l);
	}
	explicit_bzero(msg, len);
	free(msg);
	return 0;
}

void listener_serve(struct job *j, listener_serve_fn *serve_here)
{
	struct journal_entry log = { .role = "listener" };
	struct listener_stats stats = { 0 };
	struct sockaddr_storage local;
	socklen_t local_len = sizeof local;
	char outcome[128];
	int listen_fd = j->sockets[0], queue_fd = j->sockets[1], r;

	j->sockets[0] = j->sockets[1] = -1;
	if (getsockname(listen_fd, (struct sockaddr *)&local, &local_len) == 0)
		log.local = (const struct sockaddr *)&local;
	r = serve(j, listen_fd, queue_fd, &stats, serve_here);
	if (r < 0) {
		log.err = job_fail(j, r);
	} else {
		snprintf(outcome, sizeof outcome, "closed after %llu connections (%llu refused, %llu lost)",
			 (unsigned long long)stats.accepted, (unsigned long long)stats.refused,
			 (unsigned long long)stats.lost);
		log.outcome = outcome;
	}
	journal_log(j, &log);
	close(listen_fd);
	close(queue_fd);
}
