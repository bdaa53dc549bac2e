//! `-o` keys of ferrocache's own observability: `metrics_listen` (the
//! Prometheus endpoint, off by default) and `hotkeys` (the hot-key
//! tracker, off by default). Kept apart from memcached's keys in
//! `extended.rs`, whose list of keys is memcached's (plus `slab_page_size`).

use super::Settings;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The most keys `-o hotkeys=N` may ask for.
pub const MAX_HOTKEYS: usize = 1000;

/// Applies `key=value` if the key is `metrics_listen` or `hotkeys`:
/// `Ok(true)` when handled.
pub(super) fn apply(s: &mut Settings, key: &str, value: Option<&str>) -> Result<bool, String> {
    match key {
        "metrics_listen" => s.metrics_listen = Some(metrics_addr(value.unwrap_or(""))?),
        "hotkeys" => {
            let v = value.unwrap_or("");
            s.hotkeys = v
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_HOTKEYS)
                .ok_or_else(|| {
                    format!("hotkeys={v}: give how many keys to track, 0 (off) to {MAX_HOTKEYS}")
                })?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// `ADDR:PORT`, `[V6]:PORT` or a bare `PORT` (then on 127.0.0.1).
pub fn metrics_addr(v: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = v.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    v.parse::<SocketAddr>().map_err(|_| {
        format!("metrics_listen={v:?}: give PORT (on 127.0.0.1), ADDR:PORT or [V6ADDR]:PORT")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_listens_on_loopback() {
        assert_eq!(metrics_addr("9150").unwrap().to_string(), "127.0.0.1:9150");
        assert_eq!(
            metrics_addr("0.0.0.0:9150").unwrap().to_string(),
            "0.0.0.0:9150"
        );
        assert_eq!(
            metrics_addr("[::1]:9150").unwrap().to_string(),
            "[::1]:9150"
        );
        assert!(metrics_addr("").is_err());
        assert!(metrics_addr("localhost:x").is_err());
    }

    #[test]
    fn the_keys_parse_from_the_command_line() {
        let run = |args: &[&str]| match Settings::parse_from(args) {
            Ok(super::super::Invocation::Run(s)) => Ok(*s),
            Ok(_) => Err("not a run".to_string()),
            Err(e) => Err(e),
        };
        let s = run(&["ferrocache"]).unwrap();
        assert_eq!(
            (s.metrics_listen, s.hotkeys),
            (None, 0),
            "both off by default"
        );
        let s = run(&["ferrocache", "-o", "metrics_listen=9150,hotkeys=20"]).unwrap();
        assert_eq!(s.metrics_listen, Some("127.0.0.1:9150".parse().unwrap()));
        assert_eq!(s.hotkeys, 20);
        assert!(run(&["ferrocache", "-o", "hotkeys=1001"]).is_err());
        assert!(run(&["ferrocache", "-o", "hotkeys"]).is_err());
        assert!(run(&["ferrocache", "-o", "metrics_listen"]).is_err());
    }
}
