//! Fuzz target `ai_stream`: arbitrary bytes as an AI provider's streamed response body, cut
//! into chunks at points the input chooses (as TCP reads cut it), through what studio does with
//! it: the incremental SSE parser (`studio_ai::sse`), then the OpenAI-compatible and the Gemini
//! translators (`openai::chat_stream`, `gemini::chat_stream`) into `ChatEvent`s.
//!
//! Checked, besides "no panic":
//! - the parser's result does not depend on the split: the events, then the error if any, are
//!   the same fed in the input's chunks as fed whole (and so is each translator's output);
//! - the parser's bounds: no event's data or type longer than `max_event_bytes`, no more events
//!   than the bytes can hold (an event takes at least `data\n\n`);
//! - each translator's contract: every `Delta` non-empty, nothing after `Finish` or an error,
//!   and the provider key never in an error's text (the key is a dict token).
//!
//! Input layout: byte 0 picks the event bound (ASCII: the default 1 MiB; 0x80 and above: 8 to
//! 2040 bytes, which reaches the size error), byte 1 the number (its value mod 8) of
//! chunk-length bytes that follow; the rest is the body, cut into chunks of those lengths in
//! turn (0 is an empty read). So a seed reads `#0data: ...` (default bound, one chunk).
//!
//! Seeds (`fuzz/seeds/ai_stream/`): real OpenAI `chat.completion.chunk` streams (usage, `[DONE]`,
//! a finish reason without `[DONE]`, error objects, a vLLM error, an `error` event), Gemini
//! `streamGenerateContent?alt=sse` streams (thoughts and usage, a blocked prompt, error objects),
//! each with LF and CRLF line endings; some cut (byte at a time, empty reads), some with a small
//! bound.
//!
//! Run: `scripts/fuzz.sh` runs every target (see its header).

#![no_main]

use bytes::Bytes;
use futures::StreamExt as _;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use studio_ai::sse::{self, ChunkStream, DEFAULT_MAX_EVENT_BYTES, SseError, SseEvent, SseParser};
use studio_ai::{ChatEvent, ChatStream, ProviderError, gemini, openai};

/// The provider key the translators scrub from error text.
const KEY: &str = "sk-fuzz-key";

/// Longest list of chunk lengths the header may give.
const MAX_CUTS: usize = 7;

thread_local! {
    /// One runtime per thread, reused by every input. Time is paused: the translators' only
    /// timer (OpenAI's drain after `[DONE]`) never has to wait, as the chunks are all ready.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
}

fuzz_target!(|input: &[u8]| {
    let (max, body, lengths) = layout(input);
    let chunks = split(body, lengths);

    let whole = parse(max, &[body]);
    let cut = parse(max, &chunks);
    assert_eq!(whole, cut, "the split changed the events");
    check_bounds(max, body, &whole.0);

    RUNTIME.with(|runtime| {
        for translate in [openai::chat_stream, gemini::chat_stream] {
            let whole = runtime.block_on(translated(translate, max, &[body]));
            let cut = runtime.block_on(translated(translate, max, &chunks));
            check_contract(&whole);
            assert_eq!(whole, cut, "the split changed the chat events");
        }
    });
});

/// The event bound, the body and the chunk lengths the input asks for.
fn layout(input: &[u8]) -> (usize, &[u8], &[u8]) {
    let [bound, count, rest @ ..] = input else {
        return (DEFAULT_MAX_EVENT_BYTES, input, &[]);
    };
    let max = match bound {
        0x80.. => 8 + usize::from(bound & 0x7f) * 16,
        _ => DEFAULT_MAX_EVENT_BYTES,
    };
    let count = usize::from(*count) % (MAX_CUTS + 1);
    let (lengths, body) = rest.split_at(count.min(rest.len()));
    (max, body, lengths)
}

/// `body` cut into chunks of `lengths` in turn (`0`: an empty read), the last one what is left.
fn split<'a>(mut body: &'a [u8], lengths: &[u8]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    if lengths.iter().all(|len| *len == 0) {
        chunks.extend(lengths.iter().map(|_| &body[..0]));
        chunks.push(body);
        return chunks;
    }
    for len in lengths.iter().cycle() {
        let len = usize::from(*len).min(body.len());
        let (chunk, rest) = body.split_at(len);
        chunks.push(chunk);
        body = rest;
        if body.is_empty() {
            break;
        }
    }
    chunks
}

/// What the parser makes of `chunks`: every event it returned, then the error it ended with.
fn parse(max: usize, chunks: &[&[u8]]) -> (Vec<SseEvent>, Option<SseError>) {
    let mut parser = SseParser::new(max);
    let mut events = Vec::new();
    for chunk in chunks {
        match parser.feed(chunk) {
            Ok(more) => events.extend(more),
            Err(err) => return (events, Some(err)),
        }
    }
    // A failure is sticky: an empty feed reports one the last chunk ran into.
    (events, parser.feed(&[]).err())
}

fn check_bounds(max: usize, body: &[u8], events: &[SseEvent]) {
    for event in events {
        assert!(event.data.len() <= max, "data over the bound");
        assert!(
            event.event.len() <= max.max("message".len()),
            "type over the bound"
        );
        assert!(
            event.id.as_ref().is_none_or(|id| id.len() <= max),
            "id over the bound"
        );
    }
    assert!(
        events.len() * "data\n\n".len() <= body.len(),
        "more events than bytes"
    );
}

/// A translator's whole output for `chunks`, read to the end of the stream (past `Finish` or an
/// error, to see that nothing follows).
async fn translated(
    translate: fn(sse::EventStream, Option<SecretString>) -> ChatStream,
    max: usize,
    chunks: &[&[u8]],
) -> Vec<Result<ChatEvent, ProviderError>> {
    let items: Vec<Result<Bytes, ProviderError>> = chunks
        .iter()
        .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
        .collect();
    let chunks: ChunkStream = Box::pin(futures::stream::iter(items));
    let key = SecretString::from(KEY);
    translate(sse::events(chunks, max), Some(key))
        .collect()
        .await
}

fn check_contract(items: &[Result<ChatEvent, ProviderError>]) {
    for (i, item) in items.iter().enumerate() {
        let last = i + 1 == items.len();
        match item {
            Ok(ChatEvent::Delta { text }) => assert!(!text.is_empty(), "an empty delta"),
            Ok(ChatEvent::Usage { .. }) => {}
            Ok(ChatEvent::Finish { .. }) => assert!(last, "an event after Finish"),
            Err(err) => {
                assert!(last, "an event after an error");
                assert!(
                    !format!("{err:?}").contains(KEY),
                    "the key in an error: {err:?}"
                );
            }
        }
    }
}
