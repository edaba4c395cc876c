/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tls-priority.h: GnuTLS priorities (gnutls_priority_init(3)) from the
 * policy's versions and priority string, and the application's cipher
 * options. */
#ifndef SSA_TLS_PRIORITY_H
#define SSA_TLS_PRIORITY_H

#include <gnutls/gnutls.h>
#include <stddef.h>

#include "policy.h"

/*
 * The priority object of policy `p` plus `extra` modifiers (":-AES-128-GCM"
 * and so on; may be ""): the policy's string (or @SYSTEM, falling back to
 * NORMAL where the system defines none) restricted to its versions, unless
 * the string names versions itself.  Returns 0 and *out (the caller's,
 * gnutls_priority_deinit()), or -ECANCELED with the reason.
 */
int tls_priority_build(const struct policy *p, const char *extra, gnutls_priority_t *out, char *why,
		       size_t why_size);

/*
 * Priority modifiers for the suites the application disabled (":-CIPHER"
 * each: GnuTLS removes a suite by its bulk cipher, so every suite sharing
 * it goes too), after checking that those it enabled are allowed by policy
 * `p`.  Names are IANA or GnuTLS suite names, or GnuTLS cipher names.
 * Returns 0 with mods[0..size) set, -EINVAL (unknown name) or -EPERM (the
 * policy does not allow an enabled suite), with the reason.
 */
int tls_priority_cipher_modifiers(const struct policy *p, const char *const *off, size_t n_off,
				const char *const *on, size_t n_on, char *mods, size_t size, char *why,
				size_t why_size);

#endif /* SSA_TLS_PRIORITY_H */
