#!/bin/sh
# demo.sh: `make demo`.  Starts a local gnutls-serv with a freshly generated
# test CA and shows two fetches through the SSA in standalone mode: one that
# succeeds, and one that is refused because the name does not match.  Then
# the server side: examples/ssa-echo-server, plain sockets with IPPROTO_TLS,
# answers gnutls-cli.  Exits non-zero if a step that must succeed fails or a
# step that must fail succeeds.
# Needs: certtool and gnutls-serv (gnutls-bin).  No network beyond loopback.
set -eu
: "${SSA_BUILDDIR:?}"
tmp=$(mktemp -d /tmp/ssa-demo.XXXXXX)
server= echo_server=
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null
	[ -n "$echo_server" ] && kill "$echo_server" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

cd "$tmp"
printf 'cn = "SSA demo CA"\nca\ncert_signing_key\nexpiration_days = 2\n' > ca.tmpl
printf 'cn = "localhost"\ndns_name = "localhost"\ntls_www_server\nsigning_key\nexpiration_days = 2\n' > leaf.tmpl
certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile ca-key.pem 2>/dev/null
certtool --generate-self-signed --load-privkey ca-key.pem --template ca.tmpl --outfile ca.pem 2>/dev/null
certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile key.pem 2>/dev/null
certtool --generate-certificate --load-privkey key.pem --load-ca-certificate ca.pem \
	--load-ca-privkey ca-key.pem --template leaf.tmpl --outfile cert.pem 2>/dev/null
mkdir policy
printf '[defaults]\ntrust-store = %s/ca.pem\n' "$tmp" > policy/ssa.ini

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
gnutls-serv --http -p "$port" --x509certfile cert.pem --x509keyfile key.pem >server.log 2>&1 &
server=$!
i=0
until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "demo: FAILED: gnutls-serv did not start" >&2; cat server.log; exit 1; }
	sleep 0.05
done

export SSA_HELPER_SOCKET="$tmp/no-such-socket" SSA_HELPER_PATH="$SSA_BUILDDIR/helper/ssa-helper" SSA_CONFIG_DIR="$tmp/policy"
echo "== policy ($SSA_CONFIG_DIR/ssa.ini): trust the freshly generated demo CA"
cat policy/ssa.ini
echo
# fail MESSAGE: a step did not do what it must; the demo exits non-zero.
fail() {
	echo "demo: FAILED: $*" >&2
	exit 1
}

echo "== 1. ssa-get localhost $port /   (certificate for localhost, signed by the demo CA)"
"$SSA_BUILDDIR/examples/ssa-get" localhost "$port" / > page.out 2> page.err ||
	fail "the fetch that must succeed did not: $(cat page.err)"
grep -q 'GnuTLS' page.out || fail "the page fetched is not gnutls-serv's: $(head -c 300 page.out)"
head -n 12 page.out
echo "   ..."
echo
echo "== 2. ssa-get 127.0.0.1 $port /   (same server, but the certificate does not name 127.0.0.1)"
if "$SSA_BUILDDIR/examples/ssa-get" 127.0.0.1 "$port" / > /dev/null 2> refused.err; then
	fail "the wrong name was accepted"
fi
cat refused.err
grep -q 'Protocol error.*name' refused.err || fail "refused, but not with EPROTO naming the host name"
echo "   -> refused, as it must be (connect() failed with EPROTO; the reason is TLS_ERROR)"
echo
echo "== 3. ssa-echo-server -c cert.pem -k key.pem   (a TLS server written with plain sockets)"
"$SSA_BUILDDIR/examples/ssa-echo-server" -c cert.pem -k key.pem > echo.out 2> echo.err &
echo_server=$!
i=0
until grep -q '^listening on' echo.out 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "ssa-echo-server did not start: $(cat echo.err)"
	sleep 0.05
done
echo_port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' echo.out)
echo "   $(head -n 1 echo.out); gnutls-cli, which knows nothing of the SSA, connects:"
echo "hello, TLS server on plain sockets" |
	gnutls-cli --x509cafile ca.pem -p "$echo_port" localhost > cli.out 2>&1 ||
	fail "gnutls-cli could not talk to the echo server: $(tail -n 5 cli.out)"
grep -E '^hello|Peer has closed' cli.out | sed 's/^/   /'
grep -q '^hello, TLS server on plain sockets' cli.out || fail "the echo server did not echo the line"
i=0
until grep -q '^closed ' echo.out 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "the echo server did not report the connection: $(cat echo.err)"
	sleep 0.05
done
echo "   the server's view of it (accept(), then TLS_SNI, TLS_ALPN, TLS_CHOSEN_VERSION, TLS_PEER_IDENTITY):"
grep -E '^(accepted|closed) ' echo.out | sed 's/^/   /'
