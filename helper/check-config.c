/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* check-config.c: ssa-helper --check-config (check-config.h). */
#include "check-config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy.h"
#include "trust-index.h"

/* What --check-config reports the merged policy against. */
struct merged_check {
	const char *dir;
	int problems;
	bool system_store;      /* a section uses trust-store = system */
};

/*
 * Why a [host] section's name (canonical: policy_canonical_host()) can never
 * match a connection whose peer validates, or NULL if it can: a name no
 * certificate can hold (RFC 1123 §2.1 letters, digits, hyphens and dots,
 * labels of 1 to 63, at most 253 in all; '_' tolerated as some names have
 * it), an address that is not one, or a wildcard over an address.
 */
static const char *host_never_matches(const char *name)
{
	const char *labels = strncmp(name, "*.", 2) == 0 ? name + 2 : name;
	size_t label = 0, n = strlen(labels);
	unsigned char addr[sizeof(struct in6_addr)];
	bool numeric;

	if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
		return NULL;
	if (strchr(name, ':'))
		return "not a host name nor an IPv6 address (a port does not belong in it)";
	if (n == 0 || n > 253)
		return "longer than a host name can be (253)";
	for (const char *c = labels; *c; c++) {
		if (*c == '.') {
			if (label == 0)
				return "an empty label";
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
			return "a character no host name has";
		if (++label > 63)
			return "a label longer than 63 characters";
	}
	/* An all-numeric last label is no DNS name (RFC 3696 §2): a malformed
	 * address, or a wildcard over one, which certificates cannot hold. */
	const char *last = strrchr(labels, '.');
	last = last ? last + 1 : labels;
	numeric = *last != '\0';
	for (const char *c = last; *c; c++)
		numeric &= isdigit((unsigned char)*c) != 0;
	if (numeric && labels != name)
		return "a wildcard over an address";
	if (numeric && strchr(labels, '.'))
		return "not an IPv4 address, and not a host name either";
	return NULL;
}

/* What only the merged policy shows: a section whose versions leave
 * nothing, a priority string GnuTLS refuses, a trust store that is not
 * there.  Prints each problem and counts it. */
static int check_merged(const char *section, const struct policy *p, void *user)
{
	struct merged_check *mc = user;
	const char *err_pos = NULL, *why;
	gnutls_priority_t prio;
	struct stat st;

	/* A warning, not an error: the section is harmless, only useless. */
	if (strncmp(section, "host ", 5) == 0 && (why = host_never_matches(section + 5)))
		fprintf(stderr, "%s: warning: [%s] can never match a connection: %s\n", mc->dir, section, why);

	if (p->min_version > p->max_version) {
		fprintf(stderr, "%s: [%s]: min-version is above max-version once the sections are merged\n",
			mc->dir, section);
		mc->problems++;
	}
	if (p->priority) {
		if (gnutls_priority_init(&prio, p->priority, &err_pos) < 0) {
			fprintf(stderr, "%s: [%s] key 'priority': GnuTLS refuses '%s' at '%s'\n", mc->dir, section,
				p->priority, err_pos ? err_pos : "?");
			mc->problems++;
		} else {
			gnutls_priority_deinit(prio);
		}
	}
	if (strcmp(p->trust_store, "system") == 0)
		mc->system_store = true;
	else if (stat(p->trust_store, &st) < 0) {
		fprintf(stderr, "%s: [%s] key 'trust-store': %s: %s\n", mc->dir, section, p->trust_store,
			strerror(errno));
		mc->problems++;
	}
	return 0;
}

/* Whether helpers find the anchors of trust-store = system through the
 * trust index, as a comment: no error either way (without a fresh index
 * a helper loads the whole bundle). */
static void print_trust_index(void)
{
	const char *index = trust_index_path(), *bundle = trust_bundle_path();
	char why[512];
	unsigned n = 0;

	if (trust_index_check(index, bundle, &n, why, sizeof why) == 0)
		printf("# trust-store = system: trust index %s is fresh: %u anchors of %s\n", index, n, bundle);
	else
		printf("# trust-store = system: %s; a helper the supervisor did not preload loads the whole "
		       "bundle\n", why);
}

/* ssa-helper --check-config: every file and key, then the merged policy;
 * prints it and returns 0, or the messages and 1. */
int check_config(const char *dir)
{
	struct merged_check mc = { .dir = dir };
	struct policy_set *set;
	char *error = NULL;
	int r = policy_set_load(dir, &set, &error);

	if (r < 0) {
		fprintf(stderr, "%s\n", error ? error : strerror(-r));
		free(error);
		return 1;
	}
	policy_set_foreach(set, check_merged, &mc);
	if (mc.problems) {
		policy_set_free(set);
		return 1;
	}
	printf("# effective policy from %s/*.ini\n", dir);
	if (mc.system_store)
		print_trust_index();
	policy_set_print(set, stdout);
	policy_set_free(set);
	return 0;
}

