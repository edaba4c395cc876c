/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-watch.h: the policy parsed once by a standalone process that forks
 * helpers (the fork server, a listener; SPEC §5), for the helpers it forks.
 *
 * The process parses the policy directory once and watches it with
 * inotify(7), as the service's supervisor does; before it hands a
 * connection to a helper it reads the watch, and parses the directory
 * again if a file in it changed, so a change made before a connection
 * applies to that connection.  The parsed policy reaches its helpers
 * through job_preload_policy() (job.h): they do not read the files.
 * Without a watch (inotify unavailable, no such directory), nothing is
 * preloaded and every helper reads the files itself, as before.
 *
 * A watch belongs to one process: the events it reads are gone for any
 * other holder of the descriptor, so a forked child closes its copy
 * (policy_watch_forget()) and starts its own if it needs one.
 */
#ifndef SSA_POLICY_WATCH_H
#define SSA_POLICY_WATCH_H

#include <stdbool.h>
#include <sys/inotify.h>

/* The inotify(7) events that change a policy directory (the supervisor
 * watches its directory for the same). */
#define POLICY_WATCH_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_ATTRIB)

/* Start watching policy_dir() (policy.h) and parse it; a watch this
 * process inherited is let go first.  0, or -errno of inotify(7) (then
 * nothing is preloaded). */
int policy_watch_start(void);

/* Before a connection is handed over: parse the directory again if the
 * watch saw a change.  True if it did (a helper forked before now holds
 * the old policy). */
bool policy_watch_refresh(void);

/* In a forked child: close the inherited watch, keeping the policy it
 * parsed (the child's copy), which still reaches job_policy(). */
void policy_watch_forget(void);

#endif /* SSA_POLICY_WATCH_H */
