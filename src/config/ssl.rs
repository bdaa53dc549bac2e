//! `-Z` and the `-o ssl_*` keys: memcached's TLS settings, checked here as
//! text and numbers; the files they name are read when the server starts
//! (`tls::Tls::load`), so a bad certificate fails start-up with one line.

use super::Notice;
use std::path::PathBuf;

/// The oldest TLS version a client may use (`ssl_min_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinVersion {
    /// TLS 1.2 (memcached's default, `ssl_min_version=2`).
    Tls12,
    /// TLS 1.3 only (`ssl_min_version=3`).
    Tls13,
}

impl MinVersion {
    /// As `stats settings` prints it.
    pub fn name(self) -> &'static str {
        match self {
            MinVersion::Tls12 => "tlsv1.2",
            MinVersion::Tls13 => "tlsv1.3",
        }
    }
}

/// memcached's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslSettings {
    /// `-Z`: TCP listeners speak TLS (except `notls:` ones).
    pub enabled: bool,
    /// `ssl_chain_cert`: the server's certificate chain (PEM).
    pub chain_cert: Option<PathBuf>,
    /// `ssl_key`: the server's private key.
    pub key: Option<PathBuf>,
    /// `ssl_keyformat`: 1 for PEM (the default), 2 for DER (ASN.1).
    pub keyformat: u32,
    /// `ssl_ca_cert`: the roots client certificates are verified against.
    pub ca_cert: Option<PathBuf>,
    /// `ssl_verify_mode`: 0 none, 1 request, 2 require, 3 once.
    pub verify_mode: u8,
    /// `ssl_min_version`.
    pub min_version: MinVersion,
    /// `ssl_ciphers`: an OpenSSL-style list, mapped to rustls suites.
    pub ciphers: Option<String>,
    /// `ssl_session_cache`: server-side session resumption.
    pub session_cache: bool,
    /// `ssl_wbuf_size` in bytes (shown in `stats settings`; rustls sizes
    /// its own buffers).
    pub wbuf_size: u32,
}

impl Default for SslSettings {
    fn default() -> Self {
        SslSettings {
            enabled: false,
            chain_cert: None,
            key: None,
            keyformat: 1,
            ca_cert: None,
            verify_mode: 0,
            min_version: MinVersion::Tls12,
            ciphers: None,
            session_cache: false,
            wbuf_size: 16 * 1024,
        }
    }
}

/// Applies one `-o ssl_*` key; `None` if `key` is not one of them.
pub(super) fn apply(
    s: &mut SslSettings,
    notices: &mut Vec<Notice>,
    key: &str,
    value: Option<&str>,
) -> Option<Result<(), String>> {
    let text = |v: Option<&str>| {
        v.filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("Missing {key} argument: give {key}=VALUE"))
    };
    let result = match key {
        "ssl_chain_cert" => text(value).map(|v| s.chain_cert = Some(v.into())),
        "ssl_key" => text(value).map(|v| s.key = Some(v.into())),
        "ssl_ca_cert" => text(value).map(|v| s.ca_cert = Some(v.into())),
        "ssl_ciphers" => text(value).map(|v| s.ciphers = Some(v)),
        "ssl_session_cache" => {
            s.session_cache = true;
            Ok(())
        }
        "ssl_verify_mode" => number(key, value, 0, 3).map(|n| s.verify_mode = n as u8),
        "ssl_keyformat" => number(key, value, 1, 2).map(|n| s.keyformat = n as u32),
        "ssl_wbuf_size" => number(key, value, 1, u64::from(u32::MAX) / 1024).map(|kb| {
            s.wbuf_size = (kb * 1024) as u32;
            notices.push(Notice::warn(format!(
                "-o {key}={kb}: no effect here: rustls sizes its own record buffers"
            )));
        }),
        "ssl_kernel_tls" => {
            notices.push(Notice::warn(format!(
                "-o {key}: no effect here: records are encrypted in the process (rustls), not by the kernel"
            )));
            Ok(())
        }
        "ssl_min_version" => min_version(value).map(|v| s.min_version = v),
        _ => return None,
    };
    Some(result)
}

/// Checks what only makes sense together, once every option is read.
pub(super) fn finish(s: &SslSettings, notices: &mut Vec<Notice>) -> Result<(), String> {
    if !s.enabled {
        if let Some(chain) = &s.chain_cert {
            notices.push(Notice::warn(format!(
                "-o ssl_chain_cert={}: no effect without -Z: every listener speaks plaintext",
                chain.display()
            )));
        }
        return Ok(());
    }
    if s.chain_cert.is_none() {
        return Err("-Z: give the certificate chain with -o ssl_chain_cert=FILE".into());
    }
    if s.key.is_none() {
        return Err("-Z: give the private key with -o ssl_key=FILE".into());
    }
    if s.verify_mode > 0 && s.ca_cert.is_none() {
        return Err(format!(
            "-o ssl_verify_mode={}: give the roots client certificates are checked against with -o ssl_ca_cert=FILE",
            s.verify_mode
        ));
    }
    Ok(())
}

fn number(key: &str, value: Option<&str>, min: u64, max: u64) -> Result<u64, String> {
    let v = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("Missing {key} argument: give {key}=VALUE"))?;
    v.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{key}={v}: give a whole number from {min} to {max}"))
}

/// memcached takes 0 to 3 (TLS 1.0 to 1.3); the names are accepted too.
/// rustls has neither TLS 1.0 nor 1.1, so those are refused.
fn min_version(value: Option<&str>) -> Result<MinVersion, String> {
    match value.unwrap_or("") {
        "2" | "tlsv1.2" | "TLSv1.2" => Ok(MinVersion::Tls12),
        "3" | "tlsv1.3" | "TLSv1.3" => Ok(MinVersion::Tls13),
        v @ ("0" | "1" | "tlsv1" | "tlsv1.0" | "tlsv1.1" | "TLSv1" | "TLSv1.1") => Err(format!(
            "ssl_min_version={v}: TLS 1.0 and 1.1 are not offered (rustls has neither): give 2 (TLS 1.2) or 3 (TLS 1.3)"
        )),
        v => Err(format!(
            "ssl_min_version={v}: give 2 (tlsv1.2) or 3 (tlsv1.3)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(options: &[(&str, Option<&str>)]) -> Result<SslSettings, String> {
        let mut s = SslSettings::default();
        let mut notices = Vec::new();
        for (k, v) in options {
            apply(&mut s, &mut notices, k, *v).expect("an ssl key")?;
        }
        Ok(s)
    }

    #[test]
    fn min_version_takes_memcacheds_numbers_and_names_and_refuses_old_tls() {
        assert_eq!(
            set(&[("ssl_min_version", Some("3"))]).unwrap().min_version,
            MinVersion::Tls13
        );
        assert_eq!(
            set(&[("ssl_min_version", Some("tlsv1.2"))])
                .unwrap()
                .min_version,
            MinVersion::Tls12
        );
        for old in ["0", "1", "tlsv1.1"] {
            let e = set(&[("ssl_min_version", Some(old))]).unwrap_err();
            assert!(e.contains("rustls has neither"), "{e}");
        }
        assert!(set(&[("ssl_min_version", Some("4"))]).is_err());
    }

    #[test]
    fn verify_mode_and_keyformat_ranges() {
        assert_eq!(
            set(&[("ssl_verify_mode", Some("3"))]).unwrap().verify_mode,
            3
        );
        assert!(set(&[("ssl_verify_mode", Some("4"))]).is_err());
        assert!(set(&[("ssl_keyformat", Some("3"))]).is_err());
        assert!(set(&[("ssl_key", None)]).is_err());
    }

    #[test]
    fn dash_z_needs_a_chain_a_key_and_for_verification_a_ca() {
        let mut notices = Vec::new();
        let mut s = SslSettings {
            enabled: true,
            ..SslSettings::default()
        };
        assert!(finish(&s, &mut notices)
            .unwrap_err()
            .contains("ssl_chain_cert"));
        s.chain_cert = Some("c.pem".into());
        assert!(finish(&s, &mut notices).unwrap_err().contains("ssl_key"));
        s.key = Some("k.pem".into());
        finish(&s, &mut notices).unwrap();
        s.verify_mode = 2;
        assert!(finish(&s, &mut notices)
            .unwrap_err()
            .contains("ssl_ca_cert"));
        s.ca_cert = Some("ca.pem".into());
        finish(&s, &mut notices).unwrap();
    }
}
