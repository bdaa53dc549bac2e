//! Credentials files as memcached reads them (the authfile cases were
//! checked against Debian's memcached 1.6.18 started with `-Y`), the
//! constant-time check, and reloads.

use crate::auth::credentials::COMPARED;
use crate::auth::file::{self, Format, AUTHFILE_MAX_ENTRIES};
use crate::auth::{Credentials, LoadError, SharedCredentials};
use std::path::PathBuf;

fn authfile(data: &[u8]) -> Credentials {
    Credentials::parse(data, Format::AuthFile).expect("loads")
}

fn pwdb(data: &[u8]) -> Credentials {
    Credentials::parse(data, Format::SaslPwdb).expect("loads")
}

fn malformed_line(data: &[u8]) -> usize {
    match Credentials::parse(data, Format::AuthFile) {
        Err(LoadError::Malformed { line, .. }) => line,
        other => panic!("expected malformed, got {other:?}"),
    }
}

/// A file in a fresh temporary folder, removed with it.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(name: &str, data: &[u8]) -> TempFile {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferrocache-auth-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        TempFile { dir, path }
    }

    fn write(&self, data: &[u8]) {
        std::fs::write(&self.path, data).unwrap();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn authfile_reads_user_password_lines() {
    let c = authfile(b"user:pass\nalice:s3cret\n");
    assert_eq!(c.len(), 2);
    assert!(c.warnings().is_empty());
    assert!(c.check(b"user", b"pass"));
    assert!(c.check(b"alice", b"s3cret"));
    assert!(!c.check(b"user", b"s3cret"));
    assert!(!c.check(b"user", b"pas"));
    assert!(!c.check(b"user", b"passs"));
    assert!(!c.check(b"nobody", b"pass"));
    assert!(!c.check(b"", b""));
}

#[test]
fn authfile_blank_line_anywhere_is_malformed() {
    // memcached: "Authfile [...] has a malformed entry", and does not start.
    assert_eq!(malformed_line(b"a:1\n\nb:2\n"), 2);
    assert_eq!(malformed_line(b"a:1\n\n"), 2);
    assert_eq!(malformed_line(b"\n"), 1);
    assert_eq!(malformed_line(b"a:1\r\n\r\n"), 2);
}

#[test]
fn authfile_line_without_colon_is_malformed() {
    assert_eq!(malformed_line(b"a:1\nbogus\nb:2\n"), 2);
    assert_eq!(malformed_line(b"# comment\na:1\n"), 1);
    assert_eq!(malformed_line(b"abc"), 1);
    // A NUL before the colon ends memcached's C string: malformed too.
    assert_eq!(malformed_line(b"a\0b:1\n"), 1);
}

#[test]
fn authfile_crlf_and_missing_final_newline() {
    let c = authfile(b"a:1\r\nb:2\r\n");
    assert!(c.check(b"a", b"1") && c.check(b"b", b"2"));
    assert!(!c.check(b"a", b"1\r"));
    let c = authfile(b"a:1\nb:2");
    assert!(c.check(b"a", b"1") && c.check(b"b", b"2"));
    assert!(c.warnings().is_empty());
}

#[test]
fn authfile_reads_at_most_eight_entries_and_warns() {
    let data: Vec<u8> = (0..10)
        .flat_map(|i| format!("u{i}:p{i}\n").into_bytes())
        .collect();
    let c = authfile(&data);
    assert_eq!(c.len(), AUTHFILE_MAX_ENTRIES);
    assert!(c.check(b"u7", b"p7"));
    assert!(!c.check(b"u8", b"p8"), "memcached ignores the ninth entry");
    assert_eq!(c.warnings().len(), 1);
    assert!(c.warnings()[0].contains("at most 8"), "{:?}", c.warnings());
    // Exactly eight, or eight and blank lines after: no warning (memcached
    // stops reading before the blank line).
    let eight: Vec<u8> = (0..8)
        .flat_map(|i| format!("u{i}:p{i}\n").into_bytes())
        .collect();
    assert!(authfile(&eight).warnings().is_empty());
    let mut eight_blank = eight.clone();
    eight_blank.extend_from_slice(b"\n\n");
    assert!(authfile(&eight_blank).warnings().is_empty());
}

#[test]
fn authfile_empty_loads_nobody_and_warns() {
    let c = authfile(b"");
    assert!(c.is_empty());
    assert!(!c.check(b"", b""));
    assert!(!c.check(b"a", b"1"));
    assert_eq!(c.warnings(), ["no entries: nobody can authenticate"]);
}

#[test]
fn authfile_password_runs_to_end_of_line_colons_included() {
    let c = authfile(b"a:b:c\n");
    assert!(c.check(b"a", b"b:c"));
    assert!(!c.check(b"a", b"b"));
}

#[test]
fn authfile_duplicate_users_all_accepted() {
    let c = authfile(b"a:1\na:2\n");
    assert!(c.check(b"a", b"1") && c.check(b"a", b"2"));
}

#[test]
fn authfile_cr_ends_password_and_rest_of_line_is_ignored() {
    let c = authfile(b"a:1\r2\nb:2\n");
    assert!(c.check(b"a", b"1"));
    assert!(!c.check(b"a", b"1\r2"));
    assert!(c.check(b"b", b"2"));
}

#[test]
fn authfile_keeps_spaces_and_empty_parts() {
    let c = authfile(b" a : 1 \n:nouser\nempty:\n");
    assert!(c.check(b" a ", b" 1 "));
    assert!(!c.check(b"a", b"1"));
    assert!(c.check(b"", b"nouser"));
    assert!(c.check(b"empty", b""));
}

#[test]
fn authfile_long_lines_are_cut_at_255_bytes_and_end_the_file() {
    let x = |n| vec![b'x'; n];
    // 254 bytes and a newline: read whole.
    let mut data = b"a:".to_vec();
    data.extend(x(252));
    data.extend_from_slice(b"\nb:2\n");
    let c = authfile(&data);
    assert!(c.check(b"a", &x(252)) && c.check(b"b", b"2"));
    assert!(c.warnings().is_empty());
    // 300 bytes: the password is cut to 253, and line 2 is never read.
    let mut data = b"a:".to_vec();
    data.extend(x(298));
    data.extend_from_slice(b"\nb:2\n");
    let c = authfile(&data);
    assert!(c.check(b"a", &x(253)));
    assert!(!c.check(b"a", &x(298)));
    assert!(!c.check(b"b", b"2"));
    assert!(c.warnings()[0].contains("cut at 255"), "{:?}", c.warnings());
}

#[test]
fn authfile_nul_ends_the_password_and_the_file() {
    let c = authfile(b"nul:a\0b\nx:y\n");
    assert!(c.check(b"nul", b"a"));
    assert!(!c.check(b"nul", b"a\0b"));
    assert!(!c.check(b"x", b"y"));
    assert!(c.warnings()[0].contains("NUL"), "{:?}", c.warnings());
}

#[test]
fn pwdb_skips_blank_and_colonless_lines() {
    let c = pwdb(b"\n# users\nuser:pass\n\r\n  \nbob:b\n");
    assert_eq!(c.len(), 2);
    assert!(c.check(b"user", b"pass") && c.check(b"bob", b"b"));
    // Only the comment is worth a warning.
    assert_eq!(c.warnings().len(), 1, "{:?}", c.warnings());
    assert!(c.warnings()[0].contains("line 2"));
}

#[test]
fn pwdb_first_line_for_a_user_decides() {
    // memcached's pwdb check stops at the first line naming the user.
    let c = pwdb(b"a:1\na:2\n");
    assert!(c.check(b"a", b"1"));
    assert!(!c.check(b"a", b"2"));
    assert!(c.warnings()[0].contains("line 2 repeats the user of line 1"));
}

#[test]
fn pwdb_accepts_the_password_up_to_any_colon_or_cr() {
    let c = pwdb(b"user:pass:extra\r\nbob:b\n");
    assert!(c.check(b"user", b"pass"));
    assert!(c.check(b"user", b"pass:extra"));
    assert!(c.check(b"user", b"pass:extra\r"));
    assert!(!c.check(b"user", b"pas"));
    assert!(!c.check(b"user", b"extra"));
    assert!(c.check(b"bob", b"b"));
}

#[test]
fn pwdb_refuses_user_and_password_over_252_bytes() {
    let long = |n| {
        let mut l = b"u:".to_vec();
        l.extend(vec![b'p'; n]);
        l.push(b'\n');
        l
    };
    assert!(pwdb(&long(251)).check(b"u", &[b'p'; 251]));
    let c = pwdb(&long(252));
    assert!(!c.check(b"u", &[b'p'; 252]));
    assert!(c.is_empty());
    // The unusable first line still hides a later one for the same user.
    let mut data = long(300);
    data.extend_from_slice(b"u:short\n");
    assert!(!pwdb(&data).check(b"u", b"short"));
}

#[test]
fn parsed_entries_name_their_lines() {
    let p = file::parse(b"a:1\n\nb:2\n", Format::SaslPwdb).unwrap();
    let lines: Vec<usize> = p.entries.iter().map(|e| e.line).collect();
    assert_eq!(lines, [1, 3]);
}

#[test]
fn load_errors_are_one_clear_line() {
    let missing = Credentials::load("/nonexistent/ferrocache-auth".as_ref(), Format::AuthFile)
        .expect_err("missing");
    let m = missing.to_string();
    assert!(
        m.starts_with("could not open authfile /nonexistent/ferrocache-auth: "),
        "{m}"
    );
    assert!(m.contains("No such file"), "{m}");

    let f = TempFile::new("authfile", b"a:1\nbogus\n");
    let e = Credentials::load(&f.path, Format::AuthFile).expect_err("malformed");
    assert_eq!(
        e.to_string(),
        format!(
            "authfile {}: line 2 is not user:password (no ':' before the end of the line)",
            f.path.display()
        )
    );

    let dir = Credentials::load(&f.dir, Format::SaslPwdb).expect_err("a directory");
    assert!(
        dir.to_string()
            .starts_with("could not read SASL password database "),
        "{dir}"
    );

    let big = TempFile::new("big", b"");
    std::fs::File::options()
        .write(true)
        .open(&big.path)
        .unwrap()
        .set_len(crate::auth::credentials::MAX_FILE_LEN + 1)
        .unwrap();
    let e = Credentials::load(&big.path, Format::AuthFile).expect_err("too large");
    assert!(e.to_string().contains("is larger than"), "{e}");

    for e in [missing, e, dir] {
        assert!(!e.to_string().contains('\n'));
    }
}

#[test]
fn shared_reload_swaps_and_a_failed_reload_keeps_the_old() {
    let f = TempFile::new("authfile", b"user:old\n");
    let shared = SharedCredentials::open(&f.path, Format::AuthFile).unwrap();
    assert_eq!(shared.path(), Some(f.path.as_path()));
    let before = shared.current();
    assert!(before.check(b"user", b"old"));

    f.write(b"user:new\n");
    let now = shared.reload().expect("reloads");
    assert!(now.check(b"user", b"new") && !now.check(b"user", b"old"));
    assert!(shared.current().check(b"user", b"new"));
    // A session still holding the old set keeps working with it.
    assert!(before.check(b"user", b"old"));

    f.write(b"user:newer\n\n");
    let e = shared.reload().expect_err("malformed");
    assert!(matches!(e, LoadError::Malformed { line: 2, .. }));
    assert!(shared.current().check(b"user", b"new"), "old kept");

    std::fs::remove_file(&f.path).unwrap();
    assert!(matches!(shared.reload(), Err(LoadError::Open { .. })));
    assert!(shared.clone().current().check(b"user", b"new"), "old kept");
}

#[test]
fn shared_from_memory_has_no_file_to_reload() {
    let shared = SharedCredentials::new(authfile(b"a:1\n"));
    assert!(matches!(shared.reload(), Err(LoadError::NoFile)));
    assert!(shared.current().check(b"a", b"1"));
    shared.replace(authfile(b"a:2\n"));
    assert!(shared.current().check(b"a", b"2"));
}

fn compared(f: impl FnOnce()) -> usize {
    COMPARED.with(|c| c.set(0));
    f();
    COMPARED.with(|c| c.get())
}

#[test]
fn regression_cve_2026_47783_check_compares_every_entry() {
    // CVE-2026-47783: memcached's SASL password database check returned at
    // the first line naming the user and compared with memcmp, so timing
    // told whether a user existed and how much of a password was right.
    // Here every entry is compared, for every answer: first user, last
    // user, wrong password, unknown user, empty strings.
    let c = pwdb(b"first:1\nmiddle:22:x\nlast:333\n");
    let all = c.pairs();
    assert_eq!(all, 4, "middle has two accepted passwords");
    for (user, password, ok) in [
        (&b"first"[..], &b"1"[..], true),
        (b"last", b"333", true),
        (b"middle", b"22:x", true),
        (b"first", b"2", false),
        (b"last", b"334", false),
        (b"nobody", b"1", false),
        (b"", b"", false),
    ] {
        let mut got = false;
        assert_eq!(compared(|| got = c.check(user, password)), all);
        assert_eq!(got, ok);
    }
}

#[test]
fn regression_cve_2026_47783_no_early_exit_without_entries() {
    // CVE-2026-47783: with no entries at all the check still compares (a
    // dummy), so an empty file answers no faster than a full one.
    let c = authfile(b"");
    let mut got = true;
    assert_eq!(compared(|| got = c.check(b"user", b"pass")), 1);
    assert!(!got);
}

#[test]
fn regression_cve_2026_47783_scram_lookup_scans_every_user() {
    // CVE-2026-47783 for SCRAM: the keys of a user are looked up by
    // scanning all users; an unknown user gets keys and a salt made the
    // same way, so neither timing nor the salt tells who exists.
    let c = pwdb(b"a:1\nb:2\nc:3\n");
    c.prepare_scram();
    for user in [&b"a"[..], b"c", b"zz"] {
        assert_eq!(
            compared(|| {
                let _ = c.scram_secret(user);
            }),
            3
        );
    }
    let known = c.scram_secret(b"a");
    let unknown = c.scram_secret(b"zz");
    assert_eq!(known, c.scram_secret(b"a"), "stable");
    assert_eq!(
        unknown,
        c.scram_secret(b"zz"),
        "stable for unknown users too"
    );
    assert_eq!(known.iterations, unknown.iterations);
    assert_ne!(known.salt, unknown.salt);
    assert_ne!(c.scram_secret(b"b").stored_key, known.stored_key);
}

#[test]
fn the_check_digests_hide_stored_password_lengths() {
    // Passwords of every length are compared as 32-byte digests: a guess
    // of the right length does no more work than any other.
    let c = authfile(b"a:x\nb:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
    for guess in [&b""[..], b"y", b"yy", &[b'y'; 50]] {
        assert_eq!(
            compared(|| {
                let _ = c.check(b"a", guess);
            }),
            2
        );
    }
}
