//! How TLS connections end, and what a TLS port makes of junk: every
//! pattern is repeated against the release binary and must leave no
//! connection counted in `curr_connections`, no socket of the TLS port in
//! CLOSE-WAIT, and a server that still serves (as `lifecycle.rs` for
//! plaintext). The figures are read on a `notls:` listener beside it.

mod common;

use common::tls::{Certs, TlsClient};
use common::{close_wait_count, eventually, try_call, Server};
use rustls::pki_types::ServerName;
use rustls::ClientConnection;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// How often each pattern is repeated (each costs a handshake).
const TRIES: usize = 200;

const SETTLE: Duration = Duration::from_secs(10);

struct Fixture {
    certs: Certs,
    server: Server,
    plain: SocketAddr,
}

fn fixture(name: &str) -> Fixture {
    let certs = Certs::new(name);
    let port = common::free_port();
    let notls = format!("notls:127.0.0.1:{port}");
    let args = certs.server_args("server-one", "");
    let server = Server::ferrocache(&[
        "-t", "2", "-c", "4096", "-l", &notls, &args[0], &args[1], &args[2],
    ]);
    let plain = format!("127.0.0.1:{port}").parse().unwrap();
    Fixture {
        certs,
        server,
        plain,
    }
}

impl Fixture {
    fn curr_connections(&self) -> u64 {
        let listing = try_call(self.plain, b"stats\r\n").unwrap();
        String::from_utf8_lossy(&listing)
            .lines()
            .find_map(|l| l.strip_prefix("STAT curr_connections "))
            .unwrap()
            .parse()
            .unwrap()
    }

    fn tls(&self) -> TlsClient {
        TlsClient::connect(&self.server, self.certs.client_config(None)).unwrap()
    }

    /// The first bytes of a client's handshake (its ClientHello).
    fn client_hello(&self) -> Vec<u8> {
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut conn = ClientConnection::new(self.certs.client_config(None), name).unwrap();
        let mut hello = Vec::new();
        conn.write_tls(&mut hello).unwrap();
        hello
    }

    fn assert_no_leak(&self, pattern: &str, tries: usize, mut client: impl FnMut(usize)) {
        let baseline = self.curr_connections();
        for i in 0..tries {
            client(i);
        }
        let port = self.server.addr.port();
        let mut left = (0, 0);
        let settled = eventually(SETTLE, || {
            left = (
                self.curr_connections().saturating_sub(baseline),
                close_wait_count(port),
            );
            left == (0, 0)
        });
        assert!(
            settled,
            "{pattern}: after {tries} clients, {} connections still counted and {} sockets in CLOSE-WAIT",
            left.0, left.1
        );
        let mut c = self.tls();
        assert_eq!(
            c.call(b"set alive 0 0 1\r\ny\r\n"),
            b"STORED\r\n",
            "{pattern}"
        );
    }
}

fn reset(s: &TcpStream) {
    socket2::SockRef::from(s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

#[test]
fn requests_then_close_notify_or_fin_or_rst() {
    let f = fixture("ends");
    f.assert_no_leak("request + close_notify / FIN / RST", TRIES, |i| {
        let mut c = f.tls();
        c.tls
            .write_all(b"set k 0 0 1 noreply\r\nx\r\nget k\r\n")
            .unwrap();
        c.tls.flush().unwrap();
        match i % 3 {
            0 => {
                c.tls.conn.send_close_notify();
                let _ = c.tls.conn.complete_io(&mut c.tls.sock);
            }
            1 => {}
            _ => reset(&c.tls.sock),
        }
    });
    let mut c = f.tls();
    assert_eq!(c.call(b"get k\r\n"), b"VALUE k 0 1\r\nx\r\nEND\r\n");
}

#[test]
fn fin_or_rst_in_the_middle_of_the_handshake() {
    let f = fixture("mid-handshake");
    let hello = f.client_hello();
    f.assert_no_leak("partial ClientHello + FIN / RST", TRIES, |i| {
        let mut s = TcpStream::connect(f.server.addr).unwrap();
        let cut = [0, 1, 5, hello.len() / 2, hello.len()][i % 5];
        s.write_all(&hello[..cut]).unwrap();
        if i % 2 == 1 {
            reset(&s);
        }
    });
}

/// A half-closed TLS client gets every reply, then close_notify and EOF.
#[test]
fn half_close_after_a_pipeline_gets_every_reply_then_eof() {
    let f = fixture("half-close");
    let mut pipeline = Vec::new();
    let mut expected = Vec::new();
    for k in 0..20 {
        pipeline
            .extend_from_slice(format!("set k{k} 0 0 2\r\nv{}\r\nget k{k}\r\n", k % 10).as_bytes());
        expected.extend_from_slice(
            format!("STORED\r\nVALUE k{k} 0 2\r\nv{}\r\nEND\r\n", k % 10).as_bytes(),
        );
    }
    f.assert_no_leak("pipeline + half-close", TRIES / 2, |i| {
        let mut c = f.tls();
        c.tls.write_all(&pipeline).unwrap();
        if i % 2 == 0 {
            c.tls.conn.send_close_notify();
        }
        while c.tls.conn.wants_write() {
            c.tls.conn.write_tls(&mut c.tls.sock).unwrap();
        }
        c.tls.sock.shutdown(Shutdown::Write).unwrap();
        let mut replies = Vec::new();
        c.tls
            .read_to_end(&mut replies)
            .expect("replies, then close_notify");
        assert_eq!(
            String::from_utf8_lossy(&replies),
            String::from_utf8_lossy(&expected)
        );
    });
}

/// A client that asks for more than the buffers hold and never reads
/// keeps neither the worker nor other clients waiting, and is let go when
/// it closes or resets.
#[test]
fn a_client_that_never_reads() {
    let f = fixture("never-reads");
    let mut setup = f.tls();
    let mut set = b"set big 0 0 500000\r\n".to_vec();
    set.extend(std::iter::repeat_n(b'v', 500_000));
    set.extend_from_slice(b"\r\n");
    assert_eq!(setup.call(&set), b"STORED\r\n");
    let requests = b"get big\r\n".repeat(20);
    // One stuck reader, and another client served meanwhile (both
    // workers: -t 2, and clients go round robin).
    let mut stuck = Vec::new();
    for _ in 0..4 {
        let mut c = f.tls();
        c.tls.write_all(&requests).unwrap();
        stuck.push(c);
    }
    for _ in 0..4 {
        let mut other = f.tls();
        assert_eq!(other.call(b"get nothing\r\n"), b"END\r\n");
    }
    drop(stuck);
    f.assert_no_leak("unread replies + close / RST", 40, |i| {
        let mut c = f.tls();
        c.tls.write_all(&requests).unwrap();
        if i % 2 == 1 {
            reset(&c.tls.sock);
        }
    });
}

/// Junk on a TLS port: plaintext, random bytes, a ClientHello with its
/// bytes flipped, and records of junk after a good handshake. Each
/// connection is closed; nothing leaks; other clients are served.
#[test]
fn junk_records_and_plaintext_noise() {
    let f = fixture("junk");
    let hello = f.client_hello();
    let mut keeper = f.tls();
    f.assert_no_leak("junk", TRIES, |i| {
        match i % 4 {
            0 => {
                let mut s = TcpStream::connect(f.server.addr).unwrap();
                let noise: Vec<u8> = (0..1 + fastrand::usize(..4000))
                    .map(|_| fastrand::u8(..))
                    .collect();
                let _ = s.write_all(&noise);
            }
            1 => {
                let mut s = TcpStream::connect(f.server.addr).unwrap();
                let mut bad = hello.clone();
                let at = fastrand::usize(..bad.len());
                bad[at] ^= 1 << fastrand::u8(..8);
                let _ = s.write_all(&bad);
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.read(&mut [0u8; 4096]);
            }
            2 => {
                let mut c = f.tls();
                // An application-data record the server cannot decrypt.
                let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x40];
                record.extend((0..0x40).map(|_| fastrand::u8(..)));
                let _ = c.tls.sock.write_all(&record);
                let mut rest = Vec::new();
                let _ = c.tls.sock.read_to_end(&mut rest);
            }
            _ => {
                let mut s = TcpStream::connect(f.server.addr).unwrap();
                let _ = s.write_all(b"get k\r\nstats\r\n");
                let mut reply = Vec::new();
                let _ = s.read_to_end(&mut reply);
                assert_eq!(reply, b"CLIENT_ERROR this port requires TLS\r\n");
            }
        }
    });
    assert_eq!(
        keeper.call(b"get alive\r\n"),
        b"VALUE alive 0 1\r\ny\r\nEND\r\n"
    );
}

/// A client that reads slowly gets every byte: the last records of a
/// reply, held by rustls after the socket filled up, go out on the
/// writable edge (the transport asks for writability while rustls holds
/// records, not only while replies wait to be encrypted).
#[test]
fn a_slow_reader_gets_every_byte() {
    let f = fixture("slow-reader");
    let mut c = f.tls();
    let mut set = b"set big 0 0 500000\r\n".to_vec();
    set.extend(std::iter::repeat_n(b'v', 500_000));
    set.extend_from_slice(b"\r\n");
    assert_eq!(c.call(&set), b"STORED\r\n");
    let want = 20 * ("VALUE big 0 500000\r\n".len() + 500_002 + 5);
    for _ in 0..3 {
        // Nothing is sent after the requests: no readable event may push
        // the server's last records out.
        c.tls.write_all(&b"get big\r\n".repeat(20)).unwrap();
        c.tls.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let mut got = vec![0u8; want];
        c.tls.read_exact(&mut got).expect("every reply byte");
        assert!(got.ends_with(b"END\r\n"));
    }
}
