//! TLS (`-Z`) against the release binary, with certificates made at test
//! time: the options, text commands over rustls and `openssl s_client`,
//! wrong-protocol clients on either kind of port, mutual TLS,
//! certificate files refused at start-up, `refresh_certs` and SIGHUP, and
//! the binary protocol with SASL over TLS. How TLS connections end is in
//! `tls_lifecycle.rs`.

mod common;

use common::tls::{der_of, Certs, TlsClient};
use common::{eventually, user_args, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrocache");

fn tls_server(certs: &Certs, extra_o: &str, more: &[&str]) -> Server {
    let args = certs.server_args("server-one", extra_o);
    let mut all: Vec<&str> = vec!["-t", "2"];
    all.extend(args.iter().map(String::as_str));
    all.extend(more);
    Server::ferrocache(&all)
}

#[test]
fn text_commands_and_tls_statistics_over_tls() {
    let certs = Certs::new("text");
    let server = tls_server(&certs, "", &[]);
    let mut c = TlsClient::connect(&server, certs.client_config(None)).unwrap();
    assert_eq!(c.call(b"set k 5 0 3\r\nabc\r\n"), b"STORED\r\n");
    assert_eq!(c.call(b"get k\r\n"), b"VALUE k 5 3\r\nabc\r\nEND\r\n");
    // A value larger than a TLS record (16 KiB) crosses several records.
    let big = vec![b'v'; 300_000];
    let mut set = b"set big 0 0 300000\r\n".to_vec();
    set.extend_from_slice(&big);
    set.extend_from_slice(b"\r\n");
    assert_eq!(c.call(&set), b"STORED\r\n");
    let got = c.call(b"get big\r\n");
    assert_eq!(got.len(), "VALUE big 0 300000\r\n".len() + 300_002 + 5);
    assert_eq!(c.stat("", "ssl_handshake_errors").as_deref(), Some("0"));
    let since: u64 = c
        .stat("", "time_since_server_cert_refresh")
        .unwrap()
        .parse()
        .unwrap();
    assert!(since < 60);
    // ssl_new_sessions is printed only with ssl_session_cache.
    assert_eq!(c.stat("", "ssl_new_sessions"), None);
    for (name, value) in [
        ("ssl_enabled", "yes".to_string()),
        ("ssl_chain_cert", certs.path("server-one.pem")),
        ("ssl_key", certs.path("server-one.key")),
        ("ssl_verify_mode", "0".into()),
        ("ssl_ca_cert", "NULL".into()),
        ("ssl_session_cache", "no".into()),
        ("ssl_min_version", "tlsv1.2".into()),
    ] {
        assert_eq!(c.stat("settings", name), Some(value), "{name}");
    }
}

/// The `stats` lines sit where memcached 1.6.18 prints them: after
/// `log_watchers`, `ssl_new_sessions` first with the session cache.
#[test]
fn tls_statistics_sit_where_memcached_prints_them() {
    let certs = Certs::new("order");
    let server = tls_server(&certs, "ssl_session_cache", &[]);
    let mut c = TlsClient::connect(&server, certs.client_config(None)).unwrap();
    let listing = String::from_utf8(c.call(b"stats\r\n")).unwrap();
    let names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .collect();
    let at = names.iter().position(|n| *n == "log_watchers").unwrap();
    assert_eq!(
        &names[at + 1..at + 5],
        [
            "ssl_new_sessions",
            "ssl_handshake_errors",
            "time_since_server_cert_refresh",
            "unexpected_napi_ids"
        ]
    );
}

#[test]
fn openssl_s_client_drives_text_commands() {
    let certs = Certs::new("sclient");
    let server = tls_server(&certs, "", &[]);
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &server.addr.to_string()])
        .args(["-CAfile", &certs.path("ca.pem"), "-verify_return_error"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"set a 0 0 2\r\nhi\r\nget a\r\nincr n 1\r\nquit\r\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "STORED\r\nVALUE a 0 2\r\nhi\r\nEND\r\nNOT_FOUND\r\n"
    );
}

/// A plaintext client on a TLS port is told in plaintext and closed at
/// once (memcached closes without a word); it counts as a failed handshake.
#[test]
fn a_plaintext_client_on_a_tls_port_is_told_and_closed() {
    let certs = Certs::new("plain-on-tls");
    let server = tls_server(&certs, "", &[]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    s.write_all(b"version\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"CLIENT_ERROR this port requires TLS\r\n");
    assert!(started.elapsed() < Duration::from_secs(2));
    let mut c = TlsClient::connect(&server, certs.client_config(None)).unwrap();
    assert_eq!(c.stat("", "ssl_handshake_errors").as_deref(), Some("1"));
}

/// A TLS client on a plaintext port gets a TLS alert at once instead of
/// waiting for a ServerHello (memcached keeps it waiting).
#[test]
fn a_tls_client_on_a_plaintext_port_fails_at_once() {
    let certs = Certs::new("tls-on-plain");
    let server = Server::ferrocache(&["-t", "1"]);
    let started = Instant::now();
    let err = TlsClient::connect(&server, certs.client_config(None))
        .err()
        .expect("no handshake with a plaintext port");
    assert!(started.elapsed() < Duration::from_secs(2), "{err}");
    assert!(err.to_lowercase().contains("alert"), "{err}");
    // The port still serves plaintext.
    assert_eq!(server.connect().call(b"get x\r\n"), b"END\r\n");
}

/// `-l notls:` keeps one listener in plaintext beside the TLS ones.
#[test]
fn notls_listener_beside_a_tls_one() {
    let certs = Certs::new("notls");
    let plain_port = common::free_port();
    let notls = format!("notls:127.0.0.1:{plain_port}");
    let server = tls_server(&certs, "", &["-l", &notls]);
    // The announced (first) address is the TLS one.
    let mut c = TlsClient::connect(&server, certs.client_config(None)).unwrap();
    assert_eq!(c.call(b"set k 0 0 1\r\nx\r\n"), b"STORED\r\n");
    let plain = common::try_call(
        format!("127.0.0.1:{plain_port}").parse().unwrap(),
        b"get k\r\n",
    );
    assert_eq!(plain.unwrap(), b"VALUE k 0 1\r\nx\r\nEND\r\n");
}

#[test]
fn mutual_tls_accepts_a_client_of_the_ca_and_logs_its_subject() {
    let certs = Certs::new("mtls-ok");
    let args = certs.server_args(
        "server-one",
        &format!("ssl_verify_mode=2,ssl_ca_cert={}", certs.path("ca.pem")),
    );
    let mut cmd = Command::new(BIN);
    cmd.args(["-p", "0", "-l", "127.0.0.1", "-t", "2", "-v"])
        .args(user_args())
        .args(&args);
    let (server, stderr) = Server::with_stderr(cmd);
    let mut c = TlsClient::connect(&server, certs.client_config(Some("client"))).unwrap();
    assert_eq!(c.call(b"get x\r\n"), b"END\r\n");
    assert!(
        stderr.wait_for(
            "client certificate subject: CN=tls-test-client",
            Duration::from_secs(5)
        ),
        "{:?}",
        stderr.lines()
    );
}

#[test]
fn mutual_tls_refuses_no_certificate_and_a_foreign_one() {
    let certs = Certs::new("mtls-refused");
    let server = tls_server(
        &certs,
        &format!("ssl_verify_mode=2,ssl_ca_cert={}", certs.path("ca.pem")),
        &[],
    );
    for client in [None, Some("foreign-client")] {
        // TLS 1.3 finishes the client's side before the server has
        // checked its certificate: the refusal shows on first use.
        let refused = match TlsClient::connect(&server, certs.client_config(client)) {
            Err(_) => true,
            Ok(mut c) => c.try_call(b"get x\r\n").is_err(),
        };
        assert!(refused, "{client:?} was served");
    }
    let mut ok = TlsClient::connect(&server, certs.client_config(Some("client"))).unwrap();
    assert_eq!(ok.stat("", "ssl_handshake_errors").as_deref(), Some("2"));
}

/// `ssl_verify_mode=1` asks for a certificate but serves a client
/// without one; a certificate it does get must check out.
#[test]
fn verify_mode_1_serves_a_client_without_a_certificate() {
    let certs = Certs::new("mtls-request");
    let server = tls_server(
        &certs,
        &format!("ssl_verify_mode=1,ssl_ca_cert={}", certs.path("ca.pem")),
        &[],
    );
    let mut anonymous = TlsClient::connect(&server, certs.client_config(None)).unwrap();
    assert_eq!(anonymous.call(b"get x\r\n"), b"END\r\n");
    let refused = match TlsClient::connect(&server, certs.client_config(Some("foreign-client"))) {
        Err(_) => true,
        Ok(mut c) => c.try_call(b"get x\r\n").is_err(),
    };
    assert!(refused);
}

#[test]
fn ssl_min_version_3_refuses_a_tls12_client() {
    let certs = Certs::new("minver");
    let server = tls_server(&certs, "ssl_min_version=3", &[]);
    let tls12 = certs.client_config_with(None, &[&rustls::version::TLS12]);
    assert!(TlsClient::connect(&server, tls12).is_err());
    let mut c = TlsClient::connect(&server, certs.client_config(None)).unwrap();
    assert_eq!(
        c.tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        c.stat("settings", "ssl_min_version").as_deref(),
        Some("tlsv1.3")
    );
}

#[test]
fn session_cache_counts_new_sessions() {
    let certs = Certs::new("sessions");
    let server = tls_server(&certs, "ssl_session_cache", &[]);
    let config = certs.client_config(None);
    for _ in 0..2 {
        let mut c = TlsClient::connect(&server, config.clone()).unwrap();
        assert_eq!(c.call(b"get x\r\n"), b"END\r\n");
    }
    let mut c = TlsClient::connect(&server, config).unwrap();
    let n: u64 = c.stat("", "ssl_new_sessions").unwrap().parse().unwrap();
    assert!(n >= 2, "ssl_new_sessions {n}");
    assert_eq!(
        c.stat("settings", "ssl_session_cache").as_deref(),
        Some("yes")
    );
}

/// Start-up refuses what cannot work, with one line and exit 64.
#[test]
fn bad_certificate_files_fail_start_up_with_one_line() {
    let certs = Certs::new("bad");
    std::fs::write(certs.dir.join("junk.pem"), "not a certificate\n").unwrap();
    let chain = certs.path("server-one.pem");
    let key = certs.path("server-one.key");
    let cases = [
        (
            format!("ssl_chain_cert=/nonexistent.pem,ssl_key={key}"),
            "certificate chain",
        ),
        (
            format!("ssl_chain_cert={},ssl_key={key}", certs.path("junk.pem")),
            "certificate chain",
        ),
        (
            format!("ssl_chain_cert={chain},ssl_key={}", certs.path("junk.pem")),
            "key",
        ),
        // Another certificate's key.
        (
            format!(
                "ssl_chain_cert={chain},ssl_key={}",
                certs.path("server-two.key")
            ),
            "key",
        ),
        (
            format!("ssl_chain_cert={chain},ssl_key={key},ssl_ciphers=RC4-MD5"),
            "ssl_ciphers",
        ),
        (
            format!("ssl_chain_cert={chain},ssl_key={key},ssl_min_version=1"),
            "TLS 1.0",
        ),
        (
            format!("ssl_chain_cert={chain},ssl_key={key},ssl_verify_mode=2"),
            "ssl_ca_cert",
        ),
    ];
    for (options, words) in cases {
        let out = Command::new(BIN)
            .args(["-p", "0", "-l", "127.0.0.1", "-Z", "-o", &options])
            .args(user_args())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{options}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{options}: {stderr}");
        assert!(stderr.contains(words), "{options}: {stderr}");
    }
}

#[test]
fn refresh_certs_swaps_the_certificate_while_a_client_stays_connected() {
    let certs = Certs::new("refresh");
    // The server reads a copy that the test overwrites.
    std::fs::copy(certs.dir.join("server-one.pem"), certs.dir.join("live.pem")).unwrap();
    std::fs::copy(certs.dir.join("server-one.key"), certs.dir.join("live.key")).unwrap();
    let args = certs.server_args("live", "");
    let server = Server::ferrocache(&["-t", "2", &args[0], &args[1], &args[2]]);
    let config = certs.client_config(None);
    let mut old = TlsClient::connect(&server, config.clone()).unwrap();
    assert_eq!(
        old.server_certificate(),
        der_of(&certs.dir.join("server-one.pem"))
    );
    assert_eq!(old.call(b"set k 0 0 1\r\na\r\n"), b"STORED\r\n");

    std::fs::copy(certs.dir.join("server-two.pem"), certs.dir.join("live.pem")).unwrap();
    std::fs::copy(certs.dir.join("server-two.key"), certs.dir.join("live.key")).unwrap();
    assert_eq!(old.call(b"refresh_certs\r\n"), b"OK\r\n");
    assert_eq!(old.call(b"refresh_certs noreply\r\n"), b"");
    // The open connection goes on; a new one gets the new certificate.
    assert_eq!(old.call(b"get k\r\n"), b"VALUE k 0 1\r\na\r\nEND\r\n");
    let mut new = TlsClient::connect(&server, config.clone()).unwrap();
    assert_eq!(
        new.server_certificate(),
        der_of(&certs.dir.join("server-two.pem"))
    );

    // A broken file: an error line (even with noreply, as memcached), and
    // the certificate in use stays.
    std::fs::write(certs.dir.join("live.pem"), "junk\n").unwrap();
    let reply = String::from_utf8(new.call(b"refresh_certs noreply\r\n")).unwrap();
    assert!(
        reply.starts_with("Error loading the certificate chain: "),
        "{reply}"
    );
    let again = TlsClient::connect(&server, config.clone()).unwrap();
    assert_eq!(
        again.server_certificate(),
        der_of(&certs.dir.join("server-two.pem"))
    );

    // SIGHUP reloads too.
    std::fs::copy(certs.dir.join("server-one.pem"), certs.dir.join("live.pem")).unwrap();
    std::fs::copy(certs.dir.join("server-one.key"), certs.dir.join("live.key")).unwrap();
    server.signal("HUP");
    let one = der_of(&certs.dir.join("server-one.pem"));
    assert!(eventually(Duration::from_secs(5), || {
        TlsClient::connect(&server, config.clone()).is_ok_and(|c| c.server_certificate() == one)
    }));
    assert_eq!(old.call(b"get k\r\n"), b"VALUE k 0 1\r\na\r\nEND\r\n");
}

#[test]
fn refresh_certs_without_tls_says_so_as_memcached_does() {
    let server = Server::ferrocache(&["-t", "1"]);
    let mut c = server.connect();
    assert_eq!(c.call(b"refresh_certs\r\n"), b"Error TLS not enabled\r\n");
    assert_eq!(
        c.call(b"refresh_certs noreply\r\n"),
        b"Error TLS not enabled\r\n"
    );
}

/// A binary request packet.
fn packet(opcode: u8, key: &[u8], extras: &[u8], value: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, opcode];
    p.extend_from_slice(&(key.len() as u16).to_be_bytes());
    p.push(extras.len() as u8);
    p.extend_from_slice(&[0, 0, 0]);
    let body = (extras.len() + key.len() + value.len()) as u32;
    p.extend_from_slice(&body.to_be_bytes());
    p.extend_from_slice(&[0; 12]);
    p.extend_from_slice(extras);
    p.extend_from_slice(key);
    p.extend_from_slice(value);
    p
}

fn response(c: &mut TlsClient) -> (u8, u16, Vec<u8>) {
    let mut header = [0u8; 24];
    c.tls.read_exact(&mut header).expect("a response header");
    assert_eq!(header[0], 0x81);
    let status = u16::from_be_bytes([header[6], header[7]]);
    let len = u32::from_be_bytes(header[8..12].try_into().unwrap()) as usize;
    let mut body = vec![0; len];
    c.tls.read_exact(&mut body).unwrap();
    (header[1], status, body)
}

#[test]
fn binary_protocol_with_sasl_over_tls() {
    let certs = Certs::new("sasl");
    let pwdb = certs.dir.join("pwdb");
    std::fs::write(&pwdb, "alice:secret\n").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["-p", "0", "-l", "127.0.0.1", "-t", "2", "-S"])
        .args(user_args())
        .args(certs.server_args("server-one", ""))
        .env("MEMCACHED_SASL_PWDB", &pwdb);
    let server = Server::from_command(cmd);
    let mut refused = TlsClient::connect(&server, certs.client_config(None)).unwrap();
    refused
        .tls
        .write_all(&packet(0x00, b"k", &[], &[]))
        .unwrap();
    assert_eq!(response(&mut refused).1, 0x20, "refused before login");
    let mut rest = Vec::new();
    assert_eq!(
        refused.tls.read_to_end(&mut rest).ok(),
        Some(0),
        "then closed"
    );
    let mut c = TlsClient::connect(&server, certs.client_config(None)).unwrap();
    c.tls
        .write_all(&packet(0x21, b"PLAIN", &[], b"\0alice\0secret"))
        .unwrap();
    assert_eq!(response(&mut c), (0x21, 0, b"Authenticated".to_vec()));
    c.tls.write_all(&packet(0x01, b"k", &[0; 8], b"v")).unwrap();
    assert_eq!(response(&mut c).1, 0);
    c.tls.write_all(&packet(0x00, b"k", &[], &[])).unwrap();
    let (_, status, body) = response(&mut c);
    assert_eq!((status, &body[4..]), (0, &b"v"[..]));
}

/// rustls never renegotiates: a TLS 1.2 client asking to (`R` in
/// `openssl s_client`) is told `no_renegotiation`, and the server goes on
/// serving others with nothing left open.
#[test]
fn tls12_renegotiation_is_refused() {
    let certs = Certs::new("reneg");
    let server = tls_server(&certs, "", &[]);
    let mut before = TlsClient::connect(&server, certs.client_config(None)).unwrap();
    let baseline = before.stat("", "curr_connections").unwrap();
    let mut child = Command::new("openssl")
        .args(["s_client", "-tls1_2", "-connect", &server.addr.to_string()])
        .args(["-CAfile", &certs.path("ca.pem")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    for (line, pause) in [
        (&b"set a 0 0 1\r\nx\r\n"[..], 500),
        (b"R\n", 500),
        (b"get a\r\n", 500),
    ] {
        let _ = stdin.write_all(line); // s_client exits once refused
        std::thread::sleep(Duration::from_millis(pause));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("STORED") && all.contains("RENEGOTIATING"),
        "{all}"
    );
    assert!(all.contains("no renegotiation"), "{all}");
    assert!(eventually(Duration::from_secs(5), || {
        before.stat("", "curr_connections").as_deref() == Some(baseline.as_str())
    }));
    assert_eq!(before.call(b"get a\r\n"), b"VALUE a 0 1\r\nx\r\nEND\r\n");
}
