#!/usr/bin/env python3
# bench/burst-client.py N HOST PORT -- open N IPPROTO_TLS connections at
# once (asyncio, run under LD_PRELOAD=libssa-shim) to a TLS echo server,
# send each a line and wait for its echo; print
#   answered K of N in T ms
# (T from the first connect() to the last echo) and one "error NAME: count"
# line per errno seen.  Exit status 0 if all N were answered, else 1.
import asyncio
import errno
import socket
import sys
import time

IPPROTO_TLS, TLS_HOSTNAME = 205, 85
n, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
errors = {}


async def one(i):
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_TLS)
    s.setblocking(False)
    s.setsockopt(IPPROTO_TLS, TLS_HOSTNAME, b"localhost\0")
    line = b"burst %d\n" % i
    try:
        await loop.sock_connect(s, (host, port))
        await loop.sock_sendall(s, line)
        got = b""
        while not got.endswith(b"\n"):
            chunk = await loop.sock_recv(s, 64)
            if not chunk:
                break
            got += chunk
        return got == line
    except OSError as e:
        errors[e.errno] = errors.get(e.errno, 0) + 1
        return False
    finally:
        s.close()


async def main():
    t0 = time.monotonic()
    ok = sum(await asyncio.gather(*(one(i) for i in range(n))))
    print(f"answered {ok} of {n} in {int((time.monotonic() - t0) * 1000)} ms", flush=True)
    for e, count in sorted(errors.items()):
        print(f"error {errno.errorcode.get(e, e)}: {count}", flush=True)
    return ok == n


sys.exit(0 if asyncio.run(main()) else 1)
