/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * result-check.h: the properties of a decoded result (ssa_result_decode()),
 * shared by fuzz-result.c and fuzz-message.c.
 *
 * For any body that decodes:
 *  - ssa_result_encode() into a buffer of each interesting size returns
 *    exactly the length predicted by a model of the encoder (full form if
 *    it fits, else the minimal form: errno, id, peer address; else 0), and
 *    writes nothing past the buffer (exact-size heap buffers under ASan);
 *  - every encoding is a whole message whose header checks as
 *    SSA_MSG_RESULT with the right body length;
 *  - the full form decodes again to an identical struct, and re-encodes to
 *    the same bytes; the minimal form decodes to the verdict, the id and
 *    the peer address of the original, with nothing else.
 * A body that does not decode leaves an empty result (nothing to free).
 *
 * Two differences between what the decoder accepts and what the encoder
 * writes are normalized before comparing, unless FUZZ_STRICT is defined
 * (see fuzz/crashes/README.md):
 *  - a reason with errno 0 (the encoder writes SSA_TAG_REASON on failure
 *    only);
 *  - an empty SSA_TAG_PEER_IDENTITY / _PEER_CHAIN / _TRUSTED_CIPHERS field,
 *    decoded as "" where the encoder writes nothing for "" and NULL alike.
 */
#ifndef FUZZ_RESULT_CHECK_H
#define FUZZ_RESULT_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssa-msg.h"

#define FUZZ_MSG_MAX (SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX)

#define fuzz_check(cond)                                                                             \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

static inline size_t fuzz_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

static inline bool fuzz_str_eq(const char *a, const char *b)
{
#ifndef FUZZ_STRICT
	/* Known: "" from an empty field comes back as NULL. */
	if (a && !a[0])
		a = NULL;
	if (b && !b[0])
		b = NULL;
#endif
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static inline bool fuzz_addr_eq(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr_storage *b,
			 socklen_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* Are two decoded results the same (with the normalizations above)? */
static inline bool fuzz_result_eq(const struct ssa_result *a, const struct ssa_result *b)
{
	const char *ra = a->reason, *rb = b->reason;

#ifndef FUZZ_STRICT
	/* Known: a reason with errno 0 is decoded but never encoded. */
	if (!a->err)
		ra = "";
	if (!b->err)
		rb = "";
#endif
	return a->err == b->err && strcmp(ra, rb) == 0 && a->id == b->id && strcmp(a->sections, b->sections) == 0 &&
	       a->range_min == b->range_min && a->range_max == b->range_max && a->version == b->version &&
	       strcmp(a->cipher, b->cipher) == 0 && strcmp(a->alpn, b->alpn) == 0 && strcmp(a->sni, b->sni) == 0 &&
	       strcmp(a->ocsp, b->ocsp) == 0 && a->resumed == b->resumed &&
	       fuzz_str_eq(a->peer_identity, b->peer_identity) &&
	       fuzz_str_eq(a->peer_chain, b->peer_chain) && fuzz_str_eq(a->trusted_ciphers, b->trusted_ciphers) &&
	       fuzz_addr_eq(&a->peer, a->peer_len, &b->peer, b->peer_len) &&
	       fuzz_addr_eq(&a->local, a->local_len, &b->local, b->local_len);
}

/* Is r the empty result of ssa_result_init()? */
static inline bool fuzz_result_empty(const struct ssa_result *r)
{
	struct ssa_result e;

	ssa_result_init(&e);
	return fuzz_result_eq(r, &e) && !r->reason[0] && !r->peer_identity && !r->peer_chain && !r->trusted_ciphers;
}

/* Does the minimal form's decoding m carry exactly what it should of r? */
static inline bool fuzz_result_minimal_of(const struct ssa_result *m, const struct ssa_result *r)
{
	struct ssa_result e;

	ssa_result_init(&e);
	e.err = r->err;
	e.id = r->id;
	e.peer = r->peer;
	e.peer_len = r->peer_len;
	return fuzz_result_eq(m, &e) && !m->reason[0] && !m->peer_identity && !m->peer_chain && !m->trusted_ciphers;
}

/* Bytes of a string field the encoder writes for s (put_nonempty). */
static inline size_t fuzz_str_field(const char *s)
{
	return s && s[0] ? 4 + strlen(s) : 0;
}

/* Model of ssa_result_encode(): the length of the full form, header included. */
static inline size_t fuzz_result_full_size(const struct ssa_result *r)
{
	size_t n = SSA_WIRE_HEADER_SIZE + 8 + 12, chain = r->peer_chain ? strlen(r->peer_chain) : 0;

	n += fuzz_str_field(r->sections);
	if (r->err)
		n += fuzz_str_field(r->reason);
	if (r->range_min >= 0 && r->range_max >= 0)
		n += 8;
	if (r->version >= 0)
		n += 8;
	n += fuzz_str_field(r->cipher) + fuzz_str_field(r->alpn) + fuzz_str_field(r->sni) + fuzz_str_field(r->ocsp);
	if (r->resumed)
		n += 8;
	n += fuzz_str_field(r->peer_identity);
	n += chain + 4 * ((chain + SSA_WIRE_FIELD_MAX - 1) / SSA_WIRE_FIELD_MAX);
	n += fuzz_str_field(r->trusted_ciphers);
	if (r->peer_len)
		n += 4 + r->peer_len;
	if (r->local_len)
		n += 4 + r->local_len;
	return n;
}

/* ... and of its minimal form. */
static inline size_t fuzz_result_minimal_size(const struct ssa_result *r)
{
	return SSA_WIRE_HEADER_SIZE + 8 + 12 + (r->peer_len ? 4 + r->peer_len : 0);
}

/* What ssa_result_encode(r, buf, cap) must return. */
static inline size_t fuzz_result_expected(const struct ssa_result *r, size_t cap)
{
	size_t room = fuzz_min(cap, FUZZ_MSG_MAX);

	if (fuzz_result_full_size(r) <= room)
		return fuzz_result_full_size(r);
	if (fuzz_result_minimal_size(r) <= room)
		return fuzz_result_minimal_size(r);
	return 0;
}

/*
 * Encode r into an exact-size heap buffer of `cap` bytes and check the
 * outcome.  If full_bytes is not NULL it holds the full form (full_len
 * bytes), which an encoding of the full form must equal.
 */
static inline void fuzz_result_encode_at(const struct ssa_result *r, size_t cap, const uint8_t *full_bytes, size_t full_len)
{
	size_t want = fuzz_result_expected(r, cap), n;
	uint8_t *buf;
	struct ssa_result back;

	if (cap < SSA_WIRE_HEADER_SIZE)
		return; /* outside the contract of ssa_msg_init() */
	buf = malloc(cap);
	if (!buf)
		return;
	n = ssa_result_encode(r, buf, cap);
	fuzz_check(n == want);
	if (n) {
		fuzz_check(ssa_wire_check_header(buf, SSA_MSG_RESULT) == (long)(n - SSA_WIRE_HEADER_SIZE));
		fuzz_check(ssa_wire_type(buf) == SSA_MSG_RESULT);
		if (ssa_result_decode(buf + SSA_WIRE_HEADER_SIZE, n - SSA_WIRE_HEADER_SIZE, &back) == 0) {
			if (n == fuzz_result_full_size(r)) {
				fuzz_check(fuzz_result_eq(&back, r));
				if (full_bytes)
					fuzz_check(n == full_len && memcmp(buf, full_bytes, n) == 0);
			} else {
				fuzz_check(fuzz_result_minimal_of(&back, r));
			}
			ssa_result_free(&back);
		} else {
			fuzz_check(!"an encoded result does not decode");
		}
	}
	free(buf);
}

/*
 * The properties of the file comment for one body; returns the decoder's
 * verdict (0 or -errno).
 */
static inline int fuzz_check_result_body(const uint8_t *body, size_t len)
{
	static uint8_t full[FUZZ_MSG_MAX], again[FUZZ_MSG_MAX];
	struct ssa_result r, r2;
	size_t n, n2, full_size, min_size;
	int e;

	e = ssa_result_decode(body, len, &r);
	if (e < 0) {
		fuzz_check(e == -EPROTO || e == -ENOMEM);
		fuzz_check(fuzz_result_empty(&r));
		ssa_result_free(&r); /* harmless on an empty result */
		return e;
	}
	fuzz_check(r.err >= 0 && r.err <= 4095);
	fuzz_check(memchr(r.reason, '\0', sizeof r.reason) && memchr(r.sections, '\0', sizeof r.sections));
	fuzz_check(memchr(r.cipher, '\0', sizeof r.cipher) && memchr(r.alpn, '\0', sizeof r.alpn));
	fuzz_check(memchr(r.sni, '\0', sizeof r.sni) && memchr(r.ocsp, '\0', sizeof r.ocsp));
	fuzz_check(r.version >= -1 && r.version <= TLS_1_3);
	fuzz_check((r.range_min == -1) == (r.range_max == -1));
	fuzz_check(r.peer_len == 0 || r.peer_len == sizeof(struct sockaddr_in) ||
		   r.peer_len == sizeof(struct sockaddr_in6));
	fuzz_check(r.local_len == 0 || r.local_len == sizeof(struct sockaddr_in) ||
		   r.local_len == sizeof(struct sockaddr_in6));

	/* The full form, into the largest buffer a message may use. */
	n = ssa_result_encode(&r, full, sizeof full);
	fuzz_check(n == fuzz_result_expected(&r, sizeof full));
	fuzz_check(n >= SSA_WIRE_HEADER_SIZE);
	fuzz_check(ssa_wire_check_header(full, SSA_MSG_RESULT) == (long)(n - SSA_WIRE_HEADER_SIZE));
	fuzz_check(ssa_result_decode(full + SSA_WIRE_HEADER_SIZE, n - SSA_WIRE_HEADER_SIZE, &r2) == 0);
	full_size = fuzz_result_full_size(&r);
	min_size = fuzz_result_minimal_size(&r);
	if (n == full_size) {
		/* The round trip: the same struct, and the same bytes again. */
		fuzz_check(fuzz_result_eq(&r, &r2));
		n2 = ssa_result_encode(&r2, again, sizeof again);
		fuzz_check(n2 == n && memcmp(full, again, n) == 0);
	} else {
		fuzz_check(fuzz_result_minimal_of(&r2, &r));
	}
	ssa_result_free(&r2);

	/* Buffers around the boundaries: full form, minimal form, nothing. */
	fuzz_result_encode_at(&r, full_size, n == full_size ? full : NULL, n);
	fuzz_result_encode_at(&r, full_size - 1, NULL, 0);
	fuzz_result_encode_at(&r, min_size, NULL, 0);
	fuzz_result_encode_at(&r, min_size - 1, NULL, 0);
	fuzz_result_encode_at(&r, SSA_WIRE_HEADER_SIZE, NULL, 0);
	/* ... and one that depends on the input, between the two. */
	if (full_size > min_size)
		fuzz_result_encode_at(&r, min_size + len % (full_size - min_size), NULL, 0);

	ssa_result_free(&r);
	fuzz_check(fuzz_result_empty(&r));
	return 0;
}

#endif /* FUZZ_RESULT_CHECK_H */
