//! Sessions: the protocol state of one connection. A session takes the
//! bytes a connection has buffered, asks the protocol's codec to decode a
//! request, the engine to execute it and the codec to encode the replies,
//! and tells the connection how many bytes it used and what to do next.
//! Everything a protocol keeps between requests (a read of many keys
//! paused for the client to read, an oversized data block being
//! discarded) lives here, so the server only moves bytes and events.

mod binary;
mod gate;
mod text;

pub use gate::Gate;

use crate::auth::text::{authenticate, Action};
use crate::auth::SharedCredentials;
use crate::config::BindingProtocol;
use crate::engine::Context;
use crate::metrics::ConnInfo;
use crate::protocol::binary::{error_reply, Header, Status, HEADER_LEN, REQUEST_MAGIC};

/// The line a text client gets from a binary-only server before it closes.
const ONLY_BINARY: &[u8] = b"CLIENT_ERROR this server speaks only the binary protocol\r\n";

/// What the session did with the buffered bytes.
#[derive(Debug, Clone, PartialEq)]
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
    /// The connection now watches (`watch`): this many bytes of the input
    /// are used; it takes no more commands and is sent what the watcher
    /// is fed until it closes.
    Watch(usize, std::sync::Arc<crate::watch::Watcher>),
}

/// The protocol a connection speaks, decided by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// Classic text and meta commands.
    Text,
    /// Binary packets (the first byte is the request magic, 0x80).
    Binary,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Session {
    /// The connection's id in logs and `stats conns`.
    fd: u64,
    /// Decided by the first byte.
    protocol: Option<Protocol>,
    /// Logged in, where the gate asks for it.
    authenticated: bool,
    text: text::TextSession,
    binary: binary::BinarySession,
}

impl Session {
    /// A session for connection `fd`.
    pub fn new(fd: u64) -> Session {
        Session {
            fd,
            protocol: None,
            authenticated: false,
            text: text::TextSession::default(),
            binary: binary::BinarySession::default(),
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
        let protocol = match self.protocol {
            Some(protocol) => protocol,
            None => match self.negotiate(input, out, gate) {
                Ok(protocol) => protocol,
                Err(step) => return step,
            },
        };
        match protocol {
            Protocol::Text => {
                if !self.authenticated {
                    if let Some(credentials) = gate.ascii_login() {
                        return self.login(input, out, ctx, credentials);
                    }
                }
                self.text.handle(self.fd, input, out, room, ctx, info)
            }
            Protocol::Binary => self.binary.handle(
                self.fd,
                input,
                out,
                ctx,
                info,
                gate,
                &mut self.authenticated,
            ),
        }
    }

    /// Decides the connection's protocol from its first byte (0x80: binary,
    /// anything else: text), as far as `-B` allows it. memcached waits in
    /// silence for bytes that never come when a client speaks the protocol
    /// the server does not; here such a client is told, in the protocol it
    /// speaks, and the connection closes.
    #[cold]
    fn negotiate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        gate: &Gate,
    ) -> Result<Protocol, Step> {
        let Some(&first) = input.first() else {
            return Err(Step::NeedMore);
        };
        let protocol = if first == REQUEST_MAGIC {
            Protocol::Binary
        } else {
            Protocol::Text
        };
        match (protocol, gate.protocol) {
            (Protocol::Binary, BindingProtocol::Ascii) => {
                if input.len() < HEADER_LEN {
                    return Err(Step::NeedMore);
                }
                log::info!(
                    "<{} refused: a binary client on a text-only server (-B ascii)",
                    self.fd
                );
                error_reply(out, &Header::decode(input), Status::UnknownCommand);
                Err(Step::Close(0))
            }
            (Protocol::Text, BindingProtocol::Binary) => {
                log::info!(
                    "<{} refused: a text client on a binary-only server (-B binary)",
                    self.fd
                );
                out.extend_from_slice(ONLY_BINARY);
                Err(Step::Close(0))
            }
            _ => {
                log::debug!("<{} speaks the {protocol:?} protocol", self.fd);
                self.protocol = Some(protocol);
                Ok(protocol)
            }
        }
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
