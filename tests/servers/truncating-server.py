#!/usr/bin/env python3
"""A TLS server that truncates: it sends some data, then ends the TCP
connection (FIN) WITHOUT a TLS close_notify.

A client that honours the SSA contract must read all the data it was sent
and then get ECONNRESET (policy truncation = error) instead of a clean EOF.

Usage: truncating-server.py --cert CHAIN --key KEY --port PORT
                            [--host 127.0.0.1] [--data FILE] [--count N]

--data FILE   bytes to send after the handshake (default: a short text line)
--count N     serve N connections, then exit (default 1; 0 = forever)

Only the Python standard library is used.
"""

import argparse
import os
import socket
import ssl
import sys


def serve_one(listener, ctx, payload):
    conn, _ = listener.accept()
    try:
        # wrap_socket() takes the descriptor over from conn.
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        # A client that rejects our certificate is not our problem here.
        print(f"truncating-server: handshake failed: {e}", file=sys.stderr)
        conn.close()
        return
    try:
        tls.sendall(payload)
        # End the TCP stream without close_notify: a plain socket on a dup of
        # the same kernel socket lets us shutdown() underneath the TLS layer,
        # so the peer sees a FIN right after the last application-data record.
        plain = socket.socket(fileno=os.dup(tls.fileno()))
        with plain:
            plain.shutdown(socket.SHUT_WR)
            # Drain whatever the client still sends (its data, its own
            # close_notify) until it closes, so that our close does not turn
            # into a RST that could discard data the client has not read yet.
            plain.settimeout(30)
            try:
                while plain.recv(65536):
                    pass
            except OSError:
                pass
    except OSError as e:
        print(f"truncating-server: {e}", file=sys.stderr)
    finally:
        # close() frees the SSL object without SSL_shutdown: no alert is sent
        # (only unwrap() would send close_notify).
        tls.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--data")
    ap.add_argument("--count", type=int, default=1)
    args = ap.parse_args()

    if args.data:
        with open(args.data, "rb") as f:
            payload = f.read()
    else:
        payload = b"truncated-stream-payload\n"

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(16)

    served = 0
    while args.count == 0 or served < args.count:
        serve_one(listener, ctx, payload)
        served += 1
    listener.close()


if __name__ == "__main__":
    main()
