/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* owned-fd.c: descriptors kept in the application's process (owned-fd.h). */
#include "owned-fd.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The close(2) system call itself: the shim interposes close(), and these
 * descriptors are none of the application's sockets. */
static void close_raw(int fd)
{
	syscall(SYS_close, fd);
}

int owned_fd_take(struct owned_fd *o, int fd)
{
	struct stat st;

	*o = OWNED_FD_NONE;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close_raw(fd);
		return r;
	}
	*o = (struct owned_fd){ .fd = fd, .dev = st.st_dev, .ino = st.st_ino };
	return 0;
}

bool owned_fd_valid(const struct owned_fd *o)
{
	struct stat st;

	return o->fd >= 0 && fstat(o->fd, &st) == 0 && st.st_dev == o->dev && st.st_ino == o->ino;
}

int owned_fd_release(struct owned_fd *o)
{
	int fd = owned_fd_valid(o) ? o->fd : -1;

	*o = OWNED_FD_NONE;
	return fd;
}

void owned_fd_close(struct owned_fd *o)
{
	int fd = owned_fd_release(o);

	if (fd >= 0)
		close_raw(fd);
}
