# debian/tests/lib.sh: shared by the autopkgtests (sourced; bash).
# Everything here works on the INSTALLED packages: the programs are built
# from debian/tests/*.c against the installed libssa-shim-dev, the service is
# the installed ssa-helper.socket/ssa-helper.service.

set -euo pipefail

: "${AUTOPKGTEST_TMP:=$(mktemp -d)}"
T=$AUTOPKGTEST_TMP
# The helper runs as _ssa with PrivateTmp= and ProtectHome=: the trust anchor
# the test policy names must be outside /tmp and /root.
ANCHORS=/var/lib/ssa-autopkgtest
TEST_INI=/etc/ssa/test.ini
PIDS=()

say() { echo "## $*"; }
fail() {
	echo "FAIL: $*"
	if [ -s "$T/gnutls-serv.log" ]; then
		if kill -0 "${SERV_PID:-0}" 2>/dev/null; then
			echo "--- gnutls-serv (pid $SERV_PID, running), last lines:"
		else
			echo "--- gnutls-serv (pid ${SERV_PID:-?}, gone), last lines:"
		fi
		tail -n 20 "$T/gnutls-serv.log"
	fi
	exit 1
}

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	rm -f "$TEST_INI"
	rm -rf "$ANCHORS"
}
trap cleanup EXIT

# A port nobody listens on (bash's /dev/tcp: the connection is refused).
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

wait_port() {
	local _
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	fail "nothing listens on port $1"
}

# A test CA and a leaf for localhost/127.0.0.1 signed by it, made now.
make_pki() {
	say "test PKI (certtool)"
	cat > "$T/ca.tmpl" <<-'TMPL'
	cn = "SSA autopkgtest CA"
	ca
	cert_signing_key
	expiration_days = 2
	TMPL
	cat > "$T/leaf.tmpl" <<-'TMPL'
	cn = "localhost"
	dns_name = "localhost"
	ip_address = "127.0.0.1"
	tls_www_server
	signing_key
	encryption_key
	expiration_days = 2
	TMPL
	certtool --generate-privkey --key-type=ecdsa --outfile "$T/ca.key" 2>/dev/null
	certtool --generate-self-signed --load-privkey "$T/ca.key" \
		--template "$T/ca.tmpl" --outfile "$T/ca.pem" 2>/dev/null
	certtool --generate-privkey --key-type=ecdsa --outfile "$T/leaf.key" 2>/dev/null
	certtool --generate-certificate --load-privkey "$T/leaf.key" \
		--load-ca-certificate "$T/ca.pem" --load-ca-privkey "$T/ca.key" \
		--template "$T/leaf.tmpl" --outfile "$T/leaf.pem" 2>/dev/null
	install -d -m 755 "$ANCHORS"
	install -m 644 "$T/ca.pem" "$ANCHORS/ca.pem"
}

# The test policy: trust the test CA (and only it), plus extra lines.
write_policy() {
	printf '[defaults]\ntrust-store = %s\n%s' "$ANCHORS/ca.pem" "${1:-}" > "$TEST_INI.new"
	chmod 644 "$TEST_INI.new"
	mv "$TEST_INI.new" "$TEST_INI"
}

# Build a program of debian/tests against the installed libssa-shim-dev.
build_client() {
	# shellcheck disable=SC2046
	cc -Wall -Werror -o "$T/$1" "debian/tests/$1.c" $(pkg-config --cflags --libs ssa-shim)
}

start_gnutls_serv() {
	SERV_PORT=$(free_port)
	# SIGPIPE ignored: a client that is gone must not end the server (an
	# ignored signal stays ignored across exec).
	(
		trap '' PIPE
		exec gnutls-serv --echo -p "$SERV_PORT" --x509certfile="$T/leaf.pem" \
			--x509keyfile="$T/leaf.key"
	) >"$T/gnutls-serv.log" 2>&1 &
	SERV_PID=$!
	PIDS+=("$SERV_PID")
	wait_port "$SERV_PORT"
}

main_pid() { systemctl show -p MainPID --value ssa-helper.service; }

# expect_fetch HOST PORT WANT: ssa-fetch prints WANT (the echoed line, or
# "refused ERRNO...").
expect_fetch() {
	local out
	out=$("$T/ssa-fetch" "$1" "$2" "ping-$1" || true)
	case $out in
	"$3"*) echo "   $1:$2 -> $out" ;;
	*) fail "ssa-fetch $1 $2: expected '$3...', got '$out'" ;;
	esac
}

# The journal has the entry a helper running as _ssa (the service's user)
# wrote for a connection to 127.0.0.1:PORT (a port of this test's own).
# _UID comes with the message itself; _SYSTEMD_UNIT would be read from
# /proc after the fact, which a helper that has already exited no longer has.
journal_has_entry() {
	local _ uid
	uid=$(id -u _ssa)
	for _ in $(seq 100); do
		if journalctl "_UID=$uid" SYSLOG_IDENTIFIER=ssa-helper \
			"SSA_PEER_ADDRESS=127.0.0.1:$1" -o verbose 2>/dev/null |
			grep -q '^ *SSA_ID='; then
			return 0
		fi
		sleep 0.1
	done
	echo "--- the last entries of ssa-helper in the journal:"
	journalctl SYSLOG_IDENTIFIER=ssa-helper -n 3 -o verbose 2>/dev/null |
		grep -E '^ *(_UID|_SYSTEMD_UNIT|MESSAGE|SSA_PEER_ADDRESS|SSA_RESULT)=' || true
	return 1
}
