/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * app-socket.h: the application's end of a connection, driven from the helper.
 *
 * During connect() the shim hands the helper two TCP sockets of the
 * application (SCM_RIGHTS): the application's own socket, which the shim has
 * put in the LISTEN state so that poll(2) does not report it writable, and a
 * loopback listener.  When the attempt is over the helper either connects the
 * application's socket to that listener, keeping the accepted end to relay
 * plaintext (success), or dissolves it with connect(AF_UNSPEC) (failure); in
 * both cases the socket becomes writable in the application, which is what a
 * non-blocking connect(2) promises.  No code of the shim needs to run.
 */
#ifndef SSA_APP_SOCKET_H
#define SSA_APP_SOCKET_H

/* Check that both descriptors are listening TCP sockets: 0 or -EPROTO. */
int app_socket_check(int app, int listener);

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
 * application; returns the helper's end, or -errno.  Both are the caller's.
 */
int app_socket_pair(int domain, int *app, int timeout_ms);

/* Failure: make the application's socket writable and unconnected. */
void app_socket_release(int app);

/*
 * Success: connect `app` to `listener` and return the accepted socket
 * (FD_CLOEXEC, the caller's), checked to be the one `app` connected from,
 * within `timeout_ms`; or -errno.  The application's socket keeps its file
 * status flags (O_NONBLOCK is the application's to set).
 */
int app_socket_attach(int app, int listener, int timeout_ms);

#endif /* SSA_APP_SOCKET_H */
