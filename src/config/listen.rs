//! `-l`: the interfaces to listen on, read as memcached 1.6 reads them.
//!
//! The value is a list separated by `,` or `;` (and `-l` may be given more
//! than once). Each entry is `host`, `host:port`, `[v6addr]`,
//! `[v6addr]:port`, a bare IPv6 address (more than one `:`, so no port), or
//! `*` for every interface. A port in an entry overrides `-p` for that entry.
//! A `notls:` prefix keeps that listener in plaintext when `-Z` is given.

/// One address to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// Host name or address literal (IPv6 without brackets); `None` is `*`,
    /// every interface.
    pub host: Option<String>,
    /// TCP port (`0` asks the OS for a free one).
    pub port: u16,
    /// Speaks TLS under `-Z` (false for a `notls:` entry).
    pub tls: bool,
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.tls {
            f.write_str("notls:")?;
        }
        match &self.host {
            None => write!(f, "*:{}", self.port),
            Some(h) if h.contains(':') => write!(f, "[{h}]:{}", self.port),
            Some(h) => write!(f, "{h}:{}", self.port),
        }
    }
}

/// Parses every `-l` value (in order) against the `-p` port. Duplicate
/// entries are bound once, as memcached skips an `-l` it already has.
pub fn parse(values: &[String], default_port: u16) -> Result<Vec<ListenAddr>, String> {
    let mut out: Vec<ListenAddr> = Vec::new();
    for entry in values
        .iter()
        .flat_map(|v| v.split([',', ';']))
        .filter(|e| !e.is_empty())
    {
        let addr = parse_one(entry, default_port)?;
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    if out.is_empty() {
        return Err("-l needs an address".into());
    }
    Ok(out)
}

fn parse_one(entry: &str, default_port: u16) -> Result<ListenAddr, String> {
    let (entry, tls) = match entry.strip_prefix("notls:") {
        Some(rest) => (rest, false),
        None => (entry, true),
    };
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("Invalid IPV6 address: \"{entry}\" (no closing ])"))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("-l {entry}: after [address] only :PORT may follow"))?,
            ),
        };
        (inside, port)
    } else {
        match entry.split_once(':') {
            // One colon: host:port. More: an IPv6 address without a port.
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            _ => (entry, None),
        }
    };
    if host.is_empty() {
        return Err(format!("-l {entry}: no address before the port"));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("Invalid port number: \"{p}\" in -l {entry}"))?,
    };
    let host = (host != "*").then(|| host.to_string());
    Ok(ListenAddr { host, port, tls })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(values: &[&str], port: u16) -> Result<Vec<ListenAddr>, String> {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        parse(&values, port)
    }

    fn la(host: Option<&str>, port: u16) -> ListenAddr {
        ListenAddr {
            host: host.map(str::to_string),
            port,
            tls: true,
        }
    }

    #[test]
    fn plain_hosts_take_the_dash_p_port() {
        assert_eq!(
            addrs(&["127.0.0.1"], 11211).unwrap(),
            [la(Some("127.0.0.1"), 11211)]
        );
        assert_eq!(
            addrs(&["localhost"], 5).unwrap(),
            [la(Some("localhost"), 5)]
        );
    }

    #[test]
    fn a_port_in_the_entry_overrides_dash_p() {
        assert_eq!(
            addrs(&["127.0.0.1:12345"], 11211).unwrap(),
            [la(Some("127.0.0.1"), 12345)]
        );
        assert_eq!(
            addrs(&["[::1]:12345"], 11211).unwrap(),
            [la(Some("::1"), 12345)]
        );
    }

    #[test]
    fn ipv6_forms() {
        assert_eq!(addrs(&["[::1]"], 7).unwrap(), [la(Some("::1"), 7)]);
        // A bare IPv6 address has more than one colon: no port in it.
        assert_eq!(addrs(&["::1"], 7).unwrap(), [la(Some("::1"), 7)]);
        assert_eq!(
            addrs(&["fe80::1:2"], 7).unwrap(),
            [la(Some("fe80::1:2"), 7)]
        );
        assert!(addrs(&["[::1"], 7).unwrap_err().contains("IPV6"));
        assert!(addrs(&["[::1]x"], 7).is_err());
    }

    #[test]
    fn lists_mix_forms_and_repeat_flags_add_up() {
        assert_eq!(
            addrs(&["127.0.0.1:1,[::1]:2;10.0.0.1", "*:4", "::1"], 9).unwrap(),
            [
                la(Some("127.0.0.1"), 1),
                la(Some("::1"), 2),
                la(Some("10.0.0.1"), 9),
                la(None, 4),
                la(Some("::1"), 9),
            ]
        );
        // The same entry twice is bound once.
        assert_eq!(
            addrs(&["127.0.0.1", "127.0.0.1"], 9).unwrap(),
            [la(Some("127.0.0.1"), 9)]
        );
    }

    #[test]
    fn star_is_every_interface() {
        assert_eq!(addrs(&["*"], 11211).unwrap(), [la(None, 11211)]);
    }

    #[test]
    fn bad_entries_are_refused_with_one_line() {
        for bad in [
            &["notls:"][..],
            &["127.0.0.1:port"],
            &["127.0.0.1:70000"],
            &["127.0.0.1:"],
            &[":11211"],
            &["[]:1"],
            &[","],
        ] {
            let err = addrs(bad, 1).expect_err(&format!("{bad:?}"));
            assert!(!err.contains('\n'), "{err}");
        }
        assert_eq!(
            addrs(&["notls:127.0.0.1:5,127.0.0.1:6"], 1).unwrap(),
            [
                ListenAddr {
                    host: Some("127.0.0.1".into()),
                    port: 5,
                    tls: false
                },
                la(Some("127.0.0.1"), 6)
            ]
        );
    }

    #[test]
    fn display_brackets_ipv6() {
        let a = ListenAddr {
            host: Some("::1".into()),
            port: 5,
            tls: true,
        };
        assert_eq!(a.to_string(), "[::1]:5");
        let a = ListenAddr {
            host: None,
            port: 5,
            tls: false,
        };
        assert_eq!(a.to_string(), "notls:*:5");
    }
}
