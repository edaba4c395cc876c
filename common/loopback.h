/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loopback.h: a TCP connection over loopback between a socket and a fresh
 * socket of ours, with the check that the two really are its ends.
 *
 * The shim holds the application's socket this way during an attempt
 * (shim/hold.h), and a server's helper makes each accepted client's
 * plaintext connection this way (helper/app-socket.h).  In the shim the
 * socket calls must be the C library's, never the shim's own, so the
 * caller passes them.
 */
#ifndef SSA_LOOPBACK_H
#define SSA_LOOPBACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* The socket calls to use (the C library's). */
struct loopback_calls {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*close)(int);
};

/*
 * Connect `fd`, a TCP socket (AF_INET, or AF_INET6: then over the
 * IPv4-mapped loopback address, or ::1 if it is IPV6_V6ONLY) that is not
 * connected, to a fresh listener on loopback, and accept the other end:
 * only the connection that comes from fd, as another local process could
 * reach the listener first.  Waits until `deadline_ms` (ssa_now_ms()
 * clock) at most, whether fd is blocking or not; a signal does not stop it.
 *
 * Returns the other end (blocking, FD_CLOEXEC; the caller's), or -errno of
 * the calls (-ETIMEDOUT, -EADDRINUSE if 16 other connections came first).
 * On failure fd may be left connected; the caller dissolves it.
 */
int loopback_connect(const struct loopback_calls *calls, int fd, int64_t deadline_ms);

/* True if `a` and `b` are two TCP sockets connected to each other (each
 * one's local address is the other's peer address, allowing for an
 * IPv4-mapped IPv6 form). */
bool loopback_are_ends(const struct loopback_calls *calls, int a, int b);

/*
 * Arm (on) or disarm (off) the reset of the connection at `fd`: with
 * SO_LINGER 0, close(2) and the death of the last process holding fd
 * reset the connection instead of ending it with FIN (socket(7)), so the
 * other end never mistakes it for a clean end of file.
 */
void loopback_arm_reset(int fd, bool on);

/* The same address and port, allowing for an IPv4-mapped IPv6 form. */
bool ssa_same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#endif /* SSA_LOOPBACK_H */
