#!/usr/bin/env bats
# The server side: examples/ssa-echo-server (C, plain sockets, poll) and a
# tiny HTTPS responder (Python through LD_PRELOAD) listen on IPPROTO_TLS
# sockets; real clients that are not ours (gnutls-cli, openssl s_client,
# curl) and our own ssa-pipe connect to them.  In units mode the listener
# and every client's handshake run in helpers started by ssa-helper.socket.

load lib

setup_file()    { ssa_setup_file; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; }
teardown()      { ssa_teardown; }

if [ "$SSA_TEST_MODE" = units ]; then
    SSA_ECHO=$SSA_BUILDDIR/examples/.libs/ssa-echo-server
    [ -x "$SSA_ECHO" ] || SSA_ECHO=$SSA_BUILDDIR/examples/ssa-echo-server
else
    SSA_ECHO=$SSA_BUILDDIR/examples/ssa-echo-server
fi

# wait_line FILE REGEX [SECONDS]: wait (bounded, default 10 s) until a line
# of FILE matches REGEX (grep -E).
wait_line() {
    local file=$1 re=$2 n=$(( ${3:-10} * 20 )) i
    for i in $(seq "$n"); do
        grep -Eq -- "$re" "$file" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# start_echo [ARGS...]: the echo server on an ephemeral loopback port with
# the test server's chain and key, then ARGS; sets SERVER_PORT and
# SERVER_PID.  Its report (one line per connection) is $D/echo.out.
start_echo() {
    start_bg echo /dev/null "$SSA_ECHO" -c "$PKI/good-chain.pem" -k "$PKI/good-key.pem" "$@"
    SERVER_PID=$BG_PID
    wait_line "$D/echo.out" '^listening on ' ||
        fail "the echo server did not start: $(cat "$D/echo.log")"
    SERVER_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$D/echo.out")
}

# accepted_count: how many connections the echo server accepted so far.
accepted_count() { grep -c '^accepted ' "$D/echo.out" || true; }

# gnutls_cli ARGS...: gnutls-cli against the echo server as localhost,
# trusting the test CA; stdin from $CLI_STDIN; output in $output.
gnutls_cli() {
    run timeout 10 gnutls-cli --x509cafile "$PKI/ca.pem" -p "$SERVER_PORT" "$@" < "${CLI_STDIN:-/dev/null}"
}

@test "server: gnutls-cli gets its line echoed; close_notify both ways, the client sees a clean close" {
    start_echo
    echo "hello through the SSA" > "$D/in"
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    assert_line "hello through the SSA"
    # gnutls-cli sends close_notify at the end of its input; the server
    # reads that as end of file, closes, and its helper sends close_notify.
    assert_line "- Peer has closed the GnuTLS connection"
    wait_line "$D/echo.out" '^closed 127\.0\.0\.1:[0-9]+ echoed=22$' ||
        fail "no close with 22 bytes echoed: $(cat "$D/echo.out")"
    run grep '^accepted ' "$D/echo.out"
    assert_output --regexp '^accepted 127\.0\.0\.1:[0-9]+ sni=localhost alpn=- version=1\.3 peer=- peer_chain=0$'
}

@test "server: openssl s_client, TLS 1.2 and TLS 1.3, data echoed and close_notify at the end" {
    start_echo
    local v
    for v in -tls1_2 -tls1_3; do
        # The sleep keeps s_client reading until the echo is back: at the
        # end of its input it sends close_notify and stops.
        run bash -c "(echo 'ping over $v'; sleep 1) | timeout 10 openssl s_client $v -CAfile '$PKI/ca.pem' \
            -verify_return_error -verify_hostname localhost -servername localhost \
            -connect 127.0.0.1:$SERVER_PORT 2>&1"
        assert_success
        assert_line "ping over $v"
        assert_output --partial "Verify return code: 0 (ok)"
        refute_output --partial "unexpected eof"
    done
    wait_line "$D/echo.out" 'version=1\.2' && wait_line "$D/echo.out" 'version=1\.3' ||
        fail "not both versions: $(cat "$D/echo.out")"
}

@test "server: our own client (ssa-pipe) sends 1 MiB of binary data and gets the same bytes back" {
    start_echo
    pipe_to_file "$D/got" "$D/err" "$SSA_T/a.bin" -n localhost 127.0.0.1 "$SERVER_PORT"
    [ "$status" -eq 0 ] || fail "ssa-pipe exit $status: $(cat "$D/err")"
    assert_same_file "$SSA_T/a.bin" "$D/got"
    wait_line "$D/echo.out" "echoed=$MIB\$" || fail "$(cat "$D/echo.out")"
}

@test "server: listening on IPv6 (::1), accept gives an IPv6 client address" {
    has_ipv6_loopback || skip "no IPv6 loopback"
    start_echo -6
    grep -q '^listening on \[::1\]:' "$D/echo.out" || fail "$(cat "$D/echo.out")"
    echo v6 > "$D/in"
    CLI_STDIN=$D/in gnutls_cli --sni-hostname localhost --verify-hostname localhost ::1
    assert_success
    assert_line v6
    wait_line "$D/echo.out" '^accepted \[::1\]:[0-9]+ ' || fail "$(cat "$D/echo.out")"
}

@test "server: curl gets an HTTPS answer from a Python responder built on the SSA; ALPN selects http/1.1" {
    start_bg https /dev/null env LD_PRELOAD="$SSA_SHIM" "$PYTHON" \
        "$SSA_TESTS_DIR/servers/ssa-https-responder.py" "$PKI/good-chain.pem" "$PKI/good-key.pem"
    wait_line "$D/https.out" '^listening on [0-9]+$' || fail "responder: $(cat "$D/https.log")"
    local port
    port=$(sed -n 's/^listening on //p' "$D/https.out")
    run timeout 10 curl -sS --cacert "$PKI/ca.pem" --resolve "localhost:$port:127.0.0.1" \
        -w 'http_version=%{http_version}\n' "https://localhost:$port/some/path"
    assert_success
    assert_line "sni=localhost"
    assert_line "alpn=http/1.1"
    assert_line "version=1.3"
    assert_line "request=GET /some/path HTTP/1.1"
    assert_line "http_version=1.1"
    assert_line --regexp '^peer=127\.0\.0\.1:[0-9]+$'
}

@test "server: several chains, chosen by SNI; TLS_SNI on the accepted socket names the one asked for" {
    start_echo -c "$PKI/replace-chain.pem" -k "$PKI/replace-key.pem"
    echo one > "$D/in"
    CLI_STDIN=$D/in gnutls_cli --sni-hostname replace.localhost --verify-hostname replace.localhost 127.0.0.1
    assert_success
    assert_line one
    assert_output --partial "subject \`CN=replace.localhost"
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    assert_output --partial "subject \`CN=localhost"
    wait_line "$D/echo.out" ' sni=replace\.localhost ' && wait_line "$D/echo.out" ' sni=localhost ' ||
        fail "$(cat "$D/echo.out")"
}

@test "server: a name (SNI) none of the chains holds is refused with unrecognized_name; the server never sees it" {
    start_echo
    echo nope > "$D/in"
    CLI_STDIN=$D/in gnutls_cli --sni-hostname nobody.example.test --verify-hostname localhost 127.0.0.1
    assert_failure
    assert_output --partial "server name sent was not recognized"
    refute_line nope
    # Then a good client: the first one never reached the application.
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    [ "$(accepted_count)" -eq 1 ] || fail "$(cat "$D/echo.out")"
}

@test "server: ALPN from the application's list in its order; a client offering none of them is refused" {
    start_echo -a http/1.1,h2
    echo alpn > "$D/in"
    CLI_STDIN=$D/in gnutls_cli --alpn h2 --alpn http/1.1 localhost
    assert_success
    assert_output --partial "- Application protocol: http/1.1"
    CLI_STDIN=$D/in gnutls_cli --alpn spdy/3 localhost
    assert_failure
    assert_output --partial "No supported application protocol"
    [ "$(accepted_count)" -eq 1 ] || fail "$(cat "$D/echo.out")"
    wait_line "$D/echo.out" ' alpn=http/1\.1 ' || fail "$(cat "$D/echo.out")"
}

@test "server: TLS_REQUEST_PEER_AUTH: a client certificate from a trusted CA is accepted and shown (TLS_PEER_IDENTITY)" {
    start_echo -r -t "$PKI/client-ca.pem"
    echo "with a certificate" > "$D/in"
    CLI_STDIN=$D/in gnutls_cli --x509certfile "$PKI/client-chain.pem" --x509keyfile "$PKI/client-key.pem" localhost
    assert_success
    assert_line "with a certificate"
    # TLS_PEER_CERTIFICATE_CHAIN: the leaf and the client CA it sent.
    wait_line "$D/echo.out" 'peer=CN=SSA Test Client,O=SSA tests peer_chain=2$' || fail "$(cat "$D/echo.out")"
}

@test "server: TLS_REQUEST_PEER_AUTH: no client certificate, an untrusted one, or one not for clients never reaches the server" {
    start_echo -r -t "$PKI/client-ca.pem"
    echo "refused" > "$D/in"
    # TLS 1.3: the server's verdict comes as an alert after the client's
    # handshake is over, so the clients fail on reading.
    run bash -c "(cat '$D/in'; sleep 1) | timeout 10 openssl s_client -CAfile '$PKI/ca.pem' \
        -connect 127.0.0.1:$SERVER_PORT -servername localhost 2>&1"
    assert_output --partial "certificate required"
    refute_line "refused"
    # From a CA neither the policy nor TLS_TRUSTED_PEER_CERTIFICATES trusts.
    CLI_STDIN=$D/in gnutls_cli --x509certfile "$PKI/untrusted-chain.pem" --x509keyfile "$PKI/untrusted-key.pem" localhost
    refute_line "refused"
    # From the trusted server CA, but a server certificate (its extended
    # key usage is serverAuth only: RFC 5280 §4.2.1.12).
    CLI_STDIN=$D/in gnutls_cli --x509certfile "$PKI/good-chain.pem" --x509keyfile "$PKI/good-key.pem" localhost
    refute_line "refused"
    sleep 0.5
    [ "$(accepted_count)" -eq 0 ] || fail "a refused client reached the server: $(cat "$D/echo.out")"
    # And the one that should pass does, on the same listening socket.
    CLI_STDIN=$D/in gnutls_cli --x509certfile "$PKI/client-chain.pem" --x509keyfile "$PKI/client-key.pem" localhost
    assert_success
    assert_line "refused"
}

@test "server: 50 clients at once are all served, each with its own data" {
    start_echo
    local i pids=()
    for i in $(seq 50); do
        head -c 20000 /dev/urandom > "$D/in.$i"
        timeout 60 "$SSA_PIPE" -n localhost 127.0.0.1 "$SERVER_PORT" < "$D/in.$i" > "$D/out.$i" 2> "$D/err.$i" &
        pids+=($!)
    done
    local failed=0
    for i in $(seq 50); do
        wait "${pids[$((i - 1))]}" || { failed=$((failed + 1)); echo "client $i: $(cat "$D/err.$i")"; }
    done
    [ "$failed" -eq 0 ] || fail "$failed of 50 clients failed"
    for i in $(seq 50); do
        assert_same_file "$D/in.$i" "$D/out.$i"
    done
    [ "$(accepted_count)" -eq 50 ] || fail "accepted $(accepted_count) of 50"
}

@test "server: clients that connect and say nothing do not hold up the others, and are dropped after the handshake timeout" {
    start_echo
    # Five TCP connections that never send a ClientHello.
    start_bg silent /dev/null "$PYTHON" -c "
import socket, time
s = [socket.create_connection(('127.0.0.1', $SERVER_PORT)) for _ in range(5)]
print('connected', flush=True)
time.sleep(30)"
    wait_line "$D/silent.out" '^connected$' || fail "$(cat "$D/silent.log")"
    local t0 t1
    t0=$(date +%s%N)
    echo "not held up" > "$D/in"
    CLI_STDIN=$D/in gnutls_cli localhost
    t1=$(date +%s%N)
    assert_success
    assert_line "not held up"
    # Well within the test policy's 3 s handshake timeout that the silent
    # ones would cost if they were in the way.
    [ $(( (t1 - t0) / 1000000 )) -lt 2500 ] || fail "the client took $(( (t1 - t0) / 1000000 )) ms"
    [ "$(accepted_count)" -eq 1 ] || fail "$(cat "$D/echo.out")"
    # After the handshake timeout (3 s) their helpers have closed them.
    run timeout 10 "$PYTHON" -c "
import socket, time
c = socket.create_connection(('127.0.0.1', $SERVER_PORT))
t = time.monotonic()
c.settimeout(8)
print('eof' if c.recv(1) == b'' else 'data', round(time.monotonic() - t))"
    assert_success
    assert_output --regexp '^eof [2-5]$'
}

@test "server: the client half-closes (close_notify), the server still answers, then closes with close_notify" {
    start_echo
    # ssa-pipe shuts down its writing side at the end of its input: the
    # echo server reads end of file only after the whole input, answers
    # all of it, then closes; ssa-pipe reads everything, then end of file.
    pipe_to_file "$D/got" "$D/err" "$SSA_T/text.txt" -n localhost 127.0.0.1 "$SERVER_PORT"
    [ "$status" -eq 0 ] || fail "ssa-pipe exit $status: $(cat "$D/err")"
    assert_same_file "$SSA_T/text.txt" "$D/got"
}

@test "server: a client that resets mid-stream costs only its own connection" {
    start_echo
    run timeout 10 "$PYTHON" -c "
import socket, ssl, struct
ctx = ssl.create_default_context(cafile='$PKI/ca.pem')
raw = socket.create_connection(('127.0.0.1', $SERVER_PORT))
s = ctx.wrap_socket(raw, server_hostname='localhost')
s.sendall(b'x' * 1000)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
s.close()  # RST, no close_notify
print('reset')"
    assert_success
    echo after > "$D/in"
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    assert_line after
    wait_line "$D/echo.out" '^closed .* echoed=6$' || fail "$(cat "$D/echo.out")"
}

@test "units: server connections (accepted and refused) and the listening socket each write a journal entry" {
    [ "$SSA_TEST_MODE" = units ] || skip "units mode only (journald runs in the container)"
    start_echo
    echo "journal me" > "$D/in"
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    wait_line "$D/echo.out" '^closed ' || fail "$(cat "$D/echo.out")"
    local client entry field
    client=$(sed -n 's/^accepted \([^ ]*\) .*/\1/p' "$D/echo.out")
    entry=$(journal_entry "SSA_PEER_ADDRESS=$client")
    for field in "SSA_ROLE=server" "SSA_RESULT=ok" "SSA_PEER_NAME=localhost" \
                 "SSA_LOCAL_ADDRESS=127.0.0.1:$SERVER_PORT" "SSA_VERSION=TLS1.3" "PRIORITY=6" \
                 "SSA_BYTES_SENT=11" "SSA_BYTES_RECEIVED=11" "SSA_UID=0" "SSA_EXE=$(realpath "$SSA_ECHO")"; do
        grep -q "^ *$field\$" <<< "$entry" || fail "no $field in: $entry"
    done
    # A refused client is logged at LOG_WARNING with the name it asked for.
    CLI_STDIN=$D/in gnutls_cli --sni-hostname journal-refused.example.test --verify-hostname localhost 127.0.0.1
    assert_failure
    entry=$(journal_entry SSA_ROLE=server SSA_PEER_NAME=journal-refused.example.test)
    for field in "SSA_RESULT=EPROTO" "PRIORITY=4"; do
        grep -q "^ *$field\$" <<< "$entry" || fail "no $field in: $entry"
    done
    grep -q "^ *SSA_REASON=.*no TLS_CERTIFICATE_CHAIN holds" <<< "$entry" || fail "no reason: $entry"
    # Closing the listening socket ends its helper, which says how it went.
    kill "$SERVER_PID"
    entry=$(journal_entry SSA_ROLE=listener "SSA_LOCAL_ADDRESS=127.0.0.1:$SERVER_PORT")
    grep -q '^ *SSA_REASON=closed after 1 connections (1 refused, 0 lost)$' <<< "$entry" ||
        fail "no listener entry: $entry"
}
