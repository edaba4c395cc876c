#!/usr/bin/env bats
# ssa-probe: connects through the SSA as an application would and reports
# what it got (issue 4).  Against gnutls-serv, in both modes; in units mode
# the installed /usr/local/bin/ssa-probe is the one run.

load lib

setup_file()    { ssa_setup_file; }
teardown_file() { ssa_teardown_file; }
setup()         { ssa_setup; }
teardown()      { ssa_teardown; }

run_probe() {
    run --separate-stderr timeout "$SSA_CLIENT_TIMEOUT" "$SSA_PROBE" "$@"
}

@test "ssa-probe: an accepted peer: version, suite, ALPN, policy, OCSP, chain with pins, exit 0" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem" --alpn=h2
    run_probe --alpn h2,http/1.1 "localhost:$SERVER_PORT"
    assert_status 0
    assert_line "version    TLS 1.3"
    assert_line --regexp '^suite      TLS_(AES|CHACHA20)'
    assert_line "alpn       h2"
    assert_line "policy     [defaults]"
    assert_line "ocsp       no stapled response"
    assert_line --regexp '^  \[0\] subject    .*CN=localhost'
    assert_line --regexp '^  \[1\] subject    .*Intermediate'
    assert_line "verdict    accepted"
    # The leaf's pin is the one certtool computes from the same key.
    local pin
    pin=$(certtool --pubkey-info --infile "$PKI/good-cert.pem" 2>/dev/null | sed -n 's/^[[:space:]]*pin-sha256:\(.*\)$/\1/p')
    [ -n "$pin" ] || fail "certtool gave no pin"
    assert_line "      pin        sha256/$pin"
}

@test "ssa-probe: a refused peer: the verdict with its reason, exit 1" {
    start_gnutls_serv "$PKI/wrongname-chain.pem" "$PKI/wrongname-key.pem"
    run_probe "localhost:$SERVER_PORT"
    assert_status 1
    # The reason names the cause (the certificate's name), in any words.
    assert_line --regexp '^verdict    refused: EPROTO \(Protocol error\): .*[Nn]ame'
}

@test "ssa-probe --exe: what another program would get ([app] section, root only)" {
    start_gnutls_serv "$PKI/good-chain.pem" "$PKI/good-key.pem"
    run_probe --exe /opt/ssa-test/denied-program "localhost:$SERVER_PORT"
    assert_status 1
    assert_line "policy     [defaults] [app /opt/ssa-test/denied-program]"
    assert_line --regexp '^verdict    refused: EACCES .*allow = no'
    # The same probe as itself is accepted: the section is the program's.
    run_probe "localhost:$SERVER_PORT"
    assert_status 0
}

@test "ssa-probe: a closed port is refused with ECONNREFUSED, bad usage exits 2" {
    local port
    port=$(free_port)
    run_probe "127.0.0.1:$port"
    assert_status 1
    assert_line --regexp '^verdict    refused: ECONNREFUSED'
    run_probe
    assert_status 2
}
