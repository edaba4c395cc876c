/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* tighten.c: tighten, never loosen (tighten.h). */
#include "tighten.h"

#include <errno.h>
#include <stdio.h>

const char *ssa_version_name(int version)
{
	static const char *const names[] = { "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3" };

	return version >= TLS_1_0 && version <= TLS_1_3 ? names[version] : "?";
}

int ssa_tighten(struct policy *p, const struct ssa_request *req, const char *sections, char *why,
		size_t why_size)
{
	if (req->version_min >= 0) {
		if (req->version_min < p->min_version) {
			snprintf(why, why_size, "TLS_VERSION_MIN %s is below the policy's min-version %s (%s)",
				 ssa_version_name(req->version_min), ssa_version_name(p->min_version), sections);
			return -EPERM;
		}
		p->min_version = req->version_min;
	}
	if (req->version_max >= 0) {
		if (req->version_max > p->max_version) {
			snprintf(why, why_size, "TLS_VERSION_MAX %s is above the policy's max-version %s (%s)",
				 ssa_version_name(req->version_max), ssa_version_name(p->max_version), sections);
			return -EPERM;
		}
		p->max_version = req->version_max;
	}
	if (req->session_reuse == 1 && !p->session_resumption) {
		snprintf(why, why_size, "TLS_SESSION_REUSE refused: session-resumption = no (%s)", sections);
		return -EPERM;
	}
	if ((req->revocation_checks == 0 || req->ocsp_stapled_checks == 0) && p->ocsp_stapling != POLICY_OCSP_IGNORE) {
		snprintf(why, why_size, "%s = 0 refused: the policy checks stapled OCSP responses "
			 "(ocsp-stapling = %s, %s)",
			 req->revocation_checks == 0 ? "TLS_REVOCATION_CHECKS" : "TLS_OCSP_STAPLED_CHECKS",
			 p->ocsp_stapling == POLICY_OCSP_REQUIRE ? "require" : "verify", sections);
		return -EPERM;
	}
	if (req->trust_file && p->app_trust_store == POLICY_APP_TRUST_DENY) {
		snprintf(why, why_size, "TLS_TRUSTED_PEER_CERTIFICATES refused: app-trust-store = deny (%s)", sections);
		return -EPERM;
	}
	if (p->min_version > p->max_version) {
		snprintf(why, why_size, "no TLS version is left between %s and %s (%s)", ssa_version_name(p->min_version),
			 ssa_version_name(p->max_version), sections);
		return -EINVAL;
	}
	return 0;
}
