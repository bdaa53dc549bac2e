//! TLS with rustls (ring provider), as memcached's `-Z`: the server
//! configuration built from the `ssl_*` settings, swapped whole by
//! `refresh_certs` and SIGHUP (connections already open keep the
//! configuration they started with), and the TLS statistics memcached
//! prints. The event-loop side (records in and out of a socket) is
//! `server/tls.rs`; nothing above the server layer knows about TLS.
//!
//! A leaf: imports only `config`.

mod ciphers;
mod subject;

pub use subject::subject;

use crate::config::{MinVersion, SslSettings};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, StoresServerSessions};
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Sessions the resumption cache keeps (OpenSSL's default cache size,
/// which memcached's `ssl_session_cache` uses).
const SESSION_CACHE_SIZE: usize = 20 * 1024;

/// The process's TLS state.
#[derive(Debug)]
pub struct Tls {
    settings: SslSettings,
    config: RwLock<Arc<ServerConfig>>,
    /// Shared by every configuration, so a refresh keeps resumable sessions.
    sessions: Option<Arc<CountingCache>>,
    handshake_errors: AtomicU64,
    /// Unix time of the last (re)load of the certificates.
    refreshed_at: AtomicU64,
}

impl Tls {
    /// Reads the certificates and key the settings name and builds the
    /// configuration; `Ok(None)` without `-Z`. `Err` is one line, worded
    /// as memcached words it where memcached has the same failure.
    pub fn load(settings: &SslSettings) -> Result<Option<Arc<Tls>>, String> {
        if !settings.enabled {
            return Ok(None);
        }
        let sessions = settings.session_cache.then(|| {
            Arc::new(CountingCache {
                inner: ServerSessionMemoryCache::new(SESSION_CACHE_SIZE),
                new_sessions: AtomicU64::new(0),
            })
        });
        let config = build(settings, sessions.clone())?;
        Ok(Some(Arc::new(Tls {
            settings: settings.clone(),
            config: RwLock::new(Arc::new(config)),
            sessions,
            handshake_errors: AtomicU64::new(0),
            refreshed_at: AtomicU64::new(unix_now()),
        })))
    }

    /// The configuration a new connection starts with.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// `refresh_certs`, SIGHUP: reads the chain, key and CA files again;
    /// new connections use them, open ones are left alone. On failure
    /// the configuration in use stays.
    pub fn refresh(&self) -> Result<(), String> {
        let config = build(&self.settings, self.sessions.clone())?;
        *self
            .config
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(config);
        self.refreshed_at.store(unix_now(), Ordering::Relaxed);
        Ok(())
    }

    /// The settings it was built from.
    pub fn settings(&self) -> &SslSettings {
        &self.settings
    }

    /// Counts a failed handshake (`ssl_handshake_errors`).
    pub fn handshake_failed(&self) {
        self.handshake_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// `ssl_handshake_errors`.
    pub fn handshake_errors(&self) -> u64 {
        self.handshake_errors.load(Ordering::Relaxed)
    }

    /// `ssl_new_sessions`: sessions stored for resumption; `None` without
    /// `ssl_session_cache` (memcached prints the line only with it).
    pub fn new_sessions(&self) -> Option<u64> {
        self.sessions
            .as_ref()
            .map(|s| s.new_sessions.load(Ordering::Relaxed))
    }

    /// `time_since_server_cert_refresh`, in seconds.
    pub fn since_refresh(&self) -> u64 {
        unix_now().saturating_sub(self.refreshed_at.load(Ordering::Relaxed))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Builds a server configuration from the settings and the files.
fn build(s: &SslSettings, sessions: Option<Arc<CountingCache>>) -> Result<ServerConfig, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = ciphers::select(&provider.cipher_suites, s.ciphers.as_deref())?;
    let provider: Arc<CryptoProvider> = Arc::new(provider);
    let versions: &[&rustls::SupportedProtocolVersion] = match s.min_version {
        MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("ssl_ciphers: no suite left for the TLS versions allowed: {e}"))?;
    let builder = if s.verify_mode == 0 {
        builder.with_no_client_auth()
    } else {
        let path = s
            .ca_cert
            .as_deref()
            .ok_or("ssl_verify_mode needs ssl_ca_cert")?;
        let mut roots = RootCertStore::empty();
        for cert in certificates(path, "CA certificate")? {
            roots.add(cert).map_err(|e| {
                format!("Error loading the CA certificate: {} : {e}", path.display())
            })?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        // 1 asks for a certificate and checks one that is sent; 2 and 3
        // require one (3, OpenSSL's "once", is 2 here: rustls never
        // renegotiates, so there is no second handshake to skip).
        let verifier = if s.verify_mode == 1 {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        let verifier = verifier
            .build()
            .map_err(|e| format!("Error loading the CA certificate: {} : {e}", path.display()))?;
        builder.with_client_cert_verifier(verifier)
    };
    let chain_path = s.chain_cert.as_deref().ok_or("-Z needs ssl_chain_cert")?;
    let key_path = s.key.as_deref().ok_or("-Z needs ssl_key")?;
    let chain = certificates(chain_path, "certificate chain")?;
    let key = private_key(key_path, s.keyformat)?;
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "Error loading the key: {} : {e} (does it belong to {}?)",
            key_path.display(),
            chain_path.display()
        )
    })?;
    match sessions {
        Some(cache) => config.session_storage = cache,
        None => {
            config.session_storage = Arc::new(NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
    }
    Ok(config)
}

/// Every certificate in a PEM file; none is an error.
fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail =
        |e: &dyn std::fmt::Display| format!("Error loading the {what}: {} : {e}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&e))?;
    if certs.is_empty() {
        return Err(fail(&"no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The private key: PEM (PKCS#8, PKCS#1 or SEC1) or, with
/// `ssl_keyformat=2`, DER.
fn private_key(path: &Path, keyformat: u32) -> Result<PrivateKeyDer<'static>, String> {
    let fail =
        |e: &dyn std::fmt::Display| format!("Error loading the key: {} : {e}", path.display());
    if keyformat == 2 {
        let der = std::fs::read(path).map_err(|e| fail(&e))?;
        return PrivateKeyDer::try_from(der).map_err(|e| fail(&e));
    }
    PrivateKeyDer::from_pem_file(path).map_err(|e| fail(&e))
}

/// rustls's in-memory session cache, counting the sessions it stores
/// (`ssl_new_sessions`).
#[derive(Debug)]
struct CountingCache {
    inner: Arc<ServerSessionMemoryCache>,
    new_sessions: AtomicU64,
}

impl StoresServerSessions for CountingCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let stored = self.inner.put(key, value);
        if stored {
            self.new_sessions.fetch_add(1, Ordering::Relaxed);
        }
        stored
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.take(key)
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}
