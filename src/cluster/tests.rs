//! The node file, the payload bytes and the version rules.

use super::*;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

fn node(host: &str, ip: &str, port: u16) -> Node {
    Node {
        host: host.into(),
        ip: (!ip.is_empty()).then(|| ip.parse().unwrap()),
        port,
    }
}

#[test]
fn payload_is_version_newline_nodes_newline_sorted_by_hostname() {
    let nodes = Nodes::new(
        7,
        vec![
            node("b.example", "10.0.0.2", 11211),
            node("a.example", "10.0.0.1", 11212),
        ],
    );
    assert_eq!(
        nodes.payload(),
        b"7\na.example|10.0.0.1|11212 b.example|10.0.0.2|11211\n"
    );
    assert_eq!(nodes.version(), 7);
    assert_eq!(nodes.nodes()[0].host, "a.example");
}

#[test]
fn empty_ip_keeps_both_pipes_and_ipv6_is_bare() {
    let nodes = Nodes::new(
        1,
        vec![node("n1", "", 11211), node("n2", "2001:db8::7", 11211)],
    );
    assert_eq!(nodes.payload(), b"1\nn1||11211 n2|2001:db8::7|11211\n");
}

#[test]
fn file_lines_comments_blanks_and_brackets() {
    let text = "# the cluster\n\
                \n\
                cache-2.internal|10.0.0.2|11211   # second\n\
                cache-1.internal||11211\n\
                \tcache-3.internal|[fd00::3]|11311\n";
    let parsed = parse(text).unwrap();
    assert_eq!(
        parsed,
        [
            node("cache-2.internal", "10.0.0.2", 11211),
            node("cache-1.internal", "", 11211),
            node("cache-3.internal", "fd00::3", 11311),
        ]
    );
    assert_eq!(
        Nodes::new(3, parsed).payload(),
        b"3\ncache-1.internal||11211 cache-2.internal|10.0.0.2|11211 cache-3.internal|fd00::3|11311\n"
    );
}

#[test]
fn bad_files_are_refused_with_the_line() {
    for (text, needle) in [
        ("", "no node"),
        ("# only a comment\n", "no node"),
        ("h|1.2.3.4\n", "line 1"),
        ("h|1.2.3.4|11211|x\n", "line 1"),
        ("ok||1\nh|1.2.3.400|11211\n", "line 2"),
        ("h|1.2.3.4|0\n", "not a port"),
        ("h|1.2.3.4|65536\n", "not a port"),
        ("|1.2.3.4|11211\n", "hostname"),
        ("a b|1.2.3.4|11211\n", "line 1"),
        ("h||1\nh||1\n", "twice"),
    ] {
        let err = parse(text).unwrap_err();
        assert!(err.contains(needle), "{text:?}: {err}");
    }
}

#[test]
fn versions_rise_by_mtime_or_by_one() {
    assert_eq!(next_version(5, 1_000), 1_000, "a later file: its time");
    assert_eq!(next_version(1_000, 1_000), 1_001, "same second: one more");
    assert_eq!(next_version(1_000, 10), 1_001, "an older mtime: one more");
    assert_eq!(next_version(u64::MAX, 10), u64::MAX, "no overflow");
}

/// A node file in the test's own directory.
pub(super) struct TempFile(pub(super) PathBuf);

impl TempFile {
    pub(super) fn new(name: &str) -> TempFile {
        let dir = std::env::temp_dir().join(format!("ferrocache-cluster-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempFile(dir.join(name))
    }

    pub(super) fn write(&self, text: &str, mtime: u64) {
        std::fs::write(&self.0, text).unwrap();
        let f = std::fs::File::options().write(true).open(&self.0).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))
            .unwrap();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn reload_bumps_only_on_membership_change_and_keeps_a_bad_list_out() {
    let f = TempFile::new("reload");
    f.write("b||2\na||1\n", 1_700_000_000);
    let c = Cluster::open(&f.0).unwrap();
    assert_eq!(
        c.current().unwrap().version(),
        1_700_000_000,
        "first: the mtime"
    );
    assert_eq!(c.poll(), None, "nothing changed");

    // Same membership in another order and with a comment: no bump.
    f.write("# same\na||1\nb||2\n", 1_700_000_100);
    assert_eq!(
        c.poll(),
        Some(Ok(Reload::Unchanged {
            version: 1_700_000_000,
            nodes: 2
        }))
    );

    // A node added: the new file's time.
    f.write("a||1\nb||2\nc||3\n", 1_700_000_200);
    assert_eq!(
        c.poll(),
        Some(Ok(Reload::Changed {
            from: 1_700_000_000,
            to: 1_700_000_200,
            nodes: 3
        }))
    );
    // Removed again, with an mtime set back: still one more.
    f.write("a||1\nb||2\n", 1_600_000_000);
    assert_eq!(
        c.reload(),
        Ok(Reload::Changed {
            from: 1_700_000_200,
            to: 1_700_000_201,
            nodes: 2
        })
    );

    // A bad file: reported once, the list in force stays.
    f.write("a||1\nnonsense\n", 1_700_000_300);
    let err = c.poll().unwrap().unwrap_err();
    assert!(err.contains("line 2"), "{err}");
    assert_eq!(c.poll(), None, "a bad file is reported once");
    assert_eq!(c.current().unwrap().version(), 1_700_000_201);
    assert_eq!(c.current().unwrap().payload(), b"1700000201\na||1 b||2\n");

    // Fixed: the change is served.
    f.write("a||1\n", 1_700_000_400);
    assert!(matches!(
        c.poll(),
        Some(Ok(Reload::Changed {
            to: 1_700_000_400,
            ..
        }))
    ));
}

#[test]
fn a_restart_serves_the_same_version_for_the_same_file() {
    let f = TempFile::new("restart");
    f.write("a||1\n", 1_700_000_000);
    let first = Cluster::open(&f.0).unwrap();
    f.write("a||1\nb||2\n", 1_700_000_050);
    first.reload().unwrap();
    let before = first.current().unwrap().version();
    drop(first);
    let again = Cluster::open(&f.0).unwrap();
    assert_eq!(again.current().unwrap().version(), before);
    assert_eq!(
        again.current().unwrap().payload(),
        b"1700000050\na||1 b||2\n"
    );
}

#[test]
fn a_missing_file_is_refused_at_start_and_reported_once_later() {
    let f = TempFile::new("missing");
    assert!(Cluster::open(&f.0).is_err());
    f.write("a||1\n", 1_700_000_000);
    let c = Cluster::open(&f.0).unwrap();
    std::fs::remove_file(&f.0).unwrap();
    assert!(c.poll().unwrap().is_err());
    assert_eq!(c.poll(), None);
    assert_eq!(c.current().unwrap().version(), 1_700_000_000);
    assert!(c.reload().is_err());
    f.write("a||1\nb||2\n", 1_700_000_500);
    assert!(matches!(
        c.poll(),
        Some(Ok(Reload::Changed {
            to: 1_700_000_500,
            ..
        }))
    ));
}

#[test]
fn set_payload_is_what_config_get_answers() {
    let (version, nodes) = parse_payload(b"42\nb|10.0.0.2|11211 a||11212\n").unwrap();
    assert_eq!(version, 42);
    assert_eq!(nodes, [node("b", "10.0.0.2", 11211), node("a", "", 11212)]);
    assert!(
        parse_payload(b"42\na||1").is_ok(),
        "the final newline is optional"
    );
    for (bad, needle) in [
        (&b"a||1\n"[..], "version"),
        (b"0\na||1\n", "version"),
        (b"x\na||1\n", "version"),
        (b"7\n\n", "no node"),
        (b"7\na||1 a||1\n", "twice"),
        (b"7\na|1.2.3.4\n", "hostname|ip|port"),
        (b"7\na||1\nb||2\n", "hostname|ip|port"),
        (b"7\n\xff||1\n", "UTF-8"),
        // The top of the range would leave no room to rise (and overflowed
        // the next version's arithmetic).
        (b"18446744073709551615\na||1\n", "version"),
    ] {
        let err = parse_payload(bad).unwrap_err();
        assert!(err.contains(needle), "{bad:?}: {err}");
        assert!(!err.contains(['\r', '\n']), "one line: {err:?}");
    }
}

#[test]
fn admin_only_set_and_delete_keep_the_version_rising() {
    let c = Cluster::admin_only();
    assert!(c.admin());
    assert!(c.current().is_none(), "no list before a set");
    assert_eq!(c.admin_delete(), Admin::NotFound);
    let set = c.admin_set(b"100\nb||2 a||1\n").unwrap();
    assert_eq!(
        set,
        Reload::Changed {
            from: 0,
            to: 100,
            nodes: 2
        }
    );
    assert_eq!(c.current().unwrap().payload(), b"100\na||1 b||2\n");
    // A lower version given for a new membership: one above, never below.
    let set = c.admin_set(b"50\na||1\n").unwrap();
    assert_eq!(
        set,
        Reload::Changed {
            from: 100,
            to: 101,
            nodes: 1
        }
    );
    // The same membership: the version stays, whatever is given.
    let same = c.admin_set(b"900\na||1\n").unwrap();
    assert_eq!(
        same,
        Reload::Unchanged {
            version: 101,
            nodes: 1
        }
    );
    assert!(c.admin_set(b"not a list").is_err());
    assert_eq!(
        c.current().unwrap().version(),
        101,
        "a bad set changes nothing"
    );
    // Delete: no source, so no list; the version is remembered.
    assert!(matches!(
        c.admin_delete(),
        Admin::Done(Reload::Changed { from: 101, .. })
    ));
    assert!(c.current().is_none());
    assert_eq!(c.admin_delete(), Admin::NotFound);
    let again = c.admin_set(b"5\na||1\n").unwrap();
    let Reload::Changed { from, to, .. } = again else {
        panic!("{again:?}")
    };
    assert!(to > from && from > 101, "{from} -> {to}");
}

#[test]
fn a_set_list_stays_until_the_file_changes() {
    let f = TempFile::new("override");
    f.write("a||1\n", 1_700_000_000);
    let c = Cluster::open(&f.0).unwrap().with_admin(true);
    let set = c.admin_set(b"1\nz||9\n").unwrap();
    assert_eq!(
        set,
        Reload::Changed {
            from: 1_700_000_000,
            to: 1_700_000_001,
            nodes: 1
        }
    );
    // The file read again with the same nodes: the set list stays.
    f.write("# touched\na||1\n", 1_700_000_050);
    assert_eq!(
        c.poll(),
        Some(Ok(Reload::Unchanged {
            version: 1_700_000_001,
            nodes: 1
        }))
    );
    assert_eq!(c.current().unwrap().nodes()[0].host, "z");
    // The file's membership changes: it wins, at a higher version.
    f.write("a||1\nb||2\n", 1_700_000_100);
    assert_eq!(
        c.poll(),
        Some(Ok(Reload::Changed {
            from: 1_700_000_001,
            to: 1_700_000_100,
            nodes: 2
        }))
    );
    assert_eq!(c.admin_delete(), Admin::NotFound, "no set list any more");
    // Set, then delete: the file's list again, at a new version.
    c.admin_set(b"1\nz||9\n").unwrap();
    assert!(matches!(
        c.admin_delete(),
        Admin::Done(Reload::Changed {
            from: 1_700_000_101,
            ..
        })
    ));
    assert_eq!(c.current().unwrap().payload()[11..], *b"a||1 b||2\n");
}

#[test]
fn dns_targets_and_resolv_conf() {
    let server: std::net::SocketAddr = "127.0.0.1:53".parse().unwrap();
    let t = Target::parse("cache.example.internal", 11211, server).unwrap();
    assert_eq!(
        (t.name.as_str(), t.port, t.is_srv()),
        ("cache.example.internal", 11211, false)
    );
    let t = Target::parse(
        "_memcache._tcp.cache.ns.svc.cluster.local.:11311",
        11211,
        server,
    )
    .unwrap();
    assert_eq!(t.name, "_memcache._tcp.cache.ns.svc.cluster.local");
    assert_eq!(t.port, 11311);
    assert!(t.is_srv());
    for bad in ["", "name:0", "name:x", "name:65536", "a..b"] {
        assert!(Target::parse(bad, 11211, server).is_err(), "{bad:?}");
    }
    assert!(
        Target::parse("name", 0, server).is_err(),
        "-p 0 needs a port"
    );
    let conf = "# generated\nsearch svc.cluster.local\nnameserver fe80::1%eth0\nnameserver 10.96.0.10\nnameserver 10.96.0.11\n";
    assert_eq!(system_server(conf), Some("10.96.0.10:53".parse().unwrap()));
    assert_eq!(system_server("options ndots:5\n"), None);
}

#[test]
fn dns_failure_without_a_server_keeps_no_list_and_logs_once() {
    // A UDP port nobody answers on: each query times out or is refused.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = socket.local_addr().unwrap();
    drop(socket);
    let t = Target::parse("cache.invalid", 11211, server).unwrap();
    let c = Cluster::dns(t, Duration::from_secs(3600));
    let first = c.poll();
    assert!(matches!(first, Some(Err(_))), "{first:?}");
    assert!(c.current().is_none());
    c.hangup();
    assert_eq!(c.poll(), None, "the same failure is not logged again");
}
