#!/usr/bin/env bats
# End-to-end tests of the client path: ssa-pipe (socket/setsockopt/connect
# through the shim) against real TLS servers: gnutls-serv, openssl
# s_server and a Python ssl server that truncates.  Run by tests/run-tests
# in standalone mode and, inside a container with systemd, in units mode
# (see lib.bash).

load lib

setup_file()    { ssa_setup_file; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; }
teardown()      { ssa_teardown; }

# ---------------------------------------------------------------------------
# Success, bulk data both ways
# ---------------------------------------------------------------------------

@test "gnutls-serv: 1 MiB each way through the echo server, sha256 equal" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    # The echo server answers line by line, so the client's stdin can end
    # at once: every echo is written before the server reads close_notify.
    pipe_to_file "$D/echo.out" "$D/pipe.err" "$SSA_T/text.txt" \
        -n localhost 127.0.0.1 "$SERVER_PORT"
    [ "$status" -eq 0 ] || fail "ssa-pipe exited $status: $(cat "$D/pipe.err")"
    assert_same_file "$SSA_T/text.txt" "$D/echo.out"
}

@test "openssl s_server: 1 MiB of binary each way, sha256 equal both directions" {
    OPENSSL_STDIN=$SSA_T/b.bin start_openssl_server \
        "$PKI/good-chain.pem" "$PKI/good-key.pem"
    # s_server closes the connection when it reads the client's
    # close_notify, so the client holds its stdin (and so its write side)
    # open until it has received the whole 1 MiB the server sends.
    pipe_to_file "$D/client.out" "$D/pipe.err" \
        <(exec 3>&-; cat "$SSA_T/a.bin"; wait_size "$D/client.out" "$MIB" 30) \
        -n localhost 127.0.0.1 "$SERVER_PORT"
    [ "$status" -eq 0 ] || fail "ssa-pipe exited $status: $(cat "$D/pipe.err")"
    assert_same_file "$SSA_T/b.bin" "$D/client.out"     # server -> client
    wait_exit "$SERVER_PID" 10 || fail "s_server did not finish"
    assert_same_file "$SSA_T/a.bin" "$D/openssl.out"    # client -> server
}

@test "IPv4 address as TLS_HOSTNAME is verified against the IP SAN (gnutls-serv)" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    printf 'ip san check\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe 127.0.0.1 "$SERVER_PORT"     # -n defaults to HOST
    assert_status 0
    assert_output "ip san check"
}

# ---------------------------------------------------------------------------
# Validation failures: connect() fails with EPROTO and TLS_ERROR says why
# ---------------------------------------------------------------------------

# reject_case SERVER PKI-NAME REASON-REGEX [SERVER-ARGS...]
reject_case() {
    local server=$1 name=$2 regex=$3; shift 3
    "start_$server" "$PKI/$name-chain.pem" "$PKI/$name-key.pem" "$@"
    printf 'must not arrive\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_eproto "$regex"
    assert_output ""
    # s_server prints what it receives: nothing may have got through.
    if [ "$server" = openssl_server ]; then
        [ ! -s "$D/openssl.out" ] || fail "server received: $(cat "$D/openssl.out")"
    fi
}

# Regexes for the reason: loose on purpose (any sensible wording), but each
# names the actual problem.
R_NAME='name|host'
R_EXPIRED='expired'
R_NOTYET='not yet|not.*activ|future'
R_ISSUER='issuer|signer|self.signed|unknown (ca|authority)'
# The TLS 1.0-only servers: gnutls-serv's refusal reads "TLS handshake
# failed: A packet with illegal or unsupported version was received.",
# s_server's "TLS handshake failed: the peer sent alert 'Error in protocol
# version'": both name the version, as a refusal for the version must.
R_VERSION='version'

@test "gnutls-serv: wrong name -> EPROTO" {
    reject_case gnutls_serv wrongname "$R_NAME"
}
@test "openssl s_server: wrong name -> EPROTO" {
    reject_case openssl_server wrongname "$R_NAME"
}
@test "gnutls-serv: expired certificate -> EPROTO" {
    reject_case gnutls_serv expired "$R_EXPIRED"
}
@test "openssl s_server: expired certificate -> EPROTO" {
    reject_case openssl_server expired "$R_EXPIRED"
}
@test "gnutls-serv: not yet valid certificate -> EPROTO" {
    reject_case gnutls_serv notyet "$R_NOTYET"
}
@test "openssl s_server: not yet valid certificate -> EPROTO" {
    reject_case openssl_server notyet "$R_NOTYET"
}
@test "gnutls-serv: self-signed certificate -> EPROTO" {
    reject_case gnutls_serv selfsigned "$R_ISSUER"
}
@test "openssl s_server: self-signed certificate -> EPROTO" {
    reject_case openssl_server selfsigned "$R_ISSUER"
}
@test "gnutls-serv: chain from an untrusted CA -> EPROTO" {
    reject_case gnutls_serv untrusted "$R_ISSUER"
}
@test "openssl s_server: chain from an untrusted CA -> EPROTO" {
    reject_case openssl_server untrusted "$R_ISSUER"
}
# The purpose (SPEC §3): serverAuth must be allowed at the leaf and at every
# CA that restricts purposes.
R_PURPOSE='extended key usage.*serverAuth'
@test "gnutls-serv: leaf for clientAuth only -> EPROTO naming serverAuth" {
    reject_case gnutls_serv clientonly "$R_PURPOSE"
}
@test "openssl s_server: leaf for clientAuth only -> EPROTO naming serverAuth" {
    reject_case openssl_server clientonly "$R_PURPOSE"
}
@test "gnutls-serv: intermediate restricted to clientAuth -> EPROTO naming serverAuth" {
    reject_case gnutls_serv purpose-int "$R_PURPOSE"
}
@test "openssl s_server: intermediate restricted to clientAuth -> EPROTO naming serverAuth" {
    reject_case openssl_server purpose-int "$R_PURPOSE"
}
@test "gnutls-serv: server limited to TLS 1.0 -> EPROTO (policy minimum 1.2)" {
    reject_case gnutls_serv good "$R_VERSION" \
        --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.0'
}
@test "openssl s_server: server limited to TLS 1.0 -> EPROTO (policy minimum 1.2)" {
    reject_case openssl_server good "$R_VERSION" \
        -tls1 -cipher 'DEFAULT@SECLEVEL=0'
}

# ---------------------------------------------------------------------------
# Network errors
# ---------------------------------------------------------------------------

@test "closed port -> ECONNREFUSED" {
    local port
    port=$(free_port)
    run_pipe -n localhost 127.0.0.1 "$port"
    assert_connect_failed ECONNREFUSED
    [[ $stderr == *"(Connection refused)"* ]] || fail "no strerror text: $stderr"
}

@test "AF_HOSTNAME with a name that does not resolve -> EHOSTUNREACH" {
    run_pipe -H no-such-host.invalid 443
    assert_connect_failed EHOSTUNREACH
}

# ---------------------------------------------------------------------------
# Where the helper comes from
# ---------------------------------------------------------------------------

@test "units: the connection is served by the installed units through /run/ssa/helper.sock" {
    [ "$SSA_TEST_MODE" = units ] || skip "units mode only (systemd in the container)"
    # The installed socket unit listens on the path the shim uses.
    local listen frag
    listen=$(systemctl show -P Listen ssa-helper.socket)
    [[ $listen == *"/run/ssa/helper.sock"* ]] || fail "ssa-helper.socket listens on: $listen"
    frag=$(systemctl show -P FragmentPath ssa-helper.socket)
    [[ $frag == /usr/local/lib/systemd/system/* ]] || fail "not the installed unit: $frag"
    [ -S /run/ssa/helper.sock ] || fail "/run/ssa/helper.sock is not a socket"
    [ -z "${SSA_HELPER_SOCKET:-}${SSA_HELPER_PATH:-}${SSA_CONFIG_DIR:-}" ] ||
        fail "an override is set: SSA_HELPER_SOCKET='${SSA_HELPER_SOCKET:-}' SSA_HELPER_PATH='${SSA_HELPER_PATH:-}' SSA_CONFIG_DIR='${SSA_CONFIG_DIR:-}'"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    printf 'via the socket unit\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_status 0
    assert_output "via the socket unit"
    # The helper that served it logged the connection's TLS_ID, as the
    # service's user: not as this client (root), which is what a helper
    # the shim started itself would run as.  Where journald still caught
    # the unit (the helper may be gone before it looks), it is one of the
    # installed units' services (ssa-helper.service, or an instance of
    # ssa-helper@.service).
    local id entry unit uid
    id=$(grep -o ' id=[0-9a-f]*' <<< "$stderr" | cut -d= -f2)
    [ -n "$id" ] || fail "no id in: $stderr"
    entry=$(journal_entry "SSA_ID=$id")
    [ -n "$entry" ] || fail "no journal entry with SSA_ID=$id"
    uid=$(sed -n 's/^ *_UID=//p' <<< "$entry" | head -n 1)
    [[ $uid =~ ^[0-9]+$ ]] && [ "$uid" -ne "$(id -u)" ] && [ "$uid" -ne 0 ] ||
        fail "the helper ran as uid '$uid', not as the service's own user: $entry"
    unit=$(sed -n 's/^ *_SYSTEMD_UNIT=//p' <<< "$entry" | head -n 1)
    if [ -n "$unit" ]; then
        [[ $unit =~ ^ssa-helper(@[^.]*)?\.service$ ]] || fail "logged by unit '$unit', not the installed service: $entry"
    fi
    run systemctl is-active ssa-helper.socket
    assert_output active
}

@test "units: one structured journal entry per connection, with the TLS_ID as SSA_ID" {
    [ "$SSA_TEST_MODE" = units ] || skip "units mode only (journald runs in the container)"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    printf 'journal me\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_status 0
    local id entry
    id=$(grep -o ' id=[0-9a-f]*' <<< "$stderr" | cut -d= -f2)
    [ -n "$id" ] || fail "no id in: $stderr"
    entry=$(journal_entry "SSA_ID=$id")
    [ "$(grep -c '^ *SSA_ID=' <<< "$entry")" -eq 1 ] || fail "expected one entry for $id: $entry"
    for field in "SSA_RESULT=ok" "SSA_PEER_NAME=localhost" "SSA_PEER_ADDRESS=127.0.0.1:$SERVER_PORT" \
                 "SSA_VERSION=TLS1.3" "SSA_BYTES_SENT=11" "SSA_BYTES_RECEIVED=11" "PRIORITY=6" \
                 "SSA_EXE=$(realpath "$SSA_PIPE")"; do
        grep -q "^ *$field\$" <<< "$entry" || fail "no $field in: $entry"
    done
    grep -q '^ *SSA_UID=0$' <<< "$entry" || fail "SSA_UID is not the client's uid 0: $entry"
}

@test "units: a refused connection is logged at LOG_WARNING or above, SSA_REASON naming the cause" {
    [ "$SSA_TEST_MODE" = units ] || skip "units mode only (journald runs in the container)"
    start_gnutls_serv "$PKI/wrongname-chain.pem" "$PKI/wrongname-key.pem"
    run_pipe -n journal-check.localhost 127.0.0.1 "$SERVER_PORT"
    assert_connect_failed EPROTO
    local entry
    entry=$(journal_entry "SSA_PEER_NAME=journal-check.localhost")
    # At LOG_WARNING or above (SPEC §5): PRIORITY 0..4.
    local prio
    prio=$(sed -n 's/^ *PRIORITY=//p' <<< "$entry" | head -n 1)
    [[ $prio =~ ^[0-4]$ ]] || fail "not at LOG_WARNING or above (PRIORITY=$prio): $entry"
    grep -q '^ *SSA_RESULT=EPROTO$' <<< "$entry" || fail "no SSA_RESULT=EPROTO: $entry"
    # SSA_REASON names the cause (the name does not match), in any words;
    # the peer's name itself does not count as naming it.
    local reason
    reason=$(sed -n 's/^ *SSA_REASON=//p' <<< "$entry" | head -n 1)
    [ -n "$reason" ] || fail "no SSA_REASON field: $entry"
    reason=${reason//journal-check.localhost/}
    shopt -s nocasematch
    local ok=0
    [[ $reason =~ $R_NAME ]] && ok=1
    shopt -u nocasematch
    [ $ok -eq 1 ] || fail "SSA_REASON does not name the cause (/$R_NAME/): $reason"
}

@test "standalone: a helper that cannot be started -> ECANCELED" {
    [ "$SSA_TEST_MODE" = standalone ] || skip "standalone mode only (the shim spawns the helper)"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    SSA_HELPER_PATH=$D/no-such-helper run_pipe -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_connect_failed ECANCELED
}

# ---------------------------------------------------------------------------
# Address families
# ---------------------------------------------------------------------------

@test "AF_HOSTNAME: the helper resolves localhost (gnutls-serv)" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    printf 'hello over AF_HOSTNAME\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -H localhost "$SERVER_PORT"
    assert_status 0
    assert_output "hello over AF_HOSTNAME"
}

@test "AF_HOSTNAME: the helper resolves localhost (openssl s_server)" {
    # Nothing to send back: the server's stdin is empty.  The client's data
    # must arrive, and close_notify ends both sides cleanly.
    start_openssl_server "$PKI/good-chain.pem" "$PKI/good-key.pem"
    printf 'hostname to openssl\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -H localhost "$SERVER_PORT"
    assert_status 0
    assert_output ""
    wait_exit "$SERVER_PID" 10 || fail "s_server did not finish"
    assert_equal "$(cat "$D/openssl.out")" "hostname to openssl"
}

@test "IPv6: AF_INET6 to ::1, verified against the IP SAN ::1 (gnutls-serv)" {
    has_ipv6_loopback || skip "no IPv6 loopback (::1) on this machine"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    printf 'hello over IPv6\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -6 ::1 "$SERVER_PORT"
    assert_status 0
    assert_output "hello over IPv6"
}

@test "IPv6: AF_INET6 to ::1 with TLS_HOSTNAME localhost (openssl s_server on [::1])" {
    has_ipv6_loopback || skip "no IPv6 loopback (::1) on this machine"
    printf 'from the server over IPv6\n' > "$D/srv-in"
    OPENSSL_STDIN=$D/srv-in start_openssl_server \
        "$PKI/good-chain.pem" "$PKI/good-key.pem" -6
    # As above, stdin stays open until the server's line has arrived.
    pipe_to_file "$D/client.out" "$D/pipe.err" \
        <(exec 3>&-; wait_size "$D/client.out" 26 10) \
        -6 -n localhost ::1 "$SERVER_PORT"
    [ "$status" -eq 0 ] || fail "ssa-pipe exited $status: $(cat "$D/pipe.err")"
    assert_equal "$(cat "$D/client.out")" "from the server over IPv6"
}

# ---------------------------------------------------------------------------
# Truncation: TCP FIN without close_notify
# ---------------------------------------------------------------------------

@test "truncation: peer closes TCP without close_notify -> data, then ECONNRESET (exit 3)" {
    head -c 65536 "$SSA_T/text.txt" > "$D/payload"
    start_truncating_server "$PKI/good-chain.pem" "$PKI/good-key.pem" "$D/payload"
    pipe_to_file "$D/client.out" "$D/pipe.err" /dev/null \
        -n localhost 127.0.0.1 "$SERVER_PORT"
    [ "$status" -ne 2 ] || fail "connect failed: $(cat "$D/pipe.err")"
    # Everything the server sent arrived before the error...
    assert_same_file "$D/payload" "$D/client.out"
    # ...and the end was reported as a reset, not as a clean EOF.
    [ "$status" -eq 3 ] || fail "expected exit 3, got $status: $(cat "$D/pipe.err")"
    grep -q 'ssa-pipe: read: ECONNRESET (Connection reset by peer)' "$D/pipe.err" ||
        fail "no read ECONNRESET: $(cat "$D/pipe.err")"
}

@test "truncation = eof in a [host] section: the same truncation reads as a clean EOF" {
    # The test policy has [host ::1] truncation = eof; the certificate
    # names ::1, so TLS_HOSTNAME ::1 selects that section in both modes.
    head -c 65536 "$SSA_T/text.txt" > "$D/payload"
    start_truncating_server "$PKI/good-chain.pem" "$PKI/good-key.pem" "$D/payload"
    pipe_to_file "$D/client.out" "$D/pipe.err" /dev/null -n ::1 127.0.0.1 "$SERVER_PORT"
    [ "$status" -eq 0 ] || fail "expected exit 0, got $status: $(cat "$D/pipe.err")"
    assert_same_file "$D/payload" "$D/client.out"
}

# ---------------------------------------------------------------------------
# Connection information (-i: TLS_CHOSEN_VERSION, TLS_CHOSEN_CIPHER, TLS_ID,
# TLS_PEER_IDENTITY)
# ---------------------------------------------------------------------------

# assert_info_line: stderr has "connected version=TLS1.3 cipher=<name>
# id=<u64, decimal or hex> peer=<DN with CN=localhost>".
assert_info_line() {
    local line
    line=$(grep '^connected ' <<< "$stderr" | head -n 1)
    [[ $line =~ ^connected\ version=TLS1\.3\ cipher=([^[:space:]]+)\ id=([0-9a-fA-F]+)\ peer=(.*)$ ]] ||
        fail "no 'connected version=TLS1.3 cipher=... id=... peer=...' line: $stderr"
    local cipher=${BASH_REMATCH[1]} peer=${BASH_REMATCH[3]}
    # A TLS 1.3 suite name (GnuTLS or IANA spelling) with an AEAD in it.
    [[ $cipher =~ AES|CHACHA20 ]] || fail "implausible cipher name: $cipher"
    [[ $peer == *CN=localhost* ]] || fail "peer DN without CN=localhost: $peer"
}

@test "-i reports TLS1.3, the cipher, an id and the peer DN (gnutls-serv)" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    printf 'info\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_status 0
    assert_output "info"
    assert_info_line
}

@test "-i reports TLS1.3, the cipher, an id and the peer DN (openssl s_server)" {
    start_openssl_server "$PKI/good-chain.pem" "$PKI/good-key.pem"
    run_pipe -i -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_status 0
    assert_info_line
}

@test "-i: two connections get different ids" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    printf 'one\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_status 0
    local id1 id2
    id1=$(grep -o ' id=[0-9a-fA-F]*' <<< "$stderr")
    PIPE_STDIN=$D/in run_pipe -i -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_status 0
    id2=$(grep -o ' id=[0-9a-fA-F]*' <<< "$stderr")
    [ -n "$id1" ] && [ "$id1" != "$id2" ] || fail "ids not distinct: '$id1' '$id2'"
}

# ---------------------------------------------------------------------------
# The example program
# ---------------------------------------------------------------------------

@test "examples/ssa-get fetches a page over TLS and prints the body" {
    [ -x "$SSA_GET" ] || fail "missing $SSA_GET"
    printf 'Hello from the SSA test page\nsecond line\n' > "$D/page"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem" \
        --http --httpdata "$D/page"
    # ssa-get HOST [PORT [PATH]]; it prints the response as received.
    run --separate-stderr timeout "$SSA_CLIENT_TIMEOUT" "$SSA_GET" \
        localhost "$SERVER_PORT" /
    assert_status 0
    assert_line --index 0 --regexp '^HTTP/1\.[01] 200 OK'
    # The body, complete, at the end of the output.
    [[ $output == *$'\r\n\r\n'"$(cat "$D/page")" ]] ||
        fail "body missing or incomplete: $output"
}

@test "examples/ssa-get on a wrong name prints strerror and the TLS_ERROR reason" {
    [ -x "$SSA_GET" ] || fail "missing $SSA_GET"
    printf 'secret page\n' > "$D/page"
    start_gnutls_serv "$PKI/wrongname-chain.pem" "$PKI/wrongname-key.pem" \
        --http --httpdata "$D/page"
    run --separate-stderr timeout "$SSA_CLIENT_TIMEOUT" "$SSA_GET" \
        localhost "$SERVER_PORT" /
    assert_status 1
    refute_output --partial "secret page"
    [[ $stderr == *"Protocol error"* ]] || fail "no strerror(EPROTO) text: $stderr"
    # The reason follows strerror's text, and names the cause (not just
    # the host name the program printed before it).
    [[ $stderr =~ "Protocol error: "(.*)$ ]] || fail "no TLS_ERROR reason after strerror: $stderr"
    [[ ${BASH_REMATCH[1]} == *"does not match"* || ${BASH_REMATCH[1]} == *"does not name"* ]] ||
        fail "the reason does not name the cause: ${BASH_REMATCH[1]}"
}
