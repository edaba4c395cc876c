/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* trust-index.c: the index of the system trust bundle (trust-index.h). */
#include "trust-index.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"

#ifndef SSA_SYSTEM_TRUST_BUNDLE
#define SSA_SYSTEM_TRUST_BUNDLE ""
#endif
#ifndef SSA_TRUST_INDEX_DEFAULT
#define SSA_TRUST_INDEX_DEFAULT "/var/cache/ssa/trust-index"
#endif

#define MAGIC "SSATIDX\n"
#define INDEX_VERSION 1u
#define HEADER_SIZE 72u
#define ENTRY_SIZE 72u
#define HASH_SIZE 32u
/* Where GnuTLS's gnutls_x509_crt_list_import() starts a certificate
 * (lib/x509.h, PEM_CERT_SEP and PEM_CERT_SEP2). */
#define PEM_SEP "-----BEGIN CERTIFICATE"
#define PEM_SEP2 "-----BEGIN X509 CERTIFICATE"
/* Distinct subjects looked up at once (two per peer certificate). */
#define WANTED_MAX 128

const char *trust_bundle_path(void)
{
	const char *v = ssa_env_override("SSA_SYSTEM_TRUST_BUNDLE");

	return v ? v : SSA_SYSTEM_TRUST_BUNDLE;
}

bool trust_bundle_overridden(void)
{
	return ssa_env_override("SSA_SYSTEM_TRUST_BUNDLE") != NULL;
}

const char *trust_index_path(void)
{
	const char *v = ssa_env_override("SSA_TRUST_INDEX");

	return v ? v : SSA_TRUST_INDEX_DEFAULT;
}

/* --- little-endian fields ---------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* --- files ------------------------------------------------------------------- */

/* All of open file `fd` (a regular file of at most `max` bytes, as fstat
 * says in *st) into a new buffer: 0, or -errno (-EFBIG: larger than max,
 * -EINVAL: not a regular file, -ESTALE: it changed while read). */
static int read_all(int fd, size_t max, uint8_t **out, size_t *len, struct stat *st)
{
	struct stat after;
	uint8_t *buf;
	size_t have = 0;

	if (fstat(fd, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	if (st->st_size < 0 || (uint64_t)st->st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st->st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (have < (size_t)st->st_size) {
		ssize_t n = pread(fd, buf + have, (size_t)st->st_size - have, (off_t)have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? -errno : -ESTALE;
			free(buf);
			return e;
		}
		have += (size_t)n;
	}
	if (fstat(fd, &after) < 0 || after.st_size != st->st_size || after.st_mtim.tv_sec != st->st_mtim.tv_sec ||
	    after.st_mtim.tv_nsec != st->st_mtim.tv_nsec) {
		free(buf);
		return -ESTALE;
	}
	*out = buf;
	*len = have;
	return 0;
}

/* Read file `path` whole (see read_all). */
static int read_path(const char *path, size_t max, uint8_t **out, size_t *len, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0)
		return -errno;
	r = read_all(fd, max, out, len, st);
	close(fd);
	return r;
}

static int sha256(const void *data, size_t len, uint8_t out[HASH_SIZE])
{
	return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) < 0 ? -EIO : 0;
}

/* The SHA-256 of crt's raw subject DN (what GnuTLS compares issuers
 * with, byte for byte) and of its DER. */
static int crt_hashes(gnutls_x509_crt_t crt, uint8_t subject[HASH_SIZE], uint8_t der[HASH_SIZE])
{
	gnutls_datum_t dn = { 0 };
	size_t size = HASH_SIZE;
	int r;

	if (gnutls_x509_crt_get_raw_dn(crt, &dn) < 0)
		return -EINVAL;
	r = sha256(dn.data, dn.size, subject);
	gnutls_free(dn.data);
	if (r == 0 && (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, der, &size) < 0 || size != HASH_SIZE))
		r = -EINVAL;
	return r;
}

/* --- building ---------------------------------------------------------------- */

struct entry {
	uint8_t subject[HASH_SIZE], der[HASH_SIZE];
	uint32_t offset, length;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = memcmp(x->subject, y->subject, HASH_SIZE);

	if (c)
		return c;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Where GnuTLS's list import starts the next certificate at or after p. */
static const uint8_t *next_start(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = memmem(p, (size_t)(end - p), PEM_SEP, strlen(PEM_SEP));

	return q ? q : memmem(p, (size_t)(end - p), PEM_SEP2, strlen(PEM_SEP2));
}

/* The PEM block starting at `start`: up to the end of its "-----END" line,
 * and never into the next certificate's. */
static const uint8_t *block_end(const uint8_t *start, const uint8_t *next, const uint8_t *end)
{
	const uint8_t *stop = next ? next : end;
	const uint8_t *e = memmem(start, (size_t)(stop - start), "-----END", 8);
	const uint8_t *nl;

	if (!e)
		return stop;
	nl = memchr(e, '\n', (size_t)(stop - e));
	return nl ? nl + 1 : stop;
}

/* Locate and hash the n anchors `crts` (GnuTLS's parse of the whole
 * bundle) in bundle[0..len): 0 or -EINVAL with the reason. */
static int index_entries(const uint8_t *bundle, size_t len, gnutls_x509_crt_t *crts, unsigned n, struct entry *ents,
			 char *why, size_t why_size)
{
	const uint8_t *end = bundle + len, *p = next_start(bundle, end);

	for (unsigned i = 0; i < n; i++) {
		const uint8_t *next, *stop;
		gnutls_x509_crt_t one = NULL;
		gnutls_datum_t block;
		uint8_t der[HASH_SIZE];
		int r;

		if (!p) {
			snprintf(why, why_size, "certificate %u: no PEM block where GnuTLS found one", i + 1);
			return -EINVAL;
		}
		next = p + 1 < end ? next_start(p + 1, end) : NULL;
		stop = block_end(p, next, end);
		if ((size_t)(stop - p) > TRUST_BLOCK_MAX) {
			snprintf(why, why_size, "certificate %u: its PEM block is over %u bytes", i + 1, TRUST_BLOCK_MAX);
			return -EINVAL;
		}
		block.data = (unsigned char *)p;
		block.size = (unsigned)(stop - p);
		r = gnutls_x509_crt_init(&one);
		if (r >= 0)
			r = gnutls_x509_crt_import(one, &block, GNUTLS_X509_FMT_PEM);
		if (r >= 0)
			r = crt_hashes(one, ents[i].subject, der) < 0 ? GNUTLS_E_INTERNAL_ERROR : 0;
		if (one)
			gnutls_x509_crt_deinit(one);
		if (r < 0 || crt_hashes(crts[i], ents[i].subject, ents[i].der) < 0 ||
		    memcmp(der, ents[i].der, HASH_SIZE) != 0) {
			snprintf(why, why_size, "certificate %u (at byte %zu): its PEM block alone does not give the "
				 "certificate GnuTLS reads there", i + 1, (size_t)(p - bundle));
			return -EINVAL;
		}
		ents[i].offset = (uint32_t)(p - bundle);
		ents[i].length = (uint32_t)(stop - p);
		p = next;
	}
	if (p) {
		snprintf(why, why_size, "a PEM block at byte %zu that GnuTLS does not read as a certificate",
			 (size_t)(p - bundle));
		return -EINVAL;
	}
	return 0;
}

/* Write buf[0..len) to `path` atomically: a temporary file beside it,
 * then rename(2).  0 or -errno with the reason. */
static int write_atomically(const char *path, const uint8_t *buf, size_t len, char *why, size_t why_size)
{
	size_t n = strlen(path);
	char *tmp = malloc(n + 16), *dir = strdup(path), *slash;
	size_t done = 0;
	int fd = -1, r = 0;

	if (!tmp || !dir) {
		free(tmp);
		free(dir);
		return -ENOMEM;
	}
	/* Its directory, if missing (one level: the rest is the system's). */
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			snprintf(why, why_size, "cannot create %s: %s", dir, strerror(errno));
			goto out;
		}
	}
	snprintf(tmp, n + 16, "%s.tmp-XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(why, why_size, "cannot create a file beside %s: %s", path, strerror(errno));
		goto out;
	}
	while (done < len) {
		ssize_t w = write(fd, buf + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			break;
		}
		done += (size_t)w;
	}
	if (r == 0 && fchmod(fd, 0644) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(why, why_size, "cannot write %s: %s", path, strerror(-r));
		unlink(tmp);
	}
out:
	free(tmp);
	free(dir);
	return r;
}

int trust_index_build(const char *bundle, const char *index, unsigned *n_out, char *why, size_t why_size)
{
	gnutls_x509_crt_t *crts = NULL;
	gnutls_datum_t data;
	struct entry *ents = NULL;
	uint8_t *buf = NULL, *out = NULL, *p;
	size_t len = 0, out_len;
	unsigned n = 0;
	struct stat st;
	int r;

	if (!bundle[0]) {
		snprintf(why, why_size, "no system trust bundle is configured (configure --with-system-trust-bundle)");
		return -ENOENT;
	}
	r = read_path(bundle, TRUST_BUNDLE_MAX, &buf, &len, &st);
	if (r < 0) {
		snprintf(why, why_size, "%s: %s", bundle,
			 r == -EFBIG ? "larger than 64 MiB" : r == -EINVAL ? "not a regular file"
			 : r == -ESTALE ? "it changed while being read" : strerror(-r));
		return r;
	}
	/* As GnuTLS's system trust reads it (gnutls_x509_trust_list_add_trust_mem()). */
	data.data = buf;
	data.size = (unsigned)len;
	r = gnutls_x509_crt_list_import2(&crts, &n, &data, GNUTLS_X509_FMT_PEM, 0);
	if (r < 0 || n == 0) {
		snprintf(why, why_size, "%s: %s", bundle,
			 r < 0 && r != GNUTLS_E_NO_CERTIFICATE_FOUND ? gnutls_strerror(r) : "holds no certificate");
		r = -EINVAL;
		n = 0;
		goto out;
	}
	if (n > TRUST_INDEX_MAX_ANCHORS) {
		snprintf(why, why_size, "%s: %u certificates, more than an index holds (%u)", bundle, n,
			 TRUST_INDEX_MAX_ANCHORS);
		r = -EFBIG;
		goto out;
	}
	ents = calloc(n, sizeof *ents);
	out_len = HEADER_SIZE + (size_t)n * ENTRY_SIZE;
	out = calloc(1, out_len);
	if (!ents || !out) {
		r = -ENOMEM;
		snprintf(why, why_size, "out of memory");
		goto out;
	}
	char where[256];
	r = index_entries(buf, len, crts, n, ents, where, sizeof where);
	if (r < 0) {
		snprintf(why, why_size, "%s: %s", bundle, where);
		goto out;
	}
	qsort(ents, n, sizeof *ents, entry_cmp);
	memcpy(out, MAGIC, 8);
	put32(out + 8, INDEX_VERSION);
	put32(out + 12, n);
	put64(out + 16, (uint64_t)len);
	put64(out + 24, (uint64_t)st.st_mtim.tv_sec);
	put32(out + 32, (uint32_t)st.st_mtim.tv_nsec);
	put32(out + 36, ENTRY_SIZE);
	if ((r = sha256(buf, len, out + 40)) < 0) {
		snprintf(why, why_size, "cannot hash %s", bundle);
		goto out;
	}
	p = out + HEADER_SIZE;
	for (unsigned i = 0; i < n; i++, p += ENTRY_SIZE) {
		memcpy(p, ents[i].subject, HASH_SIZE);
		memcpy(p + 32, ents[i].der, HASH_SIZE);
		put32(p + 64, ents[i].offset);
		put32(p + 68, ents[i].length);
	}
	r = write_atomically(index, out, out_len, why, why_size);
	if (r == 0)
		*n_out = n;
out:
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	free(ents);
	free(out);
	free(buf);
	return r;
}

/* --- reading ----------------------------------------------------------------- */

/* An index read and checked: its entries, and the bundle it names. */
struct loaded {
	uint8_t *buf;
	size_t n;
	const uint8_t *entries;
	uint64_t bundle_size;
	const uint8_t *bundle_hash;
	int bundle_fd;
};

static void loaded_free(struct loaded *ix)
{
	free(ix->buf);
	if (ix->bundle_fd >= 0)
		close(ix->bundle_fd);
}

/* Read `index`, check every field and bound, and open `bundle`, which must
 * have the size and modification time recorded.  0, or -ENOENT, -EINVAL,
 * -ESTALE, -ENOMEM with the reason. */
static int index_open(const char *index, const char *bundle, struct loaded *ix, char *why, size_t why_size)
{
	size_t len = 0;
	struct stat st;
	const uint8_t *h;
	int r;

	memset(ix, 0, sizeof *ix);
	ix->bundle_fd = -1;
	if (!bundle[0]) {
		snprintf(why, why_size, "no system trust bundle is configured");
		return -ENOENT;
	}
	r = read_path(index, HEADER_SIZE + (size_t)TRUST_INDEX_MAX_ANCHORS * ENTRY_SIZE, &ix->buf, &len, &st);
	if (r < 0) {
		snprintf(why, why_size, "trust index %s: %s", index,
			 r == -ENOENT ? "missing" : r == -EFBIG ? "too large" : r == -EINVAL ? "not a regular file"
			 : strerror(-r));
		return r == -ENOENT || r == -ENOMEM || r == -ESTALE ? r : -EINVAL;
	}
	h = ix->buf;
	if (len < HEADER_SIZE || memcmp(h, MAGIC, 8) != 0 || get32(h + 8) != INDEX_VERSION || get32(h + 36) != ENTRY_SIZE ||
	    get32(h + 12) == 0 || get32(h + 12) > TRUST_INDEX_MAX_ANCHORS ||
	    len != HEADER_SIZE + (size_t)get32(h + 12) * ENTRY_SIZE || get64(h + 16) > TRUST_BUNDLE_MAX ||
	    get32(h + 32) >= 1000000000u) {
		snprintf(why, why_size, "trust index %s: not a valid index (version %u expected)", index, INDEX_VERSION);
		loaded_free(ix);
		return -EINVAL;
	}
	ix->n = get32(h + 12);
	ix->entries = h + HEADER_SIZE;
	ix->bundle_size = get64(h + 16);
	ix->bundle_hash = h + 40;
	for (size_t i = 0; i < ix->n; i++) {
		const uint8_t *e = ix->entries + i * ENTRY_SIZE;
		uint32_t off = get32(e + 64), blen = get32(e + 68);
		if (blen == 0 || blen > TRUST_BLOCK_MAX || (uint64_t)off + blen > ix->bundle_size ||
		    (i > 0 && (memcmp(e - ENTRY_SIZE, e, HASH_SIZE) > 0 ||
			       (memcmp(e - ENTRY_SIZE, e, HASH_SIZE) == 0 && get32(e - ENTRY_SIZE + 64) >= off)))) {
			snprintf(why, why_size, "trust index %s: entry %zu is out of bounds or out of order", index,
				 i + 1);
			loaded_free(ix);
			return -EINVAL;
		}
	}
	ix->bundle_fd = open(bundle, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (ix->bundle_fd < 0 || fstat(ix->bundle_fd, &st) < 0) {
		snprintf(why, why_size, "trust bundle %s: %s", bundle, strerror(errno));
		loaded_free(ix);
		return -ESTALE;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != ix->bundle_size ||
	    (uint64_t)st.st_mtim.tv_sec != get64(h + 24) || (uint32_t)st.st_mtim.tv_nsec != get32(h + 32)) {
		snprintf(why, why_size, "trust index %s is stale: %s changed since it was built (run "
			 "ssa-helper --build-trust-index)", index, bundle);
		loaded_free(ix);
		return -ESTALE;
	}
	return 0;
}

/* The first entry with subject hash `key`, or ix->n. */
static size_t lower_bound(const struct loaded *ix, const uint8_t key[HASH_SIZE])
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(ix->entries + mid * ENTRY_SIZE, key, HASH_SIZE) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The anchor of entry `e`, read from the bundle and checked against it:
 * 0 and *out, or -ESTALE (the bundle does not hold it there) or -ENOMEM. */
static int load_entry(const struct loaded *ix, const uint8_t *e, gnutls_x509_crt_t *out)
{
	uint32_t off = get32(e + 64), len = get32(e + 68);
	uint8_t *block = malloc(len), subject[HASH_SIZE], der[HASH_SIZE];
	gnutls_datum_t d = { block, len };
	gnutls_x509_crt_t crt = NULL;
	size_t have = 0;
	int r = 0;

	if (!block)
		return -ENOMEM;
	while (have < len) {
		ssize_t n = pread(ix->bundle_fd, block + have, len - have, (off_t)off + (off_t)have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = -ESTALE;
			break;
		}
		have += (size_t)n;
	}
	if (r == 0 && gnutls_x509_crt_init(&crt) < 0)
		r = -ENOMEM;
	if (r == 0 && (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0 || crt_hashes(crt, subject, der) < 0 ||
		       memcmp(subject, e, HASH_SIZE) != 0 || memcmp(der, e + 32, HASH_SIZE) != 0))
		r = -ESTALE;
	free(block);
	if (r < 0) {
		if (crt)
			gnutls_x509_crt_deinit(crt);
		return r;
	}
	*out = crt;
	return 0;
}

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, HASH_SIZE);
}

int trust_index_load(const char *index, const char *bundle, const gnutls_datum_t *dns, size_t n_dns,
		     gnutls_x509_trust_list_t list, char *why, size_t why_size)
{
	uint8_t wanted[WANTED_MAX][HASH_SIZE];
	gnutls_x509_crt_t *crts = NULL;
	size_t n_wanted = 0, n_crts = 0;
	struct loaded ix;
	int r;

	if (n_dns > WANTED_MAX) {
		snprintf(why, why_size, "more than %u names to look up", WANTED_MAX);
		return -EINVAL;
	}
	if ((r = index_open(index, bundle, &ix, why, why_size)) < 0)
		return r;
	/* Each subject once. */
	for (size_t i = 0; i < n_dns; i++)
		if (sha256(dns[i].data, dns[i].size, wanted[n_wanted]) == 0)
			n_wanted++;
	qsort(wanted, n_wanted, HASH_SIZE, hash_cmp);
	crts = calloc(ix.n, sizeof *crts);
	if (!crts) {
		loaded_free(&ix);
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	for (size_t w = 0; w < n_wanted && r == 0; w++) {
		if (w > 0 && memcmp(wanted[w - 1], wanted[w], HASH_SIZE) == 0)
			continue;
		for (size_t i = lower_bound(&ix, wanted[w]);
		     r == 0 && i < ix.n && memcmp(ix.entries + i * ENTRY_SIZE, wanted[w], HASH_SIZE) == 0; i++) {
			r = load_entry(&ix, ix.entries + i * ENTRY_SIZE, &crts[n_crts]);
			if (r == 0)
				n_crts++;
			else
				snprintf(why, why_size, "trust index %s is stale: %s no longer holds entry %zu where "
					 "it says (run ssa-helper --build-trust-index)", index, bundle, i + 1);
		}
	}
	loaded_free(&ix);
	if (r == 0 && n_crts > 0 &&
	    (r = gnutls_x509_trust_list_add_cas(list, crts, (unsigned)n_crts, GNUTLS_TL_NO_DUPLICATES)) < (int)n_crts) {
		/* It stops at the first it cannot add (out of memory): the
		 * rest are still ours. */
		for (size_t i = r < 0 ? 0 : (size_t)r; i < n_crts; i++)
			gnutls_x509_crt_deinit(crts[i]);
		snprintf(why, why_size, "out of memory adding trust anchors");
		free(crts);
		return -ENOMEM;
	}
	if (r < 0) {
		for (size_t i = 0; i < n_crts; i++)
			gnutls_x509_crt_deinit(crts[i]);
		n_crts = 0;
	}
	free(crts);
	return r < 0 ? r : (int)n_crts;
}

int trust_index_check(const char *index, const char *bundle, unsigned *n, char *why, size_t why_size)
{
	uint8_t *buf = NULL, hash[HASH_SIZE];
	size_t len = 0;
	struct loaded ix;
	struct stat st;
	int r;

	if ((r = index_open(index, bundle, &ix, why, why_size)) < 0)
		return r;
	r = read_all(ix.bundle_fd, TRUST_BUNDLE_MAX, &buf, &len, &st);
	if (r < 0 || len != ix.bundle_size || sha256(buf, len, hash) < 0 ||
	    memcmp(hash, ix.bundle_hash, HASH_SIZE) != 0) {
		snprintf(why, why_size, "trust index %s is stale: %s is not the file it was built from (its "
			 "SHA-256 differs; run ssa-helper --build-trust-index)", index, bundle);
		r = -ESTALE;
	} else {
		*n = (unsigned)ix.n;
	}
	free(buf);
	loaded_free(&ix);
	return r;
}
