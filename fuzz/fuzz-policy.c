/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-policy: the policy reader (common/policy.h) on any files.  The input
 * is written into a private directory as one or two .ini files: the bytes
 * before the first FUZZ_POLICY_SPLIT (0x1e, ASCII record separator) are
 * 10-first.ini, the bytes after it, if there is one, 20-second.ini (read in
 * that order, the second overriding the first).
 *
 * policy_set_load() must give 0 and a set, or -EINVAL / -ENOMEM with a
 * message (-EINVAL always with one).  A set is resolved for a few fixed
 * programs, names and addresses and for the name of every section it has
 * (and a name under each [host *.domain]), each result within the ranges
 * of policy.h and its list of applied sections a string of its buffer
 * (also a tiny one); it is printed to /dev/null and freed.  Leaks are
 * LeakSanitizer's to report.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "in_tls.h"
#include "policy.h"

#define FUZZ_POLICY_SPLIT 0x1e

#define check(cond)                                                                                  \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[4096];
static char path1[4200], path2[4200];
static FILE *devnull;

static void remove_dir(void)
{
	unlink(path1);
	unlink(path2);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof dir, "%s/fuzz-policy.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path1, sizeof path1, "%s/10-first.ini", dir);
	snprintf(path2, sizeof path2, "%s/20-second.ini", dir);
	atexit(remove_dir);
	devnull = fopen("/dev/null", "we");
	if (!devnull) {
		perror("/dev/null");
		exit(1);
	}
	return 0;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		perror(path);
		abort();
	}
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0) {
			perror(path);
			abort();
		}
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Field by field (struct policy has padding). */
static bool policy_eq(const struct policy *a, const struct policy *b)
{
	return a->min_version == b->min_version && a->max_version == b->max_version &&
	       str_eq(a->priority, b->priority) && str_eq(a->trust_store, b->trust_store) &&
	       a->app_trust_store == b->app_trust_store && a->ocsp_stapling == b->ocsp_stapling &&
	       str_eq(a->pins, b->pins) && a->session_resumption == b->session_resumption &&
	       a->connect_timeout == b->connect_timeout && a->handshake_timeout == b->handshake_timeout &&
	       a->truncation_eof == b->truncation_eof && a->allow == b->allow &&
	       a->user_connection_limit == b->user_connection_limit;
}

/* policy_resolve() and the ranges of what it gives. */
static void resolve(const struct policy_set *set, const char *exe, const char *host, const struct sockaddr *peer)
{
	char applied[256], tiny[7];
	struct policy p, q;

	memset(applied, 'x', sizeof applied);
	policy_resolve(set, exe, host, peer, &p, applied, sizeof applied);
	check(memchr(applied, '\0', sizeof applied));
	check(p.min_version >= TLS_1_0 && p.min_version <= TLS_1_3);
	check(p.max_version >= TLS_1_0 && p.max_version <= TLS_1_3);
	check(p.trust_store && (strcmp(p.trust_store, "system") == 0 || p.trust_store[0] == '/'));
	check(!p.priority || p.priority[0]);
	check(p.app_trust_store >= POLICY_APP_TRUST_ADD && p.app_trust_store <= POLICY_APP_TRUST_DENY);
	check(p.ocsp_stapling >= POLICY_OCSP_IGNORE && p.ocsp_stapling <= POLICY_OCSP_REQUIRE);
	check(p.connect_timeout >= 1 && p.connect_timeout <= 3600);
	check(p.handshake_timeout >= 1 && p.handshake_timeout <= 3600);
	check(p.user_connection_limit >= 1 && p.user_connection_limit <= 1000000);
	if (p.pins)
		check(strncmp(p.pins, "sha256/", 7) == 0);

	/* The same without the list, and with a list cut short. */
	policy_resolve(set, exe, host, peer, &q, NULL, 0);
	check(policy_eq(&p, &q));
	memset(tiny, 'x', sizeof tiny);
	policy_resolve(set, exe, host, peer, &q, tiny, sizeof tiny);
	check(memchr(tiny, '\0', sizeof tiny));
	check(strncmp(tiny, applied, strlen(tiny)) == 0);
	check(policy_eq(&p, &q));
}

/* A socket address for the literal s, if it is one. */
static const struct sockaddr *literal(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		return (struct sockaddr *)ss;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		return (struct sockaddr *)ss;
	}
	return NULL;
}

/* For each section (policy_set_foreach()): resolve for its name. */
static int each_section(const char *section, const struct policy *p, void *user)
{
	const struct policy_set *set = user;
	struct sockaddr_storage ss;
	char canonical[256], small[8], under[300];

	check(p->min_version >= TLS_1_0 && p->min_version <= TLS_1_3);
	check(p->max_version >= TLS_1_0 && p->max_version <= TLS_1_3);
	if (strncmp(section, "app ", 4) == 0) {
		check(section[4] == '/');
		resolve(set, section + 4, NULL, NULL);
		resolve(set, section + 4, "example.com", NULL);
	} else if (strncmp(section, "host ", 5) == 0) {
		const char *name = section + 5;
		check(name[0] && !strchr(name, ' '));
		if (policy_canonical_host(name, canonical, sizeof canonical) == 0)
			check(strlen(canonical) < sizeof canonical);
		if (policy_canonical_host(name, small, sizeof small) == 0)
			check(strlen(small) < sizeof small);
		resolve(set, "/usr/bin/prog", name, literal(name, &ss));
		resolve(set, NULL, NULL, literal(name, &ss));
		if (name[0] == '*') {
			/* A name under the wildcard, and the bare domain. */
			snprintf(under, sizeof under, "a%s", name + 1);
			resolve(set, NULL, under, NULL);
			resolve(set, NULL, name + 2, NULL);
		} else {
			/* Spelled differently: upper case, a trailing dot. */
			snprintf(under, sizeof under, "%s.", name);
			for (char *c = under; *c; c++)
				if (*c >= 'a' && *c <= 'z')
					*c = (char)(*c - 'a' + 'A');
			resolve(set, NULL, under, NULL);
		}
	} else {
		check(strcmp(section, "defaults") == 0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *split = memchr(data, FUZZ_POLICY_SPLIT, size);
	struct policy_set *set = NULL;
	char *error = NULL;
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(443) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	int r;

	write_file(path1, data, split ? (size_t)(split - data) : size);
	if (split)
		write_file(path2, split + 1, size - (size_t)(split - data) - 1);
	else
		unlink(path2);

	r = policy_set_load(dir, &set, &error);
	if (r < 0) {
		check(r == -EINVAL || r == -ENOMEM);
		if (r == -EINVAL)
			check(error && error[0]);
		free(error);
		return 0;
	}
	check(r == 0 && set && !error);

	inet_pton(AF_INET, "192.0.2.1", &a4.sin_addr);
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &a6.sin6_addr);
	resolve(set, NULL, NULL, NULL);
	resolve(set, "", "", NULL);
	resolve(set, "/usr/bin/curl", "www.example.com", (struct sockaddr *)&a4);
	resolve(set, "/usr/bin/prog", "EXAMPLE.COM.", (struct sockaddr *)&a6);
	resolve(set, NULL, "192.0.2.1", NULL);
	resolve(set, NULL, "2001:DB8::1", NULL);
	resolve(set, NULL, "a.b.c.example.org", NULL);
	check(policy_set_foreach(set, each_section, set) == 0);
	policy_set_print(set, devnull);
	check(!ferror(devnull));
	policy_set_free(set);
	return 0;
}
