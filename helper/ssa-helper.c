/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/*
 * ssa-helper: one TLS client connection on behalf of an application.
 *
 * Started by systemd for each connection to ssa-helper.socket (Accept=yes,
 * the connection is fd 3, sd_listen_fds(3)), or by the shim over a
 * socketpair with --standalone.  It reads the application's request, takes
 * the application's identity from SO_PEERCRED, applies the policy, connects
 * to the peer, does the handshake and validation, reports the result, and
 * then relays plaintext over the loopback socket the shim hands over, until
 * both sides are done.  One journal entry per connection (SPEC §5).
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
#include "in_tls.h"
#include "peer-connect.h"
#include "policy.h"
#include "relay.h"
#include "ssa-io.h"
#include "ssa-wire.h"
#include "tls-client.h"

/* How long a client may take to send its request or the plaintext socket. */
#define REQUEST_TIMEOUT_MS 10000
/* After the application's end of file: how long the peer and the
 * application may both be idle before the helper gives up on the peer's
 * close_notify.  Generous, as a server may take its time to answer a
 * half-closed request. */
#define CLOSE_NOTIFY_IDLE_S 60
/* How long a peer may take none of the application's data. */
#define PEER_STALL_S 300

/* Everything about the one connection this process serves. */
struct connection {
	int ctl_fd;                  /* control socket to the shim (fd 3) */
	int net_fd;                  /* TCP socket to the peer, or -1 */
	int app_fd;                  /* plaintext loopback socket, or -1 */
	int app_sock;                /* the application's own socket, or -1 */
	int app_listener;            /* loopback listener from the shim, or -1 */
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
	char ciphers_off[16][65], ciphers_on[16][65]; /* TLS_DISABLE/ENABLE_CIPHER */
	size_t n_off, n_on;
	char cipher_mods[1024];      /* priority modifiers for them */
	int session_reuse;           /* TLS_SESSION_REUSE, or -1 */
	int revocation_checks, ocsp_stapled_checks; /* 0/1, or -1 */
	int file_fd[3];              /* trust, chain, key; -1 if not passed */
	int eff_min, eff_max;        /* versions after policy and application */
	char exe[PATH_MAX];          /* the program: verified, or as claimed */
	bool exe_verified;           /* read from /proc/PID/exe of SO_PEERCRED's pid */
	/* The outcome. */
	struct sockaddr_storage peer, local;
	socklen_t peer_len, local_len;
	gnutls_session_t session;
	int err;                     /* errno reported to the application */
	char reason[512];
	char applied[256];           /* policy sections used */
	struct relay_result relay;
};

/* Read and check the SSA_MSG_CONNECT request: 0 or -errno (reason set). */
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
	if (r == 0 && (len = ssa_wire_check_header(header, SSA_MSG_CONNECT)) < 0)
		r = (int)len;
	if (r == 0)
		r = ssa_recv_exact(c->ctl_fd, body, (size_t)len, deadline);
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
			if (r == 0 && (c->files & ~(uint32_t)(SSA_FILE_TRUST | SSA_FILE_CHAIN | SSA_FILE_KEY)))
				r = -EPROTO;
			break;
		default:
			r = -EPROTO;
		}
		if (r < 0)
			break;
	}
	if (more < 0)
		r = more;
	if (r == 0 && (!c->hostname[0] || (!c->resolve[0] && !c->addr_len) || (c->resolve[0] && c->addr_len)))
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

/* Take the application's socket and the loopback listener the shim sends
 * after its request: 0 or -ECANCELED (reason set). */
static int receive_app_sockets(struct connection *c)
{
	int fds[2 + 3];
	size_t n = 2, k = 2;
	int r;

	for (int i = 0; i < 3; i++)
		n += (c->files >> i) & 1;
	r = ssa_recv_fds(c->ctl_fd, fds, n, ssa_now_ms() + REQUEST_TIMEOUT_MS);
	if (r == 0 && (r = app_socket_check(fds[0], fds[1])) < 0)
		for (size_t i = 0; i < n; i++)
			close(fds[i]);
	if (r == 0)
		for (int i = 0; i < 3; i++)
			if (c->files & (1u << i))
				c->file_fd[i] = fds[k++];
	if (r < 0) {
		snprintf(c->reason, sizeof c->reason, "bad request from the client: no listening sockets passed (%s)",
			 strerror(-r));
		return -ECANCELED;
	}
	c->app_sock = fds[0];
	c->app_listener = fds[1];
	return 0;
}

/* Send SSA_MSG_RESULT: c->err and, on success, what the session says. */
static void send_result(struct connection *c)
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
	} else {
		ssa_msg_put_str(&m, SSA_TAG_OCSP, tls_client_ocsp_status(c->session));
		char alpn[256];
		tls_client_describe(c->session, &m);
		if (*tls_client_alpn(c->session, alpn, sizeof alpn))
			ssa_msg_put_str(&m, SSA_TAG_ALPN_CHOSEN, alpn);
		ssa_msg_put_u32(&m, SSA_TAG_VERSION_RANGE, (uint32_t)(c->eff_min << 8 | c->eff_max));
		char suites[4096];
		ssa_msg_put_str(&m, SSA_TAG_TRUSTED_CIPHERS, tls_client_trusted_ciphers(c->session, suites, sizeof suites));
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
		ssa_msg_put(&m, SSA_TAG_PEER_ADDR, &c->peer, c->peer_len);
		len = ssa_msg_finish(&m);
	}
	ssa_send_all(c->ctl_fd, buf, len, ssa_now_ms() + REQUEST_TIMEOUT_MS);
}

/* Read all of passed file `fd` (at most `max` bytes) into a new buffer:
 * 0 or -errno. */
static int read_file_fd(int fd, size_t max, gnutls_datum_t *out)
{
	size_t cap = 65536, len = 0;
	unsigned char *buf = malloc(cap);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	while ((n = read(fd, buf + len, cap - len)) != 0) {
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
static int apply_app_options(struct connection *c, struct policy *p, struct tls_client_request *req)
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
		r = tls_client_cipher_modifiers(p, off, c->n_off, on, c->n_on, c->cipher_mods, sizeof c->cipher_mods,
						c->reason, sizeof c->reason);
		if (r < 0)
			return r;
		req->cipher_mods = c->cipher_mods;
	}
	req->alpn = c->alpn[0] ? c->alpn : NULL;
	if (c->file_fd[0] >= 0) {
		if (p->app_trust_store == POLICY_APP_TRUST_DENY) {
			snprintf(c->reason, sizeof c->reason,
				 "TLS_TRUSTED_PEER_CERTIFICATES refused: app-trust-store = deny (%s)", c->applied);
			return -EPERM;
		}
		r = read_file_fd(c->file_fd[0], 4 << 20, &req->trust[0]);
		if (r < 0) {
			snprintf(c->reason, sizeof c->reason, "TLS_TRUSTED_PEER_CERTIFICATES: %s", strerror(-r));
			return -EINVAL;
		}
		req->n_trust = 1;
		req->replace_trust = p->app_trust_store == POLICY_APP_TRUST_REPLACE;
	}
	if (c->file_fd[1] >= 0 && c->file_fd[2] >= 0) {
		r = read_file_fd(c->file_fd[1], 1 << 20, &req->chain);
		if (r == 0)
			r = read_file_fd(c->file_fd[2], 1 << 20, &req->key);
		if (r < 0) {
			snprintf(c->reason, sizeof c->reason, "TLS_CERTIFICATE_CHAIN / TLS_PRIVATE_KEY: %s", strerror(-r));
			return -EINVAL;
		}
	}
	return 0;
}

/* Connect, handshake and validate: 0, or -errno with c->reason set. */
static int establish(struct connection *c)
{
	struct policy_set *set = NULL;
	struct policy policy;
	struct tls_client_request request = { 0 };
	gnutls_datum_t trust = { 0 };
	char *error = NULL;
	int r;

	request.trust = &trust;
	r = policy_set_load(policy_dir(), &set, &error);
	if (r < 0) {
		snprintf(c->reason, sizeof c->reason, "the SSA policy is broken, refusing every connection: %s",
			 error ? error : strerror(-r));
		free(error);
		return -ECANCELED;
	}
	policy_resolve(set, c->exe, c->hostname, &policy, c->applied, sizeof c->applied);
	if (!policy.allow) {
		snprintf(c->reason, sizeof c->reason, "the policy forbids this connection (allow = no in %s)", c->applied);
		r = -EACCES;
	} else if (policy.min_version > policy.max_version) {
		snprintf(c->reason, sizeof c->reason, "policy: min-version is above max-version (%s)", c->applied);
		r = -ECANCELED;
	} else if ((r = apply_app_options(c, &policy, &request)) < 0) {
		/* c->reason says which option */
	} else {
		r = peer_connect(c->resolve[0] ? c->resolve : NULL, c->port, (struct sockaddr *)&c->addr,
				 c->addr_len, policy.connect_timeout * 1000, &c->peer, &c->peer_len, c->reason,
				 sizeof c->reason);
		if (r >= 0) {
			c->net_fd = r;
			c->local_len = sizeof c->local;
			if (getsockname(c->net_fd, (struct sockaddr *)&c->local, &c->local_len) < 0)
				c->local_len = 0;
			r = tls_client_handshake(c->net_fd, c->hostname, &policy, &request, &c->session,
						 c->reason, sizeof c->reason);
		}
	}
	if (r == 0) {
		r = app_socket_attach(c->app_sock, c->app_listener, REQUEST_TIMEOUT_MS);
		if (r < 0) {
			snprintf(c->reason, sizeof c->reason, "cannot connect the application's socket: %s",
				 strerror(-r));
			r = r == -ETIMEDOUT || r == -EADDRINUSE ? -ECONNABORTED : r;
		}
	}
	if (r >= 0) {
		c->app_fd = r;
		send_result(c);
		close(c->app_sock);
		close(c->app_listener);
		c->app_sock = c->app_listener = -1;
		relay_run(c->session, c->net_fd, c->app_fd, policy.truncation_eof, CLOSE_NOTIFY_IDLE_S,
			  PEER_STALL_S, &c->relay);
		r = 0;
	}
	policy_set_free(set);
	free(trust.data);
	free(request.chain.data);
	if (request.key.data) {
		explicit_bzero(request.key.data, request.key.size);
		free(request.key.data);
	}
	return r;
}

/* The journal entry of this connection (SPEC §5). */
static void log_connection(const struct connection *c)
{
	char peer[80] = "", id[32];
	bool failed = c->err != 0 || c->relay.error;

	if (c->peer_len)
		sockaddr_format((const struct sockaddr *)&c->peer, peer, sizeof peer);
	snprintf(id, sizeof id, "%016llx", (unsigned long long)c->id);
	sd_journal_send("MESSAGE=TLS connection %s to %s (%s): %s", id, c->hostname[0] ? c->hostname : "?",
			peer[0] ? peer : "not connected",
			c->err ? c->reason : c->relay.end ? c->relay.end : "ok",
			"PRIORITY=%d", failed ? LOG_WARNING : LOG_INFO,
			"SYSLOG_IDENTIFIER=ssa-helper",
			"SSA_ID=%s", id,
			"SSA_PEER_NAME=%s", c->hostname,
			"SSA_PEER_ADDRESS=%s", peer,
			"SSA_EXE=%s", c->exe,
			"SSA_EXE_VERIFIED=%s", c->exe_verified ? "yes" : "no",
			"SSA_PID=%d", (int)c->cred.pid,
			"SSA_UID=%u", (unsigned)c->cred.uid,
			"SSA_GID=%u", (unsigned)c->cred.gid,
			"SSA_POLICY=%s", c->applied,
			"SSA_VERSION=%s", c->session ? tls_client_version_name(c->session) : "",
			"SSA_CIPHER=%s", c->session ? tls_client_cipher_name(c->session) : "",
			"SSA_RESULT=%s", c->err ? strerrorname_np(c->err) : "ok",
			"SSA_REASON=%s", c->err ? c->reason : c->relay.end ? c->relay.end : "",
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
	struct connection c = { .ctl_fd = -1, .net_fd = -1, .app_fd = -1, .app_sock = -1, .app_listener = -1,
				.version_min = -1, .version_max = -1, .file_fd = { -1, -1, -1 },
				.session_reuse = -1, .revocation_checks = -1, .ocsp_stapled_checks = -1 };
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

	r = read_request(&c);
	if (r == 0) {
		verify_exe(&c);
		r = receive_app_sockets(&c);
	}
	if (r == 0)
		r = establish(&c);
	if (r < 0) {
		/* The result first: the application may look for it as soon as
		 * its socket turns writable. */
		c.err = -r;
		send_result(&c);
		if (c.app_sock >= 0)
			app_socket_release(c.app_sock);
	}
	if (c.app_sock >= 0)
		close(c.app_sock);
	if (c.app_listener >= 0)
		close(c.app_listener);
	for (int i = 0; i < 3; i++)
		if (c.file_fd[i] >= 0)
			close(c.file_fd[i]);
	log_connection(&c);
	tls_client_free(c.session);
	if (c.app_fd >= 0)
		close(c.app_fd);
	if (c.net_fd >= 0)
		close(c.net_fd);
	close(c.ctl_fd);
	return 0;
}
