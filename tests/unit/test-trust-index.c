/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-trust-index: the trust index (helper/trust-index.h) built from a
 * few anchors of the system bundle, read back, and read as the hostile
 * input it may be: every damaged or lying index makes the reader give up
 * (the helper then loads the whole bundle), never crash, never load an
 * anchor the bundle does not hold under the subject asked for.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "trust-index.h"

static char dir[] = "/tmp/test-trust-index.XXXXXX";
static char bundle[256], index_path[256];

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	if (len && fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* The anchors of the test bundle, parsed. */
static gnutls_x509_crt_t anchors[8];
static unsigned n_anchors;

/* How many anchors `list` holds of anchors[0..n_anchors) (each a root:
 * its own issuer). */
static unsigned anchors_in(gnutls_x509_trust_list_t list, unsigned which[8])
{
	unsigned n = 0;

	for (unsigned i = 0; i < n_anchors; i++) {
		gnutls_x509_crt_t issuer;
		which[i] = gnutls_x509_trust_list_get_issuer(list, anchors[i], &issuer, GNUTLS_TL_GET_COPY) == 0;
		if (which[i]) {
			gnutls_x509_crt_deinit(issuer);
			n++;
		}
	}
	return n;
}

/* trust_index_load() for the subject of anchors[k] into a new list: its
 * result, and in *held which anchors the list then holds. */
static int load_subject(unsigned k, unsigned *held, unsigned which[8])
{
	gnutls_x509_trust_list_t list;
	gnutls_datum_t dn;
	char why[512];
	int r;

	gnutls_x509_trust_list_init(&list, 0);
	gnutls_x509_crt_get_raw_dn(anchors[k], &dn);
	r = trust_index_load(index_path, bundle, &dn, 1, list, why, sizeof why);
	gnutls_free(dn.data);
	*held = anchors_in(list, which);
	gnutls_x509_trust_list_deinit(list, 1);
	return r;
}

static int build(unsigned *n)
{
	char why[512];
	int r = trust_index_build(bundle, index_path, n, why, sizeof why);

	if (r < 0)
		printf("# build: %s\n", why);
	return r;
}

/* The index with byte `at` set to `v` (or cut to `at` bytes, with v < 0),
 * then loaded for anchors[0]'s subject: the result, and whether anything
 * but anchors[0] got in. */
static int load_damaged(const uint8_t *good, size_t len, size_t at, int v, bool *wrong)
{
	uint8_t *copy = malloc(len);
	unsigned held, which[8];
	int r;

	memcpy(copy, good, len);
	if (v >= 0)
		copy[at] = (uint8_t)v;
	write_file(index_path, copy, v >= 0 ? len : at);
	free(copy);
	r = load_subject(0, &held, which);
	*wrong = false;
	for (unsigned i = 1; i < n_anchors; i++)
		if (which[i])
			*wrong = true;
	if (r > 0 && !which[0])
		*wrong = true;
	return r;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int main(void)
{
	const char *system_bundle = "/etc/ssl/certs/ca-certificates.crt";
	gnutls_x509_crt_t *all = NULL;
	gnutls_datum_t data, pem;
	uint8_t *buf, *good;
	size_t len, good_len;
	unsigned n = 0, held, which[8];
	char why[512], text[65536];
	size_t used = 0;
	struct stat st;
	int r;

	buf = read_file(system_bundle, &len);
	if (!buf || !mkdtemp(dir)) {
		printf("1..0 # SKIP no %s to take anchors from\n", system_bundle);
		return 0;
	}
	snprintf(bundle, sizeof bundle, "%s/bundle.crt", dir);
	snprintf(index_path, sizeof index_path, "%s/cache/trust-index", dir);
	data = (gnutls_datum_t){ buf, (unsigned)len };
	if (gnutls_x509_crt_list_import2(&all, &n, &data, GNUTLS_X509_FMT_PEM, 0) < 0 || n < 4) {
		printf("1..0 # SKIP %s holds too few anchors\n", system_bundle);
		return 0;
	}
	free(buf);
	/* A bundle of four anchors, with what a hand-edited file has between
	 * them: a comment, blank lines, an "X509 CERTIFICATE" header. */
	for (unsigned i = 0; i < 4; i++) {
		anchors[n_anchors++] = all[i];
		gnutls_x509_crt_export2(all[i], GNUTLS_X509_FMT_PEM, &pem);
		if (i == 1)
			used += (size_t)snprintf(text + used, sizeof text - used, "# a comment\n\n");
		if (i == 3) {
			/* The old header, which GnuTLS reads too. */
			char *b = strndup((char *)pem.data, pem.size), *body = strchr(b, '\n'), *end = strstr(b, "-----END");
			*end = '\0';
			used += (size_t)snprintf(text + used, sizeof text - used,
						 "-----BEGIN X509 CERTIFICATE-----%s-----END X509 CERTIFICATE-----\n", body);
			free(b);
		} else {
			memcpy(text + used, pem.data, pem.size);
			used += pem.size;
		}
		gnutls_free(pem.data);
	}
	for (unsigned i = 4; i < n; i++)
		gnutls_x509_crt_deinit(all[i]);
	gnutls_free(all);
	write_file(bundle, text, used);

	/* --- building and reading back --- */
	ok(build(&n) == 0 && n == 4, "an index of a 4-anchor bundle (a comment between two, an X509 CERTIFICATE "
	   "header) holds 4");
	ok(stat(index_path, &st) == 0 && (st.st_mode & 0777) == 0644, "written with mode 0644, its directory created");
	for (unsigned k = 0; k < 4; k++) {
		r = load_subject(k, &held, which);
		ok(r == 1 && held == 1 && which[k], "the subject of anchor %u loads that anchor alone (%d)", k, r);
	}
	{
		gnutls_x509_trust_list_t list;
		gnutls_datum_t dns[3] = { { (unsigned char *)"\x30\x00", 2 } };
		gnutls_x509_trust_list_init(&list, 0);
		gnutls_x509_crt_get_raw_dn(anchors[1], &dns[1]);
		gnutls_x509_crt_get_raw_dn(anchors[1], &dns[2]);
		r = trust_index_load(index_path, bundle, dns, 3, list, why, sizeof why);
		ok(r == 1 && anchors_in(list, which) == 1 && which[1],
		   "an unknown name loads nothing, the same name twice loads its anchor once (%d)", r);
		gnutls_free(dns[1].data);
		gnutls_free(dns[2].data);
		gnutls_x509_trust_list_deinit(list, 1);
	}
	ok(trust_index_check(index_path, bundle, &n, why, sizeof why) == 0 && n == 4, "--check-config's check: fresh");
	{
		DIR *d = opendir(dir);
		struct dirent *e;
		int others = 0;
		char sub[300];
		snprintf(sub, sizeof sub, "%s/cache", dir);
		closedir(d);
		d = opendir(sub);
		while ((e = readdir(d)))
			others += e->d_name[0] != '.' && strcmp(e->d_name, "trust-index") != 0;
		closedir(d);
		ok(build(&n) == 0 && others == 0, "rebuilt over itself, no temporary file left beside it");
	}

	/* --- stale --- */
	good = read_file(index_path, &good_len);
	{
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1000000000, 123 } };
		utimensat(AT_FDCWD, bundle, ts, 0);
		r = load_subject(0, &held, which);
		ok(r == -ESTALE && held == 0, "a bundle with another modification time: stale (%d)", r);
		ok(trust_index_check(index_path, bundle, &n, why, sizeof why) == -ESTALE, "... for --check-config too");
		build(&n);
		free(good);
		good = read_file(index_path, &good_len);
		/* Same size and time, one byte of anchor 2's base64 changed. */
		uint8_t *b = read_file(bundle, &len);
		char *p = (char *)b;
		for (unsigned k = 0; k < 3; k++)
			p = strstr(p + 1, "-----BEGIN");
		p += 40;
		*p = *p == 'A' ? 'B' : 'A';
		write_file(bundle, b, len);
		free(b);
		utimensat(AT_FDCWD, bundle, ts, 0);
		ok(trust_index_check(index_path, bundle, &n, why, sizeof why) == -ESTALE,
		   "a bundle changed in place with its size and time kept: --check-config finds it by the hash");
		r = load_subject(3, &held, which);
		ok(r == -ESTALE && held == 0, "... and the changed anchor does not load (%d)", r);
		r = load_subject(0, &held, which);
		ok(r == 1 && held == 1 && which[0], "... while the others, unchanged, still do (%d)", r);
		write_file(bundle, text, used);
		build(&n);
		free(good);
		good = read_file(index_path, &good_len);
	}
	unlink(index_path);
	ok(load_subject(0, &held, which) == -ENOENT && held == 0, "no index: -ENOENT, nothing loaded");

	/* --- hostile: every byte of the header and of the first entry, set to
	 * 0x00, 0xff and a flipped value; every length cut --- */
	{
		int crashes_or_wrong = 0, accepted_damage = 0;
		bool wrong;
		for (size_t at = 0; at < 72 + 72; at++) {
			int vals[3] = { 0x00, 0xff, good[at] ^ 0x5a };
			for (int v = 0; v < 3; v++) {
				if (vals[v] == good[at])
					continue;
				r = load_damaged(good, good_len, at, vals[v], &wrong);
				crashes_or_wrong += wrong;
				/* Damage that still loads: only the bundle
				 * hash (40..71, checked by --check-config), an
				 * entry's DER hash of an anchor not asked for, or
				 * bytes the lookup does not reach. */
				if (r >= 0 && !(at >= 40 && at < 72))
					accepted_damage++;
			}
		}
		ok(crashes_or_wrong == 0, "every damaged byte in the header or the first entry: never a wrong anchor");
		printf("# %d damaged indexes still loaded the right anchor\n", accepted_damage);
		int cut_ok = 0;
		for (size_t at = 0; at < good_len; at++)
			if (load_damaged(good, good_len, at, -1, &wrong) < 0 && !wrong)
				cut_ok++;
		ok(cut_ok == (int)good_len, "an index cut anywhere is refused (%d of %zu)", cut_ok, good_len);
	}
	{
		uint8_t *copy = malloc(good_len + 72);
		bool wrong;
		memcpy(copy, good, good_len);
		write_file(index_path, copy, good_len);
		/* Count beyond the bound, with the size to match it. */
		put32(copy + 12, TRUST_INDEX_MAX_ANCHORS + 1);
		write_file(index_path, copy, good_len);
		ok(load_subject(0, &held, which) == -EINVAL, "more entries than the bound: refused");
		/* An entry past the end of the bundle. */
		memcpy(copy, good, good_len);
		put32(copy + 72 + 64, (uint32_t)used - 10);
		write_file(index_path, copy, good_len);
		ok(load_subject(0, &held, which) == -EINVAL, "an entry reaching past the bundle: refused");
		/* Length 0, and over the block bound. */
		memcpy(copy, good, good_len);
		put32(copy + 72 + 68, 0);
		write_file(index_path, copy, good_len);
		ok(load_subject(0, &held, which) == -EINVAL, "an entry of length 0: refused");
		put32(copy + 72 + 68, TRUST_BLOCK_MAX + 1);
		write_file(index_path, copy, good_len);
		ok(load_subject(0, &held, which) == -EINVAL, "an entry over the block bound: refused");
		/* Entries out of order. */
		memcpy(copy, good, good_len);
		memcpy(copy + 72, good + 72 + 72, 72);
		memcpy(copy + 72 + 72, good + 72, 72);
		write_file(index_path, copy, good_len);
		ok(load_subject(0, &held, which) == -EINVAL, "entries out of order: refused");
		/* Every entry pointing at another anchor's block: the DER hash
		 * tells. */
		int lies = 0;
		for (unsigned e = 0; e < 4; e++) {
			memcpy(copy, good, good_len);
			uint32_t off = get32(good + 72 + 72 * ((e + 1) % 4) + 64);
			uint32_t blen = get32(good + 72 + 72 * ((e + 1) % 4) + 68);
			put32(copy + 72 + 72 * e + 64, off);
			put32(copy + 72 + 72 * e + 68, blen);
			write_file(index_path, copy, good_len);
			for (unsigned k = 0; k < 4; k++) {
				r = load_subject(k, &held, which);
				if (r >= 0 && (held != 1 || !which[k]))
					lies++;
			}
		}
		ok(lies == 0, "an entry pointing at another anchor never loads it under the wrong name");
		/* Trailing bytes. */
		memcpy(copy, good, good_len);
		write_file(index_path, copy, good_len + 1);
		ok(load_subject(0, &held, which) == -EINVAL, "a byte after the last entry: refused");
		(void)wrong;
		free(copy);
	}

	/* --- bundles GnuTLS does not read: no index --- */
	write_file(index_path, good, good_len);
	write_file(bundle, "no certificate here\n", 20);
	ok(build(&n) < 0, "a bundle without a certificate: no index written");
	{
		size_t l = 0;
		uint8_t *still = read_file(index_path, &l);
		ok(still && l == good_len && memcmp(still, good, l) == 0, "... and the old one left as it was");
		free(still);
	}
	memcpy(text + used, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", 58);
	write_file(bundle, text, used + 58);
	ok(build(&n) < 0, "a bundle with a broken certificate (GnuTLS refuses the whole file): no index");
	ok(trust_index_build("/nonexistent/bundle", index_path, &n, why, sizeof why) == -ENOENT,
	   "a missing bundle: -ENOENT (%s)", why);

	free(good);
	for (unsigned i = 0; i < n_anchors; i++)
		gnutls_x509_crt_deinit(anchors[i]);
	{
		char cmd[600];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return tap_done();
}
