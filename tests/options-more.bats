#!/usr/bin/env bats
# The cipher, session and revocation options of SPEC §2 (91, 92, 97,
# 102-110), driven from Python through LD_PRELOAD against gnutls-serv, in
# both modes.  Each prints "NAME VALUE" or "NAME ERRNO reason" lines.

load lib

setup_file()    { ssa_setup_file; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; }
teardown()      { ssa_teardown; }

# run_options PORT: the script below, under the shim.
run_options() {
    cat > "$D/options.py" <<'PY'
import errno, socket, struct, sys
T = 205
port = int(sys.argv[1])

def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, T)
    s.setsockopt(T, 85, b"localhost\0")
    return s

def ename(e):
    # Python names 95 ENOTSUP, its other name on Linux; the SPEC says EOPNOTSUPP.
    return "EOPNOTSUPP" if e == errno.EOPNOTSUPP else errno.errorcode[e]

def reason(s):
    return s.getsockopt(T, 100, 512).split(b"\0")[0].decode()

def text(s, opt):
    return s.getsockopt(T, opt, 1024).split(b"\0")[0].decode()

def num(s, opt):
    return struct.unpack("i", s.getsockopt(T, opt, 4))[0]

def try_set(label, s, opt, value):
    try:
        s.setsockopt(T, opt, value)
        print(label, "ok")
    except OSError as e:
        print(label, ename(e.errno), reason(s))

# TLS_DISABLE_CIPHER (92): the suite is not chosen; TLS_TRUSTED_CIPHERS (97)
# lists what was offered.
s = sock()
s.setsockopt(T, 92, b"TLS_AES_256_GCM_SHA384\0")
s.connect(("127.0.0.1", port))
print("chosen", text(s, 98))
print("offered-aes256", "TLS_AES_256_GCM_SHA384" in text(s, 97).split("\n"))
print("offered-aes128", "TLS_AES_128_GCM_SHA256" in text(s, 97).split("\n"))
print("resumed", num(s, 109))
s.close()

# Disable, then enable again: the last word counts.
s = sock()
s.setsockopt(T, 92, b"TLS_AES_256_GCM_SHA384\0")
s.setsockopt(T, 110, b"TLS_AES_256_GCM_SHA384\0")
s.connect(("127.0.0.1", port))
print("reenabled", text(s, 98))
s.close()

# Unknown suite: EINVAL at connect, with the name.
s = sock()
s.setsockopt(T, 92, b"TLS_NO_SUCH_SUITE\0")
try:
    s.connect(("127.0.0.1", port))
    print("unknown ok")
except OSError as e:
    print("unknown", ename(e.errno), reason(s))

# Before connect: connection results are ENOTCONN, settings readable.
s = sock()
for label, opt in (("trusted-before", 97), ("resumed-before", 109)):
    try:
        s.getsockopt(T, opt, 1024)
        print(label, "ok")
    except OSError as e:
        print(label, ename(e.errno))
s.setsockopt(T, 91, struct.pack("i", 300))
print("ttl", num(s, 91))
s.setsockopt(T, 107, struct.pack("Q", 42))
print("context", struct.unpack("Q", s.getsockopt(T, 107, 8))[0])
print("reuse-default", num(s, 108), "revocation-default", num(s, 102), "stapled-default", num(s, 103))
try_set("revocation-off", s, 102, struct.pack("i", 0))
try_set("stapled-off", s, 103, struct.pack("i", 0))
try_set("stapled-on", s, 103, struct.pack("i", 1))
try_set("ocsp-online", s, 104, struct.pack("i", 1))
try_set("crl", s, 105, struct.pack("i", 1))
try_set("crl-off", s, 105, struct.pack("i", 0))
try_set("reuse-off", s, 108, struct.pack("i", 0))
try_set("resumed-set", s, 109, struct.pack("i", 1))
try_set("bad-flag", s, 108, struct.pack("i", 2))
# The limit of the request (SSA_CIPHERS_MAX = 16 suites) is the shim's too:
# the 17th TLS_DISABLE_CIPHER is refused at setsockopt(), not at connect().
c = sock()
for i in range(16):
    c.setsockopt(T, 92, b"TLS_FAKE_SUITE_%d\0" % i)
try_set("cipher-17", c, 92, b"TLS_FAKE_SUITE_16\0")
c.close()
s.connect(("127.0.0.1", port))
try_set("after-connect", s, 92, b"TLS_AES_128_GCM_SHA256\0")
PY
    run --separate-stderr env LD_PRELOAD="$SSA_SHIM" timeout "$SSA_CLIENT_TIMEOUT" "$PYTHON" "$D/options.py" "$1"
}

@test "cipher, session and revocation options behave as SPEC §2 says" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    run_options "$SERVER_PORT"
    [ "$status" -eq 0 ] || fail "exit $status: $output $stderr"
    refute_line "chosen TLS_AES_256_GCM_SHA384"
    assert_line --regexp '^chosen TLS_'
    assert_line "offered-aes256 False"
    assert_line "offered-aes128 True"
    assert_line "resumed 0"
    assert_line "reenabled TLS_AES_256_GCM_SHA384"
    assert_line --regexp '^unknown EINVAL .*TLS_NO_SUCH_SUITE'
    assert_line "trusted-before ENOTCONN"
    assert_line "resumed-before ENOTCONN"
    assert_line "ttl 300"
    assert_line "context 42"
    assert_line "reuse-default 1 revocation-default 1 stapled-default 1"
    assert_line --regexp '^revocation-off EPERM .*ocsp-stapling = verify'
    assert_line --regexp '^stapled-off EPERM '
    assert_line "stapled-on ok"
    assert_line --regexp '^ocsp-online EOPNOTSUPP .*not available'
    assert_line --regexp '^crl EOPNOTSUPP '
    assert_line "crl-off ok"
    assert_line "reuse-off ok"
    assert_line --regexp '^resumed-set EOPNOTSUPP '
    assert_line --regexp '^bad-flag EINVAL '
    assert_line --regexp '^cipher-17 EINVAL .*at most 16'
    assert_line --regexp '^after-connect EOPNOTSUPP '
}
