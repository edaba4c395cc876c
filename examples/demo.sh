#!/bin/sh
# demo.sh: `make demo`.  Starts a local gnutls-serv with a freshly generated
# test CA and shows two fetches through the SSA in standalone mode: one that
# succeeds, and one that is refused because the name does not match.  Then
# the server side: examples/ssa-echo-server, plain sockets with IPPROTO_TLS,
# answers gnutls-cli.
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
	i=$((i + 1)); [ $i -lt 100 ] || { echo "gnutls-serv did not start"; cat server.log; exit 1; }
	sleep 0.05
done

export SSA_HELPER_SOCKET="$tmp/no-such-socket" SSA_HELPER_PATH="$SSA_BUILDDIR/helper/ssa-helper" SSA_CONFIG_DIR="$tmp/policy"
echo "== policy ($SSA_CONFIG_DIR/ssa.ini): trust the freshly generated demo CA"
cat policy/ssa.ini
echo
echo "== 1. ssa-get localhost $port /   (certificate for localhost, signed by the demo CA)"
"$SSA_BUILDDIR/examples/ssa-get" localhost "$port" / | head -n 12
echo "   ..."
echo
echo "== 2. ssa-get 127.0.0.1 $port /   (same server, but the certificate does not name 127.0.0.1)"
if "$SSA_BUILDDIR/examples/ssa-get" 127.0.0.1 "$port" /; then
	echo "demo: the wrong name was accepted, which is a bug" >&2
	exit 1
fi
echo "   -> refused, as it must be (connect() failed with EPROTO; the reason is TLS_ERROR)"
echo
echo "== 3. ssa-echo-server -c cert.pem -k key.pem   (a TLS server written with plain sockets)"
"$SSA_BUILDDIR/examples/ssa-echo-server" -c cert.pem -k key.pem > echo.out 2> echo.err &
echo_server=$!
i=0
until grep -q '^listening on' echo.out 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "ssa-echo-server did not start"; cat echo.err; exit 1; }
	sleep 0.05
done
echo_port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' echo.out)
echo "   $(head -n 1 echo.out); gnutls-cli, which knows nothing of the SSA, connects:"
echo "hello, TLS server on plain sockets" |
	gnutls-cli --x509cafile ca.pem -p "$echo_port" localhost 2>&1 | grep -E '^hello|Peer has closed' | sed 's/^/   /'
sleep 0.2
echo "   the server's view of it (accept(), then TLS_SNI, TLS_ALPN, TLS_CHOSEN_VERSION, TLS_PEER_IDENTITY):"
grep -E '^(accepted|closed) ' echo.out | sed 's/^/   /'
