/* ssa-fetch HOST PORT LINE: a TLS client written with the Secure Socket API
 * (debian/tests): connect to 127.0.0.1:PORT verifying the certificate for
 * HOST, send LINE, print the line that comes back.  With LINE "-", do that
 * for each line read from standard input, on the one connection.  On a
 * refused connection print "refused ERRNO-NAME: TLS_ERROR" and exit 1. */
#define _GNU_SOURCE 1 /* strerrorname_np() */
#include <arpa/inet.h>
#include <errno.h>
#include <in_tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Send LINE and a newline, print what comes back up to its newline. */
static int round_trip(int fd, const char *line)
{
	char buf[4096];
	int n = snprintf(buf, sizeof buf, "%s\n", line);
	if (write(fd, buf, (size_t)n) != n) {
		perror("write");
		return -1;
	}
	size_t got = 0;
	while (got < sizeof buf - 1) {
		ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = '\0';
	printf("%s", buf);
	fflush(stdout);
	return got > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: ssa-fetch HOST PORT LINE\n");
		return 2;
	}
	const char *host = argv[1], *line = argv[3];
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);

	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	if (fd < 0) {
		perror("socket(IPPROTO_TLS)");
		return 2;
	}
	if (setsockopt(fd, IPPROTO_TLS, TLS_HOSTNAME, host, (socklen_t)strlen(host) + 1) < 0) {
		perror("setsockopt(TLS_HOSTNAME)");
		return 2;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		int e = errno;
		char reason[512] = "";
		socklen_t len = sizeof reason;
		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, reason, &len);
		printf("refused %s: %s\n", strerrorname_np(e), reason);
		return 1;
	}
	char buf[4096];
	if (strcmp(line, "-") != 0) {
		int rc = round_trip(fd, line);
		close(fd);
		return rc == 0 ? 0 : 1;
	}
	while (fgets(buf, sizeof buf, stdin)) {
		buf[strcspn(buf, "\n")] = '\0';
		if (round_trip(fd, buf) < 0)
			return 1;
	}
	close(fd);
	return 0;
}
