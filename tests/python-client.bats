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
