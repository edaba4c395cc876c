#!/usr/bin/env python3
"""A server application built on the SSA that says exactly what its
accepted sockets read, for tests/server.bats.

Run with LD_PRELOAD=libssa-shim.so.  Plain Python sockets: an IPPROTO_TLS
socket, TLS_CERTIFICATE_CHAIN and TLS_PRIVATE_KEY as file paths, bind,
listen, accept; every accepted descriptor carries plaintext and is served
in its own thread.

    ssa-app-server.py CHAIN KEY [--no-echo] [--close-on LINE]

Prints "listening on PORT" once it listens, then for every connection
(PEER is the client's address as accept() gives it, "IP:PORT"):

    accepted PEER version=1.N sni=NAME
    recv PEER: EOF after N bytes             read() returned 0 (close_notify)
    recv PEER: ERRNAME after N bytes         read() failed (ECONNRESET, ...)
    sent PEER: END N                         after EOF, "END N\\n" was written
                                             (the other direction still works)
    send PEER: ERRNAME after N bytes         a write failed
    closing PEER after N bytes               the line LINE came (--close-on):
                                             the application closes first
    closed PEER

N counts the bytes read.  By default every byte read is written back, and
at end of file "END N\\n" is written before close().  --no-echo: never write
(so that a read error is never consumed by a write first).
"""
import argparse
import errno
import socket
import sys
import threading

IPPROTO_TLS = 205
TLS_SNI, TLS_CERTIFICATE_CHAIN, TLS_PRIVATE_KEY = 86, 88, 89
TLS_ERROR, TLS_CHOSEN_VERSION = 100, 113

out_lock = threading.Lock()


def say(line):
    with out_lock:
        print(line, flush=True)


def errname(e):
    return errno.errorcode.get(e.errno, f"errno {e.errno}") if e.errno else type(e).__name__


def tls_string(sock, option):
    try:
        return sock.getsockopt(IPPROTO_TLS, option, 1024).split(b"\0")[0].decode() or "-"
    except OSError:
        return "-"


def serve(conn, peer, args):
    total = 0
    line = b""
    try:
        version = int.from_bytes(conn.getsockopt(IPPROTO_TLS, TLS_CHOSEN_VERSION, 4), "little")
        say(f"accepted {peer} version=1.{version} sni={tls_string(conn, TLS_SNI)}")
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError as e:
                say(f"recv {peer}: {errname(e)} after {total} bytes")
                return
            if not chunk:
                say(f"recv {peer}: EOF after {total} bytes")
                if not args.no_echo:
                    try:
                        conn.sendall(f"END {total}\n".encode())
                        say(f"sent {peer}: END {total}")
                    except OSError as e:
                        say(f"send {peer}: {errname(e)} after {total} bytes")
                return
            total += len(chunk)
            if not args.no_echo:
                try:
                    conn.sendall(chunk)
                except OSError as e:
                    say(f"send {peer}: {errname(e)} after {total} bytes")
                    return
            if args.close_on is not None:
                line += chunk
                lines = line.split(b"\n")
                line = lines.pop()
                if args.close_on.encode() in lines:
                    say(f"closing {peer} after {total} bytes")
                    return
    finally:
        conn.close()
        say(f"closed {peer}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chain")
    ap.add_argument("key")
    ap.add_argument("--no-echo", action="store_true")
    ap.add_argument("--close-on", metavar="LINE")
    args = ap.parse_args()

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_TLS)
    s.setsockopt(IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, args.chain.encode() + b"\0")
    s.setsockopt(IPPROTO_TLS, TLS_PRIVATE_KEY, args.key.encode() + b"\0")
    s.bind(("127.0.0.1", 0))
    try:
        s.listen(64)
    except OSError as e:
        sys.exit(f"listen: {e}: {tls_string(s, TLS_ERROR)}")
    say(f"listening on {s.getsockname()[1]}")
    while True:
        conn, addr = s.accept()
        threading.Thread(target=serve, args=(conn, f"{addr[0]}:{addr[1]}", args),
                         daemon=True).start()


if __name__ == "__main__":
    main()
