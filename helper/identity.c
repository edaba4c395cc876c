/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* identity.c: the peer of a control socket (identity.h). */
#include "identity.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5, asm-generic/socket.h */
#endif

/* A pidfd for the peer: SO_PEERPIDFD, taken with the connection; else
 * pidfd_open(2) of its pid (which a recycled pid could fool, but the
 * check after reading then still sees a live process of that pid).
 * -1 if neither works. */
static int peer_pidfd(int fd, pid_t pid)
{
	int pidfd = -1;
	socklen_t len = sizeof pidfd;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0)
		return pidfd;
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int identity_of_peer(int fd, struct identity *id)
{
	socklen_t len = sizeof id->cred;
	char link[64];
	ssize_t n;
	int pidfd;

	memset(id, 0, sizeof *id);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &id->cred, &len) < 0) {
		int e = errno;
		memset(id, 0, sizeof *id);
		return -e;
	}
	if (id->cred.pid <= 0)
		return 0;
	pidfd = peer_pidfd(fd, id->cred.pid);
	snprintf(link, sizeof link, "/proc/%d/exe", (int)id->cred.pid);
	n = readlink(link, id->exe, sizeof id->exe - 1);
	if (n <= 0) {
		id->exe[0] = '\0';
	} else {
		id->exe[n] = '\0';
		/* Still the same process: the path was not a newcomer's
		 * (signal 0 only tests; EPERM says it lives, as another
		 * user's process). */
		id->exe_verified = pidfd >= 0 &&
				   (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 || errno == EPERM);
	}
	if (pidfd >= 0)
		close(pidfd);
	return 0;
}
