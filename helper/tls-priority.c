/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* tls-priority.c: GnuTLS priorities from the policy and the application's
 * cipher options (tls-priority.h). */
#include "tls-priority.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const version_mods[] = {
	"+VERS-TLS1.0", "+VERS-TLS1.1", "+VERS-TLS1.2", "+VERS-TLS1.3",
};

int tls_priority_build(const struct policy *p, const char *extra, gnutls_priority_t *out, char *why,
			  size_t why_size)
{
	const char *base = p->priority ? p->priority : "@SYSTEM";
	char prio[2048], *at;
	const char *err_pos = NULL;
	int n, r;

	for (int attempt = 0; attempt < 2; attempt++) {
		/* A priority string that names versions itself keeps them (the
		 * negotiated version is checked against min/max-version after
		 * the handshake either way); otherwise the keys decide. */
		bool own_versions = strstr(base, "VERS-") != NULL;
		n = snprintf(prio, sizeof prio, own_versions ? "%s" : "%s:-VERS-ALL", base);
		for (int v = p->max_version; !own_versions && v >= p->min_version && n > 0 && (size_t)n < sizeof prio; v--)
			n += snprintf(prio + n, sizeof prio - (size_t)n, ":%s", version_mods[v]);
		if (n > 0 && (size_t)n < sizeof prio)
			n += snprintf(prio + n, sizeof prio - (size_t)n, "%s", extra);
		if (n < 0 || (size_t)n >= sizeof prio) {
			snprintf(why, why_size, "policy: priority string too long");
			return -ECANCELED;
		}
		r = gnutls_priority_init(out, prio, &err_pos);
		if (r == GNUTLS_E_SUCCESS)
			return 0;
		if (!p->priority && attempt == 0) {
			base = "NORMAL"; /* this system defines no @SYSTEM */
			continue;
		}
		at = err_pos ? strndup(err_pos, 40) : NULL;
		snprintf(why, why_size, "policy: priority '%s' rejected by GnuTLS: %s%s%s", base,
			 gnutls_strerror(r), at ? " at " : "", at ? at : "");
		free(at);
		return -ECANCELED;
	}
	return -ECANCELED;
}

/* The bulk cipher of suite `name`: an IANA or GnuTLS suite name
 * (TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) or a
 * GnuTLS cipher name (AES-128-GCM); GNUTLS_CIPHER_UNKNOWN if none. */
static gnutls_cipher_algorithm_t suite_cipher(const char *name)
{
	gnutls_cipher_algorithm_t cipher;
	char plain[128];
	const char *w = strstr(name, "_WITH_");

	/* GnuTLS spells TLS 1.2 suites without IANA's "_WITH". */
	if (w && (size_t)(w - name) + strlen(w + 5) < sizeof plain)
		snprintf(plain, sizeof plain, "%.*s%s", (int)(w - name), name, w + 5);
	else
		snprintf(plain, sizeof plain, "%s", name);
	for (size_t i = 0;; i++) {
		const char *suite = gnutls_cipher_suite_info(i, NULL, NULL, &cipher, NULL, NULL);
		if (!suite)
			break;
		if (strcmp(suite, plain) == 0)
			return cipher;
	}
	return gnutls_cipher_get_id(name);
}

int tls_priority_cipher_modifiers(const struct policy *p, const char *const *off, size_t n_off,
				const char *const *on, size_t n_on, char *mods, size_t size, char *why,
				size_t why_size)
{
	gnutls_priority_t prio;
	const unsigned *allowed = NULL;
	int n_allowed, r;
	size_t used = 0;

	mods[0] = '\0';
	for (size_t i = 0; i < n_off; i++) {
		gnutls_cipher_algorithm_t c = suite_cipher(off[i]);
		if (c == GNUTLS_CIPHER_UNKNOWN) {
			snprintf(why, why_size, "TLS_DISABLE_CIPHER: unknown cipher suite %s", off[i]);
			return -EINVAL;
		}
		used += (size_t)snprintf(mods + used, size - used, ":-%s", gnutls_cipher_get_name(c));
		if (used >= size) {
			snprintf(why, why_size, "TLS_DISABLE_CIPHER: too many");
			return -EINVAL;
		}
	}
	if (n_on == 0)
		return 0;
	/* A suite may be enabled only if the policy allows its cipher. */
	if ((r = tls_priority_build(p, "", &prio, why, why_size)) < 0)
		return r;
	n_allowed = gnutls_priority_cipher_list(prio, &allowed);
	for (size_t i = 0; i < n_on && r == 0; i++) {
		gnutls_cipher_algorithm_t c = suite_cipher(on[i]);
		bool ok = false;
		for (int k = 0; k < n_allowed; k++)
			ok |= allowed[k] == (unsigned)c;
		if (c == GNUTLS_CIPHER_UNKNOWN) {
			snprintf(why, why_size, "TLS_ENABLE_CIPHER: unknown cipher suite %s", on[i]);
			r = -EINVAL;
		} else if (!ok) {
			snprintf(why, why_size, "TLS_ENABLE_CIPHER %s refused: the policy's priority does not allow %s",
				 on[i], gnutls_cipher_get_name(c));
			r = -EPERM;
		}
	}
	gnutls_priority_deinit(prio);
	return r;
}
