/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* check-config.c: ssa-helper --check-config (check-config.h). */
#include "check-config.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy.h"

/* What --check-config reports the merged policy against. */
struct merged_check {
	const char *dir;
	int problems;
};

/* What only the merged policy shows: a section whose versions leave
 * nothing, a priority string GnuTLS refuses, a trust store that is not
 * there.  Prints each problem and counts it. */
static int check_merged(const char *section, const struct policy *p, void *user)
{
	struct merged_check *mc = user;
	const char *err_pos = NULL;
	gnutls_priority_t prio;
	struct stat st;

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
	if (strcmp(p->trust_store, "system") != 0 && stat(p->trust_store, &st) < 0) {
		fprintf(stderr, "%s: [%s] key 'trust-store': %s: %s\n", mc->dir, section, p->trust_store,
			strerror(errno));
		mc->problems++;
	}
	return 0;
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
	policy_set_print(set, stdout);
	policy_set_free(set);
	return 0;
}

