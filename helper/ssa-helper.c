/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/*
 * ssa-helper: one TLS connection, or one listening socket, on behalf of an
 * application.
 *
 * Started by systemd for each connection to ssa-helper.socket (Accept=yes,
 * the connection is fd 3, sd_listen_fds(3)), or by the shim over a
 * socketpair with --standalone.  It reads the request, takes the
 * application's identity from SO_PEERCRED, applies the policy, and then
 * plays one of three parts (ssa-wire.h):
 *
 * - connect(): connects to the peer, does the handshake and validation,
 *   releases (or resets) the application's held socket (hold.h), reports
 *   the result, and relays plaintext over the hold's end until both sides
 *   are done;
 * - listen(): checks the keys, reports, and stays as the listener of the
 *   application's bound socket (listener.h), obtaining one more helper per
 *   client;
 * - such a client: does the server handshake, hands the application's end
 *   of a plaintext connection to the listener, and relays.
 *
 * One journal entry per connection and per listening socket (SPEC §5).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "app-socket.h"
#include "hold.h"
#include "listener.h"
#include "in_tls.h"
#include "peer-connect.h"
#include "policy.h"
#include "relay.h"
#include "ssa-errno.h"
#include "ssa-io.h"
#include "ssa-wire.h"
#include "tls-session.h"

/* How long a client may take to send its request or the plaintext socket. */
#define REQUEST_TIMEOUT_MS 10000
/* After the application's end of file: how long the peer and the
 * application may both be idle before the helper gives up on the peer's
 * close_notify.  Generous, as a server may take its time to answer a
 * half-closed request. */
#define CLOSE_NOTIFY_IDLE_S 60
/* How long a peer may take none of the application's data. */
#define PEER_STALL_S 300

/* Everything about the one connection (or listening socket) this process
 * serves. */
struct connection {
	enum ssa_msg_type kind;      /* SSA_MSG_CONNECT, _LISTEN or _ACCEPT */
	int ctl_fd;                  /* control socket to the shim or the listener (fd 3) */
	int net_fd;                  /* TCP socket to the peer (the client, for ACCEPT), or -1 */
	int listen_fd;               /* LISTEN: the application's bound TCP socket, or -1 */
	int queue_fd;                /* LISTEN: the application's end of the accept queue, or -1 */
	uint8_t *body;               /* LISTEN: the request, forwarded with each client */
	size_t body_len;
	int app_fd;                  /* plaintext loopback socket (CONNECT: the hold's end), or -1 */
	int app_sock;                /* CONNECT: the application's own socket until the hold ends, or -1 */
	uint32_t hold_filler;        /* CONNECT: the hold (hold.h) */
	int hold_lowat;
	uint64_t id;                 /* SSA_ID */
	struct ucred cred;           /* the application, from SO_PEERCRED */
	int64_t start_ms;
	/* The request. */
	char hostname[SSA_HOSTNAME_MAX];
	char resolve[SSA_HOSTNAME_MAX];
	uint16_t port;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int version_min, version_max; /* TLS_VERSION_MIN/MAX the application set, or -1 */
	char alpn[256];              /* TLS_ALPN, or "" */
	uint32_t files;              /* enum ssa_file: which files follow the sockets */
	uint32_t n_pairs;            /* chain and key pairs that follow */
	bool peer_auth;              /* TLS_REQUEST_PEER_AUTH */
	struct ucred claimed;        /* ACCEPT: the application, as the listener saw it */
	bool claimed_verified;
	char ciphers_off[16][65], ciphers_on[16][65]; /* TLS_DISABLE/ENABLE_CIPHER */
	size_t n_off, n_on;
	char cipher_mods[1024];      /* priority modifiers for them */
	int session_reuse;           /* TLS_SESSION_REUSE, or -1 */
	int revocation_checks, ocsp_stapled_checks; /* 0/1, or -1 */
	int trust_fd;                /* TLS_TRUSTED_PEER_CERTIFICATES, or -1 */
	int pair_fd[2 * SSA_KEY_PAIRS_MAX]; /* chain, key, chain, key ...; -1 if not passed */
	int eff_min, eff_max;        /* versions after policy and application */
	char exe[PATH_MAX];          /* the program: verified, or as claimed */
	bool exe_verified;           /* read from /proc/PID/exe of SO_PEERCRED's pid */
	/* The outcome. */
	struct sockaddr_storage peer, local;
	socklen_t peer_len, local_len;
	gnutls_session_t session;
	int err;                     /* errno reported to the application */
	char reason[512];
	char sni[256];               /* ACCEPT: the server name the client asked for */
	char applied[256];           /* policy sections used */
	struct relay_result relay;
};

/* Read and check the request (SSA_MSG_CONNECT, _LISTEN or _ACCEPT): 0 or
 * -errno (reason set). */
static int read_request(struct connection *c)
{
	static uint8_t body[SSA_WIRE_BODY_MAX];
	int64_t deadline = ssa_now_ms() + REQUEST_TIMEOUT_MS;
	uint8_t header[SSA_WIRE_HEADER_SIZE];
	struct ssa_field_iter it;
	struct ssa_field f = { 0 };
	long len = 0;
	int r, more = 0;

	r = ssa_recv_exact(c->ctl_fd, header, sizeof header, deadline);
	if (r == 0) {
		c->kind = ssa_wire_type(header);
		if (c->kind != SSA_MSG_LISTEN && c->kind != SSA_MSG_ACCEPT)
			c->kind = SSA_MSG_CONNECT;
		if ((len = ssa_wire_check_header(header, c->kind)) < 0)
			r = (int)len;
	}
	if (r == 0)
		r = ssa_recv_exact(c->ctl_fd, body, (size_t)len, deadline);
	if (r == 0 && c->kind == SSA_MSG_LISTEN) {
		/* Kept: each client's helper gets the same request. */
		c->body = malloc((size_t)len + 1);
		if (!c->body)
			r = -ENOMEM;
		else
			memcpy(c->body, body, (size_t)len);
		c->body_len = (size_t)len;
	}
	if (r < 0) {
		snprintf(c->reason, sizeof c->reason, "bad request from the client: %s", strerror(-r));
		return -ECANCELED;
	}
	ssa_field_iter_init(&it, body, (size_t)len);
	while ((more = ssa_field_next(&it, &f)) > 0) {
		switch (f.tag) {
		case SSA_TAG_HOSTNAME:
			r = ssa_field_str(&f, c->hostname, sizeof c->hostname);
			break;
		case SSA_TAG_RESOLVE:
			r = ssa_field_str(&f, c->resolve, sizeof c->resolve);
			break;
		case SSA_TAG_PORT:
			r = ssa_field_u16(&f, &c->port);
			break;
		case SSA_TAG_ADDRESS: {
			sa_family_t fam;
			if (f.len != sizeof(struct sockaddr_in) && f.len != sizeof(struct sockaddr_in6)) {
				r = -EPROTO;
				break;
			}
			memcpy(&c->addr, f.value, f.len);
			memcpy(&fam, f.value, sizeof fam);
			c->addr_len = f.len;
			if ((fam == AF_INET && f.len != sizeof(struct sockaddr_in)) ||
			    (fam == AF_INET6 && f.len != sizeof(struct sockaddr_in6)) ||
			    (fam != AF_INET && fam != AF_INET6))
				r = -EPROTO;
			break;
		}
		case SSA_TAG_EXE:
			r = ssa_field_str(&f, c->exe, sizeof c->exe);
			break;
		case SSA_TAG_VERSION_MIN:
		case SSA_TAG_VERSION_MAX: {
			uint32_t v;
			r = ssa_field_u32(&f, &v);
			if (r == 0 && v > TLS_1_3)
				r = -EPROTO;
			*(f.tag == SSA_TAG_VERSION_MIN ? &c->version_min : &c->version_max) = (int)v;
			break;
		}
		case SSA_TAG_ALPN:
			r = ssa_field_str(&f, c->alpn, sizeof c->alpn);
			break;
		case SSA_TAG_CIPHER_OFF:
		case SSA_TAG_CIPHER_ON: {
			bool off = f.tag == SSA_TAG_CIPHER_OFF;
			size_t *n = off ? &c->n_off : &c->n_on;
			if (*n == 16) {
				r = -EPROTO;
				break;
			}
			r = ssa_field_str(&f, off ? c->ciphers_off[*n] : c->ciphers_on[*n], 65);
			if (r == 0)
				(*n)++;
			break;
		}
		case SSA_TAG_SESSION_REUSE: {
			uint32_t v;
			r = ssa_field_u32(&f, &v);
			c->session_reuse = v == 1;
			break;
		}
		case SSA_TAG_REVOCATION: {
			uint32_t v;
			r = ssa_field_u32(&f, &v);
			if (v & 1)
				c->revocation_checks = (v >> 1) & 1;
			if (v & 4)
				c->ocsp_stapled_checks = (v >> 3) & 1;
			break;
		}
		case SSA_TAG_FILES:
			r = ssa_field_u32(&f, &c->files);
			if (r == 0 && (c->files & ~(uint32_t)SSA_FILE_TRUST))
				r = -EPROTO;
			break;
		case SSA_TAG_KEY_PAIRS:
			r = ssa_field_u32(&f, &c->n_pairs);
			if (r == 0 && c->n_pairs > SSA_KEY_PAIRS_MAX)
				r = -EPROTO;
			break;
		case SSA_TAG_PEER_AUTH: {
			uint32_t v;
			r = ssa_field_u32(&f, &v);
			c->peer_auth = v != 0;
			break;
		}
		case SSA_TAG_HOLD_FILLER:
			r = c->kind == SSA_MSG_CONNECT ? ssa_field_u32(&f, &c->hold_filler) : -EPROTO;
			break;
		case SSA_TAG_HOLD_LOWAT: {
			uint32_t v;
			r = c->kind == SSA_MSG_CONNECT ? ssa_field_u32(&f, &v) : -EPROTO;
			c->hold_lowat = v <= INT_MAX ? (int)v : 0;
			break;
		}
		case SSA_TAG_APP_PID:
		case SSA_TAG_APP_UID:
		case SSA_TAG_APP_GID:
		case SSA_TAG_EXE_VERIFIED: {
			uint32_t v;
			r = c->kind == SSA_MSG_ACCEPT ? ssa_field_u32(&f, &v) : -EPROTO;
			if (f.tag == SSA_TAG_APP_PID)
				c->claimed.pid = (pid_t)v;
			else if (f.tag == SSA_TAG_APP_UID)
				c->claimed.uid = (uid_t)v;
			else if (f.tag == SSA_TAG_APP_GID)
				c->claimed.gid = (gid_t)v;
			else
				c->claimed_verified = v == 1;
			break;
		}
		default:
			r = -EPROTO;
		}
		if (r < 0)
			break;
	}
	if (more < 0)
		r = more;
	/* A client names its peer; a server has none, but needs a chain. */
	if (r == 0 && c->kind == SSA_MSG_CONNECT &&
	    (!c->hostname[0] || (!c->resolve[0] && !c->addr_len) || (c->resolve[0] && c->addr_len)))
		r = -EPROTO;
	if (r == 0 && c->kind != SSA_MSG_CONNECT && (c->hostname[0] || c->resolve[0] || c->addr_len || !c->n_pairs))
		r = -EPROTO;
	if (r < 0) {
		snprintf(c->reason, sizeof c->reason, "malformed request from the client (field %u)", f.tag);
		return -ECANCELED;
	}
	return 0;
}

/*
 * Replace the program path the request claims by the one the kernel knows
 * for SO_PEERCRED's pid, where the helper may read it (standalone mode, or a
 * client of the helper's own user); root's claim stands (ssa-probe --exe).  Elsewhere the claim stands, marked
 * unverified in the journal: an [app] section is then advice to
 * well-behaved programs, not a boundary.
 */
static void verify_exe(struct connection *c)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	/* Root may ask what any program would get (ssa-probe --exe). */
	if (c->cred.uid == 0 && c->exe[0])
		return;
	snprintf(link, sizeof link, "/proc/%d/exe", (int)c->cred.pid);
	n = readlink(link, path, sizeof path - 1);
	if (c->cred.pid <= 0 || n <= 0)
		return;
	path[n] = '\0';
	memcpy(c->exe, path, (size_t)n + 1);
	c->exe_verified = true;
}

/*
 * Take the descriptors that follow the request: two sockets (CONNECT: the
 * application's held socket and the other end of its connection; LISTEN: the bound
 * TCP socket and the application's end of the accept queue; ACCEPT: the
 * client's TCP socket only), then the files.  0 or -ECANCELED (reason set).
 */
static int receive_descriptors(struct connection *c)
{
	size_t n_sockets = c->kind == SSA_MSG_ACCEPT ? 1 : 2;
	size_t n = n_sockets + (c->files & SSA_FILE_TRUST ? 1 : 0) + 2 * c->n_pairs, k = n_sockets;
	int fds[SSA_FDS_MAX];
	int r;

	r = ssa_recv_fds(c->ctl_fd, fds, n, ssa_now_ms() + REQUEST_TIMEOUT_MS);
	if (r == 0) {
		if (c->kind == SSA_MSG_CONNECT)
			r = hold_take(fds[0], fds[1]);
		else if (c->kind == SSA_MSG_LISTEN)
			r = app_socket_check_listening(fds[0], fds[1]);
		else
			r = app_socket_check_accepted(fds[0]);
		if (r < 0)
			for (size_t i = 0; i < n; i++)
				close(fds[i]);
	}
	if (r < 0) {
		snprintf(c->reason, sizeof c->reason, "bad request from the client: the sockets passed are not "
			 "the right kind (%s)", strerror(-r));
		return -ECANCELED;
	}
	if (c->files & SSA_FILE_TRUST)
		c->trust_fd = fds[k++];
	for (size_t i = 0; i < 2 * c->n_pairs; i++)
		c->pair_fd[i] = fds[k++];
	switch (c->kind) {
	case SSA_MSG_LISTEN:
		c->listen_fd = fds[0];
		c->queue_fd = fds[1];
		break;
	case SSA_MSG_ACCEPT:
		c->net_fd = fds[0];
		break;
	default:
		c->app_sock = fds[0];
		c->app_fd = fds[1];
	}
	return 0;
}

/* Send SSA_MSG_RESULT: c->err and, on success, what the session says. */
static int send_result(struct connection *c)
{
	static uint8_t buf[SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX];
	struct ssa_msg m;
	size_t len;

	ssa_msg_init(&m, buf, sizeof buf, SSA_MSG_RESULT);
	ssa_msg_put_u32(&m, SSA_TAG_ERRNO, (uint32_t)c->err);
	ssa_msg_put_u64(&m, SSA_TAG_ID, c->id);
	if (c->applied[0])
		ssa_msg_put_str(&m, SSA_TAG_POLICY, c->applied);
	if (c->err) {
		ssa_msg_put_str(&m, SSA_TAG_REASON, c->reason);
	} else if (!c->session) {
		/* A listening socket: what the policy leaves it. */
		ssa_msg_put_u32(&m, SSA_TAG_VERSION_RANGE, (uint32_t)(c->eff_min << 8 | c->eff_max));
	} else {
		if (c->kind == SSA_MSG_ACCEPT)
			ssa_msg_put_str(&m, SSA_TAG_SNI, c->sni);
		else
			ssa_msg_put_str(&m, SSA_TAG_OCSP, tls_session_ocsp_status(c->session));
		char alpn[256];
		tls_session_describe(c->session, &m);
		if (*tls_session_alpn(c->session, alpn, sizeof alpn))
			ssa_msg_put_str(&m, SSA_TAG_ALPN_CHOSEN, alpn);
		ssa_msg_put_u32(&m, SSA_TAG_VERSION_RANGE, (uint32_t)(c->eff_min << 8 | c->eff_max));
		char suites[4096];
		ssa_msg_put_str(&m, SSA_TAG_TRUSTED_CIPHERS, tls_session_trusted_ciphers(c->session, suites, sizeof suites));
		ssa_msg_put(&m, SSA_TAG_PEER_ADDR, &c->peer, c->peer_len);
		if (c->local_len)
			ssa_msg_put(&m, SSA_TAG_LOCAL_ADDR, &c->local, c->local_len);
	}
	len = ssa_msg_finish(&m);
	if (len == 0) {
		/* A chain too large to describe: report without it. */
		ssa_msg_init(&m, buf, sizeof buf, SSA_MSG_RESULT);
		ssa_msg_put_u32(&m, SSA_TAG_ERRNO, (uint32_t)c->err);
		ssa_msg_put_u64(&m, SSA_TAG_ID, c->id);
		if (c->peer_len)
			ssa_msg_put(&m, SSA_TAG_PEER_ADDR, &c->peer, c->peer_len);
		len = ssa_msg_finish(&m);
	}
	return ssa_send_all(c->ctl_fd, buf, len, ssa_now_ms() + REQUEST_TIMEOUT_MS);
}

/* Read all of passed file `fd` (at most `max` bytes) into a new buffer,
 * with pread(2): other helpers may read the same open file.  0 or -errno. */
static int read_file_fd(int fd, size_t max, gnutls_datum_t *out)
{
	size_t cap = 65536, len = 0;
	unsigned char *buf = malloc(cap);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	while ((n = pread(fd, buf + len, cap - len, (off_t)len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return -errno;
		}
		len += (size_t)n;
		if (len == cap) {
			unsigned char *bigger = cap * 2 > max ? NULL : realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				return -EFBIG;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	out->data = buf;
	out->size = (unsigned)len;
	return 0;
}

static const char *version_name(int v)
{
	static const char *const names[] = { "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3" };

	return v >= 0 && v <= 3 ? names[v] : "?";
}

/*
 * Apply what the application set on its socket to the policy, which it may
 * tighten but never loosen (SPEC §2): 0, or -EPERM / -EINVAL with the reason.
 * Fills the handshake request (file contents are owned by the caller).
 */
static int apply_app_options(struct connection *c, struct policy *p, struct tls_request *req)
{
	int r;

	if (c->version_min >= 0) {
		if (c->version_min < p->min_version) {
			snprintf(c->reason, sizeof c->reason,
				 "TLS_VERSION_MIN %s is below the policy's min-version %s (%s)",
				 version_name(c->version_min), version_name(p->min_version), c->applied);
			return -EPERM;
		}
		p->min_version = c->version_min;
	}
	if (c->version_max >= 0) {
		if (c->version_max > p->max_version) {
			snprintf(c->reason, sizeof c->reason,
				 "TLS_VERSION_MAX %s is above the policy's max-version %s (%s)",
				 version_name(c->version_max), version_name(p->max_version), c->applied);
			return -EPERM;
		}
		p->max_version = c->version_max;
	}
	if (p->min_version > p->max_version) {
		snprintf(c->reason, sizeof c->reason, "no TLS version is left between %s and %s",
			 version_name(p->min_version), version_name(p->max_version));
		return -EINVAL;
	}
	c->eff_min = p->min_version;
	c->eff_max = p->max_version;
	if (c->session_reuse == 1 && !p->session_resumption) {
		snprintf(c->reason, sizeof c->reason, "TLS_SESSION_REUSE refused: session-resumption = no (%s)",
			 c->applied);
		return -EPERM;
	}
	if ((c->revocation_checks == 0 || c->ocsp_stapled_checks == 0) && p->ocsp_stapling != POLICY_OCSP_IGNORE) {
		snprintf(c->reason, sizeof c->reason,
			 "turning revocation checks off refused: the policy checks stapled OCSP responses (%s)",
			 c->applied);
		return -EPERM;
	}
	if (c->n_off || c->n_on) {
		const char *off[16], *on[16];
		for (size_t i = 0; i < c->n_off; i++)
			off[i] = c->ciphers_off[i];
		for (size_t i = 0; i < c->n_on; i++)
			on[i] = c->ciphers_on[i];
		r = tls_session_cipher_modifiers(p, off, c->n_off, on, c->n_on, c->cipher_mods, sizeof c->cipher_mods,
						c->reason, sizeof c->reason);
		if (r < 0)
			return r;
		req->cipher_mods = c->cipher_mods;
	}
	req->alpn = c->alpn[0] ? c->alpn : NULL;
	if (c->trust_fd >= 0) {
		if (p->app_trust_store == POLICY_APP_TRUST_DENY) {
			snprintf(c->reason, sizeof c->reason,
				 "TLS_TRUSTED_PEER_CERTIFICATES refused: app-trust-store = deny (%s)", c->applied);
			return -EPERM;
		}
		r = read_file_fd(c->trust_fd, 4 << 20, &req->trust[0]);
		if (r < 0) {
			snprintf(c->reason, sizeof c->reason, "TLS_TRUSTED_PEER_CERTIFICATES: %s", strerror(-r));
			return -EINVAL;
		}
		req->n_trust = 1;
		req->replace_trust = p->app_trust_store == POLICY_APP_TRUST_REPLACE;
	}
	for (size_t i = 0; i < c->n_pairs; i++) {
		r = read_file_fd(c->pair_fd[2 * i], 1 << 20, &req->chain[i]);
		if (r == 0)
			r = read_file_fd(c->pair_fd[2 * i + 1], 1 << 20, &req->key[i]);
		if (r < 0) {
			snprintf(c->reason, sizeof c->reason, "TLS_CERTIFICATE_CHAIN / TLS_PRIVATE_KEY: %s", strerror(-r));
			return -EINVAL;
		}
		req->n_pairs = i + 1;
	}
	req->request_peer_auth = c->peer_auth;
	return 0;
}

/* Wipe and free what apply_app_options() read. */
static void request_free(struct tls_request *req)
{
	for (size_t i = 0; i < req->n_trust; i++)
		free(req->trust[i].data);
	for (size_t i = 0; i < req->n_pairs; i++) {
		free(req->chain[i].data);
		if (req->key[i].data) {
			explicit_bzero(req->key[i].data, req->key[i].size);
			free(req->key[i].data);
		}
	}
	memset(req, 0, sizeof *req);
}

/*
 * The policy for this request and what the application set on top of it:
 * 0 with *set (the caller's, policy_set_free()), *policy and *request filled,
 * or -errno with c->reason set.  A server's policy has no [host] section.
 */
static int prepare(struct connection *c, struct policy_set **set, struct policy *policy,
		   struct tls_request *request)
{
	char *error = NULL;
	int r;

	r = policy_set_load(policy_dir(), set, &error);
	if (r < 0) {
		snprintf(c->reason, sizeof c->reason, "the SSA policy is broken, refusing every connection: %s",
			 error ? error : strerror(-r));
		free(error);
		return -ECANCELED;
	}
	policy_resolve(*set, c->exe, c->kind == SSA_MSG_CONNECT ? c->hostname : NULL, policy, c->applied,
		       sizeof c->applied);
	if (!policy->allow) {
		snprintf(c->reason, sizeof c->reason, "the policy forbids this %s (allow = no in %s)",
			 c->kind == SSA_MSG_CONNECT ? "connection" : "server", c->applied);
		return -EACCES;
	}
	if (policy->min_version > policy->max_version) {
		snprintf(c->reason, sizeof c->reason, "policy: min-version is above max-version (%s)", c->applied);
		return -ECANCELED;
	}
	return apply_app_options(c, policy, request);
}

/* connect(): connect, handshake and validate, then relay: 0, or -errno
 * with c->reason set (nothing was relayed). */
static int connect_peer(struct connection *c, const struct policy *policy, const struct tls_request *request)
{
	int r;

	r = peer_connect(c->resolve[0] ? c->resolve : NULL, c->port, (struct sockaddr *)&c->addr, c->addr_len,
			 policy->connect_timeout * 1000, &c->peer, &c->peer_len, c->reason, sizeof c->reason);
	if (r < 0)
		return r;
	c->net_fd = r;
	c->local_len = sizeof c->local;
	if (getsockname(c->net_fd, (struct sockaddr *)&c->local, &c->local_len) < 0)
		c->local_len = 0;
	r = tls_client_handshake(c->net_fd, c->hostname, policy, request, &c->session, c->reason, sizeof c->reason);
	if (r < 0)
		return r;
	/* Release the hold, then report (hold.h): the socket turns writable
	 * with the verdict on its way. */
	r = hold_release(c->app_sock, c->app_fd, c->hold_filler, c->hold_lowat, ssa_now_ms() + REQUEST_TIMEOUT_MS);
	if (r < 0) {
		snprintf(c->reason, sizeof c->reason, "the application's socket could not be released: %s%s",
			 strerror(-r), r == -ECONNRESET ? " (the application closed it)" : "");
		return -ssa_errno_internal(-r);
	}
	close(c->app_sock);
	c->app_sock = -1;
	send_result(c);
	relay_run(c->session, c->net_fd, c->app_fd, policy->truncation_eof, CLOSE_NOTIFY_IDLE_S, PEER_STALL_S,
		  &c->relay);
	return 0;
}

/* The request each client's helper gets: the application's, plus whom it
 * came from.  A whole SSA_MSG_ACCEPT message (malloc'd, *out_len bytes),
 * or NULL. */
static uint8_t *accept_request(const struct connection *c, size_t *out_len)
{
	/* Four u32 fields and the program's path, each after its 4-byte
	 * field header. */
	size_t cap = SSA_WIRE_HEADER_SIZE + c->body_len + 4 * (4 + 4) + 4 + strlen(c->exe);
	uint8_t *buf = malloc(cap);
	struct ssa_msg m;

	if (!buf)
		return NULL;
	ssa_msg_init(&m, buf, cap, SSA_MSG_ACCEPT);
	ssa_msg_put_raw(&m, c->body, c->body_len);
	ssa_msg_put_u32(&m, SSA_TAG_APP_PID, (uint32_t)c->cred.pid);
	ssa_msg_put_u32(&m, SSA_TAG_APP_UID, (uint32_t)c->cred.uid);
	ssa_msg_put_u32(&m, SSA_TAG_APP_GID, (uint32_t)c->cred.gid);
	ssa_msg_put_u32(&m, SSA_TAG_EXE_VERIFIED, c->exe_verified);
	/* After the application's claim: the last one counts. */
	ssa_msg_put_str(&m, SSA_TAG_EXE, c->exe);
	*out_len = ssa_msg_finish(&m);
	if (*out_len == 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* listen(): check the keys and the policy, report, then serve the
 * listening socket until the application closes it: 0, or -errno with
 * c->reason set (then nothing was served). */
static int start_listening(struct connection *c, struct tls_request *request)
{
	struct listener_stats stats;
	int files[1 + 2 * SSA_KEY_PAIRS_MAX];
	size_t n_files = 0, len = 0;
	uint8_t *request_msg;
	int r;

	r = tls_check_key_pairs(request, c->reason, sizeof c->reason);
	/* The listener keeps the descriptors, not the keys: each client's
	 * helper reads them for itself. */
	request_free(request);
	if (r < 0)
		return r;
	c->local_len = sizeof c->local;
	if (getsockname(c->listen_fd, (struct sockaddr *)&c->local, &c->local_len) < 0)
		c->local_len = 0;
	request_msg = accept_request(c, &len);
	if (!request_msg) {
		snprintf(c->reason, sizeof c->reason, "the listening socket's request is too large");
		return -ENOBUFS;
	}
	if (c->trust_fd >= 0)
		files[n_files++] = c->trust_fd;
	for (size_t i = 0; i < 2 * c->n_pairs; i++)
		files[n_files++] = c->pair_fd[i];
	r = send_result(c);
	close(c->ctl_fd);
	c->ctl_fd = -1;
	if (r == 0) {
		listener_run(c->listen_fd, c->queue_fd, request_msg, len, files, n_files, &stats);
		snprintf(c->reason, sizeof c->reason, "closed after %llu connections (%llu refused, %llu lost)",
			 (unsigned long long)stats.accepted, (unsigned long long)stats.refused,
			 (unsigned long long)stats.lost);
	}
	free(request_msg);
	return 0;
}

/* A client of a listening socket: the server handshake, then the
 * plaintext connection to the listener and the relay: 0, or -errno with
 * c->reason set (the client never reaches the application). */
static int serve_client(struct connection *c, const struct policy *policy, const struct tls_request *request)
{
	int app = -1, r;
	int domain = AF_INET;
	socklen_t len = sizeof domain;

	c->peer_len = sizeof c->peer;
	if (getpeername(c->net_fd, (struct sockaddr *)&c->peer, &c->peer_len) < 0)
		c->peer_len = 0;
	c->local_len = sizeof c->local;
	if (getsockname(c->net_fd, (struct sockaddr *)&c->local, &c->local_len) < 0)
		c->local_len = 0;
	getsockopt(c->net_fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
	r = tls_server_handshake(c->net_fd, policy, request, &c->session, c->sni, sizeof c->sni, c->reason,
				 sizeof c->reason);
	if (r < 0)
		return r;
	r = app_socket_pair(domain, &app, REQUEST_TIMEOUT_MS);
	if (r < 0) {
		snprintf(c->reason, sizeof c->reason, "cannot make the plaintext connection: %s", strerror(-r));
		return -ECONNABORTED;
	}
	c->app_fd = r;
	r = send_result(c);
	if (r == 0)
		r = ssa_send_fds(c->ctl_fd, &app, 1);
	close(app);
	if (r < 0) {
		/* The listener is gone: the application closed its socket. */
		snprintf(c->reason, sizeof c->reason, "the listening socket was closed during the handshake");
		return -ECONNABORTED;
	}
	relay_run(c->session, c->net_fd, c->app_fd, policy->truncation_eof, CLOSE_NOTIFY_IDLE_S, PEER_STALL_S,
		  &c->relay);
	return 0;
}

/* Serve the request: 0, or -errno with c->reason set when it failed
 * before anything was relayed (the caller reports that). */
static int serve(struct connection *c)
{
	struct policy_set *set = NULL;
	struct policy policy;
	gnutls_datum_t trust = { 0 };
	struct tls_request request = { .trust = &trust };
	int r;

	r = prepare(c, &set, &policy, &request);
	if (r == 0) {
		switch (c->kind) {
		case SSA_MSG_LISTEN:
			r = start_listening(c, &request);
			break;
		case SSA_MSG_ACCEPT:
			r = serve_client(c, &policy, &request);
			break;
		default:
			r = connect_peer(c, &policy, &request);
		}
	}
	policy_set_free(set);
	request_free(&request);
	return r;
}

/* The journal entry of this connection or listening socket (SPEC §5). */
static void log_connection(const struct connection *c)
{
	static const char *const roles[] = { [SSA_MSG_CONNECT] = "client", [SSA_MSG_LISTEN] = "listener",
					     [SSA_MSG_ACCEPT] = "server" };
	char peer[80] = "", local[80] = "", id[32], what[384];
	bool failed = c->err != 0 || c->relay.error;

	if (c->peer_len)
		sockaddr_format((const struct sockaddr *)&c->peer, peer, sizeof peer);
	if (c->local_len)
		sockaddr_format((const struct sockaddr *)&c->local, local, sizeof local);
	snprintf(id, sizeof id, "%016llx", (unsigned long long)c->id);
	if (c->kind == SSA_MSG_LISTEN)
		snprintf(what, sizeof what, "TLS listening socket %s on %s", id, local[0] ? local : "?");
	else if (c->kind == SSA_MSG_ACCEPT)
		snprintf(what, sizeof what, "TLS connection %s from %s to %s (SNI %s)", id, peer[0] ? peer : "?",
			 local[0] ? local : "?", c->sni[0] ? c->sni : "none");
	else
		snprintf(what, sizeof what, "TLS connection %s to %s (%s)", id, c->hostname[0] ? c->hostname : "?",
			 peer[0] ? peer : "not connected");
	sd_journal_send("MESSAGE=%s: %s", what, c->err || c->kind == SSA_MSG_LISTEN ? c->reason
					   : c->relay.end ? c->relay.end : "ok",
			"PRIORITY=%d", failed ? LOG_WARNING : LOG_INFO,
			"SYSLOG_IDENTIFIER=ssa-helper",
			"SSA_ID=%s", id,
			"SSA_ROLE=%s", roles[c->kind],
			"SSA_PEER_NAME=%s", c->kind == SSA_MSG_ACCEPT ? c->sni : c->hostname,
			"SSA_PEER_ADDRESS=%s", peer,
			"SSA_LOCAL_ADDRESS=%s", local,
			"SSA_EXE=%s", c->exe,
			"SSA_EXE_VERIFIED=%s", c->exe_verified ? "yes" : "no",
			"SSA_PID=%d", (int)c->cred.pid,
			"SSA_UID=%u", (unsigned)c->cred.uid,
			"SSA_GID=%u", (unsigned)c->cred.gid,
			"SSA_POLICY=%s", c->applied,
			"SSA_VERSION=%s", c->session ? tls_session_version_name(c->session) : "",
			"SSA_CIPHER=%s", c->session ? tls_session_cipher_name(c->session) : "",
			"SSA_RESULT=%s", c->err ? strerrorname_np(c->err) : "ok",
			"SSA_REASON=%s", c->err || c->kind == SSA_MSG_LISTEN ? c->reason : c->relay.end ? c->relay.end : "",
			"SSA_BYTES_SENT=%llu", (unsigned long long)c->relay.bytes_to_peer,
			"SSA_BYTES_RECEIVED=%llu", (unsigned long long)c->relay.bytes_to_app,
			"SSA_DURATION_USEC=%lld", (long long)(ssa_now_ms() - c->start_ms) * 1000,
			NULL);
}

/* What --check-config reports the merged policy against. */
struct merged_check {
	const char *dir;
	int problems;
};

/* What only the merged policy shows: a section whose versions leave
 * nothing, a priority string GnuTLS refuses, a trust store that is not
 * there.  Prints each problem and counts it. */
static int check_merged(const char *section, const struct policy *p, void *user)
{
	struct merged_check *mc = user;
	const char *err_pos = NULL;
	gnutls_priority_t prio;
	struct stat st;

	if (p->min_version > p->max_version) {
		fprintf(stderr, "%s: [%s]: min-version is above max-version once the sections are merged\n",
			mc->dir, section);
		mc->problems++;
	}
	if (p->priority) {
		if (gnutls_priority_init(&prio, p->priority, &err_pos) < 0) {
			fprintf(stderr, "%s: [%s] key 'priority': GnuTLS refuses '%s' at '%s'\n", mc->dir, section,
				p->priority, err_pos ? err_pos : "?");
			mc->problems++;
		} else {
			gnutls_priority_deinit(prio);
		}
	}
	if (strcmp(p->trust_store, "system") != 0 && stat(p->trust_store, &st) < 0) {
		fprintf(stderr, "%s: [%s] key 'trust-store': %s: %s\n", mc->dir, section, p->trust_store,
			strerror(errno));
		mc->problems++;
	}
	return 0;
}

/* ssa-helper --check-config: every file and key, then the merged policy;
 * prints it and returns 0, or the messages and 1. */
static int check_config(const char *dir)
{
	struct merged_check mc = { .dir = dir };
	struct policy_set *set;
	char *error = NULL;
	int r = policy_set_load(dir, &set, &error);

	if (r < 0) {
		fprintf(stderr, "%s\n", error ? error : strerror(-r));
		free(error);
		return 1;
	}
	policy_set_foreach(set, check_merged, &mc);
	if (mc.problems) {
		policy_set_free(set);
		return 1;
	}
	printf("# effective policy from %s/*.ini\n", dir);
	policy_set_print(set, stdout);
	policy_set_free(set);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ssa-helper              (started by ssa-helper.socket)\n"
		   "       ssa-helper --standalone (started by the shim, connection on fd 3)\n"
		   "       ssa-helper --check-config [DIR]\n"
		   "See ssa-helper(8).\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "standalone", no_argument, NULL, 's' },
		{ "check-config", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct connection c = { .ctl_fd = -1, .net_fd = -1, .listen_fd = -1, .queue_fd = -1, .app_fd = -1,
				.app_sock = -1, .version_min = -1, .version_max = -1,
				.trust_fd = -1, .session_reuse = -1, .revocation_checks = -1,
				.ocsp_stapled_checks = -1 };
	socklen_t len = sizeof c.cred;
	bool standalone = false;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			standalone = true;
			break;
		case 'c':
			return check_config(optind < argc ? argv[optind] : policy_dir());
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ssa-helper %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}

	if (standalone) {
		/* Detach so that the application has no child to reap, and
		 * outlives its process group's signals to finish cleanly. */
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid > 0)
			_exit(0);
		setsid();
		c.ctl_fd = 3;
	} else if (sd_listen_fds(1) == 1) {
		c.ctl_fd = SD_LISTEN_FDS_START;
	} else {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	c.start_ms = ssa_now_ms();
	if (getrandom(&c.id, sizeof c.id, 0) != sizeof c.id)
		c.id = (uint64_t)c.start_ms ^ ((uint64_t)getpid() << 32);
	if (getsockopt(c.ctl_fd, SOL_SOCKET, SO_PEERCRED, &c.cred, &len) < 0) {
		fprintf(stderr, "ssa-helper: fd %d is not a connected AF_UNIX socket: %m\n", c.ctl_fd);
		return 2;
	}

	for (size_t i = 0; i < 2 * SSA_KEY_PAIRS_MAX; i++)
		c.pair_fd[i] = -1;
	r = read_request(&c);
	if (r == 0) {
		if (c.kind == SSA_MSG_ACCEPT && c.claimed.pid > 0 && c.cred.uid == geteuid()) {
			/* From a listener (our own user): the application it
			 * serves, as the listener established it. */
			c.cred = c.claimed;
			c.exe_verified = c.claimed_verified;
		} else {
			verify_exe(&c);
		}
		r = receive_descriptors(&c);
	}
	if (r == 0)
		r = serve(&c);
	if (r < 0) {
		/* Reset the hold, then report (hold.h): the socket turns
		 * writable with the verdict on its way. */
		if (c.kind == SSA_MSG_CONNECT && c.app_fd >= 0) {
			hold_reset(c.app_fd);
			c.app_fd = -1;
		}
		c.err = ssa_errno_verdict(-r);
		send_result(&c);
	}
	if (c.app_sock >= 0)
		close(c.app_sock);
	if (c.trust_fd >= 0)
		close(c.trust_fd);
	for (size_t i = 0; i < 2 * SSA_KEY_PAIRS_MAX; i++)
		if (c.pair_fd[i] >= 0)
			close(c.pair_fd[i]);
	log_connection(&c);
	tls_session_free(c.session);
	free(c.body);
	int fds[] = { c.app_fd, c.net_fd, c.listen_fd, c.queue_fd, c.ctl_fd };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
}
