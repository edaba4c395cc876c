/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* libc.c: the C library's own socket functions (libc.h). */
#include "libc.h"

#include <dlfcn.h>

struct shim_libc shim_libc;

void shim_libc_resolve(void)
{
	shim_libc.socket = dlsym(RTLD_NEXT, "socket");
	shim_libc.connect = dlsym(RTLD_NEXT, "connect");
	shim_libc.setsockopt = dlsym(RTLD_NEXT, "setsockopt");
	shim_libc.getsockopt = dlsym(RTLD_NEXT, "getsockopt");
	shim_libc.getpeername = dlsym(RTLD_NEXT, "getpeername");
	shim_libc.getsockname = dlsym(RTLD_NEXT, "getsockname");
	shim_libc.dup2 = dlsym(RTLD_NEXT, "dup2");
	shim_libc.dup3 = dlsym(RTLD_NEXT, "dup3");
	shim_libc.getaddrinfo = dlsym(RTLD_NEXT, "getaddrinfo");
	shim_libc.listen = dlsym(RTLD_NEXT, "listen");
	shim_libc.accept4 = dlsym(RTLD_NEXT, "accept4");
	/* Last: it is the one REAL() tests. */
	__atomic_store_n(&shim_libc.close, dlsym(RTLD_NEXT, "close"), __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void shim_libc_init(void)
{
	shim_libc_resolve();
}
