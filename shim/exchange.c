/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* exchange.c: a request and its verdict (exchange.h). */
#include "exchange.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "helper-channel.h"
#include "libc.h"
#include "options.h"
#include "ssa-errno.h"
#include "ssa-io.h"

int exchange_open(struct tls_socket *s, struct ssa_request *req, const int *sockets, size_t n_sockets)
{
	uint8_t buf[SSA_WIRE_HEADER_SIZE + 16384];
	int fds[SSA_FDS_MAX];
	size_t len, n_fds;
	int ctl, r;

	memcpy(fds, sockets, n_sockets * sizeof *fds);
	n_fds = n_sockets + files_for_request(s, req, fds + n_sockets);
	options_program(s, req->exe, sizeof req->exe);
	len = ssa_request_encode(req, buf, sizeof buf);
	if (len == 0) {
		tls_socket_set_error(s, "the request does not fit in a message");
		return -ENOBUFS;
	}
	ctl = helper_channel_open(s->error, sizeof s->error);
	if (ctl < 0)
		return ctl;
	r = ssa_send_all(ctl, buf, len, -1);
	if (r == 0)
		r = ssa_send_fds(ctl, fds, n_fds);
	if (r < 0) {
		REAL(close)(ctl);
		tls_socket_set_error(s, "the SSA helper went away before taking the request: %s", strerror(-r));
		return -ECONNABORTED;
	}
	return ctl;
}

int exchange_verdict(struct tls_socket *s, int ctl)
{
	enum ssa_msg_type type;
	uint8_t *body;
	size_t len;
	int r;

	ssa_result_free(&s->res);
	r = ssa_recv_message(ctl, 1u << SSA_MSG_RESULT, &type, &body, &len, -1);
	if (r == 0) {
		r = ssa_result_decode(body, len, &s->res);
		free(body);
	}
	if (r < 0) {
		tls_socket_set_error(s, r == -EPROTO ? "the SSA helper's answer could not be understood"
						     : "the SSA helper went away during the attempt");
		return ssa_errno_internal(-r);
	}
	if (s->res.err)
		memcpy(s->error, s->res.reason, sizeof s->error);
	return ssa_errno_verdict(s->res.err);
}
