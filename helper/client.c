/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* client.c: the helper of one client connection (client.h). */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hold.h"
#include "journal.h"
#include "peer-connect.h"
#include "relay.h"
#include "ssa-errno.h"
#include "ssa-io.h"


struct client {
	struct job *job;
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
	int fds[] = { c->app_sock, c->end, c->net_fd };

	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	tls_session_free(c->session);
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
	job_report(j, &res);
	ssa_result_free(&res);
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
	if (r == 0)
		r = reach_peer(&c, &policy, &request);
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
