#!/usr/bin/env python3
"""A strict TLS client (CPython's ssl, no shim) for tests/server.bats: it
tells a close_notify from a bare TCP end, which gnutls-cli and openssl
s_client do not once their input is over.

The TLS runs over memory BIOs (ssl.SSLObject), so this program sees every
record and every TCP event itself.  An SSLObject never suppresses a ragged
end of file: a TCP FIN without close_notify raises ssl.SSLEOFError (what
suppress_ragged_eofs=False gives an SSLSocket), and the half-close is
possible: unwrap() sends our close_notify, and we can still read until the
peer's close_notify.

    strict-tls-client.py --port P [--host H] [--name N] --ca CA
                         [--tls 1.2|1.3] [--send TEXT | --send-random N]
                         [--no-wait-echo] [--end notify|fin|rst]
                         [--timeout SECONDS]

Sends the data, reads the same number of bytes back (an echo server)
unless --no-wait-echo, then ends the connection:

  notify  (default) send close_notify (unwrap()), read on until the peer's
          close_notify; prints what arrived after ours:
              after close_notify: <repr of the bytes>
              peer close_notify
  fin     end TCP with a FIN and no close_notify (truncation), then read
          the raw socket until the server ends it: "server ended: EOF|ERR"
  rst     abortive close (SO_LINGER 0): a RST, no close_notify

Every step prints a line: "connected version=TLSv1.x local=IP:PORT",
"echo equal N" or "echo DIFFERENT ...".  Exit status: 0 all as expected;
3 echo differs or
ends early; 4 the peer ended TCP without close_notify (ragged EOF);
5 the peer reset the connection; 6 timeout; 7 any other TLS or socket
error; after --timeout + 5 s, whatever it does, it prints its stack on
stderr and exits 1.

Also importable (importlib) for tests that drive several connections:
class StrictTLS.
"""
import argparse
import faulthandler
import os
import socket
import ssl
import struct
import sys
import time


class Timeout(Exception):
    pass


class PeerClosed(Exception):
    """The peer's close_notify came before the data we waited for."""


class StrictTLS:
    def __init__(self, host, port, name, ca, version=None, timeout=10.0):
        self.deadline = time.monotonic() + timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.local = "%s:%d" % self.sock.getsockname()[:2]
        ctx = ssl.create_default_context(cafile=ca)
        # Some Python builds (Debian's 3.11, for one) set this by default:
        # OpenSSL then takes a TCP end without close_notify for a clean one.
        ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if version == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        elif version == "1.3":
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname=name)
        self._retry(self.tls.do_handshake)
        self.version = self.tls.version()

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Timeout("deadline passed")
        return left

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.settimeout(self._left())
            self.sock.sendall(data)

    def _fill(self):
        """One read from the network into the incoming BIO; TCP end of
        file is passed on (write_eof), a reset raises."""
        self.sock.settimeout(self._left())
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout("no data from the server before the deadline")
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()

    def _retry(self, fn, *args):
        while True:
            try:
                result = fn(*args)
                self._flush()
                return result
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()

    def send(self, data):
        view = memoryview(data)
        while view:
            n = self._retry(self.tls.write, view)
            view = view[n:]

    def recv_exact(self, n):
        got = bytearray()
        while len(got) < n:
            chunk = self._retry(self.tls.read, n - len(got))
            if not chunk:   # the peer's close_notify
                raise PeerClosed(f"close_notify after {len(got)} of {n} bytes")
            got += chunk
        return bytes(got)

    def close_notify(self):
        """Send close_notify, then read until the peer's (SSLEOFError if
        the peer ends TCP without it).  Returns what arrived in between."""
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        self._flush()
        after = bytearray()
        while True:
            try:
                chunk = self._retry(self.tls.read, 65536)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                # Python reads b"" only for a close_notify that came
                # before ours; after ours it raises SSLZeroReturnError.
                raise ssl.SSLEOFError("read returned b'' after our close_notify")
            after += chunk
        self._retry(self.tls.unwrap)
        self.sock.close()
        return bytes(after)

    def fin(self):
        """End TCP without close_notify, then read until the server ends
        the connection: "EOF" or the errno name."""
        self._flush()
        self.sock.shutdown(socket.SHUT_WR)
        try:
            while True:
                self.sock.settimeout(self._left())
                try:
                    if not self.sock.recv(65536):
                        return "EOF"
                except socket.timeout:
                    raise Timeout("the server did not end the connection")
        except ConnectionResetError:
            return "ECONNRESET"
        finally:
            self.sock.close()

    def rst(self):
        self._flush()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def ragged_eof(e):
    """The peer ended TCP without close_notify: SSLEOFError, or (Python
    builds older than their OpenSSL 3) a plain SSLError with OpenSSL's
    reason."""
    return isinstance(e, ssl.SSLEOFError) or getattr(e, "reason", None) == "UNEXPECTED_EOF_WHILE_READING"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="localhost")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--tls", choices=("1.2", "1.3"))
    ap.add_argument("--send", default="hello from a strict client\n")
    ap.add_argument("--send-random", type=int, metavar="N")
    ap.add_argument("--no-wait-echo", action="store_true")
    ap.add_argument("--end", choices=("notify", "fin", "rst"), default="notify")
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()

    # A watchdog besides the deadline every socket operation has: a hang
    # anywhere shows where it is (on stderr) and ends the run.
    faulthandler.dump_traceback_later(a.timeout + 5, exit=True)
    data = os.urandom(a.send_random) if a.send_random is not None else a.send.encode()
    try:
        c = StrictTLS(a.host, a.port, a.name, a.ca, a.tls, a.timeout)
        print(f"connected version={c.version} local={c.local}", flush=True)
        c.send(data)
        print(f"sent {len(data)} bytes", flush=True)
        if not a.no_wait_echo:
            got = c.recv_exact(len(data))
            if got != data:
                print(f"echo DIFFERENT: {got[:80]!r}", flush=True)
                return 3
            print(f"echo equal {len(got)}", flush=True)
        if a.end == "notify":
            after = c.close_notify()
            print(f"after close_notify: {after!r}")
            print("peer close_notify")
        elif a.end == "fin":
            print("sent FIN without close_notify", flush=True)
            print(f"server ended: {c.fin()}")
        else:
            c.rst()
            print("sent RST")
        return 0
    except ssl.SSLError as e:
        if not ragged_eof(e):
            print(f"error: {type(e).__name__}: {e}")
            return 7
        print(f"peer ended TCP without close_notify: {e}")
        return 4
    except ConnectionResetError as e:
        print(f"peer reset the connection: {e}")
        return 5
    except Timeout as e:
        print(f"timeout: {e}")
        return 6
    except PeerClosed as e:
        print(f"peer closed early: {e}")
        return 3
    except OSError as e:
        print(f"error: {type(e).__name__}: {e}")
        return 7


if __name__ == "__main__":
    sys.exit(main())
