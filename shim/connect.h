/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * connect.h: connect() of an IPPROTO_TLS socket, the client side (SPEC §3).
 *
 * connect() checks its arguments, holds the socket (hold.h), sends the
 * request to a fresh helper (helper-channel.h) and, on a blocking socket,
 * waits for its verdict; on a non-blocking one it returns EINPROGRESS and
 * the verdict is collected later, by the first call that needs it
 * (getsockopt(SO_ERROR), connect() again, the getters), once the socket has
 * turned writable.  Every function takes the record with its lock held and
 * returns 0 or -errno.
 */
#ifndef SSA_SHIM_CONNECT_H
#define SSA_SHIM_CONNECT_H

#include <stdbool.h>
#include <sys/socket.h>

#include "tls-socket.h"

/*
 * connect(fd, addr, len) of the TLS socket s: 0 (connected), -EINPROGRESS
 * (non-blocking: the attempt goes on), -EINTR (a signal interrupted the
 * wait; the attempt goes on), or an errno of SPEC §3 with TLS_ERROR set.
 * AF_UNSPEC dissolves the association.
 */
int connect_start(int fd, struct tls_socket *s, const struct sockaddr *addr, socklen_t len);

/* If an attempt is under way and over (the socket is writable), collect
 * its verdict: the state becomes CONNECTED or FAILED. */
void connect_collect_if_done(struct tls_socket *s, int fd);

/*
 * SO_ERROR of a TLS socket: the errno of an attempt that failed unseen,
 * once; 0 while one is under way.  Returns 0 or -errno with the answer
 * given, or 1 when the TCP socket's own SO_ERROR is the answer.
 */
int connect_so_error(struct tls_socket *s, int fd, void *optval, socklen_t *optlen);

/*
 * getpeername(2) of a TLS socket: the peer's network address once
 * connected (or accepted), truncated to *len as getpeername(2) does;
 * -ENOTCONN before, -EFAULT for NULL pointers.
 */
int connect_peername(struct tls_socket *s, int fd, struct sockaddr *addr, socklen_t *len);

/*
 * getsockname(2) of a TLS socket: the local address of the helper's
 * network connection once connected, the bound address once listening;
 * 1 when the TCP socket's own address is the answer (not connected: bound
 * or not); an unspecified address during an attempt or after a failure.
 */
int connect_sockname(struct tls_socket *s, int fd, struct sockaddr *addr, socklen_t *len);

#endif /* SSA_SHIM_CONNECT_H */
