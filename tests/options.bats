#!/usr/bin/env bats
# End-to-end tests of the client socket options (SPEC §2, §4): ssa-pipe's
# -m/-M (TLS_VERSION_MIN/MAX), -a (TLS_ALPN), -t (TLS_TRUSTED_PEER_
# CERTIFICATES), -c/-k (TLS_CERTIFICATE_CHAIN, TLS_PRIVATE_KEY) against
# gnutls-serv and openssl s_server, under the test policy (lib.bash's
# write_policy, tests/run-tests' test-pki.ini): min-version 1.2 and
# max-version 1.3 (compiled-in), trust-store = the test root CA,
# app-trust-store = add (compiled-in) except [host replace.localhost]
# (replace) and [host deny.localhost] (deny).  Both modes (see lib.bash).

load lib

setup_file()    { ssa_setup_file; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; }
teardown()      { ssa_teardown; }

# Reasons, loose on purpose (as in client.bats), but each names the cause.
R_ISSUER='issuer|signer|self.signed|unknown (ca|authority)'
R_VERSION='version'
# A TLS 1.2-only gnutls-serv answers a TLS 1.3-only ClientHello with a
# handshake_failure alert, not protocol_version, and the helper reports
# just that ("TLS handshake failed: the peer sent alert 'Handshake
# failed'"), so that refusal can only be matched as a failed handshake.
R_HANDSHAKE='handshake'

# The refused-setsockopt and refused-connect lines of ssa-pipe.
#   ssa-pipe: setsockopt(NAME): ERRNO (strerror): reason
#   ssa-pipe: connect: ERRNO (strerror): reason

# assert_setsockopt_failed NAME ERRNAME: ssa-pipe gave up (exit 2) because
# setsockopt(NAME) failed with ERRNAME, before any connect.
assert_setsockopt_failed() {
    local name=$1 err=$2
    [ "$status" -eq 2 ] ||
        fail "expected exit 2 (setsockopt($name) failed with $err), got $status; stderr: $stderr"
    [[ $stderr =~ ssa-pipe:\ setsockopt\($name\):\ $err\ \([^\)]+\) ]] ||
        fail "stderr does not report setsockopt($name): $err (...): $stderr"
    [[ $stderr != *"connect:"* ]] || fail "a connect was attempted: $stderr"
    [[ $stderr != *"connected "* ]] || fail "it connected: $stderr"
}

# assert_reason REGEX: the failure line's reason (after "(strerror): ")
# matches REGEX (case-insensitive).
assert_reason() {
    local line reason ok=0
    line=$(grep '^ssa-pipe: ' <<< "$stderr" | head -n 1)
    [[ $line =~ ^ssa-pipe:\ [^:]+:\ [A-Z0-9]+\ \([^\)]+\):\ (.+)$ ]] ||
        fail "no reason after the errno: $line"
    reason=${BASH_REMATCH[1]}
    shopt -s nocasematch
    [[ $reason =~ $1 ]] && ok=1
    shopt -u nocasematch
    [ $ok -eq 1 ] || fail "reason does not match /$1/: $reason"
}

# info FIELD: the value of FIELD in ssa-pipe -i's "connected ..." line
# (version, cipher, id, alpn; not peer, which has spaces).
info() {
    local line
    line=$(grep '^connected ' <<< "$stderr" | head -n 1)
    [ -n "$line" ] || { echo "(no connected line)"; return 0; }
    grep -o " $1=[^ ]*" <<< " ${line#connected }" | head -n 1 | cut -d= -f2-
}

# assert_info FIELD VALUE
assert_info() {
    local got
    got=$(info "$1")
    [ "$got" = "$2" ] || fail "expected $1=$2, got '$got'; stderr: $stderr"
}

# connect_ok [SSA-PIPE-ARGS...]: one line through the server (both servers
# echo or print it), exit 0, -i line present.
connect_ok() {
    printf 'options\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i "$@"
    assert_status 0
    grep -q '^connected version=' <<< "$stderr" || fail "no -i line: $stderr"
}

# connect_refused ERRNAME [SSA-PIPE-ARGS...]: connect() failed with ERRNAME
# and nothing got through.
connect_refused() {
    local err=$1; shift
    printf 'must not arrive\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i "$@"
    assert_connect_failed "$err"
    assert_output ""
    [[ $stderr != *"connected version="* ]] || fail "it connected: $stderr"
}

# option_refused ERRNAME OPTION [SSA-PIPE-ARGS...]: setsockopt(OPTION) failed
# with ERRNAME (the shim reads the policy too, so loosening it fails at
# once), nothing connected, and the reason is in $stderr.
option_refused() {
    local err=$1 opt=$2; shift 2
    printf 'must not arrive\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i "$@"
    [ "$status" -eq 2 ] || fail "expected exit 2, got $status: $stderr"
    [[ $stderr =~ ssa-pipe:\ setsockopt\($opt\):\ $err\ \( ]] ||
        fail "stderr does not report setsockopt($opt): $err: $stderr"
    assert_output ""
}

# ---------------------------------------------------------------------------
# 1. TLS_VERSION_MIN / TLS_VERSION_MAX
# ---------------------------------------------------------------------------

TLS12_GNUTLS=(--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2')

@test "versions: gnutls-serv limited to TLS 1.2 is accepted by default (TLS1.2)" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem" "${TLS12_GNUTLS[@]}"
    connect_ok -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_output "options"
    assert_info version TLS1.2
}

@test "versions: gnutls-serv limited to TLS 1.2 with -m 3 -> EPROTO" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem" "${TLS12_GNUTLS[@]}"
    connect_refused EPROTO -m 3 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_eproto "$R_HANDSHAKE"
}

@test "versions: openssl s_server -tls1_2 is accepted by default (TLS1.2)" {
    start_openssl_server "$PKI/good-chain.pem" "$PKI/good-key.pem" -tls1_2
    connect_ok -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info version TLS1.2
    wait_exit "$SERVER_PID" 10 || fail "s_server did not finish"
    [ "$(cat "$D/openssl.out")" = options ] || fail "server received: $(cat "$D/openssl.out")"
}

@test "versions: openssl s_server -tls1_2 with -m 3 -> EPROTO, nothing received" {
    start_openssl_server "$PKI/good-chain.pem" "$PKI/good-key.pem" -tls1_2
    connect_refused EPROTO -m 3 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_eproto "$R_VERSION"
    [ ! -s "$D/openssl.out" ] || fail "server received: $(cat "$D/openssl.out")"
}

@test "versions: -M 2 against TLS 1.3-capable servers negotiates TLS1.2 (gnutls-serv, s_server)" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    connect_ok -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info version TLS1.3      # the control: without -M, 1.3
    connect_ok -M 2 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info version TLS1.2
    assert_output "options"

    start_openssl_server "$PKI/good-chain.pem" "$PKI/good-key.pem"
    connect_ok -M 2 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info version TLS1.2
}

@test "versions: -m 2 -M 2 (exactly the policy minimum) negotiates TLS1.2" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    connect_ok -m 2 -M 2 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info version TLS1.2
}

@test "versions: -m 0 (below the policy's min-version 1.2) -> EPERM naming min-version" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    option_refused EPERM TLS_VERSION_MIN -m 0 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_reason 'TLS_VERSION_MIN'
    assert_reason "min-version"
    assert_reason '1\.2'
}

@test "versions: -m 1 -> EPERM too (also below the policy)" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    option_refused EPERM TLS_VERSION_MIN -m 1 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_reason "min-version"
}

@test "versions: -M 3 (equal to the policy's max-version) is fine: TLS1.3" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    connect_ok -M 3 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info version TLS1.3
    assert_output "options"
}

@test "versions: -m 3 against a TLS 1.3 server is fine: TLS1.3" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    connect_ok -m 3 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info version TLS1.3
}

# ---------------------------------------------------------------------------
# 2. TLS_ALPN
# ---------------------------------------------------------------------------

ALPN_GNUTLS=(--alpn=h2 --alpn=http/1.1)

@test "ALPN: gnutls-serv h2,http/1.1: -a http/1.1 -> http/1.1" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem" "${ALPN_GNUTLS[@]}"
    connect_ok -a http/1.1 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info alpn http/1.1
    assert_output "options"
}

@test "ALPN: gnutls-serv h2,http/1.1: -a h2,http/1.1 -> h2" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem" "${ALPN_GNUTLS[@]}"
    connect_ok -a h2,http/1.1 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info alpn h2
}

@test "ALPN: gnutls-serv h2,http/1.1: without -a -> none (alpn=-)" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem" "${ALPN_GNUTLS[@]}"
    connect_ok -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info alpn -
}

@test "ALPN: openssl s_server -alpn h2,http/1.1: -a http/1.1 -> http/1.1" {
    start_openssl_server "$PKI/good-chain.pem" "$PKI/good-key.pem" -alpn h2,http/1.1
    connect_ok -a http/1.1 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info alpn http/1.1
}

@test "ALPN: openssl s_server -alpn h2,http/1.1: -a h2,http/1.1 -> h2" {
    start_openssl_server "$PKI/good-chain.pem" "$PKI/good-key.pem" -alpn h2,http/1.1
    connect_ok -a h2,http/1.1 -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info alpn h2
}

@test "ALPN: openssl s_server -alpn h2,http/1.1: without -a -> none (alpn=-)" {
    start_openssl_server "$PKI/good-chain.pem" "$PKI/good-key.pem" -alpn h2,http/1.1
    connect_ok -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info alpn -
}

@test "ALPN: an empty list or an empty name -> setsockopt(TLS_ALPN) EINVAL" {
    run_pipe -a "" -n localhost 127.0.0.1 9
    assert_setsockopt_failed TLS_ALPN EINVAL
    run_pipe -a "h2,,http/1.1" -n localhost 127.0.0.1 9
    assert_setsockopt_failed TLS_ALPN EINVAL
}

# ---------------------------------------------------------------------------
# 3. TLS_TRUSTED_PEER_CERTIFICATES and the policy's app-trust-store
# ---------------------------------------------------------------------------

@test "trust: untrusted CA's chain is refused by default (EPROTO, issuer)" {
    start_gnutls_serv "$PKI/untrusted-chain.pem" "$PKI/untrusted-key.pem"
    connect_refused EPROTO -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_eproto "$R_ISSUER"
}

@test "trust: -t untrusted-ca.pem (app-trust-store = add) accepts it" {
    start_gnutls_serv "$PKI/untrusted-chain.pem" "$PKI/untrusted-key.pem"
    connect_ok -t "$PKI/untrusted-ca.pem" -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_output "options"
}

@test "trust: add keeps the policy's anchors: -t untrusted-ca.pem still accepts the good chain" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    connect_ok -t "$PKI/untrusted-ca.pem" -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_output "options"
}

@test "trust: -t DIR holding the untrusted CA accepts it (openssl s_server)" {
    mkdir "$D/anchors"
    cp "$PKI/untrusted-ca.pem" "$D/anchors/untrusted-ca.pem"
    start_openssl_server "$PKI/untrusted-chain.pem" "$PKI/untrusted-key.pem"
    connect_ok -t "$D/anchors" -n localhost 127.0.0.1 "$SERVER_PORT"
    wait_exit "$SERVER_PID" 10 || fail "s_server did not finish"
    [ "$(cat "$D/openssl.out")" = options ] || fail "server received: $(cat "$D/openssl.out")"
}

@test "trust: -t DIR without that CA (another CA only) is still refused" {
    mkdir "$D/anchors"
    cp "$PKI/client-ca.pem" "$D/anchors/"
    start_gnutls_serv "$PKI/untrusted-chain.pem" "$PKI/untrusted-key.pem"
    connect_refused EPROTO -t "$D/anchors" -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_eproto "$R_ISSUER"
}

@test "trust: [host deny.localhost] app-trust-store = deny: -t -> EPERM naming app-trust-store" {
    start_gnutls_serv "$PKI/untrusted-names-chain.pem" "$PKI/untrusted-names-key.pem"
    option_refused EPERM TLS_TRUSTED_PEER_CERTIFICATES -n deny.localhost -t "$PKI/untrusted-ca.pem" 127.0.0.1 "$SERVER_PORT"
    assert_reason 'app-trust-store'
    assert_reason 'deny'
}

@test "trust: deny found only at connect (anchors set before the host name) -> EPERM from connect()" {
    # The shim checks what it can at setsockopt time; with no host name yet
    # it cannot see [host deny.localhost], and the helper refuses at connect.
    start_gnutls_serv "$PKI/untrusted-names-chain.pem" "$PKI/untrusted-names-key.pem"
    connect_refused EPERM -t "$PKI/untrusted-ca.pem" -n deny.localhost 127.0.0.1 "$SERVER_PORT"
    assert_reason 'app-trust-store = deny'
}

@test "versions: -m 2 set before the host name, below its [host] min-version 1.3: setsockopt succeeds, connect() -> EPERM from the helper" {
    # The helper's own check: the shim, asked before TLS_HOSTNAME, can
    # resolve only [defaults] and [app] (min-version 1.2 here) and lets
    # TLS_VERSION_MIN = TLS_1_2 through; the helper has the host name at
    # connect() and must refuse it there.
    apply_policy zz-host-version.ini "[host localhost]" "min-version = 1.3"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    # The control: with the host name first, the shim sees the section and
    # refuses the option at once.
    option_refused EPERM TLS_VERSION_MIN -n localhost -m 2 127.0.0.1 "$SERVER_PORT"
    assert_reason 'min-version'
    # The option first: every setsockopt succeeds (ssa-pipe would stop at a
    # failed one with "setsockopt(NAME): ..."), the failure is connect()'s.
    connect_refused EPERM -m 2 -n localhost 127.0.0.1 "$SERVER_PORT"
    [[ $stderr != *"setsockopt("* ]] || fail "a setsockopt failed: $stderr"
    assert_reason 'TLS_VERSION_MIN'
    assert_reason 'min-version'
    assert_reason '1\.3'
    # The server was fine all along: without the option, TLS 1.3.
    connect_ok -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_info version TLS1.3
}

@test "trust: [host deny.localhost] without -t: the policy's store alone (EPROTO for the untrusted CA)" {
    start_gnutls_serv "$PKI/untrusted-names-chain.pem" "$PKI/untrusted-names-key.pem"
    connect_refused EPROTO -n deny.localhost 127.0.0.1 "$SERVER_PORT"
    assert_eproto "$R_ISSUER"
}

@test "trust: [host replace.localhost] app-trust-store = replace: -t untrusted-ca.pem accepts its chain" {
    start_gnutls_serv "$PKI/untrusted-names-chain.pem" "$PKI/untrusted-names-key.pem"
    connect_ok -t "$PKI/untrusted-ca.pem" -n replace.localhost 127.0.0.1 "$SERVER_PORT"
    assert_output "options"
    [[ $stderr == *"peer=CN=replace.localhost"* ]] || fail "unexpected peer: $stderr"
}

@test "trust: replace really replaces: a chain from the policy's CA is refused with -t untrusted-ca.pem" {
    start_gnutls_serv "$PKI/replace-chain.pem" "$PKI/replace-key.pem"
    # Control: the policy's trust store accepts this chain...
    connect_ok -n replace.localhost 127.0.0.1 "$SERVER_PORT"
    assert_output "options"
    # ... and with the application's anchors instead of it, it is unknown.
    connect_refused EPROTO -t "$PKI/untrusted-ca.pem" -n replace.localhost 127.0.0.1 "$SERVER_PORT"
    assert_eproto "$R_ISSUER"
}

# ---------------------------------------------------------------------------
# 4. TLS_CERTIFICATE_CHAIN + TLS_PRIVATE_KEY (client certificates)
# ---------------------------------------------------------------------------

# s_server demanding a client certificate from the client CA.  -Verify:
# "must have a cert"; s_server's verify callback prints each certificate's
# subject ("depth=0 O = SSA tests, CN = SSA Test Client") to stderr, which
# is $D/openssl.log, even with -quiet.
start_clientauth_server() {
    start_openssl_server "$PKI/good-chain.pem" "$PKI/good-key.pem" \
        -Verify 1 -CAfile "$PKI/client-ca.pem" "$@"
}

@test "client cert: s_server -Verify 1 accepts -c/-k and logs the client's subject" {
    start_clientauth_server
    connect_ok -c "$PKI/client-chain.pem" -k "$PKI/client-key.pem" -n localhost 127.0.0.1 "$SERVER_PORT"
    wait_exit "$SERVER_PID" 10 || fail "s_server did not finish"
    [ "$(cat "$D/openssl.out")" = options ] || fail "server received: $(cat "$D/openssl.out")"
    grep -q '^depth=0 .*CN = SSA Test Client' "$D/openssl.log" ||
        fail "s_server did not verify the client: $(cat "$D/openssl.log")"
}

@test "client cert: TLS 1.2 without -c/-k -> connect fails, server saw no client certificate" {
    start_clientauth_server
    printf 'must not arrive\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i -M 2 -n localhost 127.0.0.1 "$SERVER_PORT"
    # In TLS 1.2 the server's verdict comes before the client's handshake ends.
    assert_status 2
    [[ $stderr =~ ssa-pipe:\ connect:\ (EPROTO|ECONNRESET)\  ]] ||
        fail "expected connect: EPROTO or ECONNRESET: $stderr"
    assert_output ""
    wait_exit "$SERVER_PID" 10 || fail "s_server did not finish"
    [ ! -s "$D/openssl.out" ] || fail "server received: $(cat "$D/openssl.out")"
    grep -q 'peer did not return a certificate' "$D/openssl.log" ||
        fail "s_server did not complain about the missing certificate: $(cat "$D/openssl.log")"
    ! grep -q '^depth=0' "$D/openssl.log" || fail "s_server verified a client: $(cat "$D/openssl.log")"
}

@test "client cert: TLS 1.3 without -c/-k -> the session fails, nothing reaches the server" {
    start_clientauth_server
    printf 'must not arrive\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i -n localhost 127.0.0.1 "$SERVER_PORT"
    # In TLS 1.3 the client's handshake ends before the server checks the
    # client's (absent) certificate: connect() may succeed and the
    # server's alert arrives afterwards (read or write fails: exit 3), or
    # connect() already fails (exit 2).  Either way no data, and a failure.
    [ "$status" -eq 2 ] || [ "$status" -eq 3 ] ||
        fail "expected exit 2 or 3, got $status; stderr: $stderr"
    [[ $stderr =~ (EPROTO|ECONNRESET|EPIPE) ]] || fail "unexpected error: $stderr"
    assert_output ""
    wait_exit "$SERVER_PID" 10 || fail "s_server did not finish"
    [ ! -s "$D/openssl.out" ] || fail "server received: $(cat "$D/openssl.out")"
    grep -q 'peer did not return a certificate' "$D/openssl.log" ||
        fail "s_server did not complain about the missing certificate: $(cat "$D/openssl.log")"
    ! grep -q '^depth=0' "$D/openssl.log" || fail "s_server verified a client: $(cat "$D/openssl.log")"
}

@test "client cert: -c without -k -> connect EINVAL naming both options" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    connect_refused EINVAL -c "$PKI/client-chain.pem" -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_reason 'TLS_CERTIFICATE_CHAIN'
    assert_reason 'TLS_PRIVATE_KEY'
}

@test "client cert: -k without -c -> connect EINVAL" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    connect_refused EINVAL -k "$PKI/client-key.pem" -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_reason 'TLS_CERTIFICATE_CHAIN'
}

@test "client cert: -c FILE that does not exist -> setsockopt(TLS_CERTIFICATE_CHAIN) ENOENT" {
    run_pipe -c "$D/no-such-chain.pem" -k "$PKI/client-key.pem" -n localhost 127.0.0.1 9
    assert_setsockopt_failed TLS_CERTIFICATE_CHAIN ENOENT
}

# ---------------------------------------------------------------------------
# 5. Option errors at setsockopt time
# ---------------------------------------------------------------------------

@test "option errors: -t /nonexistent -> setsockopt(TLS_TRUSTED_PEER_CERTIFICATES) ENOENT, exit 2" {
    run_pipe -t /nonexistent -n localhost 127.0.0.1 9
    assert_setsockopt_failed TLS_TRUSTED_PEER_CERTIFICATES ENOENT
    assert_output ""
}

@test "option errors: -m 3 -M 2 -> setsockopt(TLS_VERSION_MAX) EINVAL" {
    run_pipe -m 3 -M 2 -n localhost 127.0.0.1 9
    assert_setsockopt_failed TLS_VERSION_MAX EINVAL
}

@test "option errors: -M 2 -m 3 -> setsockopt(TLS_VERSION_MIN) EINVAL" {
    run_pipe -M 2 -m 3 -n localhost 127.0.0.1 9
    assert_setsockopt_failed TLS_VERSION_MIN EINVAL
}

@test "option errors: versions outside 0..3 -> setsockopt EINVAL" {
    run_pipe -m 4 -n localhost 127.0.0.1 9
    assert_setsockopt_failed TLS_VERSION_MIN EINVAL
    run_pipe -M -1 -n localhost 127.0.0.1 9
    assert_setsockopt_failed TLS_VERSION_MAX EINVAL
}

# ---------------------------------------------------------------------------
# The two test policies agree
# ---------------------------------------------------------------------------

# policy_body: stdin's policy without comments, blank lines and the
# trust-store path (which differs between the modes by design).
policy_body() {
    sed -e 's/[;#].*//' -e 's/[[:space:]]*$//' -e '/^$/d' -e '/^trust-store *=/d'
}

@test "test policy: lib.bash's write_policy and tests/run-tests' test-pki.ini agree" {
    write_policy "$D/pol"
    policy_body < "$D/pol/test.ini" > "$D/want"
    grep -q '^\[host replace.localhost\]$' "$D/want" || fail "write_policy: no [host replace.localhost]"
    grep -q '^\[host deny.localhost\]$' "$D/want" || fail "write_policy: no [host deny.localhost]"
    if [ "$SSA_TEST_MODE" = units ]; then
        # What the driver installed and the helper reads.
        local f=$SSA_POLICY_DIR/test-pki.ini
        [ -f "$f" ] || fail "no installed $f"
        policy_body < "$f" > "$D/got"
    else
        # The echo lines of the block that writes it.
        sed -n '/polfile=\$d\/test-pki.ini/,/} > "\$polfile"/p' "$SSA_TESTS_DIR/run-tests" |
            sed -n -e 's/^[[:space:]]*echo "\(.*\)"$/\1/p' | policy_body > "$D/got"
    fi
    [ -s "$D/got" ] || fail "could not read the units-mode policy"
    diff -u "$D/want" "$D/got" || fail "the standalone and units test policies differ"
}
