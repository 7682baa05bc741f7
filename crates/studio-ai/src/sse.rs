//! An incremental Server-Sent Events parser (the WHATWG "event stream interpretation"), and the
//! glue that turns a provider's response body into a stream of events.
//!
//! Invariants: bytes may be fed split anywhere (inside a UTF-8 character, between `\r` and `\n`);
//! the events out are the same whatever the split. Lines are split on raw `\r`/`\n` bytes, which
//! never occur inside a multi-byte UTF-8 sequence, so a line is decoded only once complete. The
//! parser's memory is bounded by `max_event_bytes`: an event (or a single line) larger than that
//! is an error, never unbounded buffer growth.

use std::collections::VecDeque;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt as _};

use crate::ProviderError;

/// Default bound on one event: far above any chat chunk (a few hundred bytes), low enough that a
/// misbehaving upstream cannot make us buffer without limit.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

/// The UTF-8 byte order mark, skipped once at the start of the stream (the spec allows one).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, `message` when the event named none (as browsers report it).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event ID as of this event (it persists across events, per the spec); `None`
    /// when no `id:` was seen or the last one was empty.
    pub id: Option<String>,
}

/// Why the event stream could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an event exceeded {max_bytes} bytes")]
    EventTooLarge { max_bytes: usize },
}

impl From<SseError> for ProviderError {
    fn from(err: SseError) -> Self {
        ProviderError::BadGateway(err.to_string())
    }
}

/// Incremental parser state. Feed it chunks with [`SseParser::feed`].
#[derive(Debug)]
pub struct SseParser {
    max_event_bytes: usize,
    /// Bytes of the current, not yet terminated, line.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` starting the next chunk belongs to it.
    pending_cr: bool,
    /// No line has completed yet (the BOM can only be in the first line).
    first_line: bool,
    data: String,
    event_type: String,
    last_event_id: String,
    failed: Option<SseError>,
}

impl SseParser {
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            line: Vec::new(),
            pending_cr: false,
            first_line: true,
            data: String::new(),
            event_type: String::new(),
            last_event_id: String::new(),
            failed: None,
        }
    }

    /// Parses `chunk` and returns the events it completed. An event too large fails the
    /// stream, but the events completed before it come out first whatever the split: when
    /// `chunk` completed some before failing, this call returns them and the error waits for
    /// the next call ([`SseParser::error`] tells at once). After an error every later call
    /// returns the same error: the stream is unusable.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let mut out = Vec::new();
        match self.feed_into(chunk, &mut out) {
            Err(err) if out.is_empty() => Err(err),
            _ => Ok(out),
        }
    }

    /// The error that failed the stream, if one did.
    pub fn error(&self) -> Option<&SseError> {
        self.failed.as_ref()
    }

    /// Parses `chunk`, pushing the events it completes to `out`, up to an error if one comes.
    fn feed_into(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if chunk.is_empty() {
            // Keeps `pending_cr`: an empty read between `\r` and `\n` changes nothing.
            return Ok(());
        }
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = chunk.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let (head, tail) = chunk.split_at(end);
            // The terminator: `\r\n` counts once; a lone `\r` at the chunk's end may still be
            // followed by `\n` in the next chunk.
            let skip = match tail {
                [b'\r', b'\n', ..] => 2,
                [b'\r'] => {
                    self.pending_cr = true;
                    1
                }
                _ => 1,
            };
            chunk = &tail[skip..];
            self.check_size(head.len())?;
            if self.line.is_empty() {
                // The whole line is in this chunk: no copy.
                self.process_line(head, out);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                self.process_line(&line, out);
                // Keep the allocation for the next partial line.
                line.clear();
                self.line = line;
            }
        }
        if !chunk.is_empty() {
            self.check_size(chunk.len())?;
            self.line.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// Fails when buffering `more` bytes would take the current event over the bound.
    fn check_size(&mut self, more: usize) -> Result<(), SseError> {
        let total = self.line.len() + more + self.data.len() + self.event_type.len();
        if total > self.max_event_bytes {
            let err = SseError::EventTooLarge {
                max_bytes: self.max_event_bytes,
            };
            self.failed = Some(err.clone());
            return Err(err);
        }
        Ok(())
    }

    /// Applies one complete line. It cannot fail: `check_size` already bounded it, and a
    /// field adds at most the line's length to the buffered event.
    fn process_line(&mut self, mut line: &[u8], out: &mut Vec<SseEvent>) {
        if self.first_line {
            self.first_line = false;
            if let Some(rest) = line.strip_prefix(BOM) {
                line = rest;
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        // The spec decodes the stream as UTF-8 with replacement: bad bytes never fail a stream.
        let value = String::from_utf8_lossy(value);
        match name {
            b"event" => {
                self.event_type.clear();
                self.event_type.push_str(&value);
            }
            b"data" => {
                self.data.push_str(&value);
                self.data.push('\n');
            }
            // An id containing NUL is ignored, per the spec.
            b"id" if !value.contains('\0') => {
                self.last_event_id.clear();
                self.last_event_id.push_str(&value);
            }
            // `retry` only matters to a reconnecting client, which we are not; unknown fields
            // are ignored, per the spec.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event_type = std::mem::take(&mut self.event_type);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the `\n` after the last data line
        out.push(SseEvent {
            event: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type
            },
            data,
            id: (!self.last_event_id.is_empty()).then(|| self.last_event_id.clone()),
        });
    }
}

/// A boxed stream of body chunks, each already bounded by the read timeout.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, ProviderError>> + Send>>;

/// A boxed stream of events.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<SseEvent, ProviderError>> + Send>>;

/// The events of `response`'s body, each next chunk awaited under `read_timeout`. An event cut
/// by the end of the body is dropped (per the spec); the caller decides whether the events it
/// got amount to a complete answer.
#[cfg(feature = "client")]
pub fn response_events(
    response: reqwest::Response,
    read_timeout: std::time::Duration,
    max_event_bytes: usize,
) -> EventStream {
    events(
        crate::http::body_chunks(response, read_timeout),
        max_event_bytes,
    )
}

/// Parses a stream of chunks into a stream of events. It ends after the first error.
pub fn events(chunks: ChunkStream, max_event_bytes: usize) -> EventStream {
    struct State {
        chunks: ChunkStream,
        parser: SseParser,
        /// Events, then possibly the parser's error after them.
        ready: VecDeque<Result<SseEvent, ProviderError>>,
        done: bool,
    }
    let state = State {
        chunks,
        parser: SseParser::new(max_event_bytes),
        ready: VecDeque::new(),
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.ready.pop_front() {
                return Some((item, state));
            }
            if state.done {
                return None;
            }
            match state.chunks.next().await {
                Some(Ok(chunk)) => {
                    if let Ok(events) = state.parser.feed(&chunk) {
                        state.ready.extend(events.into_iter().map(Ok));
                    }
                    // The error, after the events the chunk completed before it.
                    if let Some(err) = state.parser.error() {
                        state.done = true;
                        state.ready.push_back(Err(err.clone().into()));
                    }
                }
                Some(Err(err)) => {
                    state.done = true;
                    return Some((Err(err), state));
                }
                None => state.done = true,
            }
        }
    }))
}

#[cfg(test)]
mod tests;
