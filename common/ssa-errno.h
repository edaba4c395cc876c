/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ssa-errno.h: the one mapping from what went wrong to the errno an
 * application sees from connect() and listen() (SPEC §3).
 *
 * The shim's own checks of the caller's arguments (EINVAL, EFAULT,
 * EAFNOSUPPORT, EALREADY, ...) return their errno directly.  Everything
 * after them, the attempt, reaches the application through these two
 * functions: the helper maps before it sends its verdict, and the shim maps
 * what it did itself and, again, what a helper reported (an installed
 * helper may be another build than the shim).
 */
#ifndef SSA_ERRNO_H
#define SSA_ERRNO_H

/*
 * A failure of the SSA's own machinery (a socket, a descriptor, memory,
 * the loopback connection, the helper going away) as the application sees
 * it: ENOMEM and ENOBUFS stay, EMFILE and ENFILE (out of descriptors)
 * become ENOBUFS, and everything else ECONNABORTED, the attempt abandoned,
 * with the reason in TLS_ERROR.  Never an errno that blames the caller's
 * arguments (EINVAL, EBADF, EFAULT, ...).  `e` is positive.
 */
int ssa_errno_internal(int e);

/*
 * The errno of an attempt's verdict `e` (positive): e itself if SPEC §3
 * lists it for connect() (EPROTO, the network's errors, EACCES, EPERM,
 * ECANCELED, ECONNABORTED, ENOMEM, ENOBUFS, and EINVAL for an option value
 * found bad only at connect()), the network's near synonyms mapped
 * (ENETDOWN: ENETUNREACH, EHOSTDOWN: EHOSTUNREACH, EAGAIN: no local port,
 * EADDRNOTAVAIL), else ssa_errno_internal(e).  0 stays 0.
 */
int ssa_errno_verdict(int e);

#endif /* SSA_ERRNO_H */
