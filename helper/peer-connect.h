/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* peer-connect.h: the TCP connection to the peer. */
#ifndef SSA_PEER_CONNECT_H
#define SSA_PEER_CONNECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Connect a TCP socket to `addr`, or, if `name` is not NULL, to each address
 * `name` resolves to (getaddrinfo(3): IPv4 and IPv6, in the resolver's
 * order) until one answers, all within `timeout_ms`.  Returns a blocking
 * socket with FD_CLOEXEC that the caller owns, with the address it reached in
 * *peer; or -errno as connect(2) reported it for the last address tried
 * (-ETIMEDOUT when the time ran out; -EHOSTUNREACH when the name did not
 * resolve), with the reason in why[0..why_size).
 */
int peer_connect(const char *name, uint16_t port, const struct sockaddr *addr, socklen_t addr_len,
		 unsigned timeout_ms, struct sockaddr_storage *peer, socklen_t *peer_len, char *why,
		 size_t why_size);

/* Print a socket address as "1.2.3.4:443" or "[::1]:443". */
void sockaddr_format(const struct sockaddr *sa, char *buf, size_t size);

#endif /* SSA_PEER_CONNECT_H */
