/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* connect.c: the client side of an IPPROTO_TLS socket (connect.h). */
#include "connect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "exchange.h"
#include "files.h"
#include "helper-channel.h"
#include "hold.h"
#include "libc.h"
#include "options.h"
#include "optval.h"
#include "sessions.h"
#include "ssa-errno.h"
#include "ssa-io.h"

/* True for a peer no TCP connection can have: IPv4 multicast or the
 * all-ones broadcast address, IPv6 multicast (connect(2) of seed 002:
 * EINVAL). */
static bool multicast_or_broadcast(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET) {
		uint32_t ip = ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr);
		return IN_MULTICAST(ip) || ip == INADDR_BROADCAST;
	}
	return IN6_IS_ADDR_MULTICAST(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

/* Check connect()'s address against the socket (connect(2), SPEC §3) and
 * put the peer into *req: 0 or -errno. */
static int parse_address(struct tls_socket *s, const struct sockaddr *caller_addr, socklen_t len,
			 struct ssa_request *req)
{
	union {
		struct sockaddr_storage ss;
		struct sockaddr_host sh;
	} copy;
	const struct sockaddr *addr = (const struct sockaddr *)&copy;
	sa_family_t family;

	if (len < sizeof(sa_family_t))
		return caller_addr ? -EINVAL : -EFAULT;
	if (!optval_copy_in(&copy, caller_addr, len < sizeof copy ? len : sizeof copy))
		return -EFAULT;
	memcpy(&family, addr, sizeof family);
	/* As the kernel does for any socket address (move_addr_to_kernel). */
	if (len > (family == AF_HOSTNAME ? sizeof copy.sh : sizeof copy.ss))
		return -EINVAL;
	switch (family) {
	case AF_INET:
	case AF_INET6: {
		socklen_t need = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		if ((family == AF_INET && s->domain == AF_INET6) || (family == AF_INET6 && s->domain == AF_INET))
			return -EAFNOSUPPORT;
		if (len < need)
			return -EINVAL;
		memcpy(&req->addr, addr, need);
		req->addr_len = need;
		break;
	}
	case AF_HOSTNAME: {
		const struct sockaddr_host *sh = (const struct sockaddr_host *)addr;
		size_t name_room, name_len;

		if (len <= offsetof(struct sockaddr_host, sh_name) || len > sizeof *sh)
			return -EINVAL;
		name_room = len - offsetof(struct sockaddr_host, sh_name);
		name_len = strnlen(sh->sh_name, name_room);
		if (name_len == 0 || name_len == name_room)
			return -EINVAL;
		memcpy(req->resolve, sh->sh_name, name_len + 1);
		req->port = ntohs(sh->sh_port);
		break;
	}
	default:
		return -EAFNOSUPPORT;
	}
	if (!req->resolve[0] && multicast_or_broadcast(&req->addr)) {
		tls_socket_set_error(s, "a TLS peer cannot be a multicast or broadcast address");
		return -EINVAL;
	}
	if (!req->hostname[0])
		memcpy(req->hostname, req->resolve, sizeof req->hostname);
	if (!req->hostname[0]) {
		tls_socket_set_error(s, "no host name: set TLS_HOSTNAME before connect(), "
					"or connect to an AF_HOSTNAME address");
		return -EINVAL;
	}
	return 0;
}

/*
 * Start an attempt: hold the socket (hold.h), then hand it, the hold's end
 * and the request to a fresh helper.  On success s->ctl is the open
 * control socket.  Returns 0 or -errno with s->error set; the socket is
 * left unconnected.
 */
static int start_attempt(int fd, struct tls_socket *s, struct ssa_request *req)
{
	struct hold hold;
	int ctl, r;

	r = hold_begin(fd, &hold);
	if (r < 0) {
		tls_socket_set_error(s, "cannot prepare the socket for the attempt: %s", strerror(-r));
		return -ssa_errno_internal(-r);
	}
	req->hold_filler = hold.filler;
	req->hold_lowat = hold.lowat;
	s->attempt_ms = ssa_now_ms(); /* before the helper can have any data */
	req->session = sessions_find(&s->session_key, s->session_ttl > 0 ? (unsigned)s->session_ttl : 0,
				     &req->session_len);
	ctl = exchange_open(s, req, (const int[]){ fd, hold.end }, 2);
	free(req->session);
	req->session = NULL;
	if (ctl < 0) {
		hold_abandon(fd, &hold);
		return ctl;
	}
	/* The helper's copy is the only one now: its death resets the socket. */
	REAL(close)(hold.end);
	s->ctl = ctl;
	/* Standalone: start the next connection's helper while this one
	 * works (helper-channel.h). */
	helper_channel_replenish();
	return 0;
}

/*
 * Collect the verdict on the attempt under way.  Without `wait`, only if it
 * has arrived.  Waiting is a blocking recv(2), which a signal handler
 * interrupts unless it has SA_RESTART.  Returns 0 when the attempt is over
 * (state CONNECTED or FAILED, with s->pending_error set on failure),
 * -EINPROGRESS if not yet, or -EINTR.
 */
static int collect(struct tls_socket *s, int fd, bool wait)
{
	struct pollfd p = { .fd = s->ctl, .events = POLLIN };
	uint8_t probe;
	int e;

	if (!wait && poll(&p, 1, 0) == 0)
		return -EINPROGRESS;
	/* Block until the first byte (restartable), then read the rest. */
	if (recv(s->ctl, &probe, 1, MSG_PEEK) < 0 && errno == EINTR)
		return -EINTR;
	e = exchange_verdict(s, s->ctl);
	/* After a success the helper sends resumption data on the same
	 * socket (sessions.h). */
	if (e == 0 && s->opts.session_reuse != 0)
		sessions_adopt(s->ctl, &s->session_key, s->attempt_ms);
	else
		REAL(close)(s->ctl);
	s->ctl = -1;
	if (e == 0) {
		s->state = TLS_SOCKET_CONNECTED;
	} else {
		/* The helper reset the hold, or died; make sure, and leave
		 * the socket unconnected with no stale error. */
		hold_dissolve(fd);
		s->state = TLS_SOCKET_FAILED;
		s->pending_error = e;
	}
	return 0;
}

void connect_collect_if_done(struct tls_socket *s, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (s->state != TLS_SOCKET_CONNECTING)
		return;
	/* Writable: the helper has finished with the socket, and its
	 * verdict is on the control socket or about to be. */
	if (collect(s, fd, false) == -EINPROGRESS && poll(&p, 1, 0) == 1)
		while (collect(s, fd, true) == -EINTR)
			;
}

/* The error of a failed attempt: once as its errno, then EBADFD. */
static int take_failure(struct tls_socket *s)
{
	int e = s->pending_error;

	s->pending_error = 0;
	return -(e ? e : EBADFD);
}

/* connect(AF_UNSPEC): dissolve the association, as on a TCP socket. */
static int dissolve(int fd, struct tls_socket *s)
{
	if (s->ctl >= 0) {
		REAL(close)(s->ctl);
		s->ctl = -1;
	}
	hold_dissolve(fd);
	s->state = TLS_SOCKET_IDLE;
	s->pending_error = 0;
	return 0;
}

int connect_start(int fd, struct tls_socket *s, const struct sockaddr *addr, socklen_t len)
{
	struct ssa_request req;
	sa_family_t family = AF_MAX;
	int r, listening = 0;
	socklen_t optlen = sizeof listening;

	if (len >= sizeof family && !optval_copy_in(&family, addr, sizeof family))
		return -EFAULT;
	if (family == AF_UNSPEC)
		return dissolve(fd, s);
	connect_collect_if_done(s, fd);
	switch (s->state) {
	case TLS_SOCKET_CONNECTING:
		return -EALREADY;
	case TLS_SOCKET_CONNECTED:
		return -EISCONN;
	case TLS_SOCKET_FAILED:
		return take_failure(s);
	case TLS_SOCKET_LISTENING:
		tls_socket_set_error(s, "the socket is listening");
		return -EOPNOTSUPP;
	case TLS_SOCKET_IDLE:
		break;
	}
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) == 0 && listening)
		return -EOPNOTSUPP;
	req = s->opts;
	req.kind = SSA_MSG_CONNECT;
	if ((r = parse_address(s, addr, len, &req)) < 0 || (r = files_check_pairs(s)) < 0)
		return r;
	/* Resumption data is kept per context, host name and port (SPEC §2). */
	s->session_key = (struct session_key){ .context = s->context };
	memcpy(s->session_key.host, req.hostname, sizeof s->session_key.host);
	s->session_key.port = req.resolve[0] ? req.port
			    : ntohs(req.addr.ss_family == AF_INET ? ((struct sockaddr_in *)&req.addr)->sin_port
								  : ((struct sockaddr_in6 *)&req.addr)->sin6_port);
	s->error[0] = '\0';
	r = start_attempt(fd, s, &req);
	if (r < 0) {
		s->state = TLS_SOCKET_FAILED;
		return r;
	}
	s->state = TLS_SOCKET_CONNECTING;
	if (fcntl(fd, F_GETFL) & O_NONBLOCK)
		return -EINPROGRESS;
	if ((r = collect(s, fd, true)) < 0)
		return r; /* -EINTR */
	return s->state == TLS_SOCKET_CONNECTED ? 0 : take_failure(s);
}

int connect_so_error(struct tls_socket *s, int fd, void *optval, socklen_t *optlen)
{
	int r;

	connect_collect_if_done(s, fd);
	if (s->state == TLS_SOCKET_CONNECTING)
		return optval_put_int(0, optval, optlen);
	if (s->state != TLS_SOCKET_FAILED)
		return 1;
	r = optval_put_int(s->pending_error, optval, optlen);
	if (r == 0)
		s->pending_error = 0;
	return r;
}

/* Copy a stored address out, truncating as getpeername(2) does. */
static void copy_addr(const struct sockaddr_storage *a, socklen_t alen, struct sockaddr *addr, socklen_t *len)
{
	memcpy(addr, a, *len < alen ? *len : alen);
	*len = alen;
}

int connect_peername(struct tls_socket *s, int fd, struct sockaddr *addr, socklen_t *len)
{
	connect_collect_if_done(s, fd);
	if (!addr || !len)
		return -EFAULT;
	if (s->state != TLS_SOCKET_CONNECTED || s->res.peer_len == 0)
		return -ENOTCONN;
	copy_addr(&s->res.peer, s->res.peer_len, addr, len);
	return 0;
}

int connect_sockname(struct tls_socket *s, int fd, struct sockaddr *addr, socklen_t *len)
{
	struct sockaddr_storage unbound = { .ss_family = s->domain == AF_INET6 ? AF_INET6 : AF_INET };

	connect_collect_if_done(s, fd);
	if (!addr || !len)
		return -EFAULT;
	if ((s->state == TLS_SOCKET_CONNECTED || s->state == TLS_SOCKET_LISTENING) && s->res.local_len > 0)
		copy_addr(&s->res.local, s->res.local_len, addr, len);
	else if (s->state == TLS_SOCKET_IDLE)
		return 1;
	else /* held on loopback, or was: no network address */
		copy_addr(&unbound, unbound.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								  : sizeof(struct sockaddr_in), addr, len);
	return 0;
}
