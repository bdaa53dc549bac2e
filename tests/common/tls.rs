//! TLS helpers for the integration tests: certificates made at test time
//! with Debian's `openssl` command (a CA, two server certificates, a
//! client certificate, and a client certificate from a foreign CA), and a
//! blocking rustls client.

use super::Server;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// A directory of certificates, removed on drop.
pub struct Certs {
    /// Where the files are.
    pub dir: PathBuf,
}

impl Certs {
    /// Makes a CA, `server-one` and `server-two` (both for 127.0.0.1,
    /// signed by the CA), `client` (CN=tls-test-client, signed by the
    /// CA) and `foreign-client` (signed by another CA).
    pub fn new(name: &str) -> Certs {
        let dir =
            std::env::temp_dir().join(format!("ferrocache-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let certs = Certs { dir };
        certs.ca("ca", "ferrocache-test-ca");
        certs.ca("foreign-ca", "foreign-test-ca");
        certs.leaf("server-one", "server-one", "ca", true);
        certs.leaf("server-two", "server-two", "ca", true);
        certs.leaf("client", "tls-test-client", "ca", false);
        certs.leaf("foreign-client", "foreign-client", "foreign-ca", false);
        certs
    }

    /// The path of `NAME.pem` (certificate) or `NAME.key`.
    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_string()
    }

    /// `-Z -o ssl_chain_cert=...,ssl_key=...` for `server` plus `extra` keys.
    pub fn server_args(&self, server: &str, extra: &str) -> Vec<String> {
        let mut o = format!(
            "ssl_chain_cert={},ssl_key={}",
            self.path(&format!("{server}.pem")),
            self.path(&format!("{server}.key"))
        );
        if !extra.is_empty() {
            o.push(',');
            o.push_str(extra);
        }
        vec!["-Z".into(), "-o".into(), o]
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("openssl is installed (apt-get install -y openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ca(&self, name: &str, cn: &str) {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn}"),
        ]);
    }

    fn leaf(&self, name: &str, cn: &str, ca: &str, server: bool) {
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}/O=ferrocache tests"),
        ]);
        let ext = if server {
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        } else {
            "extendedKeyUsage=clientAuth\n"
        };
        std::fs::write(self.dir.join(format!("{name}.ext")), ext).unwrap();
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ]);
    }

    /// A client configuration trusting the test CA, presenting `client`
    /// (a name such as "client") if given.
    pub fn client_config(&self, client: Option<&str>) -> Arc<ClientConfig> {
        self.client_config_with(client, rustls::ALL_VERSIONS)
    }

    /// [`Certs::client_config`] limited to `versions`.
    pub fn client_config_with(
        &self,
        client: Option<&str>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.dir.join("ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some(name) => {
                let chain = CertificateDer::pem_file_iter(self.dir.join(format!("{name}.pem")))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let key =
                    PrivateKeyDer::from_pem_file(self.dir.join(format!("{name}.key"))).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
        };
        Arc::new(config)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A blocking TLS client.
pub struct TlsClient {
    /// The TLS stream.
    pub tls: StreamOwned<ClientConnection, TcpStream>,
}

impl TlsClient {
    /// Connects and completes the handshake, or says why it failed.
    pub fn connect(server: &Server, config: Arc<ClientConfig>) -> Result<TlsClient, String> {
        let tcp = TcpStream::connect(server.addr).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| e.to_string())?;
        }
        // TLS 1.3: a refused client certificate shows only on first use.
        Ok(TlsClient { tls })
    }

    /// Sends `request` and returns exactly the reply, with a trailing
    /// `version` as the fence (as `Client::call`).
    pub fn call(&mut self, request: &[u8]) -> Vec<u8> {
        self.try_call(request).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`TlsClient::call`], or what went wrong.
    pub fn try_call(&mut self, request: &[u8]) -> Result<Vec<u8>, String> {
        let mut bytes = request.to_vec();
        bytes.extend_from_slice(b"version\r\n");
        self.tls
            .write_all(&bytes)
            .map_err(|e| format!("write: {e}"))?;
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            if let Some(pos) = fence(&out) {
                out.truncate(pos);
                return Ok(out);
            }
            match self.tls.read(&mut buf) {
                Ok(0) => return Err(format!("closed after {:?}", String::from_utf8_lossy(&out))),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => {
                    return Err(format!(
                        "read: {e} after {:?}",
                        String::from_utf8_lossy(&out)
                    ))
                }
            }
        }
    }

    /// The server certificate's DER.
    pub fn server_certificate(&self) -> Vec<u8> {
        self.tls.conn.peer_certificates().unwrap()[0].to_vec()
    }

    /// One `STAT name value` of `stats` (or `stats settings` with `group`).
    pub fn stat(&mut self, group: &str, name: &str) -> Option<String> {
        let listing = self.call(format!("stats {group}\r\n").as_bytes());
        let prefix = format!("STAT {name} ");
        String::from_utf8_lossy(&listing)
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
    }
}

fn fence(out: &[u8]) -> Option<usize> {
    if !out.ends_with(b"\r\n") {
        return None;
    }
    let body = &out[..out.len() - 2];
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    body[start..].starts_with(b"VERSION ").then_some(start)
}

/// The DER of the certificate in a PEM file.
pub fn der_of(path: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}
