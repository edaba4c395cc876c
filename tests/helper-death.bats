#!/usr/bin/env bats
# The death of a helper (SPEC.md section 3): "If the helper serving a
# connected socket dies, the application reads ECONNRESET, never a clean
# end of file; if it dies during an attempt, connect() (or SO_ERROR) gives
# ECONNABORTED.  No state of a helper's death leaves a socket that never
# turns readable or writable."
#
# The real helper process gets SIGKILL, in each state where an application
# may be waiting on it:
#
#   - during the TCP connect to the peer (a listener whose accept queue is
#     full, so the helper's SYN goes unanswered), blocking and non-blocking
#     connect();
#   - during the TLS handshake (a server that accepts and never sends a
#     byte), blocking and non-blocking connect();
#   - during the relay, after the application read data from gnutls-serv;
#   - on the server side, the helper of one accepted client (not the
#     listener's helper), after the application read data from it.
#
# The helper is found by what it holds, with ss(8): the TCP socket to the
# peer (client side) or the accepted TCP socket (server side), never by
# timing.  The applications are Python (the socket module, LD_PRELOAD=the
# shim); each waits with a deadline and says "HANG" instead of hanging.

load lib

setup_file()    { ssa_setup_file; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; write_scripts; }
teardown()      { ssa_teardown; }

# How long an application waits (poll, blocking connect) for the effect of
# the kill before it reports "HANG" (the kill itself comes within a second).
DEATH_DEADLINE=20

# write_scripts: the Python programs, in $D.
#
#   app.py COMMAND HOST PORT NAME: the application (under LD_PRELOAD):
#     block     blocking connect(); prints "connect: ok" or
#               "connect: ERRNAME"
#     nonblock  non-blocking connect(); prints "connect: EINPROGRESS" (or
#               what it got instead), "before: not writable", then waits
#               for writability and prints "writable" and "SO_ERROR: NAME"
#     relay     blocking connect(), sends "ping", reads the echo and prints
#               "read: ping", then waits until readable and prints
#               "recv: ERRNAME", "recv: EOF" or "recv: data N"
#   app-server.py CHAIN KEY: listens on an IPPROTO_TLS socket on 127.0.0.1
#     (prints "listening on PORT"), accepts one client ("accepted IP:PORT"),
#     reads its "hello" ("read: hello"), then waits until readable and
#     prints "recv: ..." as relay above; then keeps listening until killed
#     (or $DEATH_DEADLINE s).
#   tls-client.py PORT CA: a plain Python ssl client (no shim): handshake
#     with localhost, sends "hello", prints "sent", then holds the
#     connection until it ends.
#   stall.py: a TCP listener with backlog 0 whose accept queue it fills
#     itself with one connection and never accepts, so further SYNs are
#     dropped; prints "PORT n".
#
# Every wait has a deadline ($DEATH_DEADLINE s): "HANG: ..." and exit 4.
write_scripts() {
    cat > "$D/app.py" <<'EOF'
import errno, select, signal, socket, sys, time

IPPROTO_TLS, TLS_HOSTNAME = 205, 85
cmd, host, port, name, deadline = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                   sys.argv[4], int(sys.argv[5]))


def say(*a):
    print(*a, flush=True)


def ename(e):
    return errno.errorcode.get(e, str(e))


class Hang(Exception):
    pass


def alarm(signum, frame):
    raise Hang()


def wait_for(s, events, what):
    p = select.poll()
    p.register(s, events)
    t0 = time.monotonic()
    r = p.poll(deadline * 1000)
    if not r:
        say(f"HANG: {what} not within {deadline} s")
        sys.exit(4)
    return r[0][1], time.monotonic() - t0


def recv_verdict(s):
    wait_for(s, select.POLLIN, "readable")
    try:
        d = s.recv(4096)
    except OSError as e:
        say(f"recv: {ename(e.errno)}")
        return
    say("recv: EOF" if d == b"" else f"recv: data {len(d)}")


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_TLS)
s.setsockopt(IPPROTO_TLS, TLS_HOSTNAME, name.encode() + b"\0")

if cmd == "nonblock":
    s.setblocking(False)
    e = s.connect_ex((host, port))
    say(f"connect: {ename(e) if e else 'ok'}")
    if e != errno.EINPROGRESS:
        sys.exit(3)
    p = select.poll()
    p.register(s, select.POLLOUT)
    say("before: " + ("not writable" if not p.poll(0) else "writable"))
    ev, t = wait_for(s, select.POLLOUT, "writable")
    say(f"writable after {t:.1f} s (revents {ev:#x})")
    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    say(f"SO_ERROR: {ename(e) if e else 0}")
    sys.exit(0)

# Blocking connect, with an alarm instead of a hang.
signal.signal(signal.SIGALRM, alarm)
signal.alarm(deadline)
try:
    s.connect((host, port))
except Hang:
    say(f"HANG: connect() did not return within {deadline} s")
    sys.exit(4)
except OSError as e:
    say(f"connect: {ename(e.errno)}")
    sys.exit(0)
signal.alarm(0)
say("connect: ok")
if cmd != "relay":
    sys.exit(0)

s.sendall(b"ping\n")
got = b""
s.settimeout(deadline)
while not got.endswith(b"\n"):
    d = s.recv(4096)
    if not d:
        say(f"echo: EOF after {got!r}")
        sys.exit(3)
    got += d
s.settimeout(None)
say("read: " + got.decode().strip())
recv_verdict(s)
EOF

    cat > "$D/app-server.py" <<'EOF'
import errno, select, socket, sys, time

IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, TLS_PRIVATE_KEY, TLS_ERROR = 205, 88, 89, 100
chain, key, deadline = sys.argv[1], sys.argv[2], int(sys.argv[3])


def say(*a):
    print(*a, flush=True)


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_TLS)
s.setsockopt(IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, chain.encode() + b"\0")
s.setsockopt(IPPROTO_TLS, TLS_PRIVATE_KEY, key.encode() + b"\0")
s.bind(("127.0.0.1", 0))
try:
    s.listen(16)
except OSError as e:
    sys.exit(f"listen: {e}: {s.getsockopt(IPPROTO_TLS, TLS_ERROR, 512)}")
say("listening on", s.getsockname()[1])

p = select.poll()
p.register(s, select.POLLIN)
if not p.poll(deadline * 1000):
    say(f"HANG: no client within {deadline} s")
    sys.exit(4)
conn, peer = s.accept()
say(f"accepted {peer[0]}:{peer[1]}")

got = b""
conn.settimeout(deadline)
while not got.endswith(b"\n"):
    d = conn.recv(4096)
    if not d:
        say(f"hello: EOF after {got!r}")
        sys.exit(3)
    got += d
conn.settimeout(None)
say("read: " + got.decode().strip())

p = select.poll()
p.register(conn, select.POLLIN)
if not p.poll(deadline * 1000):
    say(f"HANG: not readable within {deadline} s")
    sys.exit(4)
try:
    d = conn.recv(4096)
    say("recv: EOF" if d == b"" else f"recv: data {len(d)}")
except OSError as e:
    say(f"recv: {errno.errorcode.get(e.errno, e.errno)}")
# Keep listening (the test looks at the listener's helper meanwhile).
time.sleep(deadline)
EOF

    cat > "$D/tls-client.py" <<'EOF'
import socket, ssl, sys

port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                    server_hostname="localhost")
s.sendall(b"hello\n")
print("sent", flush=True)
s.settimeout(60)
try:
    while s.recv(4096):
        pass
    print("end: EOF", flush=True)
except (OSError, ssl.SSLError) as e:
    print(f"end: {type(e).__name__}: {e}", flush=True)
EOF

    cat > "$D/stall.py" <<'EOF'
import signal, socket

s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
# One connection fills the accept queue (backlog 0 holds one); it is never
# accepted, so the kernel drops every further SYN.
filler = socket.create_connection(s.getsockname())
print("PORT", s.getsockname()[1], flush=True)
signal.pause()
EOF
}

# start_app NAME COMMAND...: run COMMAND (a Python script and its
# arguments) under LD_PRELOAD=the shim in the background, bounded by
# $SSA_CLIENT_TIMEOUT; output in $D/NAME.out, errors in $D/NAME.log.  Sets
# APP_PID (our child: `wait` gives its exit code).
start_app() {
    local name=$1; shift
    start_bg "$name" /dev/null env LD_PRELOAD="$SSA_SHIM" \
        timeout "$SSA_CLIENT_TIMEOUT" "$PYTHON" -u "$@"
    APP_PID=$BG_PID
}

# app_result NAME: wait for the application started by start_app NAME
# (bounded by its own deadlines and $SSA_CLIENT_TIMEOUT) and put its
# output in $output and $lines (as `run` does), its stderr in $stderr and
# its exit code in $status.
app_result() {
    status=0
    wait "$APP_PID" || status=$?
    output=$(cat "$D/$1.out")
    stderr=$(cat "$D/$1.log")
    mapfile -t lines <<< "$output"
}

# wait_helper STATE FILTER [EXCLUDE-PID...]: wait (at most 10 s) until
# exactly one ssa-helper process holds a TCP socket in STATE matching
# FILTER (see helpers_holding); sets HELPER_PID.  Fails at once if the
# application ($APP_PID, $APP_NAME) ended first: it did not wait for the
# helper, which is a failure of its own.
wait_helper() {
    local i pids
    for i in $(seq 200); do
        pids=$(helpers_holding "$@")
        if [ -n "$pids" ] && [ "$(wc -l <<< "$pids")" -eq 1 ]; then
            HELPER_PID=$pids
            return 0
        fi
        if ! kill -0 "$APP_PID" 2>/dev/null; then
            fail "the application ended before a helper held a '$1' socket matching '$2':
$(cat "$D/$APP_NAME.out" "$D/$APP_NAME.log" 2>/dev/null)"
        fi
        sleep 0.05
    done
    fail "no single ssa-helper holds a '$1' TCP socket matching '$2' (pids: ${pids:-none}):
$(ss -tanp 2>&1 | tail -n 30)"
}

# kill_helper: SIGKILL the helper found by wait_helper.
kill_helper() {
    [ "$(cat "/proc/$HELPER_PID/comm" 2>/dev/null)" = ssa-helper ] ||
        fail "pid $HELPER_PID is not ssa-helper any more"
    kill -KILL "$HELPER_PID"
}

# start_stalling_listener: stall.py; sets SERVER_PORT.  Checks that a SYN
# to it really goes unanswered for a second on this machine.
start_stalling_listener() {
    start_bg stall /dev/null "$PYTHON" -u "$D/stall.py"
    wait_line "$D/stall.out" '^PORT [0-9]+$' ||
        fail "stall.py did not start: $(cat "$D/stall.log")"
    SERVER_PORT=$(sed -n 's/^PORT //p' "$D/stall.out")
    run timeout 5 "$PYTHON" -c "
import socket
c = socket.socket()
c.settimeout(1)
try:
    c.connect(('127.0.0.1', $SERVER_PORT))
    print('connected')
except socket.timeout:
    print('stalled')"
    [ "$output" = stalled ] ||
        fail "a connect to the full listener did not stall: $output"
}

# --- During the TCP connect to the peer ------------------------------------

@test "helper death during the TCP connect: blocking connect() fails with ECONNABORTED" {
    start_stalling_listener
    APP_NAME=app
    start_app app "$D/app.py" block 127.0.0.1 "$SERVER_PORT" localhost "$DEATH_DEADLINE"
    # The helper's SYN to the peer goes unanswered: its socket is SYN-SENT.
    wait_helper syn-sent "( dport = :$SERVER_PORT )"
    kill_helper
    app_result app
    assert_status 0
    assert_output "connect: ECONNABORTED"
}

@test "helper death during the TCP connect: non-blocking connect() gives EINPROGRESS, then writable with SO_ERROR ECONNABORTED" {
    start_stalling_listener
    APP_NAME=app
    start_app app "$D/app.py" nonblock 127.0.0.1 "$SERVER_PORT" localhost "$DEATH_DEADLINE"
    wait_helper syn-sent "( dport = :$SERVER_PORT )"
    wait_line "$D/app.out" '^before: ' || fail "$(cat "$D/app.out" "$D/app.log")"
    kill_helper
    app_result app
    assert_status 0
    assert_line --index 0 "connect: EINPROGRESS"
    assert_line --index 1 "before: not writable"
    assert_line --index 2 --regexp '^writable after '
    assert_line --index 3 "SO_ERROR: ECONNABORTED"
}

# --- During the TLS handshake ----------------------------------------------
# The server accepts the TCP connection and never answers the ClientHello;
# the test policy's handshake-timeout (3 s) would give ETIMEDOUT, so the
# kill (within a fraction of a second) must come first: ECONNABORTED.

@test "helper death during the TLS handshake: blocking connect() fails with ECONNABORTED" {
    start_test_server silent "$PKI/good-chain.pem" "$PKI/good-key.pem"
    APP_NAME=app
    start_app app "$D/app.py" block 127.0.0.1 "$SERVER_PORT" localhost "$DEATH_DEADLINE"
    wait_helper established "( dport = :$SERVER_PORT )"
    kill_helper
    app_result app
    assert_status 0
    assert_output "connect: ECONNABORTED"
}

@test "helper death during the TLS handshake: non-blocking connect() gives EINPROGRESS, then writable with SO_ERROR ECONNABORTED" {
    start_test_server silent "$PKI/good-chain.pem" "$PKI/good-key.pem"
    APP_NAME=app
    start_app app "$D/app.py" nonblock 127.0.0.1 "$SERVER_PORT" localhost "$DEATH_DEADLINE"
    wait_helper established "( dport = :$SERVER_PORT )"
    wait_line "$D/app.out" '^before: ' || fail "$(cat "$D/app.out" "$D/app.log")"
    kill_helper
    app_result app
    assert_status 0
    assert_line --index 0 "connect: EINPROGRESS"
    assert_line --index 1 "before: not writable"
    assert_line --index 2 --regexp '^writable after '
    assert_line --index 3 "SO_ERROR: ECONNABORTED"
}

# --- During the relay ------------------------------------------------------

@test "helper death during the relay (client): the next recv() fails with ECONNRESET, not end of file" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    APP_NAME=app
    start_app app "$D/app.py" relay 127.0.0.1 "$SERVER_PORT" localhost "$DEATH_DEADLINE"
    # Connected and data read: the helper is relaying.
    wait_line "$D/app.out" '^read: ' || fail "no echo: $(cat "$D/app.out" "$D/app.log")"
    wait_helper established "( dport = :$SERVER_PORT )"
    kill_helper
    app_result app
    assert_status 0
    assert_line --index 0 "connect: ok"
    assert_line --index 1 "read: ping"
    assert_line --index 2 "recv: ECONNRESET"
}

@test "helper death during the relay (server): the accepted socket's next recv() fails with ECONNRESET, the listener lives on" {
    APP_NAME=server
    start_app server "$D/app-server.py" "$PKI/good-chain.pem" "$PKI/good-key.pem" "$DEATH_DEADLINE"
    wait_line "$D/server.out" '^listening on [0-9]+$' ||
        fail "the server did not start: $(cat "$D/server.out" "$D/server.log")"
    local port listener
    port=$(sed -n 's/^listening on //p' "$D/server.out")
    # The listener's helper holds the LISTEN socket.
    listener=$(helpers_holding listening "( sport = :$port )")
    [ -n "$listener" ] && [ "$(wc -l <<< "$listener")" -eq 1 ] ||
        fail "not one ssa-helper holding the listening socket: '${listener}'
$(ss -tlnp "sport = :$port")"

    start_bg client /dev/null "$PYTHON" -u "$D/tls-client.py" "$port" "$PKI/ca.pem"
    wait_line "$D/server.out" '^read: hello$' ||
        fail "no client data: $(cat "$D/server.out" "$D/server.log" "$D/client.out" "$D/client.log")"
    # The client's own helper holds the accepted TCP socket (local port
    # $port, ESTABLISHED); the listener's helper is left out.
    wait_helper established "( sport = :$port )" "$listener"
    [ "$HELPER_PID" != "$listener" ] || fail "picked the listener's helper"
    kill_helper
    wait_line "$D/server.out" '^(recv|HANG)' $((DEATH_DEADLINE + 5)) ||
        fail "the server reported nothing: $(cat "$D/server.out" "$D/server.log")"
    run cat "$D/server.out"
    assert_line --index 0 --regexp '^listening on [0-9]+$'
    assert_line --index 1 --regexp '^accepted 127\.0\.0\.1:[0-9]+$'
    assert_line --index 2 "read: hello"
    assert_line --index 3 "recv: ECONNRESET"
    # Only that connection died: the listener's helper still holds the
    # listening socket.
    [ "$(helpers_holding listening "( sport = :$port )")" = "$listener" ] ||
        fail "the listener's helper $listener no longer holds the listening socket"
}
