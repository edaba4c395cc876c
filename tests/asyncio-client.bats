#!/usr/bin/env bats
# An unmodified asyncio program through the shim (LD_PRELOAD): a
# non-blocking socket(AF_INET, SOCK_STREAM, IPPROTO_TLS) with TLS_HOSTNAME,
# then the event loop's own sock_connect / sock_sendall / sock_recv.
# asyncio's connect is the textbook non-blocking one: connect() ->
# EINPROGRESS, wait for writability (epoll), then getsockopt(SO_ERROR); so
# this checks that the descriptor becomes writable only once the handshake
# and validation are done, and that SO_ERROR then carries their errno
# (SPEC.md section 3).  Servers: tests/servers/tls-test-server.py.

load lib

setup_file()    { ssa_setup_file; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; write_asyncio_client; }
teardown()      { ssa_teardown; }

# run_asyncio ARGS...: run the client under LD_PRELOAD=the shim.
run_asyncio() {
    run --separate-stderr env LD_PRELOAD="$SSA_SHIM" \
        timeout "$SSA_CLIENT_TIMEOUT" "$PYTHON" "$D/client.py" "$@"
}

# The client: client.py COMMAND HOST PORT NAME [ARGS...]
#
#   echo N      connect, then send N bytes while reading concurrently,
#               shutdown(SHUT_WR) (close_notify), read to EOF: prints
#               "connected in S s", "echo equal" and "end END <N>"
#   ticks       as "echo 100000", with a 20 ms ticker running during the
#               connect: prints "ticks during connect: T"
#   parallel K  K connections at once (gather), each "echo 10000":
#               prints "parallel K ok in S s"
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
        print(f"connect succeeded in {dt:.2f} s (expected a failure)")
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
        print(f"parallel {k} ok in {time.monotonic() - t0:.2f} s")
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
    print(f"connected in {dt:.2f} s", flush=True)
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

@test "asyncio: sock_connect/sock_sendall/sock_recv echo 1 MiB through the echo server" {
    start_test_server echo "$PKI/good-chain.pem" "$PKI/good-key.pem"
    run_asyncio echo 127.0.0.1 "$SERVER_PORT" localhost "$MIB"
    assert_status 0
    assert_line "echo equal"
    assert_line "end END $MIB"
    assert_line "peer 127.0.0.1 $SERVER_PORT"
}

@test "asyncio: a handshake 1 s late: sock_connect completes, without blocking the loop" {
    start_test_server delay "$PKI/good-chain.pem" "$PKI/good-key.pem" --delay 1
    run_asyncio ticks 127.0.0.1 "$SERVER_PORT" localhost
    assert_status 0
    assert_line "echo equal"
    assert_line "end END 100000"
    # The connect waited for the handshake...
    local dt ticks
    dt=$(sed -n 's/^connected in \([0-9.]*\) s$/\1/p' <<< "$output")
    [ -n "$dt" ] || fail "no 'connected in' line: $output"
    "$PYTHON" -c "import sys; sys.exit(0 if float('$dt') >= 0.9 else 1)" ||
        fail "sock_connect completed after $dt s, before the server's 1 s delay"
    # ...while the event loop went on running (a blocking connect would
    # have stalled the 20 ms ticker: about 50 ticks expected).
    ticks=$(sed -n 's/^ticks during connect: //p' <<< "$output")
    [ "${ticks:-0}" -ge 20 ] ||
        fail "only ${ticks:-0} ticks of 20 ms during a ${dt} s connect: the loop was blocked"
}

@test "asyncio: 10 connections at once to the 1 s-late server take about 1 s, not 10" {
    start_test_server delay "$PKI/good-chain.pem" "$PKI/good-key.pem" --delay 1
    run_asyncio parallel 127.0.0.1 "$SERVER_PORT" localhost 10
    assert_status 0
    local dt
    dt=$(sed -n 's/^parallel 10 ok in \([0-9.]*\) s$/\1/p' <<< "$output")
    [ -n "$dt" ] || fail "no 'parallel 10 ok' line: $output"
    "$PYTHON" -c "import sys; sys.exit(0 if float('$dt') < 5 else 1)" ||
        fail "10 concurrent connects took $dt s: they were serialised"
}

@test "asyncio: wrong name: sock_connect raises OSError EPROTO, TLS_ERROR says why" {
    start_test_server echo "$PKI/wrongname-chain.pem" "$PKI/wrongname-key.pem"
    run_asyncio fail 127.0.0.1 "$SERVER_PORT" localhost
    assert_status 2
    assert_output --regexp '^connect failed: errno=[0-9]+ EPROTO reason=.+'
}

@test "asyncio: a wrong name behind a 1 s-late handshake still raises EPROTO" {
    start_test_server delay "$PKI/wrongname-chain.pem" "$PKI/wrongname-key.pem" --delay 1
    run_asyncio fail 127.0.0.1 "$SERVER_PORT" localhost
    assert_status 2
    assert_output --regexp '^connect failed: errno=[0-9]+ EPROTO reason=.+'
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
