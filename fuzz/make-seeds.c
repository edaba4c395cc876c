/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * make-seeds: writes the seed corpus of the fuzz harnesses into
 * DIR/{request,result,message,policy}/: valid encodings made with the
 * product's own encoders (and a few near misses), and policy files.
 * `fuzz/build --seeds` builds and runs it into fuzz/corpus.
 *
 *   make-seeds DIR [ETC_SSA_INI]
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ssa-msg.h"

static const char *top;
static uint8_t buf[SSA_WIRE_HEADER_SIZE + SSA_WIRE_BODY_MAX];

static void put(const char *sub, const char *name, const void *prefix, size_t plen, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", top, sub);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/%s/%s", top, sub, name);
	f = fopen(path, "wb");
	if (!f || (plen && fwrite(prefix, 1, plen, f) != plen) || (len && fwrite(data, 1, len, f) != len) ||
	    fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* fuzz-request's input: the kind's selector byte, then the body. */
static void request(const char *name, const struct ssa_request *r)
{
	size_t n = ssa_request_encode(r, buf, sizeof buf);
	uint8_t sel = r->kind == SSA_MSG_CONNECT ? 0 : r->kind == SSA_MSG_LISTEN ? 1 : 2;
	struct ssa_request back;

	if (n < SSA_WIRE_HEADER_SIZE ||
	    ssa_request_decode(r->kind, buf + SSA_WIRE_HEADER_SIZE, n - SSA_WIRE_HEADER_SIZE, &back, NULL) != 0) {
		fprintf(stderr, "request seed %s does not decode\n", name);
		exit(1);
	}
	ssa_request_free(&back);
	put("request", name, &sel, 1, buf + SSA_WIRE_HEADER_SIZE, n - SSA_WIRE_HEADER_SIZE);
}

/* fuzz-result's input (the body) and fuzz-message's (the whole message). */
static void result(const char *name, const struct ssa_result *r)
{
	size_t n = ssa_result_encode(r, buf, sizeof buf);
	char msg[256];

	if (n < SSA_WIRE_HEADER_SIZE) {
		fprintf(stderr, "result seed %s does not fit\n", name);
		exit(1);
	}
	put("result", name, NULL, 0, buf + SSA_WIRE_HEADER_SIZE, n - SSA_WIRE_HEADER_SIZE);
	snprintf(msg, sizeof msg, "%s.msg", name);
	put("message", msg, NULL, 0, buf, n);
}

static void addr4(struct sockaddr_storage *ss, socklen_t *len, const char *a, uint16_t port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof *ss);
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	inet_pton(AF_INET, a, &s->sin_addr);
	*len = sizeof *s;
}

static void addr6(struct sockaddr_storage *ss, socklen_t *len, const char *a, uint16_t port)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	inet_pton(AF_INET6, a, &s->sin6_addr);
	*len = sizeof *s;
}

/* s[0..size-1) of c: the longest string that fits. */
static void fill(char *s, size_t size, char c)
{
	memset(s, c, size - 1);
	s[size - 1] = '\0';
}

static void requests(void)
{
	struct ssa_request r;

	ssa_request_init(&r, SSA_MSG_CONNECT);
	strcpy(r.hostname, "example.test");
	addr4(&r.addr, &r.addr_len, "192.0.2.1", 443);
	r.hold_filler = 196608;
	r.hold_lowat = 4096;
	request("connect-ipv4", &r);

	ssa_request_init(&r, SSA_MSG_CONNECT);
	strcpy(r.hostname, "www.example.test");
	addr6(&r.addr, &r.addr_len, "2001:db8::1", 8443);
	strcpy(r.exe, "/usr/bin/curl");
	r.version_min = TLS_1_2;
	r.version_max = TLS_1_3;
	strcpy(r.alpn, "h2,http/1.1");
	strcpy(r.ciphers_off[0], "TLS_AES_128_GCM_SHA256");
	strcpy(r.ciphers_off[1], "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
	r.n_off = 2;
	strcpy(r.ciphers_on[0], "TLS_CHACHA20_POLY1305_SHA256");
	r.n_on = 1;
	r.session_reuse = 0;
	r.revocation_checks = 1;
	r.ocsp_stapled_checks = 0;
	r.trust_file = true;
	r.n_pairs = 1;
	r.hold_filler = 1;
	r.hold_lowat = 0x7fffffff;
	static uint8_t ticket[300];
	for (size_t i = 0; i < sizeof ticket; i++)
		ticket[i] = (uint8_t)(i * 7);
	r.session = ticket;
	r.session_len = sizeof ticket;
	request("connect-full", &r);
	r.session = NULL;
	r.session_len = 0;

	ssa_request_init(&r, SSA_MSG_CONNECT);
	strcpy(r.hostname, "localhost");
	strcpy(r.resolve, "localhost");
	r.port = 443;
	request("connect-resolve", &r);

	ssa_request_init(&r, SSA_MSG_LISTEN);
	r.n_pairs = 1;
	request("listen", &r);

	ssa_request_init(&r, SSA_MSG_LISTEN);
	strcpy(r.exe, "/usr/sbin/server");
	r.peer_auth = true;
	r.trust_file = true;
	r.n_pairs = SSA_KEY_PAIRS_MAX;
	strcpy(r.alpn, "h2");
	r.version_min = TLS_1_3;
	r.session_ttl = 7200;
	request("listen-peer-auth", &r);

	/* Every string at its longest: a limit off by one is a mutation away. */
	ssa_request_init(&r, SSA_MSG_CONNECT);
	fill(r.hostname, sizeof r.hostname, 'h');
	fill(r.resolve, sizeof r.resolve, 'r');
	r.port = 65535;
	fill(r.alpn, sizeof r.alpn, 'a');
	for (r.n_off = 0; r.n_off < SSA_CIPHERS_MAX; r.n_off++)
		fill(r.ciphers_off[r.n_off], SSA_CIPHER_NAME_MAX, (char)('A' + r.n_off));
	r.hold_filler = 0xffffffff;
	request("connect-longest", &r);

	ssa_request_init(&r, SSA_MSG_LISTEN);
	r.n_pairs = 1;
	fill(r.exe, sizeof r.exe, 'e');
	r.exe[0] = '/';
	for (r.n_on = 0; r.n_on < SSA_CIPHERS_MAX; r.n_on++)
		fill(r.ciphers_on[r.n_on], SSA_CIPHER_NAME_MAX, (char)('a' + r.n_on));
	request("listen-longest", &r);

	ssa_request_init(&r, SSA_MSG_ACCEPT);
	strcpy(r.exe, "/usr/sbin/server");
	r.n_pairs = 2;
	r.peer_auth = true;
	r.has_app = true;
	r.app_pid = 4242;
	r.app_uid = 1000;
	r.app_gid = 1000;
	r.app_exe_verified = true;
	r.session_reuse = 1;
	r.revocation_checks = 0;
	r.session_ttl = 300;
	r.has_ticket_key = true;
	for (size_t i = 0; i < sizeof r.ticket_key; i++)
		r.ticket_key[i] = (uint8_t)(0xa5 ^ i);
	request("accept", &r);
}

static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUFAKEFAKE\n-----END CERTIFICATE-----\n";

static void results(void)
{
	struct ssa_result r;
	char chain[3 * sizeof pem];

	ssa_result_init(&r);
	r.id = 0x0123456789abcdefULL;
	strcpy(r.sections, "[defaults] [host example.test]");
	r.range_min = TLS_1_2;
	r.range_max = TLS_1_3;
	r.version = TLS_1_3;
	strcpy(r.cipher, "TLS_AES_256_GCM_SHA384");
	strcpy(r.alpn, "h2");
	strcpy(r.ocsp, "good");
	r.peer_identity = strdup("CN=example.test,O=Example");
	snprintf(chain, sizeof chain, "%s%s", pem, pem);
	r.peer_chain = strdup(chain);
	r.trusted_ciphers = strdup("TLS_AES_256_GCM_SHA384\nTLS_AES_128_GCM_SHA256");
	r.resumed = true;
	addr6(&r.peer, &r.peer_len, "2001:db8::1", 443);
	addr6(&r.local, &r.local_len, "2001:db8::2", 50000);
	result("connected", &r);
	ssa_result_free(&r);

	ssa_result_init(&r);
	r.err = EPROTO;
	r.id = 7;
	strcpy(r.reason, "peer certificate rejected: the certificate does not hold the name example.test");
	strcpy(r.sections, "[defaults]");
	r.range_min = TLS_1_2;
	r.range_max = TLS_1_3;
	addr4(&r.peer, &r.peer_len, "192.0.2.1", 443);
	result("refused", &r);
	ssa_result_free(&r);

	ssa_result_init(&r);
	r.err = ECONNREFUSED;
	result("minimal", &r);

	/* Every fixed-size string at its longest. */
	ssa_result_init(&r);
	r.err = EACCES;
	r.id = ~0ULL;
	fill(r.reason, sizeof r.reason, 'R');
	fill(r.sections, sizeof r.sections, 'S');
	fill(r.cipher, sizeof r.cipher, 'C');
	fill(r.alpn, sizeof r.alpn, 'A');
	fill(r.sni, sizeof r.sni, 'N');
	fill(r.ocsp, sizeof r.ocsp, 'O');
	r.range_min = r.range_max = r.version = TLS_1_3;
	result("longest", &r);

	ssa_result_init(&r);
	r.id = 99;
	r.version = TLS_1_2;
	strcpy(r.cipher, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	strcpy(r.sni, "www.example.test");
	r.peer_identity = strdup("CN=client");
	r.peer_chain = strdup(pem);
	addr4(&r.peer, &r.peer_len, "198.51.100.7", 40000);
	addr4(&r.local, &r.local_len, "192.0.2.1", 443);
	result("accepted", &r);
	ssa_result_free(&r);
}

/* Whole messages that the shim's accept() must refuse, and near misses. */
static void messages(void)
{
	struct ssa_request q;
	struct ssa_msg m;
	size_t n;

	/* A request where a result belongs. */
	ssa_request_init(&q, SSA_MSG_LISTEN);
	q.n_pairs = 1;
	n = ssa_request_encode(&q, buf, sizeof buf);
	put("message", "listen-request.msg", NULL, 0, buf, n);

	/* A result header that promises more than follows. */
	ssa_msg_init(&m, buf, sizeof buf, SSA_MSG_RESULT);
	ssa_msg_put_u32(&m, SSA_TAG_ERRNO, 0);
	n = ssa_msg_finish(&m);
	buf[11] += 4;
	put("message", "short-body.msg", NULL, 0, buf, n);

	/* A chain in two fields (joined by the decoder). */
	ssa_msg_init(&m, buf, sizeof buf, SSA_MSG_RESULT);
	ssa_msg_put_u32(&m, SSA_TAG_ERRNO, 0);
	ssa_msg_put_str(&m, SSA_TAG_PEER_CHAIN, pem);
	ssa_msg_put_str(&m, SSA_TAG_PEER_CHAIN, pem);
	ssa_msg_put_u64(&m, SSA_TAG_ID, 1);
	n = ssa_msg_finish(&m);
	put("message", "chain-fields.msg", NULL, 0, buf, n);
	put("result", "chain-fields", NULL, 0, buf + SSA_WIRE_HEADER_SIZE, n - SSA_WIRE_HEADER_SIZE);

	/* Resumption data after a verdict: one message, then a stream of a
	 * verdict and two of them (as a client's control socket carries). */
	{
		static uint8_t stream[1024];
		static const uint8_t ticket[] = "\x04\x00\x00\x20 a TLS 1.3 NewSessionTicket";
		size_t used;
		struct ssa_result res;

		n = ssa_session_encode(ticket, sizeof ticket - 1, buf, sizeof buf);
		put("message", "session.msg", NULL, 0, buf, n);
		ssa_result_init(&res);
		res.version = TLS_1_3;
		used = ssa_result_encode(&res, stream, sizeof stream);
		used += ssa_session_encode(ticket, sizeof ticket - 1, stream + used, sizeof stream - used);
		used += ssa_session_encode(ticket, 3, stream + used, sizeof stream - used);
		put("message", "verdict-then-sessions.msg", NULL, 0, stream, used);
	}
}

/*
 * Bodies with one string field one byte longer than its limit (refused):
 * with the longest valid ones above, both sides of each limit are seeds.
 * Each is the smallest body that reaches the field.
 */
static void too_long(const char *sub, const char *name, int sel, uint16_t tag, size_t len)
{
	static char text[SSA_EXE_MAX + 1];
	static const enum ssa_msg_type kinds[3] = { SSA_MSG_CONNECT, SSA_MSG_LISTEN, SSA_MSG_ACCEPT };
	struct sockaddr_storage ss;
	socklen_t ss_len;
	struct ssa_msg m;
	uint8_t s = (uint8_t)sel;
	size_t n;

	memset(text, 'x', len);
	text[0] = '/';
	ssa_msg_init(&m, buf, sizeof buf, sel < 0 ? SSA_MSG_RESULT : kinds[sel]);
	if (sel < 0) {
		ssa_msg_put_u32(&m, SSA_TAG_ERRNO, 0);
	} else if (kinds[sel] == SSA_MSG_CONNECT) {
		/* Complete but for the one field: a name and a peer. */
		if (tag != SSA_TAG_HOSTNAME)
			ssa_msg_put_str(&m, SSA_TAG_HOSTNAME, "example.test");
		if (tag == SSA_TAG_RESOLVE) {
			ssa_msg_put_u16(&m, SSA_TAG_PORT, 443);
		} else {
			addr4(&ss, &ss_len, "192.0.2.1", 443);
			ssa_msg_put(&m, SSA_TAG_ADDRESS, &ss, ss_len);
		}
	} else {
		ssa_msg_put_u32(&m, SSA_TAG_KEY_PAIRS, 1);
		if (kinds[sel] == SSA_MSG_ACCEPT) {
			ssa_msg_put_u32(&m, SSA_TAG_APP_PID, 1);
			ssa_msg_put_u32(&m, SSA_TAG_APP_UID, 0);
			ssa_msg_put_u32(&m, SSA_TAG_APP_GID, 0);
			ssa_msg_put_u32(&m, SSA_TAG_EXE_VERIFIED, 1);
		}
	}
	ssa_msg_put(&m, tag, text, len);
	n = ssa_msg_finish(&m);
	put(sub, name, &s, sel < 0 ? 0 : 1, buf + SSA_WIRE_HEADER_SIZE, n - SSA_WIRE_HEADER_SIZE);
	if (sel < 0 && tag == SSA_TAG_CIPHER)
		put("message", "too-long-cipher.msg", NULL, 0, buf, n);
}

/* A complete request of `kind` with SSA_CIPHERS_MAX + 1 suites of `tag`. */
static void too_many(const char *name, enum ssa_msg_type kind, uint16_t tag)
{
	struct ssa_request r;
	uint8_t sel = kind == SSA_MSG_CONNECT ? 0 : kind == SSA_MSG_LISTEN ? 1 : 2;
	size_t n;
	char suite[8];

	ssa_request_init(&r, kind);
	if (kind == SSA_MSG_CONNECT) {
		strcpy(r.hostname, "h");
		addr4(&r.addr, &r.addr_len, "192.0.2.1", 443);
	} else {
		r.n_pairs = 1;
	}
	n = ssa_request_encode(&r, buf, sizeof buf);
	{
		struct ssa_msg m = { .buf = buf, .cap = sizeof buf, .len = n };
		for (int i = 0; i <= SSA_CIPHERS_MAX; i++) {
			snprintf(suite, sizeof suite, "S%d", i);
			ssa_msg_put_str(&m, tag, suite);
		}
		n = ssa_msg_finish(&m);
	}
	put("request", name, &sel, 1, buf + SSA_WIRE_HEADER_SIZE, n - SSA_WIRE_HEADER_SIZE);
}

static void limits(void)
{
	too_many("too-many-ciphers-off", SSA_MSG_CONNECT, SSA_TAG_CIPHER_OFF);
	too_many("too-many-ciphers-on", SSA_MSG_LISTEN, SSA_TAG_CIPHER_ON);
	too_long("request", "too-long-hostname", 0, SSA_TAG_HOSTNAME, SSA_HOSTNAME_MAX);
	too_long("request", "too-long-resolve", 0, SSA_TAG_RESOLVE, SSA_HOSTNAME_MAX);
	too_long("request", "too-long-exe", 1, SSA_TAG_EXE, SSA_EXE_MAX);
	too_long("request", "too-long-alpn", 1, SSA_TAG_ALPN, SSA_ALPN_MAX);
	too_long("request", "too-long-cipher", 2, SSA_TAG_CIPHER_OFF, SSA_CIPHER_NAME_MAX);
	too_long("result", "too-long-cipher", -1, SSA_TAG_CIPHER, SSA_CIPHER_MAX);
	too_long("result", "too-long-alpn", -1, SSA_TAG_ALPN_CHOSEN, SSA_ALPN_MAX);
	too_long("result", "too-long-sni", -1, SSA_TAG_SNI, SSA_SNI_MAX);
	too_long("result", "too-long-policy", -1, SSA_TAG_POLICY, SSA_SECTIONS_MAX);
	too_long("result", "too-long-ocsp", -1, SSA_TAG_OCSP, SSA_OCSP_STATUS_MAX);
}

static const char *const policies[][2] = {
	{ "sections.ini",
	  "[defaults]\nmin-version = 1.2\nmax-version = 1.3\nocsp-stapling = verify\n\n"
	  "[app /usr/bin/curl]\npriority = NORMAL:-VERS-TLS1.2\napp-trust-store = replace\nsession-resumption = no\n\n"
	  "[host example.com]\nmin-version = 1.3\n"
	  "pin = sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=\n"
	  "trust-store = /etc/ssl/certs\nconnect-timeout = 5\nhandshake-timeout = 3600\n" },
	{ "wildcards.ini",
	  "[host *.example.org]\nallow = no\n\n[host *.b.c.example.org]\nallow = yes\ntruncation = eof\n\n"
	  "[host 192.0.2.1]\nocsp-stapling = require\n\n[host 2001:DB8::1]\nmax-version = 1.2\n\n"
	  "[host Mixed.Case.Example.]\napp-trust-store = deny\n" },
	{ "two-files",
	  "[defaults]\nmin-version = 1.0\n[app /usr/bin/prog]\nallow = no\n"
	  "\x1e"
	  "; the second file overrides\n[defaults]\nmin-version = 1.3\n[app /usr/bin/prog]\nallow = yes\n"
	  "[host www.example.com]\nsession-resumption = no\n" },
	{ "errors",
	  "[defaults]\nmin-version = 1.4\n\x1e[host *.*.example]\npin = sha256/short\n" },
	{ "syntax",
	  "# comment\n[defaults\nkey without value\n  indented = yes\n[app relative/path]\nallow = maybe\n" },
};

static void policy(const char *etc_ini)
{
	for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++)
		put("policy", policies[i][0], NULL, 0, policies[i][1], strlen(policies[i][1]));
	if (etc_ini) {
		static char text[65536];
		FILE *f = fopen(etc_ini, "rb");
		size_t n = f ? fread(text, 1, sizeof text, f) : 0;
		if (!f) {
			perror(etc_ini);
			exit(1);
		}
		fclose(f);
		put("policy", "etc-ssa.ini", NULL, 0, text, n);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: make-seeds DIR [ETC_SSA_INI]\n");
		return 2;
	}
	top = argv[1];
	mkdir(top, 0755);
	requests();
	results();
	messages();
	limits();
	policy(argc > 2 ? argv[2] : NULL);
	return 0;
}
