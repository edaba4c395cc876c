#!/usr/bin/env bats
# The server side: examples/ssa-echo-server (C, plain sockets, poll), a
# tiny HTTPS responder and tests/servers/ssa-app-server.py (Python through
# LD_PRELOAD, which reports what each accepted socket read: data, end of
# file or ECONNRESET) listen on IPPROTO_TLS sockets; real clients that are
# not ours (gnutls-cli, openssl s_client, curl), our own ssa-pipe and a
# strict client (tests/servers/strict-tls-client.py: CPython's ssl, for
# which a TCP end without close_notify is an error) connect to them.  In
# units mode the listener and every client's handshake run in helpers
# started by ssa-helper.socket.
#
# No sleep stands for an event: every wait polls for the event itself
# (a line in a report, an exit) and has a deadline.

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

# wait_count FILE REGEX N [SECONDS]: wait (bounded, default 10 s) until at
# least N lines of FILE match REGEX.
wait_count() {
    local file=$1 re=$2 want=$3 n=$(( ${4:-10} * 20 )) i
    for i in $(seq "$n"); do
        [ "$(grep -Ec -- "$re" "$file" 2>/dev/null)" -ge "$want" ] && return 0
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

# assert_accepted_only REGEX...: the echo server accepted exactly as many
# connections as REGEXes are given, the Nth matching the Nth REGEX.
assert_accepted_only() {
    run grep '^accepted ' "$D/echo.out"
    [ "${#lines[@]}" -eq $# ] ||
        fail "the echo server accepted ${#lines[@]} connections, expected $#: $(cat "$D/echo.out")"
    local i=0 re
    for re in "$@"; do
        assert_line --index "$i" --regexp "$re"
        i=$((i + 1))
    done
}

# start_app NAME [ARGS...]: tests/servers/ssa-app-server.py (Python, plain
# sockets, LD_PRELOAD=the shim) with the test server's chain and key, on an
# ephemeral loopback port; sets SERVER_PORT and SERVER_PID.  It reports
# what each accepted socket read ("recv PEER: EOF after N bytes", "recv
# PEER: ECONNRESET after N bytes", ...) in $D/NAME.out.
start_app() {
    local name=$1; shift
    start_bg "$name" /dev/null env LD_PRELOAD="$SSA_SHIM" "$PYTHON" -u \
        "$SSA_TESTS_DIR/servers/ssa-app-server.py" "$PKI/good-chain.pem" "$PKI/good-key.pem" "$@"
    SERVER_PID=$BG_PID
    wait_line "$D/$name.out" '^listening on [0-9]+$' ||
        fail "ssa-app-server.py did not start: $(cat "$D/$name.log")"
    SERVER_PORT=$(sed -n 's/^listening on //p' "$D/$name.out")
}

# app_line NAME LINE: the application NAME wrote exactly LINE (waiting up
# to 10 s for it); fails showing all it wrote.
app_line() {
    local name=$1 line=$2 i
    for i in $(seq 200); do
        grep -Fxq -- "$line" "$D/$name.out" && return 0
        sleep 0.05
    done
    fail "the application did not write '$line' within 10 s; it wrote:
$(cat "$D/$name.out")
stderr: $(cat "$D/$name.log")"
}

# strict_client ARGS...: `run` tests/servers/strict-tls-client.py (CPython
# ssl, no shim, a ragged end of file is an error) against SERVER_PORT,
# trusting the test CA; sets CLIENT_LOCAL to its address "IP:PORT", which
# is the PEER the server application reports.
strict_client() {
    run --separate-stderr timeout 30 "$PYTHON" "$SSA_TESTS_DIR/servers/strict-tls-client.py" \
        --ca "$PKI/ca.pem" --port "$SERVER_PORT" "$@"
    CLIENT_LOCAL=$(sed -n 's/^connected .* local=//p' <<< "$output")
}

# fifo_start NAME COMMAND...: COMMAND in the background, bounded by
# `timeout 10`, its stdin a FIFO this shell holds open (so the client's
# input does not end until fifo_close), stdout and stderr in $D/NAME.out.
# fifo_send LINE... writes lines to it; fifo_wait NAME waits for the
# client's exit (status in $status, what it printed in $output and
# $lines, as `run` sets them).
fifo_start() {
    local name=$1; shift
    rm -f "$D/$name.in"
    mkfifo "$D/$name.in"
    timeout 10 "$@" < "$D/$name.in" > "$D/$name.out" 2>&1 3>&- &
    FIFO_PID=$!
    register_pid "$FIFO_PID"
    # Read-write: never blocks; the client's open returns once we have it.
    exec {FIFO_FD}<>"$D/$name.in"
}
fifo_send()  { printf '%s\n' "$@" >&"$FIFO_FD"; }
fifo_close() {
    if [ -n "${FIFO_FD:-}" ]; then
        exec {FIFO_FD}>&-
        FIFO_FD=
    fi
}
fifo_wait() {
    status=0
    wait "$FIFO_PID" || status=$?
    fifo_close
    output=$(cat "$D/$1.out")
    mapfile -t lines < "$D/$1.out"
}

# set_s_client: S_CLIENT is openssl s_client against 127.0.0.1:SERVER_PORT
# as localhost, verifying it against the test CA, without command letters
# (no -quiet, which would ignore the end of its input).
set_s_client() {
    S_CLIENT=(openssl s_client -nocommands -CAfile "$PKI/ca.pem" -verify_return_error
              -verify_hostname localhost -servername localhost -connect "127.0.0.1:$SERVER_PORT")
}

# gnutls_cli ARGS...: gnutls-cli against the echo server as localhost,
# trusting the test CA; stdin from $CLI_STDIN; output in $output.
gnutls_cli() {
    run timeout 10 gnutls-cli --x509cafile "$PKI/ca.pem" -p "$SERVER_PORT" "$@" < "${CLI_STDIN:-/dev/null}"
}

@test "server: gnutls-cli gets its line echoed by ssa-echo-server; the accepted socket reports SNI, ALPN and version; no error at the end" {
    start_echo
    echo "hello through the SSA" > "$D/in"
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    assert_line "hello through the SSA"
    # At the end of its input gnutls-cli sends close_notify and reads on
    # until the server closes: this line says the end was neither a reset
    # nor an alert.  (gnutls-cli prints it for a bare FIN as well, once it
    # has sent its close_notify: the close_notify tests below use clients
    # that tell the two apart.)
    assert_line "- Peer has closed the GnuTLS connection"
    refute_output --partial "Fatal error"
    wait_line "$D/echo.out" '^closed 127\.0\.0\.1:[0-9]+ echoed=22$' ||
        fail "no close with 22 bytes echoed: $(cat "$D/echo.out")"
    assert_accepted_only '^accepted 127\.0\.0\.1:[0-9]+ sni=localhost alpn=- version=1\.3 resumed=0 peer=- peer_chain=0$'
}

@test "server: strict client (Python ssl), TLS 1.2 and 1.3: its close_notify reads as end of file, the application still sends (half-close), close() sends close_notify" {
    start_app app
    local v
    for v in 1.2 1.3; do
        # The client sends a line, reads the echo, sends close_notify,
        # reads on until the server's close_notify; a FIN without it is
        # an error (exit 4), and so is a reset (exit 5).
        strict_client --tls "$v" --send "strict over TLS $v"
        assert_status 0
        assert_line "connected version=TLSv$v local=$CLIENT_LOCAL"
        assert_line "echo equal 19"
        # The application read end of file, not an error, then wrote
        # "END 19" after the client's close_notify, and the client got it.
        assert_line "after close_notify: b'END 19\\n'"
        assert_line "peer close_notify"
        app_line app "accepted $CLIENT_LOCAL version=1.${v#1.} sni=localhost"
        app_line app "recv $CLIENT_LOCAL: EOF after 19 bytes"
        app_line app "sent $CLIENT_LOCAL: END 19"
    done
    run grep -E 'ECONNRESET|^send ' "$D/app.out"
    assert_failure
}

@test "server: strict client against ssa-echo-server (C): close_notify both ways, nothing after the echo" {
    start_echo
    strict_client --send-random 60000
    assert_status 0
    assert_line "echo equal 60000"
    assert_line "after close_notify: b''"
    assert_line "peer close_notify"
    wait_line "$D/echo.out" "^closed $CLIENT_LOCAL echoed=60000\$" || fail "$(cat "$D/echo.out")"
}

@test "server: the application closes first: gnutls-cli, openssl s_client (input still open) and a strict client see close_notify" {
    # The application closes its accepted socket after the line "bye".
    start_app app --close-on bye
    # gnutls-cli reports a FIN without close_notify as "The TLS connection
    # was non-properly terminated" (and exits 1) while its input is open.
    fifo_start gnutls gnutls-cli --x509cafile "$PKI/ca.pem" -p "$SERVER_PORT" localhost
    fifo_send "first line" bye
    fifo_wait gnutls
    assert_success
    assert_line "first line"
    assert_line "bye"
    assert_line "- Peer has closed the GnuTLS connection"
    refute_output --partial "non-properly terminated"
    refute_output --partial "Fatal error"
    # openssl s_client prints "closed" for close_notify and fails with
    # "unexpected eof while reading" (exit 1) for a bare FIN.
    set_s_client
    local v
    for v in -tls1_2 -tls1_3; do
        fifo_start "s_client$v" "${S_CLIENT[@]}" "$v"
        fifo_send "ping over $v" bye
        fifo_wait "s_client$v"
        assert_success
        assert_output --partial "Verify return code: 0 (ok)"
        assert_line "ping over $v"
        assert_line "closed"
        refute_output --partial "unexpected eof"
    done
    # A strict client: the server's close_notify came before its own.
    strict_client --send $'bye\n'
    assert_status 0
    assert_line "echo equal 4"
    assert_line "after close_notify: b''"
    assert_line "peer close_notify"
    app_line app "closing $CLIENT_LOCAL after 4 bytes"
    run grep -c '^closing .* after ' "$D/app.out"
    assert_output 4
}

@test "server: openssl s_client, TLS 1.2 and TLS 1.3: data echoed; its close_notify at the end of its input reads as end of file" {
    start_app app
    set_s_client
    local v n=0 peer
    for v in -tls1_2 -tls1_3; do
        fifo_start "s_client$v" "${S_CLIENT[@]}" "$v"
        fifo_send "ping over $v"
        # Its input ends only once the echo is back: then s_client sends
        # close_notify and exits.
        wait_line "$D/s_client$v.out" "^ping over $v\$" ||
            fail "no echo: $(cat "$D/s_client$v.out")"
        fifo_close
        fifo_wait "s_client$v"
        assert_success
        assert_output --partial "Verify return code: 0 (ok)"
        n=$((n + 1))
        wait_count "$D/app.out" '^recv ' "$n" || fail "the application read nothing more: $(cat "$D/app.out")"
        peer=$(sed -n "s/^accepted \\([^ ]*\\) version=1\\.${v#-tls1_} .*/\\1/p" "$D/app.out")
        [ -n "$peer" ] || fail "no connection with version 1.${v#-tls1_}: $(cat "$D/app.out")"
        app_line app "recv $peer: EOF after 18 bytes"
    done
    run grep -c '^accepted ' "$D/app.out"
    assert_output 2
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
    assert_line one
    assert_output --partial "subject \`CN=localhost"
    assert_accepted_only '^accepted 127\.0\.0\.1:[0-9]+ sni=replace\.localhost ' \
                         '^accepted 127\.0\.0\.1:[0-9]+ sni=localhost '
}

@test "server: a chain and key rewritten in place while the server listens are what the next client gets" {
    # The listener parses the keys once, for the helpers it forks; each
    # helper still reads the files, and parses them again if their bytes
    # changed (a renewed certificate written over the old one).
    cp "$PKI/good-chain.pem" "$D/chain.pem"
    cp "$PKI/good-key.pem" "$D/key.pem"
    start_echo -c "$D/chain.pem" -k "$D/key.pem"
    echo one > "$D/in"
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    assert_line one
    assert_output --partial "subject \`CN=localhost"
    cat "$PKI/replace-chain.pem" > "$D/chain.pem"
    cat "$PKI/replace-key.pem" > "$D/key.pem"
    CLI_STDIN=$D/in gnutls_cli --sni-hostname replace.localhost --verify-hostname replace.localhost 127.0.0.1
    assert_success
    assert_line one
    assert_output --partial "subject \`CN=replace.localhost"
}

@test "server: a policy change while the server listens applies to its next client" {
    start_echo -c "$PKI/good-chain.pem" -k "$PKI/good-key.pem"
    echo one > "$D/in"
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    assert_line one
    apply_policy zz-listening.ini "[defaults]" "allow = no"
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_failure
    refute_line one
    apply_policy --remove zz-listening.ini
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    assert_line one
}

@test "standalone: a listener forks the child for its next client ahead, after the first one, and the child exits with the server" {
    [ "$SSA_TEST_MODE" = standalone ] || skip "standalone mode only (the listener forks its clients' helpers)"
    SSA_TEST_MARK=$D start_echo
    # Before any client: the server's fork server, the helper it forked
    # ahead (spare.h), and the listener, which forks ahead only once a
    # client came.
    wait_helpers_of "$D" 3 || fail "helpers before a client: $(helpers_of "$D" | grep -c .), not 3"
    echo one > "$D/in"
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    assert_line one
    # The client's helper ended with its connection; the listener's child
    # for the next client waits, and serves it.
    wait_helpers_of "$D" 4 || fail "helpers after a client: $(helpers_of "$D" | grep -c .), not 4"
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    assert_line one
    wait_helpers_of "$D" 4 || fail "helpers after two clients: $(helpers_of "$D" | grep -c .), not 4"
    kill "$SERVER_PID"
    wait_helpers_of "$D" 0 || fail "helpers left behind by the server: $(helpers_of "$D")"
}

@test "server: a name (SNI) none of the chains holds is refused with unrecognized_name; the server never sees it" {
    start_echo
    echo nope > "$D/in"
    CLI_STDIN=$D/in gnutls_cli --sni-hostname nobody.example.test --verify-hostname localhost 127.0.0.1
    assert_failure
    assert_output --partial "server name sent was not recognized"
    refute_line nope
    # Then a good client on the same listening socket: once the application
    # has served it, it has accepted exactly one connection, that one.
    echo good > "$D/in"
    CLI_STDIN=$D/in gnutls_cli localhost
    assert_success
    assert_line good
    wait_line "$D/echo.out" '^closed .* echoed=5$' || fail "$(cat "$D/echo.out")"
    assert_accepted_only '^accepted 127\.0\.0\.1:[0-9]+ sni=localhost alpn=- version=1\.3 '
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
    refute_line alpn
    # A third client, after the refused one: once it is served, exactly
    # the first and the third were accepted.
    echo third > "$D/in"
    CLI_STDIN=$D/in gnutls_cli --alpn h2 localhost
    assert_success
    assert_output --partial "- Application protocol: h2"
    wait_line "$D/echo.out" '^closed .* echoed=6$' || fail "$(cat "$D/echo.out")"
    assert_accepted_only '^accepted 127\.0\.0\.1:[0-9]+ sni=localhost alpn=http/1\.1 ' \
                         '^accepted 127\.0\.0\.1:[0-9]+ sni=localhost alpn=h2 '
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
    # TLS 1.3: the server's verdict comes after the client's handshake is
    # over, so the clients fail on reading.  s_client's input stays open
    # until it exits (it would otherwise send close_notify and leave at
    # the end of its input, perhaps before the verdict came).
    set_s_client
    fifo_start s_client "${S_CLIENT[@]}"
    fifo_send refused
    fifo_wait s_client
    [ "$status" -ne 0 ] || fail "s_client without a certificate succeeded: $output"
    assert_output --partial "certificate required"
    refute_line "refused"
    # From a CA neither the policy nor TLS_TRUSTED_PEER_CERTIFICATES trusts.
    echo "refused" > "$D/in"
    CLI_STDIN=$D/in gnutls_cli --x509certfile "$PKI/untrusted-chain.pem" --x509keyfile "$PKI/untrusted-key.pem" localhost
    assert_failure
    assert_output --partial "Handshake was completed"   # the client's part of it
    assert_output --partial "*** Fatal error"
    refute_line "refused"
    # From the trusted server CA, but a server certificate (its extended
    # key usage is serverAuth only: RFC 5280 §4.2.1.12).
    CLI_STDIN=$D/in gnutls_cli --x509certfile "$PKI/good-chain.pem" --x509keyfile "$PKI/good-key.pem" localhost
    assert_failure
    assert_output --partial "*** Fatal error"
    refute_line "refused"
    # And the one that should pass does, on the same listening socket; once
    # the application has served it, that is the only connection it ever
    # accepted.
    echo "accepted" > "$D/in"
    CLI_STDIN=$D/in gnutls_cli --x509certfile "$PKI/client-chain.pem" --x509keyfile "$PKI/client-key.pem" localhost
    assert_success
    assert_line "accepted"
    wait_line "$D/echo.out" '^closed .* echoed=9$' || fail "$(cat "$D/echo.out")"
    assert_accepted_only '^accepted 127\.0\.0\.1:[0-9]+ sni=localhost alpn=- version=1\.3 resumed=0 peer=CN=SSA Test Client,O=SSA tests peer_chain=2$'
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
    # Five TCP connections that never send a ClientHello; for each, how
    # long after its connect the server ended it (ms), and how.
    start_bg silent /dev/null "$PYTHON" -c "
import socket, time
conns = []
for _ in range(5):
    c = socket.create_connection(('127.0.0.1', $SERVER_PORT))
    conns.append((c, time.monotonic()))
print('connected', flush=True)
for i, (c, t0) in enumerate(conns):
    c.settimeout(max(0.1, t0 + 10 - time.monotonic()))
    try:
        how = 'eof' if c.recv(1) == b'' else 'data'
    except socket.timeout:
        how = 'timeout'
    except OSError as e:
        how = type(e).__name__
    print('dropped', i, how, round((time.monotonic() - t0) * 1000), flush=True)"
    wait_line "$D/silent.out" '^connected$' || fail "$(cat "$D/silent.log")"
    local t0 t1 ms
    t0=$(date +%s%N)
    echo "not held up" > "$D/in"
    CLI_STDIN=$D/in gnutls_cli localhost
    t1=$(date +%s%N)
    assert_success
    assert_line "not held up"
    # Well within the test policy's 3 s handshake timeout that the silent
    # ones would cost if they were in the way.
    ms=$(( (t1 - t0) / 1000000 ))
    [ "$ms" -lt 2500 ] || fail "the client took $ms ms"
    # The handshake timeout (3 s) ends each silent connection (a FIN):
    # not before it, and not much after.
    wait_count "$D/silent.out" '^dropped ' 5 15 || fail "not all dropped: $(cat "$D/silent.out" "$D/silent.log")"
    local i how
    while read -r _ i how ms; do
        [ "$how" = eof ] || fail "silent connection $i ended by $how after $ms ms"
        [ "$ms" -ge 2900 ] && [ "$ms" -le 4500 ] ||
            fail "silent connection $i dropped after $ms ms, not about 3000"
    done < <(grep '^dropped ' "$D/silent.out")
    # None of them ever reached the application; the good client did.
    assert_accepted_only '^accepted 127\.0\.0\.1:[0-9]+ sni=localhost alpn=- version=1\.3 '
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

@test "server: a client that ends TCP without close_notify (truncation) reads as ECONNRESET in the application, after all its data, never as end of file" {
    # No echo: the application only reads, so no write of its own can take
    # the error first.  The client sends 100000 bytes and a FIN at once.
    start_app sink --no-echo
    strict_client --send-random 100000 --no-wait-echo --end fin
    assert_status 0
    assert_line "sent FIN without close_notify"
    app_line sink "closed $CLIENT_LOCAL"
    app_line sink "recv $CLIENT_LOCAL: ECONNRESET after 100000 bytes"
    # After an exchange: the application is waiting in read() when the
    # FIN comes.
    start_app echoing
    strict_client --end fin
    assert_status 0
    assert_line "echo equal 27"
    app_line echoing "closed $CLIENT_LOCAL"
    app_line echoing "recv $CLIENT_LOCAL: ECONNRESET after 27 bytes"
    run grep -h 'EOF' "$D/sink.out" "$D/echoing.out"
    assert_failure
}

@test "server: a client that resets mid-stream reads as ECONNRESET on its own socket, and costs only its own connection" {
    start_app app
    # One process drives three connections: G (established before the
    # reset, used after it), R (sends 1000 bytes, gets them back, resets)
    # and N (a new client after the reset).  Between R's reset and G's
    # next line it waits until the application has read R's ECONNRESET.
    run timeout 30 "$PYTHON" - "$SSA_TESTS_DIR/servers/strict-tls-client.py" "$SERVER_PORT" "$PKI/ca.pem" "$D/app.out" <<'EOF'
import importlib.util, sys, time
sys.dont_write_bytecode = True
spec = importlib.util.spec_from_file_location("strict", sys.argv[1])
strict = importlib.util.module_from_spec(spec)
spec.loader.exec_module(strict)
port, ca, app_out = int(sys.argv[2]), sys.argv[3], sys.argv[4]

def client():
    return strict.StrictTLS("127.0.0.1", port, "localhost", ca)

def echo(c, data):
    c.send(data)
    got = c.recv_exact(len(data))
    if got != data:
        sys.exit(f"{c.local}: echo differs: {got[:40]!r}")

def wait_app(line, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with open(app_out) as f:
            if line in f.read().splitlines():
                return
        time.sleep(0.05)
    sys.exit(f"the application did not write {line!r} within {seconds} s")

g = client()
echo(g, b"good 1\n")
r = client()
echo(r, b"x" * 1000)
r.rst()
print("reset", r.local, flush=True)
wait_app(f"recv {r.local}: ECONNRESET after 1000 bytes")
echo(g, b"good 2\n")
print("good", g.local, repr(g.close_notify()))
n = client()
echo(n, b"new\n")
print("new", n.local, repr(n.close_notify()))
EOF
    assert_success
    local r g n
    r=$(sed -n 's/^reset //p' <<< "$output")
    g=$(sed -n 's/^good \([^ ]*\) .*/\1/p' <<< "$output")
    n=$(sed -n 's/^new \([^ ]*\) .*/\1/p' <<< "$output")
    assert_line "good $g b'END 14\\n'"
    assert_line "new $n b'END 4\\n'"
    app_line app "recv $r: ECONNRESET after 1000 bytes"
    app_line app "recv $g: EOF after 14 bytes"
    app_line app "recv $n: EOF after 4 bytes"
    run grep -c -e "^recv $r: " -e "^send $r: " "$D/app.out"
    assert_output 1
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
