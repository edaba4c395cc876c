/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ssa-io.h: whole-message I/O on the shim-helper control socket. */
#ifndef SSA_IO_H
#define SSA_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ssa-wire.h"

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
 * Send `len` (> 0) bytes of `data` and `n` (0..SSA_FDS_MAX) descriptors as
 * one sendmsg(2) with SCM_RIGHTS (unix(7)) and MSG_NOSIGNAL, plus `flags`
 * (MSG_DONTWAIT).  The caller keeps its own copies of the descriptors.
 * Returns 0, -EAGAIN (no room, with MSG_DONTWAIT), -EMSGSIZE (a stream took
 * only part), or -errno.
 */
int ssa_sendmsg_fds(int fd, const void *data, size_t len, const int *fds, size_t n, int flags);

/*
 * One recvmsg(2) on AF_UNIX socket `fd` with `flags` (MSG_DONTWAIT or 0;
 * MSG_CMSG_CLOEXEC is always added): up to `cap` bytes into buf, and up to
 * `n` descriptors into fds, *n_got of them, which belong to the caller.
 * Descriptors are hostile input: more than n, or a message or its
 * descriptors cut short (MSG_TRUNC, MSG_CTRUNC), closes all of them and
 * returns -EPROTO.  Returns the bytes received (0: the other end closed,
 * unless descriptors came), -EAGAIN, -EINTR or -errno of recvmsg(2).
 */
ssize_t ssa_recvmsg_fds(int fd, void *buf, size_t cap, int *fds, size_t n, size_t *n_got, int flags);

/*
 * Pass `n` (1..SSA_FDS_MAX) descriptors over AF_UNIX stream socket `fd`:
 * one byte of data with SCM_RIGHTS.  The caller keeps its own copies.
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

/*
 * Receive one whole message (ssa-wire.h) on stream socket `fd`, waiting
 * until `deadline_ms`: its type, which must be one of the bit mask `types`
 * (1u << SSA_MSG_...), in *type, and its body in *body (malloc'd, the
 * caller frees it), *len bytes.  Returns 0, -ECONNABORTED (closed before
 * the whole message), -ETIMEDOUT, -EPROTO (bad magic, version or type, or
 * an oversized body), -ENOMEM, or -errno.
 */
int ssa_recv_message(int fd, unsigned types, enum ssa_msg_type *type, uint8_t **body, size_t *len,
		     int64_t deadline_ms);

#endif /* SSA_IO_H */
