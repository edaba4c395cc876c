/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ssa-echo-server: a TLS echo server written with plain sockets.
 *
 *   ssa-echo-server [-6] [-p PORT] -c CHAIN -k KEY [-c CHAIN -k KEY ...]
 *                   [-a ALPN,LIST] [-r] [-t TRUST] [-T TTL] [-n MAX]
 *
 * It asks for IPPROTO_TLS, hands the socket its certificate chains and
 * keys, and from then on is an ordinary poll(2) server: the TLS handshake,
 * the certificate checks and close_notify happen in the SSA's helpers, and
 * every descriptor accept() returns carries plaintext.
 *
 *   -6        listen on IPv6 (::1) instead of IPv4 (127.0.0.1)
 *   -p PORT   port to listen on (default 0: the kernel picks one)
 *   -c, -k    a certificate chain and its private key (repeat for SNI)
 *   -a LIST   ALPN protocols to select from, in order of preference
 *   -r        request and verify client certificates
 *   -t TRUST  trust anchors for client certificates (a PEM file or directory)
 *   -T TTL    issue session tickets valid for at most TTL seconds
 *   -n MAX    exit after serving MAX connections
 *
 * Prints "listening on ADDRESS" once ready, then one line per connection
 * accepted (peer address, SNI, ALPN, version, whether the session was
 * resumed, client certificate subject and how many certificates the
 * client sent) and closed (bytes echoed), and "accept: EMFILE" (or
 * ENFILE) when it runs out of descriptors: the client waits in the queue
 * and is accepted once one is free.  Each connection is echoed until the
 * client closes its side; then the server closes its own.
 */
#define _GNU_SOURCE 1 /* accept4() */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <in_tls.h>

#define CLIENTS_MAX 1024

/* One client: what it sent that is not echoed yet. */
struct client {
	int fd;
	char addr[INET6_ADDRSTRLEN + 8];
	char buf[16384];
	size_t len;            /* bytes in buf still to write back */
	unsigned long long echoed;
	int eof;               /* the client closed its side */
};

static void die(const char *what, int fd)
{
	char reason[512] = "";
	socklen_t len = sizeof reason;

	/* TLS_ERROR says why, where the SSA knows more than errno. */
	if (fd >= 0)
		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, reason, &len);
	fprintf(stderr, "ssa-echo-server: %s: %s%s%s\n", what, strerror(errno), reason[0] ? ": " : "", reason);
	exit(1);
}

static void set_string(int fd, int option, const char *value, const char *what)
{
	if (setsockopt(fd, IPPROTO_TLS, option, value, (socklen_t)strlen(value) + 1) < 0)
		die(what, fd);
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		port = ntohs(a->sin6_port);
		snprintf(out, size, "[%s]:%u", host, port);
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		port = ntohs(a->sin_port);
		snprintf(out, size, "%s:%u", host, port);
	}
}

/* A string option of an accepted socket, or "-". */
static const char *tls_string(int fd, int option, char *buf, socklen_t size)
{
	if (getsockopt(fd, IPPROTO_TLS, option, buf, &size) < 0 || !buf[0])
		return "-";
	return buf;
}

/* The certificates in a PEM chain. */
static int count_certificates(const char *pem)
{
	int n = 0;

	for (const char *p = pem; (p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL; p++)
		n++;
	return n;
}

static void report_accepted(const struct client *c)
{
	static char chain[65536];
	char sni[256], alpn[256], identity[1024];
	int version = -1, resumed = -1;
	socklen_t len = sizeof version;

	getsockopt(c->fd, IPPROTO_TLS, TLS_CHOSEN_VERSION, &version, &len);
	len = sizeof resumed;
	getsockopt(c->fd, IPPROTO_TLS, TLS_RESUMED_SESSION, &resumed, &len);
	printf("accepted %s sni=%s alpn=%s version=1.%d resumed=%d peer=%s peer_chain=%d\n", c->addr,
	       tls_string(c->fd, TLS_SNI, sni, sizeof sni), tls_string(c->fd, TLS_ALPN, alpn, sizeof alpn),
	       version, resumed, tls_string(c->fd, TLS_PEER_IDENTITY, identity, sizeof identity),
	       count_certificates(tls_string(c->fd, TLS_PEER_CERTIFICATE_CHAIN, chain, sizeof chain)));
	fflush(stdout);
}

/* Read what the client sent and write it back; 0 while the connection
 * lives, -1 once it is over. */
static int echo(struct client *c)
{
	ssize_t n;

	if (!c->eof && c->len == 0) {
		n = read(c->fd, c->buf, sizeof c->buf);
		if (n > 0)
			c->len = (size_t)n;
		else if (n == 0)
			c->eof = 1;
		else if (errno != EAGAIN && errno != EINTR)
			return -1; /* ECONNRESET: the client vanished or cut the stream */
	}
	while (c->len > 0) {
		n = write(c->fd, c->buf, c->len);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		memmove(c->buf, c->buf + n, c->len - (size_t)n);
		c->len -= (size_t)n;
		c->echoed += (unsigned long long)n;
	}
	return c->eof ? -1 : 0;
}

int main(int argc, char **argv)
{
	static struct client clients[CLIENTS_MAX];
	static struct pollfd p[1 + CLIENTS_MAX];
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	const char *alpn = NULL, *trust = NULL;
	int opt, domain = AF_INET, port = 0, peer_auth = 0, ttl, n_clients = 0, fd, out_of_fds = 0;
	long max = -1, served = 0;
	char where[INET6_ADDRSTRLEN + 8];

	signal(SIGPIPE, SIG_IGN);
	/* The socket first: -c and -k are socket options, applied in order. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-6") == 0)
			domain = AF_INET6;
	fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TLS);
	if (fd < 0)
		die("socket(IPPROTO_TLS)", -1);
	while ((opt = getopt(argc, argv, "6p:c:k:a:rt:T:n:")) != -1) {
		switch (opt) {
		case '6':
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'c':
			set_string(fd, TLS_CERTIFICATE_CHAIN, optarg, "TLS_CERTIFICATE_CHAIN");
			break;
		case 'k':
			set_string(fd, TLS_PRIVATE_KEY, optarg, "TLS_PRIVATE_KEY");
			break;
		case 'a':
			alpn = optarg;
			break;
		case 'r':
			peer_auth = 1;
			break;
		case 't':
			trust = optarg;
			break;
		case 'T':
			ttl = atoi(optarg);
			if (setsockopt(fd, IPPROTO_TLS, TLS_SESSION_TTL, &ttl, sizeof ttl) < 0)
				die("TLS_SESSION_TTL", fd);
			break;
		case 'n':
			max = atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: ssa-echo-server [-6] [-p PORT] -c CHAIN -k KEY [-c CHAIN -k KEY ...] "
					"[-a ALPN] [-r] [-t TRUST] [-T TTL] [-n MAX]\n");
			return 2;
		}
	}
	if (alpn)
		set_string(fd, TLS_ALPN, alpn, "TLS_ALPN");
	if (trust)
		set_string(fd, TLS_TRUSTED_PEER_CERTIFICATES, trust, "TLS_TRUSTED_PEER_CERTIFICATES");
	if (peer_auth && setsockopt(fd, IPPROTO_TLS, TLS_REQUEST_PEER_AUTH, &peer_auth, sizeof peer_auth) < 0)
		die("TLS_REQUEST_PEER_AUTH", fd);

	if (domain == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons((uint16_t)port);
		len = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons((uint16_t)port);
		len = sizeof *a;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		die("bind", fd);
	if (listen(fd, 128) < 0)
		die("listen", fd);
	len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		die("getsockname", fd);
	format_addr(&ss, where, sizeof where);
	printf("listening on %s\n", where);
	fflush(stdout);

	for (;;) {
		/* Out of descriptors (EMFILE, ENFILE): the client waits in the
		 * SSA's queue; try again when one closes, or in 100 ms. */
		p[0] = (struct pollfd){ .fd = n_clients < CLIENTS_MAX && !out_of_fds ? fd : -1, .events = POLLIN };
		for (int i = 0; i < n_clients; i++)
			p[1 + i] = (struct pollfd){ .fd = clients[i].fd,
						    .events = clients[i].len ? POLLOUT : POLLIN };
		int ready = poll(p, 1 + (nfds_t)n_clients, out_of_fds ? 100 : -1);
		out_of_fds = 0;
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			die("poll", -1);
		}
		/* Serve the clients first, from the last: a finished one is
		 * replaced by the last in the array. */
		for (int i = n_clients; i-- > 0;) {
			if (!p[1 + i].revents || echo(&clients[i]) == 0)
				continue;
			printf("closed %s echoed=%llu\n", clients[i].addr, clients[i].echoed);
			fflush(stdout);
			close(clients[i].fd);
			clients[i] = clients[--n_clients];
			if (max >= 0 && ++served >= max && n_clients == 0)
				return 0;
		}
		/* Readable: at least one connection finished its handshake. */
		while ((p[0].revents & POLLIN) && n_clients < CLIENTS_MAX) {
			struct client *c = &clients[n_clients];
			len = sizeof ss;
			int conn = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (conn < 0) {
				if (errno == EMFILE || errno == ENFILE) {
					printf("accept: %s\n", errno == EMFILE ? "EMFILE" : "ENFILE");
					fflush(stdout);
					out_of_fds = 1;
				}
				if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED || out_of_fds)
					break;
				die("accept4", fd);
			}
			*c = (struct client){ .fd = conn };
			format_addr(&ss, c->addr, sizeof c->addr);
			report_accepted(c);
			n_clients++;
		}
	}
}
