//! Parser tests: the spec's examples, every line ending, and split invariance.

use super::*;
use proptest::prelude::*;

fn parse_all(bytes: &[u8]) -> Vec<SseEvent> {
    SseParser::new(DEFAULT_MAX_EVENT_BYTES)
        .feed(bytes)
        .expect("parses")
}

fn parse_split(bytes: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
    let mut parser = SseParser::new(DEFAULT_MAX_EVENT_BYTES);
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        out.extend(parser.feed(&bytes[start..cut]).expect("parses"));
        start = cut;
    }
    out.extend(parser.feed(&bytes[start..]).expect("parses"));
    out
}

fn message(data: &str) -> SseEvent {
    SseEvent {
        event: "message".to_owned(),
        data: data.to_owned(),
        id: None,
    }
}

/// Exercises every feature at once; used by the split tests.
const RICH: &[u8] = b"\xEF\xBB\xBF: a comment\r\n\
event: delta\r\ndata: {\"t\":\"h\xC3\xA9llo \xF0\x9F\x8E\xAC\"}\r\nid: 7\r\n\r\n\
data:first\rdata:  second\r\rdata\n\ndata: [DONE]\n\nevent: cut off\ndata: never";

fn rich_expected() -> Vec<SseEvent> {
    vec![
        SseEvent {
            event: "delta".to_owned(),
            data: "{\"t\":\"héllo 🎬\"}".to_owned(),
            id: Some("7".to_owned()),
        },
        SseEvent {
            event: "message".to_owned(),
            data: "first\n second".to_owned(),
            id: Some("7".to_owned()),
        },
        SseEvent {
            event: "message".to_owned(),
            data: String::new(),
            id: Some("7".to_owned()),
        },
        SseEvent {
            event: "message".to_owned(),
            data: "[DONE]".to_owned(),
            id: Some("7".to_owned()),
        },
    ]
}

#[test]
fn parses_the_rich_stream_in_one_chunk() {
    assert_eq!(parse_all(RICH), rich_expected());
}

#[test]
fn every_single_split_gives_the_same_events() {
    for cut in 0..=RICH.len() {
        assert_eq!(parse_split(RICH, &[cut]), rich_expected(), "cut at {cut}");
    }
}

#[test]
fn every_pair_of_splits_gives_the_same_events() {
    for a in 0..=RICH.len() {
        for b in a..=RICH.len() {
            assert_eq!(parse_split(RICH, &[a, b]), rich_expected(), "cuts {a}, {b}");
        }
    }
}

#[test]
fn byte_at_a_time_gives_the_same_events() {
    let cuts: Vec<usize> = (1..RICH.len()).collect();
    assert_eq!(parse_split(RICH, &cuts), rich_expected());
}

#[test]
fn line_endings_are_equivalent() {
    let expected = vec![message("a\nb"), message("c")];
    for eol in ["\n", "\r", "\r\n"] {
        let text = format!("data: a{eol}data: b{eol}{eol}data: c{eol}{eol}");
        assert_eq!(parse_all(text.as_bytes()), expected, "eol {eol:?}");
    }
}

#[test]
fn cr_then_lf_in_the_next_chunk_is_one_line_ending() {
    let mut parser = SseParser::new(64);
    assert_eq!(parser.feed(b"data: a\r").unwrap(), vec![]);
    // If the `\n` counted as a second line ending, the event would be dispatched here.
    assert_eq!(parser.feed(b"\n").unwrap(), vec![]);
    assert_eq!(parser.feed(b"\r\n").unwrap(), vec![message("a")]);
}

#[test]
fn only_one_leading_space_is_removed_and_fields_without_colon_are_empty() {
    let events = parse_all(b"data:  two spaces\ndata\ndata:x\n\n");
    assert_eq!(events, vec![message(" two spaces\n\nx")]);
}

#[test]
fn events_without_data_are_not_dispatched_and_reset_the_type() {
    let events = parse_all(b"event: ping\n\ndata: x\n\n");
    assert_eq!(events, vec![message("x")]);
}

#[test]
fn comments_and_unknown_fields_are_ignored() {
    let events = parse_all(b":keepalive\nretry: 10\nfoo: bar\ndata: x\n:again\n\n");
    assert_eq!(events, vec![message("x")]);
}

#[test]
fn a_bom_is_only_skipped_at_the_start() {
    let events = parse_all(b"\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\ndata: c\n\n");
    // The second BOM makes the line's field name `\u{feff}data`, an unknown field.
    assert_eq!(events, vec![message("a"), message("c")]);
}

#[test]
fn the_last_event_id_persists_and_an_empty_id_clears_it() {
    let events = parse_all(b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: x\0y\ndata: d\n\n");
    let ids: Vec<_> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        ids,
        vec![Some("1".to_owned()), Some("1".to_owned()), None, None]
    );
}

#[test]
fn invalid_utf8_is_replaced_not_fatal() {
    let events = parse_all(b"data: a\xFFb\n\n");
    assert_eq!(events, vec![message("a\u{FFFD}b")]);
}

#[test]
fn an_oversized_event_is_an_error_and_the_parser_stays_failed() {
    let mut parser = SseParser::new(16);
    assert_eq!(parser.feed(b"data: 0123\n").unwrap(), vec![]);
    let err = parser.feed(b"data: 0123456789\n").unwrap_err();
    assert_eq!(err, SseError::EventTooLarge { max_bytes: 16 });
    assert!(parser.feed(b"\n").is_err());
}

#[test]
fn an_oversized_partial_line_is_an_error_before_it_is_buffered() {
    let mut parser = SseParser::new(16);
    assert!(parser.feed(b"data: 0123").is_ok());
    assert!(parser.feed(b"456789abcdef").is_err());
}

/// Found by the `ai_stream` fuzz target: an event completed in the same chunk as a later,
/// oversized one was dropped with the error, so what came out depended on the split.
#[test]
fn events_before_an_oversized_one_come_out_whatever_the_split() {
    let bytes = b"data: a\n\ndata: 0123456789abcdef\n\n";
    let mut whole = SseParser::new(16);
    assert_eq!(whole.feed(bytes), Ok(vec![message("a")]));
    let err = SseError::EventTooLarge { max_bytes: 16 };
    assert_eq!(whole.error(), Some(&err));
    assert_eq!(whole.feed(b""), Err(err.clone()));
    let mut split = SseParser::new(16);
    assert_eq!(split.feed(&bytes[..9]), Ok(vec![message("a")]));
    assert_eq!(split.feed(&bytes[9..]), Err(err));
}

#[tokio::test]
async fn events_stream_yields_the_events_before_an_oversized_one() {
    let chunks: Vec<Result<Bytes, ProviderError>> = vec![
        Ok(Bytes::from_static(b"data: a\n\ndata: 0123456789abcdef\n\n")),
        Ok(Bytes::from_static(b"data: c\n\n")),
    ];
    let got: Vec<_> = events(Box::pin(futures::stream::iter(chunks)), 16)
        .collect()
        .await;
    let err = SseError::EventTooLarge { max_bytes: 16 };
    assert_eq!(got, vec![Ok(message("a")), Err(err.into())]);
}

#[test]
fn the_bound_is_per_event_not_per_stream() {
    let mut parser = SseParser::new(32);
    for _ in 0..1000 {
        assert_eq!(parser.feed(b"data: 0123456789\n\n").unwrap().len(), 1);
    }
}

#[tokio::test]
async fn events_stream_joins_chunks_and_stops_after_an_error() {
    let chunks: Vec<Result<Bytes, ProviderError>> = vec![
        Ok(Bytes::from_static(b"data: a\n")),
        Ok(Bytes::from_static(b"\ndata: b\n\n")),
        Err(ProviderError::Timeout),
        Ok(Bytes::from_static(b"data: c\n\n")),
    ];
    let stream = events(Box::pin(futures::stream::iter(chunks)), 1024);
    let got: Vec<_> = stream.collect().await;
    assert_eq!(
        got,
        vec![
            Ok(message("a")),
            Ok(message("b")),
            Err(ProviderError::Timeout)
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any stream of fields, split anywhere, parses the same as in one piece.
    #[test]
    fn splitting_never_changes_the_events(
        lines in proptest::collection::vec(
            prop_oneof![
                "(data|event|id|retry|:)?(: ?)?[a-zé🎬 ]{0,6}",
                Just(String::new()),
            ],
            0..20,
        ),
        eols in proptest::collection::vec(prop_oneof![Just("\n"), Just("\r"), Just("\r\n")], 20),
        mut cuts in proptest::collection::vec(0usize..400, 0..8),
    ) {
        let mut text = String::new();
        for (line, eol) in lines.iter().zip(eols.iter()) {
            text.push_str(line);
            text.push_str(eol);
        }
        let bytes = text.as_bytes();
        for cut in &mut cuts {
            *cut = (*cut).min(bytes.len());
        }
        cuts.sort_unstable();
        prop_assert_eq!(parse_split(bytes, &cuts), parse_all(bytes));
    }
}
