/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * app-socket.h: the descriptors an application hands to the helper for
 * listen() and accept(), checked, and the plaintext connection of an
 * accepted client.  (connect() hands over a held socket: hold.h.)
 */
#ifndef SSA_APP_SOCKET_H
#define SSA_APP_SOCKET_H

#include <stdbool.h>

#include "loopback.h"

/* The C library's socket calls, for loopback.h (the helper has no shim). */
extern const struct loopback_calls app_socket_libc;

/* True if fd is a TCP socket of AF_INET or AF_INET6, listening (1) or
 * not (0) as `listening` says. */
bool app_socket_is_tcp(int fd, int listening);

/* listen(): `tcp` is a listening TCP socket and `queue` an AF_UNIX
 * SOCK_SEQPACKET socket: 0 or -EPROTO. */
int app_socket_check_listening(int tcp, int queue);

/* A client of a listening socket: `tcp` is a TCP socket that is not
 * listening: 0 or -EPROTO. */
int app_socket_check_accepted(int tcp);

/*
 * A plaintext connection for an accepted client: a TCP socket of `domain`
 * (AF_INET or AF_INET6, as the application's listening socket) connected
 * over loopback, returned in *app (blocking, FD_CLOEXEC) for the
 * application; returns the helper's end, with its reset armed
 * (loopback_arm_reset(): the helper's death reaches the application as
 * ECONNRESET), or -errno.  Both are the caller's.
 */
int app_socket_pair(int domain, int *app, int timeout_ms);

#endif /* SSA_APP_SOCKET_H */
