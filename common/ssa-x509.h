/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ssa-x509.h: certificate facts the helper and ssa-probe both need (GnuTLS). */
#ifndef SSA_X509_H
#define SSA_X509_H

#include <gnutls/gnutls.h>
#include <stddef.h>

/*
 * The SPKI pin of DER certificate `der`: "sha256/" and the base64 of the
 * SHA-256 of its SubjectPublicKeyInfo (RFC 7469 §2.4), into pin[0..size)
 * (60 bytes are enough).  Returns 0 or a negative GnuTLS error.
 */
int ssa_spki_pin(const gnutls_datum_t *der, char *pin, size_t size);

#endif /* SSA_X509_H */
