/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/*
 * shim.c: libssa-shim, the socket calls of the Secure Socket API.
 *
 * Linked with -lssa-shim or loaded with LD_PRELOAD, this library defines
 * socket(), connect(), setsockopt(), getsockopt(), getpeername(),
 * getsockname(), getaddrinfo(), listen(), accept(), accept4(), close(), dup2()
 * and dup3().  For a descriptor that is not an
 * IPPROTO_TLS socket each of them costs one load and a branch, then calls the
 * C library's own function (found with dlsym(RTLD_NEXT)).
 *
 * An IPPROTO_TLS socket is a real TCP socket in the application.  connect()
 * asks a fresh ssa-helper (see helper-channel.h) to connect to the peer, do
 * the TLS handshake and validate it; on success the shim connects the
 * application's socket over loopback to a socket it hands to the helper,
 * which relays plaintext between the two.  From then on reads and writes are
 * the kernel's: no call of the data path passes through this library.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "in_tls.h"
#include "helper-channel.h"
#include "hold.h"
#include "libc.h"
#include "policy.h"
#include "ssa-errno.h"
#include "ssa-io.h"
#include "ssa-wire.h"
#include "tls-socket.h"

#define SSA_EXPORT __attribute__((visibility("default")))

/* Return -1 with errno = e. */
static int fail(int e)
{
	errno = e;
	return -1;
}

/* --- socket() ----------------------------------------------------------- */

SSA_EXPORT int socket(int domain, int type, int protocol)
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	int fd, r;

	if (__builtin_expect(protocol != IPPROTO_TLS, 1))
		return REAL(socket)(domain, type, protocol);

	/* socket(2) of the SSA: stream sockets of these three domains only. */
	if (domain != AF_INET && domain != AF_INET6 && domain != AF_HOSTNAME)
		return fail(EAFNOSUPPORT);
	if (base != SOCK_STREAM)
		return fail(EPROTONOSUPPORT);
	fd = REAL(socket)(domain == AF_INET6 ? AF_INET6 : AF_INET, type, IPPROTO_TCP);
	if (fd < 0)
		return -1;
	r = tls_socket_add(fd, domain);
	if (r < 0) {
		REAL(close)(fd);
		return fail(-r);
	}
	return fd;
}

/* --- connect() ---------------------------------------------------------- */

/* What connect() asks the helper for, checked and copied out of the caller's
 * arguments. */
struct connect_request {
	const char *hostname;               /* verification name and SNI */
	char resolve[SSA_HOSTNAME_MAX];     /* AF_HOSTNAME: the name to resolve */
	uint16_t port;                      /* AF_HOSTNAME: host byte order */
	struct sockaddr_storage addr;       /* AF_INET, AF_INET6 */
	socklen_t addr_len;
};

/* Copy `len` bytes from the caller's `src` without faulting: false if any
 * of them lies outside the address space (process_vm_readv(2) on
 * ourselves reports EFAULT instead of raising SIGSEGV). */
static bool copy_from_caller(void *dst, const void *src, size_t len)
{
	struct iovec local = { .iov_base = dst, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)src, .iov_len = len };

	return src && process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)len;
}

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
 * fill *req: 0 or an errno. */
static int parse_address(struct tls_socket *s, const struct sockaddr *caller_addr, socklen_t len,
			 struct connect_request *req)
{
	union {
		struct sockaddr_storage ss;
		struct sockaddr_host sh;
	} copy;
	const struct sockaddr *addr = (const struct sockaddr *)&copy;
	sa_family_t family;

	if (len < sizeof(sa_family_t))
		return caller_addr ? EINVAL : EFAULT;
	if (!copy_from_caller(&copy, caller_addr, len < sizeof copy ? len : sizeof copy))
		return EFAULT;
	memcpy(&family, addr, sizeof family);
	/* As the kernel does for any socket address (move_addr_to_kernel). */
	if (len > (family == AF_HOSTNAME ? sizeof copy.sh : sizeof copy.ss))
		return EINVAL;
	switch (family) {
	case AF_INET:
		if (s->domain == AF_INET6)
			return EAFNOSUPPORT;
		if (len < sizeof(struct sockaddr_in))
			return EINVAL;
		memcpy(&req->addr, addr, sizeof(struct sockaddr_in));
		req->addr_len = sizeof(struct sockaddr_in);
		break;
	case AF_INET6:
		if (s->domain == AF_INET)
			return EAFNOSUPPORT;
		if (len < sizeof(struct sockaddr_in6))
			return EINVAL;
		memcpy(&req->addr, addr, sizeof(struct sockaddr_in6));
		req->addr_len = sizeof(struct sockaddr_in6);
		break;
	case AF_HOSTNAME: {
		const struct sockaddr_host *sh = (const struct sockaddr_host *)addr;
		size_t name_room, name_len;

		if (len <= offsetof(struct sockaddr_host, sh_name) || len > sizeof *sh)
			return EINVAL;
		name_room = len - offsetof(struct sockaddr_host, sh_name);
		name_len = strnlen(sh->sh_name, name_room);
		if (name_len == 0 || name_len == name_room)
			return EINVAL;
		memcpy(req->resolve, sh->sh_name, name_len + 1);
		req->port = ntohs(sh->sh_port);
		break;
	}
	default:
		return EAFNOSUPPORT;
	}
	if (!req->resolve[0] && multicast_or_broadcast(&req->addr)) {
		tls_socket_set_error(s, "a TLS peer cannot be a multicast or broadcast address");
		return EINVAL;
	}
	req->hostname = s->hostname[0] ? s->hostname : req->resolve;
	if (!req->hostname[0]) {
		tls_socket_set_error(s, "no host name: set TLS_HOSTNAME before connect(), "
					"or connect to an AF_HOSTNAME address");
		return EINVAL;
	}
	return 0;
}

/* The program's path, for the [app] sections of the policy; "" if unknown. */
static void program_path(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
}

/* The application's files, in the order the request announces them
 * (ssa-wire.h): the trust anchors, then each chain and its key.  Returns
 * how many were put in fds[]. */
static size_t request_files(const struct tls_socket *s, int *fds)
{
	size_t n = 0;

	if (s->trust_fd >= 0)
		fds[n++] = s->trust_fd;
	for (int i = 0; i < s->n_chains; i++) {
		fds[n++] = s->chain_fd[i];
		fds[n++] = s->key_fd[i];
	}
	return n;
}

/* Every chain has its key and every key its chain: 0, or EINVAL with the
 * reason (SPEC §2: TLS_PRIVATE_KEY is the key of the last chain given). */
static int check_key_pairs(struct tls_socket *s)
{
	const char *missing = NULL;

	if (s->n_chains == 0 && s->key_fd[0] >= 0)
		missing = "a key was given before any chain";
	for (int i = 0; i < s->n_chains && !missing; i++)
		if (s->key_fd[i] < 0)
			missing = "a chain was given without its key";
	if (!missing)
		return 0;
	tls_socket_set_error(s, "TLS_CERTIFICATE_CHAIN and TLS_PRIVATE_KEY go together: %s", missing);
	return EINVAL;
}

/* One field per name of a comma-joined list. */
static void put_list(struct ssa_msg *m, uint16_t tag, const char *list)
{
	while (*list) {
		size_t n = strcspn(list, ",");
		ssa_msg_put(m, tag, list, n);
		list += n;
		if (*list == ',')
			list++;
	}
}

/* Send the request on the control socket: SSA_MSG_CONNECT with `req` and
 * the socket's `hold`, or SSA_MSG_LISTEN without them.  0 or -errno. */
static int send_request(int ctl, const struct connect_request *req, const struct tls_socket *s,
			const struct hold *hold)
{
	uint8_t buf[8192];
	char exe[4096];
	struct ssa_msg m;
	size_t len;

	if (s->program)
		snprintf(exe, sizeof exe, "%s", s->program);
	else
		program_path(exe, sizeof exe);
	ssa_msg_init(&m, buf, sizeof buf, req ? SSA_MSG_CONNECT : SSA_MSG_LISTEN);
	if (req) {
		ssa_msg_put_str(&m, SSA_TAG_HOSTNAME, req->hostname);
		if (req->resolve[0]) {
			ssa_msg_put_str(&m, SSA_TAG_RESOLVE, req->resolve);
			ssa_msg_put_u16(&m, SSA_TAG_PORT, req->port);
		} else {
			ssa_msg_put(&m, SSA_TAG_ADDRESS, &req->addr, req->addr_len);
		}
		ssa_msg_put_u32(&m, SSA_TAG_HOLD_FILLER, hold->filler);
		ssa_msg_put_u32(&m, SSA_TAG_HOLD_LOWAT, (uint32_t)hold->lowat);
	} else if (s->peer_auth) {
		ssa_msg_put_u32(&m, SSA_TAG_PEER_AUTH, 1);
	}
	if (exe[0])
		ssa_msg_put_str(&m, SSA_TAG_EXE, exe);
	if (s->version_min >= 0)
		ssa_msg_put_u32(&m, SSA_TAG_VERSION_MIN, (uint32_t)s->version_min);
	if (s->version_max >= 0)
		ssa_msg_put_u32(&m, SSA_TAG_VERSION_MAX, (uint32_t)s->version_max);
	if (s->alpn[0])
		ssa_msg_put_str(&m, SSA_TAG_ALPN, s->alpn);
	ssa_msg_put_u32(&m, SSA_TAG_FILES, s->trust_fd >= 0 ? SSA_FILE_TRUST : 0);
	if (s->n_chains)
		ssa_msg_put_u32(&m, SSA_TAG_KEY_PAIRS, (uint32_t)s->n_chains);
	put_list(&m, SSA_TAG_CIPHER_OFF, s->ciphers_off);
	put_list(&m, SSA_TAG_CIPHER_ON, s->ciphers_on);
	if (s->session_reuse >= 0)
		ssa_msg_put_u32(&m, SSA_TAG_SESSION_REUSE, (uint32_t)s->session_reuse);
	if (s->revocation_checks >= 0 || s->ocsp_stapled_checks >= 0)
		ssa_msg_put_u32(&m, SSA_TAG_REVOCATION,
				(s->revocation_checks >= 0 ? 1u | (uint32_t)s->revocation_checks << 1 : 0) |
				(s->ocsp_stapled_checks >= 0 ? 4u | (uint32_t)s->ocsp_stapled_checks << 3 : 0));
	len = ssa_msg_finish(&m);
	if (len == 0)
		return -ENOBUFS;
	return ssa_send_all(ctl, buf, len, -1);
}

/* Append one PEM certificate to s->peer_chain: 0 or -ENOMEM. */
static int append_chain(struct tls_socket *s, const struct ssa_field *f)
{
	size_t have = s->peer_chain ? strlen(s->peer_chain) : 0;
	char *p = realloc(s->peer_chain, have + f->len + 1);

	if (!p)
		return -ENOMEM;
	memcpy(p + have, f->value, f->len);
	p[have + f->len] = '\0';
	s->peer_chain = p;
	return 0;
}

/* Replace the malloc'd string *slot by field f: 0, -ENOMEM or -EPROTO. */
static int replace_string_field(char **slot, const struct ssa_field *f)
{
	free(*slot);
	*slot = NULL;
	return ssa_field_strdup(f, slot);
}

/* Copy a sockaddr field into dst: 0 or -EPROTO. */
static int field_sockaddr(const struct ssa_field *f, struct sockaddr_storage *dst, socklen_t *len)
{
	if (f->len < sizeof(sa_family_t) || f->len > sizeof *dst)
		return -EPROTO;
	memcpy(dst, f->value, f->len);
	*len = f->len;
	return 0;
}

/*
 * Take a result's body into s (which the caller holds locked).  Returns 0
 * with *peer_errno set to the helper's verdict (0: connected), or -errno
 * when the body cannot be understood.
 */
static int parse_result(const uint8_t *body, size_t body_len, struct tls_socket *s, int *peer_errno)
{
	struct ssa_field_iter it;
	struct ssa_field f;
	uint32_t u32;
	int r = 0, more;

	*peer_errno = -1;
	ssa_field_iter_init(&it, body, body_len);
	while (r == 0 && (more = ssa_field_next(&it, &f)) != 0) {
		if (more < 0) {
			r = more;
			break;
		}
		switch (f.tag) {
		case SSA_TAG_ERRNO:
			r = ssa_field_u32(&f, &u32);
			*peer_errno = (int)u32;
			break;
		case SSA_TAG_REASON:
			r = ssa_field_str(&f, s->error, sizeof s->error);
			if (r < 0 && f.len >= sizeof s->error) {
				/* A longer reason is cut, not refused. */
				memcpy(s->error, f.value, sizeof s->error - 1);
				s->error[sizeof s->error - 1] = '\0';
				r = 0;
			}
			break;
		case SSA_TAG_ID:
			r = ssa_field_u64(&f, &s->id);
			break;
		case SSA_TAG_VERSION:
			r = ssa_field_u32(&f, &u32);
			s->version = u32 <= TLS_1_3 ? (int)u32 : -1;
			break;
		case SSA_TAG_CIPHER:
			r = ssa_field_str(&f, s->cipher, sizeof s->cipher);
			break;
		case SSA_TAG_PEER_IDENTITY:
			r = replace_string_field(&s->peer_identity, &f);
			break;
		case SSA_TAG_PEER_CHAIN:
			r = append_chain(s, &f);
			break;
		case SSA_TAG_PEER_ADDR:
			r = field_sockaddr(&f, &s->peer_addr, &s->peer_addr_len);
			break;
		case SSA_TAG_LOCAL_ADDR:
			r = field_sockaddr(&f, &s->local_addr, &s->local_addr_len);
			break;
		case SSA_TAG_ALPN_CHOSEN:
			r = ssa_field_str(&f, s->alpn_chosen, sizeof s->alpn_chosen);
			break;
		case SSA_TAG_POLICY:
			r = ssa_field_str(&f, s->policy_sections, sizeof s->policy_sections);
			break;
		case SSA_TAG_OCSP:
			r = ssa_field_str(&f, s->ocsp_status, sizeof s->ocsp_status);
			break;
		case SSA_TAG_TRUSTED_CIPHERS:
			r = replace_string_field(&s->trusted_ciphers, &f);
			break;
		case SSA_TAG_SNI:
			r = ssa_field_str(&f, s->sni, sizeof s->sni);
			break;
		case SSA_TAG_VERSION_RANGE:
			r = ssa_field_u32(&f, &u32);
			s->range_min = (int)(u32 >> 8 & 0xff);
			s->range_max = (int)(u32 & 0xff);
			break;
		default:
			r = -EPROTO;
		}
	}
	if (r == 0 && *peer_errno < 0)
		r = -EPROTO;
	return r;
}

/*
 * Read the helper's result into s (which the caller holds locked).  Returns 0
 * with *peer_errno set to the helper's verdict (0: connected), or -errno
 * when the helper could not be understood.
 */
static int read_result(int ctl, struct tls_socket *s, int *peer_errno)
{
	uint8_t header[SSA_WIRE_HEADER_SIZE];
	uint8_t *body;
	long body_len;
	int r;

	r = ssa_recv_exact(ctl, header, sizeof header, -1);
	if (r < 0)
		return r;
	body_len = ssa_wire_check_header(header, SSA_MSG_RESULT);
	if (body_len < 0)
		return (int)body_len;
	body = malloc((size_t)body_len + 1);
	if (!body)
		return -ENOMEM;
	r = ssa_recv_exact(ctl, body, (size_t)body_len, -1);
	if (r == 0)
		r = parse_result(body, (size_t)body_len, s, peer_errno);
	free(body);
	return r;
}

/*
 * Start an attempt: hold the socket (hold.h), reach a helper, send the
 * request and the descriptors it needs.  On success s->ctl is the open
 * control socket.  Returns 0 or an errno with s->error set; the socket is
 * left unconnected.
 */
static int start_attempt(int fd, struct tls_socket *s, const struct connect_request *req)
{
	struct hold hold;
	int ctl, r;

	r = hold_begin(fd, &hold);
	if (r < 0) {
		tls_socket_set_error(s, "cannot prepare the socket for the attempt: %s", strerror(-r));
		return ssa_errno_internal(-r);
	}
	ctl = helper_channel_open(s->error, sizeof s->error);
	if (ctl < 0) {
		hold_abandon(fd, &hold);
		return -ctl;
	}
	r = send_request(ctl, req, s, &hold);
	if (r == 0) {
		int fds[SSA_FDS_MAX] = { fd, hold.end };
		r = ssa_send_fds(ctl, fds, 2 + request_files(s, fds + 2));
	}
	if (r < 0) {
		REAL(close)(ctl);
		hold_abandon(fd, &hold);
		tls_socket_set_error(s, "the SSA helper went away before taking the request: %s", strerror(-r));
		return ECONNABORTED;
	}
	/* The helper's copy is the only one now: its death resets the socket. */
	REAL(close)(hold.end);
	s->ctl = ctl;
	return 0;
}

/*
 * Collect the helper's verdict on the attempt under way (s->lock held).
 * Without `wait`, only if it has arrived.  Waiting is a blocking recv(2),
 * which a signal handler interrupts unless it has SA_RESTART.
 * Returns 0 when the attempt is over (state CONNECTED or FAILED, with
 * s->pending_error set on failure), EINPROGRESS if not yet, or EINTR.
 */
static int collect_result(struct tls_socket *s, int fd, bool wait)
{
	struct pollfd p = { .fd = s->ctl, .events = POLLIN };
	uint8_t probe;
	int peer_errno = 0, r;

	if (!wait && poll(&p, 1, 0) == 0)
		return EINPROGRESS;
	/* Block until the first byte (restartable), then read the rest. */
	if (recv(s->ctl, &probe, 1, MSG_PEEK) < 0 && errno == EINTR)
		return EINTR;
	r = read_result(s->ctl, s, &peer_errno);
	REAL(close)(s->ctl);
	s->ctl = -1;
	if (r < 0) {
		if (!s->error[0] || r != -EPROTO)
			tls_socket_set_error(s, "the SSA helper went away during the attempt");
		peer_errno = ssa_errno_internal(-r);
	}
	peer_errno = ssa_errno_verdict(peer_errno);
	if (peer_errno == 0) {
		s->state = TLS_SOCKET_CONNECTED;
	} else {
		/* The helper reset the hold, or died; make sure, and leave
		 * the socket unconnected with no stale error. */
		hold_dissolve(fd);
		s->state = TLS_SOCKET_FAILED;
		s->pending_error = peer_errno;
	}
	return 0;
}

/* If the attempt under way is over, collect its result (s->lock held): when
 * the socket is writable the helper has finished with it, and its verdict
 * is on the control socket or about to be. */
static void collect_if_done(struct tls_socket *s, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (s->state != TLS_SOCKET_CONNECTING)
		return;
	if (collect_result(s, fd, false) == EINPROGRESS && poll(&p, 1, 0) == 1)
		while (collect_result(s, fd, true) == EINTR)
			;
}

/* Take the error of a failed attempt: once as its errno, then EBADFD. */
static int take_failure(struct tls_socket *s)
{
	int e = s->pending_error;

	s->pending_error = 0;
	return e ? e : EBADFD;
}

/*
 * connect() of an IPPROTO_TLS socket (s->lock held): returns 0, EINPROGRESS
 * (non-blocking socket), EINTR (a signal; the attempt goes on), or an errno
 * of SPEC §3 with s->error set to the reason.
 */
static int tls_connect(int fd, struct tls_socket *s, const struct sockaddr *addr, socklen_t len)
{
	struct connect_request req = { 0 };
	int r, listening = 0;
	socklen_t optlen = sizeof listening;

	sa_family_t family = AF_MAX;

	if (len >= sizeof family && !copy_from_caller(&family, addr, sizeof family))
		return EFAULT;
	if (family == AF_UNSPEC) {
		/* Dissolve the association, as on a TCP socket (SPEC §3). */
		if (s->ctl >= 0) {
			REAL(close)(s->ctl);
			s->ctl = -1;
		}
		hold_dissolve(fd);
		s->state = TLS_SOCKET_IDLE;
		s->pending_error = 0;
		return 0;
	}
	collect_if_done(s, fd);
	switch (s->state) {
	case TLS_SOCKET_CONNECTING:
		return EALREADY;
	case TLS_SOCKET_CONNECTED:
		return EISCONN;
	case TLS_SOCKET_FAILED:
		return take_failure(s);
	case TLS_SOCKET_LISTENING:
		tls_socket_set_error(s, "the socket is listening");
		return EOPNOTSUPP;
	case TLS_SOCKET_IDLE:
		break;
	}
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) == 0 && listening)
		return EOPNOTSUPP;
	r = parse_address(s, addr, len, &req);
	if (r != 0)
		return r;
	if ((r = check_key_pairs(s)) != 0)
		return r;
	s->error[0] = '\0';
	r = start_attempt(fd, s, &req);
	if (r != 0) {
		s->state = TLS_SOCKET_FAILED;
		return r;
	}
	s->state = TLS_SOCKET_CONNECTING;
	if (fcntl(fd, F_GETFL) & O_NONBLOCK)
		return EINPROGRESS;
	r = collect_result(s, fd, true);
	if (r != 0)
		return r; /* EINTR */
	return s->state == TLS_SOCKET_CONNECTED ? 0 : take_failure(s);
}

SSA_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct tls_socket *s = tls_socket_get(fd);
	int e;

	if (__builtin_expect(s == NULL, 1))
		return REAL(connect)(fd, addr, len);
	pthread_mutex_lock(&s->lock);
	e = tls_connect(fd, s, addr, len);
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	return e ? fail(e) : 0;
}

static bool local_policy(const struct tls_socket *s, struct policy *p, char *applied, size_t size);

/* --- socket options ----------------------------------------------------- */

/* Copy a string option out: the whole string and its NUL, or ERANGE with the
 * length needed in *optlen (as SO_PEERSEC does, socket(7)). */
static int get_string(const char *value, void *optval, socklen_t *optlen)
{
	size_t need = strlen(value) + 1;

	if (!optval || !optlen)
		return EFAULT;
	if (*optlen < need) {
		*optlen = (socklen_t)need;
		return ERANGE;
	}
	memcpy(optval, value, need);
	*optlen = (socklen_t)need;
	return 0;
}

static int get_int(int value, void *optval, socklen_t *optlen)
{
	if (!optval || !optlen)
		return EFAULT;
	if (*optlen < sizeof(int))
		return EINVAL;
	memcpy(optval, &value, sizeof value);
	*optlen = sizeof value;
	return 0;
}

/* getsockopt(IPPROTO_TLS, ...) on a TLS socket (caller holds s->lock). */
static int tls_getsockopt(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	bool connected = s->state == TLS_SOCKET_CONNECTED;

	switch (name) {
	case TLS_HOSTNAME:
		return get_string(s->hostname, optval, optlen);
	case TLS_ERROR:
		return get_string(s->error, optval, optlen);
	case TLS_CHOSEN_VERSION:
		return connected ? get_int(s->version, optval, optlen) : ENOTCONN;
	case TLS_CHOSEN_CIPHER:
		return connected ? get_string(s->cipher, optval, optlen) : ENOTCONN;
	case TLS_PEER_IDENTITY:
		return connected ? get_string(s->peer_identity ? s->peer_identity : "", optval, optlen)
				 : ENOTCONN;
	case TLS_PEER_CERTIFICATE_CHAIN:
		return connected ? get_string(s->peer_chain ? s->peer_chain : "", optval, optlen)
				 : ENOTCONN;
	case TLS_ID:
		/* Also after a failure: the id finds the journal entry. */
		if (!connected && !((s->state == TLS_SOCKET_FAILED || s->state == TLS_SOCKET_LISTENING) && s->id))
			return ENOTCONN;
		if (!optval || !optlen)
			return EFAULT;
		if (*optlen < sizeof s->id)
			return EINVAL;
		memcpy(optval, &s->id, sizeof s->id);
		*optlen = sizeof s->id;
		return 0;
	case TLS_VERSION_MIN:
	case TLS_VERSION_MAX: {
		int set = name == TLS_VERSION_MIN ? s->version_min : s->version_max;
		int effective = name == TLS_VERSION_MIN ? s->range_min : s->range_max;
		if (connected && effective >= 0)
			return get_int(effective, optval, optlen);
		if (set >= 0)
			return get_int(set, optval, optlen);
		tls_socket_set_error(s, "the policy decides the versions at connect()");
		return ENOTCONN;
	}
	case TLS_ALPN:
		return connected ? get_string(s->alpn_chosen, optval, optlen) : ENOTCONN;
	case TLS_TRUSTED_CIPHERS:
		return connected ? get_string(s->trusted_ciphers ? s->trusted_ciphers : "", optval, optlen) : ENOTCONN;
	case TLS_RESUMED_SESSION:
		/* Sessions are not resumed yet (see ssa(7), BUGS). */
		return connected ? get_int(0, optval, optlen) : ENOTCONN;
	case TLS_SESSION_TTL:
		return get_int(s->session_ttl >= 0 ? s->session_ttl : 0, optval, optlen);
	case TLS_CONTEXT:
		if (!optval || !optlen)
			return EFAULT;
		if (*optlen < sizeof s->context)
			return EINVAL;
		memcpy(optval, &s->context, sizeof s->context);
		*optlen = sizeof s->context;
		return 0;
	case TLS_SESSION_REUSE:
	case TLS_REVOCATION_CHECKS:
	case TLS_OCSP_STAPLED_CHECKS: {
		int set = name == TLS_SESSION_REUSE ? s->session_reuse
			: name == TLS_REVOCATION_CHECKS ? s->revocation_checks : s->ocsp_stapled_checks;
		struct policy p;
		char applied[256];
		if (set < 0) {
			/* Unset: what the policy gives this program. */
			if (!local_policy(s, &p, applied, sizeof applied))
				policy_defaults(&p);
			set = name == TLS_SESSION_REUSE ? p.session_resumption : p.ocsp_stapling != POLICY_OCSP_IGNORE;
		}
		return get_int(set, optval, optlen);
	}
	case TLS_OCSP_CHECKS:
	case TLS_CRL_CHECKS:
	case TLS_CACHED_REV_CHECKS:
		return get_int(0, optval, optlen); /* not available: see setsockopt */
	case TLS_POLICY_SECTIONS:
		return s->policy_sections[0] ? get_string(s->policy_sections, optval, optlen) : ENOTCONN;
	case TLS_OCSP_STATUS:
		return connected ? get_string(s->ocsp_status, optval, optlen) : ENOTCONN;
	case TLS_SNI:
		if (!s->accepted) {
			tls_socket_set_error(s, "TLS_SNI is the name a client asked for: only on a socket from accept()");
			return s->state == TLS_SOCKET_LISTENING ? EOPNOTSUPP : ENOTCONN;
		}
		return get_string(s->sni, optval, optlen);
	case TLS_REQUEST_PEER_AUTH:
	case TLS_TRUSTED_PEER_CERTIFICATES:
	case TLS_CERTIFICATE_CHAIN:
	case TLS_PRIVATE_KEY:
	case TLS_DISABLE_CIPHER:
	case TLS_ENABLE_CIPHER:
		tls_socket_set_error(s, "socket option %d can only be set", name);
		return EOPNOTSUPP;
	default:
		tls_socket_set_error(s, "socket option %d is not supported by this version of the SSA", name);
		return ENOPROTOOPT;
	}
}

/* SO_ERROR of a TLS socket (s->lock held): the errno of an attempt that
 * failed unseen, once; 0 while it is under way; else the TCP socket's own.
 * Returns -1 to ask for the C library's answer. */
static int tls_so_error(struct tls_socket *s, int fd, void *optval, socklen_t *optlen)
{
	collect_if_done(s, fd);
	if (s->state == TLS_SOCKET_CONNECTING)
		return get_int(0, optval, optlen);
	if (s->state == TLS_SOCKET_FAILED) {
		int e = get_int(s->pending_error, optval, optlen);
		if (e == 0)
			s->pending_error = 0;
		return e;
	}
	return -1;
}

SSA_EXPORT int getsockopt(int fd, int level, int name, void *optval, socklen_t *optlen)
{
	struct tls_socket *s = tls_socket_get(fd);
	int e = -1;

	if (__builtin_expect(s == NULL, 1))
		return REAL(getsockopt)(fd, level, name, optval, optlen);
	pthread_mutex_lock(&s->lock);
	if (level == IPPROTO_TLS) {
		collect_if_done(s, fd);
		e = tls_getsockopt(s, name, optval, optlen);
	} else if (level == SOL_SOCKET && name == SO_ERROR) {
		e = tls_so_error(s, fd, optval, optlen);
	} else if (level == SOL_SOCKET && name == SO_PROTOCOL) {
		e = get_int(IPPROTO_TLS, optval, optlen);
	} else if (level == SOL_SOCKET && name == SO_DOMAIN) {
		e = get_int(s->domain, optval, optlen);
	} else if (level == SOL_SOCKET && s->state == TLS_SOCKET_LISTENING && (name == SO_ACCEPTCONN || name == SO_TYPE)) {
		/* The descriptor is the accept queue; it answers for the
		 * listening TCP socket it stands for. */
		e = get_int(name == SO_ACCEPTCONN ? 1 : SOCK_STREAM, optval, optlen);
	}
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	if (e < 0)
		return REAL(getsockopt)(fd, level, name, optval, optlen);
	return e ? fail(e) : 0;
}

/* TLS_HOSTNAME: a name of 1..255 bytes, with or without its NUL. */
static int set_hostname(struct tls_socket *s, const void *optval, socklen_t optlen)
{
	size_t n;

	if (!optval)
		return EFAULT;
	if (s->state != TLS_SOCKET_IDLE) {
		tls_socket_set_error(s, "TLS_HOSTNAME can only be set before connect()");
		return EOPNOTSUPP;
	}
	n = strnlen(optval, optlen);
	if (n == 0 || n >= sizeof s->hostname) {
		tls_socket_set_error(s, "TLS_HOSTNAME must be 1 to %zu bytes", sizeof s->hostname - 1);
		return EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = ((const unsigned char *)optval)[i];
		if (c <= ' ' || c == 0x7f) {
			tls_socket_set_error(s, "TLS_HOSTNAME holds a space or control character");
			return EINVAL;
		}
	}
	memcpy(s->hostname, optval, n);
	s->hostname[n] = '\0';
	return 0;
}

/* An int option value: 0 and *v, or EINVAL / EFAULT. */
static int int_value(const void *optval, socklen_t optlen, int *v)
{
	if (optlen < sizeof(int))
		return EINVAL;
	return copy_from_caller(v, optval, sizeof *v) ? 0 : EFAULT;
}

/* A string option value (NUL-terminated within optlen, or exactly optlen
 * bytes) into dst[0..size): 0, EINVAL (empty or too long) or EFAULT. */
static int string_value(const void *optval, socklen_t optlen, char *dst, size_t size)
{
	size_t n;

	if (optlen == 0 || optlen > 4096)
		return EINVAL;
	char buf[4097];
	if (!copy_from_caller(buf, optval, optlen))
		return EFAULT;
	buf[optlen] = '\0';
	n = strlen(buf);
	if (n == 0 || n >= size)
		return EINVAL;
	memcpy(dst, buf, n + 1);
	return 0;
}

/* Add `word` to the comma-joined `list` (size bytes) unless present: false
 * if it does not fit. */
static bool list_add(char *list, size_t size, const char *word)
{
	size_t have = strlen(list), n = strlen(word);
	const char *p = list;

	while (*p) {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, word, n) == 0)
			return true;
		p += len + (p[len] == ',');
	}
	if (have + n + 2 > size)
		return false;
	snprintf(list + have, size - have, "%s%s", have ? "," : "", word);
	return true;
}

/* Remove `word` from the comma-joined `list`. */
static void list_remove(char *list, const char *word)
{
	size_t n = strlen(word);
	char *p = list;

	while (*p) {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, word, n) == 0) {
			char *next = p + len + (p[len] == ',');
			memmove(p, next, strlen(next) + 1);
			if (!*p && p > list)
				p[-1] = '\0';
			return;
		}
		p += len + (p[len] == ',');
	}
}

/* TLS_ALPN: "proto1,proto2", each 1..255 bytes of printable ASCII
 * (RFC 7301 §3.1). */
static bool valid_alpn(const char *list)
{
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n > 255)
			return false;
		for (size_t i = 0; i < n; i++)
			if (p[i] <= ' ' || p[i] > '~')
				return false;
		p += n;
		if (*p == ',' && !*++p)
			return false;
	}
	return true;
}

/*
 * A trust directory, read with the application's permissions: the regular
 * files in it, concatenated into one memfd (at most 4 MiB), so that the
 * helper gets contents and never opens a file itself.  Takes `fd`; returns
 * it unchanged if it is not a directory, the memfd, or -errno.
 */
static int directory_as_file(int fd)
{
	struct stat st;
	struct dirent *d;
	size_t total = 0;
	char buf[65536];
	DIR *dir;
	int out;

	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
		return fd;
	out = memfd_create("ssa-trust", MFD_CLOEXEC);
	dir = out >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		int e = errno;
		if (out >= 0)
			REAL(close)(out);
		REAL(close)(fd);
		return -e;
	}
	while ((d = readdir(dir)) != NULL) {
		int f = openat(dirfd(dir), d->d_name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		ssize_t n;
		if (f < 0)
			continue;
		if (fstat(f, &st) == 0 && S_ISREG(st.st_mode))
			while ((n = read(f, buf, sizeof buf)) > 0 && total < (4u << 20)) {
				if (write(out, buf, (size_t)n) != n)
					break;
				total += (size_t)n;
			}
		REAL(close)(f);
	}
	closedir(dir);
	lseek(out, 0, SEEK_SET);
	return out;
}

/* TLS_TRUSTED_PEER_CERTIFICATES, TLS_CERTIFICATE_CHAIN, TLS_PRIVATE_KEY: the
 * application opens the file itself, with its own permissions and relative
 * to its current directory; the helper gets the descriptor at connect() or
 * listen().  Each chain starts a new pair (several on a listening socket,
 * chosen by SNI); a key belongs to the last chain given. */
static int set_file(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	int *slot;
	char path[4096];
	int e = string_value(optval, optlen, path, sizeof path), fd;

	if (e)
		return e;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		tls_socket_set_error(s, "cannot open %s: %s", path, strerror(e));
		return e;
	}
	if (name == TLS_TRUSTED_PEER_CERTIFICATES && (fd = directory_as_file(fd)) < 0) {
		tls_socket_set_error(s, "cannot read the directory %s: %s", path, strerror(-fd));
		return -fd;
	}
	if (name == TLS_TRUSTED_PEER_CERTIFICATES) {
		slot = &s->trust_fd;
	} else if (name == TLS_PRIVATE_KEY) {
		slot = &s->key_fd[s->n_chains ? s->n_chains - 1 : 0];
	} else if (s->n_chains == SSA_KEY_PAIRS_MAX) {
		REAL(close)(fd);
		tls_socket_set_error(s, "at most %d certificate chains per socket", SSA_KEY_PAIRS_MAX);
		return ENOBUFS;
	} else {
		slot = &s->chain_fd[s->n_chains++];
	}
	if (*slot >= 0)
		REAL(close)(*slot);
	*slot = fd;
	return 0;
}

/*
 * The policy this program would get for s->hostname (unset: the [defaults]
 * and [app] sections only), read here so that an option loosening it fails
 * at once with EPERM.  Returns false if the policy cannot be read (not
 * readable by this user, or broken): the helper is the judge at connect()
 * either way.
 */
static bool local_policy(const struct tls_socket *s, struct policy *p, char *applied, size_t size)
{
	struct policy_set *set;
	char *error = NULL, exe[4096];

	if (policy_set_load(policy_dir(), &set, &error) < 0) {
		free(error);
		return false;
	}
	if (s->program)
		snprintf(exe, sizeof exe, "%s", s->program);
	else
		program_path(exe, sizeof exe);
	policy_resolve(set, exe, s->hostname[0] ? s->hostname : NULL, p, applied, size);
	policy_set_free(set);
	return true;
}

/* EPERM if option `name` with value `v` would loosen the policy (SPEC §2). */
static int check_tighten(struct tls_socket *s, int name, int v)
{
	static const char *const versions[] = { "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3" };
	char applied[256];
	struct policy p;

	if (!local_policy(s, &p, applied, sizeof applied))
		return 0;
	if (name == TLS_VERSION_MIN && v < p.min_version) {
		tls_socket_set_error(s, "TLS_VERSION_MIN %s is below the policy's min-version %s (%s)",
				     versions[v], versions[p.min_version], applied);
		return EPERM;
	}
	if (name == TLS_VERSION_MAX && v > p.max_version) {
		tls_socket_set_error(s, "TLS_VERSION_MAX %s is above the policy's max-version %s (%s)",
				     versions[v], versions[p.max_version], applied);
		return EPERM;
	}
	if (name == TLS_SESSION_REUSE && v == 1 && !p.session_resumption) {
		tls_socket_set_error(s, "TLS_SESSION_REUSE refused: session-resumption = no (%s)", applied);
		return EPERM;
	}
	if ((name == TLS_REVOCATION_CHECKS || name == TLS_OCSP_STAPLED_CHECKS) && v == 0 &&
	    p.ocsp_stapling != POLICY_OCSP_IGNORE) {
		tls_socket_set_error(s, "socket option %d = 0 refused: the policy checks stapled OCSP responses "
					"(ocsp-stapling = %s, %s)", name,
				     p.ocsp_stapling == POLICY_OCSP_REQUIRE ? "require" : "verify", applied);
		return EPERM;
	}
	if (name == TLS_TRUSTED_PEER_CERTIFICATES && p.app_trust_store == POLICY_APP_TRUST_DENY) {
		tls_socket_set_error(s, "TLS_TRUSTED_PEER_CERTIFICATES refused: app-trust-store = deny (%s)", applied);
		return EPERM;
	}
	return 0;
}

/* setsockopt(IPPROTO_TLS, ...) on a TLS socket (caller holds s->lock):
 * syntax and phase, and the policy as far as this program can read it (an
 * option that loosens it: EPERM); the helper applies the policy again at
 * connect(), with the final host name, and is the one that counts. */
static int tls_setsockopt(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	int v, e;

	switch (name) {
	case TLS_HOSTNAME:
	case TLS_VERSION_MIN:
	case TLS_VERSION_MAX:
	case TLS_ALPN:
	case TLS_TRUSTED_PEER_CERTIFICATES:
	case TLS_CERTIFICATE_CHAIN:
	case TLS_PRIVATE_KEY:
	case TLS_PROGRAM:
	case TLS_DISABLE_CIPHER:
	case TLS_ENABLE_CIPHER:
	case TLS_SESSION_TTL:
	case TLS_CONTEXT:
	case TLS_SESSION_REUSE:
	case TLS_REVOCATION_CHECKS:
	case TLS_OCSP_STAPLED_CHECKS:
	case TLS_OCSP_CHECKS:
	case TLS_CRL_CHECKS:
	case TLS_CACHED_REV_CHECKS:
	case TLS_REQUEST_PEER_AUTH:
		if (s->state != TLS_SOCKET_IDLE || s->accepted) {
			tls_socket_set_error(s, "socket option %d can only be set before connect() or listen()", name);
			return EOPNOTSUPP;
		}
		break;
	case TLS_SNI:
	case TLS_ERROR:
	case TLS_PEER_IDENTITY:
	case TLS_PEER_CERTIFICATE_CHAIN:
	case TLS_ID:
	case TLS_TRUSTED_CIPHERS:
	case TLS_CHOSEN_CIPHER:
	case TLS_RESUMED_SESSION:
	case TLS_CHOSEN_VERSION:
	case TLS_POLICY_SECTIONS:
	case TLS_OCSP_STATUS:
		tls_socket_set_error(s, "socket option %d can only be read", name);
		return EOPNOTSUPP;
	default:
		tls_socket_set_error(s, "socket option %d is not supported by this version of the SSA", name);
		return ENOPROTOOPT;
	}
	switch (name) {
	case TLS_HOSTNAME:
		return set_hostname(s, optval, optlen);
	case TLS_VERSION_MIN:
	case TLS_VERSION_MAX:
		if ((e = int_value(optval, optlen, &v)) != 0)
			return e;
		if (v < TLS_1_0 || v > TLS_1_3) {
			tls_socket_set_error(s, "TLS versions are TLS_1_0 (0) to TLS_1_3 (3), not %d", v);
			return EINVAL;
		}
		if ((name == TLS_VERSION_MIN && s->version_max >= 0 && v > s->version_max) ||
		    (name == TLS_VERSION_MAX && s->version_min >= 0 && v < s->version_min)) {
			tls_socket_set_error(s, "TLS_VERSION_MIN would be above TLS_VERSION_MAX");
			return EINVAL;
		}
		if ((e = check_tighten(s, name, v)) != 0)
			return e;
		*(name == TLS_VERSION_MIN ? &s->version_min : &s->version_max) = v;
		return 0;
	case TLS_ALPN: {
		char list[sizeof s->alpn];
		if ((e = string_value(optval, optlen, list, sizeof list)) != 0 || !valid_alpn(list)) {
			tls_socket_set_error(s, "TLS_ALPN is a comma-separated list of protocol names");
			return e == EFAULT ? EFAULT : EINVAL;
		}
		memcpy(s->alpn, list, sizeof list);
		return 0;
	}
	case TLS_PROGRAM: {
		char path[4096];
		if ((e = string_value(optval, optlen, path, sizeof path)) != 0 || path[0] != '/')
			return e ? e : EINVAL;
		free(s->program);
		s->program = strdup(path);
		return s->program ? 0 : ENOMEM;
	}
	case TLS_DISABLE_CIPHER:
	case TLS_ENABLE_CIPHER: {
		char suite[65];
		if ((e = string_value(optval, optlen, suite, sizeof suite)) != 0 ||
		    strspn(suite, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(suite)) {
			tls_socket_set_error(s, "a cipher suite name, such as TLS_AES_128_GCM_SHA256");
			return e == EFAULT ? EFAULT : EINVAL;
		}
		/* The last word on a suite counts: drop it from the other list. */
		list_remove(name == TLS_DISABLE_CIPHER ? s->ciphers_on : s->ciphers_off, suite);
		return list_add(name == TLS_DISABLE_CIPHER ? s->ciphers_off : s->ciphers_on, sizeof s->ciphers_off, suite)
			       ? 0 : ENOBUFS;
	}
	case TLS_SESSION_TTL:
		if ((e = int_value(optval, optlen, &v)) != 0)
			return e;
		if (v < 0)
			return EINVAL;
		s->session_ttl = v;
		return 0;
	case TLS_CONTEXT:
		if (optlen < sizeof s->context)
			return EINVAL;
		return copy_from_caller(&s->context, optval, sizeof s->context) ? 0 : EFAULT;
	case TLS_SESSION_REUSE:
	case TLS_REVOCATION_CHECKS:
	case TLS_OCSP_STAPLED_CHECKS:
	case TLS_OCSP_CHECKS:
	case TLS_CRL_CHECKS:
	case TLS_CACHED_REV_CHECKS:
		if ((e = int_value(optval, optlen, &v)) != 0)
			return e;
		if (v != 0 && v != 1) {
			tls_socket_set_error(s, "socket option %d takes 0 or 1", name);
			return EINVAL;
		}
		if (v == 1 && (name == TLS_OCSP_CHECKS || name == TLS_CRL_CHECKS || name == TLS_CACHED_REV_CHECKS)) {
			tls_socket_set_error(s, "online OCSP, CRL and cached revocation checks are not available: the helper "
						"checks stapled OCSP responses (ocsp-stapling in ssa.ini(5))");
			return EOPNOTSUPP;
		}
		if (name == TLS_OCSP_CHECKS || name == TLS_CRL_CHECKS || name == TLS_CACHED_REV_CHECKS)
			return 0; /* off, as they are */
		if ((e = check_tighten(s, name, v)) != 0)
			return e;
		*(name == TLS_SESSION_REUSE ? &s->session_reuse
		  : name == TLS_REVOCATION_CHECKS ? &s->revocation_checks : &s->ocsp_stapled_checks) = v;
		return 0;
	case TLS_TRUSTED_PEER_CERTIFICATES:
		if ((e = check_tighten(s, name, 0)) != 0)
			return e;
		return set_file(s, name, optval, optlen);
	case TLS_REQUEST_PEER_AUTH:
		if ((e = int_value(optval, optlen, &v)) != 0)
			return e;
		s->peer_auth = v != 0;
		return 0;
	default: /* TLS_CERTIFICATE_CHAIN, TLS_PRIVATE_KEY */
		return set_file(s, name, optval, optlen);
	}
}

SSA_EXPORT int setsockopt(int fd, int level, int name, const void *optval, socklen_t optlen)
{
	struct tls_socket *s = tls_socket_get(fd);
	int e;

	if (__builtin_expect(s == NULL, 1))
		return REAL(setsockopt)(fd, level, name, optval, optlen);
	if (level != IPPROTO_TLS) {
		tls_socket_put(s);
		return REAL(setsockopt)(fd, level, name, optval, optlen);
	}
	pthread_mutex_lock(&s->lock);
	e = tls_setsockopt(s, name, optval, optlen);
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	return e ? fail(e) : 0;
}

/* --- addresses ---------------------------------------------------------- */

/* Copy a stored address out, truncating as getpeername(2) does. */
static void copy_addr(const struct sockaddr_storage *a, socklen_t alen, struct sockaddr *addr,
		      socklen_t *len)
{
	memcpy(addr, a, *len < alen ? *len : alen);
	*len = alen;
}

SSA_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct tls_socket *s = tls_socket_get(fd);
	int e = 0;

	if (__builtin_expect(s == NULL, 1))
		return REAL(getpeername)(fd, addr, len);
	pthread_mutex_lock(&s->lock);
	collect_if_done(s, fd);
	if (!addr || !len)
		e = EFAULT;
	else if (s->state != TLS_SOCKET_CONNECTED || s->peer_addr_len == 0)
		e = ENOTCONN;
	else
		copy_addr(&s->peer_addr, s->peer_addr_len, addr, len);
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	return e ? fail(e) : 0;
}

SSA_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct tls_socket *s = tls_socket_get(fd);
	struct sockaddr_storage unbound = { .ss_family = AF_INET };
	int e = 0;

	if (__builtin_expect(s == NULL, 1))
		return REAL(getsockname)(fd, addr, len);
	pthread_mutex_lock(&s->lock);
	collect_if_done(s, fd);
	if (!addr || !len) {
		e = EFAULT;
	} else if ((s->state == TLS_SOCKET_CONNECTED || s->state == TLS_SOCKET_LISTENING) && s->local_addr_len > 0) {
		copy_addr(&s->local_addr, s->local_addr_len, addr, len);
	} else if (s->state == TLS_SOCKET_IDLE) {
		/* Not connected: the TCP socket's own address (bound or not). */
		e = -1;
	} else {
		/* An attempt under way or failed: no local network address (the
		 * socket itself is held on loopback, or was). */
		if (s->domain == AF_INET6)
			unbound.ss_family = AF_INET6;
		copy_addr(&unbound, unbound.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								 : sizeof(struct sockaddr_in), addr, len);
	}
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	if (e < 0)
		return REAL(getsockname)(fd, addr, len);
	return e ? fail(e) : 0;
}

/* --- listen() and accept() --------------------------------------------- */

/*
 * listen() of an IPPROTO_TLS socket (s->lock held): 0 or an errno with
 * s->error set.
 *
 * The TCP socket starts listening here (so that binding errors are the
 * kernel's), then goes to a fresh helper together with the application's
 * chain and key files and one end of a SOCK_SEQPACKET pair.  Once the
 * helper has checked the keys and the policy, the other end of the pair
 * replaces the application's descriptor (dup3(2)): from then on the
 * descriptor is the accept queue, readable when a connection that finished
 * its handshake waits there, and closing it closes the listening socket.
 */
static int tls_listen(int fd, struct tls_socket *s, int backlog)
{
	struct stat st;
	struct sockaddr_storage local;
	socklen_t local_len = sizeof local;
	struct timeval rcvtimeo = { 0 };
	socklen_t tv_len = sizeof rcvtimeo;
	int queue[2], fds[SSA_FDS_MAX], ctl, r, peer_errno = 0, fl, fdfl;

	if (s->state == TLS_SOCKET_LISTENING)
		return 0; /* as listen(2) again: the helper keeps its backlog */
	if (s->state != TLS_SOCKET_IDLE || s->accepted) {
		tls_socket_set_error(s, "a socket that is connected or was connected cannot listen");
		return EOPNOTSUPP;
	}
	if (s->domain == AF_HOSTNAME) {
		tls_socket_set_error(s, "an AF_HOSTNAME socket names a peer: listen on an AF_INET or AF_INET6 socket");
		return EOPNOTSUPP;
	}
	if (s->n_chains == 0) {
		tls_socket_set_error(s, "a listening TLS socket needs TLS_CERTIFICATE_CHAIN and TLS_PRIVATE_KEY "
					"before listen()");
		return EINVAL;
	}
	if ((r = check_key_pairs(s)) != 0)
		return r;
	if (REAL(listen)(fd, backlog) < 0)
		return errno;
	/* The flags before the helper has the socket: it makes the (shared)
	 * open file non-blocking for itself. */
	fl = fcntl(fd, F_GETFL);
	fdfl = fcntl(fd, F_GETFD);
	if (REAL(getsockname)(fd, (struct sockaddr *)&local, &local_len) < 0)
		local_len = 0;
	REAL(getsockopt)(fd, SOL_SOCKET, SO_RCVTIMEO, &rcvtimeo, &tv_len);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, queue) < 0) {
		r = errno;
		hold_dissolve(fd);
		tls_socket_set_error(s, "cannot make the accept queue: %s", strerror(r));
		return ssa_errno_internal(r);
	}
	s->error[0] = '\0';
	ctl = helper_channel_open(s->error, sizeof s->error);
	r = ctl < 0 ? ctl : send_request(ctl, NULL, s, NULL);
	if (r == 0) {
		fds[0] = fd;
		fds[1] = queue[1];
		r = ssa_send_fds(ctl, fds, 2 + request_files(s, fds + 2));
	}
	if (r == 0) {
		r = read_result(ctl, s, &peer_errno);
		if (r == 0 && peer_errno != 0)
			r = -peer_errno;
		else if (r < 0)
			tls_socket_set_error(s, "the SSA helper went away before it took the listening socket");
	} else if (ctl >= 0) {
		tls_socket_set_error(s, "the SSA helper went away before it took the listening socket: %s",
				     strerror(-r));
		r = -ECONNABORTED;
	}
	if (ctl >= 0)
		REAL(close)(ctl);
	REAL(close)(queue[1]);
	if (r < 0) {
		REAL(close)(queue[0]);
		hold_dissolve(fd); /* LISTEN -> CLOSE, as before the call */
		return ssa_errno_verdict(-r);
	}
	/* The queue takes the place of the socket, with its flags. */
	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(queue[0], F_SETFL, fcntl(queue[0], F_GETFL) | O_NONBLOCK);
	if (rcvtimeo.tv_sec || rcvtimeo.tv_usec)
		REAL(setsockopt)(queue[0], SOL_SOCKET, SO_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo);
	if (fstat(queue[0], &st) == 0)
		s->ino = st.st_ino;
	if (REAL(dup3)(queue[0], fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		r = errno;
		REAL(close)(queue[0]);
		tls_socket_set_error(s, "cannot install the accept queue: %s", strerror(r));
		return ENOBUFS;
	}
	REAL(close)(queue[0]);
	memcpy(&s->local_addr, &local, sizeof local);
	s->local_addr_len = local_len;
	s->state = TLS_SOCKET_LISTENING;
	return 0;
}

SSA_EXPORT int listen(int fd, int backlog)
{
	struct tls_socket *s = tls_socket_get(fd);
	int e;

	if (__builtin_expect(s == NULL, 1))
		return REAL(listen)(fd, backlog);
	pthread_mutex_lock(&s->lock);
	e = tls_listen(fd, s, backlog);
	pthread_mutex_unlock(&s->lock);
	tls_socket_put(s);
	return e ? fail(e) : 0;
}

/*
 * Receive one connection from the accept queue `fd` (blocking unless the
 * queue is non-blocking): the new descriptor, or -errno.  The record of
 * the new descriptor holds what the helper reported; `domain` is the
 * listening socket's.
 */
static int receive_connection(int fd, int domain, int flags, struct tls_socket **out)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	uint8_t *buf = malloc(SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX);
	struct iovec iov = { .iov_base = buf, .iov_len = SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof control.buf };
	struct cmsghdr *c;
	struct tls_socket *t;
	int conn = -1, peer_errno, r;
	ssize_t n;
	long body_len;

	if (!buf)
		return -ENOMEM;
	n = recvmsg(fd, &mh, flags & SOCK_CLOEXEC ? MSG_CMSG_CLOEXEC : 0);
	if (n < 0) {
		r = -errno;
		free(buf);
		return r;
	}
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&conn, CMSG_DATA(c), sizeof conn);
	if (n == 0 && conn < 0) {
		free(buf);
		return -EPIPE; /* the listener is gone */
	}
	body_len = (size_t)n >= SSA_WIRE_HEADER_SIZE ? ssa_wire_check_header(buf, SSA_MSG_RESULT) : -EPROTO;
	r = conn < 0 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || body_len < 0 ||
			    (size_t)body_len != (size_t)n - SSA_WIRE_HEADER_SIZE ? -EPROTO : 0;
	if (r == 0)
		r = tls_socket_add(conn, domain);
	t = r == 0 ? tls_socket_get(conn) : NULL;
	if (r == 0 && !t)
		r = -ENOMEM;
	if (r == 0) {
		pthread_mutex_lock(&t->lock);
		r = parse_result(buf + SSA_WIRE_HEADER_SIZE, (size_t)body_len, t, &peer_errno);
		if (r == 0 && peer_errno != 0)
			r = -EPROTO;
		t->state = TLS_SOCKET_CONNECTED;
		t->accepted = true;
		pthread_mutex_unlock(&t->lock);
	}
	free(buf);
	if (r < 0) {
		if (t)
			tls_socket_put(t);
		if (conn >= 0) {
			tls_socket_forget(conn);
			REAL(close)(conn);
		}
		return r;
	}
	if (flags & SOCK_NONBLOCK)
		fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) | O_NONBLOCK);
	*out = t;
	return conn;
}

/* accept4() of a listening IPPROTO_TLS socket: a plaintext descriptor
 * whose handshake is over, or -1 with errno as accept(2) has it. */
static int tls_accept(int fd, struct tls_socket *s, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct tls_socket *t = NULL;
	int domain, conn;

	pthread_mutex_lock(&s->lock);
	if (s->state != TLS_SOCKET_LISTENING) {
		tls_socket_set_error(s, "accept() needs a listening socket");
		pthread_mutex_unlock(&s->lock);
		return fail(EINVAL);
	}
	domain = s->domain;
	pthread_mutex_unlock(&s->lock);
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return fail(EINVAL);
	if (addr && !len)
		return fail(EFAULT);
	/* Without the lock: other threads may accept or ask at the same time. */
	conn = receive_connection(fd, domain, flags, &t);
	if (conn == -EPIPE || conn == -EPROTO) {
		pthread_mutex_lock(&s->lock);
		tls_socket_set_error(s, conn == -EPIPE ? "the SSA helper serving this listening socket is gone "
							 "(see the journal)"
						       : "a connection from the SSA helper could not be understood");
		pthread_mutex_unlock(&s->lock);
		return fail(conn == -EPIPE ? EINVAL : ECONNABORTED);
	}
	if (conn < 0)
		return fail(-conn);
	if (addr) {
		pthread_mutex_lock(&t->lock);
		copy_addr(&t->peer_addr, t->peer_addr_len, addr, len);
		pthread_mutex_unlock(&t->lock);
	}
	tls_socket_put(t);
	return conn;
}

SSA_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct tls_socket *s = tls_socket_get(fd);
	int r;

	if (__builtin_expect(s == NULL, 1))
		return REAL(accept4)(fd, addr, len, flags);
	r = tls_accept(fd, s, addr, len, flags);
	tls_socket_put(s);
	return r;
}

SSA_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}

/* --- names ------------------------------------------------------------- */

/*
 * getaddrinfo(3) for IPPROTO_TLS: the C library knows no such protocol and
 * fails with EAI_SOCKTYPE, so resolve as for TCP and label the results with
 * IPPROTO_TLS.  Event loops (Python's asyncio among them) resolve with the
 * socket's own type and protocol before connecting.
 */
SSA_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			   struct addrinfo **res)
{
	struct addrinfo tcp_hints;
	int r;

	if (__builtin_expect(!hints || hints->ai_protocol != IPPROTO_TLS, 1))
		return REAL(getaddrinfo)(node, service, hints, res);
	if (hints->ai_socktype != 0 && hints->ai_socktype != SOCK_STREAM)
		return EAI_SOCKTYPE;
	tcp_hints = *hints;
	tcp_hints.ai_socktype = SOCK_STREAM;
	tcp_hints.ai_protocol = IPPROTO_TCP;
	r = REAL(getaddrinfo)(node, service, &tcp_hints, res);
	if (r == 0)
		for (struct addrinfo *ai = *res; ai; ai = ai->ai_next)
			ai->ai_protocol = IPPROTO_TLS;
	return r;
}

/* --- descriptors -------------------------------------------------------- */

SSA_EXPORT int close(int fd)
{
	tls_socket_forget(fd);
	return REAL(close)(fd);
}

SSA_EXPORT int dup2(int oldfd, int newfd)
{
	int r = REAL(dup2)(oldfd, newfd);

	if (r >= 0 && oldfd != newfd)
		tls_socket_forget(newfd);
	return r;
}

SSA_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	int r = REAL(dup3)(oldfd, newfd, flags);

	if (r >= 0)
		tls_socket_forget(newfd);
	return r;
}
