/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * server.h: listen() and accept() of an IPPROTO_TLS socket (SPEC §3,
 * server side).
 *
 * listen() starts the bound TCP socket listening and hands it, with the
 * application's chain and key files and one end of a SOCK_SEQPACKET pair,
 * to a fresh helper, which stays as its listener (helper/listener.h).
 * Once that helper has checked the keys and the policy, the pair's other
 * end takes the descriptor's number (dup3(2)): from then on the descriptor
 * is the accept queue, readable when a connection whose handshake is over
 * waits there.  accept() receives one such connection: a plaintext TCP
 * socket and what its helper reported.
 */
#ifndef SSA_SHIM_SERVER_H
#define SSA_SHIM_SERVER_H

#include <sys/socket.h>

#include "tls-socket.h"

/* listen(fd, backlog) of the TLS socket s (lock held): 0, or -errno with
 * TLS_ERROR set (EINVAL: no chain and key; EPROTO: a key that is not its
 * chain's; EACCES: the policy; EOPNOTSUPP: a client socket). */
int server_listen(int fd, struct tls_socket *s, int backlog);

/* accept4(fd, addr, len, flags) of the listening TLS socket s (not
 * locked: other threads may accept at the same time): the new descriptor,
 * or -errno as accept(2) has it. */
int server_accept(int fd, struct tls_socket *s, struct sockaddr *addr, socklen_t *len, int flags);

#endif /* SSA_SHIM_SERVER_H */
