#!/usr/bin/env bats
# trust-store = system through the trust index (ssa-helper(8), TRUST
# INDEX): a helper loads, when the peer's certificate is in, only the
# anchors of the system bundle whose subject is the subject or the issuer
# of a certificate the peer sent, found through the index, and must reach
# exactly the verdicts of the whole bundle.
#
# The test PKI's CAs are not in the system's bundle, so each test file
# makes its own: update-ca-certificates(8) with the test CAs as local
# certificates, which runs the SSA's hook, which rebuilds the index.
#
#   standalone  the bundle and the index live in a temp dir
#               (SSA_SYSTEM_TRUST_BUNDLE, SSA_TRUST_INDEX: they count
#               because no service is installed), the hook is the build
#               tree's; "the whole bundle" is the same bundle without an
#               index (SSA_TRUST_INDEX naming no file).
#   units       the container's own /etc/ssl (nspawn-run's copy of the
#               host's), the installed index and hook.  The service's
#               supervisor preloads the stores of the policy, so its
#               helpers never need the index: there the tests check the
#               index and the hook, and that trust-store = system gives
#               the verdicts of the same bundle named as a file.

load lib

# Certificates of the system bundle GnuTLS reads, for the counts.
count_certs() { grep -c -- '-----BEGIN CERTIFICATE-----' "$1"; }

setup_file() {
    ssa_setup_file
    SYSTEM_BUNDLE=/etc/ssl/certs/ca-certificates.crt
    if [ ! -f "$SYSTEM_BUNDLE" ] || [ ! -s /etc/ca-certificates.conf ] ||
        ! command -v update-ca-certificates >/dev/null; then
        export TI_SKIP="no Debian system trust store here (ca-certificates)"
        return 0
    fi
    TI=$SSA_T/trust
    mkdir -p "$TI/local" "$TI/hooks" "$TI/certs" "$TI/cache"
    chmod -R 755 "$TI"
    case $SSA_TEST_MODE in
        standalone)
            BUNDLE=$TI/certs/ca-certificates.crt
            INDEX=$TI/cache/trust-index
            HOOKS=$TI/hooks
            cp "$SSA_BUILDDIR/etc/ca-certificates-update.d/ssa-trust-index" "$HOOKS/"
            export SSA_SYSTEM_TRUST_BUNDLE=$BUNDLE SSA_TRUST_INDEX=$INDEX
            ;;
        units)
            BUNDLE=$SYSTEM_BUNDLE
            INDEX=${SSA_TEST_TRUST_INDEX:?units mode needs SSA_TEST_TRUST_INDEX from tests/run-tests}
            HOOKS=$(dirname "$SSA_POLICY_DIR")/ca-certificates/update.d
            # What the file leaves behind as it found it.
            cp -a "$BUNDLE" "$TI/bundle.orig"
            [ -f "$INDEX" ] && cp -a "$INDEX" "$TI/index.orig"
            ;;
    esac
    export TI BUNDLE INDEX HOOKS
    # What --check-config said of the index as installed, before this file
    # changed anything (units: the stage's, from tests/run-tests).
    apply_policy zz-trust-index.ini "[defaults]" "trust-store = system"
    TI_INITIAL=$("$SSA_HELPER" --check-config 2>&1 | grep '^# trust-store = system')
    export TI_INITIAL
    make_cross_pki "$TI/x"
    # The test bundle: the system's anchors, the test root CA, a second
    # root (the cross-signed chain's) and the client CA (server tests).
    set_bundle "$PKI/ca.pem" "$TI/x/r2.pem" "$PKI/client-ca.pem" >&2
}

teardown_file() {
    if [ -z "${TI_SKIP:-}" ] && [ "$SSA_TEST_MODE" = units ]; then
        # The container's trust store and index back as they were, for
        # the files that run after this one.
        set_bundle >&2 || true
        cp -a "$TI/bundle.orig" "$BUNDLE"
        [ -f "$TI/index.orig" ] && cp -a "$TI/index.orig" "$INDEX"
        _policy_reload
    fi
    ssa_teardown_file
}

setup() {
    ssa_setup
    [ -z "${TI_SKIP:-}" ] || skip "$TI_SKIP"
    use_index
}

teardown() {
    restore_trust
    ssa_teardown
}

# save_trust: keep the bundle and the index as they are (times and all),
# for teardown to put back whatever the test did to them.
save_trust() {
    cp -a "$BUNDLE" "$D/bundle.saved"
    cp -a "$INDEX" "$D/index.saved"
}
restore_trust() {
    [ -f "$D/bundle.saved" ] || return 0
    cp -a "$D/bundle.saved" "$BUNDLE"
    cp -a "$D/index.saved" "$INDEX"
    rm -f "$D/bundle.saved" "$D/index.saved"
    _policy_reload
}

# make_cross_pki DIR: a cross-signed chain, as Let's Encrypt's via DST
# Root CA X3 was:
#   r2.pem          "SSA Test Second Root CA", self-signed
#   rx.pem          "SSA Test Cross Root CA", self-signed
#   r2x.pem         r2's subject and key, issued by rx (the cross-signature)
#   i2.pem          an intermediate issued by r2
#   cross-chain.pem a localhost leaf issued by i2, + i2 + r2x: the chain
#                   "via rx"; cross-key.pem its key
#   short-chain.pem the same leaf + i2 only
make_cross_pki() {
    local dir=$1
    mkdir -p "$dir"
    (
        cd "$dir" || exit 1
        ct() { certtool "$@" 2>/dev/null; }
        key() { ct --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$1"; }
        ca_tmpl() {
            printf 'cn = "%s"\norganization = "SSA tests"\nca\ncert_signing_key\n' "$2" > "$1"
            printf 'activation_date = "2019-01-01 00:00:00"\nexpiration_date = "2099-12-31 00:00:00"\n' >> "$1"
        }
        key r2-key.pem; key rx-key.pem; key i2-key.pem; key cross-key.pem
        ca_tmpl r2.tmpl "SSA Test Second Root CA"
        ca_tmpl rx.tmpl "SSA Test Cross Root CA"
        ca_tmpl i2.tmpl "SSA Test Cross Intermediate CA"
        printf 'cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\n' > leaf.tmpl
        printf 'tls_www_server\nsigning_key\nexpiration_days = 3650\n' >> leaf.tmpl
        ct --generate-self-signed --load-privkey r2-key.pem --template r2.tmpl --outfile r2.pem
        ct --generate-self-signed --load-privkey rx-key.pem --template rx.tmpl --outfile rx.pem
        ct --generate-certificate --load-privkey r2-key.pem --load-ca-certificate rx.pem \
            --load-ca-privkey rx-key.pem --template r2.tmpl --outfile r2x.pem
        ct --generate-certificate --load-privkey i2-key.pem --load-ca-certificate r2.pem \
            --load-ca-privkey r2-key.pem --template i2.tmpl --outfile i2.pem
        ct --generate-certificate --load-privkey cross-key.pem --load-ca-certificate i2.pem \
            --load-ca-privkey i2-key.pem --template leaf.tmpl --outfile cross-cert.pem
        cat cross-cert.pem i2.pem r2x.pem > cross-chain.pem
        cat cross-cert.pem i2.pem > short-chain.pem
        chmod 644 ./*.pem
    ) || { echo "make_cross_pki failed" >&2; return 1; }
}

# set_bundle [PEM...]: the system bundle becomes the system's anchors
# (/etc/ca-certificates.conf) and the PEM files, by update-ca-certificates
# with them as local certificates, which runs the SSA's hook (in $HOOKS)
# and so rebuilds the index.  In units mode the service then reloads (it
# also sees the change itself).
set_bundle() {
    local f n=0
    rm -f "$TI/local/"*.crt
    for f in "$@"; do
        n=$((n + 1))
        cp "$f" "$TI/local/ssa-test-$n-$(basename "$f" .pem).crt"
    done
    if [ "$SSA_TEST_MODE" = units ]; then
        update-ca-certificates --localcertsdir "$TI/local" --hooksdir "$HOOKS" || return 1
        _policy_reload
    else
        update-ca-certificates --certsconf /etc/ca-certificates.conf --localcertsdir "$TI/local" \
            --etccertsdir "$TI/certs" --hooksdir "$HOOKS" || return 1
    fi
}

# Policies: trust-store = system (use_index), or the whole bundle
# (use_whole): in standalone mode trust-store = system without an index,
# in units mode the bundle named as a file.
use_index() {
    export SSA_TRUST_INDEX=$INDEX
    apply_policy zz-trust-index.ini "[defaults]" "trust-store = system"
}
use_whole() {
    if [ "$SSA_TEST_MODE" = standalone ]; then
        export SSA_TRUST_INDEX=$TI/no-such-index
    else
        apply_policy zz-trust-index.ini "[defaults]" "trust-store = $BUNDLE"
    fi
}

# verdict [SSA-PIPE-ARGS...]: one connection to the server started last,
# as "STATUS: what ssa-pipe said of connect" (the errno and TLS_ERROR).
verdict() {
    run_pipe "$@" 127.0.0.1 "$SERVER_PORT"
    printf '%s: %s\n' "$status" "$(sed -n 's/^ssa-pipe: connect: //p' <<< "$stderr" | head -n 1)"
}

# same_verdict CHAIN KEY [SSA-PIPE-ARGS...]: a gnutls-serv with CHAIN, a
# connection through the index and one with the whole bundle: the same
# status and the same reason.  Sets V (the verdict).
same_verdict() {
    local chain=$1 key=$2; shift 2
    [ $# -gt 0 ] || set -- -n localhost
    start_gnutls_serv "$chain" "$key"
    use_index
    V=$(verdict "$@")
    use_whole
    local whole
    whole=$(verdict "$@")
    use_index
    [ "$V" = "$whole" ] || fail "through the index: '$V'; the whole bundle: '$whole'"
}

# index_report: `ssa-helper --check-config`'s line on the trust index.
index_report() {
    run --separate-stderr "$SSA_HELPER" --check-config
    assert_status 0
    grep '^# trust-store = system' <<< "$output"
}

# ---------------------------------------------------------------------------

@test "the hook built an index of the test bundle: fresh, one entry per certificate" {
    local n line
    n=$(count_certs "$BUNDLE")
    line=$(index_report)
    [[ $line == "# trust-store = system: trust index $INDEX is fresh: $n anchors of $BUNDLE" ]] ||
        fail "--check-config: '$line' (the bundle holds $n certificates)"
    [ "$(stat -c %a "$INDEX")" = 644 ] || fail "index mode $(stat -c %a "$INDEX")"
}

@test "units: the container has an index, fresh for its bundle (tests/run-tests built it into the stage)" {
    [ "$SSA_TEST_MODE" = units ] || skip "units mode only (standalone, the hook makes the first one)"
    [[ $TI_INITIAL == "# trust-store = system: trust index $INDEX is fresh: "*" anchors of $BUNDLE" ]] ||
        fail "--check-config before the tests: '$TI_INITIAL'"
}

@test "good chain: accepted through the index, as with the whole bundle" {
    same_verdict "$PKI/good-chain.pem" "$PKI/good-key.pem"
    [ "$V" = "0: " ] || fail "verdict: $V"
}

# The rejections of tests/client.bats, each with the reason of the whole
# bundle.
@test "wrong name: refused for the same reason as with the whole bundle" {
    same_verdict "$PKI/wrongname-chain.pem" "$PKI/wrongname-key.pem"
    [[ $V == "2: EPROTO"*"does not name 'localhost'"* ]] || fail "verdict: $V"
}
@test "expired: refused for the same reason as with the whole bundle" {
    same_verdict "$PKI/expired-chain.pem" "$PKI/expired-key.pem"
    [[ $V == "2: EPROTO"*expired* ]] || fail "verdict: $V"
}
@test "not yet valid: refused for the same reason as with the whole bundle" {
    same_verdict "$PKI/notyet-chain.pem" "$PKI/notyet-key.pem"
    [[ $V =~ ^2:\ EPROTO.*(not\ yet|not.*activ|future) ]] || fail "verdict: $V"
}
@test "self-signed: refused for the same reason as with the whole bundle" {
    same_verdict "$PKI/selfsigned-chain.pem" "$PKI/selfsigned-key.pem"
    [[ $V == "2: EPROTO"*"issuer"* ]] || fail "verdict: $V"
}
@test "untrusted CA (its root sent along): refused for the same reason as with the whole bundle" {
    same_verdict "$PKI/untrusted-chain.pem" "$PKI/untrusted-key.pem"
    [[ $V == "2: EPROTO"*"issuer"* ]] || fail "verdict: $V"
}
@test "leaf for clientAuth only: refused for the same reason as with the whole bundle" {
    same_verdict "$PKI/clientonly-chain.pem" "$PKI/clientonly-key.pem"
    [[ $V == "2: EPROTO"*serverAuth* ]] || fail "verdict: $V"
}
@test "intermediate restricted to clientAuth: refused for the same reason as with the whole bundle" {
    same_verdict "$PKI/purpose-int-chain.pem" "$PKI/purpose-int-key.pem"
    [[ $V == "2: EPROTO"*serverAuth* ]] || fail "verdict: $V"
}
@test "a chain sent with its root (trusted), and without its intermediate: the verdicts of the whole bundle" {
    cat "$PKI/good-chain.pem" "$PKI/ca.pem" > "$D/with-root.pem"
    same_verdict "$D/with-root.pem" "$PKI/good-key.pem"
    [ "$V" = "0: " ] || fail "with its root: $V"
    same_verdict "$PKI/good-cert.pem" "$PKI/good-key.pem"
    [[ $V == "2: EPROTO"*issuer* ]] || fail "without its intermediate: $V"
}

@test "a server certificate trusted as itself (in the bundle, its issuer not): accepted, as with the whole bundle" {
    # GnuTLS takes a chain certificate that is itself an anchor (same name
    # and key), looked up by its subject: the index loads anchors by the
    # subjects of the chain too, not only by its issuers.
    save_trust
    set_bundle "$PKI/ca.pem" "$TI/x/r2.pem" "$PKI/client-ca.pem" "$TI/x/cross-cert.pem" >&2
    same_verdict "$TI/x/cross-cert.pem" "$TI/x/cross-key.pem"
    [ "$V" = "0: " ] || fail "verdict: $V"
}

@test "cross-signed: the chain via a root not in the bundle is accepted through the cross-signed root that is" {
    # The bundle has r2, not rx; the server sends leaf, i2 and r2 signed
    # by rx.
    same_verdict "$TI/x/cross-chain.pem" "$TI/x/cross-key.pem"
    [ "$V" = "0: " ] || fail "verdict: $V"
}

@test "cross-signed, the other way: with rx in the bundle instead of r2, the chain via rx is accepted, the short one refused" {
    save_trust
    set_bundle "$PKI/ca.pem" "$TI/x/rx.pem" "$PKI/client-ca.pem" >&2
    same_verdict "$TI/x/cross-chain.pem" "$TI/x/cross-key.pem"
    local via_rx=$V
    same_verdict "$TI/x/short-chain.pem" "$TI/x/cross-key.pem"
    local short=$V
    [ "$via_rx" = "0: " ] || fail "leaf, i2, r2 by rx: $via_rx"
    [[ $short == "2: EPROTO"*issuer* ]] || fail "leaf, i2 (r2 not trusted): $short"
}

@test "update-ca-certificates and the hook: the index picks up a new anchor and drops a removed one" {
    local n
    save_trust
    n=$(count_certs "$BUNDLE")
    start_gnutls_serv "$PKI/untrusted-chain.pem" "$PKI/untrusted-key.pem"
    [[ $(verdict -n localhost) == "2: EPROTO"* ]] || fail "untrusted before"
    # Added.
    set_bundle "$PKI/ca.pem" "$TI/x/r2.pem" "$PKI/client-ca.pem" "$PKI/untrusted-ca.pem" >&2
    [[ $(index_report) == *"is fresh: $((n + 1)) anchors"* ]] || fail "after adding: $(index_report)"
    V=$(verdict -n localhost)
    [ "$V" = "0: " ] || fail "the new anchor through the index: $V"
    # Removed.
    set_bundle "$PKI/ca.pem" "$TI/x/r2.pem" "$PKI/client-ca.pem" >&2
    [[ $(index_report) == *"is fresh: $n anchors"* ]] || fail "after removing: $(index_report)"
    V=$(verdict -n localhost)
    [[ $V == "2: EPROTO"*issuer* ]] || fail "the removed anchor: $V"
}

@test "a stale index (bundle changed, index not rebuilt) is reported, and the whole bundle gives the verdicts" {
    save_trust
    # A new anchor the index does not have: only the whole bundle knows it.
    cat "$PKI/untrusted-ca.pem" >> "$BUNDLE"
    local report untrusted
    report=$(index_report)
    _policy_reload
    start_gnutls_serv "$PKI/untrusted-chain.pem" "$PKI/untrusted-key.pem"
    untrusted=$(verdict -n localhost)
    same_verdict "$PKI/wrongname-chain.pem" "$PKI/wrongname-key.pem"
    [[ $report == *"trust index $INDEX is stale"* ]] || fail "--check-config: $report"
    [ "$untrusted" = "0: " ] || fail "the anchor only the whole bundle has: $untrusted"
    [[ $V == "2: EPROTO"*"does not name 'localhost'"* ]] || fail "wrong name with a stale index: $V"
}

@test "standalone: a helper reads from the bundle only the anchors the index names for the chain" {
    [ "$SSA_TEST_MODE" = standalone ] || skip "standalone only (the service preloads the whole store)"
    save_trust
    # Damage the bundle's first certificate in place, keeping its size and
    # modification time: GnuTLS no longer reads the bundle whole, so the
    # whole-bundle load fails; through the index, only the test CA is
    # read, which is intact.
    local at
    at=$(grep -bo -- '-----BEGIN CERTIFICATE-----' "$BUNDLE" | head -n 1 | cut -d: -f1)
    printf 'X' | dd of="$BUNDLE" bs=1 seek=$((at + 28)) conv=notrunc status=none
    touch -r "$D/bundle.saved" "$BUNDLE"
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    local indexed whole
    indexed=$(verdict -n localhost)
    use_whole
    whole=$(verdict -n localhost)
    use_index
    [ "$indexed" = "0: " ] || fail "through the index: $indexed"
    [[ $whole == "2: ECANCELED"*"trust store 'system' cannot be loaded"* ]] || fail "the whole bundle: $whole"
}

@test "TLS_TRUSTED_PEER_CERTIFICATES adds to the indexed store (add), or replaces it (replace)" {
    start_gnutls_serv "$PKI/untrusted-chain.pem" "$PKI/untrusted-key.pem"
    V=$(verdict -t "$PKI/untrusted-ca.pem" -n localhost)
    [ "$V" = "0: " ] || fail "add: $V"
    echo "no certificate" > "$D/not-pem"
    V=$(verdict -t "$D/not-pem" -n localhost)
    [[ $V == "2: EINVAL"*"no PEM certificate"* ]] || fail "a file without a certificate: $V"
    # [host replace.localhost] app-trust-store = replace: the indexed
    # store's test CA does not count, the application's anchor does.
    start_gnutls_serv "$PKI/replace-chain.pem" "$PKI/replace-key.pem"
    V=$(verdict -t "$PKI/untrusted-ca.pem" -n replace.localhost)
    [[ $V == "2: EPROTO"*issuer* ]] || fail "replace, another CA: $V"
    V=$(verdict -t "$PKI/ca.pem" -n replace.localhost)
    [ "$V" = "0: " ] || fail "replace, its CA: $V"
}

@test "server: TLS_REQUEST_PEER_AUTH verifies client certificates against the indexed store" {
    local echo_bin=$SSA_BUILDDIR/examples/ssa-echo-server
    [ "$SSA_TEST_MODE" = units ] && [ -x "$SSA_BUILDDIR/examples/.libs/ssa-echo-server" ] &&
        echo_bin=$SSA_BUILDDIR/examples/.libs/ssa-echo-server
    start_bg echo /dev/null "$echo_bin" -c "$PKI/good-chain.pem" -k "$PKI/good-key.pem" -r
    wait_line "$D/echo.out" '^listening on ' || fail "the echo server did not start: $(cat "$D/echo.log")"
    SERVER_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$D/echo.out")
    echo "client CA in the bundle" > "$D/in"
    run timeout 10 gnutls-cli --x509cafile "$PKI/ca.pem" -p "$SERVER_PORT" \
        --x509certfile "$PKI/client-chain.pem" --x509keyfile "$PKI/client-key.pem" localhost < "$D/in"
    assert_success
    assert_line "client CA in the bundle"
    echo "refused" > "$D/in"
    run timeout 10 gnutls-cli --x509cafile "$PKI/ca.pem" -p "$SERVER_PORT" \
        --x509certfile "$PKI/untrusted-chain.pem" --x509keyfile "$PKI/untrusted-key.pem" localhost < "$D/in"
    assert_failure
    refute_line "refused"
    wait_line "$D/echo.out" '^closed .* echoed=24$' || fail "$(cat "$D/echo.out")"
    [ "$(grep -c '^accepted ' "$D/echo.out")" -eq 1 ] || fail "$(cat "$D/echo.out")"
}
