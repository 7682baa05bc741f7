//! The OTIO export checked by the real OpenTimelineIO: a few valid timelines are exported to a
//! temporary directory with their Project JSON and asset table, and `tests/otio/check_otio.py`
//! loads each with `opentimelineio` and compares clip ranges, gaps, kinds and markers with the
//! Project JSON (see that script for the list).
//!
//! The interpreter is `STUDIO_TEST_PYTHON`, else `tests/otio/.venv/bin/python`; either must have
//! `opentimelineio` (`scripts/install-otio.sh` installs the pinned one). Without it the test
//! fails rather than skips: an export nobody checked would pass silently.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use studio_core::AssetKind;
use studio_core::timeline::otio::{OtioMedia, to_otio};
use studio_core::timeline::{self, AssetFacts, Project, TimelineLimits};

const VIDEO: &str = "ast_0000000000000000000000000v";
const AUDIO: &str = "ast_0000000000000000000000000a";
const IMAGE: &str = "ast_00000000000000000000000000";
const OFFLINE: &str = "ast_0000000000000000000000000f";
const UNPROBED: &str = "ast_0000000000000000000000000p";

/// One asset: what validation knows of it, and what the export is told (`None`: nothing).
struct Asset {
    facts: AssetFacts,
    media: Option<OtioMedia>,
}

fn assets() -> HashMap<&'static str, Asset> {
    let asset = |kind, duration_secs: Option<f64>, media: Option<OtioMedia>| Asset {
        facts: AssetFacts {
            kind,
            duration_secs,
            has_audio: Some(true),
        },
        media,
    };
    let media = |name: &str, duration_secs, rate, url: Option<&str>| OtioMedia {
        name: name.to_owned(),
        duration_secs,
        rate,
        target_url: url.map(str::to_owned),
    };
    HashMap::from([
        (
            VIDEO,
            asset(
                AssetKind::Video,
                Some(120.0),
                Some(media(
                    "beach.mp4",
                    Some(120.0),
                    Some(25.0),
                    Some("https://studio.test/a/beach.mp4"),
                )),
            ),
        ),
        (
            AUDIO,
            asset(
                AssetKind::Audio,
                Some(600.0),
                Some(media(
                    "score.wav",
                    Some(600.0),
                    None,
                    Some("https://studio.test/a/score.wav"),
                )),
            ),
        ),
        (
            IMAGE,
            asset(
                AssetKind::Image,
                None,
                Some(media(
                    "logo.png",
                    None,
                    None,
                    Some("https://studio.test/a/logo.png"),
                )),
            ),
        ),
        // Known, but with no URL to give out: a MissingReference that keeps name and range.
        (
            OFFLINE,
            asset(
                AssetKind::Video,
                Some(60.0),
                Some(media("offline.mov", Some(60.0), Some(24.0), None)),
            ),
        ),
        // Unknown to the export altogether.
        (UNPROBED, asset(AssetKind::Video, None, None)),
    ])
}

/// Every feature: speed, source offsets, an image, an unknown asset, a text track, gaps.
fn launch() -> Value {
    json!({
        "schemaVersion": 1, "name": "Launch video", "fps": 29.97,
        "width": 1920, "height": 1080, "sampleRate": 48000,
        "tracks": [
            { "id": "v1", "kind": "video", "name": "Main", "muted": false, "locked": false,
              "clips": [
                { "id": "c1", "assetId": VIDEO, "start": 0, "duration": 4, "sourceStart": 1,
                  "speed": 2, "fadeIn": 0.5, "fadeOut": 0.5, "volume": 0.8, "name": "Intro" },
                { "id": "c3", "assetId": UNPROBED, "start": 104, "duration": 50 },
                { "id": "c2", "assetId": IMAGE, "start": 4, "duration": 100 }
              ] },
            { "id": "a1", "kind": "audio", "name": "Music", "muted": false, "locked": true,
              "clips": [
                { "id": "c4", "assetId": AUDIO, "start": 2.5, "duration": 30 },
                { "id": "c5", "assetId": VIDEO, "start": 40, "duration": 10, "sourceStart": 20 }
              ] },
            { "id": "t1", "kind": "text", "name": "Titles", "muted": false, "locked": false,
              "clips": [
                { "id": "c6", "start": 1, "duration": 3, "text": "Hello\nworld",
                  "style": { "fontSize": 64, "color": "#ffffff", "align": "center" } },
                { "id": "c7", "start": 10, "duration": 2, "text": "Named", "name": "Lower third" }
              ] }
        ],
        "markers": [
            { "id": "m1", "time": 12.5, "label": "Drop", "color": "#ff0000" },
            { "id": "m2", "time": 0 }
        ]
    })
}

/// Times off the frame grid, slow and fast motion, a muted track, an offline asset, colours.
fn off_grid() -> Value {
    json!({
        "schemaVersion": 1, "name": "Off grid", "fps": 24,
        "width": 1280, "height": 720, "sampleRate": 44100,
        "tracks": [
            { "id": "v1", "kind": "video", "name": "Cuts", "muted": false, "locked": false,
              "clips": [
                { "id": "k3", "assetId": OFFLINE, "start": 9.0001, "duration": 2.2222,
                  "speed": 0.5, "sourceStart": 3.3333 },
                { "id": "k1", "assetId": VIDEO, "start": 0.5004, "duration": 1.2345,
                  "sourceStart": 0.0417 },
                { "id": "k2", "assetId": VIDEO, "start": 1.7349, "duration": 3.1,
                  "speed": 1.7, "sourceStart": 10 }
              ] },
            { "id": "a1", "kind": "audio", "name": "Muted", "muted": true, "locked": false,
              "clips": [ { "id": "k4", "assetId": AUDIO, "start": 0.01, "duration": 0.02 } ] }
        ],
        "markers": [
            { "id": "m1", "time": 0.5004, "label": "In", "color": "#00ff00" },
            { "id": "m2", "time": 3.3, "color": "#0000ff" },
            { "id": "m3", "time": 7, "label": "Tinted", "color": "#ffffff80" },
            { "id": "m4", "time": 8.25, "label": "Teal-ish", "color": "#20b2aa" }
        ]
    })
}

/// Many short clips with uneven gaps at 23.976 fps: the gaps must not drift over a long track.
fn long() -> Value {
    let mut clips = Vec::new();
    let mut time = 0.0;
    // A small linear congruential generator: varied, and the same on every run.
    let mut state: u64 = 0x5eed;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f64 / f64::from(u32::MAX >> 1)
    };
    for i in 0..400 {
        time += (next() * 3.0 * 1000.0).round() / 1000.0;
        let duration = 0.1 + (next() * 5.0 * 1000.0).round() / 1000.0;
        clips.push(json!({
            "id": format!("l{i}"), "assetId": VIDEO, "start": time, "duration": duration,
            "sourceStart": (next() * 100.0 * 1000.0).round() / 1000.0,
        }));
        time += duration;
    }
    json!({
        "schemaVersion": 1, "name": "Long", "fps": 23.976,
        "width": 1920, "height": 1080, "sampleRate": 48000,
        "tracks": [ { "id": "v1", "kind": "video", "name": "V1", "muted": false,
                      "locked": false, "clips": clips } ]
    })
}

fn cases() -> Vec<(&'static str, Value)> {
    let empty = serde_json::to_value(Project::empty("New project")).expect("empty project");
    vec![
        ("launch", launch()),
        ("off-grid", off_grid()),
        ("long", long()),
        ("empty", empty),
    ]
}

/// The interpreter to check with, or why there is none.
fn python(root: &Path) -> Result<PathBuf, String> {
    let (python, origin) = match std::env::var_os("STUDIO_TEST_PYTHON") {
        Some(python) => (PathBuf::from(python), "STUDIO_TEST_PYTHON"),
        None => (root.join("tests/otio/.venv/bin/python"), "the test venv"),
    };
    let has_otio = Command::new(&python)
        .args(["-c", "import opentimelineio"])
        .output()
        .is_ok_and(|output| output.status.success());
    if has_otio {
        Ok(python)
    } else {
        Err(format!(
            "{origin} ({}) cannot import opentimelineio: run scripts/install-otio.sh \
             (or set STUDIO_TEST_PYTHON to a Python that has it)",
            python.display()
        ))
    }
}

#[test]
fn opentimelineio_loads_the_export_with_the_timeline_ranges() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = python(&root).unwrap_or_else(|why| panic!("{why}"));

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let dir = std::env::temp_dir().join(format!("studio-otio-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let assets = assets();
    let catalog: HashMap<String, AssetFacts> = assets
        .iter()
        .map(|(id, asset)| ((*id).to_owned(), asset.facts))
        .collect();
    let media = |id: &str| assets.get(id).and_then(|asset| asset.media.clone());
    let media_table: serde_json::Map<String, Value> = assets
        .iter()
        .filter_map(|(id, asset)| {
            let media = asset.media.as_ref()?;
            Some((
                (*id).to_owned(),
                json!({ "name": media.name, "durationSecs": media.duration_secs,
                        "rate": media.rate, "targetUrl": media.target_url }),
            ))
        })
        .collect();

    for (name, document) in cases() {
        let bytes = serde_json::to_vec(&document).expect("fixture");
        let project = timeline::parse_and_validate(&bytes, &TimelineLimits::default(), &catalog)
            .unwrap_or_else(|violations| panic!("fixture {name} is invalid: {violations:#?}"));
        let otio = to_otio(&project, &media);
        let write = |suffix: &str, value: &Value| {
            let text = serde_json::to_string_pretty(value).expect("json");
            std::fs::write(dir.join(format!("{name}{suffix}")), text).expect("write");
        };
        write(".project.json", &document);
        write(".media.json", &Value::Object(media_table.clone()));
        write(".otio", &otio);
    }

    let output = Command::new(&python)
        .arg(root.join("tests/otio/check_otio.py"))
        .arg(&dir)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", python.display()));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "check_otio.py failed ({}); the files are in {}:\n{report}",
        output.status,
        dir.display()
    );
    std::fs::remove_dir_all(&dir).ok();
}
