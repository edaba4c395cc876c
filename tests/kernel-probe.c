/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/*
 * kernel-probe: print the kernel and the kernel behaviours the SSA's design
 * stands on, each as found on this machine, so that a test run on another
 * machine explains its own failures.  Run by tests/run-tests first.
 *
 * Each line is "probe: <behaviour>: yes|no (<detail>)".  "needed" marks a
 * behaviour the design relies on; the exit status is 1 if one of those is
 * missing.  The others are informational (what the design avoids, or what
 * a later part may use).
 *
 * The design relies on (see shim/hold.h, helper/hold.h):
 *   - the hold: a loopback TCP socket with TCP_NOTSENT_LOWAT 1 and unsent
 *     data behind a closed window (MSG_EOR-terminated writes) is neither
 *     readable nor writable in poll(2) and epoll(7), send(2) gives EAGAIN,
 *     for as long as the other end does not read (tested for 1 s);
 *   - draining the filler on the other end and restoring TCP_NOTSENT_LOWAT
 *     makes it writable, edge-triggered epoll included;
 *   - a close with SO_LINGER 0 resets the connection: the socket turns
 *     readable and writable, data sent before the reset is still read, then
 *     ECONNRESET;
 *   - descriptor passing (SCM_RIGHTS) and SO_PEERCRED on AF_UNIX sockets.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

static int missing;

static void report(const char *what, bool needed, bool found, const char *detail)
{
	printf("probe: %s: %s (%s)%s\n", what, found ? "yes" : "no", detail,
	       needed ? (found ? "" : " -- NEEDED by the SSA") : "");
	if (needed && !found)
		missing++;
}

/* A loopback listener: fd, address in *a. */
static int listener(struct sockaddr_in *a)
{
	socklen_t n = sizeof *a;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*a = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (l < 0 || bind(l, (struct sockaddr *)a, sizeof *a) < 0 || listen(l, 4) < 0 ||
	    getsockname(l, (struct sockaddr *)a, &n) < 0)
		return -1;
	return l;
}

/* A connected pair over loopback: 0 with *c (client) and *s (server). */
static int tcp_pair(int *c, int *s)
{
	struct sockaddr_in a;
	int l = listener(&a);

	*c = *s = -1;
	if (l < 0)
		return -1;
	*c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*c >= 0 && connect(*c, (struct sockaddr *)&a, sizeof a) == 0)
		*s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	return *s >= 0 ? 0 : -1;
}

static short revents(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

/* The old client path: connect() on a socket that has listened. */
static void probe_connect_after_listen(void)
{
	struct sockaddr_in a, b = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	int l = listener(&a), s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = -1;
	char detail[96];

	if (l >= 0 && s >= 0 && bind(s, (struct sockaddr *)&b, sizeof b) == 0 && listen(s, 1) == 0 &&
	    connect(s, &unspec, sizeof unspec) == 0)
		r = connect(s, (struct sockaddr *)&a, sizeof a);
	snprintf(detail, sizeof detail, "%s; the SSA never does this", r == 0 ? "allowed" : strerror(errno));
	report("connect() on a socket that has listened", false, r == 0, detail);
	close(s);
	close(l);
}

/* The hold and its release. */
static void probe_hold(void)
{
	static char buf[65536];
	int c, s, one = 1, zero = 0, rcvbuf = 0, unsent = 0, ep = -1;
	socklen_t len = sizeof rcvbuf;
	long total = 0, target;
	bool held = true, released = false;
	char detail[160] = "";
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET };

	if (tcp_pair(&c, &s) < 0) {
		report("hold: TCP_NOTSENT_LOWAT over a closed window", true, false, strerror(errno));
		return;
	}
	getsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len);
	target = rcvbuf + 65536;
	while (total < target) {
		ssize_t n = send(c, buf, sizeof buf, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_EOR);
		if (n > 0) {
			total += n;
		} else if (ioctl(c, SIOCOUTQNSD, &unsent) == 0 && unsent > 0) {
			break;
		} else {
			struct pollfd p = { .fd = c, .events = POLLOUT };
			if (poll(&p, 1, 1000) != 1)
				break;
		}
	}
	setsockopt(c, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &one, sizeof one);
	ep = epoll_create1(EPOLL_CLOEXEC);
	epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
	for (int i = 0; i < 10 && held; i++) {
		struct epoll_event out;
		if (revents(c, POLLIN | POLLOUT) || epoll_wait(ep, &out, 1, 100) != 0) {
			snprintf(detail, sizeof detail, "reported ready after %d ms", i * 100);
			held = false;
		} else if (send(c, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0 || errno != EAGAIN) {
			snprintf(detail, sizeof detail, "send() was not EAGAIN after %d ms", i * 100);
			held = false;
		}
	}
	ioctl(c, SIOCOUTQNSD, &unsent);
	if (held)
		snprintf(detail, sizeof detail, "%ld bytes of filler, %d unsent, held for 1 s", total, unsent);
	report("hold: no POLLIN/POLLOUT/EPOLLOUT and send() EAGAIN behind a closed window", true, held, detail);

	while (total > 0) {
		ssize_t n = recv(s, buf, total < (long)sizeof buf ? (size_t)total : sizeof buf, 0);
		if (n <= 0)
			break;
		total -= n;
	}
	setsockopt(c, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &zero, sizeof zero);
	{
		struct epoll_event out;
		released = epoll_wait(ep, &out, 1, 1000) == 1 && (out.events & EPOLLOUT) && !(out.events & EPOLLIN);
	}
	report("hold released: writable (edge-triggered EPOLLOUT) once the filler is read", true, released,
	       released ? "EPOLLOUT" : "no EPOLLOUT within 1 s");
	close(ep);
	close(c);
	close(s);
}

/* A reset by SO_LINGER 0: data first, then ECONNRESET. */
static void probe_reset(void)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int c, s;
	char buf[8];
	bool ok = false;
	char detail[96] = "";

	if (tcp_pair(&c, &s) == 0 && send(s, "data", 4, MSG_NOSIGNAL) == 4) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		poll(&p, 1, 1000);
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(s);
		s = -1;
		p.events = POLLIN | POLLOUT;
		poll(&p, 1, 1000);
		ssize_t n1 = read(c, buf, sizeof buf);
		ssize_t n2 = read(c, buf, sizeof buf);
		int e = errno;
		ok = (p.revents & POLLIN) && (p.revents & POLLOUT) && n1 == 4 && n2 < 0 && e == ECONNRESET;
		snprintf(detail, sizeof detail, "read %zd, then %zd %s", n1, n2, n2 < 0 ? strerror(e) : "");
	}
	report("SO_LINGER 0 close: readable and writable, data then ECONNRESET", true, ok, detail);
	close(c);
	if (s >= 0)
		close(s);
}

/* Descriptor passing and SO_PEERCRED. */
static void probe_unix(void)
{
	int sv[2], got = -1;
	struct ucred cred;
	socklen_t len = sizeof cred;
	char byte = 'F';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof control.buf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	bool ok;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		report("SCM_RIGHTS and SO_PEERCRED", true, false, strerror(errno));
		return;
	}
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &sv[0], sizeof(int));
	ok = sendmsg(sv[0], &mh, 0) == 1 && recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC) == 1 &&
	     (cm = CMSG_FIRSTHDR(&mh)) && cm->cmsg_type == SCM_RIGHTS;
	if (ok)
		memcpy(&got, CMSG_DATA(cm), sizeof got);
	ok = ok && got >= 0 && getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == getpid();
	report("SCM_RIGHTS and SO_PEERCRED on AF_UNIX", true, ok, ok ? "passed a descriptor, peer pid seen" : strerror(errno));
	if (got >= 0)
		close(got);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	struct utsname u;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (uname(&u) == 0)
		printf("probe: kernel: %s %s %s\n", u.sysname, u.release, u.machine);
	probe_hold();
	probe_reset();
	probe_unix();
	probe_connect_after_listen();
	return missing ? 1 : 0;
}
