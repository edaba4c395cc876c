#!/usr/bin/env bats
# An unmodified asyncio program through the shim (LD_PRELOAD): a
# non-blocking socket(AF_INET, SOCK_STREAM, IPPROTO_TLS) with TLS_HOSTNAME,
# then the event loop's own sock_connect / sock_sendall / sock_recv.
# asyncio's connect is the textbook non-blocking one: connect() ->
# EINPROGRESS, wait for writability (epoll), then getsockopt(SO_ERROR); so
# this checks that the descriptor becomes writable only once the handshake
# and validation are done, and that SO_ERROR then carries their errno
# (SPEC.md section 3).  Servers: tests/servers/strict-tls-server.py, which
# answers "END <n>" only after the client's close_notify (a bare TCP end
# gets no answer and no close_notify), and tests/servers/tls-test-server.py
# for the refusals.

load lib

setup_file()    { ssa_setup_file; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; write_asyncio_client; }
teardown()      { ssa_teardown; }

# start_strict_server CHAIN KEY [--delay S]: tests/servers/strict-tls-server.py
# on 127.0.0.1; waits (at most 10 s) for its "PORT <n>" line.  Sets
# SERVER_PORT and SERVER_PID; its report (one line per connection: "conn
# PEER: close_notify after N bytes", "... TRUNCATED ...") is $D/strict.out.
start_strict_server() {
    local chain=$1 key=$2; shift 2
    start_bg strict /dev/null "$PYTHON" -u "$SSA_TESTS_DIR/servers/strict-tls-server.py" \
        --cert "$chain" --key "$key" "$@"
    SERVER_PID=$BG_PID
    local i line
    for i in $(seq 200); do
        line=$(head -n 1 "$D/strict.out" 2>/dev/null)
        if [[ $line =~ ^PORT\ ([0-9]+)$ ]]; then
            SERVER_PORT=${BASH_REMATCH[1]}
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    fail "strict-tls-server.py did not start: $(cat "$D/strict.log")"
}

# assert_server_saw_close_notify N BYTES: the strict server served exactly
# N connections, each ended by the client's close_notify after BYTES bytes
# (waiting up to 10 s for the N lines).
assert_server_saw_close_notify() {
    local n=$1 bytes=$2 i
    for i in $(seq 200); do
        [ "$(grep -c '^conn ' "$D/strict.out")" -ge "$n" ] && break
        sleep 0.05
    done
    run grep '^conn ' "$D/strict.out"
    [ "${#lines[@]}" -eq "$n" ] || fail "the server reports ${#lines[@]} connections, expected $n: $output"
    local l
    for l in "${lines[@]}"; do
        [[ $l =~ ^conn\ 127\.0\.0\.1:[0-9]+:\ close_notify\ after\ $bytes\ bytes$ ]] ||
            fail "not ended by close_notify after $bytes bytes: $l"
    done
}

# R_NAME_MISMATCH: the TLS_ERROR reason for a certificate that does not
# name the host (stricter than tests/client.bats's R_NAME 'name|host': it
# must say that the name does not match).
R_NAME_MISMATCH='name.*(does not|doesn.t|not) match|(name|host).*mismatch|mismatch.*(name|host)'

# assert_reason REGEX: the one output line is "connect failed: errno=71
# EPROTO reason=R" and R matches REGEX (case-insensitive).
assert_reason() {
    [[ $output =~ ^connect\ failed:\ errno=71\ EPROTO\ reason=(.+)$ ]] ||
        fail "not 'connect failed: errno=71 EPROTO reason=...': $output"
    local reason=${BASH_REMATCH[1]} ok=0
    shopt -s nocasematch
    [[ $reason =~ $1 ]] && ok=1
    shopt -u nocasematch
    [ "$ok" -eq 1 ] || fail "TLS_ERROR does not say /$1/: $reason"
}

# run_asyncio ARGS...: run the client under LD_PRELOAD=the shim.
run_asyncio() {
    run --separate-stderr env LD_PRELOAD="$SSA_SHIM" \
        timeout "$SSA_CLIENT_TIMEOUT" "$PYTHON" "$D/client.py" "$@"
}

# The client: client.py COMMAND HOST PORT NAME [ARGS...]
#
#   echo N      connect, then send N bytes while reading concurrently,
#               shutdown(SHUT_WR) (close_notify), read to EOF: prints
#               "connected in MS ms", "echo equal" and "end END <N>"
#   ticks       as "echo 100000", with a 20 ms ticker running during the
#               connect: prints "ticks during connect: T"
#   parallel K  K connections at once (gather), each "echo 10000":
#               prints "parallel K ok in MS ms"
#   fail        connect must fail: prints "connect failed: errno=E NAME
#               reason=TLS_ERROR", exit 2
#
# Exit 0 on success, 2 if connect failed, 3 on any other mismatch.
write_asyncio_client() {
    cat > "$D/client.py" <<'EOF'
import asyncio, errno, os, socket, sys, time

IPPROTO_TLS, TLS_HOSTNAME, TLS_ERROR = 205, 85, 100
cmd, host, port, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rest = sys.argv[5:]


def tls_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_TLS)
    s.setblocking(False)
    s.setsockopt(IPPROTO_TLS, TLS_HOSTNAME, name.encode() + b"\0")
    return s


def tls_error(s):
    return s.getsockopt(IPPROTO_TLS, TLS_ERROR, 512).split(b"\0")[0].decode(
        errors="replace")


async def connect():
    loop = asyncio.get_running_loop()
    s = tls_socket()
    t0 = time.monotonic()
    try:
        await loop.sock_connect(s, (host, port))
    except OSError as e:
        print(f"connect failed: errno={e.errno} {errno.errorcode.get(e.errno)}"
              f" reason={tls_error(s)}", flush=True)
        s.close()
        raise SystemExit(2)
    return s, time.monotonic() - t0


async def echo(s, n):
    """Send n random bytes while reading; half-close; read to EOF.  The
    server echoes everything, then "END <n>\\n" after our close_notify."""
    loop = asyncio.get_running_loop()
    data = os.urandom(n)

    async def writer():
        for i in range(0, n, 16384):
            await loop.sock_sendall(s, data[i:i + 16384])
        s.shutdown(socket.SHUT_WR)

    async def reader():
        got = bytearray()
        while True:
            chunk = await loop.sock_recv(s, 65536)
            if not chunk:
                return bytes(got)
            got += chunk

    _, got = await asyncio.gather(writer(), reader())
    body, end = got[:n], got[n:]
    return body == data, end.decode(errors="replace").strip(), len(got)


async def main():
    if cmd == "fail":
        s, dt = await connect()
        print(f"connect succeeded in {dt * 1000:.0f} ms (expected a failure)")
        raise SystemExit(3)

    if cmd == "parallel":
        k = int(rest[0])
        t0 = time.monotonic()

        async def one():
            s, _ = await connect()
            try:
                return await echo(s, 10000)
            finally:
                s.close()

        results = await asyncio.gather(*(one() for _ in range(k)))
        bad = [r for r in results if not (r[0] and r[1] == "END 10000")]
        if bad:
            print(f"parallel: {len(bad)} of {k} wrong: {bad[:3]}")
            raise SystemExit(3)
        print(f"parallel {k} ok in {(time.monotonic() - t0) * 1000:.0f} ms")
        return

    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.02)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    await asyncio.sleep(0)          # let the ticker start
    s, dt = await connect()
    stop.set()
    await tick_task
    print(f"connected in {dt * 1000:.0f} ms", flush=True)
    print(f"ticks during connect: {ticks}")
    print("peer", *s.getpeername())
    n = int(rest[0]) if cmd == "echo" else 100000
    equal, end, total = await echo(s, n)
    s.close()
    print("echo", "equal" if equal else f"DIFFERENT ({total} bytes received)")
    print("end", end)
    if not equal or end != f"END {n}":
        raise SystemExit(3)


asyncio.run(main())
EOF
}

@test "asyncio: sock_connect/sock_sendall/sock_recv echo 1 MiB; shutdown(SHUT_WR) sends close_notify, the answer after it arrives, then end of file" {
    start_strict_server "$PKI/good-chain.pem" "$PKI/good-key.pem"
    run_asyncio echo 127.0.0.1 "$SERVER_PORT" localhost "$MIB"
    assert_status 0
    assert_line "echo equal"
    # Sent by the server only after the client's close_notify, and read
    # by the client before a clean end of file (the server's close_notify;
    # a bare TCP end would read as ECONNRESET).
    assert_line "end END $MIB"
    assert_line "peer 127.0.0.1 $SERVER_PORT"
    assert_server_saw_close_notify 1 "$MIB"
}

@test "asyncio: a handshake 1 s late: sock_connect completes, without blocking the loop" {
    start_strict_server "$PKI/good-chain.pem" "$PKI/good-key.pem" --delay 1
    run_asyncio ticks 127.0.0.1 "$SERVER_PORT" localhost
    assert_status 0
    assert_line "echo equal"
    assert_line "end END 100000"
    # The connect waited for the handshake (the server sleeps 1000 ms
    # after its accept, which follows the client's first step)...
    local ms ticks
    ms=$(sed -n 's/^connected in \([0-9]*\) ms$/\1/p' <<< "$output")
    [ -n "$ms" ] || fail "no 'connected in' line: $output"
    [ "$ms" -ge 1000 ] || fail "sock_connect completed after $ms ms, before the server's 1000 ms delay"
    # ...while the event loop went on running (a blocking connect would
    # have stalled the 20 ms ticker: about 50 ticks expected).
    ticks=$(sed -n 's/^ticks during connect: //p' <<< "$output")
    [ "${ticks:-0}" -ge 20 ] ||
        fail "only ${ticks:-0} ticks of 20 ms during a $ms ms connect: the loop was blocked"
    assert_server_saw_close_notify 1 100000
}

@test "asyncio: 10 connections at once to the 1 s-late server take about 1 s, not 10" {
    start_strict_server "$PKI/good-chain.pem" "$PKI/good-key.pem" --delay 1
    run_asyncio parallel 127.0.0.1 "$SERVER_PORT" localhost 10
    assert_status 0
    local ms
    ms=$(sed -n 's/^parallel 10 ok in \([0-9]*\) ms$/\1/p' <<< "$output")
    [ -n "$ms" ] || fail "no 'parallel 10 ok' line: $output"
    [ "$ms" -ge 1000 ] || fail "10 connects to a server 1000 ms late took only $ms ms"
    # Serialised they take 10 s, two at a time 5 s.
    [ "$ms" -lt 4000 ] || fail "10 concurrent connects took $ms ms: they were serialised"
    assert_server_saw_close_notify 10 10000
}

@test "asyncio: wrong name: sock_connect raises OSError EPROTO, TLS_ERROR says the name does not match" {
    start_test_server echo "$PKI/wrongname-chain.pem" "$PKI/wrongname-key.pem"
    run_asyncio fail 127.0.0.1 "$SERVER_PORT" localhost
    assert_status 2
    assert_reason "$R_NAME_MISMATCH"
}

@test "asyncio: a wrong name behind a 1 s-late handshake still raises EPROTO, TLS_ERROR says the name does not match" {
    start_test_server delay "$PKI/wrongname-chain.pem" "$PKI/wrongname-key.pem" --delay 1
    run_asyncio fail 127.0.0.1 "$SERVER_PORT" localhost
    assert_status 2
    assert_reason "$R_NAME_MISMATCH"
}

@test "asyncio: a closed port raises ECONNREFUSED" {
    local port
    port=$(free_port)
    run_asyncio fail 127.0.0.1 "$port" localhost
    assert_status 2
    assert_output --regexp '^connect failed: errno=[0-9]+ ECONNREFUSED '
}

@test "asyncio: a destination the policy denies raises EACCES" {
    start_test_server echo "$PKI/good-chain.pem" "$PKI/good-key.pem"
    run_asyncio fail 127.0.0.1 "$SERVER_PORT" denied.localhost
    assert_status 2
    assert_output --regexp '^connect failed: errno=[0-9]+ EACCES '
}
