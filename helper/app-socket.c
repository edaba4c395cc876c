/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* app-socket.c: the application's descriptors on the server side (app-socket.h). */
#include "config.h"
#include "app-socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ssa-io.h"

const struct loopback_calls app_socket_libc = {
	.socket = socket, .connect = connect, .listen = listen, .accept4 = accept4,
	.getsockname = getsockname, .getpeername = getpeername, .getsockopt = getsockopt, .close = close,
};

static int app_socket_option(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof v;

	return getsockopt(fd, level, name, &v, &len) == 0 ? v : -1;
}

bool app_socket_is_tcp(int fd, int listening)
{
	int domain = app_socket_option(fd, SOL_SOCKET, SO_DOMAIN);

	return (domain == AF_INET || domain == AF_INET6) && app_socket_option(fd, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP &&
	       app_socket_option(fd, SOL_SOCKET, SO_ACCEPTCONN) == listening;
}

int app_socket_check_listening(int tcp, int queue)
{
	if (!app_socket_is_tcp(tcp, 1) || app_socket_option(queue, SOL_SOCKET, SO_DOMAIN) != AF_UNIX ||
	    app_socket_option(queue, SOL_SOCKET, SO_TYPE) != SOCK_SEQPACKET)
		return -EPROTO;
	return 0;
}

int app_socket_check_accepted(int tcp)
{
	/* Not more: a client that already reset fails at the handshake,
	 * which says so. */
	return app_socket_is_tcp(tcp, 0) ? 0 : -EPROTO;
}

int app_socket_pair(int domain, int *app, int timeout_ms)
{
	int a = socket(domain == AF_INET6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int end;

	if (a < 0)
		return -errno;
	end = loopback_connect(&app_socket_libc, a, ssa_now_ms() + timeout_ms);
	if (end < 0) {
		close(a);
		return end;
	}
	loopback_arm_reset(end, true);
	*app = a;
	return end;
}
