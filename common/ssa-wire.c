/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* ssa-wire.c: encoding and decoding of the shim-helper messages (ssa-wire.h). */
#include "ssa-wire.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t magic[3] = { 'S', 'S', 'A' };

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, v >> 16);
	put_be16(p + 2, v & 0xffff);
}

void ssa_msg_init(struct ssa_msg *m, uint8_t *buf, size_t cap, enum ssa_msg_type type)
{
	if (cap > SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX)
		cap = SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX;
	*m = (struct ssa_msg){ .buf = buf, .cap = cap, .len = SSA_WIRE_HEADER_SIZE };
	memcpy(buf, magic, sizeof magic);
	buf[3] = SSA_WIRE_VERSION;
	put_be16(buf + 4, type);
	put_be16(buf + 6, 0);
	put_be32(buf + 8, 0);
}

void ssa_msg_put(struct ssa_msg *m, uint16_t tag, const void *value, size_t len)
{
	if (m->overflow || len > SSA_WIRE_FIELD_MAX || m->cap - m->len < 4 + len) {
		m->overflow = true;
		return;
	}
	put_be16(m->buf + m->len, tag);
	put_be16(m->buf + m->len + 2, (uint16_t)len);
	if (len)
		memcpy(m->buf + m->len + 4, value, len);
	m->len += 4 + len;
}

void ssa_msg_put_raw(struct ssa_msg *m, const void *fields, size_t len)
{
	if (m->overflow || m->cap - m->len < len) {
		m->overflow = true;
		return;
	}
	memcpy(m->buf + m->len, fields, len);
	m->len += len;
}

void ssa_msg_put_str(struct ssa_msg *m, uint16_t tag, const char *s)
{
	if (s)
		ssa_msg_put(m, tag, s, strlen(s));
}

void ssa_msg_put_u16(struct ssa_msg *m, uint16_t tag, uint16_t v)
{
	uint8_t b[2];

	put_be16(b, v);
	ssa_msg_put(m, tag, b, sizeof b);
}

void ssa_msg_put_u32(struct ssa_msg *m, uint16_t tag, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	ssa_msg_put(m, tag, b, sizeof b);
}

void ssa_msg_put_u64(struct ssa_msg *m, uint16_t tag, uint64_t v)
{
	uint64_t be = htobe64(v);

	ssa_msg_put(m, tag, &be, sizeof be);
}

size_t ssa_msg_finish(struct ssa_msg *m)
{
	if (m->overflow)
		return 0;
	put_be32(m->buf + 8, (uint32_t)(m->len - SSA_WIRE_HEADER_SIZE));
	return m->len;
}

long ssa_wire_check_header(const uint8_t header[SSA_WIRE_HEADER_SIZE], enum ssa_msg_type want)
{
	uint32_t body_len = get_be32(header + 8);

	if (memcmp(header, magic, sizeof magic) != 0 || header[3] != SSA_WIRE_VERSION ||
	    get_be16(header + 4) != want || body_len > SSA_WIRE_BODY_MAX)
		return -EPROTO;
	return (long)body_len;
}

enum ssa_msg_type ssa_wire_type(const uint8_t header[SSA_WIRE_HEADER_SIZE])
{
	return (enum ssa_msg_type)get_be16(header + 4);
}

void ssa_field_iter_init(struct ssa_field_iter *it, const uint8_t *body, size_t len)
{
	it->p = body;
	it->left = len;
}

int ssa_field_next(struct ssa_field_iter *it, struct ssa_field *f)
{
	if (it->left == 0)
		return 0;
	if (it->left < 4)
		return -EPROTO;
	f->tag = get_be16(it->p);
	f->len = get_be16(it->p + 2);
	if (it->left - 4 < f->len)
		return -EPROTO;
	f->value = it->p + 4;
	it->p += 4 + f->len;
	it->left -= 4 + (size_t)f->len;
	return 1;
}

int ssa_field_u16(const struct ssa_field *f, uint16_t *v)
{
	if (f->len != 2)
		return -EPROTO;
	*v = get_be16(f->value);
	return 0;
}

int ssa_field_u32(const struct ssa_field *f, uint32_t *v)
{
	if (f->len != 4)
		return -EPROTO;
	*v = get_be32(f->value);
	return 0;
}

int ssa_field_u64(const struct ssa_field *f, uint64_t *v)
{
	uint64_t be;

	if (f->len != 8)
		return -EPROTO;
	memcpy(&be, f->value, sizeof be);
	*v = be64toh(be);
	return 0;
}

int ssa_field_str(const struct ssa_field *f, char *dst, size_t size)
{
	if (f->len >= size || memchr(f->value, '\0', f->len))
		return -EPROTO;
	memcpy(dst, f->value, f->len);
	dst[f->len] = '\0';
	return 0;
}

int ssa_field_strdup(const struct ssa_field *f, char **dst)
{
	char *s;

	if (memchr(f->value, '\0', f->len))
		return -EPROTO;
	s = malloc((size_t)f->len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, f->value, f->len);
	s[f->len] = '\0';
	*dst = s;
	return 0;
}
