/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-msg: the wire format (common/ssa-msg.h, ssa-wire.h): requests and
 * results survive a round trip, and every malformed body is refused.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "ssa-msg.h"
#include "tap.h"

static uint8_t buf[SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX];

/* A full CONNECT request with every option set. */
static void full_connect(struct ssa_request *r)
{
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&r->addr;

	ssa_request_init(r, SSA_MSG_CONNECT);
	strcpy(r->hostname, "example.test");
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(443);
	inet_pton(AF_INET6, "2001:db8::1", &a->sin6_addr);
	r->addr_len = sizeof *a;
	strcpy(r->exe, "/usr/bin/prog");
	r->version_min = TLS_1_2;
	r->version_max = TLS_1_3;
	strcpy(r->alpn, "h2,http/1.1");
	for (size_t i = 0; i < SSA_CIPHERS_MAX; i++)
		snprintf(r->ciphers_off[i], SSA_CIPHER_NAME_MAX, "SUITE_%zu", i);
	r->n_off = SSA_CIPHERS_MAX;
	strcpy(r->ciphers_on[0], "TLS_AES_128_GCM_SHA256");
	r->n_on = 1;
	r->session_reuse = 0;
	r->revocation_checks = 1;
	r->ocsp_stapled_checks = -1;
	r->trust_file = true;
	r->n_pairs = 2;
	r->hold_filler = 196608;
	r->hold_lowat = 4096;
}

/* Encode r, decode the body as its kind: the decoder's result. */
static int round_trip(const struct ssa_request *r, struct ssa_request *out, unsigned *bad)
{
	size_t len = ssa_request_encode(r, buf, sizeof buf);

	if (len < SSA_WIRE_HEADER_SIZE)
		return -999;
	if (ssa_wire_check_header(buf, r->kind) != (long)(len - SSA_WIRE_HEADER_SIZE))
		return -998;
	return ssa_request_decode(r->kind, buf + SSA_WIRE_HEADER_SIZE, len - SSA_WIRE_HEADER_SIZE, out, bad);
}

static void test_request_round_trips(void)
{
	struct ssa_request r, out;
	unsigned bad;

	full_connect(&r);
	ok(round_trip(&r, &out, &bad) == 0 && memcmp(&r, &out, sizeof r) == 0,
	   "a CONNECT request with every option comes back identical");

	ssa_request_init(&r, SSA_MSG_CONNECT);
	strcpy(r.hostname, "localhost");
	strcpy(r.resolve, "localhost");
	r.port = 8443;
	ok(round_trip(&r, &out, &bad) == 0 && strcmp(out.resolve, "localhost") == 0 && out.port == 8443 &&
		   out.version_min == -1 && out.session_reuse == -1 && out.revocation_checks == -1,
	   "an AF_HOSTNAME request keeps its name and port, unset options stay unset (-1)");

	ssa_request_init(&r, SSA_MSG_LISTEN);
	r.n_pairs = 3;
	r.peer_auth = true;
	ok(round_trip(&r, &out, &bad) == 0 && out.n_pairs == 3 && out.peer_auth && !out.has_app,
	   "a LISTEN request with three key pairs and TLS_REQUEST_PEER_AUTH");

	r.kind = SSA_MSG_ACCEPT;
	r.has_app = true;
	r.app_pid = 4242;
	r.app_uid = 1000;
	r.app_gid = 100;
	r.app_exe_verified = true;
	ok(round_trip(&r, &out, &bad) == 0 && out.has_app && out.app_pid == 4242 && out.app_uid == 1000 &&
		   out.app_gid == 100 && out.app_exe_verified,
	   "an ACCEPT request carries whom the listener serves");

	for (int rev = -1; rev <= 1; rev++)
		for (int st = -1; st <= 1; st++) {
			full_connect(&r);
			r.revocation_checks = rev;
			r.ocsp_stapled_checks = st;
			round_trip(&r, &out, &bad);
			if (out.revocation_checks != rev || out.ocsp_stapled_checks != st)
				ok(false, "revocation flags %d/%d came back as %d/%d", rev, st, out.revocation_checks,
				   out.ocsp_stapled_checks);
		}
	ok(true, "all nine combinations of the two revocation flags survive their bit packing");
}

/* A body built field by field, for the malformed cases. */
static size_t body(struct ssa_msg *m, enum ssa_msg_type kind)
{
	ssa_msg_init(m, buf, sizeof buf, kind);
	return 0;
}

static int decode_built(struct ssa_msg *m, enum ssa_msg_type kind, unsigned *bad)
{
	struct ssa_request out;
	size_t len = ssa_msg_finish(m);

	return ssa_request_decode(kind, buf + SSA_WIRE_HEADER_SIZE, len - SSA_WIRE_HEADER_SIZE, &out, bad);
}

/* A minimal valid CONNECT body: name and IPv4 address. */
static void minimal_connect(struct ssa_msg *m)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(443) };

	body(m, SSA_MSG_CONNECT);
	ssa_msg_put_str(m, SSA_TAG_HOSTNAME, "example.test");
	ssa_msg_put(m, SSA_TAG_ADDRESS, &a, sizeof a);
}

static void test_request_refusals(void)
{
	struct ssa_request r, out;
	struct ssa_msg m;
	unsigned bad = 0;
	size_t len;

	minimal_connect(&m);
	ok(decode_built(&m, SSA_MSG_CONNECT, &bad) == 0, "the minimal CONNECT body decodes");

	minimal_connect(&m);
	ssa_msg_put_str(&m, SSA_TAG_HOSTNAME, "other.test");
	ok(decode_built(&m, SSA_MSG_CONNECT, &bad) == -EPROTO && bad == SSA_TAG_HOSTNAME,
	   "a field given twice is refused, and named");

	minimal_connect(&m);
	ssa_msg_put_u32(&m, 63, 1);
	ok(decode_built(&m, SSA_MSG_CONNECT, &bad) == -EPROTO && bad == 63, "an unknown field is refused");

	minimal_connect(&m);
	ssa_msg_put_u32(&m, SSA_TAG_APP_UID, 0);
	ok(decode_built(&m, SSA_MSG_CONNECT, &bad) == -EPROTO && bad == SSA_TAG_APP_UID,
	   "an identity field in a CONNECT (only a listener's ACCEPT has one) is refused");

	minimal_connect(&m);
	ssa_msg_put_u32(&m, SSA_TAG_VERSION_MIN, 4);
	ok(decode_built(&m, SSA_MSG_CONNECT, &bad) == -EPROTO, "a version beyond TLS 1.3 is refused");

	minimal_connect(&m);
	ssa_msg_put_u16(&m, SSA_TAG_VERSION_MAX, 3);
	ok(decode_built(&m, SSA_MSG_CONNECT, &bad) == -EPROTO, "a u32 field of the wrong size is refused");

	minimal_connect(&m);
	ssa_msg_put_u32(&m, SSA_TAG_SESSION_REUSE, 2);
	ok(decode_built(&m, SSA_MSG_CONNECT, &bad) == -EPROTO, "a flag other than 0 or 1 is refused");

	minimal_connect(&m);
	ssa_msg_put_u32(&m, SSA_TAG_KEY_PAIRS, SSA_KEY_PAIRS_MAX + 1);
	ok(decode_built(&m, SSA_MSG_CONNECT, &bad) == -EPROTO, "more key pairs than SSA_KEY_PAIRS_MAX are refused");

	minimal_connect(&m);
	for (int i = 0; i <= SSA_CIPHERS_MAX; i++)
		ssa_msg_put_str(&m, SSA_TAG_CIPHER_OFF, "TLS_AES_128_GCM_SHA256");
	ok(decode_built(&m, SSA_MSG_CONNECT, &bad) == -EPROTO && bad == SSA_TAG_CIPHER_OFF,
	   "one TLS_DISABLE_CIPHER beyond SSA_CIPHERS_MAX is refused");

	minimal_connect(&m);
	ssa_msg_put(&m, SSA_TAG_EXE, "/bin/a\0b", 8);
	ok(decode_built(&m, SSA_MSG_CONNECT, &bad) == -EPROTO, "a string with a NUL in it is refused");

	body(&m, SSA_MSG_CONNECT);
	ssa_msg_put_str(&m, SSA_TAG_HOSTNAME, "example.test");
	ok(decode_built(&m, SSA_MSG_CONNECT, &bad) == -EPROTO && bad == 0, "a CONNECT without a peer is refused");

	body(&m, SSA_MSG_LISTEN);
	ok(decode_built(&m, SSA_MSG_LISTEN, &bad) == -EPROTO, "a LISTEN without a key pair is refused");

	body(&m, SSA_MSG_LISTEN);
	ssa_msg_put_u32(&m, SSA_TAG_KEY_PAIRS, 1);
	ssa_msg_put_str(&m, SSA_TAG_HOSTNAME, "x");
	ok(decode_built(&m, SSA_MSG_LISTEN, &bad) == -EPROTO && bad == SSA_TAG_HOSTNAME,
	   "a LISTEN naming a peer is refused");

	/* Truncated: a body cut inside a field never decodes (a body cut
	 * between fields is the framing's to catch: the header has its
	 * length, and ssa_recv_message() reads exactly that). */
	full_connect(&r);
	len = ssa_request_encode(&r, buf, sizeof buf) - SSA_WIRE_HEADER_SIZE;
	{
		bool boundary[SSA_WIRE_BODY_MAX + 1] = { false };
		struct ssa_field_iter it;
		struct ssa_field f;
		int accepted = 0, cuts = 0;

		ssa_field_iter_init(&it, buf + SSA_WIRE_HEADER_SIZE, len);
		while (ssa_field_next(&it, &f) > 0)
			boundary[len - it.left] = true;
		for (size_t cut = 1; cut < len; cut++) {
			if (boundary[cut])
				continue;
			cuts++;
			if (ssa_request_decode(SSA_MSG_CONNECT, buf + SSA_WIRE_HEADER_SIZE, cut, &out, NULL) == 0)
				accepted++;
		}
		ok(accepted == 0, "no request cut inside a field decodes (%d of %d did)", accepted, cuts);
	}

	/* Oversized: a header announcing more than SSA_WIRE_BODY_MAX. */
	ssa_msg_init(&m, buf, sizeof buf, SSA_MSG_CONNECT);
	ssa_msg_finish(&m);
	buf[8] = 0x7f;
	ok(ssa_wire_check_header(buf, SSA_MSG_CONNECT) == -EPROTO, "a header announcing an oversized body is refused");
	ssa_msg_init(&m, buf, sizeof buf, SSA_MSG_CONNECT);
	ssa_msg_finish(&m);
	buf[3] = 1;
	ok(ssa_wire_check_header(buf, SSA_MSG_CONNECT) == -EPROTO, "a header of wire version 1 is refused");
	ok(ssa_request_encode(&r, buf, SSA_WIRE_HEADER_SIZE + 16) == 0, "a request too large for its buffer encodes to 0");
}

static void test_results(void)
{
	struct ssa_result r, out;
	struct ssa_msg m;
	size_t len;
	char *chain;

	ssa_result_init(&r);
	r.err = 0;
	r.id = 0x0123456789abcdefULL;
	strcpy(r.sections, "defaults host example.test");
	r.range_min = TLS_1_2;
	r.range_max = TLS_1_3;
	r.version = TLS_1_3;
	strcpy(r.cipher, "TLS_AES_256_GCM_SHA384");
	strcpy(r.alpn, "h2");
	strcpy(r.ocsp, "no stapled response");
	r.peer_identity = strdup("CN=example.test");
	/* A chain longer than one field can carry. */
	chain = malloc(100001);
	memset(chain, 'A', 100000);
	chain[100000] = '\0';
	r.peer_chain = chain;
	r.trusted_ciphers = strdup("TLS_AES_256_GCM_SHA384\nTLS_AES_128_GCM_SHA256");
	r.peer.ss_family = AF_INET;
	r.peer_len = sizeof(struct sockaddr_in);
	len = ssa_result_encode(&r, buf, sizeof buf);
	ok(len > 0 && ssa_result_decode(buf + SSA_WIRE_HEADER_SIZE, len - SSA_WIRE_HEADER_SIZE, &out) == 0 &&
		   out.id == r.id && out.version == TLS_1_3 && out.range_min == TLS_1_2 && out.range_max == TLS_1_3 &&
		   strcmp(out.cipher, r.cipher) == 0 && strcmp(out.alpn, "h2") == 0 &&
		   strcmp(out.peer_identity, r.peer_identity) == 0 && strcmp(out.peer_chain, chain) == 0 &&
		   strcmp(out.trusted_ciphers, r.trusted_ciphers) == 0 && out.peer_len == r.peer_len && out.err == 0,
	   "a success result with a 100000-byte chain (two fields) comes back identical");
	ssa_result_free(&out);

	r.err = EPROTO;
	memset(r.reason, 'x', sizeof r.reason - 1);
	len = ssa_result_encode(&r, buf, sizeof buf);
	ok(ssa_result_decode(buf + SSA_WIRE_HEADER_SIZE, len - SSA_WIRE_HEADER_SIZE, &out) == 0 &&
		   out.err == EPROTO && strlen(out.reason) == sizeof out.reason - 1,
	   "a failure keeps its errno and its whole reason");
	ssa_result_free(&out);

	r.peer_chain = malloc(SSA_WIRE_BODY_MAX + 10);
	memset(r.peer_chain, 'B', SSA_WIRE_BODY_MAX + 9);
	r.peer_chain[SSA_WIRE_BODY_MAX + 9] = '\0';
	len = ssa_result_encode(&r, buf, sizeof buf);
	ok(len > 0 && ssa_result_decode(buf + SSA_WIRE_HEADER_SIZE, len - SSA_WIRE_HEADER_SIZE, &out) == 0 &&
		   out.err == EPROTO && out.id == r.id && out.peer_chain == NULL,
	   "a result too large to describe still carries the verdict and the id");
	ssa_result_free(&out);
	free(r.peer_chain);
	r.peer_chain = chain;
	ssa_result_free(&r);

	ssa_msg_init(&m, buf, sizeof buf, SSA_MSG_RESULT);
	ssa_msg_put_u64(&m, SSA_TAG_ID, 1);
	len = ssa_msg_finish(&m);
	ok(ssa_result_decode(buf + SSA_WIRE_HEADER_SIZE, len - SSA_WIRE_HEADER_SIZE, &out) == -EPROTO,
	   "a result without an errno is refused");

	ssa_msg_init(&m, buf, sizeof buf, SSA_MSG_RESULT);
	ssa_msg_put_u32(&m, SSA_TAG_ERRNO, 0);
	ssa_msg_put_u32(&m, SSA_TAG_ERRNO, 0);
	len = ssa_msg_finish(&m);
	ok(ssa_result_decode(buf + SSA_WIRE_HEADER_SIZE, len - SSA_WIRE_HEADER_SIZE, &out) == -EPROTO,
	   "a result with two errnos is refused");

	ssa_msg_init(&m, buf, sizeof buf, SSA_MSG_RESULT);
	ssa_msg_put_u32(&m, SSA_TAG_ERRNO, 0);
	ssa_msg_put(&m, SSA_TAG_PEER_ADDR, "\x02\x00", 2);
	len = ssa_msg_finish(&m);
	ok(ssa_result_decode(buf + SSA_WIRE_HEADER_SIZE, len - SSA_WIRE_HEADER_SIZE, &out) == -EPROTO,
	   "a peer address of the wrong length for its family is refused");

	ssa_msg_init(&m, buf, sizeof buf, SSA_MSG_RESULT);
	ssa_msg_put_u32(&m, SSA_TAG_ERRNO, 0);
	ssa_msg_put_u32(&m, SSA_TAG_VERSION_RANGE, 4 << 8 | 3);
	len = ssa_msg_finish(&m);
	ok(ssa_result_decode(buf + SSA_WIRE_HEADER_SIZE, len - SSA_WIRE_HEADER_SIZE, &out) == -EPROTO,
	   "a version range beyond TLS 1.3 is refused");
}

int main(void)
{
	test_request_round_trips();
	test_request_refusals();
	test_results();
	return tap_done();
}
