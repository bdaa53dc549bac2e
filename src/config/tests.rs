//! Unit tests of the command line: every flag and `-o` key, accepted,
//! refused or parsed.

use super::*;

fn run(args: &[&str]) -> Result<Settings, String> {
    let mut all = vec!["ferrocache"];
    all.extend_from_slice(args);
    match Settings::parse_from(all)? {
        Invocation::Run(s) => Ok(*s),
        Invocation::Print(_) => Err("printed".into()),
    }
}

#[test]
fn defaults_match_memcached() {
    let s = run(&[]).unwrap();
    assert_eq!(
        s.listen,
        Listen::Tcp(vec![ListenAddr {
            host: Some("127.0.0.1".into()),
            port: 11211,
            tls: true,
        }])
    );
    assert!(!s.daemonize && s.user.is_none() && !s.lock_memory && !s.core_dumps);
    assert_eq!((s.prefix_delimiter, s.detail_enabled), (b':', false));
    assert!(s.notices.is_empty());
    assert_eq!(s.max_bytes, 64 << 20);
    assert_eq!(s.max_conns, 1024);
    assert_eq!(s.threads, 4);
    assert_eq!(s.item_size_max, 1 << 20);
    assert_eq!(s.reqs_per_event, 20);
    assert!(s.use_cas && s.flush_enabled && !s.disable_evictions && !s.shutdown_command);
}

#[test]
fn sizes_take_units() {
    assert_eq!(run(&["-I", "512k"]).unwrap().item_size_max, 512 << 10);
    assert_eq!(run(&["-I", "2m"]).unwrap().item_size_max, 2 << 20);
    assert_eq!(run(&["-m", "1g"]).unwrap().max_bytes, 1 << 30);
    assert_eq!(run(&["-m", "128"]).unwrap().max_bytes, 128 << 20);
}

#[test]
fn bad_values_are_one_clear_line() {
    for args in [
        &["-m", "abc"][..],
        &["-t", "0"],
        &["-f", "1.0"],
        &["-I", "100"],
        &["-I", "2g"],
        &["-I", "64m"],
        &["-o", "bogus=1"],
        &["-U", "11211"],
        &["-B", "nonsense"],
        &["-S", "-B", "ascii"],
        &["-Y", "/etc/auth", "-B", "auto"],
        &["-c", "0"],
        &["--no-such-flag"],
    ] {
        let err = run(args).expect_err(&format!("{args:?} should fail"));
        assert!(!err.contains('\n') && !err.is_empty(), "{args:?}: {err:?}");
    }
}

#[test]
fn extended_options() {
    assert_eq!(run(&["-o", "idle_timeout=5"]).unwrap().idle_timeout, 5);
    assert!(run(&["-o", "idle_timeout=x"]).is_err());
    let s = run(&["-o", "slab_page_size=4m,slab_automove=2,slab_reassign"]).unwrap();
    assert_eq!((s.slab_page_size, s.slab_automove), (4 << 20, 2));
    assert!(run(&["-o", "slab_page_size=3m"]).is_err());
    assert!(run(&["-o", "slab_automove=7"]).is_err());
    assert!(
        run(&["-m", "40000"]).is_err(),
        "32-bit handles address 32 GiB"
    );
    assert!(run(&["-m", "30000", "-o", "slab_page_size=4m"]).is_ok());
}

#[test]
fn unix_socket_replaces_tcp() {
    let s = run(&["-s", "/tmp/x.sock", "-a", "0770"]).unwrap();
    assert_eq!(s.listen, Listen::Unix("/tmp/x.sock".into(), 0o770));
    assert!(run(&["-s", "/tmp/x.sock", "-a", "999"]).is_err());
}

#[test]
fn help_and_version_print() {
    for flag in ["-h", "--help", "-V"] {
        match Settings::parse_from(["ferrocache", flag]).unwrap() {
            Invocation::Print(text) => assert!(text.contains("ferrocache"), "{text}"),
            Invocation::Run(_) => panic!("{flag} should print"),
        }
    }
    match Settings::parse_from(["ferrocache", "--help"]).unwrap() {
        Invocation::Print(text) => {
            assert!(text.contains("[default: 11211]"), "{text}");
            assert!(text.contains("[default: 64]"), "{text}");
        }
        Invocation::Run(_) => unreachable!(),
    }
}

#[test]
fn daemon_user_and_memory_flags() {
    let s = run(&["-d", "-u", "nobody", "-k", "-r"]).unwrap();
    assert!(s.daemonize && s.lock_memory && s.core_dumps);
    assert_eq!(s.user.as_deref(), Some("nobody"));
    let s = run(&[
        "--daemon",
        "--user=root",
        "--lock-memory",
        "--enable-coredumps",
    ])
    .unwrap();
    assert!(s.daemonize && s.lock_memory && s.core_dumps);
    assert_eq!(s.user.as_deref(), Some("root"));
    assert!(run(&["-u"]).is_err(), "-u needs a user");
}

#[test]
fn a_repeated_flag_takes_the_last_value_as_getopt_does() {
    let s = run(&[
        "-u", "root", "-u", "nobody", "-m", "8", "-m", "16", "-vv", "-v",
    ])
    .unwrap();
    assert_eq!(s.user.as_deref(), Some("nobody"));
    assert_eq!(s.max_bytes, 16 << 20);
    assert_eq!(s.verbose, 3, "-v counts up");
    let s = run(&[
        "-l",
        "127.0.0.1",
        "-l",
        "::1",
        "-o",
        "track_sizes",
        "-o",
        "idle_timeout=3",
    ])
    .unwrap();
    assert_eq!(s.inter, "127.0.0.1,::1", "-l adds up");
    assert!(s.track_sizes && s.idle_timeout == 3, "-o adds up");
}

#[test]
fn accepted_without_effect_flags_say_so_once() {
    for (args, level, says) in [
        (&["-L"][..], log::Level::Warn, "-L: no effect here"),
        (
            &["--enable-largepages"],
            log::Level::Warn,
            "-L: no effect here",
        ),
        (&["-N", "4"], log::Level::Warn, "-N 4: no effect here"),
    ] {
        let s = run(args).unwrap();
        assert_eq!(s.notices.len(), 1, "{args:?}: {:?}", s.notices);
        assert_eq!(s.notices[0].level, level, "{args:?}");
        assert!(s.notices[0].text.starts_with(says), "{:?}", s.notices);
    }
}

#[test]
fn dash_w_turns_watch_off() {
    assert!(run(&[]).unwrap().watch_enabled);
    let s = run(&["-W"]).unwrap();
    assert!(!s.watch_enabled);
    assert!(s.notices.is_empty(), "{:?}", s.notices);
}

#[test]
fn protocols_and_authentication_combine_as_in_memcached() {
    let s = run(&[]).unwrap();
    assert_eq!((s.protocol, s.auth.sasl), (BindingProtocol::Auto, false));
    let s = run(&["-S"]).unwrap();
    assert_eq!((s.protocol, s.auth.sasl), (BindingProtocol::Binary, true));
    let s = run(&["-Y", "/etc/auth"]).unwrap();
    assert_eq!(s.protocol, BindingProtocol::Ascii);
    assert!(s.auth.ascii());
    let s = run(&["-B", "binary"]).unwrap();
    assert_eq!(s.protocol, BindingProtocol::Binary);
}

#[test]
fn missing_features_are_refused_naming_them() {
    for (args, names) in [
        (&["-e", "/dev/shm/x"][..], "memory file"),
        (&["-U", "11211"], "UDP"),
    ] {
        let err = run(args).expect_err(&format!("{args:?}"));
        assert!(
            err.contains(names) && !err.contains('\n'),
            "{args:?}: {err}"
        );
    }
    assert!(run(&["-U", "0"]).is_ok());
}

#[test]
fn dash_z_needs_its_certificate_and_key_options() {
    let err = run(&["-Z"]).unwrap_err();
    assert!(
        err.contains("ssl_chain_cert") && !err.contains('\n'),
        "{err}"
    );
    let s = run(&[
        "-Z",
        "-o",
        "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_min_version=3",
    ])
    .unwrap();
    assert!(s.ssl.enabled);
    assert_eq!(s.ssl.min_version, MinVersion::Tls13);
    let s = run(&["--enable-ssl", "-o", "ssl_chain_cert=/c.pem,ssl_key=/k.pem"]).unwrap();
    assert!(s.ssl.enabled);
    assert!(run(&[
        "-Z",
        "-o",
        "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_min_version=1"
    ])
    .unwrap_err()
    .contains("TLS 1.0 and 1.1"));
}

#[test]
fn delimiter_sets_the_prefix_and_turns_detail_on() {
    let s = run(&["-D", "#"]).unwrap();
    assert_eq!((s.prefix_delimiter, s.detail_enabled), (b'#', true));
    assert!(s.notices.is_empty());
    // memcached uses the first character; so do we, and say so.
    let s = run(&["-D", "/x"]).unwrap();
    assert_eq!(s.prefix_delimiter, b'/');
    assert_eq!(s.notices.len(), 1);
    for bad in ["", " ", "é"] {
        assert!(run(&["-D", bad]).is_err(), "-D {bad:?}");
    }
}

#[test]
fn listen_forms_reach_the_settings() {
    let s = run(&["-p", "7", "-l", "127.0.0.1:8,[::1]:9", "-l", "::1"]).unwrap();
    let want = |h: &str, port| ListenAddr {
        host: Some(h.into()),
        port,
        tls: true,
    };
    assert_eq!(
        s.listen,
        Listen::Tcp(vec![want("127.0.0.1", 8), want("::1", 9), want("::1", 7)])
    );
    assert_eq!(s.inter, "127.0.0.1:8,[::1]:9,::1");
    assert_eq!(s.tcp_port, 7);
    let s = run(&["-l", "notls:127.0.0.1:1"]).unwrap();
    assert_eq!(
        s.listen,
        Listen::Tcp(vec![ListenAddr {
            host: Some("127.0.0.1".into()),
            port: 1,
            tls: false,
        }])
    );
}

#[test]
fn help_names_the_new_flags() {
    let Invocation::Print(text) = Settings::parse_from(["ferrocache", "--help"]).unwrap() else {
        panic!("--help prints");
    };
    for flag in [
        "--daemon",
        "--user",
        "--lock-memory",
        "--enable-largepages",
        "-D <CHAR>",
        "docs/operations.md",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help:\n{text}");
    }
    let Invocation::Print(text) = Settings::parse_from(["ferrocache", "-i"]).unwrap() else {
        panic!("-i prints");
    };
    assert!(text.contains("BSD-3-Clause"), "{text}");
}

/// Every key memcached 1.6.18 accepts (as Debian builds it, with TLS and
/// extstore), each with a value memcached takes.
const MEMCACHED_KEYS: &[&str] = &[
    "maxconns_fast",
    "hashpower=16",
    "no_hashexpand",
    "slab_reassign",
    "slab_automove=1",
    "slab_automove_ratio=0.5",
    "slab_automove_window=10",
    "tail_repair_time=60",
    "hash_algorithm=murmur3",
    "lru_crawler",
    "lru_crawler_sleep=100",
    "lru_crawler_tocrawl=0",
    "lru_maintainer",
    "hot_lru_pct=20",
    "warm_lru_pct=40",
    "hot_max_factor=0.2",
    "warm_max_factor=2.0",
    "temporary_ttl=61",
    "idle_timeout=30",
    "watcher_logbuf_size=256",
    "worker_logbuf_size=64",
    "slab_sizes=96-192-384",
    "slab_chunk_max=524288",
    "track_sizes",
    "no_inline_ascii_resp",
    "modern",
    "no_modern",
    "no_chunked_items",
    "no_slab_reassign",
    "no_slab_automove",
    "no_maxconns_fast",
    "inline_ascii_resp",
    "no_lru_crawler",
    "no_lru_maintainer",
    "no_drop_privileges",
    "drop_privileges",
    "resp_obj_mem_limit",
    "read_buf_mem_limit=0",
    "sock_cookie_id=5",
    "ssl_chain_cert=/etc/cert.pem",
    "ssl_key=/etc/key.pem",
    "ssl_verify_mode=2",
    "ssl_keyformat=1",
    "ssl_ciphers=HIGH",
    "ssl_ca_cert=/etc/ca.pem",
    "ssl_wbuf_size=16",
    "ssl_session_cache",
    "ssl_kernel_tls",
    "ssl_min_version=2",
    "ext_page_size=64",
    "ext_wbuf_size=4",
    "ext_threads=1",
    "ext_io_depth=1",
    "ext_path=/mnt/ext:1G",
    "ext_item_size=512",
    "ext_item_age=100",
    "ext_low_ttl=0",
    "ext_recache_rate=2000",
    "ext_compact_under=0",
    "ext_drop_under=0",
    "ext_max_sleep=1000000",
    "ext_max_frag=0.8",
    "ext_drop_unread",
    "slab_automove_freeratio=0.01",
];

#[test]
fn every_memcached_extended_key_is_accepted() {
    for option in MEMCACHED_KEYS {
        let s = run(&["-o", option]).unwrap_or_else(|e| panic!("-o {option}: {e}"));
        assert!(
            s.notices.len() <= 1,
            "-o {option}: at most one line, got {:?}",
            s.notices
        );
        if let Some(n) = s.notices.first() {
            assert!(n.text.starts_with(&format!("-o {option}: ")), "{n:?}");
            assert!(!n.text.contains('\n'));
        }
    }
    // All at once, comma separated, as one -o.
    assert!(run(&["-o", &MEMCACHED_KEYS.join(",")]).is_ok());
    // The table and the list agree (plus ferrocache's own slab_page_size
    // and the cluster_ keys).
    let mut ours: Vec<&str> = extended_keys()
        .filter(|k| *k != "slab_page_size" && !k.starts_with("cluster_"))
        .collect();
    let mut theirs: Vec<&str> = MEMCACHED_KEYS
        .iter()
        .map(|o| o.split('=').next().unwrap())
        .collect();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs);
}

#[test]
fn cluster_dns_keys() {
    let s = run(&["-o", "cluster_dns=_memcache._tcp.cache.svc:11211,cluster_dns_server=127.0.0.1:5353,cluster_dns_interval=2,cluster_admin"]).unwrap();
    assert_eq!(
        s.cluster_dns.as_deref(),
        Some("_memcache._tcp.cache.svc:11211")
    );
    assert_eq!(
        s.cluster_dns_server,
        Some("127.0.0.1:5353".parse().unwrap())
    );
    assert_eq!(s.cluster_dns_interval, 2);
    assert!(s.cluster_admin);
    assert!(s.notices.is_empty());
    let s = run(&[]).unwrap();
    assert_eq!((s.cluster_dns, s.cluster_dns_server), (None, None));
    assert_eq!(s.cluster_dns_interval, 5, "the default");
    assert!(!s.cluster_admin);
    let v6 = run(&["-o", "cluster_dns_server=[fd00::a]:53"]).unwrap();
    assert_eq!(v6.cluster_dns_server, Some("[fd00::a]:53".parse().unwrap()));
    for bad in [
        "cluster_dns",
        "cluster_dns_server=10.0.0.1",
        "cluster_dns_server=name:53",
        "cluster_dns_interval=0",
        "cluster_dns_interval=x",
    ] {
        assert!(run(&["-o", bad]).is_err(), "{bad}");
    }
}

#[test]
fn cluster_nodes_names_the_node_file() {
    let s = run(&["-o", "cluster_nodes=/etc/ferrocache/nodes"]).unwrap();
    assert_eq!(
        s.cluster_nodes.as_deref(),
        Some(std::path::Path::new("/etc/ferrocache/nodes"))
    );
    assert!(s.notices.is_empty());
    assert_eq!(run(&[]).unwrap().cluster_nodes, None);
    assert!(run(&["-o", "cluster_nodes"]).is_err(), "a path is required");
    assert!(
        run(&["-o", "cluster_nodes="]).is_err(),
        "a path is required"
    );
}

#[test]
fn extended_keys_that_work_here_change_settings_silently() {
    let s = run(&[
        "-o",
        "idle_timeout=5,track_sizes,no_lru_crawler,slab_automove=2",
    ])
    .unwrap();
    assert_eq!((s.idle_timeout, s.slab_automove), (5, 2));
    assert!(s.track_sizes && !s.lru_crawler && s.notices.is_empty());
    assert_eq!(run(&["-o", "slab_automove"]).unwrap().slab_automove, 1);
    assert_eq!(run(&["-o", "no_slab_automove"]).unwrap().slab_automove, 0);
    let s = run(&["-o", "no_lru_crawler", "-o", "lru_crawler"]).unwrap();
    assert!(s.lru_crawler, "later -o wins");
}

#[test]
fn extended_keys_that_partly_map_apply_what_they_can() {
    let s = run(&["-o", "no_modern"]).unwrap();
    assert_eq!((s.slab_automove, s.lru_crawler), (0, false));
    assert_eq!(s.notices[0].level, log::Level::Warn);
    let s = run(&["-o", "no_slab_reassign"]).unwrap();
    assert_eq!(s.slab_automove, 0);
    assert_eq!(s.notices[0].level, log::Level::Warn);
}

#[test]
fn extended_keys_log_their_kind() {
    let s = run(&["-o", "modern"]).unwrap();
    assert_eq!(s.notices[0].level, log::Level::Info);
    assert!(s.notices[0].text.contains("already so"));
    let s = run(&["-o", "ext_path=/mnt/x:1G"]).unwrap();
    assert_eq!(s.notices[0].level, log::Level::Warn);
    assert!(
        s.notices[0].text.contains("no effect here"),
        "{:?}",
        s.notices
    );
    assert!(s.notices[0].text.contains("extstore"));
}

#[test]
fn extended_values_are_checked_as_memcached_checks_them() {
    for bad in [
        "hashpower=5",
        "hashpower=33",
        "hashpower",
        "tail_repair_time=0",
        "slab_automove_ratio=1.5",
        "slab_automove_ratio=0",
        "slab_automove_window=2",
        "hash_algorithm=md5",
        "lru_crawler_sleep=2000000",
        "lru_crawler_tocrawl=-1",
        "hot_lru_pct=80",
        "warm_lru_pct=0",
        "hot_max_factor=0",
        "ssl_verify_mode=5",
        "ssl_min_version=7",
        "ssl_key",
        "ext_path",
        "ext_page_size=x",
        "ext_max_frag=x",
        "slab_sizes=x",
        "slab_sizes=96--192",
        "read_buf_mem_limit=x",
        "watcher_logbuf_size=x",
        "idle_timeout",
        "idle_timeout=-1",
        "slab_automove=3",
        "bogus",
        "bogus=1",
        "relaxed_privileges",
        "proxy_config=/etc/x.lua",
    ] {
        let err = run(&["-o", bad]).expect_err(bad);
        assert!(!err.contains('\n') && !err.is_empty(), "{bad}: {err}");
    }
}

/// memcached before 1.5.20 let a client skip SASL over UDP when both were
/// enabled (its fix: refuse to start with both). UDP is never opened here,
/// so `-S` with a UDP port is refused at start-up too.
#[test]
fn regression_sasl_with_udp_is_refused() {
    let err = run(&["-S", "-U", "11211"]).expect_err("SASL with UDP");
    assert!(err.contains("UDP"), "{err}");
    assert!(run(&["-S", "-U", "0"]).is_ok());
}
