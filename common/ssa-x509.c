/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ssa-x509.c: certificate facts (ssa-x509.h). */
#include "config.h"
#include "ssa-x509.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <stdio.h>

int ssa_spki_pin(const gnutls_datum_t *der, char *pin, size_t size)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_pubkey_t key = NULL;
	gnutls_datum_t spki = { 0 }, b64 = { 0 };
	unsigned char digest[32];
	gnutls_datum_t d = { digest, sizeof digest };
	int r;

	if ((r = gnutls_x509_crt_init(&crt)) < 0 || (r = gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER)) < 0 ||
	    (r = gnutls_pubkey_init(&key)) < 0 || (r = gnutls_pubkey_import_x509(key, crt, 0)) < 0 ||
	    (r = gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &spki)) < 0 ||
	    (r = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, digest)) < 0 ||
	    (r = gnutls_base64_encode2(&d, &b64)) < 0)
		goto out;
	snprintf(pin, size, "sha256/%.*s", (int)b64.size, b64.data);
out:
	gnutls_free(spki.data);
	gnutls_free(b64.data);
	if (key)
		gnutls_pubkey_deinit(key);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	return r < 0 ? r : 0;
}

