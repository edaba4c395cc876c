/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * supervisor.h: the service, ssa-helper.service behind ssa-helper.socket
 * (Accept=no, SPEC §5).
 *
 * The supervisor loads GnuTLS, the policy and its trust anchors once, then
 * accepts each connection to /run/ssa/helper.sock and hands it to one
 * helper, forked ahead of it (spare.h): the child drops every capability
 * and becomes non-dumpable as soon as it is forked, before any connection
 * exists, then serves its connection alone (job.h) and exits; the next
 * one is forked while it works, and again after each reload.  The
 * supervisor:
 *
 *   - verifies each client's identity first (identity.h: the executable of
 *     the SO_PEERCRED pid, held by a pidfd), with the one privilege it
 *     keeps, CAP_SYS_PTRACE, and tells the child whether the client is a
 *     listener it started (only those may send ACCEPT requests);
 *   - counts live helpers per uid and refuses a client over the policy's
 *     user-connection-limit with ENOBUFS (the service's own listeners are
 *     not counted twice);
 *   - reloads policy and anchors on SIGHUP (systemctl reload) and when
 *     their files change (inotify(7)); a broken new policy refuses every
 *     connection with ECANCELED until it is fixed, never half applied;
 *   - reaps its children, and if one died by a signal, executes itself
 *     afresh with the listening socket, so that no two helpers of a
 *     crashing series share an address-space layout;
 *   - exits after a while without connections or children; systemd starts
 *     it again on the next connection.
 */
#ifndef SSA_SUPERVISOR_H
#define SSA_SUPERVISOR_H

#include "identity.h"

/*
 * Serve one connection in a forked child: `ctl` is the connection, `id`
 * its verified identity; a `refuse` errno other than 0 means refuse the
 * request with that errno and `why`.  Must not return to the supervisor's
 * loop: the child exits after it.
 */
typedef void supervisor_serve_fn(int ctl, const struct identity *id, int refuse, const char *why);

/*
 * Run the service on listening socket `listen_fd` (from systemd), until it
 * has been idle a while or is told to stop.  `argv` is the program's, for
 * executing it again.  Returns the exit status.
 */
int supervisor_run(int listen_fd, char **argv, supervisor_serve_fn *serve);

#endif /* SSA_SUPERVISOR_H */
