#!/usr/bin/env python3
"""A multi-purpose TLS test server for the SSA tests (conformance program,
asyncio client).

Usage: tls-test-server.py --mode MODE --cert CHAIN --key KEY
                          [--host 127.0.0.1] [--delay SECONDS] [--report FILE]
                          [--second-port]

It binds an ephemeral port (port 0), prints "PORT <n>" as its first line on
stdout once it listens, then serves every connection in its own thread until
it is killed.  With --second-port it also listens on a second ephemeral
port, with the same TLS context (the same session cache and ticket key,
so a session made on one port resumes on the other), and prints
"PORT2 <n>" next.  TLS 1.2 and 1.3 only.  Nothing else is written to stdout;
diagnostics go to stderr.

Modes:
  echo      handshake; echo every byte received; on the client's close_notify
            (or EOF) send "END <bytes received>\\n", then close with
            close_notify.
  delay     like echo, but sleep --delay seconds after the TCP accept, before
            the handshake.
  silent    accept TCP and never send anything; keep the connection until the
            client goes away.
  reset     accept TCP and close at once with a RST (SO_LINGER {1, 0}),
            before any TLS.
  info      handshake; send "peer <ip> <port>\\n" (the client's address as
            this server sees it), then behave as echo.
  sink      handshake; read until close_notify/EOF; append
            "<bytes> <sha256hex>\\n" to --report FILE (flushed, fsynced);
            close with close_notify.
  noread    handshake; never read; hold the connection until the client resets
            or fully closes it (a mere FIN from the client is not enough:
            closing with its unread data would send a RST).
  truncate  handshake; send --payload FILE (default "partial\\n" 1000 times); then end the TCP
            connection WITHOUT close_notify (a FIN, not a RST).

Only the Python standard library is used.
"""

import argparse
import hashlib
import os
import select
import socket
import ssl
import struct
import sys
import threading
import time

MODES = ("echo", "delay", "silent", "reset", "info", "sink", "noread",
         "truncate")

# Serialises the appends to the --report file.
report_lock = threading.Lock()


def log(msg):
    print(f"tls-test-server[{ARGS.mode}]: {msg}", file=sys.stderr, flush=True)


def handshake(conn, ctx):
    """Wrap conn (taking its descriptor over); None if the handshake fails
    (a client that rejects our certificate is an expected case)."""
    try:
        return ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        log(f"handshake failed: {e}")
        conn.close()
        return None


def close_notify(tls):
    """Send our close_notify and close; tolerate a peer that is gone."""
    try:
        tls.unwrap().close()
    except (ssl.SSLError, OSError, ValueError):
        pass
    try:
        tls.close()
    except OSError:
        pass


def wait_gone(sock):
    """Block, without reading, until the peer has gone away.

    A FIN from the peer (POLLRDHUP) only means it will send no more: it may
    still read, and closing now, with its unread records in our receive
    buffer, would send a RST.  So after a FIN keep holding the connection
    until it is reset or fully closed (POLLHUP/POLLERR), or the server is
    killed."""
    p = select.poll()
    p.register(sock.fileno(), select.POLLRDHUP)
    while True:
        for _, ev in p.poll():
            if ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                return
            if ev & select.POLLRDHUP:
                # Level-triggered: from now on wait for HUP/ERR only
                # (always reported, whatever the event mask).
                p.modify(sock.fileno(), 0)


def recv_all(tls, each=None):
    """Read until close_notify or EOF (or an error); call each(chunk) for
    every chunk.  Returns the number of bytes received."""
    total = 0
    while True:
        try:
            chunk = tls.recv(65536)
        except (ssl.SSLError, OSError) as e:
            # An EOF without close_notify may be raised rather than read as
            # b"" depending on the OpenSSL version; a reset is an error too.
            log(f"recv: {e}")
            return total
        if not chunk:
            return total
        total += len(chunk)
        if each is not None:
            each(chunk)


def serve_echo(tls, greeting=b""):
    try:
        if greeting:
            tls.sendall(greeting)
        total = recv_all(tls, tls.sendall)
        tls.sendall(f"END {total}\n".encode())
    except (ssl.SSLError, OSError) as e:
        log(f"echo: {e}")
    close_notify(tls)


def serve_sink(tls):
    h = hashlib.sha256()
    total = recv_all(tls, h.update)
    line = f"{total} {h.hexdigest()}\n"
    if ARGS.report:
        with report_lock:
            with open(ARGS.report, "a") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
    else:
        log(f"sink (no --report): {line.strip()}")
    close_notify(tls)


def serve_truncate(tls):
    try:
        if ARGS.payload:
            with open(ARGS.payload, "rb") as f:
                tls.sendall(f.read())
        else:
            tls.sendall(b"partial\n" * 1000)
        # End the TCP stream without close_notify: a plain socket on a dup of
        # the same kernel socket lets us shutdown() underneath the TLS layer,
        # so the peer sees a FIN right after the last application-data
        # record.
        plain = socket.socket(fileno=os.dup(tls.fileno()))
        with plain:
            plain.shutdown(socket.SHUT_WR)
            # Drain whatever the client still sends until it closes, so that
            # our close does not become a RST that could discard data the
            # client has not read yet.
            plain.settimeout(60)
            try:
                while plain.recv(65536):
                    pass
            except OSError:
                pass
    except (ssl.SSLError, OSError) as e:
        log(f"truncate: {e}")
    finally:
        # close() frees the SSL object without SSL_shutdown: no alert.
        tls.close()


def serve(conn, addr, ctx):
    mode = ARGS.mode
    try:
        if mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
            conn.close()
            return
        if mode == "silent":
            # Never send; read and drop whatever arrives (the ClientHello)
            # until the client goes away.
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass
            conn.close()
            return
        if mode == "delay":
            time.sleep(ARGS.delay)
        tls = handshake(conn, ctx)
        if tls is None:
            return
        if mode in ("echo", "delay"):
            serve_echo(tls)
        elif mode == "info":
            serve_echo(tls, f"peer {addr[0]} {addr[1]}\n".encode())
        elif mode == "sink":
            serve_sink(tls)
        elif mode == "noread":
            wait_gone(tls)
            tls.close()
        elif mode == "truncate":
            serve_truncate(tls)
    except Exception as e:  # keep serving the other connections
        log(f"connection from {addr}: {type(e).__name__}: {e}")
        try:
            conn.close()
        except OSError:
            pass


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True, choices=MODES)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--report")
    ap.add_argument("--payload", help="truncate: send this file instead of 'partial' lines")
    ap.add_argument("--second-port", action="store_true")
    ARGS = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(ARGS.cert, ARGS.key)

    family = socket.AF_INET6 if ":" in ARGS.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((ARGS.host, 0))
    listener.listen(128)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    if ARGS.second_port:
        second = socket.socket(family, socket.SOCK_STREAM)
        second.bind((ARGS.host, 0))
        second.listen(128)
        print(f"PORT2 {second.getsockname()[1]}", flush=True)
        threading.Thread(target=accept_loop, args=(second, ctx), daemon=True).start()
    accept_loop(listener, ctx)


def accept_loop(listener, ctx):
    while True:
        try:
            conn, addr = listener.accept()
        except InterruptedError:
            continue
        except OSError as e:
            log(f"accept: {e}")
            time.sleep(0.05)
            continue
        threading.Thread(target=serve, args=(conn, addr, ctx),
                         daemon=True).start()


if __name__ == "__main__":
    main()
