/*
 * throughput.c -- bulk-transfer server and clients for bench/relay-throughput.
 *
 * One measurement is the plaintext throughput of a single bulk transfer of
 * N bytes over a validated TLS 1.3 connection on loopback, in one
 * direction: "up" (client -> server) or "down" (server -> client).  All
 * reads and writes use buffers of IO_BUF bytes.
 *
 * Protocol: after the handshake the client sends one line, "up N\n" or
 * "down N\n".  For up it then sends exactly N bytes of application data
 * and the server answers "ok\n" once it has read them all; for down the
 * server sends N bytes.  Either way the server then sends close_notify and
 * waits for the client's (so a run that ends without a clean TLS closure
 * on both sides is an error).
 *
 * Modes:
 *   server PORT CERT KEY     GnuTLS server on 127.0.0.1:PORT (0: any free
 *                            port), TLS 1.3 only, no session tickets,
 *                            TCP_NODELAY, serving connections one after
 *                            another.
 *                            Prints "listening PORT" once it listens and,
 *                            for each connection, "conn K: DIR N VERSION
 *                            CIPHER" as soon as the request line is read
 *                            and "done K" after the closure.
 *                            Any error (handshake, protocol, short
 *                            transfer, missing close_notify) is fatal.
 *   inproc HOST PORT CAFILE DIR N
 *                            in-process GnuTLS client: TLS 1.3 only, SNI
 *                            and verification of "localhost", trust =
 *                            CAFILE, TCP_NODELAY (as the SSA helper's
 *                            network socket).  The reference.
 *   ssa HOST PORT DIR N      socket(AF_INET, SOCK_STREAM, IPPROTO_TLS),
 *                            TLS_HOSTNAME "localhost", connect(), then
 *                            plain write() and read() (no TCP
 *                            options: the program as SPEC.md section 1
 *                            shows); run with libssa-shim linked or
 *                            LD_PRELOADed.
 *
 *   loopback fresh|held DIR N
 *                            no TLS: N bytes over a loopback TCP pair, the
 *                            "application" socket to its "end" (up) or back
 *                            (down), the end's side in a child process.
 *                            "held" first puts the pair through the SSA's
 *                            hold and release (shim/hold.h, helper/hold.h):
 *                            filler beyond the end's SO_RCVBUF in MSG_EOR
 *                            writes, TCP_NOTSENT_LOWAT 1, then the filler
 *                            read and TCP_NOTSENT_LOWAT 0, as the helper
 *                            does.  Says whether the hold costs the
 *                            connection anything afterwards.
 *
 * Client output: one line on stdout, the seconds from just after the
 * handshake (inproc) or after connect() returned (ssa) until "ok\n" was
 * read (up) or until the end of file after the N bytes (down).  The
 * closing exchange after that is not timed.  Any failure (connect,
 * handshake, verification, a byte count other than N, an answer other
 * than "ok\n", no close_notify) is fatal: a message on stderr and exit
 * status 1, never a silent measurement.  Exit status 2 on a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* Values of the SSA API (SPEC.md section 2); defined here so the benchmark
 * builds without the project's <in_tls.h>. */
#ifndef IPPROTO_TLS
#define IPPROTO_TLS 205
#endif
#ifndef TLS_HOSTNAME
#define TLS_HOSTNAME 85
#endif
#ifndef TLS_ERROR
#define TLS_ERROR 100
#endif
#ifndef TLS_CHOSEN_VERSION
#define TLS_CHOSEN_VERSION 113
#endif

#define IO_BUF 65536          /* bytes per write/read and record_send/recv call */
#define IO_TIMEOUT_S 60       /* SO_RCVTIMEO/SO_SNDTIMEO: bound on every wait */
#define MAX_RETRY 100         /* bound on consecutive retries after EINTR */
#define LINE_MAX_LEN 64       /* bound on the request line */
#define MAX_BYTES (1ULL << 50)
#define NAME "localhost"      /* SNI and verification name */
#define PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3"

enum dir { UP, DOWN };

static char iobuf[IO_BUF];

/*
 * die: print "throughput: " plus the formatted message to stderr and exit
 * with status 1.  Never returns.
 */
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("throughput: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* usage: print the synopsis to stderr and exit with status 2. */
static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fputs("usage: throughput server PORT CERT KEY\n"
	      "       throughput inproc HOST PORT CAFILE up|down N\n"
	      "       throughput ssa HOST PORT up|down N\n"
	      "       throughput loopback fresh|held up|down N\n"
	      "Clients print the seconds the transfer of N bytes took.\n",
	      stderr);
	exit(2);
}

/* now_ns: CLOCK_MONOTONIC in nanoseconds.  Fatal if the clock fails. */
static int64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime: %s", strerror(errno));
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * parse_u64: parse a decimal number in [min, max] from s (all of s);
 * what names it in the error message.  Fatal on a bad value.
 */
static uint64_t parse_u64(const char *s, uint64_t min, uint64_t max, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		die("bad %s '%s'", what, s);
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		die("bad %s '%s' (want %llu..%llu)", what, s,
		    (unsigned long long)min, (unsigned long long)max);
	return v;
}

/* parse_dir: "up" or "down".  Fatal otherwise. */
static enum dir parse_dir(const char *s)
{
	if (strcmp(s, "up") == 0)
		return UP;
	if (strcmp(s, "down") == 0)
		return DOWN;
	die("bad direction '%s' (want up or down)", s);
}

/*
 * set_timeouts: SO_RCVTIMEO and SO_SNDTIMEO of IO_TIMEOUT_S on fd, so
 * that no blocking read or write waits forever.  Fatal on failure.
 */
static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
		die("setsockopt(SO_RCVTIMEO/SO_SNDTIMEO): %s", strerror(errno));
}

/*
 * set_nodelay: TCP_NODELAY on fd.  Without it the first record after a
 * TLS 1.3 client's Finished, and a close_notify after a last short
 * record, wait for the peer's delayed ACK (about 40 ms on Linux) inside
 * the timed part.  The SSA helper sets it on its network socket too.
 * Fatal on failure.
 */
static void set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
		die("setsockopt(TCP_NODELAY): %s", strerror(errno));
}

/*
 * inet_addr_of: a sockaddr_in from a numeric IPv4 host and a port string
 * (min_port: 0 to allow "any port").  Fatal on a malformed value.
 */
static struct sockaddr_in inet_addr_of(const char *host, const char *port, uint64_t min_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };

	a.sin_port = htons((uint16_t)parse_u64(port, min_port, 65535, "port"));
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		die("bad IPv4 address '%s'", host);
	return a;
}

/* ---------------------------------------------------------------- GnuTLS */

/*
 * tls_check: fatal with GnuTLS's message if r is a GnuTLS error; what
 * names the call.  Returns r otherwise.
 */
static int tls_check(int r, const char *what)
{
	if (r < 0)
		die("%s: %s", what, gnutls_strerror(r));
	return r;
}

/*
 * tls_session: a session of the given kind (GNUTLS_CLIENT or
 * GNUTLS_SERVER, plus flags) on connected socket fd with credentials
 * cred, TLS 1.3 only.  Handshake not done yet.
 */
static gnutls_session_t tls_session(unsigned flags, int fd,
				    gnutls_certificate_credentials_t cred)
{
	gnutls_session_t s;

	tls_check(gnutls_init(&s, flags), "gnutls_init");
	tls_check(gnutls_priority_set_direct(s, PRIORITY, NULL), "gnutls_priority_set_direct");
	tls_check(gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred), "gnutls_credentials_set");
	gnutls_transport_set_int(s, fd);
	return s;
}

/*
 * tls_handshake: run the handshake of s; fatal on failure, with the
 * verification status when the peer was not validated, and if the result
 * is not TLS 1.3.
 */
static void tls_handshake(gnutls_session_t s)
{
	int r, tries = 0;

	do
		r = gnutls_handshake(s);
	while (r < 0 && gnutls_error_is_fatal(r) == 0 && r != GNUTLS_E_AGAIN && ++tries < MAX_RETRY);
	if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		gnutls_datum_t msg = { NULL, 0 };

		gnutls_certificate_verification_status_print(
			gnutls_session_get_verify_cert_status(s),
			gnutls_certificate_type_get(s), &msg, 0);
		die("handshake: %s: %s", gnutls_strerror(r),
		    msg.data ? (const char *)msg.data : "?");
	}
	if (r == GNUTLS_E_AGAIN)
		die("handshake: no answer within %d s", IO_TIMEOUT_S);
	tls_check(r, "handshake");
	if (gnutls_protocol_get_version(s) != GNUTLS_TLS1_3)
		die("negotiated %s, expected TLS1.3",
		    gnutls_protocol_get_name(gnutls_protocol_get_version(s)));
}

/*
 * tls_send_all: send len bytes of buf as application data.  Fatal on any
 * error (a timeout included).
 */
static void tls_send_all(gnutls_session_t s, const char *buf, size_t len)
{
	int tries = 0;

	while (len > 0) {
		ssize_t n = gnutls_record_send(s, buf, len);

		if (n == GNUTLS_E_INTERRUPTED && ++tries < MAX_RETRY)
			continue;
		if (n == GNUTLS_E_AGAIN)
			die("gnutls_record_send: no progress within %d s", IO_TIMEOUT_S);
		if (n <= 0)
			die("gnutls_record_send: %s", n < 0 ? gnutls_strerror((int)n) : "sent nothing");
		buf += n;
		len -= (size_t)n;
		tries = 0;
	}
}

/*
 * tls_recv: receive up to len bytes of application data into buf.
 * Returns the count, 0 at the peer's close_notify.  Fatal on any error (a
 * timeout, or the TCP connection ending without close_notify, included).
 */
static size_t tls_recv(gnutls_session_t s, char *buf, size_t len)
{
	int tries = 0;
	ssize_t n;

	do
		n = gnutls_record_recv(s, buf, len);
	while (n == GNUTLS_E_INTERRUPTED && ++tries < MAX_RETRY);
	if (n == GNUTLS_E_AGAIN)
		die("gnutls_record_recv: nothing within %d s", IO_TIMEOUT_S);
	if (n < 0)
		die("gnutls_record_recv: %s", gnutls_strerror((int)n));
	return (size_t)n;
}

/*
 * tls_bye: send close_notify (how GNUTLS_SHUT_WR) and also wait for the
 * peer's (GNUTLS_SHUT_RDWR).  Fatal on any error (a timeout included).
 */
static void tls_bye(gnutls_session_t s, gnutls_close_request_t how)
{
	int r, tries = 0;

	do
		r = gnutls_bye(s, how);
	while (r == GNUTLS_E_INTERRUPTED && ++tries < MAX_RETRY);
	if (r == GNUTLS_E_AGAIN)
		die("closure: no close_notify within %d s", IO_TIMEOUT_S);
	tls_check(r, "closure (close_notify)");
}

/* ---------------------------------------------------------------- server */

/*
 * read_request: read the request line "up N\n" or "down N\n" from s into
 * *dir and *n.  Bytes that came after the line in the same records are
 * application data of an upload: their count goes to *extra.  Fatal on a
 * malformed or overlong line.
 */
static void read_request(gnutls_session_t s, enum dir *dir, uint64_t *n, size_t *extra)
{
	size_t have = 0;
	char *nl = NULL, *num;

	while (nl == NULL) {
		size_t got;

		if (have >= LINE_MAX_LEN)
			die("request line longer than %d bytes", LINE_MAX_LEN);
		got = tls_recv(s, iobuf + have, sizeof iobuf - have);
		if (got == 0)
			die("end of file before the request line");
		nl = memchr(iobuf + have, '\n', got);
		have += got;
	}
	*nl = '\0';
	*extra = have - (size_t)(nl + 1 - iobuf);
	if (strncmp(iobuf, "up ", 3) == 0) {
		*dir = UP;
		num = iobuf + 3;
	} else if (strncmp(iobuf, "down ", 5) == 0) {
		*dir = DOWN;
		num = iobuf + 5;
	} else {
		die("bad request line '%.*s'", LINE_MAX_LEN, iobuf);
	}
	*n = parse_u64(num, 0, MAX_BYTES, "byte count in request");
	if (*dir == DOWN && *extra != 0)
		die("%zu bytes after a download request", *extra);
}

/*
 * serve_one: one connection on accepted socket fd (closed by the caller),
 * connection number k: handshake, request, transfer, closure.  Fatal on
 * any error.
 */
static void serve_one(int fd, gnutls_certificate_credentials_t cred, unsigned long k)
{
	gnutls_session_t s;
	enum dir dir;
	uint64_t n, done;
	size_t extra;

	set_timeouts(fd);
	set_nodelay(fd);
	s = tls_session(GNUTLS_SERVER | GNUTLS_NO_TICKETS, fd, cred);
	tls_handshake(s);
	read_request(s, &dir, &n, &extra);
	printf("conn %lu: %s %llu %s %s\n", k, dir == UP ? "up" : "down",
	       (unsigned long long)n, gnutls_protocol_get_name(gnutls_protocol_get_version(s)),
	       gnutls_cipher_get_name(gnutls_cipher_get(s)));
	if (fflush(stdout) != 0)
		die("writing the log: %s", strerror(errno));

	if (dir == UP) {
		done = extra;
		while (done < n) {
			size_t got = tls_recv(s, iobuf, sizeof iobuf);

			if (got == 0)
				die("conn %lu: end of file after %llu of %llu bytes", k,
				    (unsigned long long)done, (unsigned long long)n);
			done += got;
		}
		if (done != n)
			die("conn %lu: %llu bytes, more than the %llu announced", k,
			    (unsigned long long)done, (unsigned long long)n);
		tls_send_all(s, "ok\n", 3);
	} else {
		memset(iobuf, 'd', sizeof iobuf);
		for (done = 0; done < n; ) {
			size_t chunk = n - done < sizeof iobuf ? (size_t)(n - done) : sizeof iobuf;

			tls_send_all(s, iobuf, chunk);
			done += chunk;
		}
	}
	/* close_notify, then the client's: a clean end on both sides. */
	tls_bye(s, GNUTLS_SHUT_RDWR);
	gnutls_deinit(s);
}

/*
 * run_server: listen on 127.0.0.1:port with the chain cert and key key,
 * print "listening PORT", serve connections one after another forever.
 */
static void run_server(const char *port, const char *cert, const char *key)
{
	struct sockaddr_in a = inet_addr_of("127.0.0.1", port, 0);
	gnutls_certificate_credentials_t cred;
	socklen_t len = sizeof a;
	unsigned long k;
	int lfd, one = 1;

	tls_check(gnutls_certificate_allocate_credentials(&cred), "gnutls_certificate_allocate_credentials");
	tls_check(gnutls_certificate_set_x509_key_file(cred, cert, key, GNUTLS_X509_FMT_PEM),
		  "loading the certificate chain and key");

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket: %s", strerror(errno));
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
		die("setsockopt(SO_REUSEADDR): %s", strerror(errno));
	if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0)
		die("bind 127.0.0.1:%s: %s", port, strerror(errno));
	if (listen(lfd, 16) != 0)
		die("listen: %s", strerror(errno));
	if (getsockname(lfd, (struct sockaddr *)&a, &len) != 0)
		die("getsockname: %s", strerror(errno));
	printf("listening %u\n", ntohs(a.sin_port));
	if (fflush(stdout) != 0)
		die("writing the log: %s", strerror(errno));

	for (k = 1;; k++) {
		int fd, tries = 0;

		do
			fd = accept(lfd, NULL, NULL);
		while (fd < 0 && errno == EINTR && ++tries < MAX_RETRY);
		if (fd < 0)
			die("accept: %s", strerror(errno));
		serve_one(fd, cred, k);
		if (close(fd) != 0)
			die("close: %s", strerror(errno));
		printf("done %lu\n", k);
		if (fflush(stdout) != 0)
			die("writing the log: %s", strerror(errno));
	}
}

/* ---------------------------------------------------------------- clients */

/*
 * report: print the seconds between t0 and t1 (ns) on stdout.  Fatal if
 * the output cannot be written.
 */
static void report(int64_t t0, int64_t t1)
{
	if (printf("%.6f\n", (double)(t1 - t0) / 1e9) < 0 || fflush(stdout) != 0)
		die("writing the result: %s", strerror(errno));
}

/*
 * request_line: the line "up N\n" or "down N\n" in buf (size len).
 * Returns its length.
 */
static size_t request_line(char *buf, size_t len, enum dir dir, uint64_t n)
{
	int w = snprintf(buf, len, "%s %llu\n", dir == UP ? "up" : "down", (unsigned long long)n);

	if (w < 0 || (size_t)w >= len)
		die("request line does not fit");
	return (size_t)w;
}

/*
 * run_inproc: the transfer with GnuTLS in this process, to host:port,
 * trusting cafile.  Prints the seconds; fatal on any failure.
 */
static void run_inproc(const char *host, const char *port, const char *cafile,
		       enum dir dir, uint64_t n)
{
	struct sockaddr_in a = inet_addr_of(host, port, 1);
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	char line[LINE_MAX_LEN], ok[4];
	uint64_t done = 0;
	int64_t t0, t1;
	size_t got;
	int fd, r;

	tls_check(gnutls_certificate_allocate_credentials(&cred), "gnutls_certificate_allocate_credentials");
	r = tls_check(gnutls_certificate_set_x509_trust_file(cred, cafile, GNUTLS_X509_FMT_PEM),
		      "loading the CA file");
	if (r == 0)
		die("CA file %s holds no certificate", cafile);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	set_timeouts(fd);
	set_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		die("connect to %s:%s: %s", host, port, strerror(errno));
	s = tls_session(GNUTLS_CLIENT, fd, cred);
	tls_check(gnutls_server_name_set(s, GNUTLS_NAME_DNS, NAME, strlen(NAME)), "gnutls_server_name_set");
	gnutls_session_set_verify_cert(s, NAME, 0);
	tls_handshake(s);

	t0 = now_ns();
	tls_send_all(s, line, request_line(line, sizeof line, dir, n));
	if (dir == UP) {
		size_t have = 0;

		memset(iobuf, 'u', sizeof iobuf);
		while (done < n) {
			size_t chunk = n - done < sizeof iobuf ? (size_t)(n - done) : sizeof iobuf;

			tls_send_all(s, iobuf, chunk);
			done += chunk;
		}
		while (have < 3) {
			got = tls_recv(s, ok + have, 3 - have);
			if (got == 0)
				die("end of file before the server's \"ok\"");
			have += got;
		}
		t1 = now_ns();
		if (memcmp(ok, "ok\n", 3) != 0)
			die("server answered '%.3s', expected \"ok\"", ok);
		if ((got = tls_recv(s, iobuf, sizeof iobuf)) != 0)
			die("%zu bytes after the server's \"ok\"", got);
	} else {
		while ((got = tls_recv(s, iobuf, sizeof iobuf)) > 0) {
			done += got;
			if (done > n)
				break;
		}
		t1 = now_ns();
		if (done != n)
			die("received %s%llu bytes, expected %llu", done > n ? "at least " : "",
			    (unsigned long long)done, (unsigned long long)n);
	}
	/* The server's close_notify has been read; send ours. */
	tls_bye(s, GNUTLS_SHUT_WR);
	gnutls_deinit(s);
	if (close(fd) != 0)
		die("close: %s", strerror(errno));
	gnutls_certificate_free_credentials(cred);
	report(t0, t1);
}

/*
 * write_all: write len bytes of buf to plaintext socket fd.  Fatal on any
 * error (a timeout included).
 */
static void write_all(int fd, const char *buf, size_t len)
{
	int tries = 0;

	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR && ++tries < MAX_RETRY)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			die("write: no progress within %d s", IO_TIMEOUT_S);
		if (n <= 0)
			die("write: %s", n < 0 ? strerror(errno) : "wrote nothing");
		buf += n;
		len -= (size_t)n;
		tries = 0;
	}
}

/*
 * read_some: read up to len bytes from plaintext socket fd into buf.
 * Returns the count, 0 at end of file.  Fatal on any error (ECONNRESET:
 * the peer ended without close_notify; a timeout).
 */
static size_t read_some(int fd, char *buf, size_t len)
{
	int tries = 0;
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR && ++tries < MAX_RETRY);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		die("read: nothing within %d s", IO_TIMEOUT_S);
	if (n < 0)
		die("read: %s", strerror(errno));
	return (size_t)n;
}

/*
 * run_ssa: the transfer through the SSA to host:port: IPPROTO_TLS socket,
 * TLS_HOSTNAME, connect(), then plain write() and read().  Prints the
 * seconds; fatal on any failure, with the SSA's TLS_ERROR reason for a
 * failed connect().
 */
static void run_ssa(const char *host, const char *port, enum dir dir, uint64_t n)
{
	struct sockaddr_in a = inet_addr_of(host, port, 1);
	char line[LINE_MAX_LEN], ok[4];
	uint64_t done = 0;
	int64_t t0, t1;
	size_t got;
	int fd, v = -1;
	socklen_t len;

	fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	if (fd < 0)
		die("socket(AF_INET, SOCK_STREAM, IPPROTO_TLS): %s (is libssa-shim linked or preloaded?)",
		    strerror(errno));
	if (setsockopt(fd, IPPROTO_TLS, TLS_HOSTNAME, NAME, sizeof NAME) != 0)
		die("setsockopt(TLS_HOSTNAME, %s): %s", NAME, strerror(errno));
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		int e = errno;
		char why[512] = "";

		len = sizeof why - 1;
		if (getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len) != 0)
			why[0] = '\0';
		why[sizeof why - 1] = '\0';
		die("connect to %s:%s: %s%s%s", host, port, strerror(e), why[0] ? ": " : "", why);
	}
	set_timeouts(fd);

	t0 = now_ns();
	write_all(fd, line, request_line(line, sizeof line, dir, n));
	if (dir == UP) {
		size_t have = 0;

		memset(iobuf, 'u', sizeof iobuf);
		while (done < n) {
			size_t chunk = n - done < sizeof iobuf ? (size_t)(n - done) : sizeof iobuf;

			write_all(fd, iobuf, chunk);
			done += chunk;
		}
		while (have < 3) {
			got = read_some(fd, ok + have, 3 - have);
			if (got == 0)
				die("end of file before the server's \"ok\"");
			have += got;
		}
		t1 = now_ns();
		if (memcmp(ok, "ok\n", 3) != 0)
			die("server answered '%.3s', expected \"ok\"", ok);
		if ((got = read_some(fd, iobuf, sizeof iobuf)) != 0)
			die("%zu bytes after the server's \"ok\"", got);
	} else {
		while ((got = read_some(fd, iobuf, sizeof iobuf)) > 0) {
			done += got;
			if (done > n)
				break;
		}
		t1 = now_ns();
		if (done != n)
			die("received %s%llu bytes, expected %llu", done > n ? "at least " : "",
			    (unsigned long long)done, (unsigned long long)n);
	}

	/* Not timed: the negotiated version, as the SSA reports it. */
	len = sizeof v;
	if (getsockopt(fd, IPPROTO_TLS, TLS_CHOSEN_VERSION, &v, &len) != 0)
		fprintf(stderr, "throughput: note: TLS_CHOSEN_VERSION: %s\n", strerror(errno));
	else if (v != 3)
		die("TLS_CHOSEN_VERSION is %d, expected 3 (TLS 1.3)", v);
	/* The server's close_notify read as end of file; close() sends ours. */
	if (close(fd) != 0)
		die("close: %s", strerror(errno));
	report(t0, t1);
}

/* hold_and_release: the hold of shim/hold.c and its release by
 * helper/hold.c, on the pair app -> end.  Fatal if it does not hold. */
static void hold_and_release(int app, int end)
{
	int rcvbuf = 0, unsent = 0, one = 1, zero = 0;
	socklen_t len = sizeof rcvbuf;
	uint64_t filler = 0, target;

	if (getsockopt(end, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) != 0)
		die("getsockopt(SO_RCVBUF): %s", strerror(errno));
	target = (uint64_t)rcvbuf + 65536;
	memset(iobuf, 0, sizeof iobuf);
	while (filler < target) {
		size_t chunk = target - filler < sizeof iobuf ? (size_t)(target - filler) : sizeof iobuf;
		ssize_t n = send(app, iobuf, chunk, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_EOR);

		if (n > 0)
			filler += (uint64_t)n;
		else if (n < 0 && errno == EAGAIN)
			break;
		else
			die("filler: %s", n < 0 ? strerror(errno) : "wrote nothing");
	}
	if (setsockopt(app, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &one, sizeof one) != 0 ||
	    ioctl(app, SIOCOUTQNSD, &unsent) != 0)
		die("hold: %s", strerror(errno));
	if (unsent <= 0)
		die("hold: no filler stayed unsent (%llu written)", (unsigned long long)filler);
	while (filler > 0) {
		size_t got = read_some(end, iobuf, filler < sizeof iobuf ? (size_t)filler : sizeof iobuf);

		if (got == 0)
			die("release: end of file in the filler");
		filler -= got;
	}
	if (setsockopt(app, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &zero, sizeof zero) != 0)
		die("release: %s", strerror(errno));
}

/*
 * run_loopback: N bytes over a fresh loopback TCP pair, or one that was
 * held and released first; the receiving side in a child.  Prints the
 * seconds from the first byte sent until the receiver read all N (it
 * answers one byte).  Fatal on any failure.
 */
static void run_loopback(bool held, enum dir dir, uint64_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), app, end, from, to, status;
	int64_t t0, t1;
	uint64_t done = 0;
	char ack;
	pid_t pid;

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) != 0)
		die("loopback listener: %s", strerror(errno));
	app = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (app < 0 || connect(app, (struct sockaddr *)&a, sizeof a) != 0 || (end = accept(l, NULL, NULL)) < 0)
		die("loopback pair: %s", strerror(errno));
	close(l);
	set_timeouts(app);
	set_timeouts(end);
	if (held)
		hold_and_release(app, end);
	from = dir == UP ? app : end;
	to = dir == UP ? end : app;
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(from);
		while (done < n) {
			size_t got = read_some(to, iobuf, sizeof iobuf);
			if (got == 0)
				die("receiver: end of file after %llu bytes", (unsigned long long)done);
			done += got;
		}
		write_all(to, "k", 1);
		_exit(0);
	}
	close(to);
	memset(iobuf, 'l', sizeof iobuf);
	t0 = now_ns();
	while (done < n) {
		size_t chunk = n - done < sizeof iobuf ? (size_t)(n - done) : sizeof iobuf;
		write_all(from, iobuf, chunk);
		done += chunk;
	}
	if (read_some(from, &ack, 1) != 1)
		die("no answer from the receiver");
	t1 = now_ns();
	close(from);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("the receiver failed");
	report(t0, t1);
}

/*
 * main: dispatch on the mode (see the header comment).  Exit status 0 on
 * success, 1 on any failure, 2 on a usage error.
 */
int main(int argc, char **argv)
{
	const char *mode;

	if (argc < 2)
		usage();
	mode = argv[1];
	argc -= 2;
	argv += 2;

	/* A peer that goes away must give an error from write(), not kill us. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die("signal: %s", strerror(errno));
	if (strcmp(mode, "ssa") != 0 && strcmp(mode, "loopback") != 0)
		tls_check(gnutls_global_init(), "gnutls_global_init");

	if (strcmp(mode, "server") == 0 && argc == 3)
		run_server(argv[0], argv[1], argv[2]);
	else if (strcmp(mode, "inproc") == 0 && argc == 5)
		run_inproc(argv[0], argv[1], argv[2], parse_dir(argv[3]),
			   parse_u64(argv[4], 0, MAX_BYTES, "byte count"));
	else if (strcmp(mode, "ssa") == 0 && argc == 4)
		run_ssa(argv[0], argv[1], parse_dir(argv[2]),
			parse_u64(argv[3], 0, MAX_BYTES, "byte count"));
	else if (strcmp(mode, "loopback") == 0 && argc == 3 &&
		 (strcmp(argv[0], "fresh") == 0 || strcmp(argv[0], "held") == 0))
		run_loopback(strcmp(argv[0], "held") == 0, parse_dir(argv[1]),
			     parse_u64(argv[2], 0, MAX_BYTES, "byte count"));
	else
		usage();
	if (strcmp(mode, "ssa") != 0 && strcmp(mode, "loopback") != 0)
		gnutls_global_deinit();
	return 0;
}
