/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* job.c: one application's request (job.h). */
#include "job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "app-socket.h"
#include "hold.h"
#include "identity.h"
#include "ssa-errno.h"
#include "ssa-io.h"
#include "tighten.h"
#include "tls-priority.h"

/* Largest trust file, and largest chain or key file, read. */
#define TRUST_FILE_MAX (4u << 20)
#define KEY_FILE_MAX (1u << 20)

/* Whose request this is (identity.h): the sender, whose claim of a
 * program path counts only from root (ssa-probe --exe); or, for ACCEPT
 * from a listener this service started, the application it serves.
 * 0, or -ECANCELED (an ACCEPT from anyone else). */
static int identify(struct job *j, const struct identity *id)
{
	if (j->req.kind == SSA_MSG_ACCEPT) {
		if (!id->from_listener) {
			snprintf(j->reason, sizeof j->reason, "an ACCEPT request is taken only from a listener this "
				 "service started (pid %d is not one)", (int)id->cred.pid);
			return -ECANCELED;
		}
		j->cred = (struct ucred){ .pid = (pid_t)j->req.app_pid, .uid = j->req.app_uid, .gid = j->req.app_gid };
		memcpy(j->exe, j->req.exe, sizeof j->exe);
		j->exe_verified = j->req.app_exe_verified;
		return 0;
	}
	j->cred = id->cred;
	if (j->cred.uid == 0 && j->req.exe[0]) {
		memcpy(j->exe, j->req.exe, sizeof j->exe);
		return 0;
	}
	/* A path the kernel gave for a process that had gone by the time
	 * it was checked may be another's: it names no [app] section. */
	if (id->exe_verified)
		memcpy(j->exe, id->exe, sizeof j->exe);
	j->exe_verified = id->exe_verified;
	return 0;
}

/* The sockets of each kind of request, checked: 0 or -EPROTO. */
static int check_sockets(enum ssa_msg_type kind, const int *fds)
{
	switch (kind) {
	case SSA_MSG_CONNECT:
		return hold_take(fds[0], fds[1]);
	case SSA_MSG_LISTEN:
		return app_socket_check_listening(fds[0], fds[1]);
	default:
		return app_socket_check_accepted(fds[0]);
	}
}

/* Take the descriptors that follow the request: the sockets, then the
 * files (ssa-wire.h).  0 or -ECANCELED (reason set). */
static int take_descriptors(struct job *j)
{
	size_t n_sockets = j->req.kind == SSA_MSG_ACCEPT ? 1 : 2;
	size_t n = n_sockets + (j->req.trust_file ? 1 : 0) + 2 * j->req.n_pairs, k = n_sockets;
	int fds[SSA_FDS_MAX];
	int r;

	r = ssa_recv_fds(j->ctl, fds, n, ssa_now_ms() + JOB_REQUEST_TIMEOUT_MS);
	if (r == 0 && (r = check_sockets(j->req.kind, fds)) < 0)
		for (size_t i = 0; i < n; i++)
			close(fds[i]);
	if (r < 0) {
		snprintf(j->reason, sizeof j->reason, "bad request from the client: the sockets passed are not "
			 "the right kind (%s)", strerror(-r));
		return -ECANCELED;
	}
	for (size_t i = 0; i < n_sockets; i++)
		j->sockets[i] = fds[i];
	if (j->req.trust_file)
		j->trust_fd = fds[k++];
	for (size_t i = 0; i < 2 * j->req.n_pairs; i++)
		j->pair_fd[i] = fds[k++];
	return 0;
}

int job_open(struct job *j, int ctl, const struct identity *given)
{
	struct identity own;
	const unsigned kinds = 1u << SSA_MSG_CONNECT | 1u << SSA_MSG_LISTEN | 1u << SSA_MSG_ACCEPT;
	enum ssa_msg_type kind = SSA_MSG_CONNECT;
	unsigned bad_tag = 0;
	uint8_t *body = NULL;
	size_t body_len;
	int r;

	memset(j, 0, sizeof *j);
	j->ctl = ctl;
	j->sockets[0] = j->sockets[1] = j->trust_fd = -1;
	for (size_t i = 0; i < 2 * SSA_KEY_PAIRS_MAX; i++)
		j->pair_fd[i] = -1;
	j->start_ms = ssa_now_ms();
	if (getrandom(&j->id, sizeof j->id, 0) != sizeof j->id)
		j->id = (uint64_t)j->start_ms ^ ((uint64_t)getpid() << 32);
	ssa_request_init(&j->req, SSA_MSG_CONNECT);
	if (!given) {
		/* Started by the application (standalone mode): a listener is
		 * one of the same user's helpers. */
		if ((r = identity_of_peer(ctl, &own)) < 0) {
			snprintf(j->reason, sizeof j->reason, "the control socket is not a connected AF_UNIX socket: %s",
				 strerror(-r));
			return -ECANCELED;
		}
		own.from_listener = own.cred.uid == geteuid();
		given = &own;
	}
	j->cred = given->cred;
	r = ssa_recv_message(ctl, kinds, &kind, &body, &body_len, ssa_now_ms() + JOB_REQUEST_TIMEOUT_MS);
	if (r < 0) {
		snprintf(j->reason, sizeof j->reason, "bad request from the client: %s", strerror(-r));
		return -ECANCELED;
	}
	r = ssa_request_decode(kind, body, body_len, &j->req, &bad_tag);
	free(body);
	if (r < 0) {
		j->req.kind = kind;
		snprintf(j->reason, sizeof j->reason, "malformed request from the client (field %u)", bad_tag);
		return -ECANCELED;
	}
	if ((r = identify(j, given)) < 0)
		return r;
	return take_descriptors(j);
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

/* The application's files into the handshake request: 0 or -EINVAL (reason
 * set). */
static int read_files(struct job *j, const struct policy *p, struct tls_request *request)
{
	int r;

	if (j->trust_fd >= 0) {
		r = read_file_fd(j->trust_fd, TRUST_FILE_MAX, &request->trust[0]);
		if (r < 0) {
			snprintf(j->reason, sizeof j->reason, "TLS_TRUSTED_PEER_CERTIFICATES: %s", strerror(-r));
			return -EINVAL;
		}
		request->n_trust = 1;
		request->replace_trust = p->app_trust_store == POLICY_APP_TRUST_REPLACE;
	}
	for (size_t i = 0; i < j->req.n_pairs; i++) {
		r = read_file_fd(j->pair_fd[2 * i], KEY_FILE_MAX, &request->chain[i]);
		if (r == 0)
			r = read_file_fd(j->pair_fd[2 * i + 1], KEY_FILE_MAX, &request->key[i]);
		if (r < 0) {
			snprintf(j->reason, sizeof j->reason, "TLS_CERTIFICATE_CHAIN / TLS_PRIVATE_KEY: %s", strerror(-r));
			return -EINVAL;
		}
		request->n_pairs = i + 1;
	}
	return 0;
}

int job_policy_for_peer(struct job *j, struct policy *p, const struct sockaddr *peer)
{
	const struct ssa_request *q = &j->req;
	bool client = q->kind == SSA_MSG_CONNECT;

	policy_resolve(j->set, j->exe, client ? q->hostname : NULL, peer, p, j->sections, sizeof j->sections);
	if (!p->allow) {
		snprintf(j->reason, sizeof j->reason, "the policy forbids this %s (allow = no in %s)",
			 client ? "connection" : "server", j->sections);
		return -EACCES;
	}
	if (p->min_version > p->max_version) {
		snprintf(j->reason, sizeof j->reason, "policy: min-version is above max-version (%s)", j->sections);
		return -ECANCELED;
	}
	return ssa_tighten(p, q, j->sections, j->reason, sizeof j->reason);
}

/* The policy loaded once for this process, if any (job_preload_policy()). */
static struct {
	bool loaded;
	const struct policy_set *set;
	const char *error;
} preloaded;

void job_preload_policy(const struct policy_set *set, const char *error)
{
	preloaded.loaded = true;
	preloaded.set = set;
	preloaded.error = error;
}

/* The policy set for this job: preloaded, or read now.  0, or -ECANCELED
 * (the policy is broken) with the reason. */
static int load_policy(struct job *j)
{
	char *error = NULL;
	int r;

	if (preloaded.loaded && preloaded.set) {
		j->set = preloaded.set;
		return 0;
	}
	if (preloaded.loaded) {
		snprintf(j->reason, sizeof j->reason, "the SSA policy is broken, refusing every connection: %s",
			 preloaded.error ? preloaded.error : "?");
		return -ECANCELED;
	}
	r = policy_set_load(policy_dir(), &j->own_set, &error);
	if (r < 0) {
		snprintf(j->reason, sizeof j->reason, "the SSA policy is broken, refusing every connection: %s",
			 error ? error : strerror(-r));
		free(error);
		return -ECANCELED;
	}
	j->set = j->own_set;
	return 0;
}

int job_policy(struct job *j, struct policy *p, struct tls_request *request)
{
	const struct ssa_request *q = &j->req;
	bool client = q->kind == SSA_MSG_CONNECT;
	int r;

	if ((r = load_policy(j)) < 0)
		return r;
	r = job_policy_for_peer(j, p, client && q->addr_len ? (const struct sockaddr *)&q->addr : NULL);
	if (r < 0)
		return r;
	if (q->n_off || q->n_on) {
		const char *off[SSA_CIPHERS_MAX], *on[SSA_CIPHERS_MAX];
		for (size_t i = 0; i < q->n_off; i++)
			off[i] = q->ciphers_off[i];
		for (size_t i = 0; i < q->n_on; i++)
			on[i] = q->ciphers_on[i];
		r = tls_priority_cipher_modifiers(p, off, q->n_off, on, q->n_on, j->cipher_mods, sizeof j->cipher_mods,
						j->reason, sizeof j->reason);
		if (r < 0)
			return r;
		request->cipher_mods = j->cipher_mods;
	}
	request->alpn = q->alpn[0] ? q->alpn : NULL;
	request->request_peer_auth = q->peer_auth;
	return read_files(j, p, request);
}

void job_request_free(struct tls_request *req)
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
	req->n_trust = req->n_pairs = 0;
}

int job_report(struct job *j, struct ssa_result *res)
{
	static uint8_t buf[SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX];
	size_t len;

	res->err = ssa_errno_verdict(res->err);
	res->id = j->id;
	memcpy(res->sections, j->sections, sizeof res->sections);
	if (res->err)
		memcpy(res->reason, j->reason, sizeof res->reason);
	len = ssa_result_encode(res, buf, sizeof buf);
	if (len == 0)
		return -ENOBUFS;
	return ssa_send_all(j->ctl, buf, len, ssa_now_ms() + JOB_REQUEST_TIMEOUT_MS);
}

int job_fail(struct job *j, int e)
{
	struct ssa_result res;

	ssa_result_init(&res);
	res.err = -e;
	job_report(j, &res);
	return res.err;
}

void job_describe(struct ssa_result *res, const struct policy *p, const struct sockaddr_storage *peer,
		  socklen_t peer_len, const struct sockaddr_storage *local, socklen_t local_len)
{
	res->range_min = p->min_version;
	res->range_max = p->max_version;
	memcpy(&res->peer, peer, sizeof res->peer);
	res->peer_len = peer_len;
	memcpy(&res->local, local, sizeof res->local);
	res->local_len = local_len;
}

void job_free(struct job *j)
{
	ssa_request_free(&j->req);
	policy_set_free(j->own_set);
	j->own_set = NULL;
	j->set = NULL;
	int *fds[] = { &j->ctl, &j->sockets[0], &j->sockets[1], &j->trust_fd };

	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	for (size_t i = 0; i < 2 * SSA_KEY_PAIRS_MAX; i++)
		if (j->pair_fd[i] >= 0) {
			close(j->pair_fd[i]);
			j->pair_fd[i] = -1;
		}
}
