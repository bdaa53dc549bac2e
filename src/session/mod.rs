//! Sessions: the protocol state of one connection. A session takes the
//! bytes a connection has buffered, asks the protocol's codec to decode a
//! request, the engine to execute it and the codec to encode the replies,
//! and tells the connection how many bytes it used and what to do next.
//! Everything a protocol keeps between requests (a read of many keys
//! paused for the client to read, an oversized data block being
//! discarded) lives here, so the server only moves bytes and events.

mod gate;
mod text;

pub use gate::Gate;

use crate::auth::text::{authenticate, Action};
use crate::auth::SharedCredentials;
use crate::engine::Context;
use crate::metrics::ConnInfo;

/// What the session did with the buffered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// No whole request is buffered: read more.
    NeedMore,
    /// A request (or a run of discarded bytes) was handled; this many
    /// bytes of the input are used.
    Handled(usize),
    /// A request stopped because its replies reached the bound; it used no
    /// bytes and goes on once the replies so far are written.
    Paused,
    /// Close the connection once the replies are written; this many bytes
    /// of the input are used.
    Close(usize),
    /// Close the connection and stop the server.
    Shutdown,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Session {
    /// The connection's id in logs and `stats conns`.
    fd: u64,
    /// Logged in, where the gate asks for it.
    authenticated: bool,
    text: text::TextSession,
}

impl Session {
    /// A session for connection `fd`.
    pub fn new(fd: u64) -> Session {
        Session {
            fd,
            authenticated: false,
            text: text::TextSession::default(),
        }
    }

    /// Handles the request at the front of `input`, appending its replies
    /// to `out`. A read of many keys pauses once `out` holds `room` bytes.
    #[inline]
    pub fn handle(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        room: usize,
        ctx: &Context<'_>,
        info: &ConnInfo,
        gate: &Gate,
    ) -> Step {
        if !self.authenticated {
            if let Some(credentials) = gate.ascii_login() {
                return self.login(input, out, ctx, credentials);
            }
        }
        self.text.handle(self.fd, input, out, room, ctx, info)
    }

    /// memcached's ascii login (`-Y`): until a client has sent its user
    /// and password in a `set`, that is all it may send; every other
    /// command, meta ones too, is answered `CLIENT_ERROR unauthenticated`.
    #[cold]
    fn login(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        ctx: &Context<'_>,
        credentials: &SharedCredentials,
    ) -> Step {
        if input.is_empty() {
            return Step::NeedMore;
        }
        match authenticate(input, &credentials.current()) {
            Action::Wait => Step::NeedMore,
            Action::Close => Step::Close(0),
            Action::Reply {
                consumed,
                reply,
                close,
            } => {
                out.extend_from_slice(reply.line().as_bytes());
                out.extend_from_slice(b"\r\n");
                if reply.is_attempt() {
                    ctx.counters.auth_cmds.incr();
                    if !reply.authenticated() {
                        ctx.counters.auth_errors.incr();
                    }
                }
                if reply.authenticated() {
                    self.authenticated = true;
                    log::info!("<{} authenticated", self.fd);
                }
                if close {
                    Step::Close(consumed)
                } else {
                    Step::Handled(consumed)
                }
            }
        }
    }
}
