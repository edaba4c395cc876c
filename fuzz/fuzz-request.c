/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-request: ssa_request_decode() on any body, as the helper reads what
 * the shim (CONNECT, LISTEN) or the listener (ACCEPT) sent.  The first byte
 * of the input chooses the kind (modulo 3: CONNECT, LISTEN, ACCEPT), the
 * rest is the body.
 *
 * Properties:
 *  - a refused body gives -EPROTO and *bad_tag 0 or the tag of one of its
 *    fields, and leaves nothing allocated and no ticket key behind; any
 *    other kind than the three is refused;
 *  - a decoded request is within the limits of ssa-msg.h and has what its
 *    kind needs;
 *  - it encodes (ssa_request_encode()) into a whole message of its kind,
 *    which decodes to an identical struct and encodes to the same bytes
 *    again; into a buffer one byte too short it gives 0, writing nothing
 *    past it;
 *  - ssa_request_free() releases the resumption data and wipes the ticket
 *    key (LeakSanitizer checks the rest).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssa-msg.h"

#define MSG_MAX (SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX)

#define check(cond)                                                                                  \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

static const enum ssa_msg_type kinds[3] = { SSA_MSG_CONNECT, SSA_MSG_LISTEN, SSA_MSG_ACCEPT };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Nothing allocated, no key: what a refused or freed request holds. */
static void check_released(const struct ssa_request *r)
{
	check(!r->session && !r->session_len);
	check(!r->has_ticket_key && all_zero(r->ticket_key, sizeof r->ticket_key));
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* Is tag the tag of a field of body (a whole one or a truncated one)? */
static bool tag_in_body(unsigned tag, const uint8_t *body, size_t len)
{
	size_t off = 0;

	while (len - off >= 4) {
		unsigned t = (unsigned)body[off] << 8 | body[off + 1];
		size_t flen = (size_t)body[off + 2] << 8 | body[off + 3];
		if (t == tag)
			return true;
		off += 4 + flen;
		if (off > len)
			break;
	}
	return false;
}

/* Field by field: the same request? */
static bool request_eq(const struct ssa_request *a, const struct ssa_request *b)
{
	if (a->kind != b->kind || strcmp(a->hostname, b->hostname) || strcmp(a->resolve, b->resolve) ||
	    a->port != b->port || a->addr_len != b->addr_len || memcmp(&a->addr, &b->addr, a->addr_len) ||
	    strcmp(a->exe, b->exe) || a->version_min != b->version_min || a->version_max != b->version_max ||
	    strcmp(a->alpn, b->alpn) || a->n_off != b->n_off || a->n_on != b->n_on ||
	    a->session_reuse != b->session_reuse || a->revocation_checks != b->revocation_checks ||
	    a->ocsp_stapled_checks != b->ocsp_stapled_checks || a->peer_auth != b->peer_auth ||
	    a->trust_file != b->trust_file || a->n_pairs != b->n_pairs || a->hold_filler != b->hold_filler ||
	    a->hold_lowat != b->hold_lowat || a->has_app != b->has_app || a->app_pid != b->app_pid ||
	    a->app_uid != b->app_uid || a->app_gid != b->app_gid || a->app_exe_verified != b->app_exe_verified ||
	    a->session_len != b->session_len || (a->session_len && memcmp(a->session, b->session, a->session_len)) ||
	    a->session_ttl != b->session_ttl || a->has_ticket_key != b->has_ticket_key ||
	    memcmp(a->ticket_key, b->ticket_key, sizeof a->ticket_key))
		return false;
	for (size_t i = 0; i < a->n_off; i++)
		if (strcmp(a->ciphers_off[i], b->ciphers_off[i]))
			return false;
	for (size_t i = 0; i < a->n_on; i++)
		if (strcmp(a->ciphers_on[i], b->ciphers_on[i]))
			return false;
	return true;
}

/* The limits of ssa-msg.h, and what each kind needs. */
static void check_decoded(const struct ssa_request *r, enum ssa_msg_type kind)
{
	check(r->kind == kind);
	check(terminated(r->hostname, sizeof r->hostname) && terminated(r->resolve, sizeof r->resolve));
	check(terminated(r->exe, sizeof r->exe) && terminated(r->alpn, sizeof r->alpn));
	check(r->n_off <= SSA_CIPHERS_MAX && r->n_on <= SSA_CIPHERS_MAX);
	for (size_t i = 0; i < r->n_off; i++)
		check(terminated(r->ciphers_off[i], SSA_CIPHER_NAME_MAX));
	for (size_t i = 0; i < r->n_on; i++)
		check(terminated(r->ciphers_on[i], SSA_CIPHER_NAME_MAX));
	check(r->version_min >= -1 && r->version_min <= TLS_1_3);
	check(r->version_max >= -1 && r->version_max <= TLS_1_3);
	check(r->session_reuse >= -1 && r->session_reuse <= 1);
	check(r->revocation_checks >= -1 && r->revocation_checks <= 1);
	check(r->ocsp_stapled_checks >= -1 && r->ocsp_stapled_checks <= 1);
	check(r->n_pairs <= SSA_KEY_PAIRS_MAX);
	check(r->hold_lowat >= 0);
	check(r->has_app == (kind == SSA_MSG_ACCEPT));
	check((r->session == NULL) == (r->session_len == 0));
	check(r->session_len <= SSA_SESSION_MAX);
	if (kind != SSA_MSG_CONNECT)
		check(!r->session);
	else
		check(!r->session_ttl);
	if (kind != SSA_MSG_ACCEPT)
		check(!r->has_ticket_key && all_zero(r->ticket_key, sizeof r->ticket_key));
	if (kind == SSA_MSG_CONNECT) {
		check(r->hostname[0]);
		if (r->resolve[0])
			check(r->addr_len == 0);
		else
			check(r->port == 0 &&
			      ((r->addr_len == sizeof(struct sockaddr_in) && r->addr.ss_family == AF_INET) ||
			       (r->addr_len == sizeof(struct sockaddr_in6) && r->addr.ss_family == AF_INET6)));
		check(!r->peer_auth);
	} else {
		check(!r->hostname[0] && !r->resolve[0] && !r->port && !r->addr_len && !r->hold_filler &&
		      !r->hold_lowat);
		check(r->n_pairs > 0);
	}
	if (kind != SSA_MSG_ACCEPT)
		check(!r->app_pid && !r->app_uid && !r->app_gid && !r->app_exe_verified);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t enc[MSG_MAX], enc2[MSG_MAX];
	static struct ssa_request r, r2, r3;
	enum ssa_msg_type kind;
	const uint8_t *body;
	unsigned bad = 12345;
	size_t len, n, n2;
	uint8_t *tight;
	int e;

	if (size < 1)
		return 0;
	kind = kinds[data[0] % 3];
	body = data + 1;
	len = size - 1;

	/* Only the three kinds of request are decoded at all. */
	check(ssa_request_decode(SSA_MSG_RESULT, body, len, &r, NULL) == -EPROTO);
	check_released(&r);
	check(ssa_request_decode((enum ssa_msg_type)0, body, len, &r, NULL) == -EPROTO);
	check_released(&r);

	e = ssa_request_decode(kind, body, len, &r, &bad);
	/* Without bad_tag: the same verdict. */
	check(ssa_request_decode(kind, body, len, &r2, NULL) == e);
	if (e < 0) {
		check(e == -EPROTO);
		check(bad == 0 || tag_in_body(bad, body, len));
		check_released(&r);
		check_released(&r2);
		return 0;
	}
	check(e == 0 && bad == 0);
	check(request_eq(&r, &r2));
	check_decoded(&r, kind);

	/* Encode, check the header, decode again: the same request. */
	n = ssa_request_encode(&r, enc, sizeof enc);
	check(n >= SSA_WIRE_HEADER_SIZE);
	check(ssa_wire_type(enc) == kind);
	check(ssa_wire_check_header(enc, kind) == (long)(n - SSA_WIRE_HEADER_SIZE));
	e = ssa_request_decode(kind, enc + SSA_WIRE_HEADER_SIZE, n - SSA_WIRE_HEADER_SIZE, &r3, &bad);
	if (e != 0)
		fprintf(stderr, "re-encoded request refused at tag %u\n", bad);
	check(e == 0);
	check(request_eq(&r, &r3));
	/* The decoder leaves nothing of its own in the struct either (but
	 * for where it put the resumption data). */
	{
		static struct ssa_request a, b;
		a = r;
		b = r3;
		a.session = b.session = NULL;
		check(memcmp(&a, &b, sizeof a) == 0);
	}
	/* Encoding is a fixed point: the same bytes again. */
	n2 = ssa_request_encode(&r3, enc2, sizeof enc2);
	check(n2 == n && memcmp(enc, enc2, n) == 0);

	/* Into exactly n bytes: the same message; one byte less: 0. */
	if ((tight = malloc(n))) {
		check(ssa_request_encode(&r, tight, n) == n && memcmp(tight, enc, n) == 0);
		if (n - 1 >= SSA_WIRE_HEADER_SIZE)
			check(ssa_request_encode(&r, tight, n - 1) == 0);
		free(tight);
	}

	ssa_request_free(&r);
	ssa_request_free(&r2);
	ssa_request_free(&r3);
	check_released(&r);
	check_released(&r3);
	return 0;
}
