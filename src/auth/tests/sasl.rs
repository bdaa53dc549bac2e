//! The SASL exchange: PLAIN as memcached with Cyrus answers it (the cases
//! of `scripts/sasl-probe.py`, run against Debian's memcached 1.6.18 with a
//! Cyrus sasldb), SCRAM-SHA-256 driven by rsasl's own client, and the
//! bounds on what a client sends.

use crate::auth::sasl::{
    Mechanism, SaslServer, Step, FAILURE_BODY, MAX_MECHANISM_LEN, MAX_SASL_DATA_LEN,
    STATUS_AUTH_CONTINUE, STATUS_AUTH_ERROR, SUCCESS_BODY,
};
use crate::auth::{Credentials, Format, SharedCredentials};
use rsasl::prelude::{Mechname, SASLClient, SASLConfig, State};

const PWDB: &[u8] = b"user:pass\nalice:pa ss\nbob:secret:extra\n";

fn credentials() -> SharedCredentials {
    SharedCredentials::new(Credentials::parse(PWDB, Format::SaslPwdb).unwrap())
}

fn server(mechanisms: &[Mechanism]) -> SaslServer {
    SaslServer::new(credentials(), mechanisms)
}

fn plain(data: &[u8]) -> Step {
    server(&[Mechanism::Plain]).exchange().start(b"PLAIN", data)
}

#[test]
fn mechanism_list_names_the_offered_mechanisms_in_order() {
    assert_eq!(
        server(&Mechanism::ALL).mechanism_list(),
        "PLAIN SCRAM-SHA-256",
        "what Debian's memcached lists with `mech_list: plain scram-sha-256`"
    );
    let s = server(&[
        Mechanism::ScramSha256,
        Mechanism::Plain,
        Mechanism::ScramSha256,
    ]);
    assert_eq!(s.mechanism_list(), "SCRAM-SHA-256 PLAIN");
    assert_eq!(s.mechanisms(), [Mechanism::ScramSha256, Mechanism::Plain]);
    assert_eq!(server(&[Mechanism::Plain]).mechanism_list(), "PLAIN");
}

#[test]
fn steps_map_onto_binary_replies() {
    assert_eq!(
        (Step::Success.status(), Step::Success.body()),
        (0, SUCCESS_BODY)
    );
    assert_eq!(
        (Step::Failure.status(), Step::Failure.body()),
        (STATUS_AUTH_ERROR, FAILURE_BODY)
    );
    let c = Step::Continue(b"r=abc".to_vec());
    assert_eq!(
        (c.status(), c.body()),
        (STATUS_AUTH_CONTINUE, &b"r=abc"[..])
    );
    assert_eq!((STATUS_AUTH_ERROR, STATUS_AUTH_CONTINUE), (0x20, 0x21));
    assert_eq!(SUCCESS_BODY, b"Authenticated");
    assert_eq!(FAILURE_BODY, b"Auth failure.");
}

#[test]
fn plain_success_names_the_user() {
    let s = server(&Mechanism::ALL);
    let mut ex = s.exchange();
    assert_eq!(ex.user(), None);
    assert_eq!(ex.start(b"PLAIN", b"\0user\0pass"), Step::Success);
    assert_eq!(ex.user(), Some(&b"user"[..]));
    assert_eq!(
        plain(b"\0alice\0pa ss"),
        Step::Success,
        "spaces are fine in SASL"
    );
    assert_eq!(plain(b"\0bob\0secret"), Step::Success);
    assert_eq!(
        plain(b"\0bob\0secret:extra"),
        Step::Success,
        "pwdb prefix rule"
    );
}

#[test]
fn plain_failures() {
    for data in [
        &b"\0user\0pasS"[..], // wrong password
        b"\0nobody\0pass",    // unknown user
        b"\0user\0",          // empty password
        b"\0\0pass",          // empty user
        b"user\0pass",        // one NUL
        b"\0user\0pass\0",    // three NULs
        b"\0bob\0secret:ex",  // not up to a separator
    ] {
        assert_eq!(plain(data), Step::Failure, "{data:?}");
    }
}

#[test]
fn plain_authzid_must_be_empty_or_the_user() {
    // Cyrus's default: nobody may act as someone else.
    assert_eq!(plain(b"user\0user\0pass"), Step::Success);
    assert_eq!(plain(b"alice\0user\0pass"), Step::Failure);
    let s = server(&[Mechanism::Plain]);
    let mut ex = s.exchange();
    assert_eq!(ex.start(b"PLAIN", b"alice\0user\0pass"), Step::Failure);
    assert_eq!(ex.user(), None);
}

#[test]
fn plain_without_initial_response_continues_empty_then_steps() {
    let s = server(&[Mechanism::Plain]);
    let mut ex = s.exchange();
    assert_eq!(ex.start(b"PLAIN", b""), Step::Continue(Vec::new()));
    assert_eq!(ex.step(b"\0user\0pass"), Step::Success);
    assert_eq!(ex.start(b"PLAIN", b""), Step::Continue(Vec::new()));
    assert_eq!(ex.step(b""), Step::Failure);
}

#[test]
fn mechanism_names_match_without_case() {
    let s = server(&[Mechanism::Plain]);
    assert_eq!(s.exchange().start(b"plain", b"\0user\0pass"), Step::Success);
    assert_eq!(s.exchange().start(b"Plain", b"\0user\0pass"), Step::Success);
    assert_eq!(
        Mechanism::from_name(b"scram-sha-256"),
        Some(Mechanism::ScramSha256)
    );
    assert_eq!(Mechanism::from_name(b"SCRAM-SHA-1"), None);
}

#[test]
fn unknown_or_unoffered_mechanisms_fail() {
    let s = server(&[Mechanism::Plain]);
    for mech in [&b"FOO"[..], b"", b"SCRAM-SHA-256", b"PLAIN ", b"CRAM-MD5"] {
        assert_eq!(
            s.exchange().start(mech, b"\0user\0pass"),
            Step::Failure,
            "{mech:?}"
        );
    }
}

#[test]
fn step_without_exchange_or_after_its_end_fails() {
    let s = server(&Mechanism::ALL);
    let mut ex = s.exchange();
    assert_eq!(ex.step(b"\0user\0pass"), Step::Failure, "no AUTH yet");
    assert_eq!(ex.start(b"PLAIN", b"\0user\0pass"), Step::Success);
    assert_eq!(ex.step(b"\0user\0pass"), Step::Failure, "after success");
    assert_eq!(ex.start(b"PLAIN", b"\0user\0x"), Step::Failure);
    assert_eq!(ex.user(), None, "a new AUTH drops the earlier success");
    assert_eq!(ex.step(b"\0user\0pass"), Step::Failure, "after failure");
    assert_eq!(
        ex.start(b"PLAIN", b"\0user\0pass"),
        Step::Success,
        "AUTH again"
    );
}

#[test]
fn regression_sasl_mechanism_name_over_32_bytes_fails() {
    // memcached's MAX_SASL_MECH_LEN: a longer name is EINVAL there (the
    // framing answers that); the exchange refuses it without a look.
    let s = server(&Mechanism::ALL);
    let long = vec![b'X'; MAX_MECHANISM_LEN + 1];
    assert_eq!(s.exchange().start(&long, b"\0user\0pass"), Step::Failure);
    let mut padded = b"PLAIN".to_vec();
    padded.resize(MAX_MECHANISM_LEN, b' ');
    assert_eq!(s.exchange().start(&padded, b"\0user\0pass"), Step::Failure);
}

#[test]
fn regression_cve_2016_8706_sasl_payload_is_bounded() {
    // CVE-2016-8706: process_bin_sasl_auth computed the SASL data length as
    // bodylen - keylen without checks and allocated it; memcached later
    // refused auth tokens over its item size. The exchange refuses data
    // over MAX_SASL_DATA_LEN, in AUTH and in STEP, before parsing it.
    let s = server(&Mechanism::ALL);
    let mut huge = b"\0user\0pass".to_vec();
    huge.resize(MAX_SASL_DATA_LEN + 1, b'x');
    assert_eq!(s.exchange().start(b"PLAIN", &huge), Step::Failure);
    let mut ex = s.exchange();
    assert_eq!(ex.start(b"PLAIN", b""), Step::Continue(Vec::new()));
    assert_eq!(ex.step(&huge), Step::Failure);
    assert_eq!(
        ex.step(b"\0user\0pass"),
        Step::Failure,
        "the exchange ended"
    );
    // At the limit it is parsed (and fails on the password).
    let mut at_limit = b"\0user\0".to_vec();
    at_limit.resize(MAX_SASL_DATA_LEN, b'x');
    assert_eq!(s.exchange().start(b"PLAIN", &at_limit), Step::Failure);
}

/// Runs SCRAM-SHA-256 with rsasl's client as `user` / `password` (and
/// `authzid`), answering each server message; returns every server step.
fn scram(s: &SaslServer, authzid: Option<&str>, user: &str, password: &str) -> Vec<Step> {
    let config = SASLConfig::with_credentials(
        authzid.map(str::to_string),
        user.to_string(),
        password.to_string(),
    )
    .unwrap();
    let name = Mechname::parse(b"SCRAM-SHA-256").unwrap();
    let mut client = SASLClient::new(config).start_suggested(&[name]).unwrap();
    let mut out = Vec::new();
    client.step(None, &mut out).unwrap();
    let mut ex = s.exchange();
    let mut steps = vec![ex.start(b"SCRAM-SHA-256", &out)];
    while let Some(Step::Continue(challenge)) = steps.last() {
        let mut out = Vec::new();
        let state = client.step(Some(challenge), &mut out);
        if state.is_err() {
            break; // the client refused the server's message
        }
        steps.push(ex.step(&out));
        if matches!(state, Ok(State::Finished(_))) {
            break;
        }
    }
    if steps.last() == Some(&Step::Success) {
        assert_eq!(ex.user(), Some(user.as_bytes()));
    }
    steps
}

#[test]
fn scram_sha_256_full_exchange_with_rsasl_client() {
    let s = server(&Mechanism::ALL);
    let steps = scram(&s, None, "user", "pass");
    assert_eq!(steps.len(), 3, "{steps:?}");
    let Step::Continue(first) = &steps[0] else {
        panic!("server-first: {steps:?}")
    };
    assert!(first.starts_with(b"r=") && first.windows(7).any(|w| w == b",i=4096"));
    let Step::Continue(last) = &steps[1] else {
        panic!("server-final: {steps:?}")
    };
    assert!(
        last.starts_with(b"v="),
        "the server's signature, as Cyrus sends it"
    );
    assert_eq!(steps[2], Step::Success, "an empty STEP completes it");
    assert_eq!(
        scram(&s, None, "bob", "secret").last(),
        Some(&Step::Success)
    );
    assert_eq!(
        scram(&s, Some("user"), "user", "pass").last(),
        Some(&Step::Success)
    );
}

#[test]
fn scram_sha_256_failures() {
    let s = server(&Mechanism::ALL);
    for (authzid, user, password) in [
        (None, "user", "pasS"),
        (None, "bob", "secret:extra"), // SCRAM knows the first password only
        (Some("alice"), "user", "pass"),
    ] {
        let steps = scram(&s, authzid, user, password);
        assert_eq!(
            steps.last(),
            Some(&Step::Failure),
            "{user}/{password}: {steps:?}"
        );
    }
    assert_eq!(
        server(&[Mechanism::Plain])
            .exchange()
            .start(b"SCRAM-SHA-256", b"n,,n=user,r=abc"),
        Step::Failure,
        "not offered"
    );
}

#[test]
fn scram_unknown_user_fails_at_the_proof_like_a_wrong_password() {
    // Cyrus fails an unknown user at once (telling the client it does not
    // exist); here the exchange runs to the proof.
    let s = server(&Mechanism::ALL);
    let steps = scram(&s, None, "nobody", "pass");
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(matches!(steps[0], Step::Continue(_)));
    assert_eq!(steps[1], Step::Failure);
    let salt = |user: &str| {
        let mut ex = s.exchange();
        let first = format!("n,,n={user},r=clientnonce");
        let Step::Continue(reply) = ex.start(b"SCRAM-SHA-256", first.as_bytes()) else {
            panic!("no server-first for {user}")
        };
        let reply = String::from_utf8(reply).unwrap();
        let salt = reply.split(',').find(|f| f.starts_with("s=")).unwrap();
        let iterations = reply.split(',').find(|f| f.starts_with("i=")).unwrap();
        (salt.to_string(), iterations.to_string())
    };
    assert_eq!(
        salt("nobody"),
        salt("nobody"),
        "an unknown user's salt is stable"
    );
    assert_eq!(salt("user"), salt("user"));
    assert_eq!(salt("nobody").1, salt("user").1, "same iteration count");
}

#[test]
fn scram_final_step_must_be_empty() {
    let s = server(&Mechanism::ALL);
    let config = SASLConfig::with_credentials(None, "user".into(), "pass".into()).unwrap();
    let name = Mechname::parse(b"SCRAM-SHA-256").unwrap();
    let mut client = SASLClient::new(config).start_suggested(&[name]).unwrap();
    let mut out = Vec::new();
    client.step(None, &mut out).unwrap();
    let mut ex = s.exchange();
    let Step::Continue(first) = ex.start(b"SCRAM-SHA-256", &out) else {
        panic!()
    };
    let mut out = Vec::new();
    client.step(Some(&first), &mut out).unwrap();
    assert!(matches!(ex.step(&out), Step::Continue(_)));
    assert_eq!(ex.step(b"x"), Step::Failure);
    assert_eq!(ex.user(), None);
}

#[test]
fn scram_names_are_unescaped() {
    // RFC 5802 writes ',' and '=' in names as =2C and =3D.
    let pwdb = b"a,b=c:pw\n";
    let shared = SharedCredentials::new(Credentials::parse(pwdb, Format::SaslPwdb).unwrap());
    let s = SaslServer::new(shared, &Mechanism::ALL);
    assert_eq!(scram(&s, None, "a,b=c", "pw").last(), Some(&Step::Success));
}

#[test]
fn new_exchanges_see_reloaded_credentials() {
    let shared = credentials();
    let s = SaslServer::new(shared.clone(), &Mechanism::ALL);
    shared.replace(Credentials::parse(b"user:changed\n", Format::SaslPwdb).unwrap());
    assert_eq!(s.exchange().start(b"PLAIN", b"\0user\0pass"), Step::Failure);
    assert_eq!(
        s.exchange().start(b"PLAIN", b"\0user\0changed"),
        Step::Success
    );
    assert_eq!(
        scram(&s, None, "user", "changed").last(),
        Some(&Step::Success)
    );
}

#[test]
fn regression_rsasl_scram_parser_panics_on_short_attributes() {
    // Not a memcached bug: rsasl 2.3.1's SCRAM parser slices two bytes of
    // every attribute unchecked, so a short one panicked the worker. Found
    // by the `auth` fuzz target (seed sasl-scram-empty-final). The
    // exchange screens SCRAM messages first; none of these reaches rsasl.
    let s = server(&Mechanism::ALL);
    let before = crate::auth::sasl::caught_panics_here();
    for first in [
        &b"n"[..],
        b"n,",
        b"n,,",
        b"n,,n",
        b"n,,n=user,r",
        b"n,a,n=user,r=abc",
        b"n,,x,r=abc",
        b"y,,n=user,r=abc,",
    ] {
        assert_eq!(
            s.exchange().start(b"SCRAM-SHA-256", first),
            Step::Failure,
            "{first:?}"
        );
    }
    for last in [
        &b""[..],
        b"c",
        b"c=biws,r",
        b"c=biws,r=abc,p",
        b"c=biws,r=abc,x,p=AA==",
    ] {
        let mut ex = s.exchange();
        assert!(matches!(
            ex.start(b"SCRAM-SHA-256", b"n,,n=user,r=abc"),
            Step::Continue(_)
        ));
        assert_eq!(ex.step(last), Step::Failure, "{last:?}");
    }
    // The fuzz target's input: AUTH with no data, then the client-first
    // message, then an empty client-final.
    let mut ex = s.exchange();
    assert_eq!(ex.start(b"SCRAM-SHA-256", b""), Step::Continue(Vec::new()));
    assert!(matches!(ex.step(b"n,,n=user,r=ab2"), Step::Continue(_)));
    assert_eq!(ex.step(b""), Step::Failure);
    assert_eq!(
        crate::auth::sasl::caught_panics_here(),
        before,
        "screened, not caught"
    );
}

#[test]
fn a_panic_inside_the_sasl_library_is_a_failure_not_a_dead_worker() {
    let before = crate::auth::sasl::caught_panics_here();
    assert_eq!(crate::auth::sasl::guarded(|| 7), Some(7));
    let caught: Option<()> = crate::auth::sasl::guarded(|| panic!("a bug in rsasl"));
    assert_eq!(caught, None);
    assert!(crate::auth::sasl::caught_panics_here() > before);
}
