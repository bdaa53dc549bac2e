//! The auth library's contract, checked on arbitrary bytes.
//!
//! [`check`] is what the coverage-guided fuzz target
//! (`fuzz/fuzz_targets/auth.rs`) asserts on every input, and what the unit
//! tests assert on every file of its seed corpus (`fuzz/corpus/auth/`). It
//! reads the same bytes three ways and panics, naming the broken rule, when:
//!
//! - **files**: a credentials file yields more than 8 authfile entries, a
//!   user holding `:` or a newline, a password holding a newline, a SASL
//!   database user twice, or a password memcached would refuse as too long;
//! - **text login** (the bytes as one connection's stream, [`text::parse`]
//!   request after request): `consumed` is zero or past the buffer; a
//!   proper prefix of a request is not `Incomplete` (or `Close` once it is a
//!   newline-less run past 2048 bytes); a newline-less run past 2048 bytes
//!   does not close; bytes after a request change it (except that a lone
//!   `\n` waits for a second byte, as in memcached);
//!   `Incomplete` is a dead end (a newline and a maximal block do not
//!   complete it); a user or password is empty, holds a space or NUL, or
//!   lies outside the request; only "token too long" closes; and
//!   [`text::authenticate`] disagrees with [`Credentials::check`];
//! - **SASL** (the bytes as frames: an operation byte, a 16-bit length,
//!   data, driving one [`Exchange`]): success without a known user, a
//!   failed AUTH keeping a user or a failed STEP changing it, a challenge
//!   over 1 KiB, data over the limit not failing, or a STEP after the
//!   exchange ended not failing.

use super::file::{self, Format, AUTHFILE_MAX_ENTRIES, PWDB_MAX_USER_AND_PASSWORD};
use super::sasl::{Exchange, Mechanism, SaslServer, Step, MAX_SASL_DATA_LEN};
use super::text::{self, Parsed, Reply, MAX_AUTH_REQ_LEN, MAX_LINE_WITHOUT_NEWLINE, MIN_BUFFERED};
use super::{Credentials, SharedCredentials};
use std::sync::OnceLock;

/// The authfile the text checks log in against.
pub const AUTHFILE: &[u8] = b"user:pass\nalice:pa ss\n";

/// The SASL database the SASL checks log in against.
pub const PWDB: &[u8] = b"user:pass\nalice:secret:extra\n";

/// The users of [`AUTHFILE`] and [`PWDB`].
pub const USERS: [&[u8]; 2] = [b"user", b"alice"];

fn authfile() -> &'static Credentials {
    static C: OnceLock<Credentials> = OnceLock::new();
    C.get_or_init(|| Credentials::parse(AUTHFILE, Format::AuthFile).expect("a valid authfile"))
}

fn sasl_server() -> &'static SaslServer {
    static S: OnceLock<SaslServer> = OnceLock::new();
    S.get_or_init(|| {
        let c = Credentials::parse(PWDB, Format::SaslPwdb).expect("a valid database");
        SaslServer::new(SharedCredentials::new(c), &Mechanism::ALL)
    })
}

/// Checks `input` as credentials files, as a text-login stream and as SASL
/// frames; panics on the first rule broken.
pub fn check(input: &[u8]) {
    check_files(input);
    check_text(input);
    let panics = super::sasl::caught_panics_here();
    check_sasl(input);
    assert_eq!(
        super::sasl::caught_panics_here(),
        panics,
        "rsasl panicked (caught) on {}",
        show(input)
    );
}

fn show(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
    format!("{s:?} ({} bytes)", bytes.len())
}

/// The file rules.
pub fn check_files(input: &[u8]) {
    match file::parse(input, Format::AuthFile) {
        Ok(parsed) => {
            assert!(
                parsed.entries.len() <= AUTHFILE_MAX_ENTRIES,
                "authfile: more than {AUTHFILE_MAX_ENTRIES} entries from {}",
                show(input)
            );
            for e in &parsed.entries {
                assert!(
                    !e.user.iter().any(|&b| b == b':' || b == b'\n' || b == 0),
                    "authfile: user {:?} holds ':', a newline or NUL",
                    show(&e.user)
                );
                assert_eq!(e.passwords.len(), 1, "authfile: one password per line");
                assert!(
                    !e.passwords[0]
                        .iter()
                        .any(|&b| matches!(b, b'\n' | b'\r' | 0)),
                    "authfile: password holds a newline, CR or NUL"
                );
            }
        }
        Err(m) => {
            let lines = input.iter().filter(|&&b| b == b'\n').count() + 1;
            assert!(
                m.line >= 1 && m.line <= lines,
                "authfile: malformed line {} of {lines}",
                m.line
            );
        }
    }
    let Ok(parsed) = file::parse(input, Format::SaslPwdb) else {
        panic!("SASL database: malformed is never an error");
    };
    let mut users: Vec<&[u8]> = Vec::new();
    for e in &parsed.entries {
        assert!(
            !e.user.iter().any(|&b| b == b':' || b == b'\n'),
            "SASL database: user holds ':' or a newline"
        );
        assert!(
            !users.contains(&e.user.as_slice()),
            "SASL database: a user twice"
        );
        users.push(&e.user);
        assert!(
            !e.passwords.is_empty(),
            "SASL database: an entry without password"
        );
        for w in e.passwords.windows(2) {
            assert!(
                w[1].starts_with(&w[0]) && w[1].len() > w[0].len(),
                "SASL database: passwords are not growing prefixes"
            );
        }
        for p in &e.passwords {
            assert!(
                !p.contains(&b'\n'),
                "SASL database: password holds a newline"
            );
            assert!(
                e.user.len() + p.len() <= PWDB_MAX_USER_AND_PASSWORD,
                "SASL database: a password memcached refuses as too long"
            );
        }
    }
}

/// A text-login parser with [`text::parse`]'s signature.
pub type ParseFn = for<'a> fn(&'a [u8]) -> Parsed<'a>;

/// The text-login rules.
pub fn check_text(input: &[u8]) {
    check_stream(text::parse, true, input);
}

/// [`check_text`] for another parser (the unit tests show that a parser
/// breaking a rule is caught); [`text::authenticate`] is not compared.
pub fn check_text_with(parse: ParseFn, input: &[u8]) {
    check_stream(parse, false, input);
}

fn check_stream(parse: ParseFn, with_authenticate: bool, input: &[u8]) {
    let creds = authfile();
    let mut pos = 0;
    while pos < input.len() {
        let rest = &input[pos..];
        let parsed = parse(rest);
        let (consumed, close) = match parsed {
            Parsed::Incomplete => {
                assert!(
                    rest.contains(&b'\n') || rest.len() <= MAX_LINE_WITHOUT_NEWLINE,
                    "no newline in more than 2048 bytes, and not closed: {}",
                    show(rest)
                );
                check_not_dead_end(parse, rest);
                return;
            }
            Parsed::Close => {
                assert!(
                    !rest.contains(&b'\n') && rest.len() > MAX_LINE_WITHOUT_NEWLINE,
                    "Close with a newline, or within 2048 bytes: {}",
                    show(rest)
                );
                return;
            }
            Parsed::Reply {
                consumed,
                reply,
                close,
            } => {
                assert!(
                    !reply.is_attempt(),
                    "parse answered {reply:?}, which only a credential check may"
                );
                assert_eq!(
                    close,
                    reply == Reply::TokenTooLong,
                    "only a token too long closes: {reply:?} for {}",
                    show(rest)
                );
                (consumed, close)
            }
            Parsed::Token {
                consumed,
                user,
                password,
            } => {
                for (what, t) in [("user", user), ("password", password)] {
                    assert!(
                        !t.is_empty() && !t.contains(&b' ') && !t.contains(&0),
                        "{what} {} empty, or with a space or NUL",
                        show(t)
                    );
                    let inside = rest[..consumed].as_ptr_range();
                    assert!(
                        inside.contains(&t.as_ptr()) && t.as_ptr_range().end <= inside.end,
                        "{what} lies outside the request"
                    );
                }
                assert!(
                    rest[..consumed].ends_with(b"\r\n"),
                    "a login attempt's block ends in \\r\\n"
                );
                if with_authenticate {
                    let expect = if creds.check(user, password) {
                        Reply::Stored
                    } else {
                        Reply::AuthenticationFailure
                    };
                    assert_eq!(
                        text::authenticate(rest, creds),
                        text::Action::Reply {
                            consumed,
                            reply: expect,
                            close: false
                        },
                        "authenticate disagrees with check for {}",
                        show(rest)
                    );
                }
                (consumed, false)
            }
        };
        assert!(
            consumed > 0 && consumed <= rest.len(),
            "consumed {consumed} of {}",
            show(rest)
        );
        // (A lone "\n" is decided only once a second byte is buffered, as
        // memcached waits for 2 bytes: alone it is still Incomplete.)
        let alone = if consumed < MIN_BUFFERED {
            Parsed::Incomplete
        } else {
            parsed
        };
        assert_eq!(
            parse(&rest[..consumed]),
            alone,
            "bytes after the request changed it: {}",
            show(rest)
        );
        check_prefixes(parse, &rest[..consumed]);
        if close {
            return;
        }
        pos += consumed;
    }
}

/// Every proper prefix of a request is `Incomplete`, or `Close` once it is
/// a newline-less run past 2048 bytes. Long requests are checked at a few
/// telling lengths rather than at every one.
fn check_prefixes(parse: ParseFn, request: &[u8]) {
    let check = |n: usize| {
        let prefix = &request[..n];
        let got = parse(prefix);
        let closes = !prefix.contains(&b'\n') && n > MAX_LINE_WITHOUT_NEWLINE;
        let want = if closes {
            Parsed::Close
        } else {
            Parsed::Incomplete
        };
        assert_eq!(got, want, "a proper prefix of {} decided", show(request));
    };
    if request.len() <= 512 {
        (0..request.len()).for_each(check);
    } else {
        let newline = memchr::memchr(b'\n', request).unwrap_or(0);
        for n in [
            0,
            1,
            2,
            newline,
            newline + 1,
            request.len() / 2,
            request.len() - 1,
        ] {
            if n < request.len() {
                check(n);
            }
        }
    }
}

/// A newline and the largest block complete whatever is incomplete.
fn check_not_dead_end(parse: ParseFn, rest: &[u8]) {
    let mut more = rest.to_vec();
    more.extend_from_slice(b"\n");
    more.resize(more.len() + MAX_AUTH_REQ_LEN + 2, b'x');
    assert_ne!(
        parse(&more),
        Parsed::Incomplete,
        "Incomplete is a dead end for {}",
        show(rest)
    );
}

/// The mechanism names a SASL frame can pick.
const MECHANISMS: [&[u8]; 6] = [
    b"PLAIN",
    b"SCRAM-SHA-256",
    b"plain",
    b"FOO",
    b"",
    b"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", // 33 bytes: over memcached's 32
];

/// The SASL rules. Frames: one operation byte (low bit clear: AUTH with
/// the mechanism `MECHANISMS[(op >> 1) % 6]`; set: STEP), a little-endian
/// 16-bit length (cut to what is left), the data.
pub fn check_sasl(input: &[u8]) {
    let mut exchange: Exchange = sasl_server().exchange();
    let mut rest = input;
    let mut ended = true; // no exchange under way yet
    while let Some((&op, after)) = rest.split_first() {
        let (len, after) = match after {
            [a, b, tail @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), tail),
            _ => (after.len(), &after[after.len()..]),
        };
        let (data, after) = after.split_at(len.min(after.len()));
        rest = after;
        let is_step = op & 1 == 1;
        let before = exchange.user().map(<[u8]>::to_vec);
        let step = if is_step {
            exchange.step(data)
        } else {
            exchange.start(MECHANISMS[usize::from(op >> 1) % MECHANISMS.len()], data)
        };
        if is_step && ended {
            assert_eq!(step, Step::Failure, "a STEP with no exchange under way");
        }
        if data.len() > MAX_SASL_DATA_LEN {
            assert_eq!(step, Step::Failure, "data over the limit did not fail");
        }
        match &step {
            Step::Success => {
                let user = exchange.user().expect("success names the user");
                assert!(
                    USERS.contains(&user),
                    "success for unknown user {}",
                    show(user)
                );
            }
            // A failed AUTH drops an earlier success; a failed STEP leaves
            // it as it was.
            Step::Failure if is_step => {
                assert_eq!(
                    exchange.user(),
                    before.as_deref(),
                    "a failed STEP changed the user"
                )
            }
            Step::Failure => assert!(exchange.user().is_none(), "a failed AUTH keeps a user"),
            Step::Continue(challenge) => {
                assert!(
                    challenge.len() <= 1024,
                    "a challenge of {} bytes",
                    challenge.len()
                );
            }
        }
        ended = !matches!(step, Step::Continue(_));
    }
}
