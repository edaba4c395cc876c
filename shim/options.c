/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* options.c: the IPPROTO_TLS socket options (options.h). */
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "optval.h"
#include "tighten.h"

void options_program(const struct tls_socket *s, char *buf, size_t size)
{
	ssize_t n;

	if (s->opts.exe[0]) {
		snprintf(buf, size, "%s", s->opts.exe);
		return;
	}
	n = readlink("/proc/self/exe", buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
}

/*
 * The policy this program would get for its host name (unset: [defaults]
 * and [app] only), into *p with the sections' names in applied.  False if
 * the policy cannot be read (not readable by this user, or broken): the
 * helper is the judge at connect() either way.
 */
static bool local_policy(const struct tls_socket *s, struct policy *p, char *applied, size_t size)
{
	struct policy_set *set;
	char *error = NULL, exe[SSA_EXE_MAX];

	if (policy_set_load(policy_dir(), &set, &error) < 0) {
		free(error);
		return false;
	}
	options_program(s, exe, sizeof exe);
	policy_resolve(set, exe, s->opts.hostname[0] ? s->opts.hostname : NULL, NULL, p, applied, size);
	policy_set_free(set);
	return true;
}

/* -EPERM if the options with `changed` in place of s->opts would loosen
 * the policy as far as this program can read it (tighten.h); else 0. */
static int check_tighten(struct tls_socket *s, const struct ssa_request *changed)
{
	char applied[SSA_SECTIONS_MAX];
	struct policy p;

	if (!local_policy(s, &p, applied, sizeof applied))
		return 0;
	return ssa_tighten(&p, changed, applied, s->error, sizeof s->error) == -EPERM ? -EPERM : 0;
}

/* --- setters: each (s, name, optval, optlen) -> 0 or -errno ---------------- */

/* TLS_HOSTNAME: a name of 1..255 bytes, with or without its NUL. */
static int set_hostname(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	char buf[SSA_HOSTNAME_MAX];
	size_t n = optlen < sizeof buf ? optlen : sizeof buf;

	(void)name;
	if (!optval_copy_in(buf, optval, n))
		return -EFAULT;
	n = strnlen(buf, n);
	if (n == 0 || n >= sizeof buf) {
		tls_socket_set_error(s, "TLS_HOSTNAME must be 1 to %zu bytes", sizeof buf - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c <= ' ' || c == 0x7f) {
			tls_socket_set_error(s, "TLS_HOSTNAME holds a space or control character");
			return -EINVAL;
		}
	}
	memcpy(s->opts.hostname, buf, n);
	s->opts.hostname[n] = '\0';
	return 0;
}

static int set_version(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	struct ssa_request changed = s->opts;
	int v, r;

	if ((r = optval_get_int(optval, optlen, &v)) < 0)
		return r;
	if (v < TLS_1_0 || v > TLS_1_3) {
		tls_socket_set_error(s, "TLS versions are TLS_1_0 (0) to TLS_1_3 (3), not %d", v);
		return -EINVAL;
	}
	if ((name == TLS_VERSION_MIN && s->opts.version_max >= 0 && v > s->opts.version_max) ||
	    (name == TLS_VERSION_MAX && s->opts.version_min >= 0 && v < s->opts.version_min)) {
		tls_socket_set_error(s, "TLS_VERSION_MIN would be above TLS_VERSION_MAX");
		return -EINVAL;
	}
	*(name == TLS_VERSION_MIN ? &changed.version_min : &changed.version_max) = v;
	if ((r = check_tighten(s, &changed)) < 0)
		return r;
	*(name == TLS_VERSION_MIN ? &s->opts.version_min : &s->opts.version_max) = v;
	return 0;
}

/* TLS_ALPN: "proto1,proto2", each 1..255 bytes of printable ASCII
 * (RFC 7301 §3.1). */
static bool valid_alpn(const char *list)
{
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n > 255)
			return false;
		for (size_t i = 0; i < n; i++)
			if (p[i] <= ' ' || p[i] > '~')
				return false;
		p += n;
		if (*p == ',' && !*++p)
			return false;
	}
	return true;
}

static int set_alpn(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	char list[SSA_ALPN_MAX];
	int r = optval_get_string(optval, optlen, list, sizeof list);

	(void)name;
	if (r == -EFAULT)
		return r;
	if (r < 0 || !valid_alpn(list)) {
		tls_socket_set_error(s, "TLS_ALPN is a comma-separated list of protocol names");
		return -EINVAL;
	}
	memcpy(s->opts.alpn, list, sizeof list);
	return 0;
}

static int set_program(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	char path[SSA_EXE_MAX];
	int r = optval_get_string(optval, optlen, path, sizeof path);

	(void)name;
	if (r < 0)
		return r;
	if (path[0] != '/') {
		tls_socket_set_error(s, "TLS_PROGRAM is an absolute path");
		return -EINVAL;
	}
	memcpy(s->opts.exe, path, strlen(path) + 1);
	return 0;
}

/* Remove `suite` from list[0..*n), keeping the order. */
static void suite_remove(char list[][SSA_CIPHER_NAME_MAX], size_t *n, const char *suite)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(list[i], suite) == 0) {
			memmove(list[i], list[i + 1], (*n - i - 1) * sizeof list[0]);
			(*n)--;
			return;
		}
}

/* TLS_DISABLE_CIPHER, TLS_ENABLE_CIPHER: the last word on a suite counts. */
static int set_cipher(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	static const char charset[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
	bool off = name == TLS_DISABLE_CIPHER;
	char (*list)[SSA_CIPHER_NAME_MAX] = off ? s->opts.ciphers_off : s->opts.ciphers_on;
	size_t *n = off ? &s->opts.n_off : &s->opts.n_on;
	char suite[SSA_CIPHER_NAME_MAX];
	int r = optval_get_string(optval, optlen, suite, sizeof suite);

	if (r == -EFAULT)
		return r;
	if (r < 0 || strspn(suite, charset) != strlen(suite)) {
		tls_socket_set_error(s, "a cipher suite name, such as TLS_AES_128_GCM_SHA256");
		return -EINVAL;
	}
	suite_remove(off ? s->opts.ciphers_on : s->opts.ciphers_off, off ? &s->opts.n_on : &s->opts.n_off, suite);
	for (size_t i = 0; i < *n; i++)
		if (strcmp(list[i], suite) == 0)
			return 0;
	if (*n == SSA_CIPHERS_MAX) {
		tls_socket_set_error(s, "at most %d suites in %s", SSA_CIPHERS_MAX,
				     off ? "TLS_DISABLE_CIPHER" : "TLS_ENABLE_CIPHER");
		return -EINVAL;
	}
	memcpy(list[(*n)++], suite, sizeof suite);
	return 0;
}

static int set_session_ttl(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	int v, r;

	(void)name;
	if ((r = optval_get_int(optval, optlen, &v)) < 0)
		return r;
	if (v < 0)
		return -EINVAL;
	s->session_ttl = v;
	return 0;
}

static int set_context(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	(void)name;
	if (optlen < sizeof s->context)
		return -EINVAL;
	return optval_copy_in(&s->context, optval, sizeof s->context) ? 0 : -EFAULT;
}

/* An int option that takes 0 or 1: 0 with *v, or -errno. */
static int flag_value(struct tls_socket *s, int name, const void *optval, socklen_t optlen, int *v)
{
	int r = optval_get_int(optval, optlen, v);

	if (r == 0 && *v != 0 && *v != 1) {
		tls_socket_set_error(s, "socket option %d takes 0 or 1", name);
		r = -EINVAL;
	}
	return r;
}

/* TLS_SESSION_REUSE, TLS_REVOCATION_CHECKS, TLS_OCSP_STAPLED_CHECKS. */
static int *flag_slot(struct ssa_request *opts, int name)
{
	return name == TLS_SESSION_REUSE ? &opts->session_reuse
	     : name == TLS_REVOCATION_CHECKS ? &opts->revocation_checks : &opts->ocsp_stapled_checks;
}

static int set_policy_flag(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	struct ssa_request changed = s->opts;
	int v, r;

	if ((r = flag_value(s, name, optval, optlen, &v)) < 0)
		return r;
	*flag_slot(&changed, name) = v;
	if ((r = check_tighten(s, &changed)) < 0)
		return r;
	*flag_slot(&s->opts, name) = v;
	return 0;
}

/* TLS_OCSP_CHECKS, TLS_CRL_CHECKS, TLS_CACHED_REV_CHECKS: off, as they are. */
static int set_unavailable_check(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	int v, r;

	if ((r = flag_value(s, name, optval, optlen, &v)) < 0)
		return r;
	if (v == 1) {
		tls_socket_set_error(s, "online OCSP, CRL and cached revocation checks are not available: the helper "
					"checks stapled OCSP responses (ocsp-stapling in ssa.ini(5))");
		return -EOPNOTSUPP;
	}
	return 0;
}

static int set_trust(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	struct ssa_request changed = s->opts;
	int r;

	changed.trust_file = true;
	if ((r = check_tighten(s, &changed)) < 0 || (r = files_set(s, name, optval, optlen)) < 0)
		return r;
	s->opts.trust_file = true;
	return 0;
}

static int set_peer_auth(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	int v, r;

	(void)name;
	if ((r = optval_get_int(optval, optlen, &v)) < 0)
		return r;
	s->opts.peer_auth = v != 0;
	return 0;
}

/* --- getters: each (s, name, optval, optlen) -> 0 or -errno ---------------- */

static bool connected(const struct tls_socket *s)
{
	return s->state == TLS_SOCKET_CONNECTED;
}

/* A string of the helper's result, after connect() only. */
static int get_result_string(const struct tls_socket *s, const char *value, void *optval, socklen_t *optlen)
{
	return connected(s) ? optval_put_string(value ? value : "", optval, optlen) : -ENOTCONN;
}

static int get_hostname(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	(void)name;
	return optval_put_string(s->opts.hostname, optval, optlen);
}

static int get_error(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	(void)name;
	return optval_put_string(s->error, optval, optlen);
}

static int get_chosen_version(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	(void)name;
	return connected(s) ? optval_put_int(s->res.version, optval, optlen) : -ENOTCONN;
}

static int get_result(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	const char *v = name == TLS_CHOSEN_CIPHER ? s->res.cipher
		      : name == TLS_PEER_IDENTITY ? s->res.peer_identity
		      : name == TLS_PEER_CERTIFICATE_CHAIN ? s->res.peer_chain
		      : name == TLS_ALPN ? s->res.alpn
		      : name == TLS_TRUSTED_CIPHERS ? s->res.trusted_ciphers
		      : s->res.ocsp; /* TLS_OCSP_STATUS */

	return get_result_string(s, v, optval, optlen);
}

static int get_id(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	(void)name;
	/* Also after a failure: the id finds the journal entry. */
	if (!connected(s) && !((s->state == TLS_SOCKET_FAILED || s->state == TLS_SOCKET_LISTENING) && s->res.id))
		return -ENOTCONN;
	return optval_put_u64(s->res.id, optval, optlen);
}

static int get_version_bound(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	int set = name == TLS_VERSION_MIN ? s->opts.version_min : s->opts.version_max;
	int effective = name == TLS_VERSION_MIN ? s->res.range_min : s->res.range_max;

	if (connected(s) && effective >= 0)
		return optval_put_int(effective, optval, optlen);
	if (set >= 0)
		return optval_put_int(set, optval, optlen);
	tls_socket_set_error(s, "the policy decides the versions at connect()");
	return -ENOTCONN;
}

static int get_resumed(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	(void)name;
	return connected(s) ? optval_put_int(s->res.resumed, optval, optlen) : -ENOTCONN;
}

static int get_session_ttl(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	(void)name;
	return optval_put_int(s->session_ttl >= 0 ? s->session_ttl : 0, optval, optlen);
}

static int get_context(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	(void)name;
	return optval_put_u64(s->context, optval, optlen);
}

/* A policy flag: what the application set, else what the policy gives it. */
static int get_policy_flag(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	int set = *flag_slot(&s->opts, name);
	char applied[SSA_SECTIONS_MAX];
	struct policy p;

	if (set < 0) {
		if (!local_policy(s, &p, applied, sizeof applied))
			policy_defaults(&p);
		set = name == TLS_SESSION_REUSE ? p.session_resumption : p.ocsp_stapling != POLICY_OCSP_IGNORE;
	}
	return optval_put_int(set, optval, optlen);
}

static int get_zero(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	(void)s;
	(void)name;
	return optval_put_int(0, optval, optlen); /* not available: see set_unavailable_check */
}

static int get_sections(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	(void)name;
	return s->res.sections[0] ? optval_put_string(s->res.sections, optval, optlen) : -ENOTCONN;
}

static int get_sni(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	(void)name;
	if (!s->accepted) {
		tls_socket_set_error(s, "TLS_SNI is the name a client asked for: only on a socket from accept()");
		return s->state == TLS_SOCKET_LISTENING ? -EOPNOTSUPP : -ENOTCONN;
	}
	return optval_put_string(s->res.sni, optval, optlen);
}

/* --- the table ------------------------------------------------------------- */

struct option {
	int name;
	/* NULL: the option can only be read. */
	int (*set)(struct tls_socket *s, int name, const void *optval, socklen_t optlen);
	/* NULL: the option can only be set. */
	int (*get)(struct tls_socket *s, int name, void *optval, socklen_t *optlen);
};

static const struct option options[] = {
	{ TLS_HOSTNAME, set_hostname, get_hostname },
	{ TLS_SNI, NULL, get_sni },
	{ TLS_TRUSTED_PEER_CERTIFICATES, set_trust, NULL },
	{ TLS_CERTIFICATE_CHAIN, files_set, NULL },
	{ TLS_PRIVATE_KEY, files_set, NULL },
	{ TLS_ALPN, set_alpn, get_result },
	{ TLS_SESSION_TTL, set_session_ttl, get_session_ttl },
	{ TLS_DISABLE_CIPHER, set_cipher, NULL },
	{ TLS_PEER_IDENTITY, NULL, get_result },
	{ TLS_REQUEST_PEER_AUTH, set_peer_auth, NULL },
	{ TLS_PEER_CERTIFICATE_CHAIN, NULL, get_result },
	{ TLS_ID, NULL, get_id },
	{ TLS_TRUSTED_CIPHERS, NULL, get_result },
	{ TLS_CHOSEN_CIPHER, NULL, get_result },
	{ TLS_ERROR, NULL, get_error },
	{ TLS_REVOCATION_CHECKS, set_policy_flag, get_policy_flag },
	{ TLS_OCSP_STAPLED_CHECKS, set_policy_flag, get_policy_flag },
	{ TLS_OCSP_CHECKS, set_unavailable_check, get_zero },
	{ TLS_CRL_CHECKS, set_unavailable_check, get_zero },
	{ TLS_CACHED_REV_CHECKS, set_unavailable_check, get_zero },
	{ TLS_CONTEXT, set_context, get_context },
	{ TLS_SESSION_REUSE, set_policy_flag, get_policy_flag },
	{ TLS_RESUMED_SESSION, NULL, get_resumed },
	{ TLS_ENABLE_CIPHER, set_cipher, NULL },
	{ TLS_VERSION_MIN, set_version, get_version_bound },
	{ TLS_VERSION_MAX, set_version, get_version_bound },
	{ TLS_CHOSEN_VERSION, NULL, get_chosen_version },
	{ TLS_POLICY_SECTIONS, NULL, get_sections },
	{ TLS_OCSP_STATUS, NULL, get_result },
	{ TLS_PROGRAM, set_program, NULL },
};

static const struct option *find(int name)
{
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
		if (options[i].name == name)
			return &options[i];
	return NULL;
}

int options_set(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	const struct option *o = find(name);

	if (!o) {
		tls_socket_set_error(s, "socket option %d is not supported by this version of the SSA", name);
		return -ENOPROTOOPT;
	}
	if (!o->set) {
		tls_socket_set_error(s, "socket option %d can only be read", name);
		return -EOPNOTSUPP;
	}
	if (s->state != TLS_SOCKET_IDLE || s->accepted) {
		tls_socket_set_error(s, "socket option %d can only be set before connect() or listen()", name);
		return -EOPNOTSUPP;
	}
	return o->set(s, name, optval, optlen);
}

int options_get(struct tls_socket *s, int name, void *optval, socklen_t *optlen)
{
	const struct option *o = find(name);

	if (!o) {
		tls_socket_set_error(s, "socket option %d is not supported by this version of the SSA", name);
		return -ENOPROTOOPT;
	}
	if (!o->get) {
		tls_socket_set_error(s, "socket option %d can only be set", name);
		return -EOPNOTSUPP;
	}
	return o->get(s, name, optval, optlen);
}
