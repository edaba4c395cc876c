/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libc.h: the C library's own socket functions, behind the shim's.
 *
 * The shim defines socket(), connect() and the rest for the whole process,
 * its own calls included: inside the shim, a call on the application's
 * socket must go to the C library with REAL(fn), or it would come back to
 * the shim (and, with the socket's lock held, deadlock).
 */
#ifndef SSA_SHIM_LIBC_H
#define SSA_SHIM_LIBC_H

#include <netdb.h>
#include <sys/socket.h>

struct shim_libc {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*close)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*listen)(int, int);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
};

extern struct shim_libc shim_libc;

/* Find the C library's functions with dlsym(RTLD_NEXT) (dlsym(3)).  Runs
 * from the shim's constructor, and from REAL() if another library's
 * constructor calls a socket function before ours ran. */
void shim_libc_resolve(void);

/* shim_libc.fn, resolved first if need be.  close is resolved last, so it
 * stands for all of them. */
#define REAL(fn) (__builtin_expect(__atomic_load_n(&shim_libc.close, __ATOMIC_ACQUIRE) != NULL, 1) \
			  ? shim_libc.fn : (shim_libc_resolve(), shim_libc.fn))

#endif /* SSA_SHIM_LIBC_H */
