/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-message: whole messages (header and body) as they are read.
 *
 *  1. The accept queue's datagram, as the shim's accept() parses it
 *     (receive_connection() in shim/server.c): the input is the datagram;
 *     at least a header, ssa_wire_check_header(buf, SSA_MSG_RESULT) equal
 *     to the rest of the datagram, then ssa_result_decode() of the body
 *     and the properties of fuzz/result-check.h.  It is read both from
 *     memory and through a real SOCK_SEQPACKET pair with one descriptor
 *     (ssa_sendmsg_fds(), ssa_recvmsg_fds() into the shim's buffer size),
 *     which must agree.
 *  2. The input as a stream of messages, read one after the other with
 *     ssa_recv_message() as the listener reads a client helper's verdict
 *     (SSA_MSG_RESULT, helper/listener.c) and the shim the resumption data
 *     that follows a verdict (SSA_MSG_SESSION, harvest() in
 *     shim/sessions.c): each message, and the error that ends the stream
 *     (-EPROTO, or -ECONNABORTED at its end), must be what a model of
 *     ssa-io.h's contract says; each result body gets the checks of 1,
 *     each session body ssa_session_decode() and the round trip through
 *     ssa_session_encode(), which must give back the very same message.
 *  3. ssa_wire_check_header() and ssa_wire_type() on the first 12 bytes
 *     against every type, compared with a model of ssa-wire.h's contract.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "result-check.h"
#include "ssa-io.h"
#include "ssa-wire.h"

/* Messages read from one stream at most (the rest is not looked at). */
#define STREAM_MESSAGES_MAX 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int queue[2] = { -1, -1 }; /* SOCK_SEQPACKET: [0] the listener's end, [1] the shim's */
static int passed_fd = -1;        /* the descriptor that travels with each datagram */
static uint8_t *shim_buf;         /* receive_connection()'s buffer */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int size = 4 * FUZZ_MSG_MAX;

	(void)argc;
	(void)argv;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, queue) < 0) {
		perror("socketpair");
		exit(1);
	}
	/* Room for the largest datagram (as the listener sets it). */
	setsockopt(queue[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	setsockopt(queue[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	passed_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	shim_buf = malloc(FUZZ_MSG_MAX);
	if (passed_fd < 0 || !shim_buf) {
		perror("setup");
		exit(1);
	}
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The contract of ssa_wire_check_header() (ssa-wire.h), written out. */
static long model_check_header(const uint8_t *h, unsigned want)
{
	if (h[0] != 'S' || h[1] != 'S' || h[2] != 'A' || h[3] != SSA_WIRE_VERSION ||
	    ((unsigned)h[4] << 8 | h[5]) != want || be32(h + 8) > SSA_WIRE_BODY_MAX)
		return -EPROTO;
	return (long)be32(h + 8);
}

/* receive_connection()'s verdict on a datagram of n bytes in buf: the body
 * length, or -EPROTO. */
static long shim_datagram(const uint8_t *buf, size_t n)
{
	long body_len = n >= SSA_WIRE_HEADER_SIZE ? ssa_wire_check_header(buf, SSA_MSG_RESULT) : -EPROTO;

	if (body_len < 0 || (size_t)body_len != n - SSA_WIRE_HEADER_SIZE)
		return -EPROTO;
	return body_len;
}

/* 1 through the socket pair: the same datagram, the same verdict. */
static void through_queue(const uint8_t *data, size_t size, long verdict)
{
	size_t n_fds = 0;
	int conn = -1, r;
	ssize_t n;

	if (size == 0)
		return; /* ssa_sendmsg_fds() sends no empty datagram */
	r = ssa_sendmsg_fds(queue[0], data, size, &passed_fd, 1, MSG_DONTWAIT);
	if (r < 0) {
		/* Only a datagram larger than the socket takes is refused. */
		fuzz_check(r == -EMSGSIZE || r == -ENOBUFS || r == -EAGAIN);
		fuzz_check(size > FUZZ_MSG_MAX);
		return;
	}
	n = ssa_recvmsg_fds(queue[1], shim_buf, FUZZ_MSG_MAX, &conn, 1, &n_fds, MSG_DONTWAIT);
	if (size > FUZZ_MSG_MAX) {
		/* Cut short: refused, its descriptor closed. */
		fuzz_check(n == -EPROTO && n_fds == 0);
		fuzz_check(verdict < 0);
		return;
	}
	fuzz_check(n == (ssize_t)size && n_fds == 1 && conn >= 0);
	fuzz_check(memcmp(shim_buf, data, size) == 0);
	fuzz_check(shim_datagram(shim_buf, (size_t)n) == verdict);
	if (verdict >= 0) {
		struct ssa_result a, b;
		int ea = ssa_result_decode(shim_buf + SSA_WIRE_HEADER_SIZE, (size_t)verdict, &a);
		int eb = ssa_result_decode(data + SSA_WIRE_HEADER_SIZE, (size_t)verdict, &b);
		fuzz_check(ea == eb);
		if (ea == 0)
			fuzz_check(fuzz_result_eq(&a, &b));
		ssa_result_free(&a);
		ssa_result_free(&b);
	}
	close(conn);
}

/* A session message's body: decoded, and encoded back to the same bytes. */
static void check_session_body(const uint8_t *body, size_t len)
{
	const uint8_t *d = NULL;
	size_t dlen = 0, n;
	uint8_t *again;
	int e = ssa_session_decode(body, len, &d, &dlen);

	if (e < 0) {
		fuzz_check(e == -EPROTO);
		return;
	}
	/* One SSA_TAG_SESSION_DATA field, which is the whole body. */
	fuzz_check(e == 0 && dlen >= 1 && dlen <= SSA_SESSION_MAX && len == 4 + dlen && d == body + 4);
	fuzz_check(((unsigned)body[0] << 8 | body[1]) == SSA_TAG_SESSION_DATA);
	again = malloc(SSA_WIRE_HEADER_SIZE + len);
	if (!again)
		return;
	n = ssa_session_encode(d, dlen, again, SSA_WIRE_HEADER_SIZE + len);
	fuzz_check(n == SSA_WIRE_HEADER_SIZE + len);
	fuzz_check(ssa_wire_check_header(again, SSA_MSG_SESSION) == (long)len);
	fuzz_check(memcmp(again + SSA_WIRE_HEADER_SIZE, body, len) == 0);
	/* One byte short: nothing, and nothing written past the buffer. */
	fuzz_check(ssa_session_encode(d, dlen, again, SSA_WIRE_HEADER_SIZE + len - 1) == 0);
	free(again);
}

/* 2: the input as a stream of messages, until the error that ends it. */
static void through_stream(const uint8_t *data, size_t size)
{
	const unsigned types = 1u << SSA_MSG_RESULT | 1u << SSA_MSG_SESSION;
	size_t off = 0;
	int s[2];

	if (size > FUZZ_MSG_MAX)
		return; /* would not fit in the socket's buffer at once */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) < 0)
		return;
	if (size && send(s[0], data, size, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)size) {
		close(s[0]);
		close(s[1]);
		return;
	}
	shutdown(s[0], SHUT_WR);
	for (int i = 0; i < STREAM_MESSAGES_MAX; i++) {
		enum ssa_msg_type type = 0;
		uint8_t *body = (uint8_t *)1;
		size_t len = 1, left = size - off;
		unsigned t = 0;
		long want;
		int r = ssa_recv_message(s[1], types, &type, &body, &len, ssa_now_ms() + 5000);

		/* The model: what the next bytes are. */
		if (left < SSA_WIRE_HEADER_SIZE) {
			want = -ECONNABORTED; /* the stream ends inside a header */
		} else {
			t = (unsigned)data[off + 4] << 8 | data[off + 5];
			want = t < 32 && (types & 1u << t) ? model_check_header(data + off, t) : -EPROTO;
			if (want >= 0 && (size_t)want > left - SSA_WIRE_HEADER_SIZE)
				want = -ECONNABORTED; /* ... or inside a body */
		}
		if (want < 0) {
			fuzz_check(r == want);
			fuzz_check(!body && len == 0);
			break;
		}
		fuzz_check(r == 0 && (unsigned)type == t && len == (size_t)want);
		fuzz_check(memcmp(body, data + off + SSA_WIRE_HEADER_SIZE, len) == 0);
		if (type == SSA_MSG_SESSION)
			check_session_body(body, len);
		else if (off != 0 || len != size - SSA_WIRE_HEADER_SIZE)
			fuzz_check_result_body(body, len); /* 1 has not seen this one */
		free(body);
		off += SSA_WIRE_HEADER_SIZE + len;
	}
	close(s[0]);
	close(s[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long verdict;

	/* 3: the header against every type (and a few that do not exist). */
	if (size >= SSA_WIRE_HEADER_SIZE) {
		for (unsigned t = 0; t <= 6; t++)
			fuzz_check(ssa_wire_check_header(data, (enum ssa_msg_type)t) == model_check_header(data, t));
		fuzz_check(ssa_wire_check_header(data, (enum ssa_msg_type)0xffff) == model_check_header(data, 0xffff));
		fuzz_check((unsigned)ssa_wire_type(data) == ((unsigned)data[4] << 8 | data[5]));
	}

	/* 1: the datagram, from memory (the fuzzer's exact-size buffer). */
	verdict = shim_datagram(data, size);
	if (verdict >= 0)
		fuzz_check_result_body(data + SSA_WIRE_HEADER_SIZE, (size_t)verdict);
	through_queue(data, size, verdict);

	/* A whole session message, from memory too. */
	if (size >= SSA_WIRE_HEADER_SIZE && ssa_wire_check_header(data, SSA_MSG_SESSION) == (long)(size - SSA_WIRE_HEADER_SIZE))
		check_session_body(data + SSA_WIRE_HEADER_SIZE, size - SSA_WIRE_HEADER_SIZE);

	/* 2 */
	through_stream(data, size);
	return 0;
}
