/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* ssa-errno.c: the errno an application sees (ssa-errno.h). */
#include "ssa-errno.h"

#include <errno.h>

int ssa_errno_internal(int e)
{
	switch (e) {
	case ENOMEM:
	case ENOBUFS:
		return e;
	case EMFILE:
	case ENFILE:
		return ENOBUFS;
	default:
		return ECONNABORTED;
	}
}

int ssa_errno_verdict(int e)
{
	switch (e) {
	case 0:
	case EPROTO:
	case ECONNREFUSED:
	case ETIMEDOUT:
	case ENETUNREACH:
	case EHOSTUNREACH:
	case EADDRNOTAVAIL:
	case EADDRINUSE:
	case ECONNRESET:
	case EACCES:
	case EPERM:
	case EINVAL:
	case ECANCELED:
	case ECONNABORTED:
		return e;
	case ENETDOWN:
		return ENETUNREACH;
	case EHOSTDOWN:
		return EHOSTUNREACH;
	case EAGAIN:
		return EADDRNOTAVAIL;
	default:
		return ssa_errno_internal(e);
	}
}
