/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* accepted.c: the helper of one accepted client (accepted.h). */
#include "accepted.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app-socket.h"
#include "journal.h"
#include "relay.h"
#include "ssa-io.h"


struct accepted {
	struct job *job;
	int net_fd;                    /* the client's TCP connection, or -1 */
	int end;                       /* our end of the plaintext connection, or -1 */
	struct sockaddr_storage peer, local;
	socklen_t peer_len, local_len;
	int domain;                    /* of the listening socket */
	gnutls_session_t session;
	char sni[SSA_SNI_MAX];         /* the name the client asked for */
	struct relay_result relay;
};

static void accepted_free(struct accepted *a)
{
	if (a->net_fd >= 0)
		close(a->net_fd);
	if (a->end >= 0)
		close(a->end);
	tls_session_free(a->session);
}

/* Hand the application its plaintext connection, through the listener,
 * with the verdict: 0 or -errno with the reason. */
static int hand_over(struct accepted *a, const struct policy *p)
{
	struct job *j = a->job;
	struct ssa_result res;
	int app = -1, r;

	r = app_socket_pair(a->domain, &app, JOB_REQUEST_TIMEOUT_MS);
	if (r < 0) {
		snprintf(j->reason, sizeof j->reason, "cannot make the plaintext connection: %s", strerror(-r));
		return -ECONNABORTED;
	}
	a->end = r;
	ssa_result_init(&res);
	tls_session_describe(a->session, &res);
	memcpy(res.sni, a->sni, sizeof res.sni);
	job_describe(&res, p, &a->peer, a->peer_len, &a->local, a->local_len);
	res.resumed = gnutls_session_is_resumed(a->session);
	r = job_report(j, &res);
	ssa_result_free(&res);
	if (r == 0)
		r = ssa_send_fds(j->ctl, &app, 1);
	close(app);
	if (r < 0) {
		/* The listener is gone: the application closed its socket. */
		snprintf(j->reason, sizeof j->reason, "the listening socket was closed during the handshake");
		return -ECONNABORTED;
	}
	return 0;
}

void accepted_run(struct job *j)
{
	struct accepted a = { .job = j, .net_fd = j->sockets[0], .end = -1, .domain = AF_INET };
	struct journal_entry log = { .role = "server" };
	socklen_t len = sizeof a.domain;
	struct policy policy;
	gnutls_datum_t trust = { 0 };
	struct tls_request request = { .trust = &trust };
	int r;

	j->sockets[0] = -1;
	a.peer_len = sizeof a.peer;
	if (getpeername(a.net_fd, (struct sockaddr *)&a.peer, &a.peer_len) < 0)
		a.peer_len = 0;
	a.local_len = sizeof a.local;
	if (getsockname(a.net_fd, (struct sockaddr *)&a.local, &a.local_len) < 0)
		a.local_len = 0;
	getsockopt(a.net_fd, SOL_SOCKET, SO_DOMAIN, &a.domain, &len);
	/* Handshake records are small and latency-bound: a ticket and the
	 * first data after it must not wait for the client's delayed ACK. */
	setsockopt(a.net_fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	r = job_policy(j, &policy, &request);
	/* Tickets with the listening socket's key (SPEC §2), if it has one
	 * (the listener makes one where the policy allows resumption). */
	gnutls_datum_t ticket_key = { .data = j->req.ticket_key, .size = sizeof j->req.ticket_key };
	if (r == 0 && j->req.has_ticket_key && policy.session_resumption) {
		request.ticket_key = &ticket_key;
		request.session_ttl = j->req.session_ttl;
	}
	if (r == 0)
		r = tls_server_handshake(a.net_fd, &policy, &request, &a.session, a.sni, sizeof a.sni, j->reason,
					 sizeof j->reason);
	job_request_free(&request);
	if (r == 0)
		r = hand_over(&a, &policy);
	if (r < 0) {
		log.err = job_fail(j, r);
	} else {
		relay_run(a.session, a.net_fd, a.end, policy.truncation_eof,
			  &a.relay);
		log.outcome = a.relay.end;
		log.relay = &a.relay;
	}
	log.peer_name = a.sni;
	log.peer = a.peer_len ? (const struct sockaddr *)&a.peer : NULL;
	log.local = a.local_len ? (const struct sockaddr *)&a.local : NULL;
	log.session = a.session;
	journal_log(j, &log);
	accepted_free(&a);
}
