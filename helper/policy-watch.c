/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* policy-watch.c: the policy parsed once, watched (policy-watch.h). */
#include "policy-watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "job.h"
#include "policy.h"

static struct {
	int fd;                      /* the inotify descriptor, or -1 */
	struct policy_set *set;      /* the parsed policy, or NULL */
	char *error;                 /* why it is broken, or NULL */
} watch = { .fd = -1 };

/* Parse the directory (again), replacing the policy only whole. */
static void parse(void)
{
	struct policy_set *set = NULL;
	char *error = NULL;
	int r = policy_set_load(policy_dir(), &set, &error);

	policy_set_free(watch.set);
	free(watch.error);
	watch.set = r == 0 ? set : NULL;
	watch.error = r == 0 ? NULL : (error ? error : strdup(strerror(-r)));
	job_preload_policy(watch.set, watch.error);
}

int policy_watch_start(void)
{
	int r;

	/* A policy inherited with a watch may be in use by this process's
	 * own job: it is left as it is, not freed. */
	policy_watch_forget();
	watch.set = NULL;
	watch.error = NULL;
	watch.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (watch.fd < 0)
		return -errno;
	/* Watched before it is read: a change after this is seen. */
	if (inotify_add_watch(watch.fd, policy_dir(), POLICY_WATCH_EVENTS) < 0) {
		r = -errno;
		close(watch.fd);
		watch.fd = -1;
		return r;
	}
	parse();
	return 0;
}

bool policy_watch_refresh(void)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;

	if (watch.fd < 0)
		return false;
	while (read(watch.fd, buf, sizeof buf) > 0)
		changed = true;
	if (changed)
		parse();
	return changed;
}

void policy_watch_forget(void)
{
	if (watch.fd >= 0)
		close(watch.fd);
	watch.fd = -1;
}
