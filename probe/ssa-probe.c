/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ssa-probe: connect through the SSA exactly as an application would, and
 * say what it got: version, suite, ALPN, the peer's chain (subject, issuer,
 * validity, SPKI pin), the policy sections that applied, the stapled OCSP
 * response, and the verdict with its reason.
 *
 *   ssa-probe [--exe PATH] [--alpn LIST] HOST[:PORT]
 *
 * The connection goes through libssa-shim (this program is linked with it)
 * and the helper, with the administrator's policy; --exe asks what another
 * program would get (root only: the helper takes root's word for it).  The
 * certificate details are read from TLS_PEER_CERTIFICATE_CHAIN with GnuTLS.
 * Exit status: 0 accepted, 1 refused, 2 usage.  See ssa-probe(1).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "in_tls.h"
#include "ssa-x509.h"

/* The string option `name`, or "" (buf is the caller's). */
static const char *get_str(int fd, int name, char *buf, size_t size)
{
	socklen_t len = (socklen_t)size;

	if (getsockopt(fd, IPPROTO_TLS, name, buf, &len) < 0)
		buf[0] = '\0';
	return buf;
}

/* Print a validity bound; `note` is added when `past` says it applies now. */
static void print_time(const char *label, time_t t, bool past, const char *note)
{
	char buf[64];
	struct tm tm;

	strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
	printf("      %-10s %s%s\n", label, buf, (t < time(NULL)) == past ? note : "");
}

/* Print each certificate of a PEM chain, leaf first. */
static void print_chain(const char *pem)
{
	gnutls_datum_t data = { (unsigned char *)pem, (unsigned)strlen(pem) };
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0;

	if (gnutls_x509_crt_list_import2(&crts, &n, &data, GNUTLS_X509_FMT_PEM, 0) < 0) {
		printf("  (chain not readable)\n");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		gnutls_datum_t subject = { 0 }, issuer = { 0 }, der = { 0 };
		char pin[80] = "?";

		gnutls_x509_crt_get_dn3(crts[i], &subject, 0);
		gnutls_x509_crt_get_issuer_dn3(crts[i], &issuer, 0);
		if (gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER, &der) == 0)
			ssa_spki_pin(&der, pin, sizeof pin);
		printf("  [%u] subject    %s\n", i, subject.data ? (char *)subject.data : "?");
		printf("      issuer     %s\n", issuer.data ? (char *)issuer.data : "?");
		print_time("not before", gnutls_x509_crt_get_activation_time(crts[i]), false, " (not yet valid)");
		print_time("not after", gnutls_x509_crt_get_expiration_time(crts[i]), true, " (expired)");
		printf("      pin        %s\n", pin);
		gnutls_free(subject.data);
		gnutls_free(issuer.data);
		gnutls_free(der.data);
		gnutls_x509_crt_deinit(crts[i]);
	}
	gnutls_free(crts);
}

static int usage(FILE *f, int code)
{
	fprintf(f, "usage: ssa-probe [--exe PATH] [--alpn LIST] HOST[:PORT]\n");
	return code;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "exe", required_argument, NULL, 'e' },
		{ "alpn", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_host addr = { .sh_family = AF_HOSTNAME };
	const char *exe = NULL, *alpn = NULL;
	char host[SSA_HOSTNAME_MAX], buf[512], *colon, *chain = NULL;
	unsigned long port = 443;
	int opt, fd, version = -1, e;
	socklen_t len;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'e': exe = optarg; break;
		case 'a': alpn = optarg; break;
		case 'h': return usage(stdout, 0);
		default: return usage(stderr, 2);
		}
	}
	if (argc - optind != 1 || strlen(argv[optind]) >= sizeof host)
		return usage(stderr, 2);
	strcpy(host, argv[optind]);
	colon = strrchr(host, ':');
	if (colon && !strchr(colon + 1, ']') && strchr(host, ':') == colon) {
		*colon = '\0';
		port = strtoul(colon + 1, NULL, 10);
	}
	if (port == 0 || port > 65535 || !host[0])
		return usage(stderr, 2);
	if (exe && getuid() != 0) {
		fprintf(stderr, "ssa-probe: --exe needs root: the helper believes no one else's claim\n");
		return 2;
	}
	strcpy(addr.sh_name, host);
	addr.sh_port = htons((uint16_t)port);

	fd = socket(AF_HOSTNAME, SOCK_STREAM, IPPROTO_TLS);
	if (fd < 0) {
		fprintf(stderr, "ssa-probe: socket: %s (is libssa-shim loaded?)\n", strerror(errno));
		return 2;
	}
	if (alpn && setsockopt(fd, IPPROTO_TLS, TLS_ALPN, alpn, (socklen_t)strlen(alpn) + 1) < 0) {
		fprintf(stderr, "ssa-probe: TLS_ALPN: %s: %s\n", strerror(errno), get_str(fd, TLS_ERROR, buf, sizeof buf));
		return 2;
	}
	if (exe && setsockopt(fd, IPPROTO_TLS, TLS_PROGRAM, exe, (socklen_t)strlen(exe) + 1) < 0) {
		fprintf(stderr, "ssa-probe: TLS_PROGRAM: %s\n", strerror(errno));
		return 2;
	}

	printf("probe      %s port %lu%s%s\n", host, port, exe ? " as " : "", exe ? exe : "");
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		e = errno;
		printf("policy     %s\n", get_str(fd, TLS_POLICY_SECTIONS, buf, sizeof buf));
		printf("verdict    refused: %s (%s): %s\n", strerrorname_np(e), strerror(e),
		       get_str(fd, TLS_ERROR, buf, sizeof buf));
		close(fd);
		return 1;
	}
	len = sizeof version;
	getsockopt(fd, IPPROTO_TLS, TLS_CHOSEN_VERSION, &version, &len);
	printf("version    TLS 1.%d\n", version);
	printf("suite      %s\n", get_str(fd, TLS_CHOSEN_CIPHER, buf, sizeof buf));
	printf("alpn       %s\n", *get_str(fd, TLS_ALPN, buf, sizeof buf) ? buf : "(none)");
	printf("policy     %s\n", get_str(fd, TLS_POLICY_SECTIONS, buf, sizeof buf));
	printf("ocsp       %s\n", get_str(fd, TLS_OCSP_STATUS, buf, sizeof buf));
	printf("peer       %s\n", get_str(fd, TLS_PEER_IDENTITY, buf, sizeof buf));
	/* The chain's length first: ERANGE gives it (as SO_PEERSEC does). */
	char probe_byte;
	len = 1;
	if (getsockopt(fd, IPPROTO_TLS, TLS_PEER_CERTIFICATE_CHAIN, &probe_byte, &len) < 0 && errno == ERANGE &&
	    (chain = malloc(len)) != NULL) {
		if (getsockopt(fd, IPPROTO_TLS, TLS_PEER_CERTIFICATE_CHAIN, chain, &len) == 0) {
			printf("chain\n");
			print_chain(chain);
		}
		free(chain);
	}
	printf("verdict    accepted\n");
	close(fd);
	return 0;
}
