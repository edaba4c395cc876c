#!/usr/bin/env bats
# The policy files (SPEC §4, ssa.ini(5)): every key changes what it should,
# [app] and [host] sections (wildcards included) apply where they should,
# the files are read in lexical order with later files overriding keys of
# the same section, only *.ini files count, and a broken file makes
# `ssa-helper --check-config` exit non-zero and every connection fail
# with ECANCELED, both with the same "file:line: [section] key ..." message.
#
# Both modes.  Each test sets its policy as an administrator does: it
# writes files into the policy directory the connections use
# ($SSA_POLICY_DIR: the installed $sysconfdir/ssa in units mode, read by
# the socket-activated helper and by the installed shim; SSA_CONFIG_DIR in
# standalone mode) with lib.bash's apply_policy, which also tells a
# service that loads the policy once to reload it.  That directory holds
# the shipped ssa.ini and the test policy (write_policy in lib.bash,
# test-pki.ini in tests/run-tests), and is put back as it was after each
# test.  `ssa-helper --check-config DIR` tests read their own directories.

load lib

setup_file()    { ssa_setup_file; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; }
teardown()      { ssa_teardown; }

# own_policy [LINE...]: LINEs added to the [defaults] of the test policy,
# for this test: a file read after the shipped ones (yy-own.ini), written
# again by each call.
own_policy() {
    apply_policy yy-own.ini "; tests/policy.bats: $BATS_TEST_DESCRIPTION" "[defaults]" "$@"
}

# check_config: `run` what an administrator runs after changing the policy
# (ssa-helper --check-config, no directory: the one connections use).
check_config() {
    run --separate-stderr "$SSA_HELPER" --check-config
}

run_probe() {
    run --separate-stderr timeout "$SSA_CLIENT_TIMEOUT" "$SSA_PROBE" "$@"
}

# pipe NAME [SSA-PIPE-ARGS...]: a line through the server at $SERVER_PORT
# with TLS_HOSTNAME NAME.
pipe() {
    local name=$1; shift
    printf 'policy\n' > "$D/in"
    PIPE_STDIN=$D/in run_pipe -i "$@" -n "$name" 127.0.0.1 "$SERVER_PORT"
}

pipe_ok() {
    pipe "$@"
    assert_status 0
    assert_output "policy"
}

# elapsed_ms T0: milliseconds since T0 (from now_ms).
elapsed_ms() {
    echo $(( $(now_ms) - $1 ))
}

# assert_between MS LOW HIGH WHAT: LOW <= MS <= HIGH (milliseconds).
assert_between() {
    [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] ||
        fail "$4 took $1 ms, expected between $2 and $3 ms (stderr: $stderr)"
}

# version: TLS1.x from ssa-pipe -i's line.
version() {
    grep -o ' version=[^ ]*' <<< " $(grep '^connected ' <<< "$stderr")" | cut -d= -f2
}

# tls_error: the TLS_ERROR text of the failure line (after "(strerror): ").
tls_error() {
    local line
    line=$(grep '^ssa-pipe: ' <<< "$stderr" | head -n 1)
    [[ $line =~ ^ssa-pipe:\ [^:]+:\ [A-Z0-9]+\ \([^\)]+\):\ (.*)$ ]] && echo "${BASH_REMATCH[1]}"
}

# assert_reason REGEX (case-insensitive) on the TLS_ERROR text.
assert_reason() {
    local r ok=0
    r=$(tls_error)
    shopt -s nocasematch
    [[ $r =~ $1 ]] && ok=1
    shopt -u nocasematch
    [ $ok -eq 1 ] || fail "TLS_ERROR does not match /$1/: '$r' (stderr: $stderr)"
}

TLS12_ONLY=(--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2')

# ===========================================================================
# Each key changes what it should
# ===========================================================================

@test "min-version = 1.3: a TLS 1.2-only server is refused (EPROTO), a TLS 1.3 one accepted" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem" "${TLS12_ONLY[@]}"
    pipe_ok localhost                           # the control: the test policy allows 1.2
    [ "$(version)" = TLS1.2 ] || fail "control: $stderr"
    own_policy "min-version = 1.3"
    pipe localhost
    assert_connect_failed EPROTO
    assert_output ""
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe_ok localhost
    [ "$(version)" = TLS1.3 ] || fail "expected TLS1.3: $stderr"
}

@test "max-version = 1.2: a TLS 1.3-capable server negotiates TLS1.2" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe_ok localhost                           # the control: 1.3 by default
    [ "$(version)" = TLS1.3 ] || fail "control: $stderr"
    own_policy "max-version = 1.2"
    pipe_ok localhost
    [ "$(version)" = TLS1.2 ] || fail "expected TLS1.2: $stderr"
}

@test "min-version above max-version: connect() -> ECANCELED naming both" {
    own_policy "min-version = 1.3" "max-version = 1.2"
    # ssa.ini(5) says --check-config does not detect this; if it does, it
    # must say what.
    check_config
    if [ "$status" -ne 0 ]; then
        [[ $stderr == *"min-version is above max-version"* ]] || fail "--check-config: $stderr"
    fi
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe localhost
    assert_connect_failed ECANCELED
    assert_reason 'min-version.*max-version'
}

@test "priority = NORMAL:-VERS-TLS1.3 (names versions): TLS1.2 is negotiated" {
    own_policy "priority = NORMAL:-VERS-TLS1.3"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe_ok localhost
    [ "$(version)" = TLS1.2 ] || fail "expected TLS1.2: $stderr"
}

@test "priority GnuTLS rejects: connect() -> ECANCELED" {
    own_policy "priority = NO-SUCH-PRIORITY-KEYWORD"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe localhost
    assert_connect_failed ECANCELED
    assert_reason 'priority'
}

@test "trust-store = another CA's file: the test chain is refused, that CA's chain accepted" {
    apply_policy zz-trust.ini "[defaults]" "trust-store = $PKI/untrusted-ca.pem"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe localhost
    assert_eproto 'issuer|signer|not trusted|unknown'
    start_gnutls_serv "$PKI/untrusted-chain.pem" "$PKI/untrusted-key.pem"
    pipe_ok localhost
}

@test "trust-store = a directory of PEM files works; a missing file -> ECANCELED" {
    # Where an administrator keeps them, readable by the service's user.
    local anchors=$SSA_POLICY_DIR/test-anchors
    mkdir -p "$anchors"
    cp "$PKI/untrusted-ca.pem" "$anchors/"
    chmod 755 "$anchors"; chmod 644 "$anchors"/*
    apply_policy zz-trust.ini "[defaults]" "trust-store = $anchors"
    start_gnutls_serv "$PKI/untrusted-chain.pem" "$PKI/untrusted-key.pem"
    pipe_ok localhost
    apply_policy zz-trust.ini "[defaults]" "trust-store = $anchors/no-such-file.pem"
    pipe localhost
    assert_connect_failed ECANCELED
    assert_reason 'trust-store|no-such-file'
}

@test "[app /path] allows what [defaults] forbids, for that program only (allow; ssa-probe --exe, root)" {
    [ "$(id -u)" -eq 0 ] || skip "ssa-probe --exe needs root"
    own_policy "allow = no"
    apply_policy zz-app.ini "[app /opt/ssa-test/allowed-program]" "allow = yes"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    run_probe --exe /opt/ssa-test/allowed-program "localhost:$SERVER_PORT"
    assert_status 0
    assert_line "policy     [defaults] [app /opt/ssa-test/allowed-program]"
    assert_line "verdict    accepted"
    run_probe "localhost:$SERVER_PORT"
    assert_status 1
    assert_line --regexp '^verdict    refused: EACCES .*allow = no'
    run_probe --exe /opt/ssa-test/other-program "localhost:$SERVER_PORT"
    assert_status 1
    assert_line --regexp '^verdict    refused: EACCES'
}

@test "[app /path] allows a version [defaults] forbids, for that program only (min-version)" {
    [ "$(id -u)" -eq 0 ] || skip "ssa-probe --exe needs root"
    own_policy "min-version = 1.3"
    apply_policy zz-app.ini "[app /opt/ssa-test/legacy-program]" "min-version = 1.2"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem" "${TLS12_ONLY[@]}"
    run_probe --exe /opt/ssa-test/legacy-program "localhost:$SERVER_PORT"
    assert_status 0
    assert_line "version    TLS 1.2"
    run_probe "localhost:$SERVER_PORT"
    assert_status 1
    assert_line --regexp '^verdict    refused: EPROTO'
}

@test "[app /path] matches the verified executable, never a path an unprivileged program claims (TLS_PROGRAM)" {
    [ "$(id -u)" -eq 0 ] || skip "needs root, to run the client as another user (setpriv)"
    own_policy "allow = no"
    apply_policy zz-app.ini "[app /opt/ssa-test/allowed-program]" "allow = yes"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    # A client that claims to be /opt/ssa-test/allowed-program (TLS_PROGRAM,
    # 122), then connects; where the unprivileged user can read it.
    local script=$SSA_T/claim-$BATS_TEST_NUMBER.py
    cat > "$script" <<'PY'
import errno, socket, sys
T = 205
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, T)
s.setsockopt(T, 85, b"localhost\0")
def reason():
    return s.getsockopt(T, 100, 512).split(b"\0")[0].decode()
try:
    s.setsockopt(T, 122, b"/opt/ssa-test/allowed-program\0")
    print("claim ok")
except OSError as e:
    print("claim", errno.errorcode[e.errno], reason())
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    print("connected")
except OSError as e:
    print("connect", errno.errorcode[e.errno], reason())
PY
    chmod 644 "$script"
    # The control: root's claim is believed (what ssa-probe --exe uses).
    run --separate-stderr env LD_PRELOAD="$SSA_SHIM" timeout "$SSA_CLIENT_TIMEOUT" "$PYTHON" "$script" "$SERVER_PORT"
    assert_line "claim ok"
    assert_line "connected"
    # Another user's claim is not: the option is refused, or the helper
    # takes the executable from the kernel and [defaults] forbids it.
    # A build tree under a private directory (a home of mode 0700) is out
    # of that user's reach: it gets copies of the shim and the helper.
    local shim=$SSA_SHIM helper=${SSA_HELPER_PATH:-}
    if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$shim"; then
        mkdir -p "$SSA_T/other-user" && chmod 755 "$SSA_T/other-user"
        cp "$shim" "$SSA_T/other-user/libssa-shim.so" && shim=$SSA_T/other-user/libssa-shim.so
        if [ -n "$helper" ]; then
            cp "$helper" "$SSA_T/other-user/ssa-helper" && helper=$SSA_T/other-user/ssa-helper
        fi
        chmod 755 "$SSA_T/other-user"/*
    fi
    run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups \
        env LD_PRELOAD="$shim" ${helper:+SSA_HELPER_PATH="$helper"} \
        timeout "$SSA_CLIENT_TIMEOUT" "$PYTHON" "$script" "$SERVER_PORT"
    [ "$status" -eq 0 ] || fail "the client failed (exit $status): $output $stderr"
    refute_line "connected"
    assert_line --regexp '^(claim EPERM|connect EACCES) '
}

@test "[app /path] naming the client's own executable applies to its connections; another program's does not" {
    # The section names the program the client runs (/proc/PID/exe).
    # (Standalone, $SSA_PIPE is libtool's wrapper script, which runs
    # .libs/ssa-pipe.)
    local exe=$SSA_BUILDDIR/tests/.libs/ssa-pipe
    [ -x "$exe" ] || exe=$SSA_PIPE
    exe=$(realpath "$exe")
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    apply_policy zz-app.ini "[app $exe]" "allow = no"
    pipe localhost
    assert_connect_failed EACCES
    assert_reason "allow = no.*\[app $exe\]"
    # Another program's section does not apply to it.
    apply_policy zz-app.ini "[app $exe.other]" "allow = no"
    pipe_ok localhost
}

@test "[host *.pin.localhost] pin = the leaf's pin: a.pin.localhost accepted" {
    local pin
    pin=$(pin_of "$PKI/pin-cert.pem")
    apply_policy zz-pin.ini "[host *.pin.localhost]" "pin = sha256/$pin"
    check_config
    assert_status 0
    [ "$(effective 'host *.pin.localhost' pin)" = "sha256/$pin" ] ||
        fail "--check-config does not show the pin sha256/$pin: $output"
    start_gnutls_serv "$PKI/pin-chain.pem" "$PKI/pin-key.pem"
    pipe_ok a.pin.localhost
}

@test "[host *.pin.localhost] with another key's pin: EPROTO, TLS_ERROR has the expected and the seen pin" {
    local pin wrong
    pin=$(pin_of "$PKI/pin-cert.pem")
    wrong=$(pin_of "$PKI/good-cert.pem")
    apply_policy zz-pin.ini "[host *.pin.localhost]" "pin = sha256/$wrong"
    start_gnutls_serv "$PKI/pin-chain.pem" "$PKI/pin-key.pem"
    pipe a.pin.localhost
    assert_eproto 'pin'
    local r
    r=$(tls_error)
    [[ $r == *"sha256/$wrong"* ]] || fail "the expected pin sha256/$wrong is not in: $r"
    [[ $r == *"seen sha256/$pin"* ]] || fail "the seen pin sha256/$pin is not in: $r"
    assert_output ""
}

@test "pins: one of several matches -> accepted; the wildcard does not cover other names" {
    local pin wrong
    pin=$(pin_of "$PKI/pin-cert.pem")
    wrong=$(pin_of "$PKI/good-cert.pem")
    apply_policy zz-pin.ini "[host *.pin.localhost]" "pin = sha256/$wrong sha256/$pin"
    start_gnutls_serv "$PKI/pin-chain.pem" "$PKI/pin-key.pem"
    pipe_ok a.pin.localhost
    # localhost's key is not pinned: [host *.pin.localhost] is not its section.
    apply_policy zz-pin.ini "[host *.pin.localhost]" "pin = sha256/$pin"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe_ok localhost
}

@test "pins: an exact [host a.pin.localhost] wins over [host *.pin.localhost]" {
    local pin wrong
    pin=$(pin_of "$PKI/pin-cert.pem")
    wrong=$(pin_of "$PKI/good-cert.pem")
    apply_policy zz-pin.ini "[host *.pin.localhost]" "pin = sha256/$pin" "" \
        "[host a.pin.localhost]" "pin = sha256/$wrong"
    start_gnutls_serv "$PKI/pin-chain.pem" "$PKI/pin-key.pem"
    pipe a.pin.localhost
    assert_eproto 'expected sha256/'
    # A pin is base64 ('+', '/'): compare it as a string, not as a regex.
    [[ $stderr == *"expected sha256/$wrong"* ]] || fail "the expected pin sha256/$wrong is not in: $stderr"
}

@test "allow = no in [defaults] -> EACCES naming the section" {
    own_policy "allow = no"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe localhost
    assert_connect_failed EACCES
    assert_reason 'allow = no.*\[defaults\]'
    assert_output ""
}

@test "allow = no: [host denied.localhost] and [host *.denied.localhost] -> EACCES" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    local name
    for name in denied.localhost x.denied.localhost a.b.denied.localhost X.Denied.LOCALHOST; do
        pipe "$name"
        assert_connect_failed EACCES
        assert_reason 'allow = no'
        assert_output ""
    done
    # The wildcard named:
    pipe x.denied.localhost
    assert_reason '\[host \*\.denied\.localhost\]'
}

@test "allow: the exact [host ok.denied.localhost] wins over the wildcard; xdenied.localhost is not under it" {
    # Both get past the policy to the handshake, where the localhost
    # certificate does not match their names: EPROTO, not EACCES.
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    local name
    for name in ok.denied.localhost xdenied.localhost; do
        pipe "$name"
        assert_eproto 'name|match'
    done
}

@test "[host] sections match the canonical name: upper case and a trailing dot do not escape [host denied.localhost]" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    local name
    for name in denied.localhost. DENIED.localhost. x.denied.localhost.; do
        pipe "$name"
        assert_connect_failed EACCES
        assert_reason 'allow = no'
        assert_output ""
    done
}

@test "[host 127.0.0.1] applies to a connection to that address, whatever name was given" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    apply_policy zz-addr.ini "[host 127.0.0.1]" "allow = no"
    pipe localhost
    assert_connect_failed EACCES
    assert_reason 'allow = no.*\[host 127\.0\.0\.1\]'
    # The control: the same name to another address of the server.
    if has_ipv6_loopback; then
        printf 'policy\n' > "$D/in"
        PIPE_STDIN=$D/in run_pipe -6 -n localhost ::1 "$SERVER_PORT"
        assert_status 0
        assert_output "policy"
    fi
}

@test "truncation = eof in [defaults]: a FIN without close_notify reads as EOF (error is the default)" {
    head -c 4096 "$SSA_T/text.txt" > "$D/payload"
    start_truncating_server "$PKI/good-chain.pem" "$PKI/good-key.pem" "$D/payload"
    pipe_to_file "$D/out1" "$D/err1" /dev/null -n localhost 127.0.0.1 "$SERVER_PORT"
    [ "$status" -eq 3 ] || fail "control (truncation = error): expected exit 3, got $status: $(cat "$D/err1")"
    grep -q 'read: ECONNRESET' "$D/err1" || fail "no ECONNRESET: $(cat "$D/err1")"
    own_policy "truncation = eof"
    start_truncating_server "$PKI/good-chain.pem" "$PKI/good-key.pem" "$D/payload"
    pipe_to_file "$D/out2" "$D/err2" /dev/null -n localhost 127.0.0.1 "$SERVER_PORT"
    [ "$status" -eq 0 ] || fail "expected exit 0, got $status: $(cat "$D/err2")"
    assert_same_file "$D/payload" "$D/out2"
}

# The timeouts are measured in milliseconds around the whole client run
# (process start, helper start and TCP connect included): never less than
# the timeout, and less than 1 s more (so that, say, a 1 s timeout that
# fires only on a second tick, after 2 s, fails).

@test "handshake-timeout = 3 (the test policy): a silent server -> ETIMEDOUT after 3 s" {
    start_test_server silent "$PKI/good-chain.pem" "$PKI/good-key.pem"
    local t0 dt
    t0=$(now_ms)
    pipe localhost
    dt=$(elapsed_ms "$t0")
    assert_connect_failed ETIMEDOUT
    assert_reason 'handshake.*3 s'
    assert_between "$dt" 3000 4000 "handshake-timeout = 3"
}

@test "handshake-timeout = 1: a silent server -> ETIMEDOUT after 1 s" {
    apply_policy zz-timeout.ini "[defaults]" "handshake-timeout = 1"
    start_test_server silent "$PKI/good-chain.pem" "$PKI/good-key.pem"
    local t0 dt
    t0=$(now_ms)
    pipe localhost
    dt=$(elapsed_ms "$t0")
    assert_connect_failed ETIMEDOUT
    assert_reason 'handshake.*1 s'
    assert_between "$dt" 1000 1900 "handshake-timeout = 1"
}

@test "connect-timeout = 1: a TCP connect that hangs (full accept queue) -> ETIMEDOUT after 1 s" {
    own_policy "connect-timeout = 1"
    # A listener with a backlog of 0 that never accepts: one connection in
    # its accept queue fills it (the blocking connect below returns once it
    # is there), and Linux then drops further SYNs.
    "$PYTHON" -c '
import signal, socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
fill = socket.create_connection(s.getsockname(), timeout=5)
print(s.getsockname()[1], flush=True)
signal.pause()' > "$D/listener.port" 2> "$D/listener.log" 3>&- &
    register_pid $!
    wait_size "$D/listener.port" 1 10 || fail "no listener: $(cat "$D/listener.log")"
    SERVER_PORT=$(cat "$D/listener.port")
    # The queue really is full: a plain connect does not complete.
    if timeout 5 "$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1', $SERVER_PORT), timeout=1)" 2>/dev/null; then
        skip "the kernel completes connects to a full accept queue here"
    fi
    local t0 dt
    t0=$(now_ms)
    pipe localhost
    dt=$(elapsed_ms "$t0")
    assert_connect_failed ETIMEDOUT
    assert_between "$dt" 1000 1900 "connect-timeout = 1"
}

# ===========================================================================
# Lexical order, merging, which files count
# ===========================================================================

# effective SECTION KEY: the value of KEY in SECTION of --check-config's
# effective policy ($output).  What counts is the value, not the layout:
# a section starts at a line "[SECTION]" and ends at the next "[...]"
# line; KEY's line is "KEY = VALUE" or "KEY: VALUE", spaces optional;
# comments (# or ;) and anything else are skipped.
effective() {
    local section=$1 key=$2 line in=0
    local re_header='^[[:space:]]*\[(.*)\][[:space:]]*$'
    local re_key="^[[:space:]]*$key[[:space:]]*[=:][[:space:]]*(.*[^[:space:]])[[:space:]]*\$"
    while IFS= read -r line; do
        [[ $line =~ ^[[:space:]]*[#\;] ]] && continue
        if [[ $line =~ $re_header ]]; then
            [ "${BASH_REMATCH[1]}" = "$section" ] && in=1 || in=0
            continue
        fi
        if [ $in -eq 1 ] && [[ $line =~ $re_key ]]; then
            printf '%s\n' "${BASH_REMATCH[1]}"
            return 0
        fi
    done <<< "$output"
}

@test "lexical order: a later file overrides a key of the same section and keeps the others (--check-config DIR)" {
    mkdir -p "$D/lex"
    printf '[defaults]\nhandshake-timeout = 5\ntruncation = eof\nconnect-timeout = 7\n[host x.test]\nallow = no\n' > "$D/lex/10-a.ini"
    printf '[defaults]\nhandshake-timeout = 6\n[host x.test]\ntruncation = eof\n' > "$D/lex/20-b.ini"
    # Byte order: "9-c.ini" sorts after "20-b.ini" (and "10-a.ini").
    printf '[defaults]\nhandshake-timeout = 8\n' > "$D/lex/9-c.ini"
    run --separate-stderr "$SSA_HELPER" --check-config "$D/lex"
    assert_status 0
    [ "$(effective defaults handshake-timeout)" = 8 ] || fail "handshake-timeout: $output"
    [ "$(effective defaults truncation)" = eof ] || fail "truncation: $output"
    [ "$(effective defaults connect-timeout)" = 7 ] || fail "connect-timeout: $output"
    # A section in two files: the keys of both.
    [ "$(effective 'host x.test' allow)" = no ] || fail "[host x.test] allow: $output"
    [ "$(effective 'host x.test' truncation)" = eof ] || fail "[host x.test] truncation: $output"
    # Untouched keys keep the compiled-in defaults, never zero values.
    [ "$(effective defaults min-version)" = 1.2 ] || fail "min-version: $output"
    [ "$(effective defaults max-version)" = 1.3 ] || fail "max-version: $output"
    [ "$(effective defaults ocsp-stapling)" = verify ] || fail "ocsp-stapling: $output"
}

@test "a key given twice in a section keeps the last value (--check-config DIR)" {
    mkdir -p "$D/twice"
    printf '[defaults]\nconnect-timeout = 4\nconnect-timeout = 9\n' > "$D/twice/a.ini"
    run --separate-stderr "$SSA_HELPER" --check-config "$D/twice"
    assert_status 0
    [ "$(effective defaults connect-timeout)" = 9 ] || fail "$output"
}

@test "lexical order at connect(): allow = no then yes -> accepted; yes then no -> EACCES" {
    apply_policy zz-1.ini "[defaults]" "allow = no"
    apply_policy zz-2.ini "[defaults]" "allow = yes"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe_ok localhost
    apply_policy zz-1.ini "[defaults]" "allow = yes"
    apply_policy zz-2.ini "[defaults]" "allow = no"
    pipe localhost
    assert_connect_failed EACCES
    # "10" sorts before "9": 9-*.ini is read last.
    apply_policy --remove zz-1.ini zz-2.ini
    apply_policy zz-9.ini "[defaults]" "allow = yes"
    apply_policy zz-10.ini "[defaults]" "allow = no"
    pipe_ok localhost
}

# non_ini_files DIR: broken content in files that are not policy files.
non_ini_files() {
    local dir=$1
    local junk='this is not [valid ini at all'
    mkdir -p "$dir/sub.ini" "$dir/conf.d"
    local f
    for f in zz.ini.bak zz.ini~ zz.conf zz.INI ZZ.Ini README .hidden.ini sub.ini/x.ini conf.d/y.ini; do
        printf '%s\n[defaults]\nallow = no\nno-such-key = 1\n' "$junk" > "$dir/$f"
    done
    chmod -R a+rX "$dir"
}

@test "files not ending in .ini, dot files and subdirectories are ignored (--check-config DIR)" {
    mkdir -p "$D/only"
    printf '[defaults]\nconnect-timeout = 4\n' > "$D/only/a.ini"
    non_ini_files "$D/only"
    run --separate-stderr "$SSA_HELPER" --check-config "$D/only"
    assert_status 0
    [ -z "$stderr" ] || fail "stderr: $stderr"
    [ "$(effective defaults connect-timeout)" = 4 ] || fail "$output"
    [ "$(effective defaults allow)" = yes ] || fail "$output"
}

@test "files not ending in .ini are ignored at connect() too" {
    non_ini_files "$SSA_POLICY_DIR"
    apply_policy
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe_ok localhost
}

@test "--check-config without a directory checks the policy connections use, with its effective values" {
    check_config
    assert_status 0
    # The test policy (write_policy, test-pki.ini) as a user relies on it.
    [ "$(effective defaults trust-store)" = "$PKI/ca.pem" ] || fail "[defaults] trust-store: $output"
    [ "$(effective defaults handshake-timeout)" = 3 ] || fail "[defaults] handshake-timeout: $output"
    [ "$(effective defaults min-version)" = 1.2 ] || fail "[defaults] min-version: $output"
    [ "$(effective 'host require-staple.localhost' ocsp-stapling)" = require ] || fail "[host require-staple.localhost]: $output"
    [ "$(effective 'host *.denied.localhost' allow)" = no ] || fail "[host *.denied.localhost]: $output"
    [ "$(effective 'host ok.denied.localhost' allow)" = yes ] || fail "[host ok.denied.localhost]: $output"
    [ "$(effective 'host ::1' truncation)" = eof ] || fail "[host ::1]: $output"
    [ "$(effective 'app /opt/ssa-test/denied-program' allow)" = no ] || fail "[app /opt/ssa-test/denied-program]: $output"
    # A change is seen at once, merged over the rest.
    apply_policy zz-check.ini "[defaults]" "connect-timeout = 7" "" "[host x.test]" "truncation = eof"
    check_config
    assert_status 0
    [ "$(effective defaults connect-timeout)" = 7 ] || fail "[defaults] connect-timeout: $output"
    [ "$(effective defaults handshake-timeout)" = 3 ] || fail "[defaults] handshake-timeout: $output"
    [ "$(effective 'host x.test' truncation)" = eof ] || fail "[host x.test] truncation: $output"
}

@test "a test's policy does not outlive it (1/2): this test denies everything and leaves files behind" {
    own_policy "allow = no"
    apply_policy zz-leftover.ini "[defaults]" "allow = no"
    mkdir -p "$SSA_POLICY_DIR/leftover.d"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe localhost
    assert_connect_failed EACCES
}

@test "a test's policy does not outlive it (2/2): the next test has the shipped policy back" {
    [ ! -e "$SSA_POLICY_DIR/yy-own.ini" ] || fail "yy-own.ini is still there"
    [ ! -e "$SSA_POLICY_DIR/zz-leftover.ini" ] || fail "zz-leftover.ini is still there"
    [ ! -e "$SSA_POLICY_DIR/leftover.d" ] || fail "leftover.d is still there"
    diff -r "$SSA_POLICY_SHIPPED" "$SSA_POLICY_DIR" || fail "the policy directory differs from the shipped one"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe_ok localhost
}

# ===========================================================================
# Broken files: --check-config DIR, and --check-config and connect() with
# the file installed
# ===========================================================================

# broken LINE KEY REGEX CONTENT-LINE...: $D/bad = the test policy plus
# 50-bad.ini (read first) whose line LINE is wrong; KEY is the key the
# message must name ("" for none), REGEX what it must say after
# "FILE:LINE: ".  Line 1 is always a comment.
broken() {
    BAD_LINE=$1 BAD_KEY=$2 BAD_REGEX=$3; shift 3
    write_policy "$D/bad"
    BAD_FILE=$D/bad/50-bad.ini
    printf '%s\n' "; a broken policy file (tests/policy.bats)" "$@" > "$BAD_FILE"
    chmod 644 "$BAD_FILE"
}

# assert_message TEXT: TEXT is "FILE:LINE: <REGEX>" naming the key.
assert_message() {
    local text=$1 prefix="$BAD_FILE:$BAD_LINE: "
    [[ $text == "$prefix"* ]] || fail "message does not start with '$prefix': $text"
    local rest=${text#"$prefix"}
    [[ $rest =~ $BAD_REGEX ]] || fail "message does not match /$BAD_REGEX/: $text"
    if [ -n "$BAD_KEY" ]; then
        [[ $rest == *"$BAD_KEY"* ]] || fail "message does not name the key '$BAD_KEY': $text"
    fi
}

# check_config_fails: `ssa-helper --check-config $D/bad` exits non-zero
# and its first line is the expected message.
check_config_fails() {
    run --separate-stderr "$SSA_HELPER" --check-config "$D/bad"
    [ "$status" -ne 0 ] || fail "--check-config exited 0 on a broken policy: $output"
    assert_message "$(head -n 1 <<< "$stderr")"
}

# connect_cancelled: the broken file, installed in the policy directory
# the connections use, makes `ssa-helper --check-config` fail with the
# expected message naming that file, and a connection to a working server
# fail with ECANCELED, TLS_ERROR carrying the same message (SPEC §4: "the
# same messages").  The message's content is checked last, so that a wrong
# message does not hide whether the connection itself behaves.
connect_cancelled() {
    apply_policy --copy "$BAD_FILE"
    BAD_FILE=$SSA_POLICY_DIR/${BAD_FILE##*/}
    check_config
    [ "$status" -ne 0 ] || fail "--check-config exited 0 on a broken policy: $output"
    local msg
    msg=$(head -n 1 <<< "$stderr")
    [ -n "$msg" ] || fail "--check-config failed without a message"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    pipe localhost
    assert_connect_failed ECANCELED
    assert_output ""
    local r
    r=$(tls_error)
    [[ $r == *"$msg"* ]] ||
        fail "TLS_ERROR does not carry --check-config's message
TLS_ERROR: '$r'
message:   '$msg'"
    assert_message "$msg"
}

# The cases.
bad_syntax()        { broken 3 "" 'syntax error' "[defaults]" "this line has no equals sign" "allow = yes"; }
bad_header()        { broken 2 "" 'syntax error' "[defaults" "allow = yes"; }
bad_unknown_key()   { broken 3 min-versoin "^\[defaults\] unknown key 'min-versoin'" "[defaults]" "min-versoin = 1.3"; }
bad_unknown_section() { broken 3 allow "unknown section \[server\]" "[server]" "allow = yes"; }
bad_app_relative()  { broken 3 allow "unknown section \[app usr/bin/prog\]" "[app usr/bin/prog]" "allow = no"; }
bad_wildcard()      { broken 3 allow "\[host a\.\*\.test\].*wildcard" "[host a.*.test]" "allow = no"; }
bad_value() {       # LINE-3 KEY VALUE EXPECTED-REGEX [SECTION]
    local key=$1 value=$2 expected=$3 section=${4:-defaults}
    local re_section re_value
    re_section=$(sed 's/[][\.*^$/]/\\&/g' <<< "$section")
    re_value=$(sed 's/[][\.*^$/+]/\\&/g' <<< "$value")
    broken 3 "$key" "^\[$re_section\] key '$key': bad value '$re_value' \(expected $expected" \
        "[$section]" "$key = $value"
}
VERSIONS='1\.0, 1\.1, 1\.2 or 1\.3'
SECONDS_RE='whole seconds'

@test "broken: syntax error (a line without =): --check-config names file and line" { bad_syntax; check_config_fails; }
@test "broken: syntax error: connect() -> ECANCELED, the same message" { bad_syntax; connect_cancelled; }
@test "broken: unterminated section header: --check-config" { bad_header; check_config_fails; }
@test "broken: unterminated section header: connect() -> ECANCELED" { bad_header; connect_cancelled; }
@test "broken: unknown key: --check-config names file, line, section and key" { bad_unknown_key; check_config_fails; }
@test "broken: unknown key: connect() -> ECANCELED, the same message" { bad_unknown_key; connect_cancelled; }
@test "broken: unknown section: --check-config names file, line, section and key" { bad_unknown_section; check_config_fails; }
@test "broken: unknown section: connect() -> ECANCELED, the same message" { bad_unknown_section; connect_cancelled; }
@test "broken: [app relative/path]: --check-config" { bad_app_relative; check_config_fails; }
@test "broken: [host a.*.test] (misplaced wildcard): --check-config" { bad_wildcard; check_config_fails; }
@test "broken: [host a.*.test]: connect() -> ECANCELED" { bad_wildcard; connect_cancelled; }

@test "bad value: min-version = 1.4: --check-config" { bad_value min-version 1.4 "$VERSIONS"; check_config_fails; }
@test "bad value: min-version = 1.4: connect() -> ECANCELED" { bad_value min-version 1.4 "$VERSIONS"; connect_cancelled; }
@test "bad value: max-version = 3: --check-config" { bad_value max-version 3 "$VERSIONS"; check_config_fails; }
@test "bad value: max-version = 3: connect() -> ECANCELED" { bad_value max-version 3 "$VERSIONS"; connect_cancelled; }
@test "bad value: handshake-timeout = 0: --check-config" { bad_value handshake-timeout 0 "$SECONDS_RE"; check_config_fails; }
@test "bad value: handshake-timeout = 0: connect() -> ECANCELED" { bad_value handshake-timeout 0 "$SECONDS_RE"; connect_cancelled; }
@test "bad value: handshake-timeout = 1.5: --check-config" { bad_value handshake-timeout 1.5 "$SECONDS_RE"; check_config_fails; }
@test "bad value: connect-timeout = 3601: --check-config" { bad_value connect-timeout 3601 "$SECONDS_RE"; check_config_fails; }
@test "bad value: connect-timeout = -5: --check-config" { bad_value connect-timeout -5 "$SECONDS_RE"; check_config_fails; }
@test "bad value: connect-timeout = ten: --check-config" { bad_value connect-timeout ten "$SECONDS_RE"; check_config_fails; }
@test "bad value: connect-timeout = ten: connect() -> ECANCELED" { bad_value connect-timeout ten "$SECONDS_RE"; connect_cancelled; }
@test "bad value: ocsp-stapling = always: --check-config" { bad_value ocsp-stapling always "ignore, verify or require"; check_config_fails; }
@test "bad value: ocsp-stapling = always: connect() -> ECANCELED" { bad_value ocsp-stapling always "ignore, verify or require"; connect_cancelled; }
@test "bad value: app-trust-store = merge: --check-config" { bad_value app-trust-store merge "add, replace or deny"; check_config_fails; }
@test "bad value: app-trust-store = merge: connect() -> ECANCELED" { bad_value app-trust-store merge "add, replace or deny"; connect_cancelled; }
@test "bad value: truncation = ignore: --check-config" { bad_value truncation ignore "error or eof"; check_config_fails; }
@test "bad value: truncation = ignore: connect() -> ECANCELED" { bad_value truncation ignore "error or eof"; connect_cancelled; }
@test "bad value: allow = maybe: --check-config" { bad_value allow maybe "yes or no"; check_config_fails; }
@test "bad value: allow = maybe: connect() -> ECANCELED" { bad_value allow maybe "yes or no"; connect_cancelled; }
@test "bad value: allow = Yes (values are case-sensitive): --check-config" { bad_value allow Yes "yes or no"; check_config_fails; }
@test "bad value: session-resumption = on: --check-config" { bad_value session-resumption on "yes or no"; check_config_fails; }
@test "bad value: session-resumption = on: connect() -> ECANCELED" { bad_value session-resumption on "yes or no"; connect_cancelled; }
@test "bad value: trust-store = relative/ca.pem: --check-config" { bad_value trust-store relative/ca.pem "system, or the absolute path"; check_config_fails; }
@test "bad value: trust-store = relative/ca.pem: connect() -> ECANCELED" { bad_value trust-store relative/ca.pem "system, or the absolute path"; connect_cancelled; }
@test "bad value: pin = sha256/tooShort in [host]: --check-config" { bad_value pin sha256/tooShort "space-separated sha256" "host x.test"; check_config_fails; }
@test "bad value: pin = sha256/tooShort in [host]: connect() -> ECANCELED" { bad_value pin sha256/tooShort "space-separated sha256" "host x.test"; connect_cancelled; }
@test "bad value: pin = md5/<44 characters> in [host]: --check-config" {
    bad_value pin "md5/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" "space-separated sha256" "host x.test"
    check_config_fails
}
@test "bad value: pin with 44 characters that are not base64: --check-config" {
    bad_value pin "sha256/47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=" "space-separated sha256" "host x.test"
    check_config_fails
}
@test "broken: pin in [defaults] (outside [host]): --check-config" {
    broken 3 pin "^\[defaults\] key 'pin': .*\[host" "[defaults]" "pin = sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    check_config_fails
}
@test "broken: pin in [defaults]: connect() -> ECANCELED" {
    broken 3 pin "^\[defaults\] key 'pin': .*\[host" "[defaults]" "pin = sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    connect_cancelled
}
@test "broken: pin in [app /path]: --check-config" {
    broken 3 pin "^\[app /usr/bin/prog\] key 'pin': .*\[host" "[app /usr/bin/prog]" "pin = sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    check_config_fails
}
@test "bad value: an empty priority: --check-config" { broken 3 priority "^\[defaults\] key 'priority': bad value ''" "[defaults]" "priority ="; check_config_fails; }

@test "broken: a syntax error then a bad value: the line reported is the line of the message" {
    broken 3 "" 'syntax error' "[defaults]" "this is garbage" "allow = yes" "min-version = 9"
    check_config_fails
}

@test "broken: only the first error is reported, and a later good file does not hide it" {
    broken 3 min-version "key 'min-version': bad value '9'" "[defaults]" "min-version = 9" "max-version = 8"
    check_config_fails
    [ "$(wc -l <<< "$stderr")" -eq 1 ] || fail "more than one message: $stderr"
}

@test "broken: a bad file read after good ones is still reported (zz-bad.ini)" {
    write_policy "$D/bad"
    printf '[defaults]\nallow = yes\n[defaults]\nhandshake-timeout = forever\n' > "$D/bad/zz-bad.ini"
    BAD_FILE=$D/bad/zz-bad.ini BAD_LINE=4 BAD_KEY=handshake-timeout BAD_REGEX="bad value 'forever'"
    check_config_fails
}

@test "--check-config warns about [host] sections that can never match, and not about good ones" {
    apply_policy zz-never.ini "[host 10.1.1]" "allow = no" "[host *.10.0.0.1]" "allow = no" \
        "[host example.com:443]" "allow = no" "[host a..localhost]" "allow = no" \
        "[host Good.Localhost.]" "allow = no" "[host 192.0.2.7]" "allow = no" "[host 2001:DB8::7]" "allow = no"
    check_config
    assert_status 0
    local warned
    warned=$(grep -o 'warning: \[host [^]]*\] can never match' <<< "$stderr" | sort)
    assert_equal "$warned" "warning: [host *.10.0.0.1] can never match
warning: [host 10.1.1] can never match
warning: [host a..localhost] can never match
warning: [host example.com:443] can never match"
    # The canonical names are what the effective policy shows.
    assert_output --partial "[host good.localhost]"
    assert_output --partial "[host 2001:db8::7]"
}
