/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ssa-get: fetch an HTTPS resource with plain sockets and the SSA.
 *
 *   ssa-get HOST [PORT [PATH]]
 *
 * The porting story: an HTTP client written with socket() and connect()
 * becomes an HTTPS client with the lines marked "SSA" -- a protocol number,
 * the host name for validation, and the port.  There is no TLS library here.
 * Build: cc ssa-get.c -lssa-shim (or run a plain build under
 * LD_PRELOAD=libssa-shim.so).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <in_tls.h> /* SSA */

int main(int argc, char **argv)
{
	const char *host, *port, *path;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char request[1024], buf[16384];
	int fd = -1, r;
	ssize_t n;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: ssa-get HOST [PORT [PATH]]\n");
		return 2;
	}
	host = argv[1];
	port = argc > 2 ? argv[2] : "443"; /* SSA: was "80" */
	path = argc > 3 ? argv[3] : "/";

	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		fprintf(stderr, "ssa-get: %s: %s\n", host, gai_strerror(r));
		return 1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM, IPPROTO_TLS); /* SSA: was 0 */
		if (fd < 0)
			continue;
		/* SSA: the name the server's certificate must carry. */
		setsockopt(fd, IPPROTO_TLS, TLS_HOSTNAME, host, strlen(host) + 1);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		/* SSA: say why the peer was refused. */
		char reason[512] = "";
		socklen_t len = sizeof reason;
		int e = errno;
		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, reason, &len);
		fprintf(stderr, "ssa-get: connect to %s: %s%s%s\n", host, strerror(e), reason[0] ? ": " : "", reason);
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return 1;

	r = snprintf(request, sizeof request,
		     "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nUser-Agent: ssa-get\r\n\r\n", path, host);
	if (write(fd, request, (size_t)r) != r) {
		perror("ssa-get: write");
		return 1;
	}
	while ((n = read(fd, buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	if (n < 0) {
		perror("ssa-get: read");
		return 1;
	}
	close(fd);
	return 0;
}
