/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* ssa-io.c: whole-message I/O on the shim-helper control socket (ssa-io.h). */
#include "ssa-io.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t ssa_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ssa_wait(int fd, short events, int64_t deadline_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int timeout, r;

	for (;;) {
		timeout = -1;
		if (deadline_ms >= 0) {
			int64_t left = deadline_ms - ssa_now_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			timeout = left > 1000000 ? 1000000 : (int)left;
		}
		r = poll(&p, 1, timeout);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int ssa_send_all(int fd, const void *buf, size_t len, int64_t deadline_ms)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
		} else if (errno == EAGAIN) {
			int r = ssa_wait(fd, POLLOUT, deadline_ms);
			if (r < 0)
				return r;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

int ssa_recv_exact(int fd, void *buf, size_t len, int64_t deadline_ms)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == 0) {
			return -ECONNABORTED;
		} else if (errno == EAGAIN) {
			int r = ssa_wait(fd, POLLIN, deadline_ms);
			if (r < 0)
				return r;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

int ssa_send_fds(int fd, const int *fds, size_t n)
{
	char byte = 'F';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(SSA_FDS_MAX * sizeof(int))];
	} control;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = CMSG_SPACE(n * sizeof(int)),
	};
	struct cmsghdr *c;

	if (n == 0 || n > SSA_FDS_MAX)
		return -EINVAL;
	memset(&control, 0, sizeof control);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	for (;;) {
		if (sendmsg(fd, &msg, MSG_NOSIGNAL) == 1)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int ssa_recv_fds(int fd, int *fds, size_t n, int64_t deadline_ms)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(SSA_FDS_MAX * sizeof(int))];
	} control;
	struct msghdr msg;
	struct cmsghdr *c;
	size_t got = 0;
	bool bad = false;
	ssize_t r;

	for (;;) {
		msg = (struct msghdr){
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = control.buf,
			.msg_controllen = sizeof control.buf,
		};
		r = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (r >= 0)
			break;
		if (errno == EAGAIN) {
			int w = ssa_wait(fd, POLLIN, deadline_ms);
			if (w < 0)
				return w;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	if (r == 0)
		return -ECONNABORTED;
	/* Take exactly n descriptors; close everything else a peer sent. */
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int passed;
			memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < n)
				fds[got++] = passed;
			else {
				close(passed);
				bad = true;
			}
		}
	}
	if (bad || got != n || (msg.msg_flags & MSG_CTRUNC)) {
		for (size_t i = 0; i < got; i++)
			close(fds[i]);
		return -EPROTO;
	}
	return 0;
}
