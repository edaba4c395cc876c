/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* policy.c: reading and resolving the *.ini files of /etc/ssa with inih (policy.h). */
#include "policy.h"

#include <dirent.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <fnmatch.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <strings.h>

#include "in_tls.h"

enum section_kind { SECTION_DEFAULTS, SECTION_APP, SECTION_HOST };

/* One bit per key: which keys a section sets. */
enum key_bit {
	K_MIN_VERSION = 1 << 0,
	K_MAX_VERSION = 1 << 1,
	K_PRIORITY = 1 << 2,
	K_TRUST_STORE = 1 << 3,
	K_APP_TRUST_STORE = 1 << 4,
	K_OCSP_STAPLING = 1 << 5,
	K_PIN = 1 << 6,
	K_SESSION_RESUMPTION = 1 << 7,
	K_CONNECT_TIMEOUT = 1 << 8,
	K_HANDSHAKE_TIMEOUT = 1 << 9,
	K_TRUNCATION = 1 << 10,
	K_ALLOW = 1 << 11,
	K_USER_LIMIT = 1 << 12,
};

struct section {
	enum section_kind kind;
	char *name;        /* program path or host pattern; NULL for defaults */
	unsigned set;      /* enum key_bit */
	struct policy values;
	char *priority, *trust_store, *pins; /* owned strings behind values */
};

struct policy_set {
	struct section *sections;
	size_t n;
};

/* Parsing state handed to the inih handler. */
struct parse_state {
	struct policy_set *set;
	FILE *file;        /* the file being read */
	int line;          /* lines read from it so far: the handler's line */
	char *error;       /* first error of the handler, without file and line */
	int error_line;    /* its line */
};

/* inih's reader: fgets(3), counting lines so that the handler knows its
 * line (this inih is built without INI_HANDLER_LINENO). */
/* A formatted message (vasprintf(3)), malloc'd; NULL if out of memory,
 * which a caller reports as a reason without text. */
static char *message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *message(const char *fmt, ...)
{
	va_list ap;
	char *m;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&m, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : m;
}

static char *read_line(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	char *r = fgets(str, num, st->file);

	if (r)
		st->line++;
	return r;
}

void policy_defaults(struct policy *p)
{
	*p = (struct policy){
		.min_version = TLS_1_2,
		.max_version = TLS_1_3,
		.priority = NULL,
		.trust_store = "system",
		.app_trust_store = POLICY_APP_TRUST_ADD,
		.ocsp_stapling = POLICY_OCSP_VERIFY,
		.pins = NULL,
		.session_resumption = true,
		.connect_timeout = 10,
		.handshake_timeout = 10,
		.truncation_eof = false,
		.allow = true,
		.user_connection_limit = 1024,
	};
}

const char *ssa_env_override(const char *name)
{
	struct stat st;
	const char *v;

	if (lstat(SSA_HELPER_SOCKET_DEFAULT, &st) == 0 || errno != ENOENT)
		return NULL; /* the administrator runs the service */
	v = secure_getenv(name);
	return v && *v ? v : NULL;
}

const char *policy_dir(void)
{
	const char *d = ssa_env_override("SSA_CONFIG_DIR");

	return d ? d : SYSCONFDIR "/ssa";
}

static void section_free(struct section *s)
{
	free(s->name);
	free(s->priority);
	free(s->trust_store);
	free(s->pins);
}

void policy_set_free(struct policy_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		section_free(&set->sections[i]);
	free(set->sections);
	free(set);
}

int policy_canonical_host(const char *name, char *out, size_t size)
{
	unsigned char addr[sizeof(struct in6_addr)];
	size_t n = strlen(name);
	char copy[256];

	if (n >= sizeof copy)
		return -ENAMETOOLONG;
	memcpy(copy, name, n + 1);
	if (n > 1 && copy[n - 1] == '.')
		copy[--n] = '\0';
	if (inet_pton(AF_INET, copy, addr) == 1)
		return inet_ntop(AF_INET, addr, out, (socklen_t)size) ? 0 : -ENAMETOOLONG;
	if (inet_pton(AF_INET6, copy, addr) == 1)
		return inet_ntop(AF_INET6, addr, out, (socklen_t)size) ? 0 : -ENAMETOOLONG;
	if (n >= size)
		return -ENAMETOOLONG;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)copy[i]);
	return 0;
}

/* The section called `header` ("defaults", "app /x", "host y"), created on
 * first use; NULL with st->error set if the header is not one of those. */
static struct section *section_for(struct parse_state *st, const char *header, const char *key)
{
	enum section_kind kind;
	const char *name = NULL;
	struct section *s;

	if (strcmp(header, "defaults") == 0) {
		kind = SECTION_DEFAULTS;
	} else if (strncmp(header, "app ", 4) == 0 && header[4] == '/') {
		kind = SECTION_APP;
		name = header + 4;
	} else if (strncmp(header, "host ", 5) == 0 && header[5] && !strchr(header + 5, ' ')) {
		kind = SECTION_HOST;
		name = header + 5;
		if (strchr(name, '*') && (strncmp(name, "*.", 2) != 0 || strchr(name + 1, '*') || !name[2])) {
			st->error = message("[%s] key '%s': a wildcard must be the whole first label of the section's name, "
					     "as in [host *.example.com]", header, key);
			return NULL;
		}
	} else {
		st->error = message("unknown section [%s] at key '%s' (expected [defaults], [app /absolute/path] or "
				     "[host name])", header, key);
		return NULL;
	}
	char canonical[256];
	if (kind == SECTION_HOST && policy_canonical_host(name, canonical, sizeof canonical) == 0)
		name = canonical;
	for (size_t i = 0; i < st->set->n; i++) {
		s = &st->set->sections[i];
		if (s->kind == kind && (!name || strcmp(s->name, name) == 0))
			return s;
	}
	s = reallocarray(st->set->sections, st->set->n + 1, sizeof *s);
	if (!s)
		return NULL;
	st->set->sections = s;
	s = &s[st->set->n];
	*s = (struct section){ .kind = kind };
	policy_defaults(&s->values);
	if (name && !(s->name = strdup(name))) /* canonical for [host] */
		return NULL;
	st->set->n++;
	return s;
}

static int parse_version(const char *v)
{
	static const char *const names[] = { "1.0", "1.1", "1.2", "1.3" };

	for (int i = 0; i < 4; i++)
		if (strcmp(v, names[i]) == 0)
			return i;
	return -1;
}

/* Index of v in the NULL-terminated list of words, or -1. */
static int parse_word(const char *v, const char *const *words)
{
	for (int i = 0; words[i]; i++)
		if (strcmp(v, words[i]) == 0)
			return i;
	return -1;
}

static bool parse_seconds(const char *v, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n < 1 || n > 3600)
		return false;
	*out = (unsigned)n;
	return true;
}

/* Each pin is "sha256/" and 44 characters of base64 (32 bytes). */
static bool valid_pins(const char *v)
{
	const char *p = v;

	while (*p) {
		size_t n = strcspn(p, " ");
		if (n != 7 + 44 || strncmp(p, "sha256/", 7) != 0)
			return false;
		for (size_t i = 7; i < n; i++)
			if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", p[i]))
				return false;
		p += n;
		p += strspn(p, " ");
	}
	return p != v;
}

static int replace_string(char **slot, const char *v)
{
	char *copy = strdup(v);

	if (!copy)
		return -ENOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}

static int bad_value(struct parse_state *st, const char *section, const char *key, const char *value,
		     const char *expected)
{
	if (!st->error)
		st->error = message("[%s] key '%s': bad value '%s' (expected %s)", section, key, value, expected);
	return 0;
}

static int handle_key_at(struct parse_state *st, const char *header, const char *key, const char *v);

/* inih's handler: handle_key_at(), noting the line of the first error. */
static int handle_key(void *user, const char *header, const char *key, const char *v)
{
	struct parse_state *st = user;
	bool had_error = st->error != NULL;
	int r = handle_key_at(st, header, key, v);

	if (!had_error && st->error)
		st->error_line = st->line;
	return r;
}

/*
 * Set `key` = `v` in section s: 0, or -1 with *expected naming the values
 * the key takes (a bad value), or -2 (an unknown key, or an error already
 * in st).  One branch per key of SPEC §4.
 */
static int set_key(struct parse_state *st, struct section *s, const char *header, const char *key, const char *v,
		   const char **expected)
{
	static const char *const yes_no[] = { "no", "yes", NULL };
	static const char *const ocsp[] = { "ignore", "verify", "require", NULL };
	static const char *const app_trust[] = { "add", "replace", "deny", NULL };
	static const char *const truncation[] = { "error", "eof", NULL };
	struct policy *p = &s->values;
	int i;

	if (strcmp(key, "min-version") == 0 || strcmp(key, "max-version") == 0) {
		*expected = "1.0, 1.1, 1.2 or 1.3";
		if ((i = parse_version(v)) < 0)
			return -1;
		*(key[1] == 'i' ? &p->min_version : &p->max_version) = i;
		s->set |= key[1] == 'i' ? K_MIN_VERSION : K_MAX_VERSION;
	} else if (strcmp(key, "priority") == 0) {
		*expected = "a GnuTLS priority string";
		if (!*v)
			return -1;
		if (replace_string(&s->priority, v) < 0)
			return -2;
		s->set |= K_PRIORITY;
	} else if (strcmp(key, "trust-store") == 0) {
		*expected = "system, or the absolute path of a PEM file or directory";
		if (strcmp(v, "system") != 0 && v[0] != '/')
			return -1;
		if (replace_string(&s->trust_store, v) < 0)
			return -2;
		s->set |= K_TRUST_STORE;
	} else if (strcmp(key, "app-trust-store") == 0) {
		*expected = "add, replace or deny";
		if ((i = parse_word(v, app_trust)) < 0)
			return -1;
		p->app_trust_store = i;
		s->set |= K_APP_TRUST_STORE;
	} else if (strcmp(key, "ocsp-stapling") == 0) {
		*expected = "ignore, verify or require";
		if ((i = parse_word(v, ocsp)) < 0)
			return -1;
		p->ocsp_stapling = i;
		s->set |= K_OCSP_STAPLING;
	} else if (strcmp(key, "pin") == 0) {
		*expected = "space-separated sha256/BASE64 SPKI pins";
		if (s->kind != SECTION_HOST) {
			if (!st->error)
				st->error = message("[%s] key 'pin': pins belong in a [host ...] section", header);
			return -2;
		}
		if (!valid_pins(v))
			return -1;
		if (replace_string(&s->pins, v) < 0)
			return -2;
		s->set |= K_PIN;
	} else if (strcmp(key, "session-resumption") == 0 || strcmp(key, "allow") == 0) {
		*expected = "yes or no";
		if ((i = parse_word(v, yes_no)) < 0)
			return -1;
		*(key[0] == 's' ? &p->session_resumption : &p->allow) = i;
		s->set |= key[0] == 's' ? K_SESSION_RESUMPTION : K_ALLOW;
	} else if (strcmp(key, "connect-timeout") == 0 || strcmp(key, "handshake-timeout") == 0) {
		*expected = "whole seconds from 1 to 3600";
		if (!parse_seconds(v, key[0] == 'c' ? &p->connect_timeout : &p->handshake_timeout))
			return -1;
		s->set |= key[0] == 'c' ? K_CONNECT_TIMEOUT : K_HANDSHAKE_TIMEOUT;
	} else if (strcmp(key, "user-connection-limit") == 0) {
		*expected = "a whole number from 1 to 1000000";
		if (s->kind != SECTION_DEFAULTS) {
			if (!st->error)
				st->error = message("[%s] key 'user-connection-limit': it belongs in [defaults]", header);
			return -2;
		}
		char *end;
		errno = 0;
		unsigned long n = strtoul(v, &end, 10);
		if (errno || end == v || *end || n < 1 || n > 1000000 || v[0] == '-' || v[0] == '+')
			return -1;
		p->user_connection_limit = (unsigned)n;
		s->set |= K_USER_LIMIT;
	} else if (strcmp(key, "truncation") == 0) {
		*expected = "error or eof";
		if ((i = parse_word(v, truncation)) < 0)
			return -1;
		p->truncation_eof = i;
		s->set |= K_TRUNCATION;
	} else {
		st->error = message("[%s] unknown key '%s'", header, key);
		return -2;
	}
	return 0;
}

static int handle_key_at(struct parse_state *st, const char *header, const char *key, const char *v)
{
	const char *expected = "";
	struct section *s;
	int r;

	if (st->error)
		return 0;
	s = section_for(st, header, key);
	if (!s) {
		if (!st->error)
			st->error = strdup("out of memory");
		return 0;
	}
	r = set_key(st, s, header, key, v, &expected);
	if (r == -1)
		return bad_value(st, header, key, v, expected);
	if (r < 0)
		return 0;
	s->values.priority = s->priority;
	s->values.trust_store = s->trust_store ? s->trust_store : "system";
	s->values.pins = s->pins;
	return 1;
}

static int select_ini(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 4 && strcmp(d->d_name + n - 4, ".ini") == 0 &&
	       (d->d_type == DT_REG || d->d_type == DT_LNK || d->d_type == DT_UNKNOWN);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int policy_set_load(const char *dir, struct policy_set **out, char **error)
{
	struct parse_state st = { 0 };
	struct dirent **names = NULL;
	int n, r = 0;

	*error = NULL;
	st.set = calloc(1, sizeof *st.set);
	if (!st.set)
		return -ENOMEM;
	n = scandir(dir, &names, select_ini, by_name);
	if (n < 0) {
		if (errno == ENOENT) {
			*out = st.set;
			return 0;
		}
		r = -errno;
		*error = message("%s: %s", dir, strerror(errno));
		policy_set_free(st.set);
		return r;
	}
	for (int i = 0; i < n; i++) {
		char *path = NULL;
		int line;

		if (r == 0 && !(path = message("%s/%s", dir, names[i]->d_name)))
			r = -ENOMEM;
		if (r == 0) {
			st.file = fopen(path, "re");
			st.line = 0;
			line = st.file ? ini_parse_stream(read_line, &st, handle_key, &st) : -1;
			if (st.file)
				fclose(st.file);
			if (line == -1) {
				*error = message("%s: cannot open: %s", path, strerror(errno));
				r = -EINVAL;
			} else if (line == -2) {
				r = -ENOMEM;
			} else if (line > 0) {
				/* inih reports the first error's line: its own syntax
				 * error, or the handler's, whichever came first. */
				if (st.error && st.error_line <= line)
					*error = message("%s:%d: %s", path, st.error_line, st.error);
				else
					*error = message("%s:%d: syntax error", path, line);
				r = -EINVAL;
			}
		}
		free(path);
		free(names[i]);
	}
	free(names);
	free(st.error);
	if (r < 0) {
		policy_set_free(st.set);
		return r;
	}
	*out = st.set;
	return 0;
}

/* Overlay the keys that section s sets onto p. */
static void apply(struct policy *p, const struct section *s)
{
	const struct policy *v = &s->values;

	if (s->set & K_MIN_VERSION) p->min_version = v->min_version;
	if (s->set & K_MAX_VERSION) p->max_version = v->max_version;
	if (s->set & K_PRIORITY) p->priority = v->priority;
	if (s->set & K_TRUST_STORE) p->trust_store = v->trust_store;
	if (s->set & K_APP_TRUST_STORE) p->app_trust_store = v->app_trust_store;
	if (s->set & K_OCSP_STAPLING) p->ocsp_stapling = v->ocsp_stapling;
	if (s->set & K_PIN) p->pins = v->pins;
	if (s->set & K_SESSION_RESUMPTION) p->session_resumption = v->session_resumption;
	if (s->set & K_CONNECT_TIMEOUT) p->connect_timeout = v->connect_timeout;
	if (s->set & K_HANDSHAKE_TIMEOUT) p->handshake_timeout = v->handshake_timeout;
	if (s->set & K_TRUNCATION) p->truncation_eof = v->truncation_eof;
	if (s->set & K_ALLOW) p->allow = v->allow;
	if (s->set & K_USER_LIMIT) p->user_connection_limit = v->user_connection_limit;
}

static void note_applied(char *applied, size_t size, const struct section *s)
{
	size_t used = size ? strnlen(applied, size - 1) : 0;

	if (used + 1 >= size)
		return; /* full, or no room at all */
	snprintf(applied + used, size - used, "%s[%s%s%s]", used ? " " : "",
		 s->kind == SECTION_DEFAULTS ? "defaults" : s->kind == SECTION_APP ? "app" : "host",
		 s->name ? " " : "", s->name ? s->name : "");
}

/* The [host] section for canonical name `host`: the exact one, else the
 * longest wildcard that covers it; or NULL. */
static const struct section *host_section(const struct policy_set *set, const char *host)
{
	const struct section *wild = NULL;

	for (size_t i = 0; i < set->n; i++) {
		const struct section *s = &set->sections[i];
		if (s->kind != SECTION_HOST)
			continue;
		if (strcmp(s->name, host) == 0)
			return s;
		if (s->name[0] == '*') {
			size_t hl = strlen(host), sl = strlen(s->name + 1);
			/* "*.example.com" covers any name ending in ".example.com". */
			if (hl > sl && strcmp(host + hl - sl, s->name + 1) == 0 &&
			    (!wild || strlen(wild->name) < strlen(s->name)))
				wild = s;
		}
	}
	return wild;
}

/* The address of an AF_INET or AF_INET6 socket address as a canonical
 * name ("192.0.2.1", "2001:db8::1"; IPv4-mapped IPv6 as IPv4): 0 or -1. */
static int address_name(const struct sockaddr *sa, char *out, size_t size)
{
	if (sa && sa->sa_family == AF_INET)
		return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size) ? 0 : -1;
	if (sa && sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			return inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)size) ? 0 : -1;
		return inet_ntop(AF_INET6, a, out, (socklen_t)size) ? 0 : -1;
	}
	return -1;
}

void policy_resolve(const struct policy_set *set, const char *exe, const char *host, const struct sockaddr *peer,
		    struct policy *out, char *applied, size_t applied_size)
{
	const struct section *by_name = NULL, *by_address = NULL;
	char canonical[256], address[INET6_ADDRSTRLEN];

	policy_defaults(out);
	if (applied && applied_size)
		applied[0] = '\0';
	for (int kind = SECTION_DEFAULTS; kind <= SECTION_APP; kind++) {
		for (size_t i = 0; i < set->n; i++) {
			const struct section *s = &set->sections[i];
			if ((int)s->kind != kind)
				continue;
			if (kind == SECTION_APP && (!exe || strcmp(s->name, exe) != 0))
				continue;
			apply(out, s);
			if (applied)
				note_applied(applied, applied_size, s);
		}
	}
	if (host && policy_canonical_host(host, canonical, sizeof canonical) == 0)
		by_name = host_section(set, canonical);
	if (address_name(peer, address, sizeof address) == 0)
		by_address = host_section(set, address);
	/* The address the connection goes to has the last word. */
	if (by_name && by_name != by_address) {
		apply(out, by_name);
		if (applied)
			note_applied(applied, applied_size, by_name);
	}
	if (by_address && by_address->name[0] != '*') {
		apply(out, by_address);
		if (applied)
			note_applied(applied, applied_size, by_address);
	}
}

int policy_set_foreach(const struct policy_set *set,
		       int (*fn)(const char *section, const struct policy *p, void *user), void *user)
{
	bool have_defaults = false;
	char label[512];
	struct policy p;
	int r;

	/* Each section as the connections it matches see it; [defaults] also
	 * when no file has one. */
	for (size_t i = 0; i <= set->n; i++) {
		const struct section *s = i < set->n ? &set->sections[i] : NULL;
		if (s && s->kind == SECTION_DEFAULTS)
			have_defaults = true;
		if (!s && have_defaults)
			break;
		policy_resolve(set, s && s->kind == SECTION_APP ? s->name : NULL,
			       s && s->kind == SECTION_HOST ? s->name : NULL, NULL, &p, NULL, 0);
		if (!s || s->kind == SECTION_DEFAULTS)
			snprintf(label, sizeof label, "defaults");
		else
			snprintf(label, sizeof label, "%s %s", s->kind == SECTION_APP ? "app" : "host", s->name);
		if ((r = fn(label, &p, user)) != 0)
			return r;
	}
	return 0;
}

static int print_section(const char *section, const struct policy *p, void *user)
{
	static const char *const versions[] = { "1.0", "1.1", "1.2", "1.3" };
	static const char *const ocsp[] = { "ignore", "verify", "require" };
	static const char *const app_trust[] = { "add", "replace", "deny" };
	FILE *f = user;

	fprintf(f, "[%s]\n", section);
	fprintf(f, "min-version = %s\nmax-version = %s\npriority = %s\ntrust-store = %s\n"
		   "app-trust-store = %s\nocsp-stapling = %s\n",
		versions[p->min_version], versions[p->max_version], p->priority ? p->priority : "@SYSTEM",
		p->trust_store, app_trust[p->app_trust_store], ocsp[p->ocsp_stapling]);
	if (p->pins)
		fprintf(f, "pin = %s\n", p->pins);
	fprintf(f, "session-resumption = %s\nconnect-timeout = %u\nhandshake-timeout = %u\n"
		   "truncation = %s\nallow = %s\n",
		p->session_resumption ? "yes" : "no", p->connect_timeout, p->handshake_timeout,
		p->truncation_eof ? "eof" : "error", p->allow ? "yes" : "no");
	if (strcmp(section, "defaults") == 0)
		fprintf(f, "user-connection-limit = %u\n", p->user_connection_limit);
	fputc('\n', f);
	return 0;
}

void policy_set_print(const struct policy_set *set, FILE *f)
{
	policy_set_foreach(set, print_section, f);
}
