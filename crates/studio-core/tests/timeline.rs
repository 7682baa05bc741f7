//! The timeline contract, rule by rule: a valid document, then one change per case and the
//! exact violations (pointer and code) it must produce. Every case also runs through the whole
//! pipeline from bytes, so nothing panics on the way.

use std::collections::HashMap;

use serde_json::{Value, json};
use studio_core::AssetKind;
use studio_core::timeline::{self, AssetFacts, Project, TimelineLimits, Violation, ViolationCode};

const VIDEO: &str = "ast_0000000000000000000000000v";
const AUDIO: &str = "ast_0000000000000000000000000a";
const IMAGE: &str = "ast_00000000000000000000000000";
const SILENT: &str = "ast_0000000000000000000000000s";
const UNPROBED: &str = "ast_0000000000000000000000000p";
/// A well-formed id the catalog does not hold (another project's, say).
const FOREIGN: &str = "ast_0000000000000000000000000f";

/// This project's assets.
fn catalog() -> HashMap<String, AssetFacts> {
    let facts = |kind, duration_secs, has_audio| AssetFacts {
        kind,
        duration_secs,
        has_audio,
    };
    HashMap::from([
        (
            VIDEO.to_owned(),
            facts(AssetKind::Video, Some(10.0), Some(true)),
        ),
        (
            AUDIO.to_owned(),
            facts(AssetKind::Audio, Some(30.0), Some(true)),
        ),
        (IMAGE.to_owned(), facts(AssetKind::Image, None, Some(false))),
        (
            SILENT.to_owned(),
            facts(AssetKind::Video, Some(5.0), Some(false)),
        ),
        (UNPROBED.to_owned(), facts(AssetKind::Video, None, None)),
    ])
}

/// A valid timeline using every feature.
fn valid() -> Value {
    json!({
        "schemaVersion": 1,
        "name": "Launch video",
        "fps": 29.97,
        "width": 1920,
        "height": 1080,
        "sampleRate": 48000,
        "tracks": [
            {
                "id": "v1", "kind": "video", "name": "Main", "muted": false, "locked": false,
                "clips": [
                    { "id": "c1", "assetId": VIDEO, "start": 0, "duration": 4, "sourceStart": 1,
                      "speed": 2, "fadeIn": 0.5, "fadeOut": 0.5, "volume": 0.8, "name": "Intro" },
                    { "id": "c2", "assetId": IMAGE, "start": 4, "duration": 100 },
                    { "id": "c3", "assetId": UNPROBED, "start": 104, "duration": 500 }
                ]
            },
            {
                "id": "a1", "kind": "audio", "name": "Music", "muted": false, "locked": true,
                "clips": [
                    { "id": "c4", "assetId": AUDIO, "start": 0, "duration": 30 },
                    { "id": "c5", "assetId": VIDEO, "start": 30, "duration": 10 }
                ]
            },
            {
                "id": "t1", "kind": "text", "name": "Titles", "muted": false, "locked": false,
                "clips": [
                    { "id": "c6", "start": 1, "duration": 3, "text": "Hello",
                      "style": { "fontFamily": "Inter", "fontSize": 64, "color": "#ffffff",
                                 "backgroundColor": "#00000080", "bold": true, "italic": false,
                                 "align": "center", "x": 0.5, "y": 0.9 } }
                ]
            }
        ],
        "markers": [ { "id": "m1", "time": 12.5, "label": "Drop", "color": "#ff0000" } ]
    })
}

fn run(document: &Value, limits: &TimelineLimits) -> Result<Project, Vec<Violation>> {
    let bytes = serde_json::to_vec(document).unwrap();
    timeline::parse_and_validate(&bytes, limits, &catalog())
}

fn errors_of(document: &Value) -> Vec<(String, ViolationCode)> {
    match run(document, &TimelineLimits::default()) {
        Ok(_) => Vec::new(),
        Err(violations) => violations
            .into_iter()
            .map(|v| (v.pointer, v.code))
            .collect(),
    }
}

/// `valid()` changed by `change`.
fn with(change: impl FnOnce(&mut Value)) -> Value {
    let mut document = valid();
    change(&mut document);
    document
}

fn expect(document: Value, expected: &[(&str, ViolationCode)]) {
    let mut found = errors_of(&document);
    found.sort();
    let mut expected: Vec<(String, ViolationCode)> = expected
        .iter()
        .map(|(pointer, code)| ((*pointer).to_owned(), *code))
        .collect();
    expected.sort();
    assert_eq!(found, expected, "for {document:#}");
}

#[test]
fn the_valid_document_is_accepted_and_round_trips() {
    let project = run(&valid(), &TimelineLimits::default()).expect("valid");
    assert_eq!(project.tracks.len(), 3);
    // What the server stores reads back as the same project (numbers may gain a `.0`).
    let stored = serde_json::to_value(&project).unwrap();
    assert_eq!(run(&stored, &TimelineLimits::default()).unwrap(), project);
}

#[test]
fn a_new_projects_empty_timeline_is_valid() {
    let empty = serde_json::to_value(Project::empty("Film")).unwrap();
    expect(empty, &[]);
}

#[test]
fn shape_errors_are_all_reported_with_pointers() {
    use ViolationCode::*;
    expect(
        with(|d| {
            d["colour"] = json!("red");
            d["tracks"][0]["clips"][0]["startt"] = json!(1);
            d["tracks"][0]["clips"][1]
                .as_object_mut()
                .unwrap()
                .remove("duration");
            d["tracks"][1]["muted"] = json!("no");
            d["fps"] = json!(1000);
            d["width"] = json!("1920");
            d["tracks"][2]["kind"] = json!("subtitle");
            d["tracks"][0]["id"] = json!("has space");
            d["name"] = json!("");
            d["markers"][0]["color"] = json!(null);
        }),
        &[
            ("/colour", UnknownField),
            ("/tracks/0/clips/0/startt", UnknownField),
            ("/tracks/0/clips/1/duration", MissingField),
            ("/tracks/1/muted", InvalidType),
            ("/fps", OutOfRange),
            ("/width", InvalidType),
            ("/tracks/2/kind", InvalidValue),
            ("/tracks/0/id", InvalidFormat),
            ("/name", InvalidLength),
            ("/markers/0/color", InvalidType),
        ],
    );
}

#[test]
fn times_must_be_non_negative_and_durations_positive() {
    use ViolationCode::*;
    expect(
        with(|d| {
            d["tracks"][0]["clips"][0]["start"] = json!(-1);
            d["tracks"][0]["clips"][0]["sourceStart"] = json!(-0.5);
            d["tracks"][0]["clips"][1]["duration"] = json!(0);
            d["tracks"][1]["clips"][0]["duration"] = json!(-3);
            d["markers"][0]["time"] = json!(-2);
        }),
        &[
            ("/tracks/0/clips/0/start", NegativeTime),
            ("/tracks/0/clips/0/sourceStart", NegativeTime),
            ("/tracks/0/clips/1/duration", NonPositiveDuration),
            ("/tracks/1/clips/0/duration", NonPositiveDuration),
            ("/markers/0/time", NegativeTime),
        ],
    );
}

#[test]
fn the_schema_version_must_be_one_this_server_reads() {
    expect(
        with(|d| d["schemaVersion"] = json!(2)),
        &[("/schemaVersion", ViolationCode::UnsupportedSchemaVersion)],
    );
    expect(
        with(|d| {
            d.as_object_mut().unwrap().remove("schemaVersion");
        }),
        &[("/schemaVersion", ViolationCode::MissingField)],
    );
}

#[test]
fn ids_are_unique_across_the_document() {
    expect(
        with(|d| {
            d["tracks"][1]["clips"][0]["id"] = json!("c1");
            d["markers"][0]["id"] = json!("v1");
        }),
        &[
            ("/tracks/1/clips/0/id", ViolationCode::DuplicateId),
            ("/markers/0/id", ViolationCode::DuplicateId),
        ],
    );
}

#[test]
fn clips_of_a_track_must_not_overlap_but_may_touch() {
    expect(
        with(|d| d["tracks"][0]["clips"][1]["start"] = json!(3.5)),
        &[("/tracks/0/clips/1/start", ViolationCode::ClipOverlap)],
    );
    // One long clip overlapping two later ones reports both.
    expect(
        with(|d| d["tracks"][0]["clips"][0]["duration"] = json!(200)),
        &[
            ("/tracks/0/clips/1/start", ViolationCode::ClipOverlap),
            ("/tracks/0/clips/2/start", ViolationCode::ClipOverlap),
            // 200 s at speed 2 from 1 s is far past the 10 s asset.
            ("/tracks/0/clips/0/duration", ViolationCode::BeyondSource),
        ],
    );
    // Touching after float arithmetic (0.1 + 0.2) is not overlapping.
    expect(
        with(|d| {
            d["tracks"][2]["clips"] = json!([
                { "id": "x", "start": 0.1, "duration": 0.2, "text": "a" },
                { "id": "y", "start": 0.30000000000000004, "duration": 1, "text": "b" }
            ]);
        }),
        &[],
    );
}

#[test]
fn clips_stay_within_the_maximum_length() {
    let limits = TimelineLimits {
        max_duration_secs: 60.0,
        ..TimelineLimits::default()
    };
    let document = with(|d| d["markers"][0]["time"] = json!(61));
    let errors: Vec<_> = run(&document, &limits)
        .unwrap_err()
        .into_iter()
        .map(|v| (v.pointer, v.code))
        .collect();
    assert!(errors.contains(&(
        "/tracks/0/clips/1/duration".to_owned(),
        ViolationCode::BeyondMaxLength
    )));
    assert!(errors.contains(&(
        "/tracks/0/clips/2/duration".to_owned(),
        ViolationCode::BeyondMaxLength
    )));
    assert!(errors.contains(&("/markers/0/time".to_owned(), ViolationCode::BeyondMaxLength)));
}

#[test]
fn clips_stay_within_their_assets_duration() {
    use ViolationCode::*;
    // 2 + 4 × 2 = 10: exactly the 10 s asset.
    expect(
        with(|d| d["tracks"][0]["clips"][0]["sourceStart"] = json!(2)),
        &[],
    );
    expect(
        with(|d| d["tracks"][0]["clips"][0]["sourceStart"] = json!(2.1)),
        &[("/tracks/0/clips/0/duration", BeyondSource)],
    );
    expect(
        with(|d| d["tracks"][1]["clips"][0]["sourceStart"] = json!(0.5)),
        &[("/tracks/1/clips/0/duration", BeyondSource)],
    );
}

#[test]
fn assets_must_be_this_projects_and_fit_the_track() {
    use ViolationCode::*;
    expect(
        with(|d| {
            d["tracks"][0]["clips"][0]["assetId"] = json!(AUDIO);
            d["tracks"][1]["clips"][0]["assetId"] = json!(IMAGE);
            d["tracks"][1]["clips"][1]["assetId"] = json!(SILENT);
            d["tracks"][0]["clips"][1]["assetId"] = json!(FOREIGN);
        }),
        &[
            ("/tracks/0/clips/0/assetId", AssetKindMismatch),
            ("/tracks/1/clips/0/assetId", AssetKindMismatch),
            ("/tracks/1/clips/1/assetId", AssetKindMismatch),
            // The silent video is 5 s long; the clip uses 10 s of it.
            ("/tracks/1/clips/1/duration", BeyondSource),
            ("/tracks/0/clips/1/assetId", AssetNotFound),
        ],
    );
    expect(
        with(|d| d["tracks"][0]["clips"][0]["assetId"] = json!("prj_0000000000000000000000000v")),
        &[("/tracks/0/clips/0/assetId", InvalidFormat)],
    );
}

#[test]
fn clips_carry_what_their_track_needs_and_nothing_else() {
    use ViolationCode::*;
    expect(
        with(|d| {
            d["tracks"][0]["clips"][1]
                .as_object_mut()
                .unwrap()
                .remove("assetId");
            d["tracks"][0]["clips"][2]["text"] = json!("oops");
            d["tracks"][2]["clips"][0]
                .as_object_mut()
                .unwrap()
                .remove("text");
            d["tracks"][2]["clips"][0]["assetId"] = json!(VIDEO);
            d["tracks"][2]["clips"][0]["speed"] = json!(2);
        }),
        &[
            ("/tracks/0/clips/1/assetId", MissingField),
            ("/tracks/0/clips/2/text", UnexpectedField),
            ("/tracks/2/clips/0/text", MissingField),
            ("/tracks/2/clips/0/assetId", UnexpectedField),
            ("/tracks/2/clips/0/speed", UnexpectedField),
        ],
    );
}

#[test]
fn fades_must_fit_the_clip() {
    expect(
        with(|d| d["tracks"][0]["clips"][0]["fadeOut"] = json!(3.6)),
        &[("/tracks/0/clips/0/fadeOut", ViolationCode::FadeTooLong)],
    );
}

#[test]
fn counts_and_size_have_limits_each_with_its_code() {
    let limits = TimelineLimits {
        max_tracks: 2,
        max_clips: 5,
        max_markers: 0,
        ..TimelineLimits::default()
    };
    let mut codes: Vec<ViolationCode> = run(&valid(), &limits)
        .unwrap_err()
        .into_iter()
        .map(|v| v.code)
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            ViolationCode::TooManyTracks,
            ViolationCode::TooManyClips,
            ViolationCode::TooManyMarkers
        ]
    );
    let tiny = TimelineLimits {
        max_document_bytes: 100,
        ..TimelineLimits::default()
    };
    let errors = run(&valid(), &tiny).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ViolationCode::DocumentTooLarge);
}

#[test]
fn what_is_not_json_is_one_clear_error() {
    for bytes in [
        &b"{"[..],
        b"",
        b"[1, 2]",
        b"null",
        b"{\"fps\": 1e400}",
        b"\xff\xfe",
    ] {
        let errors = timeline::parse_and_validate(bytes, &TimelineLimits::default(), &catalog())
            .unwrap_err();
        assert!(!errors.is_empty());
        assert!(
            errors.iter().all(|v| matches!(
                v.code,
                ViolationCode::InvalidJson
                    | ViolationCode::InvalidType
                    | ViolationCode::MissingField
            )),
            "{errors:?}"
        );
    }
}

#[test]
fn messages_say_what_to_fix() {
    let errors = run(
        &with(|d| d["tracks"][0]["clips"][0]["sourceStart"] = json!(5)),
        &TimelineLimits::default(),
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("13.000"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[0].message.contains("10.000"),
        "{}",
        errors[0].message
    );
}

#[test]
fn integral_floats_read_as_integers_like_the_schema_says() {
    // Python's json writes 1920.0 for a float; JSON Schema's `integer` accepts it, so must we.
    expect(
        with(|d| {
            d["schemaVersion"] = json!(1.0);
            d["width"] = json!(1920.0);
            d["sampleRate"] = json!(4.8e4);
        }),
        &[],
    );
    expect(
        with(|d| d["width"] = json!(1920.5)),
        &[("/width", ViolationCode::InvalidType)],
    );
}
