#!/usr/bin/env python3
"""A tiny HTTPS responder built on the SSA, for curl to talk to.

Run with LD_PRELOAD=libssa-shim.so.  It is plain Python sockets: an
IPPROTO_TLS socket, its chain and key as socket options, ALPN
"http/1.1", bind, listen, accept; the TLS is all the SSA's.

    ssa-https-responder.py CHAIN KEY

Prints "listening on PORT", then answers every request (until killed)
with a 200 whose body reports what the accepted socket says: the peer's
address, the SNI, the ALPN protocol, the TLS version and the request line.
"""
import socket
import sys

IPPROTO_TLS = 205
TLS_SNI, TLS_CERTIFICATE_CHAIN, TLS_PRIVATE_KEY, TLS_ALPN = 86, 88, 89, 90
TLS_ERROR, TLS_CHOSEN_VERSION = 100, 113


def tls_string(conn, option):
    return conn.getsockopt(IPPROTO_TLS, option, 1024).split(b"\0")[0].decode()


def serve(conn, peer):
    request = b""
    while b"\r\n\r\n" not in request and len(request) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return
        request += chunk
    request_line = request.split(b"\r\n")[0].decode()
    version = int.from_bytes(conn.getsockopt(IPPROTO_TLS, TLS_CHOSEN_VERSION, 4), "little")
    body = (f"peer={peer[0]}:{peer[1]}\n"
            f"sni={tls_string(conn, TLS_SNI)}\n"
            f"alpn={tls_string(conn, TLS_ALPN)}\n"
            f"version=1.{version}\n"
            f"request={request_line}\n").encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


def main():
    chain, key = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_TLS)
    s.setsockopt(IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, chain.encode() + b"\0")
    s.setsockopt(IPPROTO_TLS, TLS_PRIVATE_KEY, key.encode() + b"\0")
    s.setsockopt(IPPROTO_TLS, TLS_ALPN, b"http/1.1\0")
    s.bind(("127.0.0.1", 0))
    try:
        s.listen(16)
    except OSError as e:
        sys.exit(f"listen: {e}: {tls_string(s, TLS_ERROR)}")
    print("listening on", s.getsockname()[1], flush=True)
    while True:
        conn, peer = s.accept()
        with conn:
            serve(conn, peer)
        print("served", f"{peer[0]}:{peer[1]}", flush=True)


if __name__ == "__main__":
    main()
