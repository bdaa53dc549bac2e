//! A text-protocol session: decodes with `protocol::text` (or, for a meta
//! command line, `protocol::meta`), executes with the engine, encodes with
//! `TextReply` (or `MetaReply`); keeps the state the text protocol carries
//! between requests.

use super::Step;
use crate::engine::{execute, Context, Effect};
use crate::metrics::{ConnInfo, ConnState};
use crate::model::{Command, Limits};
use crate::protocol::meta::{self, KeyBuf, MetaReply};
use crate::protocol::text::{self, trace, Parsed, TextReply};
use std::sync::atomic::Ordering;

/// What the text protocol remembers between requests.
#[derive(Debug, Default)]
pub struct TextSession {
    /// Bytes of an oversized data block still to discard.
    swallow: usize,
    /// Bytes of a paused multi-get's key list already answered (or the
    /// index stripes a paused dump listed).
    get_resume: usize,
}

impl TextSession {
    /// Handles the request at the front of `input` (see [`super::Session::handle`]).
    #[inline]
    pub fn handle(
        &mut self,
        fd: u64,
        input: &[u8],
        out: &mut Vec<u8>,
        room: usize,
        ctx: &Context<'_>,
        info: &ConnInfo,
    ) -> Step {
        if input.is_empty() {
            return Step::NeedMore; // the usual case after the last request of a read
        }
        if self.swallow > 0 {
            let n = self.swallow.min(input.len());
            self.swallow -= n;
            info.set_state(ConnState::Swallow);
            return Step::Handled(n);
        }
        if meta::is_meta(input) {
            return self.meta(fd, input, out, ctx, info);
        }
        let limits = Limits {
            max_value_len: ctx.settings.item_size_max,
        };
        let tracing = trace::enabled();
        let replies_from = out.len();
        // Matched in place: moving a parsed request out of the result costs
        // a memcpy per request.
        let mut parsed = text::parse(input, &limits);
        match &mut parsed {
            Parsed::Incomplete => {
                info.set_state(ConnState::Nread);
                Step::NeedMore
            }
            Parsed::Close => {
                if tracing {
                    trace::request(fd, input);
                    log::debug!(">{fd} closing the connection");
                }
                Step::Close(0)
            }
            &mut Parsed::Error { reply, consumed } => {
                if let Some(line) = reply {
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                if tracing {
                    trace::request(fd, input);
                    trace::replies(fd, &out[replies_from..]);
                }
                Step::Handled(consumed)
            }
            &mut Parsed::Request {
                ref mut request,
                consumed,
                swallow,
            } => {
                info.set_state(ConnState::ParseCmd);
                info.last_cmd
                    .store(ctx.store.clock().now(), Ordering::Relaxed);
                if tracing && self.get_resume == 0 {
                    trace::request(fd, input);
                }
                if let Command::Get { keys, .. } = &mut request.command {
                    // Continue a multi-get that paused for the client to read.
                    *keys = keys.skip_bytes(self.get_resume);
                }
                if let Command::Dump(dump) = &mut request.command {
                    // Continue a dump that paused: stripes already listed.
                    dump.resume = self.get_resume;
                }
                let mut reply = TextReply::new(out, request).limit(room);
                let effect = execute(request, ctx, &mut reply);
                if tracing {
                    trace::replies(fd, &out[replies_from..]);
                }
                if let Effect::Paused(keys_done) = effect {
                    // The request stays buffered and resumes once the
                    // replies so far have been written.
                    self.get_resume += keys_done;
                    return Step::Paused;
                }
                self.get_resume = 0;
                self.swallow = swallow;
                match effect {
                    Effect::None | Effect::Paused(_) => Step::Handled(consumed),
                    Effect::Close => Step::Close(consumed),
                    Effect::Shutdown => Step::Shutdown,
                    Effect::Watch(watcher) => Step::Watch(consumed, watcher),
                }
            }
        }
    }

    /// Handles the meta command at the front of `input`.
    fn meta(
        &mut self,
        fd: u64,
        input: &[u8],
        out: &mut Vec<u8>,
        ctx: &Context<'_>,
        info: &ConnInfo,
    ) -> Step {
        let limits = Limits {
            max_value_len: ctx.settings.item_size_max,
        };
        let tracing = trace::enabled();
        let replies_from = out.len();
        // A base64 key is decoded here; other keys are borrowed from input.
        let mut keys = KeyBuf::default();
        match meta::parse(input, &limits, &mut keys) {
            meta::Parsed::Incomplete => {
                info.set_state(ConnState::Nread);
                Step::NeedMore
            }
            meta::Parsed::Close => {
                if tracing {
                    trace::request(fd, input);
                    log::debug!(">{fd} closing the connection");
                }
                Step::Close(0)
            }
            meta::Parsed::Error {
                reply,
                consumed,
                swallow,
            } => {
                out.extend_from_slice(reply.as_bytes());
                out.extend_from_slice(b"\r\n");
                if tracing {
                    trace::request(fd, input);
                    trace::replies(fd, &out[replies_from..]);
                }
                self.swallow = swallow;
                Step::Handled(consumed)
            }
            meta::Parsed::Request {
                request,
                plan,
                consumed,
                swallow,
            } => {
                info.set_state(ConnState::ParseCmd);
                info.last_cmd
                    .store(ctx.store.clock().now(), Ordering::Relaxed);
                if tracing {
                    trace::request(fd, input);
                }
                let effect = execute(&request, ctx, &mut MetaReply::new(out, &request, &plan));
                if tracing {
                    trace::replies(fd, &out[replies_from..]);
                }
                self.swallow = swallow;
                match effect {
                    Effect::None | Effect::Paused(_) => Step::Handled(consumed),
                    Effect::Close => Step::Close(consumed),
                    Effect::Shutdown => Step::Shutdown,
                    Effect::Watch(watcher) => Step::Watch(consumed, watcher),
                }
            }
        }
    }
}
