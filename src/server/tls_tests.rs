//! The TLS transport over a real socket pair with a small send buffer and
//! a rustls client in the same thread, driven step by step: what the
//! transport reports is checked at the moment it matters.

use super::super::transport::{Readiness, Received, Stream, Transport};
use super::TlsSession;
use crate::config::SslSettings;
use crate::tls::Tls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// Accepts any server certificate: the test checks the transport, not
/// certificate verification (tests/tls.rs does that end to end).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A server configuration from a key and self-signed certificate made by
/// Debian's `openssl` in `dir`.
fn server_tls(dir: &Path) -> Arc<Tls> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .output()
        .expect("openssl is installed (apt-get install -y openssl)");
    assert!(out.status.success(), "openssl req: {out:?}");
    let settings = SslSettings {
        enabled: true,
        chain_cert: Some(dir.join("cert.pem")),
        key: Some(dir.join("key.pem")),
        ..SslSettings::default()
    };
    Tls::load(&settings)
        .expect("certificates load")
        .expect("-Z")
}

fn client() -> ClientConnection {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from("localhost")
        .expect("a name")
        .to_owned();
    ClientConnection::new(Arc::new(config), name).expect("a client")
}

/// Moves the client's records to the server and back until neither has
/// anything to say; returns the plaintext the client received.
fn exchange(transport: &mut Transport, c: &mut ClientConnection, sock: &mut UnixStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..64 {
        while c.wants_write() {
            c.write_tls(sock).expect("client writes");
        }
        transport.on_readiness(Readiness {
            readable: true,
            hangup: false,
        });
        while let Received::Data(_) = transport.read(&mut buf).expect("server reads") {}
        transport.push().expect("server pushes");
        match c.read_tls(sock) {
            Ok(_) => {
                c.process_new_packets().expect("client processes");
                let mut plain = Vec::new();
                match c.reader().read_to_end(&mut plain) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("client reads: {e}"),
                }
                got.extend_from_slice(&plain);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !c.wants_write() && !transport.wants_write() && !c.is_handshaking() {
                    break;
                }
            }
            Err(e) => panic!("client reads records: {e}"),
        }
    }
    got
}

/// A reply that rustls takes whole while the socket takes only part of
/// it: the records left behind are announced by `wants_write`, the only
/// thing that keeps the worker asking for writable events once no reply
/// byte is left unsent, and they all reach the client as the socket
/// drains.
#[test]
fn records_rustls_holds_keep_the_transport_wanting_to_write() {
    let dir = std::env::temp_dir().join(format!("ferrocache-tls-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tls = server_tls(&dir);
    let (server, mut sock) = UnixStream::pair().unwrap();
    socket2::SockRef::from(&server)
        .set_send_buffer_size(4096)
        .unwrap();
    server.set_nonblocking(true).unwrap();
    sock.set_nonblocking(true).unwrap();
    let stream = Stream::Unix(mio::net::UnixStream::from_std(server));
    let mut transport = Transport::with_tls(stream, TlsSession::new(tls, 7).unwrap());
    let mut c = client();
    exchange(&mut transport, &mut c, &mut sock);
    assert!(!c.is_handshaking(), "the handshake completes");
    assert!(
        !transport.wants_write(),
        "nothing pending after the handshake"
    );

    let reply: Vec<u8> = (0..48 * 1024).map(|i| (i % 251) as u8).collect();
    let mut taken = 0;
    while taken < reply.len() {
        let n = transport.write(&reply[taken..]).unwrap();
        assert!(n > 0, "rustls takes the whole reply ({taken} bytes so far)");
        taken += n;
    }
    assert!(
        transport.wants_write(),
        "the socket took part of the records; the rest wait in rustls"
    );

    let got = exchange(&mut transport, &mut c, &mut sock);
    assert_eq!(got.len(), reply.len(), "every reply byte arrives");
    assert!(got == reply, "in order");
    assert!(!transport.wants_write(), "nothing left once delivered");
    std::fs::remove_dir_all(&dir).ok();
}
