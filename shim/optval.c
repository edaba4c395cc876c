/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* optval.c: values in and out of the caller's memory (optval.h). */
#include "optval.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* Longest string option value read. */
#define OPTVAL_STRING_MAX 4096

bool optval_copy_in(void *dst, const void *src, size_t len)
{
	struct iovec local = { .iov_base = dst, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)src, .iov_len = len };

	return src && process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)len;
}

int optval_get_int(const void *optval, socklen_t optlen, int *v)
{
	if (optlen < sizeof(int))
		return -EINVAL;
	return optval_copy_in(v, optval, sizeof *v) ? 0 : -EFAULT;
}

int optval_get_string(const void *optval, socklen_t optlen, char *dst, size_t size)
{
	char buf[OPTVAL_STRING_MAX + 1];
	size_t n;

	if (optlen == 0 || optlen > OPTVAL_STRING_MAX)
		return -EINVAL;
	if (!optval_copy_in(buf, optval, optlen))
		return -EFAULT;
	buf[optlen] = '\0';
	n = strlen(buf);
	if (n == 0 || n >= size)
		return -EINVAL;
	memcpy(dst, buf, n + 1);
	return 0;
}

/* Give len bytes of value to the caller, who has room for at least need. */
static int put_bytes(const void *value, size_t len, void *optval, socklen_t *optlen)
{
	if (!optval || !optlen)
		return -EFAULT;
	if (*optlen < len)
		return -EINVAL;
	memcpy(optval, value, len);
	*optlen = (socklen_t)len;
	return 0;
}

int optval_put_int(int value, void *optval, socklen_t *optlen)
{
	return put_bytes(&value, sizeof value, optval, optlen);
}

int optval_put_u64(uint64_t value, void *optval, socklen_t *optlen)
{
	return put_bytes(&value, sizeof value, optval, optlen);
}

int optval_put_string(const char *value, void *optval, socklen_t *optlen)
{
	size_t need = strlen(value) + 1;

	if (!optval || !optlen)
		return -EFAULT;
	if (*optlen < need) {
		*optlen = (socklen_t)need;
		return -ERANGE;
	}
	return put_bytes(value, need, optval, optlen);
}
