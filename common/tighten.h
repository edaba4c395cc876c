/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tighten.h: the rule "an application may tighten the administrator's
 * policy, never loosen it" (SPEC §2), in one place.
 *
 * The helper applies it at connect() and listen(), with the policy of the
 * final host name, and that is the verdict that counts.  The shim applies
 * it at setsockopt() too, with the policy it can resolve then (no [host]
 * section before TLS_HOSTNAME), so that an option that loosens the policy
 * fails at once with EPERM.
 */
#ifndef SSA_TIGHTEN_H
#define SSA_TIGHTEN_H

#include <stddef.h>

#include "policy.h"
#include "ssa-msg.h"

/*
 * Narrow policy `p` by the options of `req`: TLS_VERSION_MIN and
 * TLS_VERSION_MAX within the policy's versions, TLS_SESSION_REUSE only
 * where session-resumption allows it, TLS_REVOCATION_CHECKS and
 * TLS_OCSP_STAPLED_CHECKS off only where ocsp-stapling = ignore, and
 * TLS_TRUSTED_PEER_CERTIFICATES not where app-trust-store = deny.
 * `sections` names the policy's sections, for the reason.
 *
 * Returns 0 with p's versions narrowed; -EPERM (an option loosens the
 * policy) or -EINVAL (no version is left between the two bounds), with the
 * reason in why[0..why_size).  (TLS_ENABLE_CIPHER needs GnuTLS to judge:
 * the helper checks it, tls-session.h.)
 */
int ssa_tighten(struct policy *p, const struct ssa_request *req, const char *sections, char *why,
		size_t why_size);

/* "TLS 1.2" for TLS_1_2, "?" out of range. */
const char *ssa_version_name(int version);

#endif /* SSA_TIGHTEN_H */
