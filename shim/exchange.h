/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exchange.h: one request to a fresh helper and its verdict, for connect()
 * and listen() (ssa-wire.h has the conversations).
 */
#ifndef SSA_SHIM_EXCHANGE_H
#define SSA_SHIM_EXCHANGE_H

#include <stddef.h>

#include "tls-socket.h"

/*
 * Reach a fresh helper (helper-channel.h) and send it `req` (with the
 * program path and the files of s filled in here), then the descriptors:
 * sockets[0..n_sockets) and s's files.  Returns the control socket (the
 * caller's), or -errno with TLS_ERROR set: -ECANCELED (no helper could be
 * reached), -ECONNABORTED (it went away before taking the request),
 * -ENOBUFS (the request does not fit in a message).
 */
int exchange_open(struct tls_socket *s, struct ssa_request *req, const int *sockets, size_t n_sockets);

/*
 * Read the helper's verdict from `ctl` into s->res (and its reason into
 * TLS_ERROR), waiting as long as it takes.  Returns 0 (success) or the
 * errno of SPEC §3 the verdict carries, or ECONNABORTED / ENOMEM if the
 * helper went away or could not be understood (ssa-errno.h); positive.
 */
int exchange_verdict(struct tls_socket *s, int ctl);

#endif /* SSA_SHIM_EXCHANGE_H */
