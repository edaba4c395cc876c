# tests/lib.bash -- helpers shared by the SSA end-to-end tests (bats-core).
#
# Every .bats file does:
#
#   load lib
#   setup_file()    { ssa_setup_file; }
#   teardown_file() { ssa_teardown_file; }
#   setup()         { ssa_setup; }
#   teardown()      { ssa_teardown; }
#
# Modes (environment SSA_TEST_MODE):
#
#   standalone (default)  binaries from the build tree ($SSA_BUILDDIR);
#                         SSA_HELPER_SOCKET names a socket that does not
#                         exist, so the shim spawns $SSA_HELPER_PATH itself;
#                         the policy is a temp dir (SSA_CONFIG_DIR): the
#                         shipped etc/ssa.ini plus a test.ini trusting the
#                         test PKI.
#   units                 inside the nspawn container (tests/container/):
#                         the installed shim from /usr/local, the helper
#                         started by systemd through ssa-helper.socket at the
#                         default /run/ssa/helper.sock, the installed policy
#                         ($sysconfdir/ssa: /etc/ssa or /usr/local/etc/ssa,
#                         named by SSA_TEST_POLICY_DIR), which must trust the
#                         PKI in $SSA_TEST_PKI (the driver, tests/run-tests,
#                         generates both; the directory is writable in the
#                         container).
#
# In both modes SSA_POLICY_DIR is the policy directory the connections of
# the tests use (and the one `ssa-helper --check-config` checks without an
# argument).  A test changes it as an administrator changes /etc/ssa:
# apply_policy writes (or removes) files there and makes the service see
# them; after each test (ssa_teardown) the directory is put back as shipped
# (restore_policy), whatever the test did to it.
#
# Other environment: SSA_BUILDDIR, SSA_SRCDIR (default: the tree this file
# is in), SSA_TEST_KEEP=1 keeps the temp dir for post-mortems.

bats_require_minimum_version 1.5.0
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

SSA_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${SSA_SRCDIR:=$(dirname "$SSA_TESTS_DIR")}"
: "${SSA_BUILDDIR:=$SSA_SRCDIR}"
: "${SSA_TEST_MODE:=standalone}"
export SSA_SRCDIR SSA_BUILDDIR SSA_TEST_MODE

# Test programs live in the build tree in both modes (they are not
# installed); what differs is where the shim, helper and policy come from.
case $SSA_TEST_MODE in
    standalone)
        # libtool wrappers: they run the programs with the build tree's shim.
        SSA_PIPE=$SSA_BUILDDIR/tests/ssa-pipe
        SSA_GET=$SSA_BUILDDIR/examples/ssa-get
        SSA_SHIM=$SSA_BUILDDIR/shim/.libs/libssa-shim.so
        SSA_HELPER=$SSA_BUILDDIR/helper/ssa-helper
        SSA_PROBE=$SSA_BUILDDIR/probe/ssa-probe
        ;;
    units)
        # The programs themselves (not libtool's wrappers, which would put
        # the build tree's shim first), linked at run time against the
        # installed shim: LD_LIBRARY_PATH is set in ssa_setup_file (the
        # container's /etc has no ld.so.conf naming /usr/local/lib).
        SSA_PIPE=$SSA_BUILDDIR/tests/.libs/ssa-pipe
        SSA_GET=$SSA_BUILDDIR/examples/.libs/ssa-get
        [ -x "$SSA_PIPE" ] || SSA_PIPE=$SSA_BUILDDIR/tests/ssa-pipe
        [ -x "$SSA_GET" ] || SSA_GET=$SSA_BUILDDIR/examples/ssa-get
        SSA_SHIM=/usr/local/lib/libssa-shim.so
        SSA_HELPER=/usr/local/libexec/ssa/ssa-helper
        SSA_PROBE=/usr/local/bin/ssa-probe      # installed, as an administrator runs it
        ;;
    *)
        echo "lib.bash: unknown SSA_TEST_MODE '$SSA_TEST_MODE'" >&2
        return 1
        ;;
esac

# The system Python (not a version manager's shim script, which would run
# a shell under LD_PRELOAD first).
PYTHON=$(command -v /usr/bin/python3 || command -v python3)

# Size of the bulk transfers.
MIB=1048576

# Upper bound for any single client run, so a hang fails instead of
# blocking the suite.
: "${SSA_CLIENT_TIMEOUT:=60}"

# ---------------------------------------------------------------------------
# File-level setup: temp dir, PKI, policy, test data, mode.
# ---------------------------------------------------------------------------

ssa_setup_file() {
    local f
    for f in "$SSA_PIPE" "$SSA_SHIM" "$SSA_HELPER"; do
        [ -e "$f" ] || { echo "missing $f (build first: make)" >&2; return 1; }
    done

    # World-readable temp dir under /tmp: in units mode the helper runs as
    # another user.
    SSA_T=$(mktemp -d /tmp/ssa-test.XXXXXX)
    chmod 755 "$SSA_T"
    export SSA_T

    # The PKI: generated here, except in units mode where the installed
    # policy (read-only) already trusts a PKI the driver generated.
    if [ "$SSA_TEST_MODE" = units ]; then
        if [ ! -f "${SSA_TEST_PKI:-/nonexistent}/ca.pem" ]; then
            echo "units mode needs SSA_TEST_PKI: the PKI the installed policy trusts" >&2
            return 1
        fi
        PKI=$SSA_TEST_PKI
    else
        PKI=$SSA_T/pki
        "$SSA_TESTS_DIR/pki.sh" "$PKI"
    fi
    export PKI

    # Bulk test data, made once per file.
    #   a.bin, b.bin  1 MiB of random bytes (binary-safe peers: openssl)
    #   text.txt      1 MiB of base64 lines (line-oriented gnutls-serv --echo,
    #                 which works on NUL-terminated lines): 16384 lines of
    #                 63 characters + newline
    head -c "$MIB" /dev/urandom > "$SSA_T/a.bin"
    head -c "$MIB" /dev/urandom > "$SSA_T/b.bin"
    head -c 774144 /dev/urandom | base64 -w 63 > "$SSA_T/text.txt"
    [ "$(stat -c %s "$SSA_T/text.txt")" -eq "$MIB" ] || {
        echo "text.txt has the wrong size" >&2; return 1; }

    case $SSA_TEST_MODE in
        standalone)
            export SSA_CONFIG_DIR=$SSA_T/etc-ssa
            write_policy "$SSA_CONFIG_DIR"
            # A socket path that does not exist: standalone mode.
            export SSA_HELPER_SOCKET=$SSA_T/no-such-dir/helper.sock
            export SSA_HELPER_PATH=$SSA_HELPER
            export SSA_POLICY_DIR=$SSA_CONFIG_DIR
            SSA_POLICY_SHIPPED=$SSA_T/policy.shipped
            cp -a "$SSA_POLICY_DIR" "$SSA_POLICY_SHIPPED"
            export SSA_POLICY_SHIPPED
            ;;
        units)
            unset SSA_HELPER_SOCKET SSA_HELPER_PATH SSA_CONFIG_DIR
            export LD_LIBRARY_PATH=/usr/local/lib
            ldd "$SSA_PIPE" | grep -q '=> /usr/local/lib/libssa-shim\.so' || {
                ldd "$SSA_PIPE" >&2
                echo "$SSA_PIPE does not use the installed shim" >&2
                return 1
            }
            # Exactly what an administrator does.
            systemctl enable --now ssa-helper.socket >&2
            systemctl is-active --quiet ssa-helper.socket || {
                systemctl status ssa-helper.socket >&2
                echo "ssa-helper.socket is not active" >&2
                return 1
            }
            [ -S /run/ssa/helper.sock ] || {
                echo "/run/ssa/helper.sock is not a socket" >&2; return 1; }
            _units_policy_setup || return 1
            ;;
    esac
}

# _units_policy_setup: SSA_POLICY_DIR = the installed policy directory
# (SSA_TEST_POLICY_DIR from the driver, else whichever of the two possible
# ones holds the driver's test-pki.ini), and its shipped state, saved once
# per container boot in /run (by the first test file; a later file puts it
# back first, in case an earlier one died half-way through a test).
_units_policy_setup() {
    local d=${SSA_TEST_POLICY_DIR:-}
    if [ -z "$d" ]; then
        for d in /etc/ssa /usr/local/etc/ssa ""; do
            [ -n "$d" ] && [ -f "$d/test-pki.ini" ] && break
        done
    fi
    if [ -z "$d" ] || [ ! -d "$d" ]; then
        echo "units mode: no installed policy directory (SSA_TEST_POLICY_DIR='${SSA_TEST_POLICY_DIR:-}')" >&2
        return 1
    fi
    export SSA_POLICY_DIR=$d
    export SSA_POLICY_SHIPPED=/run/ssa-tests/policy.shipped
    if [ -d "$SSA_POLICY_SHIPPED" ]; then
        restore_policy || return 1
    else
        mkdir -p /run/ssa-tests
        cp -a "$SSA_POLICY_DIR" "$SSA_POLICY_SHIPPED"
    fi
    # The directory must be writable here (nspawn-run binds a copy).
    local probe=$SSA_POLICY_DIR/.ssa-test-writable
    if ! : > "$probe" 2>/dev/null; then
        echo "units mode: the installed policy directory $SSA_POLICY_DIR is not writable" >&2
        return 1
    fi
    rm -f "$probe"
}

ssa_teardown_file() {
    restore_policy
    if [ -n "${SSA_T:-}" ] && [ -z "${SSA_TEST_KEEP:-}" ]; then
        rm -rf "$SSA_T"
    fi
}

# ---------------------------------------------------------------------------
# The policy a test runs under ($SSA_POLICY_DIR, see the top of this file).
# ---------------------------------------------------------------------------

# apply_policy [NAME [LINE...]]: write LINEs (one a line) as NAME in the
# policy directory, replacing any file of that name (written beside it and
# renamed, so that nobody reads half a file), then make the service use the
# directory as it now is.  Without NAME: only the latter, after a test
# changed the directory itself.
#   apply_policy --copy FILE [NAME]  install FILE (as NAME, default its name)
#   apply_policy --remove NAME...    remove files from the directory
# Standalone, and in units mode while the service starts one helper per
# connection, every helper reads the files when it starts, so writing them
# is all it takes.  A service that loads the policy once (SPEC §5's
# supervisor) is told with `systemctl reload` when it runs and its unit says
# it can reload (CanReload); not running, it reads the files when it starts.
apply_policy() {
    [ -n "${SSA_POLICY_DIR:-}" ] && [ -d "$SSA_POLICY_DIR" ] ||
        { echo "apply_policy: no policy directory (SSA_POLICY_DIR)" >&2; return 1; }
    local tmp
    case ${1:-} in
        --copy)
            local src=$2 name=${3:-$(basename "$2")}
            tmp=$SSA_POLICY_DIR/.$name.tmp
            cp "$src" "$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$SSA_POLICY_DIR/$name" || return 1
            ;;
        --remove)
            shift
            local name
            for name in "$@"; do rm -rf -- "${SSA_POLICY_DIR:?}/$name"; done
            ;;
        "") ;;
        *)
            local name=$1; shift
            tmp=$SSA_POLICY_DIR/.$name.tmp
            printf '%s\n' "$@" > "$tmp" && chmod 644 "$tmp" &&
                mv -f "$tmp" "$SSA_POLICY_DIR/$name" || return 1
            ;;
    esac
    _policy_reload
}

# _policy_reload: see apply_policy.
_policy_reload() {
    [ "$SSA_TEST_MODE" = units ] || return 0
    local unit=ssa-helper.service state
    [ "$(systemctl show -P CanReload "$unit" 2>/dev/null)" = yes ] || return 0
    state=$(systemctl show -P ActiveState "$unit" 2>/dev/null)
    case $state in
        active|reloading|activating) ;;
        *) return 0 ;;     # not running: it reads the files when it starts
    esac
    systemctl reload "$unit" && return 0
    # It may have exited (idle) in between: then the next start reads them.
    state=$(systemctl show -P ActiveState "$unit" 2>/dev/null)
    case $state in
        active|reloading|activating)
            echo "apply_policy: systemctl reload $unit failed ($state)" >&2
            return 1 ;;
    esac
    return 0
}

# policy_changed: the policy directory differs from its shipped state.
policy_changed() {
    [ -n "${SSA_POLICY_SHIPPED:-}" ] && [ -d "$SSA_POLICY_SHIPPED" ] || return 1
    ! diff -r --no-dereference -q "$SSA_POLICY_SHIPPED" "$SSA_POLICY_DIR" > /dev/null 2>&1
}

# restore_policy: put the policy directory back as shipped (the test
# policy of this mode), if a test changed it, and apply that.
restore_policy() {
    policy_changed || return 0
    local dir=$SSA_POLICY_DIR f
    case $dir in /|"") echo "restore_policy: bad SSA_POLICY_DIR '$dir'" >&2; return 1 ;; esac
    shopt -s nullglob dotglob
    # What the test added or changed goes, what it removed or changed
    # comes back; the shipped files it did not touch stay as they are.
    for f in "$dir"/*; do
        diff -r --no-dereference -q "$SSA_POLICY_SHIPPED/${f##*/}" "$f" > /dev/null 2>&1 ||
            rm -rf -- "$f"
    done
    for f in "$SSA_POLICY_SHIPPED"/*; do
        [ -e "$dir/${f##*/}" ] || [ -L "$dir/${f##*/}" ] || cp -a "$f" "$dir/" || {
            shopt -u nullglob dotglob; return 1; }
    done
    shopt -u nullglob dotglob
    policy_changed && { echo "restore_policy: $dir still differs from $SSA_POLICY_SHIPPED" >&2; return 1; }
    _policy_reload
}

# write_policy DIR [EXTRA-LINE...]: a policy dir whose [defaults] trusts
# only the test root CA; extra "key = value" lines go into [defaults] too.
# If the source tree ships etc/ssa.ini (every key commented), it is copied
# first, so that the shipped file is parsed by every test run as well.
# The same policy as tests/run-tests writes for units mode (keep the two in
# step): handshake-timeout = 3 (a stalled handshake gives ETIMEDOUT
# quickly), [host denied.localhost] with allow = no (EACCES), and
# [host ::1] with truncation = eof (the certificate names ::1 too, so a
# connection to any server with TLS_HOSTNAME ::1 takes that section),
# [host replace.localhost] with app-trust-store = replace and
# [host deny.localhost] with app-trust-store = deny (tests/options.bats),
# [host require-staple.localhost] with ocsp-stapling = require
# (tests/ocsp.bats), [host *.denied.localhost] with allow = no and
# [host ok.denied.localhost] with allow = yes (tests/policy.bats: a
# wildcard, and an exact name that wins over it).
write_policy() {
    local dir=$1; shift
    mkdir -p "$dir"
    chmod 755 "$dir"
    if [ -f "$SSA_SRCDIR/etc/ssa.ini" ]; then
        cp "$SSA_SRCDIR/etc/ssa.ini" "$dir/ssa.ini"
    fi
    {
        echo "# written by tests/lib.bash"
        echo "[defaults]"
        echo "trust-store = $PKI/ca.pem"
        echo "handshake-timeout = 3"
        printf '%s\n' "$@"
        echo
        echo "[host denied.localhost]"
        echo "allow = no"
        echo
        echo "[host ::1]"
        echo "truncation = eof"
        echo
        echo "[app /opt/ssa-test/denied-program]"
        echo "allow = no"
        echo
        echo "[host replace.localhost]"
        echo "app-trust-store = replace"
        echo
        echo "[host deny.localhost]"
        echo "app-trust-store = deny"
        echo
        echo "[host require-staple.localhost]"
        echo "ocsp-stapling = require"
        echo
        echo "[host *.denied.localhost]"
        echo "allow = no"
        echo
        echo "[host ok.denied.localhost]"
        echo "allow = yes"
    } > "$dir/test.ini"
    chmod 644 "$dir"/*.ini
}

# ---------------------------------------------------------------------------
# Per-test setup: background processes are registered and killed by pid.
# ---------------------------------------------------------------------------

ssa_setup() {
    D=$BATS_TEST_TMPDIR
    : > "$D/pids"
}

ssa_teardown() {
    local pid
    [ -f "$D/pids" ] || return 0
    while read -r pid; do
        kill "$pid" 2>/dev/null || true
    done < "$D/pids"
    # Reap, with a bound: anything still there after 2 s gets SIGKILL.
    local i
    for i in $(seq 40); do
        local alive=0
        while read -r pid; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done < "$D/pids"
        [ $alive -eq 0 ] && break
        sleep 0.05
    done
    while read -r pid; do
        kill -9 "$pid" 2>/dev/null || true
    done < "$D/pids"
    # On failure, show what the servers said (bats prints a failed test's
    # output, teardown's included).
    if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
        local f
        for f in "$D"/*.log; do
            [ -s "$f" ] || continue
            echo "--- $f (last 20 lines)"
            tail -n 20 "$f" | cut -c1-200
        done
    fi
    # The shipped policy again, for the next test.
    restore_policy
}

register_pid() { echo "$1" >> "$D/pids"; }

# ---------------------------------------------------------------------------
# Ports and waiting.
# ---------------------------------------------------------------------------

# free_port: a TCP port nobody listens on right now (the kernel picks it).
free_port() {
    "$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# wait_listen PORT PID: wait (at most 10 s) until something listens on TCP
# PORT; fail early if PID died.  Uses ss, so no connection is made (an
# "-naccept 1" server would count a probe as its one client).
wait_listen() {
    local port=$1 pid=$2 i
    for i in $(seq 200); do
        if [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# now_ms: the wall clock in milliseconds (EPOCHREALTIME, microseconds;
# its decimal separator depends on the locale, so every non-digit goes).
now_ms() {
    local us=${EPOCHREALTIME//[!0-9]/}
    echo $((10#$us / 1000))
}

# wait_exit PID [SECONDS]: wait (bounded, default 10 s) for a process that
# is not our child to exit.
wait_exit() {
    local pid=$1 n=$(( ${2:-10} * 20 )) i
    for i in $(seq "$n"); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}

# wait_size FILE BYTES [SECONDS]: wait (bounded, default 30 s) until FILE
# has at least BYTES bytes.
wait_size() {
    local file=$1 want=$2 n=$(( ${3:-30} * 20 )) i
    for i in $(seq "$n"); do
        [ "$(stat -c %s "$file" 2>/dev/null || echo 0)" -ge "$want" ] && return 0
        sleep 0.05
    done
    return 1
}

# start_bg NAME STDIN COMMAND...: run COMMAND in the background with stdin
# from STDIN, stdout to $D/NAME.out and stderr to $D/NAME.log; registers
# the pid and sets BG_PID.  fd 3 (bats' own) is closed so that a lingering
# server can never hang bats.
start_bg() {
    local name=$1 in=$2; shift 2
    "$@" < "$in" > "$D/$name.out" 2> "$D/$name.log" 3>&- &
    BG_PID=$!
    register_pid "$BG_PID"
}

# _start_listening NAME PORTVAR STDIN COMMAND-BUILDER: start a server on a
# fresh port and wait until it listens; retried with another port if the
# server dies (the port was taken between free_port and bind).  The
# builder is a function called with the port that fills the array SRV_CMD.
_start_listening() {
    local name=$1 in=$2 builder=$3 try port
    for try in 1 2 3; do
        port=$(free_port)
        "$builder" "$port"
        start_bg "$name" "$in" "${SRV_CMD[@]}"
        if wait_listen "$port" "$BG_PID"; then
            SERVER_PORT=$port
            SERVER_PID=$BG_PID
            return 0
        fi
        kill "$BG_PID" 2>/dev/null || true
    done
    echo "could not start $name: ${SRV_CMD[*]}" >&2
    cat "$D/$name.log" >&2
    return 1
}

# ---------------------------------------------------------------------------
# Servers.  Each sets SERVER_PORT and SERVER_PID.
# ---------------------------------------------------------------------------

# start_gnutls_serv CHAIN KEY [EXTRA-ARGS...]: gnutls-serv on all addresses
# (IPv4 and IPv6) of a fresh port.  Echo mode unless EXTRA-ARGS has --http.
# Echo mode is line-oriented: it answers each complete line(s) received;
# --crlf keeps CR LF untouched.  Log in $D/gnutls.log.
start_gnutls_serv() {
    local chain=$1 key=$2; shift 2
    _GNUTLS_ARGS=("$@")
    _gnutls_cmd() {
        local mode=(--echo --crlf)
        case " ${_GNUTLS_ARGS[*]} " in *" --http "*) mode=() ;; esac
        SRV_CMD=(gnutls-serv "${mode[@]}" -p "$1"
                 --x509certfile "$chain" --x509keyfile "$key"
                 "${_GNUTLS_ARGS[@]}")
    }
    _start_listening gnutls /dev/null _gnutls_cmd
}

# start_openssl_server CHAIN KEY [EXTRA-ARGS...]: openssl s_server on a
# fresh port (all addresses unless EXTRA-ARGS has -6), for one connection
# (-naccept 1).  -quiet: no chatter on stdout, so $D/openssl.out holds
# exactly the bytes the client sent, and stdin EOF is ignored.
#
# The server sends whatever its stdin delivers: set OPENSSL_STDIN=FILE to
# send FILE.  Stdin comes from a FIFO held open (by a registered "sleep")
# after FILE, so the server never sees EOF and never closes on its own: it
# ends the connection when the client sends close_notify.
#
# s_server's -cert takes only the first certificate of a file, so the chain
# is split: leaf to -cert, the rest to -cert_chain.
start_openssl_server() {
    local chain=$1 key=$2; shift 2
    local leaf=$D/openssl-leaf.pem rest=$D/openssl-rest.pem
    # (sed, not awk: awk is an /etc/alternatives link, absent in the
    # container's empty /etc.)
    sed -n '1,/-----END CERTIFICATE-----/p' "$chain" > "$leaf"
    sed '1,/-----END CERTIFICATE-----/d' "$chain" > "$rest"

    local fifo=$D/openssl.stdin
    _OPENSSL_ARGS=("$@")
    _openssl_cmd() {
        local accept=$1 a
        # A fresh FIFO and writer for every attempt: the writer blocks in
        # open() until the server opens its stdin, then sends the data and
        # holds the FIFO open.  If the server dies, cat gets EPIPE.
        rm -f "$fifo"
        mkfifo "$fifo"
        bash -c 'exec >"$2"; cat "$1"; exec sleep 600' holder \
            "${OPENSSL_STDIN:-/dev/null}" "$fifo" 3>&- &
        register_pid $!
        for a in "${_OPENSSL_ARGS[@]}"; do
            [ "$a" = -6 ] && accept="[::1]:$1"
        done
        SRV_CMD=(openssl s_server -accept "$accept" -naccept 1 -quiet
                 -cert "$leaf" -key "$key")
        [ -s "$rest" ] && SRV_CMD+=(-cert_chain "$rest")
        for a in "${_OPENSSL_ARGS[@]}"; do
            [ "$a" = -6 ] || SRV_CMD+=("$a")
        done
    }
    _start_listening openssl "$fifo" _openssl_cmd
}

# start_truncating_server CHAIN KEY DATA-FILE: tls-test-server.py --mode
# truncate: sends DATA-FILE, then a FIN without close_notify.
start_truncating_server() {
    start_test_server truncate "$1" "$2" --payload "$3"
}

# start_test_server MODE CHAIN KEY [EXTRA-ARGS...]: tests/servers/
# tls-test-server.py --mode MODE on 127.0.0.1 (EXTRA-ARGS: --delay S,
# --report FILE, --host ADDR).  The server binds port 0 itself and prints
# "PORT <n>" first; this waits (at most 10 s) for that line.  Output in
# $D/test-MODE.out, log in $D/test-MODE.log (a second server of the same
# mode gets test-MODE-2.*, ...).  Sets SERVER_PORT and SERVER_PID; the pid
# is registered, so teardown kills it.
start_test_server() {
    local mode=$1 chain=$2 key=$3; shift 3
    local name=test-$mode n=1
    while [ -e "$D/$name.out" ]; do
        n=$((n + 1)); name=test-$mode-$n
    done
    start_bg "$name" /dev/null "$PYTHON" -u \
        "$SSA_TESTS_DIR/servers/tls-test-server.py" \
        --mode "$mode" --cert "$chain" --key "$key" "$@"
    local pid=$BG_PID line i
    for i in $(seq 200); do
        line=$(head -n 1 "$D/$name.out" 2>/dev/null)
        if [[ $line =~ ^PORT\ ([0-9]+)$ ]]; then
            SERVER_PORT=${BASH_REMATCH[1]}
            SERVER_PID=$pid
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "could not start tls-test-server.py --mode $mode (no PORT line)" >&2
    cat "$D/$name.log" >&2
    kill "$pid" 2>/dev/null || true
    return 1
}

# ---------------------------------------------------------------------------
# Clients.
# ---------------------------------------------------------------------------

# run_pipe [SSA-PIPE-ARGS...]: `run` ssa-pipe with stdin from $PIPE_STDIN
# (default /dev/null), stdout in $output, stderr in $stderr, exit code in
# $status.  For text-sized data only (bash variables drop NUL bytes).
run_pipe() {
    run --separate-stderr timeout "$SSA_CLIENT_TIMEOUT" "$SSA_PIPE" "$@" \
        < "${PIPE_STDIN:-/dev/null}"
}

# pipe_to_file OUT ERR IN [SSA-PIPE-ARGS...]: run ssa-pipe with stdin from
# IN (a file or a process substitution), stdout to OUT, stderr to ERR; the
# exit code goes to $status.  For binary and bulk data.
pipe_to_file() {
    local out=$1 err=$2 in=$3; shift 3
    status=0
    timeout "$SSA_CLIENT_TIMEOUT" "$SSA_PIPE" "$@" < "$in" > "$out" 2> "$err" \
        || status=$?
}

# assert_status N: the exit code of the last run is N; shows stdout and
# stderr otherwise (bats-assert's assert_success does not show $stderr).
assert_status() {
    [ "$status" -eq "$1" ] ||
        fail "expected exit $1, got $status
stdout: ${output:-}
stderr: ${stderr:-}"
}

# assert_connect_failed ERRNAME: ssa-pipe failed in connect() (exit 2) with
# errno ERRNAME, as "ssa-pipe: connect: ERRNAME (strerror)...".
assert_connect_failed() {
    local name=$1
    if [ "$status" -ne 2 ]; then
        fail "expected exit 2 (connect failed with $name), got $status; stderr: $stderr"
    fi
    [[ $stderr =~ ssa-pipe:\ connect:\ $name\ \([^\)]+\) ]] ||
        fail "stderr does not report connect: $name (...): $stderr"
}

# assert_eproto [REGEX]: connect failed with EPROTO, the TLS_ERROR reason
# (the text after the last colon) is not empty and, if REGEX is given,
# matches it (case-insensitive).
assert_eproto() {
    assert_connect_failed EPROTO
    local line reason
    line=$(grep 'connect: EPROTO' <<< "$stderr" | head -n 1)
    [[ $line =~ ^ssa-pipe:\ connect:\ EPROTO\ \(Protocol\ error\):\ (.*)$ ]] ||
        fail "not 'ssa-pipe: connect: EPROTO (Protocol error): <reason>': $line"
    local tls_error=${BASH_REMATCH[1]}
    reason=${line##*:}
    reason=${reason//[[:space:]]/}
    [ -n "$reason" ] || fail "empty TLS_ERROR reason after the last colon: $line"
    # The regex is matched against the TLS_ERROR text only (not against
    # strerror's "Protocol error").
    if [ -n "${1:-}" ]; then
        shopt -s nocasematch
        local ok=0
        [[ $tls_error =~ $1 ]] && ok=1
        shopt -u nocasematch
        [ $ok -eq 1 ] || fail "TLS_ERROR reason does not match /$1/: $tls_error"
    fi
}

# assert_same_file EXPECTED ACTUAL: byte-identical (sha256), with sizes in
# the message when not.
assert_same_file() {
    local want got
    want=$(sha256sum < "$1" | cut -d' ' -f1)
    got=$(sha256sum < "$2" | cut -d' ' -f1)
    [ "$want" = "$got" ] ||
        fail "$2 ($(stat -c %s "$2") bytes, sha256 $got) differs from $1 ($(stat -c %s "$1") bytes, sha256 $want)"
}

# journal_entry FIELD=VALUE...: the helper's journal entries matching all of
# them, as "KEY=value" lines, waiting up to 5 s for journald to store one.
journal_entry() {
    local i out
    for i in $(seq 50); do
        out=$(journalctl -q --no-pager -o verbose "SYSLOG_IDENTIFIER=ssa-helper" "$@" 2>/dev/null)
        [ -n "$out" ] && break
        sleep 0.1
    done
    printf '%s\n' "$out"
}

# pin_of CERT: the SPKI pin of CERT's first certificate (base64 of the
# SHA-256 of the public key), as a policy's `pin` takes it after sha256/.
pin_of() {
    openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform der |
        openssl dgst -sha256 -binary | base64
}

# has_ipv6_loopback: ::1 is configured and bindable.
has_ipv6_loopback() {
    "$PYTHON" -c 'import socket
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 0))' 2>/dev/null
}

# wait_line FILE REGEX [SECONDS]: wait (bounded, default 10 s) until a line
# of FILE matches REGEX (grep -E).
wait_line() {
    local file=$1 re=$2 n=$(( ${3:-10} * 20 )) i
    for i in $(seq "$n"); do
        grep -Eq -- "$re" "$file" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# helpers_of MARK: the pids of ssa-helper processes whose environment holds
# SSA_TEST_MARK=MARK (a helper inherits the application's environment).
helpers_of() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$SSA_HELPER" ] || continue
        tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qx "SSA_TEST_MARK=$1" &&
            echo "${p#/proc/}"
    done
    return 0
}

# wait_helpers_of MARK N: wait (bounded, 5 s) until exactly N helpers of
# MARK (helpers_of) live.
wait_helpers_of() {
    local i
    for i in $(seq 50); do
        [ "$(helpers_of "$1" | grep -c .)" -eq "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# helpers_holding STATE FILTER [EXCLUDE-PID...]: the pids, one per line,
# of the ssa-helper processes holding a TCP socket in STATE (ss(8) state
# name) that matches the ss FILTER, except the EXCLUDE-PIDs.  In units
# mode the helpers run as _ssa under systemd; root's ss sees them too.
helpers_holding() {
    local state=$1 filter=$2; shift 2
    local pid x skip
    for pid in $(ss -Htnp state "$state" "$filter" 2>/dev/null |
                     grep -oE '\("ssa-helper",pid=[0-9]+' |
                     sed -E 's/.*pid=//' | sort -u); do
        skip=0
        for x in "$@"; do [ "$pid" = "$x" ] && skip=1; done
        [ $skip -eq 1 ] || echo "$pid"
    done
}
