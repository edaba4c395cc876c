/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-tighten: the rule "tighten, never loosen" (common/tighten.h), the
 * same function the shim calls at setsockopt() and the helper at connect().
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "tap.h"
#include "tighten.h"

static char why[512];

/* Tighten the default policy by `req`: the result, policy in *p. */
static int tighten(struct policy *p, const struct ssa_request *req)
{
	why[0] = '\0';
	policy_defaults(p);
	return ssa_tighten(p, req, "defaults", why, sizeof why);
}

int main(void)
{
	struct ssa_request req;
	struct policy p;

	ssa_request_init(&req, SSA_MSG_CONNECT);
	ok(tighten(&p, &req) == 0 && p.min_version == TLS_1_2 && p.max_version == TLS_1_3,
	   "no option: the policy's versions (1.2 to 1.3) stand");

	req.version_min = TLS_1_3;
	ok(tighten(&p, &req) == 0 && p.min_version == TLS_1_3, "TLS_VERSION_MIN 1.3 raises the minimum");

	req.version_min = TLS_1_0;
	ok(tighten(&p, &req) == -EPERM && strstr(why, "TLS_VERSION_MIN") && strstr(why, "min-version"),
	   "TLS_VERSION_MIN 1.0 below min-version 1.2: EPERM naming both (%s)", why);

	ssa_request_init(&req, SSA_MSG_CONNECT);
	req.version_max = TLS_1_2;
	ok(tighten(&p, &req) == 0 && p.max_version == TLS_1_2, "TLS_VERSION_MAX 1.2 lowers the maximum");

	policy_defaults(&p);
	p.max_version = TLS_1_2;
	req.version_max = TLS_1_3;
	ok(ssa_tighten(&p, &req, "defaults", why, sizeof why) == -EPERM && strstr(why, "max-version"),
	   "TLS_VERSION_MAX 1.3 above max-version 1.2: EPERM");

	ssa_request_init(&req, SSA_MSG_CONNECT);
	policy_defaults(&p);
	p.max_version = TLS_1_2;
	req.version_min = TLS_1_3;
	ok(ssa_tighten(&p, &req, "host x", why, sizeof why) == -EINVAL && strstr(why, "no TLS version"),
	   "TLS_VERSION_MIN 1.3 with max-version 1.2 leaves nothing: EINVAL");

	ssa_request_init(&req, SSA_MSG_CONNECT);
	req.session_reuse = 1;
	policy_defaults(&p);
	p.session_resumption = false;
	ok(ssa_tighten(&p, &req, "defaults", why, sizeof why) == -EPERM && strstr(why, "session-resumption = no"),
	   "TLS_SESSION_REUSE 1 where session-resumption = no: EPERM");
	req.session_reuse = 0;
	ok(ssa_tighten(&p, &req, "defaults", why, sizeof why) == 0, "TLS_SESSION_REUSE 0 is always a tightening");

	ssa_request_init(&req, SSA_MSG_CONNECT);
	req.revocation_checks = 0;
	ok(tighten(&p, &req) == -EPERM && strstr(why, "TLS_REVOCATION_CHECKS") && strstr(why, "ocsp-stapling = verify"),
	   "TLS_REVOCATION_CHECKS 0 where ocsp-stapling = verify: EPERM naming the key (%s)", why);
	req.revocation_checks = -1;
	req.ocsp_stapled_checks = 0;
	policy_defaults(&p);
	p.ocsp_stapling = POLICY_OCSP_IGNORE;
	ok(ssa_tighten(&p, &req, "defaults", why, sizeof why) == 0,
	   "TLS_OCSP_STAPLED_CHECKS 0 where ocsp-stapling = ignore: allowed");
	p.ocsp_stapling = POLICY_OCSP_REQUIRE;
	ok(ssa_tighten(&p, &req, "defaults", why, sizeof why) == -EPERM && strstr(why, "require"),
	   "TLS_OCSP_STAPLED_CHECKS 0 where ocsp-stapling = require: EPERM");

	ssa_request_init(&req, SSA_MSG_CONNECT);
	req.trust_file = true;
	ok(tighten(&p, &req) == 0, "TLS_TRUSTED_PEER_CERTIFICATES where app-trust-store = add: allowed");
	policy_defaults(&p);
	p.app_trust_store = POLICY_APP_TRUST_DENY;
	ok(ssa_tighten(&p, &req, "host deny.test", why, sizeof why) == -EPERM &&
		   strstr(why, "app-trust-store = deny") && strstr(why, "host deny.test"),
	   "TLS_TRUSTED_PEER_CERTIFICATES where app-trust-store = deny: EPERM naming the section");
	return tap_done();
}
