#!/usr/bin/env python3
"""A strict TLS echo server (CPython's ssl, no shim) for the client-side
tests that end with shutdown(SHUT_WR): it tells the client's close_notify
from a bare TCP end, which tls-test-server.py does not (it takes either
for the end of the data).

    strict-tls-server.py --cert CHAIN --key KEY [--delay SECONDS]

Binds 127.0.0.1 port 0, prints "PORT <n>" once it listens, then serves
every connection in its own thread until killed: after --delay seconds
(default 0) the handshake, then it echoes every byte.  How the client's
data ends decides how the server ends:

    close_notify              "END <bytes received>\\n", then close_notify
    TCP end, no close_notify  nothing more: OpenSSL takes it for a fatal
                              error, the connection ends without close_notify
    anything else (a reset)   the same

and one line per connection on stdout: "conn IP:PORT: close_notify after
N bytes", "conn IP:PORT: TRUNCATED after N bytes" or "conn IP:PORT: error
...".  Diagnostics on stderr.
"""
import argparse
import socket
import ssl
import sys
import threading
import time

out_lock = threading.Lock()


def say(line):
    with out_lock:
        print(line, flush=True)


def ragged_eof(e):
    return isinstance(e, ssl.SSLEOFError) or getattr(e, "reason", None) == "UNEXPECTED_EOF_WHILE_READING"


def serve(conn, peer, ctx, delay):
    if delay:
        time.sleep(delay)
    try:
        tls = ctx.wrap_socket(conn, server_side=True, suppress_ragged_eofs=False)
    except (ssl.SSLError, OSError) as e:
        print(f"strict-tls-server: {peer}: handshake: {e}", file=sys.stderr, flush=True)
        conn.close()
        return
    total = 0
    clean = False
    try:
        while True:
            try:
                chunk = tls.recv(65536)
            except ssl.SSLError as e:
                if not ragged_eof(e):
                    raise
                # OpenSSL takes it for a fatal error: nothing more can be
                # sent, not even close_notify.
                say(f"conn {peer}: TRUNCATED after {total} bytes")
                break
            if not chunk:   # close_notify (a ragged end raises, see above)
                say(f"conn {peer}: close_notify after {total} bytes")
                tls.sendall(f"END {total}\n".encode())
                clean = True
                break
            total += len(chunk)
            tls.sendall(chunk)
    except (ssl.SSLError, OSError) as e:
        say(f"conn {peer}: error after {total} bytes: {type(e).__name__}: {e}")
    if clean:
        try:
            tls.unwrap()    # our close_notify
        except (ssl.SSLError, OSError, ValueError) as e:
            print(f"strict-tls-server: {peer}: unwrap: {e}", file=sys.stderr, flush=True)
    tls.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    # Some Python builds (Debian's 3.11, for one) set this by default:
    # OpenSSL then takes a TCP end without close_notify for a clean one.
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    say(f"PORT {listener.getsockname()[1]}")
    while True:
        conn, addr = listener.accept()
        threading.Thread(target=serve, args=(conn, f"{addr[0]}:{addr[1]}", ctx, args.delay),
                         daemon=True).start()


if __name__ == "__main__":
    main()
