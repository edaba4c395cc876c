/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/*
 * ssa-pipe: a test client of the SSA.  Connects an IPPROTO_TLS socket, copies
 * stdin to it (shutdown(SHUT_WR) at end of file) and it to stdout until end
 * of file.
 *
 *   ssa-pipe [-4|-6|-H] [-n TLS_HOSTNAME] [-i] [-m MIN] [-M MAX] [-a ALPN]
 *            [-t TRUST] [-c CHAIN -k KEY] HOST PORT
 *
 * -4 (default) HOST is an IPv4 literal; -6 an IPv6 literal; -H a name the
 * helper resolves (AF_HOSTNAME).  -n sets TLS_HOSTNAME (default: HOST, not set
 * with -H).  -i prints the negotiated parameters to stderr after connect.
 * -m/-M set TLS_VERSION_MIN/MAX (0..3), -a TLS_ALPN, -t
 * TLS_TRUSTED_PEER_CERTIFICATES, -c/-k TLS_CERTIFICATE_CHAIN and
 * TLS_PRIVATE_KEY; a refused option prints "ssa-pipe: setsockopt(NAME): ...".
 * Options, -n included, are set in the order given.
 * Exit: 0 done; 1 usage; 2 connect failed; 3 read or write failed.  Errors
 * print "ssa-pipe: WHAT: ERRNONAME (strerror): TLS_ERROR".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "in_tls.h"

static int fail(int fd, const char *what, int code)
{
	int e = errno;
	char reason[512] = "";
	socklen_t len = sizeof reason;

	if (fd >= 0 && getsockopt(fd, IPPROTO_TLS, TLS_ERROR, reason, &len) < 0)
		reason[0] = '\0';
	fprintf(stderr, "ssa-pipe: %s: %s (%s)%s%s\n", what, strerrorname_np(e), strerror(e),
		reason[0] ? ": " : "", reason);
	return code;
}

static void print_info(int fd)
{
	int version = -1;
	uint64_t id = 0;
	char cipher[128] = "", peer[512] = "";
	socklen_t len = sizeof version;

	getsockopt(fd, IPPROTO_TLS, TLS_CHOSEN_VERSION, &version, &len);
	len = sizeof cipher;
	getsockopt(fd, IPPROTO_TLS, TLS_CHOSEN_CIPHER, cipher, &len);
	len = sizeof id;
	getsockopt(fd, IPPROTO_TLS, TLS_ID, &id, &len);
	len = sizeof peer;
	getsockopt(fd, IPPROTO_TLS, TLS_PEER_IDENTITY, peer, &len);
	char alpn[256] = "";
	len = sizeof alpn;
	getsockopt(fd, IPPROTO_TLS, TLS_ALPN, alpn, &len);
	fprintf(stderr, "connected version=TLS1.%d cipher=%s id=%016llx peer=%s alpn=%s\n", version, cipher,
		(unsigned long long)id, peer, alpn[0] ? alpn : "-");
}

/* Copy both ways until both directions reached end of file: 0 or 3. */
static int pump(int fd)
{
	char buf[65536];
	bool in_open = true, sock_open = true;

	while (sock_open) {
		struct pollfd p[2] = { { .fd = in_open ? 0 : -1, .events = POLLIN },
				       { .fd = fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail(-1, "poll", 3);
		}
		if (p[0].revents) {
			ssize_t n = read(0, buf, sizeof buf);
			if (n <= 0) {
				in_open = false;
				/* ENOTCONN: the connection was already reset; the
				 * read below reports how (ECONNRESET). */
				if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
					return fail(fd, "shutdown", 3);
			} else {
				for (ssize_t off = 0; off < n;) {
					ssize_t w = write(fd, buf + off, (size_t)(n - off));
					if (w < 0)
						return fail(fd, "write", 3);
					off += w;
				}
			}
		}
		if (p[1].revents) {
			ssize_t n = read(fd, buf, sizeof buf);
			if (n < 0)
				return fail(fd, "read", 3);
			if (n == 0)
				sock_open = false;
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(1, buf + off, (size_t)(n - off));
				if (w < 0)
					return fail(-1, "stdout", 3);
				off += w;
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int family = AF_INET, opt, fd, info = 0;
	const char *name = NULL;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_host host;
	} addr = { 0 };
	socklen_t addr_len;
	unsigned long port;

	struct { int name; const char *label; const char *value; int is_int; } opts[8];
	int nopts = 0;

	while ((opt = getopt(argc, argv, "46Hn:im:M:a:t:c:k:")) != -1) {
		switch (opt) {
		case '4': family = AF_INET; break;
		case '6': family = AF_INET6; break;
		case 'H': family = AF_HOSTNAME; break;
		case 'n':
			name = optarg;
			opts[nopts++] = (typeof(opts[0])){ TLS_HOSTNAME, "TLS_HOSTNAME", optarg, 0 };
			break;
		case 'i': info = 1; break;
		case 'm': opts[nopts++] = (typeof(opts[0])){ TLS_VERSION_MIN, "TLS_VERSION_MIN", optarg, 1 }; break;
		case 'M': opts[nopts++] = (typeof(opts[0])){ TLS_VERSION_MAX, "TLS_VERSION_MAX", optarg, 1 }; break;
		case 'a': opts[nopts++] = (typeof(opts[0])){ TLS_ALPN, "TLS_ALPN", optarg, 0 }; break;
		case 't': opts[nopts++] = (typeof(opts[0])){ TLS_TRUSTED_PEER_CERTIFICATES, "TLS_TRUSTED_PEER_CERTIFICATES", optarg, 0 }; break;
		case 'c': opts[nopts++] = (typeof(opts[0])){ TLS_CERTIFICATE_CHAIN, "TLS_CERTIFICATE_CHAIN", optarg, 0 }; break;
		case 'k': opts[nopts++] = (typeof(opts[0])){ TLS_PRIVATE_KEY, "TLS_PRIVATE_KEY", optarg, 0 }; break;
		default: goto usage;
		}
		if (nopts == 8)
			goto usage;
	}
	if (argc - optind != 2)
		goto usage;
	port = strtoul(argv[optind + 1], NULL, 10);
	if (port == 0 || port > 65535)
		goto usage;
	if (family == AF_INET) {
		addr.in.sin_family = AF_INET;
		addr.in.sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, argv[optind], &addr.in.sin_addr) != 1)
			goto usage;
		addr_len = sizeof addr.in;
	} else if (family == AF_INET6) {
		addr.in6.sin6_family = AF_INET6;
		addr.in6.sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, argv[optind], &addr.in6.sin6_addr) != 1)
			goto usage;
		addr_len = sizeof addr.in6;
	} else {
		addr.host.sh_family = AF_HOSTNAME;
		addr.host.sh_port = htons((uint16_t)port);
		if (strlen(argv[optind]) >= sizeof addr.host.sh_name)
			goto usage;
		strcpy(addr.host.sh_name, argv[optind]);
		addr_len = sizeof addr.host;
	}
	if (!name && family != AF_HOSTNAME)
		name = argv[optind];

	fd = socket(family, SOCK_STREAM, IPPROTO_TLS);
	if (fd < 0)
		return fail(-1, "socket", 2);
	/* Options go in command-line order (-n among them), so a test can set
	 * one before the host name is known; the default name goes first. */
	if (name && name == argv[optind] &&
	    setsockopt(fd, IPPROTO_TLS, TLS_HOSTNAME, name, (socklen_t)strlen(name) + 1) < 0)
		return fail(fd, "setsockopt(TLS_HOSTNAME)", 2);
	for (int i = 0; i < nopts; i++) {
		char what[64];
		int v = atoi(opts[i].value), r;
		r = opts[i].is_int ? setsockopt(fd, IPPROTO_TLS, opts[i].name, &v, sizeof v)
				   : setsockopt(fd, IPPROTO_TLS, opts[i].name, opts[i].value,
						(socklen_t)strlen(opts[i].value) + 1);
		snprintf(what, sizeof what, "setsockopt(%s)", opts[i].label);
		if (r < 0)
			return fail(fd, what, 2);
	}
	if (connect(fd, &addr.sa, addr_len) < 0)
		return fail(fd, "connect", 2);
	if (info)
		print_info(fd);
	opt = pump(fd);
	close(fd);
	return opt;
usage:
	fprintf(stderr, "usage: ssa-pipe [-4|-6|-H] [-n TLS_HOSTNAME] [-i] [-m MIN] [-M MAX] [-a ALPN]\n"
			"                [-t TRUST] [-c CHAIN -k KEY] HOST PORT\n");
	return 1;
}
