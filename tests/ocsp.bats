#!/usr/bin/env bats
# Stapled OCSP (SPEC §4, ssa.ini(5) ocsp-stapling): the helper checks a
# stapled response the peer sends (default ocsp-stapling = verify), refuses
# a revoked certificate with EPROTO, refuses a must-staple (TLS feature
# status_request) certificate served without a staple, and, where the
# policy says ocsp-stapling = require (the test policy's
# [host require-staple.localhost]), refuses a peer without a valid staple.
#
# The responses are made here, at test time, with `openssl ocsp` acting as
# the responder of the test intermediate CA (tests/pki.sh: int.pem signs
# the leaves), signed by the CA itself or by its delegated responder
# (ocsp-responder-cert.pem, EKU OCSPSigning).  They are served with
# gnutls-serv --ocsp-response (with --ignore-ocsp-response-errors: without
# it gnutls-serv refuses to load a "revoked" response) and openssl
# s_server -status_file.  Both modes (see lib.bash).

load lib

setup_file() {
    ssa_setup_file
    # In units mode there is no /etc/ssl/openssl.cnf in the container.
    export OPENSSL_CONF=/dev/null
    OCSP=$SSA_T/ocsp
    mkdir -p "$OCSP"
    export OCSP
    make_response "$PKI/good-cert.pem"           good    "$OCSP/good.der"
    make_response "$PKI/good-cert.pem"           good    "$OCSP/good-delegated.der" \
        "$PKI/ocsp-responder-cert.pem" "$PKI/ocsp-responder-key.pem"
    make_response "$PKI/revoked-cert.pem"        revoked "$OCSP/revoked.der"
    make_response "$PKI/muststaple-cert.pem"     good    "$OCSP/muststaple-good.der"
    make_response "$PKI/require-staple-cert.pem" good    "$OCSP/require-staple-good.der"
    make_response "$PKI/require-staple-cert.pem" revoked "$OCSP/require-staple-revoked.der"
    # Signed by a CA that has nothing to do with the leaf: not a valid
    # response for it.
    make_response "$PKI/require-staple-cert.pem" good    "$OCSP/require-staple-forged.der" \
        "$PKI/untrusted-ca.pem" "$PKI/untrusted-ca-key.pem"
    make_response "$PKI/good-cert.pem"           good    "$OCSP/good-forged.der" \
        "$PKI/untrusted-ca.pem" "$PKI/untrusted-ca-key.pem"
}
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; }
teardown()      { ssa_teardown; }

# make_response CERT good|revoked OUT [SIGNER-CERT SIGNER-KEY]: a DER OCSP
# response for CERT (issued by $PKI/int.pem), valid for a day, signed by
# the intermediate CA (default) or by SIGNER.
make_response() {
    local cert=$1 status=$2 out=$3
    local rsigner=${4:-$PKI/int.pem} rkey=${5:-$PKI/int-key.pem}
    local w serial enddate subject
    w=$(mktemp -d "$SSA_T/ocsp-work.XXXXXX")
    serial=$(openssl x509 -in "$cert" -noout -serial | cut -d= -f2)
    enddate=$(openssl x509 -in "$cert" -noout -enddate | cut -d= -f2)
    enddate=$(date -u -d "$enddate" +%y%m%d%H%M%SZ)
    subject=$(openssl x509 -in "$cert" -noout -subject -nameopt compat | sed 's/^subject=//')
    # openssl ca's index.txt: status, expiry, revocation date, serial,
    # file, subject (tab-separated).
    case $status in
        good)    printf 'V\t%s\t\t%s\tunknown\t%s\n' "$enddate" "$serial" "$subject" ;;
        revoked) printf 'R\t%s\t%s\t%s\tunknown\t%s\n' "$enddate" \
                     "$(date -u -d '1 hour ago' +%y%m%d%H%M%SZ)" "$serial" "$subject" ;;
    esac > "$w/index.txt"
    openssl ocsp -issuer "$PKI/int.pem" -cert "$cert" -no_nonce -reqout "$w/req.der" \
        > "$w/req.log" 2>&1 || { cat "$w/req.log" >&2; return 1; }
    openssl ocsp -index "$w/index.txt" -CA "$PKI/int.pem" -rsigner "$rsigner" -rkey "$rkey" \
        -reqin "$w/req.der" -respout "$out" -ndays 1 > "$w/resp.log" 2>&1 ||
        { cat "$w/resp.log" >&2; return 1; }
    # Make sure it says what we meant.
    openssl ocsp -respin "$out" -resp_text -noverify 2>/dev/null |
        grep -q "Cert Status: $status" || {
        echo "make_response: $out does not say '$status'" >&2; return 1; }
}

run_probe() {
    run --separate-stderr timeout "$SSA_CLIENT_TIMEOUT" "$SSA_PROBE" "$@"
}

# gnutls_staple CHAIN KEY RESPONSE [EXTRA-ARGS...]: gnutls-serv stapling
# RESPONSE.
gnutls_staple() {
    local chain=$1 key=$2 resp=$3; shift 3
    start_gnutls_serv "$chain" "$key" --ocsp-response "$resp" --ignore-ocsp-response-errors "$@"
}

# connect_ok NAME: one line echoed through the server with TLS_HOSTNAME NAME.
connect_ok() {
    printf 'ocsp\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i -n "$1" 127.0.0.1 "$SERVER_PORT"
    assert_status 0
    assert_output "ocsp"
}

# connect_refused NAME REGEX: EPROTO, TLS_ERROR matching REGEX, nothing
# through.
connect_refused() {
    printf 'must not arrive\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i -n "$1" 127.0.0.1 "$SERVER_PORT"
    assert_eproto "$2"
    assert_output ""
    [[ $stderr != *"connected version="* ]] || fail "it connected: $stderr"
}

# What the reasons must name (case-insensitive).
R_REVOKED='revoked'
# The staple is missing: "no ... OCSP" or "OCSP ... missing".
R_MISSING='(^|[^a-z])(no|missing|without|absent)[^a-z].*OCSP|OCSP.*(missing|absent)'
# The staple is there but not a valid response for the leaf.
R_INVALID='OCSP.*(invalid|not valid|not verified)|(invalid|not valid).*OCSP'

# ---------------------------------------------------------------------------
# A good staple
# ---------------------------------------------------------------------------

@test "ocsp: the test responses say what they should (openssl ocsp -verify against the test root)" {
    local f
    for f in good good-delegated revoked; do
        local cert=$PKI/good-cert.pem
        [ $f = revoked ] && cert=$PKI/revoked-cert.pem
        run openssl ocsp -respin "$OCSP/$f.der" -CAfile "$PKI/ca.pem" \
            -verify_other "$PKI/int.pem" -issuer "$PKI/int.pem" -cert "$cert" -no_nonce
        assert_success
        assert_output --partial "Response verify OK"
        local want=good
        [ $f = revoked ] && want=revoked
        assert_line "$cert: $want"
    done
}

@test "ocsp: good staple (signed by the CA) -> accepted, ssa-probe: stapled response verified: good" {
    gnutls_staple "$PKI/good-chain.pem" "$PKI/good-key.pem" "$OCSP/good.der"
    run_probe "localhost:$SERVER_PORT"
    assert_status 0
    assert_line "ocsp       stapled response verified: good"
    assert_line "verdict    accepted"
    connect_ok localhost
}

@test "ocsp: good staple from a delegated responder -> accepted, verified: good" {
    gnutls_staple "$PKI/good-chain.pem" "$PKI/good-key.pem" "$OCSP/good-delegated.der"
    run_probe "localhost:$SERVER_PORT"
    assert_status 0
    assert_line "ocsp       stapled response verified: good"
    assert_line "verdict    accepted"
}

@test "ocsp: good staple over TLS 1.2 (CertificateStatus message) -> verified: good" {
    gnutls_staple "$PKI/good-chain.pem" "$PKI/good-key.pem" "$OCSP/good.der" \
        --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2'
    run_probe "localhost:$SERVER_PORT"
    assert_status 0
    assert_line "version    TLS 1.2"
    assert_line "ocsp       stapled response verified: good"
}

@test "ocsp: good staple from openssl s_server -status_file -> verified: good" {
    start_openssl_server "$PKI/good-chain.pem" "$PKI/good-key.pem" -status_file "$OCSP/good.der"
    run_probe "localhost:$SERVER_PORT"
    assert_status 0
    assert_line "ocsp       stapled response verified: good"
    assert_line "verdict    accepted"
}

@test "ocsp: no staple at all (default verify) -> accepted, ssa-probe: no stapled response" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    run_probe "localhost:$SERVER_PORT"
    assert_status 0
    assert_line "ocsp       no stapled response"
}

# ---------------------------------------------------------------------------
# Revoked
# ---------------------------------------------------------------------------

@test "ocsp: revoked staple (gnutls-serv, TLS 1.3) -> EPROTO, reason says revoked" {
    gnutls_staple "$PKI/revoked-chain.pem" "$PKI/revoked-key.pem" "$OCSP/revoked.der"
    connect_refused localhost "$R_REVOKED"
}

@test "ocsp: revoked staple (gnutls-serv, TLS 1.2) -> EPROTO, reason says revoked" {
    gnutls_staple "$PKI/revoked-chain.pem" "$PKI/revoked-key.pem" "$OCSP/revoked.der" \
        --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2'
    connect_refused localhost "$R_REVOKED"
}

@test "ocsp: revoked staple (openssl s_server -status_file) -> EPROTO, revoked" {
    start_openssl_server "$PKI/revoked-chain.pem" "$PKI/revoked-key.pem" -status_file "$OCSP/revoked.der"
    connect_refused localhost "$R_REVOKED"
    [ ! -s "$D/openssl.out" ] || fail "server received: $(cat "$D/openssl.out")"
}

@test "ocsp: revoked staple -> ssa-probe says refused: EPROTO ... revoked, exit 1" {
    gnutls_staple "$PKI/revoked-chain.pem" "$PKI/revoked-key.pem" "$OCSP/revoked.der"
    run_probe "localhost:$SERVER_PORT"
    assert_status 1
    assert_line --regexp '^verdict    refused: EPROTO \(Protocol error\): .*revoked'
}

@test "ocsp: the same revoked leaf without a staple is accepted (default verify: only a staple can say revoked)" {
    start_gnutls_serv "$PKI/revoked-chain.pem" "$PKI/revoked-key.pem"
    connect_ok localhost
}

# ---------------------------------------------------------------------------
# Must-staple (TLS feature status_request)
# ---------------------------------------------------------------------------

@test "ocsp: must-staple leaf without a staple -> EPROTO, the reason says the OCSP staple is missing" {
    start_gnutls_serv "$PKI/muststaple-chain.pem" "$PKI/muststaple-key.pem"
    connect_refused localhost "$R_MISSING"
}

@test "ocsp: must-staple leaf without a staple (openssl s_server) -> EPROTO, staple missing" {
    start_openssl_server "$PKI/muststaple-chain.pem" "$PKI/muststaple-key.pem"
    connect_refused localhost "$R_MISSING"
}

@test "ocsp: must-staple leaf with a good staple -> accepted, verified: good" {
    gnutls_staple "$PKI/muststaple-chain.pem" "$PKI/muststaple-key.pem" "$OCSP/muststaple-good.der"
    run_probe "localhost:$SERVER_PORT"
    assert_status 0
    assert_line "ocsp       stapled response verified: good"
    connect_ok localhost
}

# ---------------------------------------------------------------------------
# ocsp-stapling = require ([host require-staple.localhost] in the test policy)
#
# Each refusal is checked against the same server under verify (the
# default), which accepts a leaf without a staple: so these tests fail if
# require is ignored.
# ---------------------------------------------------------------------------

# under_verify: [host require-staple.localhost] says verify for now (a later
# file overriding the test policy's require); under_require undoes it.
under_verify()  { apply_policy zz-verify.ini "[host require-staple.localhost]" "ocsp-stapling = verify"; }
under_require() { apply_policy --remove zz-verify.ini; }

@test "ocsp: require, no staple -> EPROTO, the staple is missing; accepted under verify; a good staple connects" {
    start_gnutls_serv "$PKI/require-staple-chain.pem" "$PKI/require-staple-key.pem"
    under_verify
    connect_ok require-staple.localhost         # the leaf itself is fine
    under_require
    connect_refused require-staple.localhost "$R_MISSING"
    # The positive control: the same leaf with a good staple.
    gnutls_staple "$PKI/require-staple-chain.pem" "$PKI/require-staple-key.pem" \
        "$OCSP/require-staple-good.der"
    connect_ok require-staple.localhost
}

@test "ocsp: require, no staple (openssl s_server) -> EPROTO, the staple is missing; accepted under verify" {
    start_openssl_server "$PKI/require-staple-chain.pem" "$PKI/require-staple-key.pem"
    under_verify
    printf 'ocsp\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i -n require-staple.localhost 127.0.0.1 "$SERVER_PORT"
    assert_status 0
    under_require
    start_openssl_server "$PKI/require-staple-chain.pem" "$PKI/require-staple-key.pem"
    connect_refused require-staple.localhost "$R_MISSING"
    [ ! -s "$D/openssl.out" ] || fail "server received: $(cat "$D/openssl.out")"
}

@test "ocsp: require, good staple -> accepted (gnutls-serv, TLS 1.3 and 1.2)" {
    gnutls_staple "$PKI/require-staple-chain.pem" "$PKI/require-staple-key.pem" \
        "$OCSP/require-staple-good.der"
    connect_ok require-staple.localhost
    grep -q '^connected version=TLS1.3 ' <<< "$stderr" || fail "not TLS 1.3: $stderr"
    gnutls_staple "$PKI/require-staple-chain.pem" "$PKI/require-staple-key.pem" \
        "$OCSP/require-staple-good.der" --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2'
    connect_ok require-staple.localhost
    grep -q '^connected version=TLS1.2 ' <<< "$stderr" || fail "not TLS 1.2: $stderr"
}

@test "ocsp: require, good staple (openssl s_server -status_file) -> accepted, the data arrives" {
    start_openssl_server "$PKI/require-staple-chain.pem" "$PKI/require-staple-key.pem" \
        -status_file "$OCSP/require-staple-good.der"
    printf 'ocsp\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i -n require-staple.localhost 127.0.0.1 "$SERVER_PORT"
    assert_status 0
    grep -q '^connected version=' <<< "$stderr" || fail "no -i line: $stderr"
    wait_exit "$SERVER_PID" 10 || fail "s_server did not finish"
    [ "$(cat "$D/openssl.out")" = ocsp ] || fail "server received: $(cat "$D/openssl.out")"
}

@test "ocsp: require, revoked staple -> EPROTO, revoked" {
    gnutls_staple "$PKI/require-staple-chain.pem" "$PKI/require-staple-key.pem" \
        "$OCSP/require-staple-revoked.der"
    connect_refused require-staple.localhost "$R_REVOKED"
}

@test "ocsp: a staple signed by an unrelated CA is refused as invalid, under verify as under require" {
    # Not a test of require: a staple that does not verify is refused
    # whatever the setting (except ignore).
    gnutls_staple "$PKI/good-chain.pem" "$PKI/good-key.pem" "$OCSP/good-forged.der"
    connect_refused localhost "$R_INVALID"
    gnutls_staple "$PKI/require-staple-chain.pem" "$PKI/require-staple-key.pem" \
        "$OCSP/require-staple-forged.der"
    connect_refused require-staple.localhost "$R_INVALID"
}

@test "ocsp: require applies to its [host] only: localhost without a staple is still accepted" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    connect_ok localhost
}
