/*
 * latency-client.c -- connect-to-ready latency sampler for the SSA benchmark.
 *
 * One sample ("connect-to-ready") is the time from just before socket()
 * until one byte has been written over a validated TLS connection and its
 * echo has been read back (from `gnutls-serv --echo`).  The connection is
 * then closed; closing is not part of the sample.
 *
 * Modes:
 *   inproc HOST PORT CAFILE   in-process GnuTLS client: trust = CAFILE,
 *                             loaded once before the loop; SNI and
 *                             certificate verification against the name
 *                             given with -H; TLS 1.2-1.3.  The reference.
 *   inproc-forked HOST PORT CAFILE
 *                             the same client, but each connection is made
 *                             by a child forked ahead of it (after the
 *                             previous sample, with the trust anchors
 *                             loaded once in the parent), woken over a
 *                             pipe; the sample runs from the wake-up to the
 *                             child's echo, and the child exits after it.
 *                             What one process per connection costs
 *                             (SPEC §5) without anything else of the SSA.
 *   ssa HOST PORT             plain socket calls with IPPROTO_TLS and
 *                             TLS_HOSTNAME; the TLS work is done by the SSA
 *                             (run with libssa-shim linked or LD_PRELOADed).
 *   plain-unix PATH           plain connect to a unix socket (a per-
 *                             connection TLS relay such as stunnel in front
 *                             of the TLS server).
 *
 * Options:
 *   -n N        measured samples (default 300)
 *   -w W        warm-up connections done first and not reported (default 3)
 *   -H NAME     name for SNI and verification (default "localhost")
 *   -N          set TCP_NODELAY on the application's socket before connect
 *               (inproc, ssa; for ssa the SSA forwards it to the network
 *               side).  Without it a TLS 1.3 client whose Finished and
 *               first record go out as two small segments waits for the
 *               server's delayed ACK (about 40 ms on Linux).
 *   -R          resumed connections (inproc, ssa): inproc keeps the
 *               session (a TLS 1.3 ticket) of each connection and offers it
 *               on the next; ssa leaves it to the SSA (TLS_SESSION_REUSE is
 *               on by default).  Every connection but the first must be
 *               resumed (TLS_RESUMED_SESSION for ssa), or the run fails.
 *
 * Output: N lines on stdout, one latency per sample in microseconds.
 * Any failure (socket, connect, handshake, verification, short echo) is
 * fatal: a message on stderr and exit status 1, never a silent sample.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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
#ifndef TLS_RESUMED_SESSION
#define TLS_RESUMED_SESSION 109
#endif

#define IO_TIMEOUT_MS 10000   /* bound on every wait for the peer */
#define MAX_SAMPLES 1000000L  /* bound on -n and -w */
#define MAX_RETRY 100         /* bound on retries after EINTR / EAGAIN */
#define ECHO_BYTE '\n' /* gnutls-serv --echo answers once it sees a newline */

/* Settings shared by all modes, filled in by main() from the command line. */
struct config {
	const char *mode;        /* "inproc", "inproc-forked", "ssa" or "plain-unix" */
	const char *name;        /* SNI / verification name */
	int nodelay;             /* -N: set TCP_NODELAY before connect */
	int resume;              /* -R: every connection after the first resumed */
	struct sockaddr_in in;   /* TCP peer (inproc, ssa) */
	struct sockaddr_un un;   /* unix peer (plain-unix) */
	gnutls_certificate_credentials_t cred; /* inproc only */
};

/*
 * die: print "latency-client: " plus the formatted message to stderr and
 * exit with status 1.  Never returns.
 */
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("latency-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
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
 * parse_count: parse a decimal count in [min, MAX_SAMPLES] from string s;
 * what names the option in the error message.  Fatal on a bad value.
 */
static long parse_count(const char *s, long min, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > MAX_SAMPLES)
		die("bad %s '%s' (want %ld..%ld)", what, s, min, MAX_SAMPLES);
	return v;
}

/*
 * echo_plain: on a connected stream socket fd carrying plaintext, write
 * one byte and read one byte back, waiting at most IO_TIMEOUT_MS for it.
 * Fatal on any error, timeout, end of file or a wrong byte.
 */
static void echo_plain(int fd)
{
	char c = ECHO_BYTE;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int r, tries = 0;

	do
		n = write(fd, &c, 1);
	while (n < 0 && errno == EINTR && ++tries < MAX_RETRY);
	if (n != 1)
		die("write: %s", n < 0 ? strerror(errno) : "short write");

	tries = 0;
	do
		r = poll(&p, 1, IO_TIMEOUT_MS);
	while (r < 0 && errno == EINTR && ++tries < MAX_RETRY);
	if (r < 0)
		die("poll: %s", strerror(errno));
	if (r == 0)
		die("no echo within %d ms", IO_TIMEOUT_MS);

	c = 0;
	tries = 0;
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR && ++tries < MAX_RETRY);
	if (n < 0)
		die("read: %s", strerror(errno));
	if (n == 0)
		die("read: end of file before the echo");
	if (c != ECHO_BYTE)
		die("read: echoed byte 0x%02x, expected 0x%02x",
		    (unsigned char)c, ECHO_BYTE);
}

/*
 * tcp_connect: create a TCP socket with protocol proto (0 or IPPROTO_TLS),
 * apply TLS_HOSTNAME = cfg->name when proto is IPPROTO_TLS and TCP_NODELAY
 * when cfg->nodelay is set, and connect it to cfg->in.  Returns the
 * connected descriptor.  Fatal on failure, with the SSA's TLS_ERROR
 * reason when there is one.
 */
static int tcp_connect(const struct config *cfg, int proto)
{
	int fd = socket(AF_INET, SOCK_STREAM, proto);

	if (fd < 0)
		die("socket(AF_INET, SOCK_STREAM, %d): %s%s", proto, strerror(errno),
		    proto == IPPROTO_TLS ? " (is libssa-shim linked or preloaded?)" : "");
	if (proto == IPPROTO_TLS &&
	    setsockopt(fd, IPPROTO_TLS, TLS_HOSTNAME, cfg->name,
		       (socklen_t)(strlen(cfg->name) + 1)) != 0)
		die("setsockopt(TLS_HOSTNAME, %s): %s", cfg->name, strerror(errno));
	if (cfg->nodelay) {
		int one = 1;

		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
			die("setsockopt(TCP_NODELAY): %s", strerror(errno));
	}
	if (connect(fd, (const struct sockaddr *)&cfg->in, sizeof cfg->in) != 0) {
		int e = errno;
		char why[512] = "";
		socklen_t len = sizeof why - 1;

		/* The SSA's reason for a failed connect (SPEC.md: TLS_ERROR). */
		if (proto == IPPROTO_TLS &&
		    getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len) != 0)
			why[0] = '\0';
		why[sizeof why - 1] = '\0';
		die("connect to %s:%u: %s%s%s", inet_ntoa(cfg->in.sin_addr),
		    ntohs(cfg->in.sin_port), strerror(e), why[0] ? ": " : "", why);
	}
	return fd;
}

/*
 * sample_inproc: one connect-to-ready sample with GnuTLS in this process
 * (credentials cfg->cred loaded once by the caller).  first != 0 on the
 * first connection: then the negotiated version is also checked to be
 * TLS 1.3 (outside the timed part).  Returns the latency in ns; fatal on a
 * failed handshake or verification, with GnuTLS's message.
 */
/* When the last sample_inproc() read its echo (now_ns()). */
static int64_t inproc_done_ns;

static int64_t sample_inproc(const struct config *cfg, int first)
{
	static gnutls_datum_t saved;  /* -R: the previous connection's session */
	static long made;             /* connections made so far */
	gnutls_session_t s;
	int64_t t0, t1;
	char c = ECHO_BYTE;
	ssize_t n;
	int fd, r, tries = 0;

	t0 = now_ns();
	fd = tcp_connect(cfg, 0);
	if ((r = gnutls_init(&s, GNUTLS_CLIENT)) < 0)
		die("gnutls_init: %s", gnutls_strerror(r));
	if ((r = gnutls_priority_set_direct(s, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
					    NULL)) < 0)
		die("gnutls_priority_set_direct: %s", gnutls_strerror(r));
	if ((r = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cfg->cred)) < 0)
		die("gnutls_credentials_set: %s", gnutls_strerror(r));
	if ((r = gnutls_server_name_set(s, GNUTLS_NAME_DNS, cfg->name, strlen(cfg->name))) < 0)
		die("gnutls_server_name_set: %s", gnutls_strerror(r));
	gnutls_session_set_verify_cert(s, cfg->name, 0);
	if (cfg->resume && saved.size > 0 && (r = gnutls_session_set_data(s, saved.data, saved.size)) < 0)
		die("gnutls_session_set_data: %s", gnutls_strerror(r));
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, IO_TIMEOUT_MS);
	gnutls_record_set_timeout(s, IO_TIMEOUT_MS);

	do
		r = gnutls_handshake(s);
	while (r < 0 && gnutls_error_is_fatal(r) == 0 && ++tries < MAX_RETRY);
	if (r < 0) {
		if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
			gnutls_datum_t msg = { NULL, 0 };
			unsigned st = gnutls_session_get_verify_cert_status(s);

			gnutls_certificate_verification_status_print(
				st, gnutls_certificate_type_get(s), &msg, 0);
			die("handshake: %s: %s", gnutls_strerror(r),
			    msg.data ? (const char *)msg.data : "?");
		}
		die("handshake: %s", gnutls_strerror(r));
	}

	tries = 0;
	do
		n = gnutls_record_send(s, &c, 1);
	while ((n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) && ++tries < MAX_RETRY);
	if (n != 1)
		die("gnutls_record_send: %s", n < 0 ? gnutls_strerror((int)n) : "short write");
	c = 0;
	tries = 0;
	do
		n = gnutls_record_recv(s, &c, 1);
	while ((n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) && ++tries < MAX_RETRY);
	if (n < 0)
		die("gnutls_record_recv: %s", gnutls_strerror((int)n));
	if (n == 0)
		die("gnutls_record_recv: end of file before the echo");
	if (c != ECHO_BYTE)
		die("echoed byte 0x%02x, expected 0x%02x", (unsigned char)c, ECHO_BYTE);
	t1 = now_ns();
	inproc_done_ns = t1;

	if (first && gnutls_protocol_get_version(s) != GNUTLS_TLS1_3)
		die("negotiated %s, expected TLS1.3",
		    gnutls_protocol_get_name(gnutls_protocol_get_version(s)));
	if (cfg->resume) {
		/* The ticket came before the echo: the data resumes. */
		if (made > 0 && !gnutls_session_is_resumed(s))
			die("-R: connection %ld was not resumed (does the server issue tickets?)", made + 1);
		gnutls_free(saved.data);
		saved = (gnutls_datum_t){ NULL, 0 };
		if ((r = gnutls_session_get_data2(s, &saved)) < 0)
			die("gnutls_session_get_data2: %s", gnutls_strerror(r));
	}
	made++;
	/* Send close_notify without waiting for the peer's; errors here do
	 * not affect the sample and are deliberately ignored. */
	(void)gnutls_bye(s, GNUTLS_SHUT_WR);
	gnutls_deinit(s);
	if (close(fd) != 0)
		die("close: %s", strerror(errno));
	return t1 - t0;
}

/* A child forked ahead of its connection (inproc-forked), and the pipes
 * that wake it and carry its sample back. */
struct forked_child {
	pid_t pid;    /* 0: none yet */
	int wake;     /* the parent's write end: the start time, int64_t ns */
	int report;   /* the parent's read end: the sample, int64_t ns */
};

/*
 * fork_ahead: fork the child of the next inproc-forked sample into *f.  It
 * waits for its start time on the wake pipe, makes one sample_inproc()
 * connection (first: as there), writes the time from that start to its
 * echo on the report pipe and exits (0; 1 if the report cannot be
 * written; sample_inproc() failures exit 1 with their message).  A wake
 * pipe closed before a start time makes it exit 0 unserved.  Fatal in the
 * parent if pipe(2) or fork(2) fails.
 */
static void fork_ahead(const struct config *cfg, struct forked_child *f, int first)
{
	int wake[2], report[2];

	if (pipe2(wake, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0)
		die("pipe2: %s", strerror(errno));
	f->pid = fork();
	if (f->pid < 0)
		die("fork: %s", strerror(errno));
	if (f->pid == 0) {
		int64_t start, took;

		close(wake[1]);
		close(report[0]);
		if (read(wake[0], &start, sizeof start) != (ssize_t)sizeof start)
			_exit(0);
		(void)sample_inproc(cfg, first);
		took = inproc_done_ns - start;
		_exit(write(report[1], &took, sizeof took) == (ssize_t)sizeof took ? 0 : 1);
	}
	close(wake[0]);
	close(report[1]);
	f->wake = wake[1];
	f->report = report[0];
}

/* reap_forked: collect the forked clients that have exited (flags as
 * waitpid(2): WNOHANG, or 0 to wait for all).  Fatal if one failed. */
static void reap_forked(int flags)
{
	int status;

	while (waitpid(-1, &status, flags) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			die("a forked client failed (status 0x%x)", status);
}

/*
 * sample_forked: one inproc-forked sample: wake the child forked ahead,
 * read its sample, then fork the next child (its exit and the fork are
 * not in the sample; the exit may overlap the next one, as a helper's
 * does).  With last != 0, fork none and wait for every child.  Returns the
 * latency in ns; fatal if the child failed.
 */
static int64_t sample_forked(const struct config *cfg, int first, int last)
{
	static struct forked_child child;
	int64_t start, took = 0;

	reap_forked(WNOHANG);
	if (child.pid == 0)
		fork_ahead(cfg, &child, first);
	start = now_ns();
	if (write(child.wake, &start, sizeof start) != (ssize_t)sizeof start)
		die("waking the forked client: %s", strerror(errno));
	if (read(child.report, &took, sizeof took) != (ssize_t)sizeof took)
		die("the forked client made no connection (its message is above)");
	close(child.wake);
	close(child.report);
	child.pid = 0;
	if (!last)
		fork_ahead(cfg, &child, 0);
	else
		reap_forked(0);
	return took;
}

/*
 * sample_ssa: one connect-to-ready sample through the SSA: socket() with
 * IPPROTO_TLS, TLS_HOSTNAME, connect() (handshake and validation happen
 * in the helper), then a plaintext echo.  On the first connection the
 * negotiated version is queried with TLS_CHOSEN_VERSION (outside the timed
 * part): a version other than TLS 1.3 is fatal, an unsupported query only
 * noted on stderr.  Returns the latency in ns; fatal on failure.
 */
static int64_t sample_ssa(const struct config *cfg, int first)
{
	static long made;  /* connections made so far */
	int64_t t0, t1;
	int fd;

	t0 = now_ns();
	fd = tcp_connect(cfg, IPPROTO_TLS);
	echo_plain(fd);
	t1 = now_ns();

	if (cfg->resume && made++ > 0) {
		int resumed = 0;
		socklen_t len = sizeof resumed;

		if (getsockopt(fd, IPPROTO_TLS, TLS_RESUMED_SESSION, &resumed, &len) != 0)
			die("TLS_RESUMED_SESSION: %s", strerror(errno));
		if (!resumed)
			die("-R: connection %ld was not resumed (does the server issue tickets?)", made);
	}

	if (first) {
		int v = -1;
		socklen_t len = sizeof v;

		if (getsockopt(fd, IPPROTO_TLS, TLS_CHOSEN_VERSION, &v, &len) != 0)
			fprintf(stderr, "latency-client: note: TLS_CHOSEN_VERSION: %s\n",
				strerror(errno));
		else if (v != 3)
			die("TLS_CHOSEN_VERSION is %d, expected 3 (TLS 1.3)", v);
	}
	if (close(fd) != 0)
		die("close: %s", strerror(errno));
	return t1 - t0;
}

/*
 * sample_unix: one connect-to-ready sample over a unix stream socket
 * cfg->un whose far end relays to the TLS echo server.  Returns the
 * latency in ns; fatal on failure.
 */
static int64_t sample_unix(const struct config *cfg)
{
	int64_t t0, t1;
	int fd;

	t0 = now_ns();
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket(AF_UNIX): %s", strerror(errno));
	if (connect(fd, (const struct sockaddr *)&cfg->un, sizeof cfg->un) != 0)
		die("connect to %s: %s", cfg->un.sun_path, strerror(errno));
	echo_plain(fd);
	t1 = now_ns();
	if (close(fd) != 0)
		die("close: %s", strerror(errno));
	return t1 - t0;
}

/*
 * one_sample: dispatch one sample to the function for cfg->mode; first is
 * passed on (see there), last (the run's last sample) to sample_forked().
 * Returns the latency in ns.
 */
static int64_t one_sample(const struct config *cfg, int first, int last)
{
	if (strcmp(cfg->mode, "inproc") == 0)
		return sample_inproc(cfg, first);
	if (strcmp(cfg->mode, "inproc-forked") == 0)
		return sample_forked(cfg, first, last);
	if (strcmp(cfg->mode, "ssa") == 0)
		return sample_ssa(cfg, first);
	return sample_unix(cfg);
}

/* usage: print the synopsis to stderr and exit with status 2. */
static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fputs("usage: latency-client [-n N] [-w WARMUP] [-H NAME] [-N] [-R] inproc HOST PORT CAFILE\n"
	      "       latency-client [-n N] [-w WARMUP] [-H NAME] [-N] inproc-forked HOST PORT CAFILE\n"
	      "       latency-client [-n N] [-w WARMUP] [-H NAME] [-N] [-R] ssa HOST PORT\n"
	      "       latency-client [-n N] [-w WARMUP] plain-unix PATH\n"
	      "Prints N connect-to-ready latencies in microseconds, one per line.\n",
	      stderr);
	exit(2);
}

/*
 * set_inet: fill cfg->in from a numeric IPv4 host and a port string.
 * Fatal on a malformed address or port.
 */
static void set_inet(struct config *cfg, const char *host, const char *port)
{
	long p = parse_count(port, 1, "port");

	if (p > 65535)
		die("bad port '%s'", port);
	memset(&cfg->in, 0, sizeof cfg->in);
	cfg->in.sin_family = AF_INET;
	cfg->in.sin_port = htons((uint16_t)p);
	if (inet_pton(AF_INET, host, &cfg->in.sin_addr) != 1)
		die("bad IPv4 address '%s'", host);
}

/*
 * main: parse the command line (see the header comment), prepare the mode
 * (for inproc: load the CA file once), run WARMUP unreported and N
 * reported samples, print the N latencies in microseconds.  Exit status 0
 * on success, 1 on any failure, 2 on a usage error.
 */
int main(int argc, char **argv)
{
	struct config cfg = { .name = "localhost" };
	long n = 300, warm = 3, i;
	int64_t *lat;
	int opt, r;

	while ((opt = getopt(argc, argv, "n:w:H:NR")) != -1) {
		switch (opt) {
		case 'n': n = parse_count(optarg, 1, "-n"); break;
		case 'w': warm = parse_count(optarg, 0, "-w"); break;
		case 'H': cfg.name = optarg; break;
		case 'N': cfg.nodelay = 1; break;
		case 'R': cfg.resume = 1; break;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();
	cfg.mode = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;

	if (strcmp(cfg.mode, "inproc") == 0 || strcmp(cfg.mode, "inproc-forked") == 0) {
		/* A forked client's session dies with it: nothing to resume. */
		if (argc != 3 || (cfg.resume && strcmp(cfg.mode, "inproc") != 0))
			usage();
		set_inet(&cfg, argv[0], argv[1]);
		if ((r = gnutls_global_init()) < 0)
			die("gnutls_global_init: %s", gnutls_strerror(r));
		if ((r = gnutls_certificate_allocate_credentials(&cfg.cred)) < 0)
			die("gnutls_certificate_allocate_credentials: %s", gnutls_strerror(r));
		r = gnutls_certificate_set_x509_trust_file(cfg.cred, argv[2], GNUTLS_X509_FMT_PEM);
		if (r < 0)
			die("loading CA file %s: %s", argv[2], gnutls_strerror(r));
		if (r == 0)
			die("CA file %s holds no certificate", argv[2]);
	} else if (strcmp(cfg.mode, "ssa") == 0) {
		if (argc != 2)
			usage();
		set_inet(&cfg, argv[0], argv[1]);
	} else if (strcmp(cfg.mode, "plain-unix") == 0) {
		if (argc != 1)
			usage();
		if (strlen(argv[0]) >= sizeof cfg.un.sun_path)
			die("unix socket path too long: %s", argv[0]);
		cfg.un.sun_family = AF_UNIX;
		strcpy(cfg.un.sun_path, argv[0]);
	} else {
		usage();
	}

	/* A peer that goes away must give an error from write(), not kill us. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die("signal: %s", strerror(errno));

	lat = calloc((size_t)n, sizeof *lat);
	if (lat == NULL)
		die("out of memory for %ld samples", n);
	for (i = 0; i < warm; i++)
		(void)one_sample(&cfg, i == 0, 0);
	for (i = 0; i < n; i++)
		lat[i] = one_sample(&cfg, warm == 0 && i == 0, i == n - 1);

	/* Printed only after the loop so that output does not perturb it. */
	for (i = 0; i < n; i++)
		if (printf("%lld\n", (long long)(lat[i] / 1000)) < 0)
			die("printf: %s", strerror(errno));
	if (fflush(stdout) != 0)
		die("writing output: %s", strerror(errno));
	free(lat);
	if (cfg.cred != NULL) {
		gnutls_certificate_free_credentials(cfg.cred);
		gnutls_global_deinit();
	}
	return 0;
}
