#!/usr/bin/env python3
"""A multi-purpose TLS test server for the SSA tests (conformance program,
asyncio client).

Usage: tls-test-server.py --mode MODE --cert CHAIN --key KEY
                          [--host 127.0.0.1] [--delay SECONDS] [--report FILE]
                          [--second-port] [--payload FILE] [--go FILE]

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
  trickle   a real TLS server (its first flight made by CPython's ssl from
            the client's ClientHello) that sends that flight one byte every
            --delay seconds, never faster, until the client goes away; then
            appends "trickle SENT TOTAL HOW MS\\n" to --report FILE: SENT of
            the TOTAL bytes of its flight were sent, the client ended the
            connection by HOW (eof or reset) MS milliseconds after the TCP
            accept.
  reset-hello
            read the ClientHello, send only the first record of the answer
            (the ServerHello), wait --delay seconds (the client takes it in),
            then close with a RST: mid-handshake, after a ServerHello.
  reset-data
            handshake; send --payload FILE (default "partial\\n" 1000
            times); wait until the client's kernel acknowledged all of it
            (SIOCOUTQ 0), then close with a RST, no close_notify.
  sink-later
            handshake; read nothing until the file --go FILE exists (the
            client's writes fill the buffers and block meanwhile), then
            behave as sink.

Only the Python standard library is used.
"""

import argparse
import fcntl
import hashlib
import os
import select
import socket
import ssl
import struct
import sys
import termios
import threading
import time

MODES = ("echo", "delay", "silent", "reset", "info", "sink", "noread",
         "truncate", "trickle", "reset-hello", "reset-data", "sink-later")

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


def report(line):
    """Append one line to --report FILE (flushed, fsynced), or log it."""
    if ARGS.report:
        with report_lock:
            with open(ARGS.report, "a") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
    else:
        log(f"(no --report): {line}")


def rst(conn):
    """Close with a RST (SO_LINGER {1, 0})."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def first_flight(conn, ctx):
    """Read the client's ClientHello from the plain TCP socket conn into a
    server-side SSLObject (memory BIOs) and return the bytes it answers
    with (ServerHello ... as one blob), or b"" if the client went away
    first."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
    while True:
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        out = outgoing.read()
        if out:
            return out
        data = conn.recv(65536)
        if not data:
            return b""
        incoming.write(data)


def client_gone(conn, timeout):
    """Wait up to timeout seconds for the client to end the connection
    (reading and dropping what it sends): "eof", "reset", or None."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([conn], [], [], left)
        if not r:
            return None
        try:
            if conn.recv(65536) == b"":
                return "eof"
        except ConnectionResetError:
            return "reset"
        except OSError as e:
            return type(e).__name__


def serve_trickle(conn, t0):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    flight = first_flight(conn, CTX)
    sent, how = 0, None
    for b in flight:
        # One byte, then --delay seconds in which the client may leave.
        try:
            conn.send(bytes([b]))
            sent += 1
        except OSError as e:
            how = "reset" if isinstance(e, ConnectionResetError) else type(e).__name__
            break
        how = client_gone(conn, ARGS.delay)
        if how:
            break
    if how is None:
        how = client_gone(conn, 120) or "timeout"
    ms = round((time.monotonic() - t0) * 1000)
    report(f"trickle {sent} {len(flight)} {how} {ms}")
    conn.close()


def serve_reset_hello(conn):
    flight = first_flight(conn, CTX)
    if len(flight) < 5:
        log("the client went away before our ServerHello")
        conn.close()
        return
    # The first record: 5-byte header (type, version, length), then body.
    first = flight[:5 + struct.unpack("!H", flight[3:5])[0]]
    conn.sendall(first)
    time.sleep(ARGS.delay)
    report(f"reset-hello sent {len(first)} of {len(flight)}")
    rst(conn)


def outq(sock):
    """Bytes in sock's send queue not yet acknowledged by the peer."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def serve_reset_data(tls):
    if ARGS.payload:
        with open(ARGS.payload, "rb") as f:
            data = f.read()
    else:
        data = b"partial\n" * 1000
    tls.sendall(data)
    # All of it acknowledged: a RST now cannot discard any of it.
    end = time.monotonic() + 10
    while outq(tls) > 0 and time.monotonic() < end:
        time.sleep(0.01)
    report(f"reset-data sent {len(data)} unacked {outq(tls)}")
    plain = socket.socket(fileno=os.dup(tls.fileno()))
    rst(plain)
    tls.close()


def serve_sink_later(tls):
    end = time.monotonic() + 120
    while not os.path.exists(ARGS.go) and time.monotonic() < end:
        time.sleep(0.05)
    serve_sink(tls)


def serve(conn, addr, ctx):
    mode = ARGS.mode
    t0 = time.monotonic()
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
        if mode == "trickle":
            serve_trickle(conn, t0)
            return
        if mode == "reset-hello":
            serve_reset_hello(conn)
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
        elif mode == "reset-data":
            serve_reset_data(tls)
        elif mode == "sink-later":
            serve_sink_later(tls)
    except Exception as e:  # keep serving the other connections
        log(f"connection from {addr}: {type(e).__name__}: {e}")
        try:
            conn.close()
        except OSError:
            pass


def main():
    global ARGS, CTX
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True, choices=MODES)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--report")
    ap.add_argument("--payload", help="truncate: send this file instead of 'partial' lines")
    ap.add_argument("--second-port", action="store_true")
    ap.add_argument("--go", help="sink-later: start reading once this file exists")
    ARGS = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(ARGS.cert, ARGS.key)
    CTX = ctx

    family = socket.AF_INET6 if ":" in ARGS.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((ARGS.host, 0))
    # Room for a burst of connections (the kernel caps it at somaxconn):
    # with a short accept queue (gnutls-serv's is 10) the kernel drops
    # SYNs, and a burst measures their retransmission back-off instead.
    listener.listen(4096)
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
