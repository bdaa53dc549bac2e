//! What every session of a server shares: which protocols clients may
//! speak (`-B`, settled with `-S` and `-Y`) and the credentials they log
//! in with. Credentials are read once at start-up (a bad file stops the
//! server with one line) and again on SIGHUP; a reload that fails keeps
//! the credentials in force.

use crate::auth::{Format, Mechanism, SaslServer, SharedCredentials};
use crate::config::{BindingProtocol, Settings};
use std::path::PathBuf;

/// The protocols and credentials of a server.
#[derive(Debug)]
pub struct Gate {
    /// Which protocols clients may speak.
    pub protocol: BindingProtocol,
    /// The credentials clients log in with: text clients before any
    /// command when there is no SASL (`-Y`), binary clients through SASL
    /// (`-S`).
    pub credentials: Option<SharedCredentials>,
    /// The SASL mechanisms and exchanges (`-S`).
    pub sasl: Option<SaslServer>,
}

impl Gate {
    /// Open to everyone in every protocol `protocol` allows.
    pub fn open(protocol: BindingProtocol) -> Gate {
        Gate {
            protocol,
            credentials: None,
            sasl: None,
        }
    }

    /// The gate `settings` ask for, its credentials loaded: SASL checks
    /// against `sasl_pwdb` (memcached's `MEMCACHED_SASL_PWDB`) or else
    /// `-Y`'s file. `Err` is one line for the operator.
    pub fn from_settings(settings: &Settings, sasl_pwdb: Option<PathBuf>) -> Result<Gate, String> {
        let mut gate = Gate::open(settings.protocol);
        let auth = &settings.auth;
        if auth.sasl {
            let (path, format) = match (sasl_pwdb, &auth.auth_file) {
                (Some(pwdb), _) => (pwdb, Format::SaslPwdb),
                (None, Some(file)) => (file.clone(), Format::AuthFile),
                (None, None) => {
                    return Err(
                        "-S: no credentials: set MEMCACHED_SASL_PWDB to a user:password file, or give -Y FILE"
                            .into(),
                    )
                }
            };
            let credentials = SharedCredentials::open(&path, format)
                .map_err(|e| format!("-S: {}: {e}", path.display()))?;
            gate.sasl = Some(SaslServer::new(credentials.clone(), &Mechanism::ALL));
            gate.credentials = Some(credentials);
        } else if let Some(file) = &auth.auth_file {
            let credentials = SharedCredentials::open(file, Format::AuthFile)
                .map_err(|e| format!("-Y {}: {e}", file.display()))?;
            gate.credentials = Some(credentials);
        }
        Ok(gate)
    }

    /// SIGHUP: reads the credentials file again. Returns a line for the
    /// log (what was loaded, or why the old credentials stay), or `None`
    /// when there is no file.
    pub fn reload(&self) -> Option<Result<String, String>> {
        let credentials = self.credentials.as_ref()?;
        let path = credentials
            .path()
            .map_or_else(|| "(none)".into(), |p| p.display().to_string());
        Some(match credentials.reload() {
            Ok(now) => Ok(format!("credentials {path}: {} users", now.len())),
            Err(e) => Err(format!(
                "credentials {path}: {e}; the previous credentials stay"
            )),
        })
    }

    /// The credentials text clients must log in with first (`-Y`
    /// without `-S`), if any.
    pub fn ascii_login(&self) -> Option<&SharedCredentials> {
        self.credentials.as_ref().filter(|_| self.sasl.is_none())
    }
}
