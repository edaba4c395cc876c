/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* ssa-msg.c: the request and the result, encoded and decoded (ssa-msg.h). */
#include "ssa-msg.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* --- bit packing, in one place --------------------------------------------- */

/* SSA_TAG_REVOCATION: bit 0 set if TLS_REVOCATION_CHECKS was given, bit 1
 * its value; bits 2 and 3 the same for TLS_OCSP_STAPLED_CHECKS. */
static uint32_t pack_revocation(int revocation, int stapled)
{
	return (revocation >= 0 ? 1u | (uint32_t)(revocation & 1) << 1 : 0) |
	       (stapled >= 0 ? 4u | (uint32_t)(stapled & 1) << 3 : 0);
}

static int unpack_revocation(uint32_t v, int *revocation, int *stapled)
{
	if (v & ~0xfu)
		return -EPROTO;
	*revocation = v & 1 ? (int)(v >> 1 & 1) : -1;
	*stapled = v & 4 ? (int)(v >> 3 & 1) : -1;
	return 0;
}

/* SSA_TAG_VERSION_RANGE: min << 8 | max. */
static uint32_t pack_range(int min, int max)
{
	return (uint32_t)min << 8 | (uint32_t)max;
}

static int unpack_range(uint32_t v, int *min, int *max)
{
	if (v & ~0xffffu || (v >> 8) > TLS_1_3 || (v & 0xff) > TLS_1_3)
		return -EPROTO;
	*min = (int)(v >> 8);
	*max = (int)(v & 0xff);
	return 0;
}

/* --- shared decoding helpers ------------------------------------------------ */

/* Fields seen so far, to refuse one given twice (tags are < 64). */
struct seen {
	uint64_t bits;
};

/* Mark tag seen: 0, or -EPROTO if it was (and may appear only once). */
static int once(struct seen *s, uint16_t tag)
{
	uint64_t bit;

	if (tag >= 64)
		return -EPROTO;
	bit = (uint64_t)1 << tag;
	if (s->bits & bit)
		return -EPROTO;
	s->bits |= bit;
	return 0;
}

static bool has(const struct seen *s, uint16_t tag)
{
	return tag < 64 && (s->bits >> tag & 1);
}

/* A u32 field that is 0 or 1. */
static int field_flag(const struct ssa_field *f, int *v)
{
	uint32_t u;
	int r = ssa_field_u32(f, &u);

	if (r == 0 && u > 1)
		r = -EPROTO;
	if (r == 0)
		*v = (int)u;
	return r;
}

/* A socket address field: sockaddr_in or sockaddr_in6 of its own length. */
static int field_inet_addr(const struct ssa_field *f, struct sockaddr_storage *dst, socklen_t *len)
{
	sa_family_t family;

	if (f->len < sizeof family)
		return -EPROTO;
	memcpy(&family, f->value, sizeof family);
	if (!(family == AF_INET && f->len == sizeof(struct sockaddr_in)) &&
	    !(family == AF_INET6 && f->len == sizeof(struct sockaddr_in6)))
		return -EPROTO;
	memset(dst, 0, sizeof *dst);
	memcpy(dst, f->value, f->len);
	*len = f->len;
	return 0;
}

/* --- the request ---------------------------------------------------------- */

void ssa_request_init(struct ssa_request *r, enum ssa_msg_type kind)
{
	memset(r, 0, sizeof *r);
	r->kind = kind;
	r->version_min = r->version_max = -1;
	r->session_reuse = r->revocation_checks = r->ocsp_stapled_checks = -1;
}

void ssa_request_free(struct ssa_request *r)
{
	free(r->session);
	r->session = NULL;
	r->session_len = 0;
	explicit_bzero(r->ticket_key, sizeof r->ticket_key);
	r->has_ticket_key = false;
}

size_t ssa_request_encode(const struct ssa_request *r, uint8_t *buf, size_t cap)
{
	struct ssa_msg m;

	ssa_msg_init(&m, buf, cap, r->kind);
	if (r->kind == SSA_MSG_CONNECT) {
		ssa_msg_put_str(&m, SSA_TAG_HOSTNAME, r->hostname);
		if (r->resolve[0]) {
			ssa_msg_put_str(&m, SSA_TAG_RESOLVE, r->resolve);
			ssa_msg_put_u16(&m, SSA_TAG_PORT, r->port);
		} else {
			ssa_msg_put(&m, SSA_TAG_ADDRESS, &r->addr, r->addr_len);
		}
		ssa_msg_put_u32(&m, SSA_TAG_HOLD_FILLER, r->hold_filler);
		ssa_msg_put_u32(&m, SSA_TAG_HOLD_LOWAT, (uint32_t)r->hold_lowat);
		if (r->session_len)
			ssa_msg_put(&m, SSA_TAG_SESSION_DATA, r->session, r->session_len);
	} else {
		if (r->peer_auth)
			ssa_msg_put_u32(&m, SSA_TAG_PEER_AUTH, 1);
		if (r->session_ttl)
			ssa_msg_put_u32(&m, SSA_TAG_SESSION_TTL, r->session_ttl);
	}
	if (r->exe[0])
		ssa_msg_put_str(&m, SSA_TAG_EXE, r->exe);
	if (r->version_min >= 0)
		ssa_msg_put_u32(&m, SSA_TAG_VERSION_MIN, (uint32_t)r->version_min);
	if (r->version_max >= 0)
		ssa_msg_put_u32(&m, SSA_TAG_VERSION_MAX, (uint32_t)r->version_max);
	if (r->alpn[0])
		ssa_msg_put_str(&m, SSA_TAG_ALPN, r->alpn);
	ssa_msg_put_u32(&m, SSA_TAG_FILES, r->trust_file ? SSA_FILE_TRUST : 0);
	if (r->n_pairs)
		ssa_msg_put_u32(&m, SSA_TAG_KEY_PAIRS, r->n_pairs);
	for (size_t i = 0; i < r->n_off; i++)
		ssa_msg_put_str(&m, SSA_TAG_CIPHER_OFF, r->ciphers_off[i]);
	for (size_t i = 0; i < r->n_on; i++)
		ssa_msg_put_str(&m, SSA_TAG_CIPHER_ON, r->ciphers_on[i]);
	if (r->session_reuse >= 0)
		ssa_msg_put_u32(&m, SSA_TAG_SESSION_REUSE, (uint32_t)r->session_reuse);
	if (r->revocation_checks >= 0 || r->ocsp_stapled_checks >= 0)
		ssa_msg_put_u32(&m, SSA_TAG_REVOCATION, pack_revocation(r->revocation_checks, r->ocsp_stapled_checks));
	if (r->kind == SSA_MSG_ACCEPT && r->has_app) {
		ssa_msg_put_u32(&m, SSA_TAG_APP_PID, r->app_pid);
		ssa_msg_put_u32(&m, SSA_TAG_APP_UID, r->app_uid);
		ssa_msg_put_u32(&m, SSA_TAG_APP_GID, r->app_gid);
		ssa_msg_put_u32(&m, SSA_TAG_EXE_VERIFIED, r->app_exe_verified);
		if (r->has_ticket_key)
			ssa_msg_put(&m, SSA_TAG_TICKET_KEY, r->ticket_key, sizeof r->ticket_key);
	}
	return ssa_msg_finish(&m);
}

/* The tags a request of `kind` may carry besides the common ones. */
static bool request_tag_fits(enum ssa_msg_type kind, uint16_t tag)
{
	switch (tag) {
	case SSA_TAG_HOSTNAME:
	case SSA_TAG_RESOLVE:
	case SSA_TAG_ADDRESS:
	case SSA_TAG_PORT:
	case SSA_TAG_HOLD_FILLER:
	case SSA_TAG_HOLD_LOWAT:
	case SSA_TAG_SESSION_DATA:
		return kind == SSA_MSG_CONNECT;
	case SSA_TAG_PEER_AUTH:
	case SSA_TAG_SESSION_TTL:
		return kind != SSA_MSG_CONNECT;
	case SSA_TAG_TICKET_KEY:
		return kind == SSA_MSG_ACCEPT;
	case SSA_TAG_APP_PID:
	case SSA_TAG_APP_UID:
	case SSA_TAG_APP_GID:
	case SSA_TAG_EXE_VERIFIED:
		return kind == SSA_MSG_ACCEPT;
	default:
		return true;
	}
}

/* Store one request field: 0 or -EPROTO. */
static int request_field(struct ssa_request *r, const struct ssa_field *f)
{
	uint32_t v;
	int r2;

	switch (f->tag) {
	case SSA_TAG_HOSTNAME:
		return ssa_field_str(f, r->hostname, sizeof r->hostname);
	case SSA_TAG_RESOLVE:
		return ssa_field_str(f, r->resolve, sizeof r->resolve);
	case SSA_TAG_PORT:
		return ssa_field_u16(f, &r->port);
	case SSA_TAG_ADDRESS:
		return field_inet_addr(f, &r->addr, &r->addr_len);
	case SSA_TAG_EXE:
		return ssa_field_str(f, r->exe, sizeof r->exe);
	case SSA_TAG_VERSION_MIN:
	case SSA_TAG_VERSION_MAX:
		if ((r2 = ssa_field_u32(f, &v)) < 0 || v > TLS_1_3)
			return -EPROTO;
		*(f->tag == SSA_TAG_VERSION_MIN ? &r->version_min : &r->version_max) = (int)v;
		return 0;
	case SSA_TAG_ALPN:
		return ssa_field_str(f, r->alpn, sizeof r->alpn);
	case SSA_TAG_FILES:
		if (ssa_field_u32(f, &v) < 0 || (v & ~(uint32_t)SSA_FILE_TRUST))
			return -EPROTO;
		r->trust_file = v & SSA_FILE_TRUST;
		return 0;
	case SSA_TAG_KEY_PAIRS:
		if (ssa_field_u32(f, &v) < 0 || v > SSA_KEY_PAIRS_MAX)
			return -EPROTO;
		r->n_pairs = v;
		return 0;
	case SSA_TAG_CIPHER_OFF:
		if (r->n_off == SSA_CIPHERS_MAX)
			return -EPROTO;
		return ssa_field_str(f, r->ciphers_off[r->n_off++], SSA_CIPHER_NAME_MAX);
	case SSA_TAG_CIPHER_ON:
		if (r->n_on == SSA_CIPHERS_MAX)
			return -EPROTO;
		return ssa_field_str(f, r->ciphers_on[r->n_on++], SSA_CIPHER_NAME_MAX);
	case SSA_TAG_SESSION_REUSE:
		return field_flag(f, &r->session_reuse);
	case SSA_TAG_REVOCATION:
		if (ssa_field_u32(f, &v) < 0)
			return -EPROTO;
		return unpack_revocation(v, &r->revocation_checks, &r->ocsp_stapled_checks);
	case SSA_TAG_PEER_AUTH: {
		int flag = 0;
		r2 = field_flag(f, &flag);
		r->peer_auth = flag;
		return r2;
	}
	case SSA_TAG_HOLD_FILLER:
		return ssa_field_u32(f, &r->hold_filler);
	case SSA_TAG_HOLD_LOWAT:
		if (ssa_field_u32(f, &v) < 0 || v > INT32_MAX)
			return -EPROTO;
		r->hold_lowat = (int)v;
		return 0;
	case SSA_TAG_SESSION_DATA:
		if (f->len == 0 || !(r->session = malloc(f->len)))
			return -EPROTO;
		memcpy(r->session, f->value, f->len);
		r->session_len = f->len;
		return 0;
	case SSA_TAG_SESSION_TTL:
		return ssa_field_u32(f, &r->session_ttl);
	case SSA_TAG_TICKET_KEY:
		if (f->len != sizeof r->ticket_key)
			return -EPROTO;
		memcpy(r->ticket_key, f->value, f->len);
		r->has_ticket_key = true;
		return 0;
	case SSA_TAG_APP_PID:
		return ssa_field_u32(f, &r->app_pid);
	case SSA_TAG_APP_UID:
		return ssa_field_u32(f, &r->app_uid);
	case SSA_TAG_APP_GID:
		return ssa_field_u32(f, &r->app_gid);
	case SSA_TAG_EXE_VERIFIED: {
		int flag = 0;
		r2 = field_flag(f, &flag);
		r->app_exe_verified = flag;
		return r2;
	}
	default:
		return -EPROTO;
	}
}

/* What a request of its kind needs, once all fields are in. */
static bool request_complete(const struct ssa_request *r, const struct seen *seen)
{
	switch (r->kind) {
	case SSA_MSG_CONNECT:
		/* A name to verify, and a peer: an address, or a name and a port. */
		return r->hostname[0] &&
		       (r->resolve[0] ? has(seen, SSA_TAG_PORT) && !r->addr_len : r->addr_len && !has(seen, SSA_TAG_PORT));
	case SSA_MSG_LISTEN:
		return r->n_pairs > 0;
	case SSA_MSG_ACCEPT:
		return r->n_pairs > 0 && has(seen, SSA_TAG_APP_PID) && has(seen, SSA_TAG_APP_UID) &&
		       has(seen, SSA_TAG_APP_GID) && has(seen, SSA_TAG_EXE_VERIFIED);
	default:
		return false;
	}
}

int ssa_request_decode(enum ssa_msg_type kind, const uint8_t *body, size_t len, struct ssa_request *r,
		       unsigned *bad_tag)
{
	struct ssa_field_iter it;
	struct ssa_field f = { 0 };
	struct seen seen = { 0 };
	int more, e = 0;

	ssa_request_init(r, kind);
	if (bad_tag)
		*bad_tag = 0;
	if (kind != SSA_MSG_CONNECT && kind != SSA_MSG_LISTEN && kind != SSA_MSG_ACCEPT)
		return -EPROTO;
	ssa_field_iter_init(&it, body, len);
	while ((more = ssa_field_next(&it, &f)) > 0) {
		bool repeats = f.tag == SSA_TAG_CIPHER_OFF || f.tag == SSA_TAG_CIPHER_ON;
		if (!request_tag_fits(kind, f.tag) || (!repeats && once(&seen, f.tag) < 0) ||
		    request_field(r, &f) < 0) {
			e = -EPROTO;
			break;
		}
	}
	if (more < 0)
		e = -EPROTO;
	if (e < 0) {
		if (bad_tag)
			*bad_tag = f.tag;
		ssa_request_free(r);
		return e;
	}
	r->has_app = kind == SSA_MSG_ACCEPT;
	if (!request_complete(r, &seen)) {
		ssa_request_free(r);
		return -EPROTO;
	}
	return 0;
}

/* --- the result ----------------------------------------------------------- */

void ssa_result_init(struct ssa_result *r)
{
	memset(r, 0, sizeof *r);
	r->range_min = r->range_max = r->version = -1;
}

void ssa_result_free(struct ssa_result *r)
{
	free(r->peer_identity);
	free(r->peer_chain);
	free(r->trusted_ciphers);
	ssa_result_init(r);
}

/* A string of any length as fields of at most SSA_WIRE_FIELD_MAX bytes,
 * which the decoder joins again. */
static void put_long_str(struct ssa_msg *m, uint16_t tag, const char *s)
{
	size_t left = s ? strlen(s) : 0;

	for (; left > 0; s += SSA_WIRE_FIELD_MAX < left ? SSA_WIRE_FIELD_MAX : left,
			 left -= SSA_WIRE_FIELD_MAX < left ? SSA_WIRE_FIELD_MAX : left)
		ssa_msg_put(m, tag, s, SSA_WIRE_FIELD_MAX < left ? SSA_WIRE_FIELD_MAX : left);
}

static void put_nonempty(struct ssa_msg *m, uint16_t tag, const char *s)
{
	if (s && s[0])
		ssa_msg_put_str(m, tag, s);
}

size_t ssa_result_encode(const struct ssa_result *r, uint8_t *buf, size_t cap)
{
	struct ssa_msg m;
	size_t len;

	ssa_msg_init(&m, buf, cap, SSA_MSG_RESULT);
	ssa_msg_put_u32(&m, SSA_TAG_ERRNO, (uint32_t)r->err);
	ssa_msg_put_u64(&m, SSA_TAG_ID, r->id);
	put_nonempty(&m, SSA_TAG_POLICY, r->sections);
	if (r->err)
		put_nonempty(&m, SSA_TAG_REASON, r->reason);
	if (r->range_min >= 0 && r->range_max >= 0)
		ssa_msg_put_u32(&m, SSA_TAG_VERSION_RANGE, pack_range(r->range_min, r->range_max));
	if (r->version >= 0)
		ssa_msg_put_u32(&m, SSA_TAG_VERSION, (uint32_t)r->version);
	put_nonempty(&m, SSA_TAG_CIPHER, r->cipher);
	put_nonempty(&m, SSA_TAG_ALPN_CHOSEN, r->alpn);
	put_nonempty(&m, SSA_TAG_SNI, r->sni);
	put_nonempty(&m, SSA_TAG_OCSP, r->ocsp);
	if (r->resumed)
		ssa_msg_put_u32(&m, SSA_TAG_RESUMED, 1);
	put_nonempty(&m, SSA_TAG_PEER_IDENTITY, r->peer_identity);
	put_long_str(&m, SSA_TAG_PEER_CHAIN, r->peer_chain);
	put_nonempty(&m, SSA_TAG_TRUSTED_CIPHERS, r->trusted_ciphers);
	if (r->peer_len)
		ssa_msg_put(&m, SSA_TAG_PEER_ADDR, &r->peer, r->peer_len);
	if (r->local_len)
		ssa_msg_put(&m, SSA_TAG_LOCAL_ADDR, &r->local, r->local_len);
	len = ssa_msg_finish(&m);
	if (len)
		return len;
	/* Too large to describe (a huge chain): the verdict alone. */
	ssa_msg_init(&m, buf, cap, SSA_MSG_RESULT);
	ssa_msg_put_u32(&m, SSA_TAG_ERRNO, (uint32_t)r->err);
	ssa_msg_put_u64(&m, SSA_TAG_ID, r->id);
	if (r->peer_len)
		ssa_msg_put(&m, SSA_TAG_PEER_ADDR, &r->peer, r->peer_len);
	return ssa_msg_finish(&m);
}

/* Append field f to the malloc'd string *dst: 0, -ENOMEM or -EPROTO. */
static int append_field(char **dst, const struct ssa_field *f)
{
	size_t have = *dst ? strlen(*dst) : 0;
	char *p;

	if (memchr(f->value, '\0', f->len))
		return -EPROTO;
	p = realloc(*dst, have + f->len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p + have, f->value, f->len);
	p[have + f->len] = '\0';
	*dst = p;
	return 0;
}

/* Store one result field: 0, -ENOMEM or -EPROTO. */
static int result_field(struct ssa_result *r, const struct ssa_field *f)
{
	uint32_t v;

	switch (f->tag) {
	case SSA_TAG_ERRNO:
		if (ssa_field_u32(f, &v) < 0 || v > 4095)
			return -EPROTO;
		r->err = (int)v;
		return 0;
	case SSA_TAG_REASON:
		if (memchr(f->value, '\0', f->len))
			return -EPROTO;
		/* A longer reason is cut, not refused. */
		{
			size_t n = f->len < sizeof r->reason ? f->len : sizeof r->reason - 1;
			memcpy(r->reason, f->value, n);
			r->reason[n] = '\0';
		}
		return 0;
	case SSA_TAG_ID:
		return ssa_field_u64(f, &r->id);
	case SSA_TAG_VERSION:
		if (ssa_field_u32(f, &v) < 0 || v > TLS_1_3)
			return -EPROTO;
		r->version = (int)v;
		return 0;
	case SSA_TAG_CIPHER:
		return ssa_field_str(f, r->cipher, sizeof r->cipher);
	case SSA_TAG_PEER_IDENTITY:
		return append_field(&r->peer_identity, f);
	case SSA_TAG_PEER_CHAIN:
		return append_field(&r->peer_chain, f);
	case SSA_TAG_PEER_ADDR:
		return field_inet_addr(f, &r->peer, &r->peer_len);
	case SSA_TAG_LOCAL_ADDR:
		return field_inet_addr(f, &r->local, &r->local_len);
	case SSA_TAG_ALPN_CHOSEN:
		return ssa_field_str(f, r->alpn, sizeof r->alpn);
	case SSA_TAG_VERSION_RANGE:
		if (ssa_field_u32(f, &v) < 0)
			return -EPROTO;
		return unpack_range(v, &r->range_min, &r->range_max);
	case SSA_TAG_POLICY:
		return ssa_field_str(f, r->sections, sizeof r->sections);
	case SSA_TAG_OCSP:
		return ssa_field_str(f, r->ocsp, sizeof r->ocsp);
	case SSA_TAG_TRUSTED_CIPHERS:
		return append_field(&r->trusted_ciphers, f);
	case SSA_TAG_SNI:
		return ssa_field_str(f, r->sni, sizeof r->sni);
	case SSA_TAG_RESUMED: {
		int flag = 0;
		int e = field_flag(f, &flag);
		r->resumed = flag;
		return e;
	}
	default:
		return -EPROTO;
	}
}

int ssa_result_decode(const uint8_t *body, size_t len, struct ssa_result *r)
{
	struct ssa_field_iter it;
	struct ssa_field f;
	struct seen seen = { 0 };
	int more, e = 0;

	ssa_result_init(r);
	ssa_field_iter_init(&it, body, len);
	while (e == 0 && (more = ssa_field_next(&it, &f)) > 0) {
		if (f.tag != SSA_TAG_PEER_CHAIN && once(&seen, f.tag) < 0)
			e = -EPROTO;
		else
			e = result_field(r, &f);
	}
	if (e == 0 && more < 0)
		e = -EPROTO;
	if (e == 0 && !has(&seen, SSA_TAG_ERRNO))
		e = -EPROTO;
	if (e < 0)
		ssa_result_free(r);
	return e;
}

/* --- resumption data after the verdict ----------------------------------- */

size_t ssa_session_encode(const uint8_t *data, size_t len, uint8_t *buf, size_t cap)
{
	struct ssa_msg m;

	if (len == 0 || len > SSA_SESSION_MAX)
		return 0;
	ssa_msg_init(&m, buf, cap, SSA_MSG_SESSION);
	ssa_msg_put(&m, SSA_TAG_SESSION_DATA, data, len);
	return ssa_msg_finish(&m);
}

int ssa_session_decode(const uint8_t *body, size_t body_len, const uint8_t **data, size_t *len)
{
	struct ssa_field_iter it;
	struct ssa_field f;

	ssa_field_iter_init(&it, body, body_len);
	if (ssa_field_next(&it, &f) != 1 || f.tag != SSA_TAG_SESSION_DATA || f.len == 0 ||
	    ssa_field_next(&it, &f) != 0)
		return -EPROTO;
	*data = f.value;
	*len = f.len;
	return 0;
}
