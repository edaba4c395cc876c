/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.h: the administrator's TLS policy, the *.ini files of /etc/ssa (SPEC §4).
 *
 * Every *.ini directly in the policy directory is read with inih in lexical
 * order; a later file overrides keys of the same section.  Sections:
 * [defaults], [app /path/to/exe], [host name] and [host *.domain];
 * precedence defaults < app < host.  Keys not set anywhere take the
 * compiled-in defaults of policy_init().
 */
#ifndef SSA_POLICY_H
#define SSA_POLICY_H

#include <stdbool.h>
#include <stddef.h>

enum policy_ocsp { POLICY_OCSP_IGNORE, POLICY_OCSP_VERIFY, POLICY_OCSP_REQUIRE };
enum policy_app_trust { POLICY_APP_TRUST_ADD, POLICY_APP_TRUST_REPLACE, POLICY_APP_TRUST_DENY };

/* The effective policy of one connection.  Strings are owned by the
 * policy_set it was resolved from. */
struct policy {
	int min_version, max_version;   /* TLS_1_0 .. TLS_1_3 */
	const char *priority;           /* GnuTLS priority string; NULL: @SYSTEM, else NORMAL */
	const char *trust_store;        /* "system", or a PEM file or directory */
	enum policy_app_trust app_trust_store;
	enum policy_ocsp ocsp_stapling;
	const char *pins;               /* space-separated sha256/BASE64, or NULL */
	bool session_resumption;
	unsigned connect_timeout;       /* seconds */
	unsigned handshake_timeout;     /* seconds */
	bool truncation_eof;            /* truncation = eof */
	bool allow;
	unsigned user_connection_limit; /* [defaults] only: live helpers of one uid */
};

/* The compiled-in defaults of every key (SPEC §4). */
void policy_defaults(struct policy *p);

/* All sections of all files, as parsed. */
struct policy_set;

/* Where the socket-activated service listens (ssa-helper.socket). */
#define SSA_HELPER_SOCKET_DEFAULT "/run/ssa/helper.sock"

/*
 * The environment variable `name` (SSA_HELPER_SOCKET, SSA_HELPER_PATH,
 * SSA_CONFIG_DIR) if it may count (SPEC §1): only where no helper service
 * is installed (SSA_HELPER_SOCKET_DEFAULT does not exist), and never in a
 * set-uid or set-gid program (secure_getenv(3)).  NULL otherwise, or if
 * unset or empty.
 */
const char *ssa_env_override(const char *name);

/* The policy directory: $SSA_CONFIG_DIR where ssa_env_override() lets it
 * count, else SYSCONFDIR/ssa. */
const char *policy_dir(void);

/*
 * Read every *.ini of `dir` (a missing directory is an empty policy).
 * Returns 0 and a set the caller frees with policy_set_free(); or -EINVAL
 * with *error a malloc'd message naming file, line and key (the first
 * error; the caller frees it), -ENOMEM, or -errno of reading the directory.
 */
int policy_set_load(const char *dir, struct policy_set **set, char **error);
void policy_set_free(struct policy_set *set);

/*
 * The policy for a connection of program `exe` (may be NULL or "") to host
 * name `host` (may be NULL) at address `peer` (AF_INET or AF_INET6, may be
 * NULL): the defaults, then the matching [app], then the [host] section of
 * the name in canonical form (policy_canonical_host(): an exact name before
 * the longest matching *.domain), then the [host] section of the peer's
 * address, which has the last word (SPEC §4).  `applied` (may be NULL)
 * receives the names of the sections used, space-separated, in
 * applied[0..applied_size).
 */
struct sockaddr;
void policy_resolve(const struct policy_set *set, const char *exe, const char *host, const struct sockaddr *peer,
		    struct policy *out, char *applied, size_t applied_size);

/*
 * The canonical form of a host name, as [host] sections are matched (SPEC
 * §4): lower case without a trailing dot, and an IPv4 or IPv6 literal in
 * its standard text form (inet_ntop(3)).  Into out[0..size): 0, or
 * -ENAMETOOLONG.
 */
int policy_canonical_host(const char *name, char *out, size_t size);

/*
 * Call fn for every section with the policy a connection matching it gets
 * ("defaults", "app /x", "host y"), [defaults] also when no file has one;
 * stops at and returns fn's first nonzero result, else 0.
 */
int policy_set_foreach(const struct policy_set *set,
		       int (*fn)(const char *section, const struct policy *p, void *user), void *user);

/* Print the effective policy of every section as INI to `f`. */
#include <stdio.h>
void policy_set_print(const struct policy_set *set, FILE *f);

#endif /* SSA_POLICY_H */
