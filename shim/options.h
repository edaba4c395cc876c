/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * options.h: the socket options of level IPPROTO_TLS (SPEC §2).
 *
 * One table says, for each option, how it is set and how it is read.
 * Rules: an option is set before connect() or listen() (else EOPNOTSUPP);
 * one that can only be read or only be set says so (EOPNOTSUPP); an
 * unknown one is ENOPROTOOPT; a value that loosens the policy is EPERM
 * (tighten.h), checked here against the policy this program can read, and
 * again by the helper at connect(); a connection's result read before
 * connect() is ENOTCONN.  TLS_ERROR holds the reason of each refusal.
 *
 * Both functions take the record with its lock held and return 0 or
 * -errno.
 */
#ifndef SSA_SHIM_OPTIONS_H
#define SSA_SHIM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "policy.h"
#include "tls-socket.h"

/* setsockopt(fd, IPPROTO_TLS, name, optval, optlen). */
int options_set(struct tls_socket *s, int name, const void *optval, socklen_t optlen);

/* getsockopt(fd, IPPROTO_TLS, name, optval, optlen). */
int options_get(struct tls_socket *s, int name, void *optval, socklen_t *optlen);

/* The program path a request names: TLS_PROGRAM if set, else
 * /proc/self/exe; "" if unknown.  Into buf[0..size). */
void options_program(const struct tls_socket *s, char *buf, size_t size);

#endif /* SSA_SHIM_OPTIONS_H */
