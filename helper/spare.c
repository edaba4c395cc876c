/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* spare.c: a helper forked ahead of its connection (spare.h). */
#include "spare.h"

#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ssa-io.h"

/* In the spare: wait for the connection on `fd`, serve it, exit. */
static _Noreturn void wait_and_serve(int fd, spare_serve_fn *serve, void *user)
{
	static char context[SPARE_CONTEXT_MAX];
	size_t n_fds = 0;
	int conn = -1;
	ssize_t n;

	do
		n = ssa_recvmsg_fds(fd, context, sizeof context, &conn, 1, &n_fds, 0);
	while (n == -EINTR);
	close(fd);
	if (n <= 0 || n_fds != 1) {
		if (n_fds)
			close(conn);
		_exit(0); /* discarded */
	}
	serve(conn, context, (size_t)n, user);
	_exit(0);
}

/* The connection spare_start() forks a child for, while it does: that
 * child gets it again over the socketpair, so it closes its inherited copy
 * (which would keep the connection open until the child exits). */
static int forking_for = -1;

/* A spare could not be forked (errno e): the next is due later.  -e. */
static int retry_later(struct spare *sp, int e)
{
	sp->due_ms = ssa_now_ms() + SPARE_RETRY_MS;
	return -e;
}

int spare_fork(struct spare *sp, spare_prepare_fn *prepare, spare_serve_fn *serve, void *user)
{
	int pair[2];
	pid_t pid;

	if (sp->pid > 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return retry_later(sp, errno);
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pair[0]);
		close(pair[1]);
		return retry_later(sp, e);
	}
	if (pid == 0) {
		close(pair[0]);
		if (forking_for >= 0)
			close(forking_for);
		prepare(user);
		wait_and_serve(pair[1], serve, user);
	}
	close(pair[1]);
	*sp = (struct spare){ .pid = pid, .fd = pair[0] };
	return 0;
}

pid_t spare_hand_over(struct spare *sp, int conn, const void *context, size_t len)
{
	pid_t pid = sp->pid;
	int r;

	if (pid <= 0)
		return -ENOENT;
	if (len == 0 || len > SPARE_CONTEXT_MAX)
		return -EINVAL;
	r = ssa_sendmsg_fds(sp->fd, context, len, &conn, 1, 0);
	close(sp->fd);
	*sp = (struct spare){ .pid = 0, .fd = -1, .due_ms = ssa_now_ms() + SPARE_DELAY_MS };
	return r < 0 ? r : pid;
}

/* Milliseconds until the next spare is due: -1 (one waits, or none is due
 * before a first hand-over), 0 (due now), or the time left. */
static int wait_ms(const struct spare *sp)
{
	int64_t left;

	if (sp->pid > 0 || sp->due_ms < 0)
		return -1;
	left = sp->due_ms - ssa_now_ms();
	return left > 0 ? (left < INT_MAX ? (int)left : INT_MAX) : 0;
}

int spare_fork_if_due(struct spare *sp, spare_prepare_fn *prepare, spare_serve_fn *serve, void *user)
{
	return wait_ms(sp) == 0 ? spare_fork(sp, prepare, serve, user) : 0;
}

int spare_poll_timeout(const struct spare *sp, int timeout)
{
	int due = wait_ms(sp);

	return due >= 0 && (timeout < 0 || due < timeout) ? due : timeout;
}

pid_t spare_start(struct spare *sp, spare_prepare_fn *prepare, spare_serve_fn *serve, void *user, int conn,
		  const void *context, size_t len)
{
	pid_t pid = spare_hand_over(sp, conn, context, len);
	int r;

	if (pid > 0)
		return pid;
	forking_for = conn;
	r = spare_fork(sp, prepare, serve, user);
	forking_for = -1;
	if (r < 0)
		return r;
	return spare_hand_over(sp, conn, context, len);
}

void spare_discard(struct spare *sp)
{
	if (sp->fd >= 0)
		close(sp->fd);
	*sp = SPARE_NONE;
}

bool spare_exited(struct spare *sp, pid_t pid)
{
	if (sp->pid <= 0 || pid != sp->pid)
		return false;
	spare_discard(sp);
	sp->due_ms = ssa_now_ms() + SPARE_RETRY_MS;
	return true;
}
