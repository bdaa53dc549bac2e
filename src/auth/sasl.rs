//! SASL for the binary protocol's SASL_LIST_MECHS (0x20), SASL_AUTH (0x21)
//! and SASL_STEP (0x22), server side, with the `rsasl` crate: PLAIN and
//! SCRAM-SHA-256, both checked against [`SharedCredentials`].
//!
//! A [`SaslServer`] is made once (it holds the rsasl configuration and the
//! credentials handle); each connection takes an [`Exchange`] from it and
//! feeds it the SASL_AUTH mechanism and data ([`Exchange::start`]) and each
//! SASL_STEP's data ([`Exchange::step`]). Every call answers a [`Step`],
//! which maps onto the reply memcached sends: status 0 with
//! [`SUCCESS_BODY`], `AUTH_CONTINUE` (0x21) with the challenge, or
//! `AUTH_ERROR` (0x20) with [`FAILURE_BODY`].
//!
//! What memcached (with Cyrus SASL) does, and this does too:
//!
//! - mechanism names are matched without regard to case (`plain` works);
//! - an AUTH with no data answers CONTINUE with an empty challenge, and the
//!   next STEP carries the mechanism's first message;
//! - PLAIN's authorization id must be empty or the authentication id itself
//!   (Cyrus's default policy: nobody may act as someone else);
//! - SCRAM's last server message (`v=…`, the server's signature) comes as
//!   a CONTINUE, and an empty STEP from the client completes the exchange;
//! - a STEP with no exchange under way, or after one ended, fails;
//! - an AUTH starts over, whatever came before.
//!
//! And where it does better:
//!
//! - SCRAM with an unknown user goes on to the end and fails on the proof,
//!   with a salt made as a real user's would be (Cyrus fails at once, which
//!   tells a client that the user does not exist);
//! - a SCRAM message whose attributes are not all `x=…` fails before rsasl
//!   sees it: rsasl 2.3.1's parser panics on short ones (found by the fuzz
//!   target); any other panic of rsasl is caught and answered as a failure
//!   ([`caught_panics`] counts them);
//! - inputs are bounded: a mechanism name over [`MAX_MECHANISM_LEN`] or
//!   data over [`MAX_SASL_DATA_LEN`] fails without being looked at (the
//!   binary framing should refuse such a body before buffering it; memcached
//!   answers EINVAL for the name and, for data, whatever its item size limit
//!   allows).
//!
//! rsasl applies SASLprep (RFC 4013) to PLAIN's user and password when they
//! are UTF-8, as RFC 4616 asks: ASCII without control characters is left
//! as it is, but a password with a control character (a tab) fails, and
//! non-ASCII spaces become spaces. SCRAM keys are derived from the file's
//! bytes as they are.

use super::credentials::SharedCredentials;
use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::mechanisms::scram::properties::ScramStoredPassword;
use rsasl::prelude::{
    Mechname, MessageSent, Registry, SASLConfig, SASLServer, Session, SessionError, State,
};
use rsasl::property::{AuthId, AuthzId, Password};
use rsasl::validate::{Validate, Validation, ValidationError};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The longest mechanism name memcached accepts (`MAX_SASL_MECH_LEN`);
/// longer is EINVAL there, and [`Step::Failure`] here.
pub const MAX_MECHANISM_LEN: usize = 32;

/// The most SASL data one AUTH or STEP may carry. PLAIN's message is three
/// short strings and SCRAM's are a few hundred bytes; this leaves room for
/// long names and passwords and bounds what a client can make the server
/// hold.
pub const MAX_SASL_DATA_LEN: usize = 16 * 1024;

/// Binary status for a challenge: `PROTOCOL_BINARY_RESPONSE_AUTH_CONTINUE`.
pub const STATUS_AUTH_CONTINUE: u16 = 0x21;

/// Binary status for a failure: `PROTOCOL_BINARY_RESPONSE_AUTH_ERROR`.
pub const STATUS_AUTH_ERROR: u16 = 0x20;

/// The body memcached sends with status 0 when authentication succeeds.
pub const SUCCESS_BODY: &[u8] = b"Authenticated";

/// The body memcached sends with [`STATUS_AUTH_ERROR`].
pub const FAILURE_BODY: &[u8] = b"Auth failure.";

/// A SASL mechanism ferrocache offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// PLAIN (RFC 4616): the password in clear, in one message. What
    /// memcached clients use.
    Plain,
    /// SCRAM-SHA-256 (RFC 7677): challenge and response; the password never
    /// crosses the wire and the server proves it knows it too.
    ScramSha256,
}

impl Mechanism {
    /// Every mechanism, in the order SASL_LIST_MECHS names them by default
    /// (the order Debian's memcached lists them with Cyrus).
    pub const ALL: [Mechanism; 2] = [Mechanism::Plain, Mechanism::ScramSha256];

    /// The mechanism's SASL name.
    pub const fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
        }
    }

    /// The mechanism a client named, without regard to ASCII case.
    pub fn from_name(name: &[u8]) -> Option<Mechanism> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

/// What an AUTH or STEP answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// More is needed: send `AUTH_CONTINUE` (0x21) with this challenge as
    /// the body (possibly empty), and wait for a SASL_STEP.
    Continue(Vec<u8>),
    /// Authenticated: send status 0 with [`SUCCESS_BODY`].
    Success,
    /// Not authenticated: send `AUTH_ERROR` (0x20) with [`FAILURE_BODY`].
    /// The connection may try again with a new SASL_AUTH.
    Failure,
}

impl Step {
    /// The binary status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Step::Continue(_) => STATUS_AUTH_CONTINUE,
            Step::Success => 0,
            Step::Failure => STATUS_AUTH_ERROR,
        }
    }

    /// The binary body to answer with.
    pub fn body(&self) -> &[u8] {
        match self {
            Step::Continue(challenge) => challenge,
            Step::Success => SUCCESS_BODY,
            Step::Failure => FAILURE_BODY,
        }
    }
}

/// The mechanisms and credentials of a server; makes one [`Exchange`] per
/// connection. Cheap to clone.
#[derive(Clone)]
pub struct SaslServer {
    inner: Arc<ServerInner>,
}

struct ServerInner {
    config: Arc<SASLConfig>,
    mechanisms: Vec<Mechanism>,
    list: String,
}

impl std::fmt::Debug for SaslServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslServer")
            .field("mechanisms", &self.inner.list)
            .finish_non_exhaustive()
    }
}

/// What rsasl knows how to run; [`SaslServer`] offers the configured part.
static RSASL_MECHANISMS: &[rsasl::prelude::Mechanism] = &[
    rsasl::mechanisms::plain::PLAIN,
    rsasl::mechanisms::scram::SCRAM_SHA256,
];

impl SaslServer {
    /// A server offering `mechanisms` (in that order; duplicates dropped),
    /// checking against `credentials`. Offering SCRAM-SHA-256 makes the
    /// credentials derive their SCRAM keys now and at every reload.
    pub fn new(credentials: SharedCredentials, mechanisms: &[Mechanism]) -> SaslServer {
        let mut offered: Vec<Mechanism> = Vec::new();
        for m in mechanisms {
            if !offered.contains(m) {
                offered.push(*m);
            }
        }
        if offered.contains(&Mechanism::ScramSha256) {
            credentials.prepare_scram();
        }
        let config = SASLConfig::builder()
            .with_registry(Registry::with_mechanisms(RSASL_MECHANISMS))
            .with_callback(Callback { credentials })
            .expect("rsasl accepts a static registry and a callback");
        let list = offered
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(" ");
        SaslServer {
            inner: Arc::new(ServerInner {
                config,
                mechanisms: offered,
                list,
            }),
        }
    }

    /// The SASL_LIST_MECHS body: the offered mechanisms' names, separated
    /// by spaces (`PLAIN SCRAM-SHA-256`).
    pub fn mechanism_list(&self) -> &str {
        &self.inner.list
    }

    /// The mechanisms offered.
    pub fn mechanisms(&self) -> &[Mechanism] {
        &self.inner.mechanisms
    }

    /// A new exchange, for one connection.
    pub fn exchange(&self) -> Exchange {
        Exchange {
            server: self.inner.clone(),
            state: ExchangeState::Idle,
            user: None,
            mechanism: None,
            fed: 0,
        }
    }
}

/// One connection's SASL state: idle, in the middle of an exchange, or done.
pub struct Exchange {
    server: Arc<ServerInner>,
    state: ExchangeState,
    user: Option<Vec<u8>>,
    /// The mechanism of the exchange under way.
    mechanism: Option<Mechanism>,
    /// Client messages handed to rsasl in this exchange.
    fed: usize,
}

/// Panics of rsasl caught since the process started (see [`caught_panics`]).
static CAUGHT_PANICS: AtomicUsize = AtomicUsize::new(0);

/// How many times rsasl panicked on a client's message (each answered
/// [`Step::Failure`] instead of taking the worker thread down). Zero unless
/// rsasl has a bug [`Exchange`] does not screen for; the fuzz target
/// asserts it stays zero.
pub fn caught_panics() -> usize {
    CAUGHT_PANICS.load(Ordering::Relaxed)
}

#[cfg(any(test, feature = "fuzzing"))]
thread_local! {
    static CAUGHT_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// [`caught_panics`] on this thread only: what the contract checks and the
/// unit tests compare, unaffected by tests running beside them.
#[cfg(any(test, feature = "fuzzing"))]
pub fn caught_panics_here() -> usize {
    CAUGHT_HERE.with(|c| c.get())
}

/// Runs `f`, turning a panic into `None` (counted in [`caught_panics`]).
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(_) => {
            CAUGHT_PANICS.fetch_add(1, Ordering::Relaxed);
            #[cfg(any(test, feature = "fuzzing"))]
            CAUGHT_HERE.with(|c| c.set(c.get() + 1));
            log::warn!("the SASL library panicked on a client's message; answered AUTH_ERROR");
            None
        }
    }
}

/// Whether a SCRAM client message has the attribute shape rsasl 2.3.1's
/// parser assumes without checking: it slices the first two bytes of
/// every attribute (and skips two of the authorization id), so `n,,n` or
/// `n,a,n=u,r=x` panics it. RFC 5802 writes every attribute as `x=…`
/// (the GS2 flag aside, and an authorization id that is empty or `a=…`),
/// so nothing valid is refused.
fn scram_message_ok(message: &[u8], client_first: bool) -> bool {
    let mut fields = message.split(|&b| b == b',');
    if client_first {
        let _flag = fields.next(); // rsasl checks it with care
        match fields.next() {
            Some(authzid) if authzid.is_empty() || authzid.starts_with(b"a=") => {}
            _ => return false,
        }
    }
    fields.all(|f| f.len() >= 2 && f[1] == b'=')
}

enum ExchangeState {
    /// No exchange under way (none yet, or the last one ended).
    Idle,
    /// Started with no data: the next STEP carries the first message.
    AwaitingFirst(Box<Session<Authenticated>>),
    /// rsasl expects the client's next message.
    Running(Box<Session<Authenticated>>),
    /// SCRAM sent its final message with the exchange verified; an empty
    /// STEP from the client completes it for this user.
    Verified(Vec<u8>),
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            ExchangeState::Idle => "idle",
            ExchangeState::AwaitingFirst(_) => "awaiting first message",
            ExchangeState::Running(_) => "running",
            ExchangeState::Verified(_) => "verified",
        };
        f.debug_struct("Exchange")
            .field("state", &state)
            .field("authenticated", &self.user.is_some())
            .finish()
    }
}

impl Exchange {
    /// SASL_AUTH: starts an exchange with `mechanism` (its name as the
    /// client sent it) and the client's initial response (empty for none).
    /// Whatever was under way is dropped, and so is an earlier success.
    pub fn start(&mut self, mechanism: &[u8], initial: &[u8]) -> Step {
        self.state = ExchangeState::Idle;
        self.user = None;
        self.mechanism = None;
        self.fed = 0;
        if mechanism.len() > MAX_MECHANISM_LEN || initial.len() > MAX_SASL_DATA_LEN {
            return Step::Failure;
        }
        let Some(mech) = Mechanism::from_name(mechanism) else {
            return Step::Failure;
        };
        if !self.server.mechanisms.contains(&mech) {
            return Step::Failure;
        }
        let name = Mechname::parse(mech.name().as_bytes()).expect("a valid mechanism name");
        let server = SASLServer::<Authenticated>::new(self.server.config.clone());
        let Ok(session) = server.start_suggested(name) else {
            return Step::Failure;
        };
        self.mechanism = Some(mech);
        if initial.is_empty() {
            self.state = ExchangeState::AwaitingFirst(Box::new(session));
            return Step::Continue(Vec::new());
        }
        self.feed(Box::new(session), initial)
    }

    /// SASL_STEP: the client's next message.
    pub fn step(&mut self, data: &[u8]) -> Step {
        let state = std::mem::replace(&mut self.state, ExchangeState::Idle);
        if data.len() > MAX_SASL_DATA_LEN {
            return Step::Failure;
        }
        match state {
            ExchangeState::AwaitingFirst(session) | ExchangeState::Running(session) => {
                self.feed(session, data)
            }
            ExchangeState::Verified(user) if data.is_empty() => {
                self.user = Some(user);
                Step::Success
            }
            ExchangeState::Verified(_) | ExchangeState::Idle => Step::Failure,
        }
    }

    /// The user the last exchange authenticated, once it answered
    /// [`Step::Success`]; kept until the next SASL_AUTH. (memcached keeps a
    /// connection authenticated even when a later AUTH fails: that is the
    /// session's flag to latch on [`Step::Success`].)
    pub fn user(&self) -> Option<&[u8]> {
        self.user.as_deref()
    }

    fn feed(&mut self, mut session: Box<Session<Authenticated>>, data: &[u8]) -> Step {
        let first = self.fed == 0;
        self.fed += 1;
        if self.mechanism == Some(Mechanism::ScramSha256) && !scram_message_ok(data, first) {
            return Step::Failure;
        }
        let mut out = Vec::new();
        let Some(result) = guarded(|| session.step(Some(data), &mut out)) else {
            return Step::Failure;
        };
        match result {
            Ok(State::Running) => {
                self.state = ExchangeState::Running(session);
                Step::Continue(out)
            }
            Ok(State::Finished(sent)) => match session.validation() {
                Some(user) if matches!(sent, MessageSent::Yes) => {
                    self.state = ExchangeState::Verified(user);
                    Step::Continue(out)
                }
                Some(user) => {
                    self.user = Some(user);
                    Step::Success
                }
                None => Step::Failure,
            },
            Err(_) => Step::Failure,
        }
    }
}

/// rsasl's validation result: the authenticated user, set only when the
/// credentials (and the authorization id) are right.
struct Authenticated;

impl Validation for Authenticated {
    type Value = Vec<u8>;
}

struct Callback {
    credentials: SharedCredentials,
}

/// SCRAM writes `,` and `=` in names as `=2C` and `=3D` (RFC 5802 §5.1);
/// rsasl hands the name over as written.
fn unescape_saslname(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match &b[i..] {
            [b'=', b'2', b'C', ..] => {
                out.push(b',');
                i += 3;
            }
            [b'=', b'3', b'D', ..] => {
                out.push(b'=');
                i += 3;
            }
            [c, ..] => {
                out.push(*c);
                i += 1;
            }
            [] => break,
        }
    }
    out
}

impl SessionCallback for Callback {
    fn callback(
        &self,
        _session_data: &SessionData,
        context: &Context<'_>,
        request: &mut Request<'_>,
    ) -> Result<(), SessionError> {
        if request.is::<ScramStoredPassword<'static>>() {
            if let Some(authid) = context.get_ref::<AuthId>() {
                // Known or not, the user gets secrets: unknown users fail
                // at the proof, like a wrong password.
                let s = self
                    .credentials
                    .current()
                    .scram_secret(&unescape_saslname(authid));
                request.satisfy::<ScramStoredPassword<'static>>(&ScramStoredPassword::new(
                    s.iterations,
                    &s.salt,
                    &s.stored_key,
                    &s.server_key,
                ))?;
            }
        }
        Ok(())
    }

    fn validate(
        &self,
        session_data: &SessionData,
        context: &Context<'_>,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let Some(authid) = context.get_ref::<AuthId>() else {
            return Ok(());
        };
        let authzid = context.get_ref::<AuthzId>();
        let mechanism = session_data.mechanism().mechanism.as_str();
        if mechanism == Mechanism::Plain.name() {
            let password = context.get_ref::<Password>().unwrap_or_default();
            // The password is checked whatever the authorization id says,
            // so both failures take the same time.
            let ok = self
                .credentials
                .current()
                .check(authid.as_bytes(), password);
            let as_self = authzid.is_none_or(|z| z.is_empty() || z == authid);
            if ok && as_self {
                validate.finalize::<Authenticated>(authid.as_bytes().to_vec());
            }
        } else if mechanism == Mechanism::ScramSha256.name() {
            // rsasl validates only once the client's proof checked out.
            let user = unescape_saslname(authid);
            let as_self = authzid.is_none_or(|z| z.is_empty() || unescape_saslname(z) == user);
            if as_self {
                validate.finalize::<Authenticated>(user);
            }
        }
        Ok(())
    }
}
