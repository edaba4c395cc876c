/* ssa-echo PORT CHAIN KEY: a TLS server written with the Secure Socket API
 * (debian/tests): listen on 127.0.0.1:PORT with the given chain and key,
 * print "listening", then for one client: read one line, send it back, and
 * print "served VERSION". */
#include <arpa/inet.h>
#include <in_tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: ssa-echo PORT CHAIN KEY\n");
		return 2;
	}
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	int one = 1;

	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	if (fd < 0)
		die("socket(IPPROTO_TLS)");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (setsockopt(fd, IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, argv[2], (socklen_t)strlen(argv[2]) + 1) < 0)
		die("setsockopt(TLS_CERTIFICATE_CHAIN)");
	if (setsockopt(fd, IPPROTO_TLS, TLS_PRIVATE_KEY, argv[3], (socklen_t)strlen(argv[3]) + 1) < 0)
		die("setsockopt(TLS_PRIVATE_KEY)");
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
		die("bind");
	if (listen(fd, 16) < 0)
		die("listen");
	printf("listening\n");
	fflush(stdout);

	int conn = accept(fd, NULL, NULL);
	if (conn < 0)
		die("accept");
	char buf[4096];
	size_t got = 0;
	while (got < sizeof buf) {
		ssize_t r = read(conn, buf + got, sizeof buf - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(buf, '\n', got))
			break;
	}
	if (write(conn, buf, got) != (ssize_t)got)
		die("write");
	int version = -1;
	socklen_t len = sizeof version;
	getsockopt(conn, IPPROTO_TLS, TLS_CHOSEN_VERSION, &version, &len);
	printf("served TLS 1.%d\n", version);
	close(conn);
	close(fd);
	return 0;
}
