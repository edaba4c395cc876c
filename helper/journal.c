/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* journal.c: one journal entry per connection (journal.h). */
#include "journal.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <systemd/sd-journal.h>

#include "peer-connect.h"
#include "ssa-io.h"
#include "tls-session.h"

void journal_log(const struct job *j, const struct journal_entry *e)
{
	char peer[80] = "", local[80] = "", id[32], what[384];
	const char *why = e->err ? j->reason : e->outcome ? e->outcome : "ok";
	const char *name = e->peer_name ? e->peer_name : "";
	bool failed = e->err != 0 || (e->relay && e->relay->error);

	if (e->peer)
		sockaddr_format(e->peer, peer, sizeof peer);
	if (e->local)
		sockaddr_format(e->local, local, sizeof local);
	snprintf(id, sizeof id, "%016llx", (unsigned long long)j->id);
	if (strcmp(e->role, "listener") == 0)
		snprintf(what, sizeof what, "TLS listening socket %s on %s", id, local[0] ? local : "?");
	else if (strcmp(e->role, "server") == 0)
		snprintf(what, sizeof what, "TLS connection %s from %s to %s (SNI %s)", id, peer[0] ? peer : "?",
			 local[0] ? local : "?", name[0] ? name : "none");
	else
		snprintf(what, sizeof what, "TLS connection %s to %s (%s)", id, name[0] ? name : "?",
			 peer[0] ? peer : "not connected");
	sd_journal_send("MESSAGE=%s%s: %s", what,
			e->session && gnutls_session_is_resumed(e->session) ? " (resumed)" : "", why,
			"PRIORITY=%d", failed ? LOG_WARNING : LOG_INFO,
			"SYSLOG_IDENTIFIER=ssa-helper",
			"SSA_ID=%s", id,
			"SSA_ROLE=%s", e->role,
			"SSA_PEER_NAME=%s", name,
			"SSA_PEER_ADDRESS=%s", peer,
			"SSA_LOCAL_ADDRESS=%s", local,
			"SSA_EXE=%s", j->exe,
			"SSA_EXE_VERIFIED=%s", j->exe_verified ? "yes" : "no",
			"SSA_PID=%d", (int)j->cred.pid,
			"SSA_UID=%u", (unsigned)j->cred.uid,
			"SSA_GID=%u", (unsigned)j->cred.gid,
			"SSA_POLICY=%s", j->sections,
			"SSA_VERSION=%s", e->session ? tls_session_version_name(e->session) : "",
			"SSA_CIPHER=%s", e->session ? tls_session_cipher_name(e->session) : "",
			"SSA_RESUMED=%s", e->session && gnutls_session_is_resumed(e->session) ? "yes" : "no",
			"SSA_RESULT=%s", e->err ? strerrorname_np(e->err) : "ok",
			"SSA_REASON=%s", e->err ? j->reason : e->outcome ? e->outcome : "",
			"SSA_BYTES_SENT=%llu", (unsigned long long)(e->relay ? e->relay->bytes_to_peer : 0),
			"SSA_BYTES_RECEIVED=%llu", (unsigned long long)(e->relay ? e->relay->bytes_to_app : 0),
			"SSA_DURATION_USEC=%lld", (long long)(ssa_now_ms() - j->start_ms) * 1000,
			NULL);
}
