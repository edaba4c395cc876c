#!/usr/bin/env python3
"""N TLS clients at once (asyncio and CPython's ssl, no shim), each
verifying the server against --ca, sending its own data and reading it
back from an echo server, for tests/faults.bats.

    tls-burst-client.py --port P --ca CA --count N [--size BYTES]
                        [--host 127.0.0.1] [--name localhost]
                        [--timeout SECONDS] [--hold SECONDS]

All N connections are started together.  Each sends BYTES random bytes
(default: a line "client I\\n"), reads the same number back, compares,
keeps the connection open --hold seconds more (default 0), and closes with
close_notify.  Prints, flushed:

    answered K of N in MS ms
    outcome NAME COUNT      one line per outcome, among:
        ok                  the echo came back equal
        handshake:ERR       TCP connect or TLS handshake failed (ERR: the
                            exception's class)
        eof-after-handshake     the server ended the connection (EOF)
                            after a successful handshake, before the echo
        reset-after-handshake   the same with a reset
        error-after-handshake:ERR   another error after the handshake
        differs             the echo came back different
        timeout-handshake, timeout-echo   --timeout passed first
    slowest MS              the slowest connection to finish, any outcome

Exit status 0 if every connection is ok, 1 otherwise.
"""
import argparse
import asyncio
import os
import ssl
import sys
import time


async def one(i, args, ctx, outcomes, slowest):
    t0 = time.monotonic()
    data = os.urandom(args.size) if args.size else f"client {i}\n".encode()
    deadline = t0 + args.timeout
    outcome = None
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(args.host, args.port, ssl=ctx, server_hostname=args.name,
                                    ssl_handshake_timeout=args.timeout),
            args.timeout)
    except asyncio.TimeoutError:
        outcome = "timeout-handshake"
    except (OSError, ssl.SSLError) as e:
        outcome = f"handshake:{type(e).__name__}"
    if outcome is None:
        try:
            writer.write(data)
            got = await asyncio.wait_for(reader.readexactly(len(data)),
                                         max(0.1, deadline - time.monotonic()))
            outcome = "ok" if got == data else "differs"
            await asyncio.sleep(args.hold)
        except asyncio.IncompleteReadError:
            outcome = "eof-after-handshake"
        except asyncio.TimeoutError:
            outcome = "timeout-echo"
        except ConnectionResetError:
            outcome = "reset-after-handshake"
        except (OSError, ssl.SSLError) as e:
            outcome = f"error-after-handshake:{type(e).__name__}"
    if writer is not None:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 5)
        except (OSError, ssl.SSLError, asyncio.TimeoutError):
            pass
    outcomes[outcome] = outcomes.get(outcome, 0) + 1
    slowest[0] = max(slowest[0], time.monotonic() - t0)
    return outcome == "ok"


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="localhost")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--hold", type=float, default=0)
    args = ap.parse_args()

    ctx = ssl.create_default_context(cafile=args.ca)
    outcomes, slowest = {}, [0.0]
    t0 = time.monotonic()
    results = await asyncio.gather(*(one(i, args, ctx, outcomes, slowest) for i in range(args.count)))
    ok = sum(results)
    print(f"answered {ok} of {args.count} in {round((time.monotonic() - t0) * 1000)} ms", flush=True)
    for name, n in sorted(outcomes.items()):
        print(f"outcome {name} {n}", flush=True)
    print(f"slowest {round(slowest[0] * 1000)}", flush=True)
    return 0 if ok == args.count else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
