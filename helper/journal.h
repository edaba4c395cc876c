/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * journal.h: the one structured journal entry of each connection and each
 * listening socket (SPEC §5; the fields are listed in ssa-helper(8)).
 */
#ifndef SSA_JOURNAL_H
#define SSA_JOURNAL_H

#include <gnutls/gnutls.h>
#include <stdint.h>
#include <sys/socket.h>

#include "job.h"
#include "relay.h"

/* What a role adds to its job for the entry.  Pointers may be NULL. */
struct journal_entry {
	const char *role;                   /* "client", "server" or "listener" */
	const char *peer_name;              /* SNI: the name asked for (server) or given (client) */
	const struct sockaddr *peer, *local;/* addresses, or NULL */
	gnutls_session_t session;           /* for the version and the suite, or NULL */
	int err;                            /* the errno reported (positive), or 0 */
	const char *outcome;                /* how it ended, when err is 0 */
	const struct relay_result *relay;   /* bytes each way, or NULL */
};

/* Write the entry of job `j`: LOG_WARNING when it failed (err, or a relay
 * that ended in error), else LOG_INFO. */
void journal_log(const struct job *j, const struct journal_entry *e);

#endif /* SSA_JOURNAL_H */
