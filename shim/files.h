/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * files.h: the files an application names in socket options
 * (TLS_TRUSTED_PEER_CERTIFICATES, TLS_CERTIFICATE_CHAIN, TLS_PRIVATE_KEY).
 *
 * The application opens them itself, at setsockopt(), with its own
 * permissions and relative to its current directory; the helper gets the
 * descriptors at connect() or listen() and never opens a path an
 * application names (ssa-wire.h lists the order).  Functions take the
 * record with its lock held and return 0 or -errno, with TLS_ERROR set.
 */
#ifndef SSA_SHIM_FILES_H
#define SSA_SHIM_FILES_H

#include <sys/socket.h>

#include "tls-socket.h"

/*
 * TLS_TRUSTED_PEER_CERTIFICATES (a PEM file, or a directory whose regular
 * files are joined into one memfd of at most 4 MiB), TLS_CERTIFICATE_CHAIN
 * (each starts a new pair, at most SSA_KEY_PAIRS_MAX) or TLS_PRIVATE_KEY
 * (the key of the last chain given): open the path in optval and keep the
 * descriptor in s, replacing an earlier one.  -errno of open(2), -EINVAL,
 * -EFAULT, -ENOBUFS (too many chains).
 */
int files_set(struct tls_socket *s, int name, const void *optval, socklen_t optlen);

/* Every chain has its key and every key its chain (SPEC §2): 0, or
 * -EINVAL with the reason. */
int files_check_pairs(struct tls_socket *s);

/* The descriptors to pass, in the order the request announces them: the
 * trust anchors, then each chain and its key.  Returns how many were put in
 * fds[] (room for 1 + 2 * SSA_KEY_PAIRS_MAX); they stay s's.  Sets the
 * request's trust_file and n_pairs in *req to match. */
size_t files_for_request(const struct tls_socket *s, struct ssa_request *req, int *fds);

#endif /* SSA_SHIM_FILES_H */
