/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * trust-index.h: an index of the system trust bundle by certificate
 * subject, so that a helper loads only the anchors a peer's chain can use
 * instead of parsing the whole bundle (ssa-helper(8), TRUST INDEX).
 *
 * The bundle is the PEM file GnuTLS's system trust reads (Debian's
 * ca-certificates: /etc/ssl/certs/ca-certificates.crt; configure
 * --with-system-trust-bundle).  The index, written as root by
 * `ssa-helper --build-trust-index` (the update-ca-certificates hook, `make
 * install`), says where each anchor is in the bundle, keyed by the SHA-256
 * of its raw (DER) subject DN.  It never holds an anchor: the reader takes
 * each one from the bundle, has GnuTLS parse it, and checks that it is the
 * certificate indexed (SHA-256 of its DER) under the subject asked for.
 * A missing index, a stale one (the bundle's size or modification time
 * differ from those recorded) or one that disagrees with the bundle is no
 * error for the caller: it loads the whole bundle, as without an index.
 *
 * The file (integers little-endian; the reader checks every field and
 * bound, the file is hostile input):
 *
 *   header, 72 bytes
 *      0   8  magic "SSATIDX\n"
 *      8   4  format version, 1
 *     12   4  n, the number of entries, 1 .. TRUST_INDEX_MAX_ANCHORS
 *     16   8  the bundle's size in bytes, at most TRUST_BUNDLE_MAX
 *     24   8  the bundle's modification time, seconds (signed)
 *     32   4  ... and nanoseconds, below 10^9
 *     36   4  entry size, 72
 *     40  32  SHA-256 of the whole bundle
 *   n entries, 72 bytes each, sorted by subject hash, then offset
 *      0  32  SHA-256 of the anchor's raw subject DN
 *     32  32  SHA-256 of the anchor's DER (its SHA-256 fingerprint)
 *     64   4  offset of its PEM block in the bundle
 *     68   4  length of the block, 1 .. TRUST_BLOCK_MAX, within the bundle
 *
 * and nothing after them.
 */
#ifndef SSA_TRUST_INDEX_H
#define SSA_TRUST_INDEX_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdbool.h>
#include <stddef.h>

#define TRUST_INDEX_MAX_ANCHORS 16384u
#define TRUST_BUNDLE_MAX (64u << 20)
#define TRUST_BLOCK_MAX (64u << 10)

/* The system bundle: $SSA_SYSTEM_TRUST_BUNDLE where ssa_env_override()
 * lets it count, else the configured one; "" if configured without one
 * (then there is no index). */
const char *trust_bundle_path(void);

/* Whether trust_bundle_path() is the environment's: then the whole-bundle
 * load of trust-store = system reads that file, not GnuTLS's system
 * trust, so that an index and a full load see the same anchors. */
bool trust_bundle_overridden(void);

/* The index: $SSA_TRUST_INDEX where ssa_env_override() lets it count,
 * else the compiled-in $(localstatedir)/cache/ssa/trust-index. */
const char *trust_index_path(void);

/*
 * Index `bundle` into file `index`, written beside it and renamed over it
 * (mode 0644; its directory is created, mode 0755, if it is missing).
 * The bundle is read as GnuTLS's system trust reads it (one
 * gnutls_x509_crt_list_import2() of the whole file), each anchor's PEM
 * block located where that function starts it and parsed again alone,
 * which must give the same certificate.  Returns 0 and the number of
 * anchors in *n, or -errno with the reason (nothing written).
 */
int trust_index_build(const char *bundle, const char *index, unsigned *n, char *why, size_t why_size);

/*
 * Add to `list` (gnutls_x509_trust_list_add_cas(), GNUTLS_TL_NO_DUPLICATES,
 * as GnuTLS's system trust) the anchors of `bundle` whose subject is one of
 * the raw DNs dns[0..n_dns), found through `index`.  Returns how many (0:
 * the bundle has none of them), or, adding nothing, -ENOENT (no index),
 * -ESTALE (the bundle changed since the index was built, or an entry does
 * not match the bundle), -EINVAL (not a valid index) or -ENOMEM, with the
 * reason; the caller then loads the whole bundle.
 */
int trust_index_load(const char *index, const char *bundle, const gnutls_datum_t *dns, size_t n_dns,
		     gnutls_x509_trust_list_t list, char *why, size_t why_size);

/*
 * What --check-config reports: 0 if `index` is fresh for `bundle`, with the
 * number of anchors in *n; the whole bundle's SHA-256 is compared too
 * (trust_index_load() compares size and time, and the hash of each anchor
 * it loads).  Else -ENOENT, -ESTALE or -EINVAL with the reason.
 */
int trust_index_check(const char *index, const char *bundle, unsigned *n, char *why, size_t why_size);

#endif /* SSA_TRUST_INDEX_H */
