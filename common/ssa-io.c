/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* ssa-io.c: whole-message I/O on the shim-helper control socket (ssa-io.h). */
#include "ssa-io.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
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

int ssa_sendmsg_fds(int fd, const void *data, size_t len, const int *fds, size_t n, int flags)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(SSA_FDS_MAX * sizeof(int))];
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (n > SSA_FDS_MAX || len == 0)
		return -EINVAL;
	if (n > 0) {
		memset(&control, 0, sizeof control);
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	for (;;) {
		ssize_t r = sendmsg(fd, &msg, flags | MSG_NOSIGNAL);
		if (r == (ssize_t)len)
			return 0;
		if (r >= 0)
			return -EMSGSIZE; /* a stream took part of it: the caller's framing is lost */
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

ssize_t ssa_recvmsg_fds(int fd, void *buf, size_t cap, int *fds, size_t n, size_t *n_got, int flags)
{
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(SSA_FDS_MAX * sizeof(int))];
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof control.buf };
	struct cmsghdr *c;
	size_t got = 0;
	bool bad = false;
	ssize_t r;

	*n_got = 0;
	r = recvmsg(fd, &msg, flags | MSG_CMSG_CLOEXEC);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* Take at most n descriptors; close everything else a peer sent. */
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int passed;
			memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < n) {
				fds[got++] = passed;
			} else {
				close(passed);
				bad = true;
			}
		}
	}
	if (bad || (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
		for (size_t i = 0; i < got; i++)
			close(fds[i]);
		return -EPROTO;
	}
	*n_got = got;
	return r;
}

int ssa_send_fds(int fd, const int *fds, size_t n)
{
	static const char byte = 'F';

	if (n == 0)
		return -EINVAL;
	return ssa_sendmsg_fds(fd, &byte, 1, fds, n, 0);
}

int ssa_recv_fds(int fd, int *fds, size_t n, int64_t deadline_ms)
{
	char byte;
	size_t got;
	ssize_t r;

	for (;;) {
		r = ssa_recvmsg_fds(fd, &byte, 1, fds, n, &got, MSG_DONTWAIT);
		if (r >= 0)
			break;
		if (r == -EAGAIN) {
			int w = ssa_wait(fd, POLLIN, deadline_ms);
			if (w < 0)
				return w;
		} else if (r != -EINTR) {
			return (int)r;
		}
	}
	if (r == 0 && got == 0)
		return -ECONNABORTED;
	if (got != n) {
		for (size_t i = 0; i < got; i++)
			close(fds[i]);
		return -EPROTO;
	}
	return 0;
}

int ssa_recv_message(int fd, unsigned types, enum ssa_msg_type *type, uint8_t **body, size_t *len,
		     int64_t deadline_ms)
{
	uint8_t header[SSA_WIRE_HEADER_SIZE];
	enum ssa_msg_type t;
	long body_len;
	uint8_t *b;
	int r;

	*body = NULL;
	*len = 0;
	r = ssa_recv_exact(fd, header, sizeof header, deadline_ms);
	if (r < 0)
		return r;
	t = ssa_wire_type(header);
	if ((unsigned)t >= 32 || !(types & 1u << t))
		return -EPROTO;
	body_len = ssa_wire_check_header(header, t);
	if (body_len < 0)
		return (int)body_len;
	b = malloc((size_t)body_len + 1);
	if (!b)
		return -ENOMEM;
	r = ssa_recv_exact(fd, b, (size_t)body_len, deadline_ms);
	if (r < 0) {
		free(b);
		return r;
	}
	*type = t;
	*body = b;
	*len = (size_t)body_len;
	return 0;
}
