#!/usr/bin/env bats
# A client that is not ours: CPython's socket module, with the shim loaded
# by LD_PRELOAD, makes an IPPROTO_TLS socket exactly as the SPEC shows for
# C.  Exercises the shim from another language runtime.

load lib

setup_file()    { ssa_setup_file; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; }
teardown()      { ssa_teardown; }

# run_python SCRIPT ARGS...: run a Python script under LD_PRELOAD=the shim.
run_python() {
    local script=$1; shift
    run --separate-stderr env LD_PRELOAD="$SSA_SHIM" \
        timeout "$SSA_CLIENT_TIMEOUT" "$PYTHON" "$script" "$@"
}

# The client: socket(AF_INET, SOCK_STREAM, IPPROTO_TLS), TLS_HOSTNAME,
# connect, then plain send/recv on the same socket object.
write_echo_client() {
    cat > "$D/client.py" <<'EOF'
import socket, sys

IPPROTO_TLS, TLS_HOSTNAME, TLS_ERROR = 205, 85, 100
host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_TLS)
s.setsockopt(IPPROTO_TLS, TLS_HOSTNAME, name.encode() + b"\0")
try:
    s.connect((host, port))
except OSError as e:
    reason = s.getsockopt(IPPROTO_TLS, TLS_ERROR, 512).split(b"\0")[0]
    print(f"connect failed: errno={e.errno} {socket.errno.errorcode.get(e.errno)}"
          f" reason={reason.decode(errors='replace')}")
    sys.exit(2)

print("peer", s.getpeername()[0], s.getpeername()[1])
msg = b"hello from python over the SSA\n" * 100
s.sendall(msg)
got = b""
while len(got) < len(msg):
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
print("echo", "equal" if got == msg else f"DIFFERENT ({len(got)} of {len(msg)} bytes)")
s.close()
EOF
}

@test "python: socket(AF_INET, SOCK_STREAM, 205) + TLS_HOSTNAME, echo through gnutls-serv" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    write_echo_client
    run_python "$D/client.py" 127.0.0.1 "$SERVER_PORT" localhost
    assert_status 0
    assert_line "echo equal"
}

@test "python: getpeername() on the TLS socket gives the server's network address" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    write_echo_client
    run_python "$D/client.py" 127.0.0.1 "$SERVER_PORT" localhost
    assert_status 0
    assert_line "peer 127.0.0.1 $SERVER_PORT"
}

# R_NAME_MISMATCH: the TLS_ERROR reason for a certificate that does not
# name the host (stricter than tests/client.bats's R_NAME 'name|host': it
# must say that the name does not match).
R_NAME_MISMATCH='name.*(does not|doesn.t|not) match|(name|host).*mismatch|mismatch.*(name|host)'

@test "python: wrong name raises OSError with errno EPROTO and TLS_ERROR says the name does not match" {
    start_gnutls_serv "$PKI/wrongname-chain.pem" "$PKI/wrongname-key.pem"
    write_echo_client
    run_python "$D/client.py" 127.0.0.1 "$SERVER_PORT" localhost
    assert_status 2
    # One line, nothing echoed: the exception came from connect().
    [[ $output =~ ^connect\ failed:\ errno=71\ EPROTO\ reason=(.+)$ ]] ||
        fail "not 'connect failed: errno=71 EPROTO reason=...': $output"
    local reason=${BASH_REMATCH[1]} ok=0
    shopt -s nocasematch
    [[ $reason =~ $R_NAME_MISMATCH ]] && ok=1
    shopt -u nocasematch
    [ "$ok" -eq 1 ] || fail "TLS_ERROR does not say that the name does not match: $reason"
}

# ---------------------------------------------------------------------------
# Standalone: the helper started ahead of the next connection (SPEC §5).
# ---------------------------------------------------------------------------

@test "python: a program that closed every descriptor (a daemon detaching) still connects, and keeps its own files" {
    # What the shim keeps between calls (a resumption channel; standalone,
    # the helper started ahead) is gone, and must not take the numbers'
    # new owners with it.
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    echo "a file of the program's own" > "$D/own"
    cat > "$D/daemon.py" <<'EOF'
import os, socket, sys

IPPROTO_TLS, TLS_HOSTNAME = 205, 85
port = int(sys.argv[1])

def echo(tag):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_TLS)
    s.setsockopt(IPPROTO_TLS, TLS_HOSTNAME, b"localhost\0")
    s.connect(("127.0.0.1", port))
    s.sendall(tag + b"\n")
    got = s.recv(100)
    s.close()
    return got

print("first", echo(b"one").decode().strip())
# What a daemon does when it detaches: close all but 0-2, then open its own.
os.closerange(3, 4096)
own = [os.open(sys.argv[2], os.O_RDONLY) for _ in range(8)]
print("second", echo(b"two").decode().strip())
print("own", "intact" if all(os.pread(f, 100, 0) == open(sys.argv[2], "rb").read() for f in own) else "LOST")
EOF
    run --separate-stderr env LD_PRELOAD="$SSA_SHIM" SSA_TEST_MARK="$D" \
        timeout "$SSA_CLIENT_TIMEOUT" "$PYTHON" "$D/daemon.py" "$SERVER_PORT" "$D/own"
    assert_status 0
    assert_line "first one"
    assert_line "second two"
    assert_line "own intact"
}

@test "standalone: the helpers kept for the next connection exit with the program that started them" {
    [ "$SSA_TEST_MODE" = standalone ] || skip "standalone mode only (the shim starts the helper)"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    write_echo_client
    mkfifo "$D/go"
    cat > "$D/stay.py" <<EOF
exec(open("$D/client.py").read().replace("s.close()", "s.close(); print('done', flush=True); open('$D/go').read()"))
EOF
    env LD_PRELOAD="$SSA_SHIM" SSA_TEST_MARK="$D" "$PYTHON" "$D/stay.py" \
        127.0.0.1 "$SERVER_PORT" localhost > "$D/stay.out" 2>&1 &
    local pid=$!
    register_pid "$pid"
    wait_line "$D/stay.out" "^done" 10 || fail "the client did not finish: $(cat "$D/stay.out")"
    # While the program lives, the connection's own helper has ended with
    # it, and two wait: the fork server, and the helper it forked ahead for
    # the next connection (spare.h), its child ...
    local waiting
    wait_helpers_of "$D" 2 || true
    waiting=$(helpers_of "$D")
    [ "$(wc -l <<<"$waiting")" -eq 2 ] || fail "helpers waiting: $(wc -l <<<"$waiting"), not 2"
    local a b
    a=$(sed -n 1p <<<"$waiting")
    b=$(sed -n 2p <<<"$waiting")
    [ "$(ps -o ppid= -p "$a" | tr -d ' ')" = "$b" ] || [ "$(ps -o ppid= -p "$b" | tr -d ' ')" = "$a" ] ||
        fail "the waiting helpers $a and $b are not a fork server and its child"
    echo > "$D/go"
    wait "$pid"
    # ... and none once it has exited.
    wait_helpers_of "$D" 0 || fail "helpers left behind: $(helpers_of "$D")"
}

@test "python: a policy change between two connections of one program applies to the second (standalone: the policy its fork server watches)" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    mkfifo "$D/go"
    cat > "$D/twice.py" <<'EOF'
import socket, sys

IPPROTO_TLS, TLS_HOSTNAME, TLS_ERROR = 205, 85, 100
port, go = int(sys.argv[1]), sys.argv[2]

def attempt(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_TLS)
    s.setsockopt(IPPROTO_TLS, TLS_HOSTNAME, b"localhost\0")
    try:
        s.connect(("127.0.0.1", port))
        print(n, "connected", flush=True)
    except OSError as e:
        reason = s.getsockopt(IPPROTO_TLS, TLS_ERROR, 512).split(b"\0")[0].decode(errors="replace")
        print(n, "failed", socket.errno.errorcode.get(e.errno), reason, flush=True)
    s.close()

for n in ("first", "second", "third"):
    attempt(n)
    if n != "third":
        open(go).read()
EOF
    env LD_PRELOAD="$SSA_SHIM" timeout 30 "$PYTHON" "$D/twice.py" "$SERVER_PORT" "$D/go" > "$D/twice.out" 2>&1 &
    local pid=$!
    register_pid "$pid"
    wait_line "$D/twice.out" "^first " 10 || fail "no first attempt: $(cat "$D/twice.out")"
    apply_policy zz-twice.ini "[host localhost]" "allow = no"
    echo > "$D/go"
    wait_line "$D/twice.out" "^second " 10 || fail "no second attempt: $(cat "$D/twice.out")"
    apply_policy --remove zz-twice.ini
    echo > "$D/go"
    wait "$pid" || fail "the program failed: $(cat "$D/twice.out")"
    run cat "$D/twice.out"
    assert_line "first connected"
    assert_line --regexp "^second failed EACCES .*allow = no"
    assert_line "third connected"
}
