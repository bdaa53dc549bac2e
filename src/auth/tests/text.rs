//! The text login, case by case as Debian's memcached 1.6.18 answered
//! them (`scripts/auth-probe.py`; the table is in `docs/auth.md`, and the
//! case names here are its first column). Where ferrocache answers
//! differently on purpose, the row says so.

use crate::auth::text::{self, Action, Parsed, Reply, MAX_AUTH_REQ_LEN, MAX_LINE_WITHOUT_NEWLINE};
use crate::auth::{Credentials, Format};
use Reply::*;

/// The authfile `scripts/auth-probe.py` starts memcached with.
const AUTHFILE: &[u8] = b"user:pass\nalice:pa ss\n:nouser\nempty:\nnul:a\x00b\n";

fn credentials() -> Credentials {
    Credentials::parse(AUTHFILE, Format::AuthFile).unwrap()
}

/// What one request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    /// A reply line (and whether the connection then closes).
    R(Reply, bool),
    /// Waiting for more bytes.
    Wait,
    /// Closed without a reply.
    Close,
}
use Got::*;

/// Feeds `input` as one connection's stream until it is logged in, waits,
/// or closes; returns what each request came to and the bytes left for
/// the ordinary protocol after a login.
fn run<'a>(creds: &Credentials, input: &'a [u8]) -> (Vec<Got>, &'a [u8]) {
    let mut got = Vec::new();
    let mut rest = input;
    loop {
        match text::authenticate(rest, creds) {
            Action::Wait => {
                got.push(Wait);
                return (got, rest);
            }
            Action::Close => {
                got.push(Close);
                return (got, rest);
            }
            Action::Reply {
                consumed,
                reply,
                close,
            } => {
                got.push(R(reply, close));
                rest = &rest[consumed..];
                if close || reply.authenticated() {
                    return (got, rest);
                }
                if rest.is_empty() {
                    return (got, rest);
                }
            }
        }
    }
}

fn block(n: usize) -> Vec<u8> {
    let mut b = b"user pass".to_vec();
    b.resize(n, b'x');
    b.extend_from_slice(b"\r\n");
    b
}

#[test]
fn memcached_table() {
    let creds = credentials();
    let size_16384 = [&b"set k 0 0 16384\r\n"[..], &block(16384)].concat();
    let huge_block = [&b"set k 0 0 100000\r\n"[..], &vec![b'x'; 100_002]].concat();
    let cases: Vec<(&str, &[u8], &[Got])> = vec![
        ("ok", b"set k 0 0 9\r\nuser pass\r\n", &[R(Stored, false)]),
        (
            "wrong-password",
            b"set k 0 0 9\r\nuser pasS\r\n",
            &[R(AuthenticationFailure, false)],
        ),
        (
            "unknown-user",
            b"set k 0 0 9\r\nuserx pas\r\n",
            &[R(AuthenticationFailure, false)],
        ),
        // Only the first two tokens count: a password cannot hold a space.
        (
            "password-with-space",
            b"set k 0 0 11\r\nalice pa ss\r\n",
            &[R(AuthenticationFailure, false)],
        ),
        (
            "two-spaces",
            b"set k 0 0 10\r\nuser  pass\r\n",
            &[R(Stored, false)],
        ),
        (
            "trailing-space",
            b"set k 0 0 10\r\nuser pass \r\n",
            &[R(Stored, false)],
        ),
        (
            "leading-space",
            b"set k 0 0 10\r\n user pass\r\n",
            &[R(Stored, false)],
        ),
        (
            "empty-user",
            b"set k 0 0 7\r\n nouser\r\n",
            &[R(BadTokenFormat, false)],
        ),
        (
            "empty-password",
            b"set k 0 0 6\r\nempty \r\n",
            &[R(BadTokenFormat, false)],
        ),
        (
            "nul-in-password",
            b"set k 0 0 7\r\nnul a\x00b\r\n",
            &[R(Stored, false)],
        ),
        (
            "no-space",
            b"set k 0 0 8\r\nuserpass\r\n",
            &[R(BadTokenFormat, false)],
        ),
        (
            "only-space",
            b"set k 0 0 1\r\n \r\n",
            &[R(BadTokenFormat, false)],
        ),
        (
            "empty-block",
            b"set k 0 0 0\r\n\r\n",
            &[R(BadTokenFormat, false)],
        ),
        (
            "block-bad-termination",
            b"set k 0 0 9\r\nuser passXY",
            &[R(BadTermination, false)],
        ),
        (
            "block-lf-only",
            b"set k 0 0 9\r\nuser pass\nX",
            &[R(BadTermination, false)],
        ),
        (
            "block-crlf-inside",
            b"set k 0 0 11\r\nuser pass\r\n\r\n",
            &[R(AuthenticationFailure, false)],
        ),
        ("block-short-then-wait", b"set k 0 0 9\r\nuser pa", &[Wait]),
        (
            "ok-then-get",
            b"set k 0 0 9\r\nuser pass\r\nget k\r\n",
            &[R(Stored, false)],
        ),
        // memcached 1.6.18 sends only the last reply of requests read
        // together before login (each overwrites the one before in its
        // response buffer); ferrocache answers each.
        (
            "fail-then-ok",
            b"set k 0 0 9\r\nuser pasS\r\nset k 0 0 9\r\nuser pass\r\n",
            &[R(AuthenticationFailure, false), R(Stored, false)],
        ),
        ("get-first", b"get foo\r\n", &[R(Unauthenticated, false)]),
        ("quit-first", b"quit\r\n", &[R(Unauthenticated, false)]),
        (
            "version-first",
            b"version\r\n",
            &[R(Unauthenticated, false)],
        ),
        // The refused line's block is then read as a line (memcached: one
        // reply, the second overwriting the first).
        (
            "add-then-block",
            b"add k 0 0 9\r\nuser pass\r\n",
            &[R(Unauthenticated, false), R(Unauthenticated, false)],
        ),
        (
            "upper-set",
            b"SET k 0 0 9\r\nuser pass\r\n",
            &[R(Unauthenticated, false), R(Unauthenticated, false)],
        ),
        (
            "four-tokens",
            b"set k 0 0\r\n",
            &[R(Unauthenticated, false)],
        ),
        (
            "size-not-number",
            b"set k 0 0 abc\r\n",
            &[R(Unauthenticated, false)],
        ),
        (
            "size-negative",
            b"set k 0 0 -1\r\n",
            &[R(Unauthenticated, false)],
        ),
        (
            "size-minus-zero",
            b"set k 0 0 -0\r\n\r\n",
            &[R(BadTokenFormat, false)],
        ),
        (
            "size-plus",
            b"set k 0 0 +9\r\nuser pass\r\n",
            &[R(Stored, false)],
        ),
        (
            "size-trailing-junk",
            b"set k 0 0 9x\r\nuser pass\r\n",
            &[R(Unauthenticated, false), R(Unauthenticated, false)],
        ),
        (
            "size-leading-zero",
            b"set k 0 0 09\r\nuser pass\r\n",
            &[R(Stored, false)],
        ),
        // memcached cuts the size to 32 bits (2^32 reads as 0: "bad
        // authentication token format"); here it is too long.
        (
            "size-2^32",
            b"set k 0 0 4294967296\r\n\r\n",
            &[R(TokenTooLong, true)],
        ),
        (
            "size-2^64",
            b"set k 0 0 18446744073709551616\r\n",
            &[R(Unauthenticated, false)],
        ),
        (
            "key-flags-ttl-ignored",
            b"set k x y 9\r\nuser pass\r\n",
            &[R(Stored, false)],
        ),
        (
            "extra-tokens-noreply",
            b"set k 0 0 9 noreply\r\nuser pass\r\n",
            &[R(Stored, false)],
        ),
        (
            "lf-only-command",
            b"set k 0 0 9\nuser pass\r\n",
            &[R(Stored, false)],
        ),
        (
            "leading-spaces-command",
            b"  set k 0 0 9\r\nuser pass\r\n",
            &[R(Stored, false)],
        ),
        (
            "tab-separated",
            b"set\tk 0 0 9\r\nuser pass\r\n",
            &[R(Unauthenticated, false), R(Unauthenticated, false)],
        ),
        (
            "nul-in-command",
            b"set k 0 0 9\x00junk\r\nuser pass\r\n",
            &[R(Stored, false)],
        ),
        ("empty-line-crlf", b"\r\n", &[R(Unauthenticated, false)]),
        ("empty-line-lf", b"\n", &[Wait]),
        (
            "empty-lines-lf-lf",
            b"\n\n",
            &[R(Unauthenticated, false), Wait],
        ),
        (
            "empty-lines-then-ok",
            b"\r\n\n\r\nset k 0 0 9\r\nuser pass\r\n",
            &[
                R(Unauthenticated, false),
                R(Unauthenticated, false),
                R(Unauthenticated, false),
                R(Stored, false),
            ],
        ),
        ("spaces-line", b"     \r\n", &[R(Unauthenticated, false)]),
        ("no-newline-2048", &[b'x'; 2048], &[Wait]),
        ("no-newline-2049", &[b'x'; 2049], &[Close]),
        // memcached 1.6.18 resets the connection: line and block do not fit
        // its 16 KiB read buffer. Here a 16384-byte block is read.
        (
            "size-16384",
            &size_16384,
            &[R(AuthenticationFailure, false)],
        ),
        // memcached 1.6.18 waits for a block it cannot buffer; later
        // versions answer this; here the connection also closes.
        (
            "size-16385",
            b"set k 0 0 16385\r\n",
            &[R(TokenTooLong, true)],
        ),
        (
            "size-2^32-1",
            b"set k 0 0 4294967295\r\nuser pass\r\n",
            &[R(TokenTooLong, true)],
        ),
        ("size-huge-block", &huge_block, &[R(TokenTooLong, true)]),
    ];
    let mut wrong = Vec::new();
    for (name, input, want) in &cases {
        let (got, _) = run(&creds, input);
        if got != *want {
            wrong.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn consumed_is_the_line_or_the_line_and_block() {
    let creds = credentials();
    let line = b"set k 0 0 9\r\n".len();
    let ok = b"set k 0 0 9\r\nuser pass\r\nget k\r\n";
    let (got, rest) = run(&creds, ok);
    assert_eq!(got, [R(Stored, false)]);
    assert_eq!(
        rest, b"get k\r\n",
        "after login the rest is ordinary commands"
    );
    for input in [&b"get foo\r\nrest"[..], b"set k 0 0 99999\r\nrest"] {
        let Parsed::Reply { consumed, .. } = text::parse(input) else {
            panic!()
        };
        assert_eq!(&input[consumed..], b"rest");
    }
    assert_eq!(
        text::parse(b"set k 0 0 9\r\nuser passXYrest"),
        Parsed::Reply {
            consumed: line + 11,
            reply: BadTermination,
            close: false
        }
    );
    assert_eq!(
        text::parse(b"set k 0 0 9\r\nuser pass\r\n"),
        Parsed::Token {
            consumed: line + 11,
            user: b"user",
            password: b"pass"
        }
    );
}

#[test]
fn reply_lines_are_memcacheds() {
    let lines = [
        (Stored, "STORED"),
        (AuthenticationFailure, "CLIENT_ERROR authentication failure"),
        (Unauthenticated, "CLIENT_ERROR unauthenticated"),
        (TokenTooLong, "CLIENT_ERROR auth token too long"),
        (
            BadTokenFormat,
            "CLIENT_ERROR bad authentication token format",
        ),
        (BadTermination, "CLIENT_ERROR bad command line termination"),
    ];
    for (reply, line) in lines {
        assert_eq!(reply.line(), line);
        assert_eq!(reply.authenticated(), reply == Stored);
        assert_eq!(
            reply.is_attempt(),
            matches!(reply, Stored | AuthenticationFailure)
        );
    }
}

#[test]
fn reloaded_credentials_decide_the_next_login() {
    let old = credentials();
    let new = Credentials::parse(b"user:other\n", Format::AuthFile).unwrap();
    let login = b"set k 0 0 9\r\nuser pass\r\n";
    assert_eq!(run(&old, login).0, [R(Stored, false)]);
    assert_eq!(run(&new, login).0, [R(AuthenticationFailure, false)]);
}

#[test]
fn regression_asciiauth_size_int_overflow() {
    // memcached before 1.6.42 computed the bytes to read as `size + 2` in
    // 32 bits ("int overflow in asciiauth size"): Debian's 1.6.18 crashes
    // (SIGSEGV) on `set k 0 0 2147483646` and answers garbage near 2^32.
    // Every size over the limit is refused from the line alone.
    for size in [
        "16385",
        "2147483646",
        "2147483647",
        "2147483648",
        "4294967293",
        "4294967294",
        "4294967295",
        "4294967296",
        "18446744073709551615",
    ] {
        let line = format!("set k 0 0 {size}\r\n");
        assert_eq!(
            text::parse(line.as_bytes()),
            Parsed::Reply {
                consumed: line.len(),
                reply: TokenTooLong,
                close: true
            },
            "{size}"
        );
    }
    let at_limit = format!("set k 0 0 {MAX_AUTH_REQ_LEN}\r\n");
    assert_eq!(text::parse(at_limit.as_bytes()), Parsed::Incomplete);
}

#[test]
fn regression_asciiauth_crash_on_huge_token() {
    // memcached 1.6.42 ("auth: crash on a huge token"): a declared block
    // larger than the read buffer was waited for and crashed or reset the
    // connection. The answer comes from the line, before any of the block
    // arrives, and nothing of the block is buffered or consumed.
    let creds = credentials();
    let line = b"set k 0 0 1000000\r\n";
    let mut input = line.to_vec();
    input.extend(vec![b'x'; 4096]);
    assert_eq!(
        text::authenticate(&input, &creds),
        Action::Reply {
            consumed: line.len(),
            reply: TokenTooLong,
            close: true
        }
    );
}

#[test]
fn regression_asciiauth_empty_newlines() {
    // memcached 1.6.44 ("auth crash on empty newlines"): empty lines and
    // empty data blocks before login. Each is answered, or waited on, and
    // never read past.
    let creds = credentials();
    for (input, want) in [
        (&b"\n"[..], &[Wait][..]),
        (b"\r\n", &[R(Unauthenticated, false)]),
        (b"\n\n", &[R(Unauthenticated, false), Wait]),
        (
            b"\n\n\n",
            &[R(Unauthenticated, false), R(Unauthenticated, false), Wait],
        ),
        (
            b"\r\n\r\n",
            &[R(Unauthenticated, false), R(Unauthenticated, false)],
        ),
        (b"\r", &[Wait]),
        (b"set k 0 0 0\r\n\r\n", &[R(BadTokenFormat, false)]),
        (b"set k 0 0 0\r\n\n", &[Wait]),
        (b"set k 0 0 2\r\n\r\n\r\n", &[R(BadTokenFormat, false)]),
        (b"set k 0 0 2\r\n\n\n\r\n", &[R(BadTokenFormat, false)]),
        (b"set k 0 0 0\n\r\n", &[R(BadTokenFormat, false)]),
    ] {
        assert_eq!(run(&creds, input).0, want, "{input:?}");
    }
}

#[test]
fn regression_all_spaces_line() {
    // memcached 1.6.45 ("read overrun on an all-spaces line"): a line of
    // spaces has no token at all.
    let creds = credentials();
    assert_eq!(run(&creds, b"        \r\n").0, [R(Unauthenticated, false)]);
    assert_eq!(run(&creds, b"  \n").0, [R(Unauthenticated, false)]);
    let spaces = vec![b' '; MAX_LINE_WITHOUT_NEWLINE + 1];
    assert_eq!(run(&creds, &spaces).0, [Close]);
    assert_eq!(
        run(&creds, b"set k 0 0 4\r\n    \r\n").0,
        [R(BadTokenFormat, false)]
    );
}
