#!/usr/bin/env python3
"""TLS clients that misbehave on purpose, against a TLS server (the SSA's
ssa-echo-server in tests/faults.bats).  Stdlib only: the ClientHello and the
handshake come from CPython's ssl over memory BIOs, so every byte on the
wire is a real TLS client's, sent when and how this program decides.

    misbehaving-tls-client.py --port P [--host 127.0.0.1] [--source ADDR]
                              [--name localhost] [--ca CA] MODE [OPTIONS]

Every line it prints is flushed at once.  Times are milliseconds; AT is
the wall clock (ms since the epoch), to compare with events the test
records itself.

  trickle --count N --interval S --max SECONDS
        Open N TCP connections (bound to --source if given), each sending
        its own ClientHello one byte every S seconds, never faster.  Prints
        "connected N" once all are open, then one line per connection the
        server ends:
            dropped I HOW MS AT     HOW: eof, reset (or an errno name);
                                    MS since that connection's connect()
        Data from the server (an alert) is read and counted, not an end.
        After --max seconds, "alive I MS" for each one still open; last
        "done dropped=K alive=M max_ms=X sent_max=B" (B: the most ClientHello
        bytes any connection got to send).

  reset-handshake [--go FILE]
        Send a whole ClientHello, wait for the first bytes of the server's
        answer ("answered N local=IP:PORT"), then (once FILE exists, if
        given) close with a RST ("reset").

  hold
        Complete the handshake (verifying against --ca), send nothing, and
        wait until the server ends the connection:
            connected local=IP:PORT
            ended HOW MS AT         HOW: eof (a TCP end without close_notify),
                                    close_notify, reset, data, timeout

  reset-stream --bytes N [--go FILE]
        Complete the handshake (verifying against --ca), wait for FILE (if
        given), send N random bytes without reading, then at once close
        with a RST, while they may still be in flight:
            connected local=IP:PORT
            reset after writing N bytes

Exit status 0 when the run went as described, 1 otherwise (a message on
stderr says why).
"""
import argparse
import os
import select
import socket
import ssl
import struct
import sys
import time


def say(line):
    print(line, flush=True)


def wall_ms():
    return int(time.time() * 1000)


def tcp(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if args.source:
        s.bind((args.source, 0))
    s.settimeout(10)
    s.connect((args.host, args.port))
    s.settimeout(None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def client_hello(name):
    """A fresh ClientHello (bytes) and its SSLObject."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read(), tls


def rst(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def wait_file(path, seconds=60):
    end = time.monotonic() + seconds
    while path and not os.path.exists(path):
        if time.monotonic() > end:
            sys.exit(f"{path} did not appear within {seconds} s")
        time.sleep(0.02)


def trickle(args):
    conns = []   # [sock, hello, sent, t0]
    for _ in range(args.count):
        hello, _ = client_hello(args.name)
        s = tcp(args)
        conns.append([s, hello, 0, time.monotonic()])
    say(f"connected {len(conns)}")
    alive = {s.fileno(): i for i, (s, *_rest) in enumerate(conns)}
    p = select.poll()
    for fd in alive:
        p.register(fd, select.POLLIN)
    dropped, max_ms = 0, 0
    start = time.monotonic()
    end = start + args.max
    next_tick = start

    def drop(i, how):
        nonlocal dropped, max_ms
        s, _, _, t0 = conns[i]
        ms = round((time.monotonic() - t0) * 1000)
        max_ms = max(max_ms, ms)
        say(f"dropped {i} {how} {ms} {wall_ms()}")
        p.unregister(s.fileno())
        del alive[s.fileno()]
        s.close()
        dropped += 1

    while alive and time.monotonic() < end:
        now = time.monotonic()
        if now >= next_tick:
            # One more byte of its ClientHello to every live connection.
            for fd, i in list(alive.items()):
                c = conns[i]
                if c[2] >= len(c[1]):
                    continue
                try:
                    c[0].send(c[1][c[2]:c[2] + 1])
                    c[2] += 1
                except ConnectionResetError:
                    drop(i, "reset")
                except OSError as e:
                    drop(i, type(e).__name__)
            next_tick += args.interval
            continue
        timeout = max(0, min(next_tick, end) - now)
        for fd, ev in p.poll(timeout * 1000):
            i = alive.get(fd)
            if i is None:
                continue
            try:
                data = conns[i][0].recv(65536)
            except ConnectionResetError:
                drop(i, "reset")
                continue
            except OSError as e:
                drop(i, type(e).__name__)
                continue
            if not data:
                drop(i, "eof")
    for fd, i in alive.items():
        say(f"alive {i} {round((time.monotonic() - conns[i][3]) * 1000)}")
    say(f"done dropped={dropped} alive={len(alive)} max_ms={max_ms} "
        f"sent_max={max(c[2] for c in conns)}")
    return 0


def reset_handshake(args):
    hello, _ = client_hello(args.name)
    s = tcp(args)
    s.sendall(hello)
    s.settimeout(10)
    answer = s.recv(65536)
    if not answer:
        sys.exit("the server closed before answering the ClientHello")
    say(f"answered {len(answer)} local=%s:%d" % s.getsockname())
    wait_file(args.go)
    rst(s)
    say("reset")
    return 0


def verified(args):
    ctx = ssl.create_default_context(cafile=args.ca)
    # A TCP end without close_notify must not pass for one (some builds
    # set this option by default).
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    s = ctx.wrap_socket(tcp(args), server_hostname=args.name, suppress_ragged_eofs=False)
    say("connected local=%s:%d" % s.getsockname())
    return s


def hold(args):
    s = verified(args)
    t0 = time.monotonic()
    s.settimeout(args.max)
    try:
        how = "data" if s.recv(65536) else "close_notify"
    except ssl.SSLEOFError:
        how = "eof"
    except ssl.SSLError as e:
        how = "eof" if getattr(e, "reason", None) == "UNEXPECTED_EOF_WHILE_READING" else type(e).__name__
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "timeout"
    except (OSError, ssl.SSLError) as e:
        how = type(e).__name__
    say(f"ended {how} {round((time.monotonic() - t0) * 1000)} {wall_ms()}")
    return 0


def reset_stream(args):
    s = verified(args)
    data = os.urandom(args.bytes)
    wait_file(args.go)
    s.sendall(data)
    # A RST on the TCP socket under the TLS layer: no close_notify.
    plain = socket.socket(fileno=os.dup(s.fileno()))
    rst(plain)
    s.close()
    say(f"reset after writing {args.bytes} bytes")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--source")
    ap.add_argument("--name", default="localhost")
    ap.add_argument("--ca")
    ap.add_argument("mode", choices=("trickle", "reset-handshake", "hold", "reset-stream"))
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--max", type=float, default=30)
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("--go")
    args = ap.parse_args()
    if args.mode in ("hold", "reset-stream") and not args.ca:
        ap.error(f"{args.mode} needs --ca")
    return {"trickle": trickle, "reset-handshake": reset_handshake, "hold": hold,
            "reset-stream": reset_stream}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
