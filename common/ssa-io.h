/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ssa-io.h: whole-message I/O on the shim-helper control socket. */
#ifndef SSA_IO_H
#define SSA_IO_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC, for deadlines. */
int64_t ssa_now_ms(void);

/*
 * Wait with poll(2) until fd reports one of `events` (or an error or hang-up)
 * or until `deadline_ms` (ssa_now_ms() clock; -1: no deadline); a signal
 * does not end the wait.  Returns 0, -ETIMEDOUT, or -errno of poll(2).
 */
int ssa_wait(int fd, short events, int64_t deadline_ms);

/*
 * Send all `len` bytes of `buf` on stream socket `fd` (blocking or not) with
 * MSG_NOSIGNAL, waiting with poll(2) until `deadline_ms` (ssa_now_ms() clock;
 * -1: no deadline).  EINTR is retried.  Returns 0, -ETIMEDOUT, or -errno of
 * send(2) (-EPIPE when the other end is gone).
 */
int ssa_send_all(int fd, const void *buf, size_t len, int64_t deadline_ms);

/*
 * Receive exactly `len` bytes into `buf`, waiting until `deadline_ms` (-1: no
 * deadline).  Returns 0, -ECONNABORTED if the other end closed first,
 * -ETIMEDOUT, or -errno of recv(2).
 */
int ssa_recv_exact(int fd, void *buf, size_t len, int64_t deadline_ms);

/* Most descriptors one message carries. */
#define SSA_FDS_MAX 24

/*
 * Pass `n` (1..SSA_FDS_MAX) descriptors over AF_UNIX socket `fd`: one byte of
 * data with SCM_RIGHTS (unix(7)).  The caller keeps its own copies.
 * Returns 0 or -errno.
 */
int ssa_send_fds(int fd, const int *fds, size_t n);

/*
 * Receive exactly `n` descriptors sent by ssa_send_fds(), waiting until
 * `deadline_ms`.  They have FD_CLOEXEC set and belong to the caller.
 * Returns 0, or -ECONNABORTED (closed without them), -ETIMEDOUT, -EPROTO
 * (another number of descriptors, all of which are closed), or -errno.
 */
int ssa_recv_fds(int fd, int *fds, size_t n, int64_t deadline_ms);

#endif /* SSA_IO_H */
