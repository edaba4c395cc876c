#!/usr/bin/env bats
# Session resumption (SPEC §2), on both sides, against real peers.
#
# The client is tests/clients/tls-sequence.py: one CPython process, the
# shim loaded by LD_PRELOAD, several IPPROTO_TLS connections in a row (the
# shim keeps resumption data in the process's memory).  Each connection
# reports TLS_RESUMED_SESSION; a resumed one must be as validated as a full
# one, and data that would cross a context, a port, a host name or a
# policy change must not be offered at all: the servers of those tests
# would accept it (one ticket key, one session cache), so resumed=0
# proves the SSA did not offer it.

load lib

setup_file()    { ssa_setup_file; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; }
teardown()      { ssa_teardown; }

SSA_ECHO=$SSA_BUILDDIR/examples/ssa-echo-server
[ "$SSA_TEST_MODE" = units ] && [ -x "$SSA_BUILDDIR/examples/.libs/ssa-echo-server" ] &&
    SSA_ECHO=$SSA_BUILDDIR/examples/.libs/ssa-echo-server

# sequence STEP...: `run` the client with the steps (see the script);
# lines in $lines, one per connection.
sequence() {
    run --separate-stderr env LD_PRELOAD="$SSA_SHIM" timeout 60 \
        "$PYTHON" "$SSA_TESTS_DIR/clients/tls-sequence.py" "$@"
    assert_status 0
}

# sequence_bg STEP...: the client in the background, its lines in
# $D/seq.out; sequence_wait waits for it and sets $lines and $output.
sequence_bg() {
    env LD_PRELOAD="$SSA_SHIM" timeout 60 "$PYTHON" "$SSA_TESTS_DIR/clients/tls-sequence.py" "$@" \
        > "$D/seq.out" 2> "$D/seq.err" &
    SEQ_PID=$!
    register_pid "$SEQ_PID"
}
sequence_wait() {
    status=0
    wait "$SEQ_PID" || status=$?
    output=$(cat "$D/seq.out")
    stderr=$(cat "$D/seq.err")
    mapfile -t lines < "$D/seq.out"
    assert_status 0
}

# at PORT [KEY=VALUE...]: a connection step to 127.0.0.1:PORT as localhost.
at() {
    local port=$1; shift
    local step="host=127.0.0.1,port=$port,name=localhost" kv
    for kv in "$@"; do step+=",$kv"; done
    printf '%s' "$step"
}

# expect_lines REGEX...: exactly as many connection lines as REGEXes, the
# Nth matching the Nth.
expect_lines() {
    [ "${#lines[@]}" -eq $# ] || fail "expected $# lines, got ${#lines[@]}: $output
stderr: $stderr"
    local i=0 re
    for re in "$@"; do
        [[ ${lines[$i]} =~ $re ]] || fail "line $((i + 1)) is '${lines[$i]}', expected /$re/
all: $output"
        i=$((i + 1))
    done
}

# start_twin_server: tls-test-server.py (echo) on two ports sharing one
# TLS context; sets SERVER_PORT and SERVER_PORT2.
start_twin_server() {
    start_test_server echo "$PKI/good-chain.pem" "$PKI/good-key.pem" --second-port
    wait_line "$D/test-echo.out" '^PORT2 [0-9]+$' || fail "no second port: $(cat "$D/test-echo.log")"
    SERVER_PORT2=$(sed -n 's/^PORT2 //p' "$D/test-echo.out")
}

# start_echo [ARGS...]: examples/ssa-echo-server (the SSA's server side)
# on an ephemeral port; sets SERVER_PORT; its report is $D/echo.out.
start_echo() {
    start_bg echo /dev/null "$SSA_ECHO" -c "$PKI/good-chain.pem" -k "$PKI/good-key.pem" "$@"
    SERVER_PID=$BG_PID
    wait_line "$D/echo.out" '^listening on ' || fail "the echo server did not start: $(cat "$D/echo.log")"
    SERVER_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$D/echo.out")
}

# ---------------------------------------------------------------------------
# Real servers, TLS 1.3 and 1.2
# ---------------------------------------------------------------------------

@test "resumption: gnutls-serv, TLS 1.3: the second connection resumes (ticket), the first does not" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    sequence "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT")"
    expect_lines '^1 ok resumed=0 version=1\.3 reply=line 1$' \
                 '^2 ok resumed=1 version=1\.3 reply=line 2$' \
                 '^3 ok resumed=1 version=1\.3 reply=line 3$'
}

@test "resumption: gnutls-serv, TLS 1.2: the second connection resumes" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    sequence "$(at "$SERVER_PORT" vmax=2)" "$(at "$SERVER_PORT" vmax=2)"
    expect_lines '^1 ok resumed=0 version=1\.2 reply=line 1$' '^2 ok resumed=1 version=1\.2 reply=line 2$'
}

@test "resumption: openssl s_server, TLS 1.3 and TLS 1.2: the second connection of each resumes" {
    start_openssl_server "$PKI/good-chain.pem" "$PKI/good-key.pem" -rev -naccept 4
    sequence "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT")" \
             "$(at "$SERVER_PORT" vmax=2)" "$(at "$SERVER_PORT" vmax=2)"
    # -rev: the server answers each line reversed.
    expect_lines '^1 ok resumed=0 version=1\.3 reply=1 enil$' '^2 ok resumed=1 version=1\.3 reply=2 enil$' \
                 '^3 ok resumed=0 version=1\.2 reply=3 enil$' '^4 ok resumed=1 version=1\.2 reply=4 enil$'
}

@test "resumption: TLS_SESSION_REUSE = 0 makes a full handshake, and does not spend the data" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    sequence "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT" reuse=0)" "$(at "$SERVER_PORT")"
    expect_lines '^1 ok resumed=0 ' '^2 ok resumed=0 ' '^3 ok resumed=1 '
}

@test "resumption: policy session-resumption = no: never resumed" {
    apply_policy zz-resume.ini "[host localhost]" "session-resumption = no"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    sequence "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT")"
    expect_lines '^1 ok resumed=0 ' '^2 ok resumed=0 '
}

@test "resumption: TLS_SESSION_TTL caps the age of the data reused" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    sequence "$(at "$SERVER_PORT" ttl=1)" sleep=2.2 "$(at "$SERVER_PORT" ttl=1)" "$(at "$SERVER_PORT" ttl=1)"
    expect_lines '^1 ok resumed=0 ' '^2 ok resumed=0 ' '^3 ok resumed=1 '
}

# ---------------------------------------------------------------------------
# What the data is keyed by: never offered across these
# ---------------------------------------------------------------------------

@test "resumption: not across contexts (TLS_CONTEXT), each context keeps its own" {
    start_twin_server
    sequence "$(at "$SERVER_PORT" ctx=1)" "$(at "$SERVER_PORT" ctx=2)" \
             "$(at "$SERVER_PORT" ctx=1)" "$(at "$SERVER_PORT" ctx=2)"
    expect_lines '^1 ok resumed=0 ' '^2 ok resumed=0 ' '^3 ok resumed=1 ' '^4 ok resumed=1 '
}

@test "resumption: not across ports of one server that would accept it" {
    start_twin_server
    sequence "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT2")" "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT2")"
    expect_lines '^1 ok resumed=0 ' '^2 ok resumed=0 ' '^3 ok resumed=1 ' '^4 ok resumed=1 '
}

@test "resumption: not across host names of one server that would accept it (localhost, 127.0.0.1)" {
    start_twin_server
    sequence "$(at "$SERVER_PORT")" "host=127.0.0.1,port=$SERVER_PORT,name=127.0.0.1" "$(at "$SERVER_PORT")"
    expect_lines '^1 ok resumed=0 ' '^2 ok resumed=0 ' '^3 ok resumed=1 '
}

@test "resumption: not across a policy change; the new policy's own data resumes" {
    start_twin_server
    # Connection 2 comes after the change (a harmless one: the right pin).
    sequence_bg "$(at "$SERVER_PORT")" "wait=$D/changed" "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT")"
    wait_line "$D/seq.out" '^1 ' 20 || fail "no first connection: $(cat "$D/seq.out" "$D/seq.err")"
    apply_policy zz-resume.ini "[host localhost]" "pin = sha256/$(pin_of "$PKI/good-chain.pem")"
    : > "$D/changed"
    sequence_wait
    expect_lines '^1 ok resumed=0 ' '^2 ok resumed=0 ' '^3 ok resumed=1 '
}

@test "resumption: pins hold on resumed connections, and a pin changed after the data was stored refuses the next" {
    apply_policy zz-resume.ini "[host localhost]" "pin = sha256/$(pin_of "$PKI/good-chain.pem")"
    start_twin_server
    sequence_bg "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT")" "wait=$D/changed" "$(at "$SERVER_PORT")"
    wait_line "$D/seq.out" '^2 ' 20 || fail "no second connection: $(cat "$D/seq.out" "$D/seq.err")"
    apply_policy zz-resume.ini "[host localhost]" "pin = sha256/$(pin_of "$PKI/client-chain.pem")"
    : > "$D/changed"
    sequence_wait
    expect_lines '^1 ok resumed=0 ' '^2 ok resumed=1 ' '^3 failed errno=EPROTO reason=.*pin'
}

@test "resumption: a server restarted (its tickets now stale) gets a full handshake, silently for the application" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    local port=$SERVER_PORT
    sequence_bg "$(at "$port")" "wait=$D/restarted" "$(at "$port")" "$(at "$port")"
    wait_line "$D/seq.out" '^1 ' 20 || fail "no first connection: $(cat "$D/seq.out" "$D/seq.err")"
    kill "$SERVER_PID"
    wait_exit "$SERVER_PID" 10 || fail "gnutls-serv did not stop"
    start_bg gnutls /dev/null gnutls-serv --echo --crlf -p "$port" \
        --x509certfile "$PKI/good-chain.pem" --x509keyfile "$PKI/good-key.pem"
    wait_listen "$port" "$BG_PID" || fail "gnutls-serv did not come back on $port"
    : > "$D/restarted"
    sequence_wait
    expect_lines '^1 ok resumed=0 ' '^2 ok resumed=0 version=1\.3 reply=line 2$' '^3 ok resumed=1 '
}

# ---------------------------------------------------------------------------
# The server side: one ticket key per listening socket (SPEC §2)
# ---------------------------------------------------------------------------

@test "resumption: an SSA client resumes with an SSA server, TLS 1.3 and 1.2; accept() reports it" {
    start_echo
    sequence "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT")" \
             "$(at "$SERVER_PORT" vmax=2)" "$(at "$SERVER_PORT" vmax=2)"
    expect_lines '^1 ok resumed=0 version=1\.3 reply=line 1$' '^2 ok resumed=1 version=1\.3 reply=line 2$' \
                 '^3 ok resumed=0 version=1\.2 reply=line 3$' '^4 ok resumed=1 version=1\.2 reply=line 4$'
    wait_line "$D/echo.out" '^closed .*' 10 || true
    run grep -o 'version=1\.[23] resumed=[01]' "$D/echo.out"
    assert_output "version=1.3 resumed=0
version=1.3 resumed=1
version=1.2 resumed=0
version=1.2 resumed=1"
}

@test "resumption: openssl s_client resumes with an SSA server; a corrupted ticket gets a full handshake" {
    start_echo
    local s=(openssl s_client -connect "127.0.0.1:$SERVER_PORT" -servername localhost
             -CAfile "$PKI/ca.pem" -verify_return_error)
    run bash -c '(echo one; sleep 1) | timeout 10 "$@"' _ "${s[@]}" -sess_out "$D/s.pem"
    assert_status 0
    run bash -c '(echo two; sleep 1) | timeout 10 "$@"' _ "${s[@]}" -sess_in "$D/s.pem"
    assert_status 0
    assert_line --partial "Reused, TLSv1.3"
    # Flip bytes inside the ticket (the session's [10] OCTET STRING).
    openssl sess_id -in "$D/s.pem" -outform DER -out "$D/s.der"
    local line next= off=
    while read -r line; do
        if [[ $line =~ cont\ \[\ 10\ \] ]]; then next=1
        elif [ -n "$next" ]; then off=${line%%:*}; break; fi
    done < <(openssl asn1parse -inform DER -in "$D/s.der")
    [ -n "$off" ] || fail "no ticket in the session: $(openssl asn1parse -inform DER -in "$D/s.der")"
    "$PYTHON" - "$D/s.der" "$off" <<'PY'
import sys
path, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(path, "rb").read())
start = off + {0x81: 3, 0x82: 4}.get(b[off + 1], 2)
for i in range(start + 40, start + 48):
    b[i] ^= 0xFF
open(path, "wb").write(b)
PY
    openssl sess_id -inform DER -in "$D/s.der" -out "$D/bad.pem"
    run bash -c '(echo three; sleep 1) | timeout 10 "$@"' _ "${s[@]}" -sess_in "$D/bad.pem"
    assert_status 0
    assert_line --partial "New, TLSv1.3"
    assert_line three
    run grep -o 'resumed=[01]' "$D/echo.out"
    assert_output "resumed=0
resumed=1
resumed=0"
}

@test "resumption: TLS_SESSION_TTL on the listening socket bounds its tickets' lifetime" {
    start_echo -T 1
    sequence "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT")" sleep=2.5 "$(at "$SERVER_PORT")"
    expect_lines '^1 ok resumed=0 ' '^2 ok resumed=1 ' '^3 ok resumed=0 .*reply=line 3$'
}

@test "resumption: two listening sockets do not share a ticket key" {
    start_echo
    local first=$SERVER_PORT
    mv "$D/echo.out" "$D/echo-1.out"
    start_echo
    # TLS_CONTEXT and the host name are the same; the shim keys by port,
    # so a connection to the second server would not offer the first's
    # ticket anyway: openssl s_client does, and is not resumed.
    local s=(openssl s_client -servername localhost -CAfile "$PKI/ca.pem" -verify_return_error)
    run bash -c '(echo one; sleep 1) | timeout 10 "$@"' _ "${s[@]}" -connect "127.0.0.1:$first" -sess_out "$D/s.pem"
    assert_status 0
    run bash -c '(echo two; sleep 1) | timeout 10 "$@"' _ "${s[@]}" -connect "127.0.0.1:$SERVER_PORT" -sess_in "$D/s.pem"
    assert_status 0
    assert_line --partial "New, TLSv1.3"
}

@test "units: the journal entry of a resumed connection says so (SSA_RESUMED=yes), the full one's says no" {
    [ "$SSA_TEST_MODE" = units ] || skip "units mode only (journald runs in the container)"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    sequence "$(at "$SERVER_PORT")" "$(at "$SERVER_PORT")"
    expect_lines '^1 ok resumed=0 ' '^2 ok resumed=1 '
    local entries
    for i in $(seq 50); do
        entries=$(journal_entry "SSA_PEER_ADDRESS=127.0.0.1:$SERVER_PORT" | grep -o '^ *SSA_RESUMED=.*' | tr -d ' ')
        [ "$(wc -l <<< "$entries")" -ge 2 ] && break
        sleep 0.1
    done
    assert_equal "$entries" "SSA_RESUMED=no
SSA_RESUMED=yes"
}
