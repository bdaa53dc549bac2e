//! Which protocols the server speaks and how clients authenticate (`-B`,
//! `-S`, `-Y`), combined by memcached's rules: SASL works only in the
//! binary protocol, so `-S` makes the server binary-only and refuses an
//! explicit `-B auto` or `-B ascii`; ascii authentication (`-Y`) makes it
//! text-only and refuses `-B auto` or `-B binary`. With both, `-S` wins,
//! as in memcached.

use std::path::PathBuf;

/// The protocols a server accepts (`-B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingProtocol {
    /// Each connection's first byte decides (0x80: binary).
    Auto,
    /// The text protocols only (classic and meta).
    Ascii,
    /// The binary protocol only.
    Binary,
}

impl BindingProtocol {
    /// memcached's name (`stats settings` `binding_protocol`).
    pub fn name(self) -> &'static str {
        match self {
            BindingProtocol::Auto => "auto-negotiate",
            BindingProtocol::Ascii => "ascii",
            BindingProtocol::Binary => "binary",
        }
    }
}

/// How clients authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthSettings {
    /// `-S`: binary clients authenticate with SASL.
    pub sasl: bool,
    /// `-Y FILE`: the `user:password` file; text clients log in with it
    /// (ascii authentication) unless `-S` is given, when SASL checks
    /// against it instead (if `MEMCACHED_SASL_PWDB` names no other file).
    pub auth_file: Option<PathBuf>,
}

impl AuthSettings {
    /// Whether text clients must log in (`-Y` without `-S`).
    pub fn ascii(&self) -> bool {
        self.auth_file.is_some() && !self.sasl
    }
}

/// `-B` as given (`None`: not given), checked against `-S` and `-Y`.
pub fn resolve(given: Option<&str>, auth: &AuthSettings) -> Result<BindingProtocol, String> {
    let given = match given {
        None => None,
        Some("auto") => Some(BindingProtocol::Auto),
        Some("ascii") => Some(BindingProtocol::Ascii),
        Some("binary") => Some(BindingProtocol::Binary),
        Some(other) => {
            return Err(format!(
                "Invalid value for binding protocol: {other} -- should be one of auto, binary, or ascii"
            ))
        }
    };
    if auth.sasl {
        return match given {
            None | Some(BindingProtocol::Binary) => Ok(BindingProtocol::Binary),
            Some(_) => Err("ERROR: You cannot allow the ASCII protocol while using SASL.".into()),
        };
    }
    if auth.ascii() {
        return match given {
            None | Some(BindingProtocol::Ascii) => Ok(BindingProtocol::Ascii),
            Some(_) => Err(
                "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens."
                    .into(),
            ),
        };
    }
    Ok(given.unwrap_or(BindingProtocol::Auto))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(sasl: bool, file: bool) -> AuthSettings {
        AuthSettings {
            sasl,
            auth_file: file.then(|| "/etc/auth".into()),
        }
    }

    /// memcached 1.6.18's answers, measured: `-S` alone is binary, `-S -B
    /// auto|ascii` refused; `-Y` alone is ascii, `-Y -B auto|binary`
    /// refused; `-S -Y` is binary.
    #[test]
    fn sasl_is_binary_only_and_ascii_auth_text_only() {
        use BindingProtocol::*;
        assert_eq!(resolve(None, &auth(false, false)), Ok(Auto));
        assert_eq!(resolve(Some("binary"), &auth(false, false)), Ok(Binary));
        assert_eq!(resolve(None, &auth(true, false)), Ok(Binary));
        assert_eq!(resolve(Some("binary"), &auth(true, false)), Ok(Binary));
        assert!(resolve(Some("auto"), &auth(true, false)).is_err());
        assert!(resolve(Some("ascii"), &auth(true, false)).is_err());
        assert_eq!(resolve(None, &auth(false, true)), Ok(Ascii));
        assert_eq!(resolve(Some("ascii"), &auth(false, true)), Ok(Ascii));
        assert!(resolve(Some("auto"), &auth(false, true)).is_err());
        assert!(resolve(Some("binary"), &auth(false, true)).is_err());
        assert_eq!(resolve(None, &auth(true, true)), Ok(Binary));
        assert!(resolve(Some("nonsense"), &auth(false, false)).is_err());
    }
}
