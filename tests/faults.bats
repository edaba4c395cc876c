#!/usr/bin/env bats
# The fault matrix (SPEC.md section 3, "Socket semantics", and section 5,
# "Every phase has a timeout"): peers that misbehave, against the SSA's
# client side and against its server side, and what the application must
# see each time.
#
#   trickling   a peer that sends its handshake one byte every 0.5 s is cut
#               off at the handshake's one absolute deadline (the test
#               policy's handshake-timeout: 3 s), on both sides; 150 of them
#               from one address do not hold up a client from another
#   resets      a RST before TLS, after the ServerHello, mid-stream, from a
#               server and from a client: ECONNRESET where SPEC says, and
#               a server that goes on serving
#   SIGKILL     the phases tests/helper-death.bats does not cover: a
#               server's per-client helper during the handshake and right
#               after accept(), and the listener's helper (accept() must
#               not hang)
#   limits      the application out of descriptors (EMFILE, nobody lost);
#               a peer that stops reading (writes block, the helper's
#               memory stays bounded, nothing lost); 1000 clients at once
#
# Every test runs in both modes.
#
# The peers are real: tests/servers/tls-test-server.py (CPython's ssl, with
# the misbehaving modes trickle, reset, reset-hello, reset-data and
# sink-later), tests/clients/misbehaving-tls-client.py (trickle,
# reset-handshake, hold, reset-stream), tests/clients/tls-burst-client.py
# (asyncio, N clients at once), gnutls-cli and the strict client; the
# servers under test are examples/ssa-echo-server (C) and
# tests/servers/ssa-app-server.py (Python through LD_PRELOAD), and ssa-pipe
# and two small Python applications (written by write_apps) on the client
# side.  Helpers are found by what they hold (ss -p), never by timing.
#
# Timings the tests measure are printed as TAP comments ("# ...").

load lib

setup_file()    { ssa_setup_file; write_apps; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; }
teardown()      { ssa_teardown; }

if [ "$SSA_TEST_MODE" = units ]; then
    SSA_ECHO=$SSA_BUILDDIR/examples/.libs/ssa-echo-server
    [ -x "$SSA_ECHO" ] || SSA_ECHO=$SSA_BUILDDIR/examples/ssa-echo-server
else
    SSA_ECHO=$SSA_BUILDDIR/examples/ssa-echo-server
fi
MISBEHAVE=$SSA_TESTS_DIR/clients/misbehaving-tls-client.py
BURST=$SSA_TESTS_DIR/clients/tls-burst-client.py

# The test policy's handshake-timeout (lib.bash's write_policy and
# tests/run-tests), in ms.
HANDSHAKE_TIMEOUT_MS=3000

# ---------------------------------------------------------------------------
# The applications on the SSA (Python, LD_PRELOAD=the shim), in $SSA_T.
# ---------------------------------------------------------------------------

# write_apps:
#
#   writer.py HOST PORT NAME TOTAL START-FILE: connects (blocking), prints
#     "connected", waits for START-FILE, then writes TOTAL pseudo-random
#     bytes on the socket made non-blocking.  The first time a write gets
#     EAGAIN and the socket then stays unwritable for 2 s it prints
#     "blocked after N bytes" (N: written so far); it goes on when the
#     socket turns writable (at most 60 s, else "HANG").  At the end:
#     "wrote N bytes sha256 HEX", shutdown(SHUT_WR) (close_notify after
#     all data), and "peer closed: EOF" (or what recv gave) when the peer
#     answers with its own close_notify.
#
#   listen-app.py CHAIN KEY poll|block DEADLINE: listens on an IPPROTO_TLS
#     socket on 127.0.0.1 ("listening on PORT pid PID"), then
#       poll   polls the listening socket ("polling"); when poll returns:
#              "poll: FLAGS at WALL-MS"
#       block  blocks in accept() ("accepting")
#     and reports the accept() that follows: "accept: ok" or
#     "accept: ERRNAME at WALL-MS: TLS_ERROR", then a second, non-blocking
#     one ("accept again: ERRNAME") and a poll(0) ("poll again: FLAGS").
#     Any wait longer than DEADLINE s prints "HANG: ..." and exits 4.
write_apps() {
    cat > "$SSA_T/writer.py" <<'EOF'
import hashlib, os, random, select, socket, sys, time

IPPROTO_TLS, TLS_HOSTNAME = 205, 85
host, port, name, total, start = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                  int(sys.argv[4]), sys.argv[5])


def say(*a):
    print(*a, flush=True)


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_TLS)
s.setsockopt(IPPROTO_TLS, TLS_HOSTNAME, name.encode() + b"\0")
s.connect((host, port))
say("connected")
while not os.path.exists(start):
    time.sleep(0.02)

s.setblocking(False)
p = select.poll()
p.register(s, select.POLLOUT)
rng, h = random.Random(20240601), hashlib.sha256()
sent, chunk, blocked = 0, b"", False
while sent < total:
    if not chunk:
        chunk = rng.randbytes(min(65536, total - sent))
        h.update(chunk)
    try:
        n = s.send(chunk)
    except BlockingIOError:
        if not p.poll(2000) and not blocked:
            say(f"blocked after {sent} bytes")
            blocked = True
            if not p.poll(60000):
                say("HANG: not writable for 60 s")
                sys.exit(4)
        continue
    sent += n
    chunk = chunk[n:]
say(f"wrote {sent} bytes sha256 {h.hexdigest()}")
s.setblocking(True)
s.shutdown(socket.SHUT_WR)
s.settimeout(60)
try:
    d = s.recv(65536)
    say("peer closed: EOF" if d == b"" else f"peer sent {len(d)} bytes")
except OSError as e:
    say(f"peer closed: {type(e).__name__}")
EOF

    cat > "$SSA_T/listen-app.py" <<'EOF'
import errno, os, select, signal, socket, sys, time

IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, TLS_PRIVATE_KEY, TLS_ERROR = 205, 88, 89, 100
chain, key, mode, deadline = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
FLAGS = [(select.POLLIN, "IN"), (select.POLLOUT, "OUT"), (select.POLLERR, "ERR"),
         (select.POLLHUP, "HUP"), (select.POLLNVAL, "NVAL"), (select.POLLRDHUP, "RDHUP")]


def say(*a):
    print(*a, flush=True)


def flags(ev):
    return "|".join(n for f, n in FLAGS if ev & f) or "0"


def wall_ms():
    return int(time.time() * 1000)


def tls_error(s):
    try:
        return s.getsockopt(IPPROTO_TLS, TLS_ERROR, 512).split(b"\0")[0].decode()
    except OSError as e:
        return f"(getsockopt: {errno.errorcode.get(e.errno)})"


def hang(signum, frame):
    say(f"HANG: accept() did not return within {deadline} s")
    os._exit(4)


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_TLS)
s.setsockopt(IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, chain.encode() + b"\0")
s.setsockopt(IPPROTO_TLS, TLS_PRIVATE_KEY, key.encode() + b"\0")
s.bind(("127.0.0.1", 0))
s.listen(16)
say(f"listening on {s.getsockname()[1]} pid {os.getpid()}")

p = select.poll()
p.register(s, select.POLLIN)
if mode == "poll":
    say("polling")
    r = p.poll(deadline * 1000)
    if not r:
        say(f"HANG: poll() reported nothing within {deadline} s")
        sys.exit(4)
    say(f"poll: {flags(r[0][1])} at {wall_ms()}")
else:
    signal.signal(signal.SIGALRM, hang)
    signal.alarm(deadline)
    say("accepting")
try:
    conn, peer = s.accept()
    say(f"accept: ok {peer}")
except OSError as e:
    say(f"accept: {errno.errorcode.get(e.errno)} at {wall_ms()}: {tls_error(s)}")
signal.alarm(0)
s.setblocking(False)
try:
    s.accept()
    say("accept again: ok")
except OSError as e:
    say(f"accept again: {errno.errorcode.get(e.errno)}")
say(f"poll again: {flags(p.poll(0)[0][1]) if p.poll(0) else '0'}")
EOF
}

# ---------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------

# note TEXT: a TAP comment with a measurement (shown by run-tests).
note() { echo "# $*" >&3; }

# start_echo [ARGS...]: examples/ssa-echo-server with the test server's
# chain and key on an ephemeral loopback port; sets SERVER_PORT and
# SERVER_PID.  One line per connection in $D/echo.out, errors in
# $D/echo.log.
start_echo() {
    start_bg echo /dev/null "$SSA_ECHO" -c "$PKI/good-chain.pem" -k "$PKI/good-key.pem" "$@"
    SERVER_PID=$BG_PID
    wait_line "$D/echo.out" '^listening on ' ||
        fail "the echo server did not start: $(cat "$D/echo.log")"
    SERVER_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$D/echo.out")
}

# start_app_server NAME [ARGS...]: tests/servers/ssa-app-server.py (it
# reports what each accepted socket read) on an ephemeral port; sets
# SERVER_PORT and SERVER_PID; its report is $D/NAME.out.
start_app_server() {
    local name=$1; shift
    start_bg "$name" /dev/null env LD_PRELOAD="$SSA_SHIM" "$PYTHON" -u \
        "$SSA_TESTS_DIR/servers/ssa-app-server.py" "$PKI/good-chain.pem" "$PKI/good-key.pem" "$@"
    SERVER_PID=$BG_PID
    wait_line "$D/$name.out" '^listening on [0-9]+$' ||
        fail "ssa-app-server.py did not start: $(cat "$D/$name.log")"
    SERVER_PORT=$(sed -n 's/^listening on //p' "$D/$name.out")
}

# misbehave NAME MODE [ARGS...]: tests/clients/misbehaving-tls-client.py
# against SERVER_PORT in the background, trusting the test CA; output in
# $D/NAME.out.
misbehave() {
    local name=$1 mode=$2; shift 2
    start_bg "$name" /dev/null timeout 120 "$PYTHON" -u "$MISBEHAVE" \
        --port "$SERVER_PORT" --ca "$PKI/ca.pem" "$mode" "$@"
}

# accepted_count: how many connections ssa-echo-server accepted so far.
accepted_count() { grep -c '^accepted ' "$D/echo.out" || true; }

# assert_only_good_client_accepted: ssa-echo-server accepted exactly one
# connection (the well-behaved client's, from 127.0.0.1).
assert_only_good_client_accepted() {
    run grep '^accepted ' "$D/echo.out"
    [ "${#lines[@]}" -eq 1 ] ||
        fail "the echo server accepted ${#lines[@]} connections, expected 1: $(cat "$D/echo.out")"
    assert_line --index 0 --regexp '^accepted 127\.0\.0\.1:[0-9]+ sni=localhost '
}

# good_client_served [MAX-MS]: gnutls-cli (trusting the test CA) gets its
# line echoed by the server on SERVER_PORT, within MAX-MS (default 5000);
# sets CLIENT_MS.
good_client_served() {
    local max=${1:-5000} t0
    echo "a well-behaved client" > "$D/good.in"
    t0=$(now_ms)
    run timeout 20 gnutls-cli --x509cafile "$PKI/ca.pem" -p "$SERVER_PORT" localhost < "$D/good.in"
    CLIENT_MS=$(( $(now_ms) - t0 ))
    assert_success
    assert_line "a well-behaved client"
    [ "$CLIENT_MS" -lt "$max" ] || fail "the well-behaved client took $CLIENT_MS ms (bound: $max ms)"
}

# strict_client_served: the strict client (CPython ssl) gets its line back
# from the server on SERVER_PORT and a close_notify at the end.
strict_client_served() {
    run timeout 30 "$PYTHON" "$SSA_TESTS_DIR/servers/strict-tls-client.py" \
        --ca "$PKI/ca.pem" --port "$SERVER_PORT" --send "served after the fault"
    assert_success
    assert_line "echo equal 22"
    assert_line "peer close_notify"
}

# find_helper STATE FILTER [EXCLUDE-PID...]: wait (at most 10 s) until
# exactly one ssa-helper holds such a socket; sets HELPER_PID.
find_helper() {
    local i pids
    for i in $(seq 200); do
        pids=$(helpers_holding "$@")
        if [ -n "$pids" ] && [ "$(wc -l <<< "$pids")" -eq 1 ]; then
            HELPER_PID=$pids
            return 0
        fi
        sleep 0.05
    done
    fail "no single ssa-helper holds a '$1' TCP socket matching '$2' (pids: ${pids:-none}):
$(ss -tanp 2>&1 | tail -n 30)"
}

# find_listener_helper: the helper holding the listening socket of
# SERVER_PORT; sets LISTENER_PID.
find_listener_helper() {
    find_helper listening "( sport = :$SERVER_PORT )"
    LISTENER_PID=$HELPER_PID
}

# sigkill PID: SIGKILL an ssa-helper process; KILL_MS is when.
sigkill() {
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = ssa-helper ] || fail "pid $1 is not ssa-helper"
    KILL_MS=$(now_ms)
    kill -KILL "$1"
}

# rss_kib PID: the process's resident set (VmRSS, kB), empty once gone.
rss_kib() {
    sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$1/status" 2>/dev/null
}

# wait_sleeping PID: wait (at most 5 s) until the single-threaded process
# PID sleeps in a system call (state S): it is blocked where it said it
# would be.
wait_sleeping() {
    local i stat
    for i in $(seq 100); do
        stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        stat=${stat##*) }
        [ "${stat%% *}" = S ] && return 0
        sleep 0.05
    done
    return 1
}

# field LINE KEY: the value of KEY=VALUE in LINE.
field() { sed -nE "s/.*(^| )$2=([^ ]*).*/\\2/p" <<< "$1"; }

# ---------------------------------------------------------------------------
# 1. Trickling peers: one absolute deadline per handshake.
# ---------------------------------------------------------------------------

@test "trickle: a server sending its handshake one byte every 0.5 s -> connect() fails with ETIMEDOUT within handshake-timeout + 1 s" {
    start_test_server trickle "$PKI/good-chain.pem" "$PKI/good-key.pem" \
        --delay 0.5 --report "$D/trickle.report"
    local t0 ms
    t0=$(now_ms)
    run_pipe -n localhost 127.0.0.1 "$SERVER_PORT"
    ms=$(( $(now_ms) - t0 ))
    assert_connect_failed ETIMEDOUT
    note "connect() failed with ETIMEDOUT after $ms ms (handshake-timeout $HANDSHAKE_TIMEOUT_MS ms)"
    [ "$ms" -ge $((HANDSHAKE_TIMEOUT_MS - 100)) ] && [ "$ms" -le $((HANDSHAKE_TIMEOUT_MS + 1000)) ] ||
        fail "connect() failed after $ms ms, not within [$((HANDSHAKE_TIMEOUT_MS - 100)), $((HANDSHAKE_TIMEOUT_MS + 1000))]"
    # The server really was trickling (bytes kept coming, so no read
    # timeout could fire), and the helper ended the TCP connection at the
    # deadline, as the server saw it.
    wait_line "$D/trickle.report" '^trickle ' 5 || fail "no report from the server: $(cat "$D/test-trickle.log")"
    local sent total how sms
    read -r _ sent total how sms < "$D/trickle.report"
    note "the server sent $sent of its $total bytes; the helper ended the connection ($how) after $sms ms"
    [ "$sent" -ge 4 ] && [ "$sent" -lt "$total" ] || fail "the server sent $sent of $total bytes"
    [ "$sms" -le $((HANDSHAKE_TIMEOUT_MS + 1000)) ] || fail "the helper held the connection $sms ms"
}

@test "trickle: a client sending its ClientHello one byte every 0.5 s is dropped by ssa-echo-server at handshake-timeout, and never accepted" {
    start_echo
    misbehave trickle trickle --count 1 --interval 0.5 --max 15
    wait_line "$D/trickle.out" '^done ' 20 || fail "$(cat "$D/trickle.out" "$D/trickle.log")"
    run cat "$D/trickle.out"
    assert_line --regexp '^done dropped=1 alive=0 '
    local how ms sent
    read -r _ _ how ms _ < <(grep '^dropped 0 ' "$D/trickle.out")
    sent=$(field "$(grep '^done ' "$D/trickle.out")" sent_max)
    note "the trickling client was dropped ($how) after $ms ms, having sent $sent bytes"
    [[ $how =~ ^(eof|reset)$ ]] || fail "ended by $how"
    [ "$ms" -ge $((HANDSHAKE_TIMEOUT_MS - 100)) ] && [ "$ms" -le $((HANDSHAKE_TIMEOUT_MS + 1500)) ] ||
        fail "dropped after $ms ms, not about $HANDSHAKE_TIMEOUT_MS"
    [ "$sent" -ge 5 ] || fail "only $sent bytes sent: not a trickle"
    [ "$(accepted_count)" -eq 0 ] || fail "the application accepted it: $(cat "$D/echo.out")"
}

# Needs a per-source cap on the handshakes a listener runs at once: with
# only the global cap (128 handshakes), 150 tricklers would fill every
# slot and the good client wait for the first of them to time out.
@test "trickle: 150 clients trickling from 127.0.0.2 do not hold up a client from 127.0.0.1 (served in < 2 s), and are all dropped by handshake-timeout + 4 s" {
    ulimit -n 4096
    start_echo
    misbehave tricklers trickle --source 127.0.0.2 --count 150 --interval 0.5 --max 25
    wait_line "$D/tricklers.out" '^connected 150$' 20 ||
        fail "the tricklers did not connect: $(cat "$D/tricklers.out" "$D/tricklers.log")"
    good_client_served 60000
    local served_ms=$CLIENT_MS
    wait_line "$D/tricklers.out" '^done ' 40 || fail "$(tail -n 5 "$D/tricklers.out") $(cat "$D/tricklers.log")"
    local done dropped alive max_ms
    done=$(grep '^done ' "$D/tricklers.out")
    dropped=$(field "$done" dropped) alive=$(field "$done" alive) max_ms=$(field "$done" max_ms)
    local first_ms
    first_ms=$(grep '^dropped ' "$D/tricklers.out" | cut -d' ' -f4 | sort -n | head -n 1)
    note "the well-behaved client (started once the 150 tricklers were connected) was served in $served_ms ms"
    note "tricklers: $dropped dropped, $alive alive at the end; first dropped after ${first_ms:-?} ms, last after $max_ms ms"
    [ "$served_ms" -lt 2000 ] || fail "the well-behaved client waited $served_ms ms behind the tricklers"
    [ "$alive" -eq 0 ] && [ "$dropped" -eq 150 ] || fail "$dropped of 150 tricklers dropped, $alive still open"
    # Measured from each one's TCP connect: those the listener cannot take
    # at once (it runs at most 128 handshakes) wait in the kernel's backlog
    # first, and their deadline starts when it takes them.
    [ "$max_ms" -le $((HANDSHAKE_TIMEOUT_MS + 4000)) ] ||
        fail "the last trickler was dropped after $max_ms ms, not by $((HANDSHAKE_TIMEOUT_MS + 4000))"
    run grep -c '^dropped [0-9]* \(eof\|reset\) ' "$D/tricklers.out"
    assert_output 150
    assert_only_good_client_accepted
}

# ---------------------------------------------------------------------------
# 2. Resets.
# ---------------------------------------------------------------------------

@test "reset: a server that resets the TCP connection before any TLS -> connect() fails with ECONNRESET" {
    start_test_server reset "$PKI/good-chain.pem" "$PKI/good-key.pem"
    run_pipe -n localhost 127.0.0.1 "$SERVER_PORT"
    assert_connect_failed ECONNRESET
}

@test "reset: a server that resets right after its ServerHello -> connect() fails with ECONNRESET at once (not the handshake timeout)" {
    start_test_server reset-hello "$PKI/good-chain.pem" "$PKI/good-key.pem" \
        --delay 0.3 --report "$D/hello.report"
    local t0 ms
    t0=$(now_ms)
    run_pipe -n localhost 127.0.0.1 "$SERVER_PORT"
    ms=$(( $(now_ms) - t0 ))
    assert_connect_failed ECONNRESET
    note "connect() failed with ECONNRESET after $ms ms"
    [ "$ms" -lt 2000 ] || fail "connect() took $ms ms: the reset was not seen"
    # The server got as far as a ServerHello, not further.
    wait_line "$D/hello.report" '^reset-hello sent ' 5 || fail "$(cat "$D/test-reset-hello.log")"
    local sent total
    read -r _ _ sent _ total < "$D/hello.report"
    [ "$sent" -gt 5 ] && [ "$sent" -lt "$total" ] || fail "sent $sent of $total bytes of the server's flight"
}

@test "reset: a server that resets mid-stream after sending data -> the application reads all of it, then ECONNRESET" {
    head -c 262144 "$SSA_T/a.bin" > "$D/payload"
    start_test_server reset-data "$PKI/good-chain.pem" "$PKI/good-key.pem" \
        --payload "$D/payload" --report "$D/data.report"
    pipe_to_file "$D/got" "$D/pipe.err" /dev/null -n localhost 127.0.0.1 "$SERVER_PORT"
    [ "$status" -ne 2 ] || fail "connect failed: $(cat "$D/pipe.err")"
    wait_line "$D/data.report" '^reset-data sent 262144 unacked 0$' 5 ||
        fail "the server did not reset after all was acknowledged: $(cat "$D/data.report" "$D/test-reset-data.log")"
    assert_same_file "$D/payload" "$D/got"
    [ "$status" -eq 3 ] || fail "expected exit 3 (read failed), got $status: $(cat "$D/pipe.err")"
    grep -q 'ssa-pipe: read: ECONNRESET (Connection reset by peer)' "$D/pipe.err" ||
        fail "no read ECONNRESET: $(cat "$D/pipe.err")"
}

@test "reset: a client that resets mid-handshake costs ssa-echo-server nothing: its helper ends at once, the next client is served" {
    start_echo
    find_listener_helper
    misbehave rst reset-handshake --go "$D/go"
    wait_line "$D/rst.out" '^answered [0-9]+ local=' || fail "$(cat "$D/rst.out" "$D/rst.log")"
    local cport
    cport=$(sed -n 's/^answered .*:\([0-9]*\)$/\1/p' "$D/rst.out")
    # The client's helper, in the middle of the handshake (its flight sent).
    find_helper established "( sport = :$SERVER_PORT and dport = :$cport )" "$LISTENER_PID"
    local helper=$HELPER_PID t0
    touch "$D/go"
    wait_line "$D/rst.out" '^reset$' || fail "$(cat "$D/rst.out" "$D/rst.log")"
    t0=$(now_ms)
    # Well before the handshake timeout would end it.
    wait_exit "$helper" 2 || fail "the helper $helper of the reset client is still there after 2 s"
    note "the reset client's helper exited $(( $(now_ms) - t0 )) ms after the RST"
    kill -0 "$SERVER_PID" || fail "ssa-echo-server died: $(cat "$D/echo.log")"
    [ "$(helpers_holding listening "( sport = :$SERVER_PORT )")" = "$LISTENER_PID" ] ||
        fail "the listener's helper no longer listens"
    good_client_served
    assert_only_good_client_accepted
}

@test "reset: a client that resets mid-stream, right after writing 4 MiB: the accepted socket reads ECONNRESET (never EOF), its helper ends, the next client is served" {
    start_app_server app --no-echo
    find_listener_helper
    # Once its helper is known: 4 MiB written and a RST at once, part of
    # it still in flight.
    misbehave rst reset-stream --bytes $((4 * MIB)) --go "$D/go"
    wait_line "$D/rst.out" '^connected local=' || fail "$(cat "$D/rst.out" "$D/rst.log")"
    local client cport
    client=$(sed -n 's/^connected local=//p' "$D/rst.out")
    cport=${client##*:}
    find_helper established "( sport = :$SERVER_PORT and dport = :$cport )" "$LISTENER_PID"
    local helper=$HELPER_PID
    touch "$D/go"
    wait_line "$D/rst.out" '^reset after writing ' 20 || fail "$(cat "$D/rst.out" "$D/rst.log")"
    wait_line "$D/app.out" "^recv $client: " 10 || fail "the application read nothing: $(cat "$D/app.out")"
    run grep "^recv $client: " "$D/app.out"
    assert_output --regexp "^recv $client: ECONNRESET after [0-9]+ bytes$"
    local n
    n=$(sed -n "s/^recv $client: ECONNRESET after \\([0-9]*\\) bytes\$/\\1/p" "$D/app.out")
    note "the application read $n of the $((4 * MIB)) bytes written, then ECONNRESET"
    [ "$n" -le $((4 * MIB)) ] || fail "read $n bytes, more than were written"
    wait_exit "$helper" 2 || fail "the helper $helper of the reset client is still there after 2 s"
    # The next client: the application (not echoing) reads its 22 bytes
    # and its close_notify as end of file.
    run timeout 30 "$PYTHON" "$SSA_TESTS_DIR/servers/strict-tls-client.py" \
        --ca "$PKI/ca.pem" --port "$SERVER_PORT" --send "served after the fault" --no-wait-echo
    assert_success
    assert_line "peer close_notify"
    local next
    next=$(sed -n 's/^connected .* local=//p' <<< "$output")
    wait_line "$D/app.out" "^recv $next: EOF after 22 bytes\$" || fail "$(cat "$D/app.out")"
}

# ---------------------------------------------------------------------------
# 3. SIGKILL, in the phases tests/helper-death.bats does not cover.
# ---------------------------------------------------------------------------

@test "SIGKILL: a server's per-client helper killed during the handshake: the client is cut off at once, the application never sees it, the listener serves the next client" {
    start_echo
    find_listener_helper
    misbehave trickle trickle --count 1 --interval 0.5 --max 15
    wait_line "$D/trickle.out" '^connected 1$' || fail "$(cat "$D/trickle.out" "$D/trickle.log")"
    # Its helper holds the accepted TCP connection, mid-ClientHello.
    find_helper established "( sport = :$SERVER_PORT )" "$LISTENER_PID"
    sigkill "$HELPER_PID"
    wait_line "$D/trickle.out" '^dropped 0 ' 5 || fail "the client was not cut off: $(cat "$D/trickle.out")"
    local how ms at
    read -r _ _ how ms at < <(grep '^dropped 0 ' "$D/trickle.out")
    note "the client was cut off ($how) $((at - KILL_MS)) ms after the kill, $ms ms after its connect"
    [[ $how =~ ^(eof|reset)$ ]] || fail "ended by $how"
    [ $((at - KILL_MS)) -lt 1000 ] || fail "cut off $((at - KILL_MS)) ms after the kill"
    [ "$ms" -lt $((HANDSHAKE_TIMEOUT_MS - 200)) ] || fail "cut off after $ms ms: the timeout, not the kill"
    kill -0 "$SERVER_PID" || fail "ssa-echo-server died: $(cat "$D/echo.log")"
    good_client_served
    assert_only_good_client_accepted
    [ "$(helpers_holding listening "( sport = :$SERVER_PORT )")" = "$LISTENER_PID" ] ||
        fail "another helper listens now"
}

@test "SIGKILL: a server's per-client helper killed right after accept(), before any data: the accepted socket reads ECONNRESET, the client is cut off, the listener serves the next client" {
    start_app_server app
    find_listener_helper
    misbehave held hold --max 20
    wait_line "$D/held.out" '^connected local=' || fail "$(cat "$D/held.out" "$D/held.log")"
    local client cport
    client=$(sed -n 's/^connected local=//p' "$D/held.out")
    cport=${client##*:}
    wait_line "$D/app.out" "^accepted $client " || fail "not accepted: $(cat "$D/app.out")"
    find_helper established "( sport = :$SERVER_PORT and dport = :$cport )" "$LISTENER_PID"
    sigkill "$HELPER_PID"
    wait_line "$D/app.out" "^recv $client: " 5 || fail "the application read nothing: $(cat "$D/app.out")"
    run grep "^recv $client: " "$D/app.out"
    assert_output "recv $client: ECONNRESET after 0 bytes"
    wait_line "$D/held.out" '^ended ' 5 || fail "the client was not cut off: $(cat "$D/held.out")"
    local how at
    read -r _ how _ at < <(grep '^ended ' "$D/held.out")
    note "the client's connection ended ($how) $((at - KILL_MS)) ms after the kill"
    [[ $how =~ ^(eof|reset)$ ]] || fail "the client's connection ended by $how"
    [ $((at - KILL_MS)) -lt 1000 ] || fail "ended $((at - KILL_MS)) ms after the kill"
    strict_client_served
    [ "$(helpers_holding listening "( sport = :$SERVER_PORT )")" = "$LISTENER_PID" ] ||
        fail "another helper listens now"
}

# listener_killed MODE: listen-app.py in MODE (poll or block), its
# listener's helper killed while it waits; output in $output/$lines.
listener_killed() {
    start_bg app /dev/null env LD_PRELOAD="$SSA_SHIM" timeout 60 "$PYTHON" -u \
        "$SSA_T/listen-app.py" "$PKI/good-chain.pem" "$PKI/good-key.pem" "$1" 20
    local app=$BG_PID
    wait_line "$D/app.out" '^(polling|accepting)$' || fail "$(cat "$D/app.out" "$D/app.log")"
    SERVER_PORT=$(sed -n 's/^listening on \([0-9]*\) .*/\1/p' "$D/app.out")
    local pid
    pid=$(sed -n 's/^listening on .* pid //p' "$D/app.out")
    find_listener_helper
    wait_sleeping "$pid" || fail "the application is not waiting"
    sigkill "$LISTENER_PID"
    wait "$app" || fail "the application failed ($?): $(cat "$D/app.out" "$D/app.log")"
    APP_OUTPUT=$(cat "$D/app.out")
}

# assert_accept_fails_at_once: listen-app.py's accept() failed with EINVAL
# (the socket no longer listens, as accept(2) says of a socket that is not
# listening) within 1 s of the kill, TLS_ERROR naming the helper; a second
# accept() too; and the port refuses new clients (nothing is left to
# accept them, so they are not left hanging).
assert_accept_fails_at_once() {
    local line at
    run cat "$D/app.out"
    line=$(grep '^accept: ' <<< "$output")
    [[ $line =~ ^accept:\ ([A-Z]+)\ at\ ([0-9]+):\ (.*)$ ]] || fail "accept() did not fail: $output"
    at=${BASH_REMATCH[2]}
    note "accept() failed with ${BASH_REMATCH[1]} $((at - KILL_MS)) ms after the kill; TLS_ERROR: ${BASH_REMATCH[3]}"
    [ "${BASH_REMATCH[1]}" = EINVAL ] || fail "accept() failed with ${BASH_REMATCH[1]}, expected EINVAL"
    [[ ${BASH_REMATCH[3]} == *helper*gone* ]] || fail "TLS_ERROR does not say the helper is gone: ${BASH_REMATCH[3]}"
    [ $((at - KILL_MS)) -lt 1000 ] || fail "accept() returned $((at - KILL_MS)) ms after the kill"
    assert_line "accept again: EINVAL"
    run "$PYTHON" -c "
import socket
try:
    socket.create_connection(('127.0.0.1', $SERVER_PORT), timeout=5)
    print('connected')
except OSError as e:
    print(type(e).__name__)"
    assert_output ConnectionRefusedError
}

@test "SIGKILL: the listener's helper killed while the application polls: poll() reports the socket at once, accept() fails with EINVAL, the port refuses clients" {
    listener_killed poll
    local line
    line=$(grep '^poll: ' <<< "$APP_OUTPUT")
    [[ $line =~ ^poll:\ ([A-Z|]+)\ at\ ([0-9]+)$ ]] || fail "no poll result: $output"
    note "poll() returned ${BASH_REMATCH[1]} $((BASH_REMATCH[2] - KILL_MS)) ms after the kill"
    [[ ${BASH_REMATCH[1]} == *IN* ]] || fail "poll() did not report the socket readable: ${BASH_REMATCH[1]}"
    [ $((BASH_REMATCH[2] - KILL_MS)) -lt 1000 ] || fail "poll() returned $((BASH_REMATCH[2] - KILL_MS)) ms after the kill"
    grep -Eq '^poll again: .*IN' <<< "$APP_OUTPUT" || fail "the socket is not readable any more: $APP_OUTPUT"
    assert_accept_fails_at_once
}

@test "SIGKILL: the listener's helper killed while the application blocks in accept(): accept() returns EINVAL at once, it does not hang" {
    listener_killed block
    assert_accept_fails_at_once
}

# ---------------------------------------------------------------------------
# 4. The application at its descriptor limit.
# ---------------------------------------------------------------------------

# accept() must report EMFILE and keep the client for the next accept()
# (SPEC §3): a descriptor received (SCM_RIGHTS) by a process at its limit
# is dropped by the kernel (MSG_CTRUNC), and the client with it, unless
# the shim sees to it first.  ssa-echo-server prints "accept: EMFILE".
@test "descriptors: ssa-echo-server limited to 32 descriptors, 60 clients at once: accept() reports EMFILE, and every client is served (none cut off after its handshake)" {
    start_echo
    # The application only: the helpers are not its children (standalone,
    # they were started before this), so they keep their own limit.
    prlimit --pid "$SERVER_PID" --nofile=32:32 || fail "prlimit failed"
    note "ssa-echo-server has $(ls "/proc/$SERVER_PID/fd" | wc -l) descriptors open of 32"
    # Each client keeps its connection 1 s after its echo: all 60 finish
    # their handshakes in a fraction of that, so more are ready than the
    # application has descriptors for.
    run timeout 120 "$PYTHON" "$BURST" --port "$SERVER_PORT" --ca "$PKI/ca.pem" \
        --count 60 --size 20000 --hold 1 --timeout 60
    local emfile
    emfile=$(grep -c '^accept: EMFILE$' "$D/echo.out" || true)
    note "burst: $(tr '\n' ';' <<< "$output")"
    note "accept() failed with EMFILE $emfile times"
    # Every client served: none cut off (EOF or reset) after its handshake.
    grep -Eq '^answered 60 of 60 in [0-9]+ ms$' <<< "$output" ||
        fail "not every client was served: $(tr '\n' ';' <<< "$output") (accept() EMFILE $emfile times)"
    [ "$emfile" -gt 0 ] || fail "ssa-echo-server never got EMFILE from accept()"
    [ "$(accepted_count)" -eq 60 ] || fail "accepted $(accepted_count) connections, expected 60"
    kill -0 "$SERVER_PID" || fail "ssa-echo-server died: $(cat "$D/echo.log")"
}

# ---------------------------------------------------------------------------
# 5. A peer that stops reading.
# ---------------------------------------------------------------------------

# Bound on the helper's resident memory while 64 MiB push against a peer
# that does not read (kB).
RSS_BOUND_KIB=32768

@test "a peer that stops reading: the application's writes block (EAGAIN, not writable), the helper's memory stays under 32 MiB, and all 64 MiB arrive intact once the peer reads" {
    local total=$((64 * MIB))
    start_test_server sink-later "$PKI/good-chain.pem" "$PKI/good-key.pem" \
        --go "$D/go" --report "$D/sink.report"
    start_bg writer /dev/null env LD_PRELOAD="$SSA_SHIM" timeout 120 "$PYTHON" -u \
        "$SSA_T/writer.py" 127.0.0.1 "$SERVER_PORT" localhost "$total" "$D/start"
    local writer=$BG_PID
    wait_line "$D/writer.out" '^connected$' || fail "$(cat "$D/writer.out" "$D/writer.log")"
    find_helper established "( dport = :$SERVER_PORT )"
    local helper=$HELPER_PID rss0 rss_blocked peak
    rss0=$(rss_kib "$helper")
    # The helper's VmRSS every 50 ms for as long as it lives.
    (while [ -e "/proc/$helper/status" ]; do rss_kib "$helper"; sleep 0.05; done > "$D/rss" 2>/dev/null) 3>&- &
    register_pid $!
    touch "$D/start"
    wait_line "$D/writer.out" '^(blocked after|wrote|HANG)' 60 || fail "$(cat "$D/writer.out" "$D/writer.log")"
    run grep '^blocked after ' "$D/writer.out"
    assert_output --regexp '^blocked after [0-9]+ bytes$'
    local n=${output#blocked after }
    n=${n% bytes}
    rss_blocked=$(rss_kib "$helper")
    [ "$n" -lt "$total" ] || fail "all $total bytes were taken without blocking"
    touch "$D/go"
    wait "$writer" || fail "the writer failed ($?): $(cat "$D/writer.out" "$D/writer.log")"
    run cat "$D/writer.out"
    assert_line --regexp "^wrote $total bytes sha256 [0-9a-f]{64}\$"
    assert_line "peer closed: EOF"
    local sum
    sum=$(sed -n 's/^wrote .* sha256 //p' "$D/writer.out")
    wait_line "$D/sink.report" '^[0-9]+ ' 10 || fail "no report from the server"
    run cat "$D/sink.report"
    assert_output "$total $sum"
    wait_exit "$helper" 10 || true
    peak=$(sort -n "$D/rss" | tail -n 1)
    note "writes blocked after $n bytes; helper VmRSS: $rss0 kB at connect, $rss_blocked kB while blocked, $peak kB at most ($(wc -l < "$D/rss") samples)"
    [ -n "$peak" ] && [ -n "$rss_blocked" ] || fail "no VmRSS samples of the helper $helper"
    [ "$peak" -lt "$RSS_BOUND_KIB" ] || fail "the helper's VmRSS reached $peak kB (bound $RSS_BOUND_KIB kB)"
}

# ---------------------------------------------------------------------------
# 6. 1000 clients at once.
# ---------------------------------------------------------------------------

@test "burst: 1000 TLS clients at once (one source) against ssa-echo-server all get their echo within 60 s, and the server still listens" {
    # 1000 connections: 1000 descriptors in the server and the client.  In
    # units mode each is a helper of the service, counted against the
    # user's user-connection-limit (1024 by default): they fit.
    ulimit -n 8192
    # The shipped handshake-timeout (10 s), not the test policy's 3 s: all
    # 1000 come from one source, which may run 32 handshakes at a time; the
    # others wait in the listener, and one still waiting handshake-timeout
    # after its TCP accept is dropped (a RST) without a handshake.  Here
    # the whole burst takes 4 to 7 s: too close to 3 s.
    apply_policy zz-burst.ini "[defaults]" "handshake-timeout = 10"
    start_echo
    run timeout 120 "$PYTHON" "$BURST" --port "$SERVER_PORT" --ca "$PKI/ca.pem" --count 1000 --timeout 60
    note "burst: $(tr '\n' ';' <<< "$output")"
    assert_line --regexp '^answered 1000 of 1000 in [0-9]+ ms$'
    local ms
    ms=$(sed -n 's/^answered 1000 of 1000 in \([0-9]*\) ms$/\1/p' <<< "$output")
    [ "$ms" -lt 60000 ] || fail "took $ms ms"
    kill -0 "$SERVER_PID" || fail "ssa-echo-server died: $(cat "$D/echo.log")"
    good_client_served
    [ "$(accepted_count)" -eq 1001 ] || fail "accepted $(accepted_count) connections, expected 1001"
}
