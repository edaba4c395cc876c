/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hold.h: the application's socket held while a helper makes the TLS
 * connection (the shim's half; helper/hold.h is the other).
 *
 * A non-blocking connect(2) promises that the socket turns writable when
 * the attempt is over, and not before (connect(2), POSIX "connect",
 * SPEC §3), with no code of the shim running at that moment: the
 * application may be in poll(2), select(2) or epoll_wait(2), or be a child
 * process, or another language.  The hold does it with documented TCP
 * behaviour only (tcp(7)):
 *
 *   1. hold_begin() connects the application's TCP socket over loopback to
 *      a socket of the shim's (the "end") and writes filler bytes into it,
 *      more than the end's receive buffer can take (the end never reads,
 *      so its window closes and the rest stays unsent), each write ending a
 *      record (MSG_EOR), then sets TCP_NOTSENT_LOWAT to 1.  With unsent
 *      bytes at or above TCP_NOTSENT_LOWAT, poll(2) reports the socket not
 *      writable and send(2) fails with EAGAIN or waits (it cannot append
 *      to a filler segment); nothing is readable.
 *   2. The end, with the filler count, goes to the helper.  On success the
 *      helper reads exactly the filler from the end and restores
 *      TCP_NOTSENT_LOWAT: the window opens, the socket turns writable, and
 *      what the application writes next is plaintext for the peer.  On
 *      failure, or if the helper dies, the end is closed with SO_LINGER 0:
 *      the reset makes the socket readable and writable, and SO_ERROR
 *      (answered by the shim) gives the verdict.
 *
 * The socket never enters the LISTEN state and is never connected twice
 * without connect(AF_UNSPEC) in between.
 *
 * Limit: the unsent filler is bounded by the socket's send buffer.  An
 * application that locked a tiny SO_SNDBUF (a few KiB) before connect() may
 * see one small write accepted during the attempt once the end's window
 * moves; it is queued behind the filler and reaches the peer after the
 * handshake, or is discarded with the connection on failure.
 *
 * Ordering rules:
 *   - hold_begin() runs before anything is sent to a helper, so that the
 *     socket is held before connect() can return EINPROGRESS.
 *   - The helper releases or resets the hold before it sends its verdict:
 *     when the socket turns writable, the verdict is on the control socket
 *     or about to be (the shim then waits for it), never the other way.
 *   - Until the end is handed over, the shim owns it; after, the shim
 *     closes its copy at once (the helper's is the only one, so the
 *     helper's death resets the connection).
 *
 * Every function uses the C library directly (libc.h), never the shim.
 */
#ifndef SSA_SHIM_HOLD_H
#define SSA_SHIM_HOLD_H

#include <stdint.h>

struct hold {
	int end;          /* the other end of the application's socket, or -1 */
	uint32_t filler;  /* bytes written into the application's socket */
	int lowat;        /* the application's own TCP_NOTSENT_LOWAT, to restore */
};

/*
 * Hold socket `fd` (an AF_INET or AF_INET6 TCP socket, not connected) as
 * described above.  On success returns 0 with *h filled: the
 * end (FD_CLOEXEC) belongs to the caller.  On failure returns -errno
 * (-ENOBUFS, -EMFILE, ... from socket(2), connect(2), accept(2), or
 * -ETIMEDOUT if loopback did not answer) with fd unconnected again.
 */
int hold_begin(int fd, struct hold *h);

/* The attempt will not start after all: reset the connection, leave `fd`
 * unconnected with no error pending, and close h->end. */
void hold_abandon(int fd, struct hold *h);

/* Make `fd` unconnected (connect(2) with AF_UNSPEC) and clear the error a
 * reset left on it, so that it may connect again. */
void hold_dissolve(int fd);

#endif /* SSA_SHIM_HOLD_H */
