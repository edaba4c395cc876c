/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * conformance: one named case per row of the error tables of the seed man
 * pages (shared/seeds: 000 SSA connect, 001 POSIX connect, 002 BSD connect,
 * 003 SSA socket, 004 Linux connect) and per rule of SPEC §3, run against
 * real TLS servers through libssa-shim.
 *
 * The servers are started by tests/conformance.bats, which passes their ports
 * in the environment (see struct setup).  Output: one line per case,
 * "ok CASE", "not ok CASE: detail" or "n/a CASE: reason", then
 * "--- table ---" and a markdown table of row -> case -> result, which
 * doc/conformance.md reproduces.  Exit status 0 iff no case failed.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "in_tls.h"

/* What tests/conformance.bats started. */
static struct setup {
	bool units;       /* SSA_CONF_MODE=units: through the socket-activated service */
	const char *host; /* SSA_CONF_HOST, an IPv4 literal */
	int echo, delay, silent, reset, info, sink, noread, truncate, wrongname, closed;
	const char *sink_report;
	const char *pki;  /* SSA_CONF_PKI: the test PKI (server chain and key) */
} setup;

enum verdict { PASS, FAIL, NA };

struct result {
	enum verdict verdict;
	char detail[300];
};

/* --- small tools -------------------------------------------------------- */

static void set_result(struct result *r, enum verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_result(struct result *r, enum verdict v, const char *fmt, ...)
{
	va_list ap;

	r->verdict = v;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof r->detail, fmt, ap);
	va_end(ap);
}

static void passed(struct result *r)
{
	r->verdict = PASS;
	r->detail[0] = '\0';
}

#define FAILED(...) do { set_result(res, FAIL, __VA_ARGS__); goto out; } while (0)
#define NOT_APPLICABLE(...) do { set_result(res, NA, __VA_ARGS__); return; } while (0)

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "0";
}

static struct sockaddr_in addr4(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	inet_pton(AF_INET, setup.host, &a.sin_addr);
	return a;
}

/* A new IPPROTO_TLS socket with TLS_HOSTNAME set (name may be NULL). */
static int tls_socket(int type_flags, const char *name)
{
	int fd = socket(AF_INET, SOCK_STREAM | type_flags, IPPROTO_TLS);

	if (fd >= 0 && name && setsockopt(fd, IPPROTO_TLS, TLS_HOSTNAME, name, (socklen_t)strlen(name) + 1) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* connect() to port on setup.host: 0 or errno. */
static int try_connect(int fd, int port)
{
	struct sockaddr_in a = addr4(port);

	return connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
}

/* A connected TLS socket to `port` as localhost, or -1 with *err set. */
static int connected(int port, int flags, int *err)
{
	int fd = tls_socket(flags, "localhost");

	*err = fd < 0 ? errno : try_connect(fd, port);
	if (*err) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void tls_error(int fd, char *buf, size_t size)
{
	socklen_t len = (socklen_t)size;

	if (getsockopt(fd, IPPROTO_TLS, TLS_ERROR, buf, &len) < 0)
		snprintf(buf, size, "(TLS_ERROR: %s)", ename(errno));
}

static int so_error(int fd)
{
	int e = -1;
	socklen_t len = sizeof e;

	return getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 ? -errno : e;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to timeout_ms for `events`: the revents, 0 on timeout. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r > 0 ? p.revents : 0;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Read until `want` bytes, end of file or an error, waiting at most 5 s for
 * each piece: the byte count, or -errno (bytes read before it are lost). */
static ssize_t read_some(int fd, char *buf, size_t want)
{
	size_t got = 0;

	while (got < want) {
		if (!(wait_fd(fd, POLLIN, 5000) & (POLLIN | POLLHUP | POLLERR)))
			return -ETIMEDOUT;
		ssize_t n = read(fd, buf + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* One read(2), waiting at most 5 s: the byte count, or -errno. */
static ssize_t read_once(int fd, char *buf, size_t size)
{
	ssize_t n;

	if (!(wait_fd(fd, POLLIN, 5000) & (POLLIN | POLLHUP | POLLERR)))
		return -ETIMEDOUT;
	do
		n = read(fd, buf, size);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* Send `msg` and expect it back from the echo server: true if so. */
static bool echo_roundtrip(int wfd, int rfd, const char *msg)
{
	char buf[256];
	size_t len = strlen(msg);

	return write_all(wfd, msg, len) && read_some(rfd, buf, len) == (ssize_t)len && memcmp(buf, msg, len) == 0;
}

/* --- seed 000, 001, 002, 004: argument and state errors ------------------ */

static void case_ebadf(struct result *res)
{
	struct sockaddr_in a = addr4(setup.echo);
	int fd = tls_socket(0, "localhost");

	close(fd);
	if (connect(-1, (struct sockaddr *)&a, sizeof a) == 0 || errno != EBADF)
		FAILED("connect(-1): %s", ename(errno));
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 || errno != EBADF)
		FAILED("connect on a closed TLS socket: %s", ename(errno));
	passed(res);
out:;
}

static void case_enotsock(struct result *res)
{
	struct sockaddr_in a = addr4(setup.echo);
	int p[2];

	if (pipe(p) < 0)
		FAILED("pipe: %s", ename(errno));
	if (connect(p[0], (struct sockaddr *)&a, sizeof a) == 0 || errno != ENOTSOCK)
		FAILED("connect on a pipe: %s", ename(errno));
	passed(res);
out:
	close(p[0]);
	close(p[1]);
}

static void case_eafnosupport(struct result *res)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(443), .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_un un = { .sun_family = AF_UNIX, .sun_path = "/run/x" };
	int fd = tls_socket(0, "localhost");

	if (connect(fd, (struct sockaddr *)&a6, sizeof a6) == 0 || errno != EAFNOSUPPORT)
		FAILED("AF_INET6 address on an AF_INET socket: %s", ename(errno));
	if (connect(fd, (struct sockaddr *)&un, sizeof un) == 0 || errno != EAFNOSUPPORT)
		FAILED("AF_UNIX address: %s", ename(errno));
	/* The socket is still usable. */
	if (try_connect(fd, setup.echo) != 0)
		FAILED("connect after the refused families: %s", ename(errno));
	passed(res);
out:
	close(fd);
}

static void case_einval_addrlen(struct result *res)
{
	struct sockaddr_in a = addr4(setup.echo);
	int fd = tls_socket(0, "localhost");

	if (connect(fd, (struct sockaddr *)&a, sizeof a - 1) == 0 || errno != EINVAL)
		FAILED("addrlen one short: %s", ename(errno));
	if (connect(fd, (struct sockaddr *)&a, 1) == 0 || errno != EINVAL)
		FAILED("addrlen 1: %s", ename(errno));
	passed(res);
out:
	close(fd);
}

static void case_einval_no_hostname(struct result *res)
{
	char reason[512];
	int fd = tls_socket(0, NULL);

	if (try_connect(fd, setup.echo) != EINVAL)
		FAILED("connect without TLS_HOSTNAME: %s", ename(errno));
	tls_error(fd, reason, sizeof reason);
	if (!reason[0])
		FAILED("TLS_ERROR empty");
	passed(res);
out:
	close(fd);
}

static void case_einval_multicast(struct result *res)
{
	struct sockaddr_in a = addr4(443);
	int fd = tls_socket(0, "localhost");

	inet_pton(AF_INET, "224.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 || errno != EINVAL)
		FAILED("multicast peer: %s", ename(errno));
	a.sin_addr.s_addr = htonl(INADDR_BROADCAST);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 || errno != EINVAL)
		FAILED("all-ones broadcast peer: %s", ename(errno));
	passed(res);
out:
	close(fd);
}

static void case_efault(struct result *res)
{
	int fd = tls_socket(0, "localhost");

	if (connect(fd, (struct sockaddr *)(uintptr_t)8, sizeof(struct sockaddr_in)) == 0 || errno != EFAULT)
		FAILED("address at 0x8: %s", ename(errno));
	if (connect(fd, NULL, sizeof(struct sockaddr_in)) == 0 || errno != EFAULT)
		FAILED("NULL address: %s", ename(errno));
	passed(res);
out:
	close(fd);
}

/* A listening IPPROTO_TLS socket with the test server's chain and key on
 * an ephemeral loopback port (its address in *a), or -1 with errno. */
static int tls_listener(int flags, struct sockaddr_in *a)
{
	char chain[4096], key[4096];
	socklen_t len = sizeof *a;
	int fd = socket(AF_INET, SOCK_STREAM | flags, IPPROTO_TLS);

	snprintf(chain, sizeof chain, "%s/good-chain.pem", setup.pki);
	snprintf(key, sizeof key, "%s/good-key.pem", setup.pki);
	*a = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || setsockopt(fd, IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, chain, (socklen_t)strlen(chain) + 1) < 0 ||
	    setsockopt(fd, IPPROTO_TLS, TLS_PRIVATE_KEY, key, (socklen_t)strlen(key) + 1) < 0 ||
	    bind(fd, (struct sockaddr *)a, sizeof *a) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)a, &len) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Seed 000: EOPNOTSUPP for connect() on a listening socket, and (SPEC §3)
 * for listen() on a socket that connected. */
static void case_eopnotsupp_listening(struct result *res)
{
	struct sockaddr_in a;
	int fd = tls_listener(0, &a), client = -1, e;

	if (fd < 0)
		FAILED("listen on an IPPROTO_TLS socket with a chain and key: %s", ename(errno));
	if (try_connect(fd, setup.echo) != EOPNOTSUPP)
		FAILED("connect on the listening socket: %s, expected EOPNOTSUPP", ename(errno));
	client = connected(setup.echo, 0, &e);
	if (client < 0)
		FAILED("connect to the echo server: %s", ename(e));
	if (listen(client, 1) == 0 || errno != EOPNOTSUPP)
		FAILED("listen after connect: %s, expected EOPNOTSUPP", ename(errno));
	passed(res);
out:
	if (client >= 0)
		close(client);
	if (fd >= 0)
		close(fd);
}

/* listen() refuses at once what could only fail at the first client. */
static void case_listen_errors(struct result *res)
{
	char chain[4096], key[4096], reason[512];
	socklen_t len = sizeof reason;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

	if (listen(fd, 1) == 0 || errno != EINVAL)
		FAILED("listen without a certificate: %s, expected EINVAL", ename(errno));
	if (getsockopt(fd, IPPROTO_TLS, TLS_ERROR, reason, &len) < 0 || !strstr(reason, "TLS_CERTIFICATE_CHAIN"))
		FAILED("TLS_ERROR after listen without a certificate: '%s'", reason);
	close(fd);
	/* A key that is not the chain's. */
	fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	snprintf(chain, sizeof chain, "%s/good-chain.pem", setup.pki);
	snprintf(key, sizeof key, "%s/wrongname-key.pem", setup.pki);
	setsockopt(fd, IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, chain, (socklen_t)strlen(chain) + 1);
	setsockopt(fd, IPPROTO_TLS, TLS_PRIVATE_KEY, key, (socklen_t)strlen(key) + 1);
	bind(fd, (struct sockaddr *)&a, sizeof a);
	if (listen(fd, 1) == 0 || errno != EPROTO)
		FAILED("listen with a key that does not match the chain: %s, expected EPROTO", ename(errno));
	len = sizeof reason;
	if (getsockopt(fd, IPPROTO_TLS, TLS_ERROR, reason, &len) < 0 || !strstr(reason, "does not match"))
		FAILED("TLS_ERROR after the mismatched key: '%s'", reason);
	if (accept(fd, NULL, NULL) >= 0 || errno != EINVAL)
		FAILED("accept on the socket that failed to listen: %s, expected EINVAL", ename(errno));
	passed(res);
out:
	close(fd);
}

/* A raw TCP connection to port that never says anything: fd or -1. */
static int silent_tcp_client(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (const struct sockaddr *)a, sizeof *a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* SPEC §3 server side: non-blocking accept with poll, readable only for a
 * connection whose handshake is over; accept4 flags; getpeername; data and
 * close_notify both ways. */
static void case_listen_accept(struct result *res)
{
	struct sockaddr_in a, seen, client_local;
	struct epoll_event ev;
	socklen_t len;
	struct pollfd p;
	char buf[64];
	int fd = tls_listener(SOCK_NONBLOCK, &a), silent = -1, client = -1, conn = -1, ep = -1, e, fl;

	if (fd < 0)
		FAILED("listen: %s", ename(errno));
	if (accept(fd, NULL, NULL) >= 0 || errno != EAGAIN)
		FAILED("accept with nothing waiting: %s, expected EAGAIN", ename(errno));
	silent = silent_tcp_client(&a);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (silent < 0 || poll(&p, 1, 500) != 0)
		FAILED("a client that sent nothing made the listening socket readable (or could not connect)");
	client = connected(ntohs(a.sin_port), 0, &e);
	if (client < 0)
		FAILED("TLS client to the listening socket: %s", ename(e));
	if (poll(&p, 1, 5000) != 1 || !(p.revents & POLLIN))
		FAILED("listening socket not readable after a handshake finished");
	/* epoll, registered after listen(), says the same. */
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &(struct epoll_event){ .events = EPOLLIN }) < 0 ||
	    epoll_wait(ep, &ev, 1, 1000) != 1 || !(ev.events & EPOLLIN))
		FAILED("epoll does not report the listening socket readable");
	len = sizeof seen;
	conn = accept4(fd, (struct sockaddr *)&seen, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (conn < 0)
		FAILED("accept4: %s", ename(errno));
	fl = fcntl(conn, F_GETFL);
	if (!(fl & O_NONBLOCK) || !(fcntl(conn, F_GETFD) & FD_CLOEXEC))
		FAILED("accept4(SOCK_NONBLOCK | SOCK_CLOEXEC) flags not set");
	len = sizeof client_local;
	if (getsockname(client, (struct sockaddr *)&client_local, &len) < 0 || len != sizeof seen ||
	    seen.sin_port != client_local.sin_port || seen.sin_addr.s_addr != client_local.sin_addr.s_addr)
		FAILED("accept's address is not the client's network address");
	len = sizeof seen;
	if (getpeername(conn, (struct sockaddr *)&seen, &len) < 0 || seen.sin_port != client_local.sin_port)
		FAILED("getpeername on the accepted socket: %s", ename(errno));
	fcntl(conn, F_SETFL, fl & ~O_NONBLOCK);
	if (write(client, "ping", 4) != 4 || read(conn, buf, sizeof buf) != 4 || memcmp(buf, "ping", 4) != 0)
		FAILED("client to server data");
	if (write(conn, "pong", 4) != 4 || read(client, buf, sizeof buf) != 4 || memcmp(buf, "pong", 4) != 0)
		FAILED("server to client data");
	/* The client's close_notify is end of file, and the other way keeps
	 * working; then the server's. */
	if (shutdown(client, SHUT_WR) < 0 || read(conn, buf, sizeof buf) != 0)
		FAILED("the client's shutdown(SHUT_WR) did not read as end of file on the server");
	if (write(conn, "late", 4) != 4 || read(client, buf, sizeof buf) != 4)
		FAILED("the server could not answer a half-closed client");
	close(conn);
	conn = -1;
	if (read(client, buf, sizeof buf) != 0)
		FAILED("the server's close did not read as end of file on the client: %s", ename(errno));
	passed(res);
out:
	if (ep >= 0)
		close(ep);
	if (conn >= 0)
		close(conn);
	if (client >= 0)
		close(client);
	if (silent >= 0)
		close(silent);
	if (fd >= 0)
		close(fd);
}

static void case_eisconn(struct result *res)
{
	int err, fd = connected(setup.echo, 0, &err);

	if (fd < 0)
		FAILED("connect: %s", ename(err));
	if (try_connect(fd, setup.echo) != EISCONN)
		FAILED("second connect after success: %s", ename(errno));
	if (!echo_roundtrip(fd, fd, "still fine\n"))
		FAILED("the connection broke");
	passed(res);
out:
	if (fd >= 0)
		close(fd);
}

static void case_ebadfd(struct result *res)
{
	int fd = tls_socket(0, "localhost");

	if (try_connect(fd, setup.wrongname) != EPROTO)
		FAILED("first connect: %s, expected EPROTO", ename(errno));
	if (try_connect(fd, setup.echo) != EBADFD)
		FAILED("connect after a failure: %s", ename(errno));
	passed(res);
out:
	close(fd);
}

/* --- seed 000, 001, 002, 004: the peer and the service ------------------- */

/* A blocking connect to `port` as `name` fails with `want` and a reason. */
static void expect_failure(struct result *res, int port, const char *name, int want)
{
	char reason[512] = "";
	int fd = tls_socket(0, name), e = try_connect(fd, port);

	tls_error(fd, reason, sizeof reason);
	close(fd);
	if (e != want)
		set_result(res, FAIL, "connect: %s, expected %s (%s)", ename(e), ename(want), reason);
	else if (!reason[0])
		set_result(res, FAIL, "%s without a TLS_ERROR reason", ename(want));
	else
		passed(res);
}

static void case_eproto(struct result *res)
{
	expect_failure(res, setup.wrongname, "localhost", EPROTO);
}

static void case_econnrefused(struct result *res)
{
	expect_failure(res, setup.closed, "localhost", ECONNREFUSED);
}

static void case_econnreset(struct result *res)
{
	expect_failure(res, setup.reset, "localhost", ECONNRESET);
}

static void case_etimedout(struct result *res)
{
	expect_failure(res, setup.silent, "localhost", ETIMEDOUT);
}

static void case_eacces(struct result *res)
{
	expect_failure(res, setup.echo, "denied.localhost", EACCES);
}

static void case_ehostunreach(struct result *res)
{
	struct sockaddr_host h = { .sh_family = AF_HOSTNAME, .sh_port = htons(443) };
	char reason[512];
	int fd = socket(AF_HOSTNAME, SOCK_STREAM, IPPROTO_TLS);

	strcpy(h.sh_name, "no-such-host.invalid");
	if (connect(fd, (struct sockaddr *)&h, sizeof h) == 0 || errno != EHOSTUNREACH)
		FAILED("unresolvable AF_HOSTNAME: %s", ename(errno));
	tls_error(fd, reason, sizeof reason);
	if (!reason[0])
		FAILED("no resolver message in TLS_ERROR");
	passed(res);
out:
	close(fd);
}

/* Run one connect with SSA_HELPER_SOCKET / SSA_HELPER_PATH set, then
 * restore them. */
static int connect_with_env(const char *name, const char *value, int port)
{
	const char *old = getenv(name);
	char *saved = old ? strdup(old) : NULL;
	int fd = tls_socket(0, "localhost"), e;

	setenv(name, value, 1);
	e = try_connect(fd, port);
	if (saved) {
		setenv(name, saved, 1);
		free(saved);
	} else {
		unsetenv(name);
	}
	close(fd);
	return e;
}

static void case_ecanceled(struct result *res)
{
	int e;

	if (setup.units)
		NOT_APPLICABLE("with the service installed the environment cannot move a program off it (SPEC §1); "
			       "tests/service.bats stops the socket to see ECANCELED");
	/* A helper socket path that exists but is no socket. */
	e = connect_with_env("SSA_HELPER_SOCKET", "/dev/null", setup.echo);

	if (e != ECANCELED)
		FAILED("unreachable helper service: %s", ename(e));
	passed(res);
out:;
}

static void case_econnaborted(struct result *res)
{
	int e;

	if (setup.units)
		NOT_APPLICABLE("needs a helper that dies mid-attempt; standalone mode injects one with SSA_HELPER_PATH");
	e = connect_with_env("SSA_HELPER_PATH", "/bin/true", setup.echo);
	if (e != ECONNABORTED)
		FAILED("helper gone during the attempt: %s", ename(e));
	passed(res);
out:;
}

/* --- non-blocking connect: readiness only after validation ---------------- */

enum waiter { WAIT_POLL, WAIT_SELECT, WAIT_EPOLL_LT, WAIT_EPOLL_ET };

/* Is fd writable within timeout_ms, by the given interface? */
static bool writable(int fd, enum waiter how, int ep, int timeout_ms)
{
	switch (how) {
	case WAIT_POLL:
		return wait_fd(fd, POLLOUT, timeout_ms) != 0;
	case WAIT_SELECT: {
		fd_set w;
		struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
		FD_ZERO(&w);
		FD_SET(fd, &w);
		return select(fd + 1, NULL, &w, NULL, &tv) == 1;
	}
	case WAIT_EPOLL_LT:
	case WAIT_EPOLL_ET: {
		struct epoll_event ev;
		return epoll_wait(ep, &ev, 1, timeout_ms) == 1 && (ev.events & (EPOLLOUT | EPOLLERR | EPOLLHUP));
	}
	}
	return false;
}

/* EINPROGRESS against the server that waits 1 s before its handshake: not
 * writable for the first 600 ms, writable within 5 s, then SO_ERROR is 0,
 * and data flows. */
static void nonblocking_case(struct result *res, enum waiter how, bool via_fcntl)
{
	int fd = tls_socket(via_fcntl ? 0 : SOCK_NONBLOCK, "localhost"), ep = -1, e;
	int64_t t0;

	if (via_fcntl && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		FAILED("fcntl: %s", ename(errno));
	t0 = now_ms();
	if ((e = try_connect(fd, setup.delay)) != EINPROGRESS)
		FAILED("connect: %s, expected EINPROGRESS", ename(e));
	if (how == WAIT_EPOLL_LT || how == WAIT_EPOLL_ET) {
		struct epoll_event ev = { .events = EPOLLOUT | (how == WAIT_EPOLL_ET ? EPOLLET : 0), .data.fd = fd };
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			FAILED("epoll: %s", ename(errno));
	}
	if (writable(fd, how, ep, 600))
		FAILED("writable after %lld ms, before the server's handshake", (long long)(now_ms() - t0));
	/* Held: nothing to read, and a write waits (here: EAGAIN). */
	if (wait_fd(fd, POLLIN, 0))
		FAILED("readable during the attempt");
	if (send(fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0 || errno != EAGAIN)
		FAILED("send during the attempt: %s, expected EAGAIN", ename(errno));
	if ((e = so_error(fd)) != 0)
		FAILED("SO_ERROR during the attempt: %s", ename(e));
	if ((e = try_connect(fd, setup.delay)) != EALREADY)
		FAILED("second connect during the attempt: %s, expected EALREADY", ename(e));
	if (!writable(fd, how, ep, 5000))
		FAILED("not writable 5 s after the attempt began");
	if (now_ms() - t0 < 900)
		FAILED("writable after %lld ms, before the 1 s delayed handshake", (long long)(now_ms() - t0));
	if ((e = so_error(fd)) != 0)
		FAILED("SO_ERROR after completion: %s", ename(e));
	if ((e = try_connect(fd, setup.delay)) != EISCONN)
		FAILED("connect after completion: %s, expected EISCONN", ename(e));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (!echo_roundtrip(fd, fd, "non-blocking\n"))
		FAILED("no echo after the non-blocking connect");
	passed(res);
out:
	if (ep >= 0)
		close(ep);
	close(fd);
}

static void case_nonblocking_poll(struct result *res) { nonblocking_case(res, WAIT_POLL, false); }
static void case_nonblocking_fcntl(struct result *res) { nonblocking_case(res, WAIT_POLL, true); }
static void case_nonblocking_select(struct result *res) { nonblocking_case(res, WAIT_SELECT, false); }
static void case_nonblocking_epoll_lt(struct result *res) { nonblocking_case(res, WAIT_EPOLL_LT, false); }
static void case_nonblocking_epoll_et(struct result *res) { nonblocking_case(res, WAIT_EPOLL_ET, false); }

static void case_nonblocking_eproto(struct result *res)
{
	char reason[512];
	int fd = tls_socket(SOCK_NONBLOCK, "localhost"), e;

	if ((e = try_connect(fd, setup.wrongname)) != EINPROGRESS)
		FAILED("connect: %s, expected EINPROGRESS", ename(e));
	if (!wait_fd(fd, POLLOUT, 5000))
		FAILED("never writable");
	if ((e = so_error(fd)) != EPROTO)
		FAILED("SO_ERROR: %s, expected EPROTO", ename(e));
	if ((e = so_error(fd)) != 0)
		FAILED("SO_ERROR not cleared: %s", ename(e));
	tls_error(fd, reason, sizeof reason);
	if (!reason[0])
		FAILED("TLS_ERROR empty");
	if ((e = try_connect(fd, setup.echo)) != EBADFD)
		FAILED("connect after the failure: %s, expected EBADFD", ename(e));
	passed(res);
out:
	close(fd);
}

/* --- signals ----------------------------------------------------------- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* SIGALRM without SA_RESTART in 200 ms. */
static void arm_alarm(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { .tv_usec = 200000 } };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarms = 0;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void case_eintr(struct result *res)
{
	int fd = tls_socket(0, "localhost"), e;

	arm_alarm();
	if ((e = try_connect(fd, setup.delay)) != EINTR)
		FAILED("blocking connect interrupted by SIGALRM: %s, expected EINTR", ename(e));
	if (!alarms)
		FAILED("EINTR without the signal");
	if ((e = try_connect(fd, setup.delay)) != EALREADY)
		FAILED("connect again while the attempt goes on: %s, expected EALREADY", ename(e));
	if (!wait_fd(fd, POLLOUT, 5000))
		FAILED("never writable after EINTR");
	if ((e = so_error(fd)) != 0)
		FAILED("SO_ERROR: %s", ename(e));
	if (!echo_roundtrip(fd, fd, "after EINTR\n"))
		FAILED("no echo after EINTR");
	passed(res);
out:
	close(fd);
}

/* Seed 002's example, verbatim but for the err(3) call. */
static int connect_wait(int s)
{
	struct pollfd pfd[1];
	int error = 0;
	socklen_t len = sizeof(error);
	pfd[0].fd = s;
	pfd[0].events = POLLOUT;
	if (poll(pfd, 1, -1) == -1)
		return -1;
	if (getsockopt(s, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
		return -1;
	if (error != 0) {
		errno = error;
		return -1;
	}
	return 0;
}

static void case_bsd_example_loop(struct result *res)
{
	struct sockaddr_in sin = addr4(setup.delay);
	struct sockaddr *name = (struct sockaddr *)&sin;
	socklen_t namelen = sizeof sin;
	int s = tls_socket(0, "localhost");
	int retcode;

	arm_alarm();
	for (retcode = connect(s, name, namelen);
	    retcode != 0 && errno == EINTR;
	    retcode = connect_wait(s))
		continue;
	if (retcode == -1)
		FAILED("connect: %s", ename(errno));
	if (!alarms)
		FAILED("the signal never came");
	if (!echo_roundtrip(s, s, "seed 002\n"))
		FAILED("no echo");
	passed(res);
out:
	close(s);
}

/* --- AF_UNSPEC ---------------------------------------------------------- */

static void case_af_unspec(struct result *res)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	int fd = tls_socket(SOCK_NONBLOCK, "localhost"), e;

	if ((e = try_connect(fd, setup.delay)) != EINPROGRESS)
		FAILED("connect: %s", ename(e));
	if (connect(fd, &unspec, sizeof unspec) < 0)
		FAILED("AF_UNSPEC during the attempt: %s", ename(errno));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if ((e = try_connect(fd, setup.echo)) != 0)
		FAILED("connect after dissolving the attempt: %s", ename(e));
	if (!echo_roundtrip(fd, fd, "first\n"))
		FAILED("no echo on the second attempt");
	if (connect(fd, &unspec, sizeof unspec) < 0)
		FAILED("AF_UNSPEC on the connection: %s", ename(errno));
	if ((e = try_connect(fd, setup.echo)) != 0)
		FAILED("connect after dissolving the connection: %s", ename(e));
	if (!echo_roundtrip(fd, fd, "second\n"))
		FAILED("no echo on the third attempt");
	passed(res);
out:
	close(fd);
}

/* --- socket() (seed 003) ------------------------------------------------ */

static void case_socket_types(struct result *res)
{
	int fd, v = 0;
	socklen_t len = sizeof v;

	if ((fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_TLS)) >= 0 || errno != EPROTONOSUPPORT)
		FAILED("SOCK_DGRAM: %s", fd >= 0 ? "created" : ename(errno));
	if ((fd = socket(AF_UNIX, SOCK_STREAM, IPPROTO_TLS)) >= 0 || errno != EAFNOSUPPORT)
		FAILED("AF_UNIX: %s", fd >= 0 ? "created" : ename(errno));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TLS);
	if (fd < 0)
		FAILED("socket: %s", ename(errno));
	if (!(fcntl(fd, F_GETFL) & O_NONBLOCK) || !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
		FAILED("SOCK_NONBLOCK | SOCK_CLOEXEC not applied");
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) < 0 || v != IPPROTO_TLS)
		FAILED("SO_PROTOCOL %d", v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM)
		FAILED("SO_TYPE %d", v);
	close(fd);
	if ((fd = socket(AF_HOSTNAME, SOCK_STREAM, IPPROTO_TLS)) < 0)
		FAILED("AF_HOSTNAME: %s", ename(errno));
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_HOSTNAME)
		FAILED("SO_DOMAIN %d", v);
	passed(res);
out:
	if (fd >= 0)
		close(fd);
}

static void case_af_hostname(struct result *res)
{
	struct sockaddr_host h = { .sh_family = AF_HOSTNAME, .sh_port = htons((uint16_t)setup.echo) };
	int fd = socket(AF_HOSTNAME, SOCK_STREAM, IPPROTO_TLS);

	strcpy(h.sh_name, "localhost");
	if (connect(fd, (struct sockaddr *)&h, sizeof h) < 0)
		FAILED("AF_HOSTNAME localhost: %s", ename(errno));
	if (!echo_roundtrip(fd, fd, "by name\n"))
		FAILED("no echo");
	passed(res);
out:
	close(fd);
}

static void case_options(struct result *res)
{
	int fd = tls_socket(0, "localhost"), v, e;
	socklen_t len = sizeof v;

	if (getsockopt(fd, IPPROTO_TLS, TLS_CHOSEN_VERSION, &v, &len) == 0 || errno != ENOTCONN)
		FAILED("TLS_CHOSEN_VERSION before connect: %s", ename(errno));
	if (getsockopt(fd, IPPROTO_TLS, 199, &v, &len) == 0 || errno != ENOPROTOOPT)
		FAILED("unknown option: %s", ename(errno));
	if ((e = try_connect(fd, setup.echo)) != 0)
		FAILED("connect: %s", ename(e));
	if (setsockopt(fd, IPPROTO_TLS, TLS_HOSTNAME, "other", 6) == 0 || errno != EOPNOTSUPP)
		FAILED("TLS_HOSTNAME after connect: %s", ename(errno));
	len = sizeof v;
	if (getsockopt(fd, IPPROTO_TLS, TLS_CHOSEN_VERSION, &v, &len) < 0 || v < TLS_1_2)
		FAILED("TLS_CHOSEN_VERSION after connect: %s %d", ename(errno), v);
	passed(res);
out:
	close(fd);
}

static void case_getaddrinfo(struct result *res)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TLS };
	struct addrinfo *ai = NULL;
	int r = getaddrinfo(setup.host, "443", &hints, &ai);

	if (r != 0)
		FAILED("getaddrinfo with IPPROTO_TLS: %s", gai_strerror(r));
	if (ai->ai_protocol != IPPROTO_TLS)
		FAILED("ai_protocol %d", ai->ai_protocol);
	passed(res);
out:
	if (ai)
		freeaddrinfo(ai);
}

/* --- after connect ------------------------------------------------------ */

static void case_shutdown_wr(struct result *res)
{
	char buf[64];
	ssize_t n;
	int err, fd = connected(setup.echo, 0, &err);

	if (fd < 0)
		FAILED("connect: %s", ename(err));
	if (!write_all(fd, "half", 4) || shutdown(fd, SHUT_WR) < 0)
		FAILED("write/shutdown: %s", ename(errno));
	/* The server answers after our close_notify: the read side lives on. */
	n = read_some(fd, buf, sizeof buf - 1);
	if (n < 0)
		FAILED("read after shutdown: %s", ename((int)-n));
	buf[n] = '\0';
	if (strcmp(buf, "halfEND 4\n") != 0)
		FAILED("read '%s', expected the echo, the server's reply to close_notify, then EOF", buf);
	passed(res);
out:
	if (fd >= 0)
		close(fd);
}

static void case_truncation(struct result *res)
{
	char buf[16384];
	size_t total = 0;
	ssize_t n;
	int err, fd = connected(setup.truncate, 0, &err);

	if (fd < 0)
		FAILED("connect: %s", ename(err));
	while ((n = read_once(fd, buf, sizeof buf)) > 0)
		total += (size_t)n;
	if (n != -ECONNRESET)
		FAILED("end of a truncated stream: %s after %zu bytes", n == 0 ? "EOF" : ename((int)-n), total);
	if (total != 8000)
		FAILED("%zu bytes before the reset, expected 8000", total);
	passed(res);
out:
	if (fd >= 0)
		close(fd);
}

/* The last line of the sink's report, waiting up to 10 s for `want`. */
static bool sink_reported(const char *want)
{
	char line[256], last[256] = "";

	for (int i = 0; i < 100; i++) {
		FILE *f = fopen(setup.sink_report, "r");
		if (f) {
			while (fgets(line, sizeof line, f))
				strcpy(last, line);
			fclose(f);
			if (strstr(last, want))
				return true;
		}
		usleep(100000);
	}
	return false;
}

static void case_close_delivers(struct result *res)
{
	static char data[1 << 20];
	char want[64];
	int err, fd = connected(setup.sink, 0, &err);

	if (fd < 0)
		FAILED("connect: %s", ename(err));
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)('a' + i % 26);
	if (!write_all(fd, data, sizeof data))
		FAILED("write: %s", ename(errno));
	close(fd); /* at once: the data and close_notify must still arrive */
	fd = -1;
	snprintf(want, sizeof want, "%zu ", sizeof data);
	if (!sink_reported(want))
		FAILED("the server did not report receiving %zu bytes", sizeof data);
	passed(res);
out:
	if (fd >= 0)
		close(fd);
}

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void case_epipe(struct result *res)
{
	struct sigaction sa = { .sa_handler = on_sigpipe }, old;
	char buf[16384];
	ssize_t n;
	int err, fd = connected(setup.truncate, 0, &err);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, &old);
	sigpipes = 0;
	if (fd < 0)
		FAILED("connect: %s", ename(err));
	while ((n = read_once(fd, buf, sizeof buf)) > 0)
		;
	if (send(fd, "x", 1, MSG_NOSIGNAL) >= 0 || errno != EPIPE || sigpipes)
		FAILED("send with MSG_NOSIGNAL after the peer went: %s, %d SIGPIPE", ename(errno), (int)sigpipes);
	if (write(fd, "x", 1) >= 0 || errno != EPIPE || sigpipes != 1)
		FAILED("write after the peer went: %s, %d SIGPIPE", ename(errno), (int)sigpipes);
	passed(res);
out:
	sigaction(SIGPIPE, &old, NULL);
	if (fd >= 0)
		close(fd);
}

static void case_timeouts(struct result *res)
{
	struct timeval tv = { .tv_usec = 200000 };
	static char chunk[65536];
	size_t sent = 0;
	int64_t t0;
	char c;
	int err, fd = connected(setup.noread, 0, &err);

	if (fd < 0)
		FAILED("connect: %s", ename(err));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
		FAILED("setsockopt: %s", ename(errno));
	t0 = now_ms();
	if (read(fd, &c, 1) >= 0 || errno != EAGAIN)
		FAILED("read from a silent peer with SO_RCVTIMEO: %s", ename(errno));
	if (now_ms() - t0 < 150)
		FAILED("SO_RCVTIMEO fired after %lld ms", (long long)(now_ms() - t0));
	/* The peer never reads: the buffers fill, then writes time out. */
	for (;;) {
		ssize_t n = write(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			FAILED("write: %s", ename(errno));
		sent += (size_t)n;
		if (sent > (256u << 20))
			FAILED("256 MiB written to a peer that does not read");
	}
	passed(res);
out:
	if (fd >= 0)
		close(fd);
}

static void case_addresses(struct result *res)
{
	struct sockaddr_in peer, local;
	socklen_t len = sizeof peer;
	char line[128] = "", ip[64];
	unsigned port = 0;
	int err, fd = connected(setup.info, 0, &err);

	if (fd < 0)
		FAILED("connect: %s", ename(err));
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
		FAILED("getpeername: %s", ename(errno));
	if (peer.sin_family != AF_INET || ntohs(peer.sin_port) != setup.info)
		FAILED("getpeername gives port %u, not the server's %d", ntohs(peer.sin_port), setup.info);
	len = sizeof local;
	if (getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		FAILED("getsockname: %s", ename(errno));
	for (size_t i = 0; i < sizeof line - 1; i++) {
		if (read_some(fd, line + i, 1) != 1)
			FAILED("no info line from the server");
		if (line[i] == '\n') {
			line[i + 1] = '\0';
			break;
		}
	}
	if (sscanf(line, "peer %63s %u", ip, &port) != 2)
		FAILED("bad info line '%s'", line);
	if (ntohs(local.sin_port) != port)
		FAILED("getsockname gives port %u, the server sees the client at %u", ntohs(local.sin_port), port);
	/* A socket bound before listen() or connect(): its bound address. */
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	local = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof local) < 0)
		FAILED("bind: %s", ename(errno));
	len = sizeof local;
	memset(&local, 0, sizeof local);
	if (getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		FAILED("getsockname of a bound socket: %s", ename(errno));
	if (local.sin_addr.s_addr != htonl(INADDR_LOOPBACK) || local.sin_port == 0)
		FAILED("getsockname of a socket bound to 127.0.0.1 gives %s:%u", inet_ntoa(local.sin_addr),
		       ntohs(local.sin_port));
	passed(res);
out:
	if (fd >= 0)
		close(fd);
}

static void case_dup_fork(struct result *res)
{
	int err, fd = connected(setup.echo, 0, &err), d = -1, status;
	pid_t pid;

	if (fd < 0)
		FAILED("connect: %s", ename(err));
	d = dup(fd);
	if (!echo_roundtrip(d, fd, "through a dup\n"))
		FAILED("dup: no echo");
	if (dup2(fd, 100) != 100 || !echo_roundtrip(100, fd, "through dup2\n"))
		FAILED("dup2: no echo");
	close(100);
	pid = fork();
	if (pid == 0)
		_exit(write_all(fd, "from the child\n", 15) ? 0 : 1);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
		FAILED("the child could not write");
	{
		char buf[32];
		if (read_some(fd, buf, 15) != 15 || memcmp(buf, "from the child\n", 15) != 0)
			FAILED("the child's data did not come back");
	}
	passed(res);
out:
	if (d >= 0)
		close(d);
	if (fd >= 0)
		close(fd);
}

static void case_exec(struct result *res)
{
	int err, fd = connected(setup.echo, 0, &err), out[2] = { -1, -1 }, status;
	char buf[64];
	ssize_t n;
	pid_t pid;

	if (fd < 0)
		FAILED("connect: %s", ename(err));
	if (pipe(out) < 0)
		FAILED("pipe: %s", ename(errno));
	pid = fork();
	if (pid == 0) {
		/* A program without the shim uses the descriptor as fd 3. */
		dup2(fd, 3);
		dup2(out[1], 1);
		unsetenv("LD_PRELOAD");
		execl("/bin/sh", "sh", "-c", "printf 'exec\\n' >&3 && head -c 5 <&3", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	out[1] = -1;
	n = read_some(out[0], buf, 5);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
		FAILED("the exec'd shell failed");
	if (n != 5 || memcmp(buf, "exec\n", 5) != 0)
		FAILED("the exec'd program did not read its echo");
	passed(res);
out:
	for (int i = 0; i < 2; i++)
		if (out[i] >= 0)
			close(out[i]);
	if (fd >= 0)
		close(fd);
}

/* --- the table ---------------------------------------------------------- */

static void na_unix(struct result *res)
{
	set_result(res, NA, "AF_UNIX path error: an IPPROTO_TLS socket takes no AF_UNIX address (EAFNOSUPPORT, case eafnosupport)");
}

static void na_resources(struct result *res)
{
	set_result(res, NA, "resource exhaustion cannot be provoked deterministically; reported as it happens");
}

static void na_route(struct result *res)
{
	set_result(res, NA, "needs a peer with no route or a down interface, which a test may not send to; "
			    "connect(2)'s errno is passed on as for ECONNREFUSED");
}

static void na_local_address(struct result *res)
{
	set_result(res, NA, "the helper connects from an ephemeral port of its own: no local address "
			    "of the application is involved");
}

static void na_md5(struct result *res)
{
	set_result(res, NA, "TCP_MD5SIG does not apply: the application's TCP options do not reach the peer's connection");
}

static void na_socket_ecanceled(struct result *res)
{
	set_result(res, NA, "socket() does not involve the helper; an unreachable helper shows at connect() (case ecanceled)");
}

static void na_broadcast(struct result *res)
{
	set_result(res, NA, "a broadcast peer is refused with EINVAL as seed 002 says (case einval-multicast); "
			    "EACCES is the policy's refusal (case eacces)");
}

struct tcase {
	const char *name;
	void (*run)(struct result *);
	struct result result;
	bool done;
};

static struct tcase cases[] = {
	{ "ebadf", case_ebadf },
	{ "enotsock", case_enotsock },
	{ "eafnosupport", case_eafnosupport },
	{ "einval-addrlen", case_einval_addrlen },
	{ "einval-no-hostname", case_einval_no_hostname },
	{ "einval-multicast", case_einval_multicast },
	{ "efault", case_efault },
	{ "eopnotsupp-listening", case_eopnotsupp_listening },
	{ "listen-errors", case_listen_errors },
	{ "listen-accept", case_listen_accept },
	{ "eisconn", case_eisconn },
	{ "ebadfd", case_ebadfd },
	{ "eproto", case_eproto },
	{ "econnrefused", case_econnrefused },
	{ "econnreset", case_econnreset },
	{ "etimedout", case_etimedout },
	{ "eacces", case_eacces },
	{ "ehostunreach", case_ehostunreach },
	{ "ecanceled", case_ecanceled },
	{ "econnaborted", case_econnaborted },
	{ "nonblocking-poll", case_nonblocking_poll },
	{ "nonblocking-fcntl", case_nonblocking_fcntl },
	{ "nonblocking-select", case_nonblocking_select },
	{ "nonblocking-epoll-lt", case_nonblocking_epoll_lt },
	{ "nonblocking-epoll-et", case_nonblocking_epoll_et },
	{ "nonblocking-eproto", case_nonblocking_eproto },
	{ "eintr", case_eintr },
	{ "bsd-example-loop", case_bsd_example_loop },
	{ "af-unspec", case_af_unspec },
	{ "socket-types", case_socket_types },
	{ "af-hostname", case_af_hostname },
	{ "options", case_options },
	{ "getaddrinfo", case_getaddrinfo },
	{ "shutdown-wr", case_shutdown_wr },
	{ "truncation", case_truncation },
	{ "close-delivers", case_close_delivers },
	{ "epipe", case_epipe },
	{ "timeouts", case_timeouts },
	{ "addresses", case_addresses },
	{ "dup-fork", case_dup_fork },
	{ "exec", case_exec },
	{ "n/a-unix", na_unix },
	{ "n/a-resources", na_resources },
	{ "n/a-route", na_route },
	{ "n/a-local-address", na_local_address },
	{ "n/a-md5", na_md5 },
	{ "n/a-socket-ecanceled", na_socket_ecanceled },
	{ "n/a-broadcast", na_broadcast },
};

/* Every row of every error table, and every rule of SPEC §3, with its case. */
static const struct row {
	const char *row;
	const char *case_name;
} rows[] = {
	{ "000 EBADF", "ebadf" },
	{ "000 EBADFD", "ebadfd" },
	{ "000 ECONNABORTED", "econnaborted" },
	{ "000 EPROTO", "eproto" },
	{ "000 EOPNOTSUPP", "eopnotsupp-listening" },
	{ "000 ENOMEM", "n/a-resources" },
	{ "000 ECANCELED", "ecanceled" },
	{ "001 EADDRNOTAVAIL", "n/a-local-address" },
	{ "001 EAFNOSUPPORT", "eafnosupport" },
	{ "001 EALREADY", "nonblocking-poll" },
	{ "001 EBADF", "ebadf" },
	{ "001 ECONNREFUSED", "econnrefused" },
	{ "001 EINPROGRESS", "nonblocking-poll" },
	{ "001 EINTR", "eintr" },
	{ "001 EISCONN", "eisconn" },
	{ "001 ENETUNREACH", "n/a-route" },
	{ "001 ENOTSOCK", "enotsock" },
	{ "001 EPROTOTYPE", "n/a-unix" },
	{ "001 ETIMEDOUT", "etimedout" },
	{ "001 EIO (AF_UNIX)", "n/a-unix" },
	{ "001 ELOOP (AF_UNIX)", "n/a-unix" },
	{ "001 ENAMETOOLONG (AF_UNIX)", "n/a-unix" },
	{ "001 ENOENT (AF_UNIX)", "n/a-unix" },
	{ "001 ENOTDIR (AF_UNIX)", "n/a-unix" },
	{ "001 EACCES", "eacces" },
	{ "001 EADDRINUSE", "n/a-local-address" },
	{ "001 ECONNRESET", "econnreset" },
	{ "001 EHOSTUNREACH", "ehostunreach" },
	{ "001 EINVAL", "einval-addrlen" },
	{ "001 ELOOP", "n/a-unix" },
	{ "001 ENAMETOOLONG", "n/a-unix" },
	{ "001 ENETDOWN", "n/a-route" },
	{ "001 ENOBUFS", "n/a-resources" },
	{ "001 EOPNOTSUPP", "eopnotsupp-listening" },
	{ "002 EBADF", "ebadf" },
	{ "002 ENOTSOCK", "enotsock" },
	{ "002 EADDRNOTAVAIL", "n/a-local-address" },
	{ "002 EAFNOSUPPORT", "eafnosupport" },
	{ "002 EISCONN", "eisconn" },
	{ "002 ETIMEDOUT", "etimedout" },
	{ "002 EINVAL", "einval-multicast" },
	{ "002 ECONNREFUSED", "econnrefused" },
	{ "002 EHOSTUNREACH", "ehostunreach" },
	{ "002 EINTR", "eintr" },
	{ "002 ENETUNREACH", "n/a-route" },
	{ "002 EADDRINUSE", "n/a-local-address" },
	{ "002 EFAULT", "efault" },
	{ "002 EINPROGRESS", "nonblocking-poll" },
	{ "002 EALREADY", "eintr" },
	{ "002 EPERM", "n/a-md5" },
	{ "002 ENOTDIR", "n/a-unix" },
	{ "002 ENAMETOOLONG", "n/a-unix" },
	{ "002 ENOENT", "n/a-unix" },
	{ "002 EACCES (search)", "n/a-unix" },
	{ "002 EACCES (write)", "n/a-unix" },
	{ "002 ELOOP", "n/a-unix" },
	{ "002 EPROTOTYPE", "n/a-unix" },
	{ "002 example loop", "bsd-example-loop" },
	{ "003 ECANCELED", "n/a-socket-ecanceled" },
	{ "003 types and domains", "socket-types" },
	{ "004 EBADF", "ebadf" },
	{ "004 EFAULT", "efault" },
	{ "004 ENOTSOCK", "enotsock" },
	{ "004 EISCONN", "eisconn" },
	{ "004 ECONNREFUSED", "econnrefused" },
	{ "004 ETIMEDOUT", "etimedout" },
	{ "004 ENETUNREACH", "n/a-route" },
	{ "004 EADDRINUSE", "n/a-local-address" },
	{ "004 EINPROGRESS", "nonblocking-poll" },
	{ "004 EALREADY", "nonblocking-poll" },
	{ "004 EAFNOSUPPORT", "eafnosupport" },
	{ "004 EACCES", "n/a-broadcast" },
	{ "SPEC §3 EPROTO with TLS_ERROR", "eproto" },
	{ "SPEC §3 EINPROGRESS: writable only after validation (poll)", "nonblocking-poll" },
	{ "SPEC §3 EINPROGRESS: O_NONBLOCK set with fcntl", "nonblocking-fcntl" },
	{ "SPEC §3 EINPROGRESS: select", "nonblocking-select" },
	{ "SPEC §3 EINPROGRESS: epoll level-triggered", "nonblocking-epoll-lt" },
	{ "SPEC §3 EINPROGRESS: epoll edge-triggered", "nonblocking-epoll-et" },
	{ "SPEC §3 SO_ERROR gives EPROTO once", "nonblocking-eproto" },
	{ "SPEC §3 EINTR, attempt goes on", "eintr" },
	{ "SPEC §3 EALREADY / EISCONN / EBADFD", "ebadfd" },
	{ "SPEC §3 EINVAL without host name", "einval-no-hostname" },
	{ "SPEC §3 EACCES by policy", "eacces" },
	{ "SPEC §3 ECANCELED: helper unreachable", "ecanceled" },
	{ "SPEC §3 AF_UNSPEC dissolves", "af-unspec" },
	{ "SPEC §3 AF_HOSTNAME", "af-hostname" },
	{ "SPEC §2 option rules", "options" },
	{ "SPEC §3 getaddrinfo with IPPROTO_TLS", "getaddrinfo" },
	{ "SPEC §3 shutdown(SHUT_WR), peer close_notify is EOF", "shutdown-wr" },
	{ "SPEC §3 truncation is ECONNRESET", "truncation" },
	{ "SPEC §3 close() delivers unsent data", "close-delivers" },
	{ "SPEC §3 EPIPE and SIGPIPE, MSG_NOSIGNAL", "epipe" },
	{ "SPEC §3 SO_RCVTIMEO, SO_SNDTIMEO", "timeouts" },
	{ "SPEC §3 getpeername, getsockname", "addresses" },
	{ "SPEC §3 dup, dup2, fork", "dup-fork" },
	{ "SPEC §3 exec without the shim", "exec" },
	{ "SPEC §3 listen without a chain: EINVAL; mismatched key: EPROTO", "listen-errors" },
	{ "SPEC §3 listen after connect: EOPNOTSUPP", "eopnotsupp-listening" },
	{ "SPEC §3 non-blocking accept, poll, epoll, accept4 flags, getpeername", "listen-accept" },
};

static struct tcase *find_case(const char *name)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (strcmp(cases[i].name, name) == 0)
			return &cases[i];
	return NULL;
}

static int env_port(const char *name)
{
	const char *v = getenv(name);

	return v ? atoi(v) : 0;
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	int failed = 0;

	setup.units = getenv("SSA_CONF_MODE") && strcmp(getenv("SSA_CONF_MODE"), "units") == 0;
	setup.host = getenv("SSA_CONF_HOST") ? getenv("SSA_CONF_HOST") : "127.0.0.1";
	setup.echo = env_port("SSA_CONF_PORT_ECHO");
	setup.delay = env_port("SSA_CONF_PORT_DELAY");
	setup.silent = env_port("SSA_CONF_PORT_SILENT");
	setup.reset = env_port("SSA_CONF_PORT_RESET");
	setup.info = env_port("SSA_CONF_PORT_INFO");
	setup.sink = env_port("SSA_CONF_PORT_SINK");
	setup.noread = env_port("SSA_CONF_PORT_NOREAD");
	setup.truncate = env_port("SSA_CONF_PORT_TRUNCATE");
	setup.wrongname = env_port("SSA_CONF_PORT_WRONGNAME");
	setup.closed = env_port("SSA_CONF_PORT_CLOSED");
	setup.sink_report = getenv("SSA_CONF_SINK_REPORT");
	setup.pki = getenv("SSA_CONF_PKI");
	if (!setup.echo || !setup.delay || !setup.silent || !setup.reset || !setup.info || !setup.sink ||
	    !setup.noread || !setup.truncate || !setup.wrongname || !setup.closed || !setup.sink_report || !setup.pki) {
		fprintf(stderr, "conformance: set SSA_CONF_PORT_*, SSA_CONF_SINK_REPORT and SSA_CONF_PKI "
				"(see tests/conformance.bats)\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tcase *c = &cases[i];
		if (only && strcmp(only, c->name) != 0)
			continue;
		c->run(&c->result);
		c->done = true;
		switch (c->result.verdict) {
		case PASS:
			printf("ok %s\n", c->name);
			break;
		case FAIL:
			printf("not ok %s: %s\n", c->name, c->result.detail);
			failed++;
			break;
		case NA:
			printf("n/a %s: %s\n", c->name, c->result.detail);
			break;
		}
	}
	printf("--- table ---\n| row | case | result |\n|---|---|---|\n");
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct tcase *c = find_case(rows[i].case_name);
		if (!c || !c->done)
			continue;
		printf("| %s | %s | %s%s%s |\n", rows[i].row, c->name,
		       c->result.verdict == PASS ? "pass" : c->result.verdict == FAIL ? "FAIL" : "n/a",
		       c->result.verdict == NA ? ": " : "", c->result.verdict == NA ? c->result.detail : "");
	}
	return failed ? 1 : 0;
}
