#!/usr/bin/env python3
# tls-sequence.py STEP...: one process, several IPPROTO_TLS connections in
# a row, through the shim (LD_PRELOAD): what resumption needs, since the
# shim keeps resumption data in the process's memory (SPEC §2).
#
# A STEP is comma-separated key=value pairs:
#   host=ADDR,port=N,name=NAME   connect to ADDR:N with TLS_HOSTNAME NAME;
#       ctx=N       TLS_CONTEXT (uint64)
#       reuse=0|1   TLS_SESSION_REUSE
#       ttl=S       TLS_SESSION_TTL, seconds
#       vmax=V      TLS_VERSION_MAX (0..3 = TLS 1.0..1.3)
#     then send "line N", read one line back, close.
#   wait=FILE    wait (at most 30 s) until FILE exists, then remove it:
#                the test changes something meanwhile
#   sleep=S      sleep S seconds
#
# Prints one line per connection, numbered from 1:
#   N ok resumed=0|1 version=1.V reply=LINE
#   N failed errno=NAME reason=TLS_ERROR
# Exit status 0 (the lines carry the outcome), 2 for a malformed STEP.
import errno, os, socket, struct, sys, time

IPPROTO_TLS = 205
TLS_HOSTNAME, TLS_SESSION_TTL, TLS_ERROR = 85, 91, 100
TLS_CONTEXT, TLS_SESSION_REUSE, TLS_RESUMED_SESSION = 107, 108, 109
TLS_VERSION_MAX, TLS_CHOSEN_VERSION = 112, 113


def connect(n, opts):
    family = socket.AF_INET6 if ":" in opts["host"] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM, IPPROTO_TLS)
    s.setsockopt(IPPROTO_TLS, TLS_HOSTNAME, opts["name"].encode() + b"\0")
    if "ctx" in opts:
        s.setsockopt(IPPROTO_TLS, TLS_CONTEXT, struct.pack("=Q", int(opts["ctx"])))
    if "reuse" in opts:
        s.setsockopt(IPPROTO_TLS, TLS_SESSION_REUSE, int(opts["reuse"]))
    if "ttl" in opts:
        s.setsockopt(IPPROTO_TLS, TLS_SESSION_TTL, int(opts["ttl"]))
    if "vmax" in opts:
        s.setsockopt(IPPROTO_TLS, TLS_VERSION_MAX, int(opts["vmax"]))
    try:
        s.connect((opts["host"], int(opts["port"])))
    except OSError as e:
        reason = s.getsockopt(IPPROTO_TLS, TLS_ERROR, 512).split(b"\0")[0]
        print(f"{n} failed errno={errno.errorcode.get(e.errno, e.errno)} reason={reason.decode(errors='replace')}",
              flush=True)
        s.close()
        return
    resumed = s.getsockopt(IPPROTO_TLS, TLS_RESUMED_SESSION)
    version = s.getsockopt(IPPROTO_TLS, TLS_CHOSEN_VERSION)
    s.sendall(f"line {n}\n".encode())
    reply = b""
    s.settimeout(20)
    while not reply.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    s.close()
    print(f"{n} ok resumed={resumed} version=1.{version} reply={reply.decode(errors='replace').strip()}",
          flush=True)


def main():
    n = 0
    for step in sys.argv[1:]:
        opts = dict(kv.split("=", 1) for kv in step.split(","))
        if "wait" in opts:
            deadline = time.monotonic() + 30
            while not os.path.exists(opts["wait"]) and time.monotonic() < deadline:
                time.sleep(0.02)
            if os.path.exists(opts["wait"]):
                os.unlink(opts["wait"])
        elif "sleep" in opts:
            time.sleep(float(opts["sleep"]))
        elif {"host", "port", "name"} <= opts.keys():
            n += 1
            connect(n, opts)
        else:
            print(f"malformed step: {step}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
