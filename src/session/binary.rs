//! A binary-protocol session: decodes with `protocol::binary`, executes
//! with the engine, encodes with `BinaryReply`; runs SASL exchanges with
//! `auth`, and keeps what the binary protocol carries between packets (a
//! body being discarded, the SASL exchange under way).
//!
//! Quiet opcodes need no state of their own: every request already
//! buffered is answered before anything is written, so the replies a
//! quiet batch does send go out together with the NOOP (or loud request)
//! that ends it.

use super::{Gate, Step};
use crate::auth::{self, Exchange};
use crate::engine::{execute, Context, Effect};
use crate::metrics::{ConnInfo, ConnState};
use crate::model::Limits;
use crate::protocol::binary::{
    self, error_reply, quit_reply, sasl_authenticated, sasl_continue, sasl_failed, sasl_mechanisms,
    trace, BinaryReply, Header, Opcode, Parsed, SaslOp, Status, Then, HEADER_LEN, MAX_BODY_LEN,
    REQUEST_MAGIC,
};
use std::sync::atomic::Ordering;

/// What the binary protocol remembers between packets.
#[derive(Default)]
pub struct BinarySession {
    /// Bytes of a packet's body still to discard.
    swallow: usize,
    /// The SASL exchange under way, if any: boxed, so the connections that
    /// never authenticate (most of them) carry a pointer, not 72 bytes.
    sasl: Option<Box<Exchange>>,
}

impl std::fmt::Debug for BinarySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinarySession")
            .field("swallow", &self.swallow)
            .field("sasl", &self.sasl.is_some())
            .finish()
    }
}

impl BinarySession {
    /// Handles the packet at the front of `input` (see
    /// [`super::Session::handle`]); `authenticated` is the connection's
    /// login state, which a SASL exchange may set.
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        fd: u64,
        input: &[u8],
        out: &mut Vec<u8>,
        ctx: &Context<'_>,
        info: &ConnInfo,
        gate: &Gate,
        authenticated: &mut bool,
    ) -> Step {
        if input.is_empty() {
            return Step::NeedMore;
        }
        if self.swallow > 0 {
            let n = self.swallow.min(input.len());
            self.swallow -= n;
            info.set_state(ConnState::Swallow);
            return Step::Handled(n);
        }
        if let Some(step) = self.refuse_early(input, out, gate, *authenticated) {
            return step;
        }
        let limits = Limits {
            max_value_len: ctx.settings.item_size_max,
        };
        let mut parsed = binary::parse(input, &limits);
        if gate.sasl.is_none() {
            parsed = parsed.without_sasl();
        }
        if matches!(parsed, Parsed::Incomplete) {
            info.set_state(ConnState::Nread);
            return Step::NeedMore;
        }
        let tracing = trace::enabled();
        if tracing {
            trace::request(fd, input);
        }
        let replies_from = out.len();
        // memcached answers AUTH_ERROR and closes when a client that has
        // not authenticated asks for anything but SASL or VERSION.
        let locked = gate.sasl.is_some() && !*authenticated;
        let step = match parsed {
            Parsed::Incomplete => unreachable!("returned above"),
            Parsed::Close => {
                log::info!("<{fd} closing: not a binary request packet");
                Step::Close(0)
            }
            Parsed::Error {
                header,
                status,
                consumed,
                then,
                before_auth,
            } => {
                if locked && !before_auth && !header.allowed_before_auth() {
                    refuse_unauthenticated(out, &header, consumed)
                } else {
                    error_reply(out, &header, status);
                    match then {
                        Then::Continue => Step::Handled(consumed),
                        Then::Swallow(n) => {
                            self.swallow = n;
                            Step::Handled(consumed)
                        }
                        Then::Close => Step::Close(consumed),
                    }
                }
            }
            Parsed::Sasl {
                op,
                mechanism,
                data,
                header,
                consumed,
            } => {
                let server = gate.sasl.as_ref().expect("SASL results only with -S");
                self.sasl(
                    fd,
                    server,
                    op,
                    mechanism,
                    data,
                    &header,
                    out,
                    ctx,
                    authenticated,
                );
                Step::Handled(consumed)
            }
            Parsed::Request {
                request,
                header,
                consumed,
                swallow,
            } => {
                if locked && !header.allowed_before_auth() {
                    refuse_unauthenticated(out, &header, consumed)
                } else {
                    info.set_state(ConnState::ParseCmd);
                    info.last_cmd
                        .store(ctx.store.clock().now(), Ordering::Relaxed);
                    self.swallow = swallow;
                    if header.is_quit() {
                        if !header.is_quiet() {
                            quit_reply(out, &header);
                        }
                        Step::Close(consumed)
                    } else {
                        let mut reply = BinaryReply::new(out, &header, &request);
                        match execute(&request, ctx, &mut reply) {
                            // (a binary read has one key: it never pauses)
                            Effect::None | Effect::Paused(_) => Step::Handled(consumed),
                            Effect::Close => Step::Close(consumed),
                            Effect::Shutdown => Step::Shutdown,
                            Effect::Watch(watcher) => Step::Watch(consumed, watcher),
                        }
                    }
                }
            }
        };
        if tracing {
            trace::replies(fd, &out[replies_from..]);
        }
        step
    }

    /// What is decided from a packet's header alone, before its body is
    /// buffered, so that a client cannot make the server hold a large body
    /// it will refuse: a request before authentication (AUTH_ERROR and
    /// close, as memcached answers it before reading the value), and SASL
    /// data over the authentication library's bound (memcached's
    /// OUT_OF_MEMORY, the data discarded as it arrives). Lengths that
    /// cannot fit the body are left to the codec, which refuses them (once
    /// the bounded extras and key are in) before authentication too.
    fn refuse_early(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        gate: &Gate,
        authenticated: bool,
    ) -> Option<Step> {
        if input.len() < HEADER_LEN || gate.sasl.is_none() {
            return None;
        }
        let header = Header::decode(input);
        let head = header.head_len();
        let value_len = (header.bodylen as usize).checked_sub(head - HEADER_LEN)?;
        if header.magic != REQUEST_MAGIC || header.bodylen > MAX_BODY_LEN {
            return None;
        }
        if !authenticated && !header.allowed_before_auth() {
            return Some(refuse_unauthenticated(out, &header, 0));
        }
        let sasl_data = matches!(header.opcode, Opcode::SASL_AUTH | Opcode::SASL_STEP);
        if sasl_data && value_len > auth::sasl::MAX_SASL_DATA_LEN {
            if input.len() < head {
                return Some(Step::NeedMore);
            }
            error_reply(out, &header, Status::OutOfMemory);
            self.swallow = value_len;
            return Some(Step::Handled(head));
        }
        None
    }

    /// SASL_LIST_MECHS, SASL_AUTH, SASL_STEP. A failure keeps the
    /// connection open for another try; a success logs the connection in
    /// for good, as memcached keeps it logged in whatever follows.
    #[allow(clippy::too_many_arguments)]
    fn sasl(
        &mut self,
        fd: u64,
        server: &auth::SaslServer,
        op: SaslOp,
        mechanism: &[u8],
        data: &[u8],
        header: &Header,
        out: &mut Vec<u8>,
        ctx: &Context<'_>,
        authenticated: &mut bool,
    ) {
        let step = match op {
            SaslOp::ListMechs => {
                sasl_mechanisms(out, header, server.mechanism_list().as_bytes());
                return;
            }
            SaslOp::Auth => self
                .sasl
                .get_or_insert_with(|| Box::new(server.exchange()))
                .start(mechanism, data),
            SaslOp::Step => match &mut self.sasl {
                Some(exchange) => exchange.step(data),
                None => auth::Step::Failure,
            },
        };
        // As memcached: an exchange that goes on counts in neither figure.
        match step {
            auth::Step::Success => {
                ctx.counters.auth_cmds.incr();
                *authenticated = true;
                let user = self
                    .sasl
                    .as_ref()
                    .and_then(|e| e.user())
                    .unwrap_or_default();
                log::info!("<{fd} authenticated as {}", String::from_utf8_lossy(user));
                sasl_authenticated(out, header);
            }
            auth::Step::Continue(challenge) => sasl_continue(out, header, &challenge),
            auth::Step::Failure => {
                ctx.counters.auth_cmds.incr();
                ctx.counters.auth_errors.incr();
                log::info!("<{fd} SASL authentication failed");
                sasl_failed(out, header);
            }
        }
    }
}

/// AUTH_ERROR to a request before authentication, then close.
fn refuse_unauthenticated(out: &mut Vec<u8>, header: &Header, consumed: usize) -> Step {
    error_reply(out, header, Status::AuthError);
    Step::Close(consumed)
}
