/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * in_tls.h: the Secure Socket API (SSA), TLS through the POSIX socket calls.
 *
 *     int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
 *     setsockopt(fd, IPPROTO_TLS, TLS_HOSTNAME, "example.com", sizeof "example.com");
 *     connect(fd, (struct sockaddr *)&addr, sizeof addr);
 *
 * connect() returns 0 only after the TCP connection, the TLS handshake and the
 * validation of the peer all succeeded; from then on the descriptor carries
 * plaintext.  The values are those of the SSA 0.67 so programs written for it
 * build unchanged.  See ssa(7) and SPEC.md.
 */
#ifndef IN_TLS_H
#define IN_TLS_H

#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* Protocol number for socket(2), and the option level for {set,get}sockopt(2).
 * Not Linux's SOL_TLS (282), which is kTLS. */
#define IPPROTO_TLS (715 % 255)

/* Address family of struct sockaddr_host; only meaningful on an IPPROTO_TLS
 * socket (the number is Linux's AF_SMC). */
#define AF_HOSTNAME 43

/* Longest host name sh_name holds, terminating NUL included. */
#define SSA_HOSTNAME_MAX 256

/* A destination given by name: the helper resolves it (every IPv4 and IPv6
 * address) and verifies the peer certificate against sh_name.  sh_port is in
 * network byte order; sh_name is NUL-terminated within addrlen.  Shorter
 * structures from SSA 0.67 (120-byte name) are accepted. */
struct sockaddr_host {
	sa_family_t sh_family; /* AF_HOSTNAME */
	in_port_t sh_port;     /* network byte order */
	char sh_name[SSA_HOSTNAME_MAX];
};

/* Socket options, level IPPROTO_TLS. */
#define TLS_REMOTE_HOSTNAME           85
#define TLS_HOSTNAME                  TLS_REMOTE_HOSTNAME
#define TLS_SNI                       86
#define TLS_TRUSTED_PEER_CERTIFICATES 87
#define TLS_CERTIFICATE_CHAIN         88
#define TLS_PRIVATE_KEY               89
#define TLS_ALPN                      90
#define TLS_SESSION_TTL               91
#define TLS_DISABLE_CIPHER            92
#define TLS_PEER_IDENTITY             93
#define TLS_REQUEST_PEER_AUTH         94
#define TLS_PEER_CERTIFICATE_CHAIN    95
#define TLS_ID                        96
#define TLS_TRUSTED_CIPHERS           97
#define TLS_CHOSEN_CIPHER             98
#define TLS_ERROR                     100
#define TLS_REVOCATION_CHECKS         102
#define TLS_OCSP_STAPLED_CHECKS       103
#define TLS_OCSP_CHECKS               104
#define TLS_CRL_CHECKS                105
#define TLS_CACHED_REV_CHECKS         106
#define TLS_CONTEXT                   107
#define TLS_SESSION_REUSE             108
#define TLS_RESUMED_SESSION           109
#define TLS_ENABLE_CIPHER             110
#define TLS_VERSION_MIN               111
#define TLS_VERSION_MAX               112
#define TLS_CHOSEN_VERSION            113

/* Extensions of this implementation (get only, after connect), for
 * diagnostics such as ssa-probe(1): */
#define TLS_POLICY_SECTIONS           120 /* string: the policy sections that applied */
#define TLS_OCSP_STATUS               121 /* string: what became of the stapled OCSP response */
#define TLS_PROGRAM                   122 /* set, before connect: the program path the policy's
                                           * [app] sections see; the helper believes it from root only */

/* Values of TLS_VERSION_MIN, TLS_VERSION_MAX and TLS_CHOSEN_VERSION. */
#define TLS_1_0 0
#define TLS_1_1 1
#define TLS_1_2 2
#define TLS_1_3 3

#endif /* IN_TLS_H */
