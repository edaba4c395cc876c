#!/bin/bash
# tests/pki.sh DIR -- generate a throw-away test PKI into DIR (created if
# missing).  Everything is ECDSA P-256, generated at test time with certtool
# (gnutls-bin); nothing here is ever committed.
#
# Output (all world-readable: the helper in the container runs as another
# user and must be able to read the trust store; the server keys are only
# read by root-run test servers, but 0644 keeps things simple in a temp dir):
#
#   ca.pem                 trusted root CA (what policy's trust-store names)
#   int.pem                intermediate CA, signed by ca.pem
#   good-chain.pem         leaf for localhost, 127.0.0.1, ::1 + intermediate
#   good-key.pem
#   expired-chain.pem      same names, validity ended in 2020
#   expired-key.pem
#   notyet-chain.pem       same names, validity starts in 2090
#   notyet-key.pem
#   wrongname-chain.pem    valid chain for wrong.example.test only
#   wrongname-key.pem
#   selfsigned-chain.pem   self-signed (non-CA) leaf for localhost
#   selfsigned-key.pem
#   untrusted-ca.pem       a root CA nobody trusts
#   untrusted-chain.pem    leaf for localhost + untrusted-ca.pem
#   untrusted-key.pem
#   untrusted-names-chain.pem  leaf for replace.localhost and deny.localhost
#   untrusted-names-key.pem    (the [host] sections of the test policy that set
#                          app-trust-store) + untrusted-ca.pem
#   replace-chain.pem      leaf for replace.localhost from the trusted PKI
#   replace-key.pem        (leaf + intermediate)
#   client-ca.pem          a root CA for client certificates (not in any
#                          trust store of the policy)
#   client-chain.pem       client leaf (CN "SSA Test Client", EKU clientAuth)
#   client-key.pem         + client-ca.pem
#   revoked-chain.pem      leaf for localhost (like good-chain.pem), for the
#   revoked-key.pem        OCSP tests: tests/ocsp.bats staples a response
#                          saying "revoked" for it
#   muststaple-chain.pem   leaf for localhost with the TLS feature
#   muststaple-key.pem     status_request (must-staple, RFC 7633)
#   require-staple-chain.pem  leaf for require-staple.localhost (the test
#   require-staple-key.pem    policy's [host] with ocsp-stapling = require)
#   pin-chain.pem          leaf for a.pin.localhost (tests/policy.bats'
#   pin-key.pem            [host *.pin.localhost] pins)
#   clientonly-chain.pem   leaf for localhost whose extended key usage is
#   clientonly-key.pem     clientAuth only (no serverAuth) + intermediate
#   int-clientonly.pem     intermediate CA (signed by ca.pem) restricted to
#                          clientAuth by its own extended key usage
#   purpose-int-chain.pem  leaf for localhost with serverAuth, signed by
#   purpose-int-key.pem    int-clientonly.pem (+ that intermediate)
#   ocsp-responder-cert.pem  delegated OCSP responder of the intermediate
#   ocsp-responder-key.pem   (EKU OCSPSigning)
#   <name>-cert.pem        the leaf alone, for every chain above
# The CA keys (ca-key.pem, int-key.pem) stay too: the OCSP tests sign
# their responses at test time.
set -euo pipefail

dir=${1:?usage: pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 022

# Quiet certtool: it prints the whole certificate to stderr otherwise.
ct() { certtool "$@" 2>/dev/null; }
key() { ct --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$1"; }

# CAs are valid from 2019 so that they cover the expired leaf's lifetime:
# the expired test must fail because of the leaf alone.
cat > ca.tmpl <<'T'
cn = "SSA Test Root CA"
organization = "SSA tests"
ca
cert_signing_key
crl_signing_key
activation_date = "2019-01-01 00:00:00"
expiration_date = "2099-12-31 00:00:00"
T
cat > int.tmpl <<'T'
cn = "SSA Test Intermediate CA"
organization = "SSA tests"
ca
path_len = 0
cert_signing_key
crl_signing_key
activation_date = "2019-01-01 00:00:00"
expiration_date = "2099-12-31 00:00:00"
T
# An intermediate whose extended key usage allows client authentication
# only: a server leaf under it is not for TLS servers (RFC 5280 §4.2.1.12).
cat > int-clientonly.tmpl <<'T'
cn = "SSA Test Client-only Intermediate CA"
organization = "SSA tests"
ca
path_len = 0
cert_signing_key
tls_www_client
activation_date = "2019-01-01 00:00:00"
expiration_date = "2099-12-31 00:00:00"
T
cat > untrusted-ca.tmpl <<'T'
cn = "SSA Untrusted Root CA"
organization = "Nobody trusts this"
ca
cert_signing_key
activation_date = "2019-01-01 00:00:00"
expiration_date = "2099-12-31 00:00:00"
T
cat > client-ca.tmpl <<'T'
cn = "SSA Test Client CA"
organization = "SSA tests"
ca
cert_signing_key
activation_date = "2019-01-01 00:00:00"
expiration_date = "2099-12-31 00:00:00"
T

# leaf_tmpl NAME CN VALIDITY-LINES...: a TLS server leaf template.  The CN is
# also the DNS SAN; localhost leaves get the loopback IP SANs too.
leaf_tmpl() {
    local out=$1 cn=$2; shift 2
    {
        echo "cn = \"$cn\""
        echo 'organization = "SSA tests"'
        echo "dns_name = \"$cn\""
        if [ "$cn" = localhost ]; then
            echo 'ip_address = "127.0.0.1"'
            echo 'ip_address = "::1"'
        fi
        echo 'tls_www_server'
        echo 'signing_key'
        printf '%s\n' "$@"
    } > "$out"
}
now_valid='expiration_days = 3650'
leaf_tmpl good.tmpl       localhost          "$now_valid"
leaf_tmpl wrongname.tmpl  wrong.example.test "$now_valid"
leaf_tmpl selfsigned.tmpl localhost          "$now_valid"
leaf_tmpl untrusted.tmpl  localhost          "$now_valid"
leaf_tmpl replace.tmpl    replace.localhost  "$now_valid"
leaf_tmpl untrusted-names.tmpl replace.localhost "$now_valid" \
    'dns_name = "deny.localhost"'
leaf_tmpl revoked.tmpl    localhost          "$now_valid"
leaf_tmpl muststaple.tmpl localhost          "$now_valid" 'tls_feature = 5'
leaf_tmpl require-staple.tmpl require-staple.localhost "$now_valid"
leaf_tmpl pin.tmpl        a.pin.localhost    "$now_valid"
cat > ocsp-responder.tmpl <<T
cn = "SSA Test OCSP Responder"
organization = "SSA tests"
signing_key
ocsp_signing_key
$now_valid
T
# A leaf for localhost that is a client certificate only.
cat > clientonly.tmpl <<T
cn = "localhost"
organization = "SSA tests"
dns_name = "localhost"
ip_address = "127.0.0.1"
tls_www_client
signing_key
$now_valid
T
leaf_tmpl purpose-int.tmpl localhost "$now_valid"
cat > client.tmpl <<T
cn = "SSA Test Client"
organization = "SSA tests"
tls_www_client
signing_key
$now_valid
T
leaf_tmpl expired.tmpl    localhost \
    'activation_date = "2020-01-01 00:00:00"' 'expiration_date = "2020-12-31 00:00:00"'
leaf_tmpl notyet.tmpl     localhost \
    'activation_date = "2090-01-01 00:00:00"' 'expiration_date = "2095-12-31 00:00:00"'

# Roots.
key ca-key.pem
ct --generate-self-signed --load-privkey ca-key.pem --template ca.tmpl --outfile ca.pem
key untrusted-ca-key.pem
ct --generate-self-signed --load-privkey untrusted-ca-key.pem \
   --template untrusted-ca.tmpl --outfile untrusted-ca.pem
key client-ca-key.pem
ct --generate-self-signed --load-privkey client-ca-key.pem \
   --template client-ca.tmpl --outfile client-ca.pem

# Intermediate, signed by the root.
key int-key.pem
ct --generate-certificate --load-privkey int-key.pem \
   --load-ca-certificate ca.pem --load-ca-privkey ca-key.pem \
   --template int.tmpl --outfile int.pem
key int-clientonly-key.pem
ct --generate-certificate --load-privkey int-clientonly-key.pem \
   --load-ca-certificate ca.pem --load-ca-privkey ca-key.pem \
   --template int-clientonly.tmpl --outfile int-clientonly.pem

# issue NAME CA-CERT CA-KEY: leaf NAME-cert.pem, chain NAME-chain.pem =
# leaf + issuing CA.
issue() {
    local name=$1 cacert=$2 cakey=$3
    key "$name-key.pem"
    ct --generate-certificate --load-privkey "$name-key.pem" \
       --load-ca-certificate "$cacert" --load-ca-privkey "$cakey" \
       --template "$name.tmpl" --outfile "$name-cert.pem"
    cat "$name-cert.pem" "$cacert" > "$name-chain.pem"
}
issue good      int.pem          int-key.pem
issue expired   int.pem          int-key.pem
issue notyet    int.pem          int-key.pem
issue wrongname int.pem          int-key.pem
issue untrusted untrusted-ca.pem untrusted-ca-key.pem
issue untrusted-names untrusted-ca.pem untrusted-ca-key.pem
issue replace   int.pem          int-key.pem
issue client    client-ca.pem    client-ca-key.pem
issue revoked   int.pem          int-key.pem
issue muststaple int.pem         int-key.pem
issue require-staple int.pem     int-key.pem
issue pin       int.pem          int-key.pem
issue ocsp-responder int.pem     int-key.pem
issue clientonly int.pem         int-key.pem
issue purpose-int int-clientonly.pem int-clientonly-key.pem

# Self-signed leaf: its "chain" is just itself.
key selfsigned-key.pem
ct --generate-self-signed --load-privkey selfsigned-key.pem \
   --template selfsigned.tmpl --outfile selfsigned-cert.pem
cp selfsigned-cert.pem selfsigned-chain.pem

rm -f ./*.tmpl
chmod 0755 .
chmod 0644 ./*.pem
