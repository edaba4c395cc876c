/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* client.c: the helper of one client connection (client.h). */
#include "client.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hold.h"
#include "journal.h"
#include "peer-connect.h"
#include "relay.h"
#include "ssa-errno.h"
#include "ssa-io.h"


/* Size of the policy fingerprint that prefixes resumption data. */
#define FINGERPRINT_SIZE 32

struct client {
	struct job *job;
	/* Resumption (SPEC §2): what the data this helper hands out is bound
	 * to (the effective policy and the application's options), and data
	 * that arrived before the verdict was sent (a TLS 1.2 session). */
	bool resumable;
	uint8_t fingerprint[FINGERPRINT_SIZE];
	bool verdict_sent;
	gnutls_datum_t early_session;
	int app_sock;                  /* the application's held socket until released, or -1 */
	int end;                       /* the hold's end, then the plaintext connection, or -1 */
	int net_fd;                    /* the TCP connection to the peer, or -1 */
	struct sockaddr_storage peer, local;
	socklen_t peer_len, local_len;
	gnutls_session_t session;
	struct relay_result relay;
};

static void client_free(struct client *c)
{
	gnutls_free(c->early_session.data);
	int fds[] = { c->app_sock, c->end, c->net_fd };

	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	tls_session_free(c->session);
}

/* A digest of everything resumption data must not outlive: the effective
 * policy and what the application asked for.  Data made under another
 * policy (or options) is not offered: a full handshake applies the new one. */
static void fingerprint(const struct job *j, const struct policy *p, uint8_t out[FINGERPRINT_SIZE])
{
	const struct ssa_request *q = &j->req;
	char text[8192];
	int n;

	n = snprintf(text, sizeof text, "v1|%d|%d|%s|%s|%d|%d|%s|%d|%d|%d|%s|%s|%d|%d|%d|%zu|%zu", p->min_version,
		     p->max_version, p->priority ? p->priority : "", p->trust_store, p->app_trust_store,
		     p->ocsp_stapling, p->pins ? p->pins : "", p->truncation_eof, q->version_min, q->version_max,
		     q->hostname, q->alpn, q->revocation_checks, q->ocsp_stapled_checks, q->trust_file, q->n_off,
		     q->n_on);
	for (size_t i = 0; i < q->n_off && n > 0 && (size_t)n < sizeof text; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "|-%s", q->ciphers_off[i]);
	for (size_t i = 0; i < q->n_on && n > 0 && (size_t)n < sizeof text; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "|+%s", q->ciphers_on[i]);
	gnutls_hash_fast(GNUTLS_DIG_SHA256, text, n > 0 ? strnlen(text, sizeof text) : 0, out);
}

/* Send resumption data to the shim: the fingerprint, then the data, as
 * one SSA_MSG_SESSION.  Best effort: the shim may be gone. */
static void send_session(struct client *c, const gnutls_datum_t *data)
{
	static uint8_t blob[SSA_SESSION_MAX], msg[SSA_WIRE_HEADER_SIZE + SSA_SESSION_MAX + 4];
	size_t len;

	if (data->size == 0 || data->size > sizeof blob - FINGERPRINT_SIZE)
		return;
	memcpy(blob, c->fingerprint, FINGERPRINT_SIZE);
	memcpy(blob + FINGERPRINT_SIZE, data->data, data->size);
	len = ssa_session_encode(blob, FINGERPRINT_SIZE + data->size, msg, sizeof msg);
	if (len)
		send(c->job->ctl, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* New resumption data from the session (tls-session.h): to the shim now,
 * or after the verdict if it is not out yet. */
static void on_session(void *user, const gnutls_datum_t *data)
{
	struct client *c = user;

	if (c->verdict_sent) {
		send_session(c, data);
		return;
	}
	gnutls_free(c->early_session.data);
	c->early_session.data = gnutls_malloc(data->size);
	c->early_session.size = c->early_session.data ? data->size : 0;
	if (c->early_session.data)
		memcpy(c->early_session.data, data->data, data->size);
}

/* Offer the shim's resumption data if it was made under the same policy
 * and options (its fingerprint), and ask for new data. */
static void set_resumption(struct client *c, const struct policy *p, struct tls_request *request)
{
	const struct ssa_request *q = &c->job->req;

	c->resumable = p->session_resumption && q->session_reuse != 0 && p->ocsp_stapling != POLICY_OCSP_REQUIRE;
	if (!c->resumable)
		return;
	fingerprint(c->job, p, c->fingerprint);
	if (q->session_len > FINGERPRINT_SIZE && memcmp(q->session, c->fingerprint, FINGERPRINT_SIZE) == 0) {
		request->resume.data = q->session + FINGERPRINT_SIZE;
		request->resume.size = (unsigned)(q->session_len - FINGERPRINT_SIZE);
	}
	request->on_session = on_session;
	request->on_session_user = c;
}

/* The TCP connection, the handshake and the validation: 0 or -errno with
 * the reason in the job. */
static int reach_peer(struct client *c, struct policy *p, const struct tls_request *request)
{
	struct job *j = c->job;
	const struct ssa_request *q = &j->req;
	int r;

	r = peer_connect(q->resolve[0] ? q->resolve : NULL, q->port, (const struct sockaddr *)&q->addr, q->addr_len,
			 p->connect_timeout * 1000, &c->peer, &c->peer_len, j->reason, sizeof j->reason);
	if (r < 0)
		return r;
	c->net_fd = r;
	/* A name resolved: the address's [host] section may apply. */
	if (q->resolve[0] && (r = job_policy_for_peer(j, p, (const struct sockaddr *)&c->peer)) < 0)
		return r;
	c->local_len = sizeof c->local;
	if (getsockname(c->net_fd, (struct sockaddr *)&c->local, &c->local_len) < 0)
		c->local_len = 0;
	return tls_client_handshake(c->net_fd, q->hostname, p, request, &c->session, j->reason, sizeof j->reason);
}

/* Release the hold, then report success (hold.h: the socket turns writable
 * with the verdict on its way): 0 or -errno with the reason. */
static int report_connected(struct client *c, const struct policy *p)
{
	struct job *j = c->job;
	struct ssa_result res;
	int r;

	r = hold_release(c->app_sock, c->end, j->req.hold_filler, j->req.hold_lowat,
			 ssa_now_ms() + JOB_REQUEST_TIMEOUT_MS);
	if (r < 0) {
		snprintf(j->reason, sizeof j->reason, "the application's socket could not be released: %s%s",
			 strerror(-r), r == -ECONNRESET ? " (the application closed it)" : "");
		return -ssa_errno_internal(-r);
	}
	close(c->app_sock); /* the application's close() must reach the end */
	c->app_sock = -1;
	ssa_result_init(&res);
	tls_session_describe(c->session, &res);
	snprintf(res.ocsp, sizeof res.ocsp, "%s", tls_session_ocsp_status(c->session));
	job_describe(&res, p, &c->peer, c->peer_len, &c->local, c->local_len);
	res.resumed = gnutls_session_is_resumed(c->session);
	job_report(j, &res);
	ssa_result_free(&res);
	c->verdict_sent = true;
	if (c->early_session.size)
		send_session(c, &c->early_session);
	return 0;
}

void client_run(struct job *j)
{
	struct client c = { .job = j, .app_sock = j->sockets[0], .end = j->sockets[1], .net_fd = -1 };
	struct journal_entry log = { .role = "client", .peer_name = j->req.hostname };
	struct policy policy;
	gnutls_datum_t trust = { 0 };
	struct tls_request request = { .trust = &trust };
	int r;

	j->sockets[0] = j->sockets[1] = -1;
	r = job_policy(j, &policy, &request);
	if (r == 0) {
		set_resumption(&c, &policy, &request);
		r = reach_peer(&c, &policy, &request);
	}
	job_request_free(&request);
	if (r == 0)
		r = report_connected(&c, &policy);
	if (r < 0) {
		/* Reset the hold, then report (hold.h). */
		hold_reset(c.end);
		c.end = -1;
		log.err = job_fail(j, r);
	} else {
		relay_run(c.session, c.net_fd, c.end, policy.truncation_eof,
			  &c.relay);
		log.outcome = c.relay.end;
		log.relay = &c.relay;
	}
	log.peer = c.peer_len ? (const struct sockaddr *)&c.peer : NULL;
	log.local = c.local_len ? (const struct sockaddr *)&c.local : NULL;
	log.session = c.session;
	journal_log(j, &log);
	client_free(&c);
}
