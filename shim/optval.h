/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * optval.h: values in and out of the caller's memory, for socket options
 * and addresses (getsockopt(2), setsockopt(2), connect(2)).
 *
 * The caller's pointers are not trusted: reading goes through
 * process_vm_readv(2), so a bad pointer is EFAULT, never SIGSEGV in the
 * shim.  Every function returns 0 or -errno.
 */
#ifndef SSA_SHIM_OPTVAL_H
#define SSA_SHIM_OPTVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Copy len bytes from the caller's src: true, or false if any of them lies
 * outside the address space (or src is NULL). */
bool optval_copy_in(void *dst, const void *src, size_t len);

/* An int option value: 0 with *v, -EINVAL (optlen too small) or -EFAULT. */
int optval_get_int(const void *optval, socklen_t optlen, int *v);

/* A string option value, NUL-terminated within optlen or exactly optlen
 * bytes (at most 4096), into dst[0..size): 0, -EINVAL (empty or too long)
 * or -EFAULT. */
int optval_get_string(const void *optval, socklen_t optlen, char *dst, size_t size);

/* Give an int to the caller: 0, -EFAULT (NULL pointers) or -EINVAL
 * (*optlen too small); *optlen becomes sizeof(int). */
int optval_put_int(int value, void *optval, socklen_t *optlen);

/* Give a uint64_t to the caller, the same way. */
int optval_put_u64(uint64_t value, void *optval, socklen_t *optlen);

/* Give a string and its NUL to the caller: 0, -EFAULT, or -ERANGE with the
 * length needed in *optlen (as SO_PEERSEC does, socket(7)). */
int optval_put_string(const char *value, void *optval, socklen_t *optlen);

#endif /* SSA_SHIM_OPTVAL_H */
