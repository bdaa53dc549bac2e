//! Sessions: the protocol state of one connection. A session takes the
//! bytes a connection has buffered, asks the protocol's codec to decode a
//! request, the engine to execute it and the codec to encode the replies,
//! and tells the connection how many bytes it used and what to do next.
//! Everything a protocol keeps between requests (a read of many keys
//! paused for the client to read, an oversized data block being
//! discarded) lives here, so the server only moves bytes and events.

mod text;

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
    text: text::TextSession,
}

impl Session {
    /// A session for connection `fd`.
    pub fn new(fd: u64) -> Session {
        Session {
            fd,
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
    ) -> Step {
        self.text.handle(self.fd, input, out, room, ctx, info)
    }
}
