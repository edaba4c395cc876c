/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spare.h: a helper forked ahead of its connection.
 *
 * The processes that fork one helper per connection (the service's
 * supervisor, supervisor.h, a program's standalone fork server,
 * ssa-helper --fork-server, and a standalone listener, listener.h) keep
 * one child forked in advance: the spare.
 * It prepares itself (drops privileges, closes what is not its own), then
 * waits on a socketpair(2) for its connection, which the parent hands over
 * as one SOCK_SEQPACKET message: a descriptor (SCM_RIGHTS, unix(7)) and a
 * few bytes of context.  The parent forks the next spare while that one
 * works, so fork(2) and the child's set-up are off the connection's path;
 * but not at once: SPARE_DELAY_MS after a hand-over (spare_fork_if_due(),
 * spare_poll_timeout()), so
 * that the fork, about as much CPU as the helper's own start, does not
 * compete with that start for a CPU.  A connection that comes sooner gets
 * a helper forked for it (spare_start()).
 *
 * A spare is a copy of its parent as it was when forked: the policy, the
 * trust anchors, the program image.  Discard it when those change; it
 * exits as soon as its end of the socketpair closes, and it never outlives
 * its parent's interest in it (the parent's end is close-on-exec).
 */
#ifndef SSA_SPARE_H
#define SSA_SPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest context handed over with a connection, in bytes. */
#define SPARE_CONTEXT_MAX 8192

/* How long after a hand-over the next spare is due, in milliseconds: about
 * the time a helper takes from its connection to its first network byte
 * (measured: forking at once made connections through the service 3-7%
 * slower on two CPUs). */
#define SPARE_DELAY_MS 1

/* How long after a failed fork(2), or a spare that died waiting, the next
 * attempt is due, in milliseconds: a parent does not fork in a loop. */
#define SPARE_RETRY_MS 1000

/* The spare of one parent.  Initialize with SPARE_NONE. */
struct spare {
	pid_t pid;        /* the waiting child, or 0 if there is none */
	int fd;           /* the parent's end of the socketpair, or -1 */
	int64_t due_ms;   /* with none: when to fork the next (ssa_now_ms()), 0: now,
			   * -1: not before the first hand-over */
};
#define SPARE_NONE ((struct spare){ .pid = 0, .fd = -1, .due_ms = 0 })
/* None, and none forked ahead until a first connection came. */
#define SPARE_AFTER_FIRST ((struct spare){ .pid = 0, .fd = -1, .due_ms = -1 })

/* In the spare, right after fork(2), with `user` as given to spare_fork():
 * shed what the parent holds and the child must not (listening sockets,
 * privileges).  May _exit() if that fails. */
typedef void spare_prepare_fn(void *user);

/* In the spare, with its connection: `conn` (the child's to close) and the
 * `len` bytes of context the parent sent.  The child _exit(0)s when it
 * returns. */
typedef void spare_serve_fn(int conn, const void *context, size_t len, void *user);

/*
 * Fork a spare if `sp` has none: it runs `prepare`, then waits for its
 * connection and runs `serve` with it; if its parent discards it first,
 * or hands it anything but one descriptor, it exits with status 0 having
 * served nothing.  The caller must hold no descriptor the spare should not
 * inherit but those `prepare` closes.  Returns 0 (a spare is waiting), or
 * -errno of socketpair(2) or fork(2) (then `sp` still has none, and the
 * next is due in SPARE_RETRY_MS).
 */
int spare_fork(struct spare *sp, spare_prepare_fn *prepare, spare_serve_fn *serve, void *user);

/*
 * spare_fork(), if no spare waits and the next one is due (SPARE_DELAY_MS
 * after the last hand-over, SPARE_RETRY_MS after a failure; never before a
 * first hand-over with SPARE_AFTER_FIRST).  Returns 0 (nothing to do, or a
 * spare is waiting now) or -errno as spare_fork().
 */
int spare_fork_if_due(struct spare *sp, spare_prepare_fn *prepare, spare_serve_fn *serve, void *user);

/*
 * The poll(2) timeout for a parent that would wait `timeout` milliseconds
 * (-1: without limit): shortened to when the next spare is due, so that
 * it calls spare_fork_if_due() in time.
 */
int spare_poll_timeout(const struct spare *sp, int timeout);

/*
 * Hand connection `conn` and `len` (1..SPARE_CONTEXT_MAX) bytes of
 * `context` to the spare, which then owns a copy of `conn` (the caller
 * still closes its own).  The spare is spent either way: `sp` has none
 * after this, and the next one is due in SPARE_DELAY_MS.  Returns the pid
 * of the child now serving `conn`, or -errno:
 * -ENOENT (no spare), -EINVAL (bad length), or the error of sendmsg(2)
 * (the spare died: reap it as any child).
 */
pid_t spare_hand_over(struct spare *sp, int conn, const void *context, size_t len);

/*
 * Have a helper serve `conn`: hand it to the spare (spare_hand_over()), or,
 * if there is none or it died since it was forked, to one forked now with
 * `prepare` and `serve` (spare_fork()), which inherits what the caller
 * holds but `conn` (it gets that over the socketpair, as a spare would).  Returns the pid of the child now serving
 * `conn`, or -errno of the last attempt; the caller still closes its copy.
 */
pid_t spare_start(struct spare *sp, spare_prepare_fn *prepare, spare_serve_fn *serve, void *user, int conn,
		  const void *context, size_t len);

/* Let the spare go, if there is one: it exits unserved. */
void spare_discard(struct spare *sp);

/* Whether `pid`, a child that has exited, was the spare; if so `sp` has
 * none after this, and the next is due in SPARE_RETRY_MS. */
bool spare_exited(struct spare *sp, pid_t pid);

#endif /* SSA_SPARE_H */
