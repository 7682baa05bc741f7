//! The timeline as OpenTimelineIO JSON (`.otio`, as `opentimelineio` 0.17 writes it), so other
//! NLEs can open a project through OTIO's adapters. Pure: the caller supplies what it knows of
//! each asset ([`OtioMedia`]); nothing here reads storage.
//!
//! The mapping, and why:
//! - `Timeline.1` named after the project, `global_start_time` 0 at the project fps, and the
//!   output format under `metadata.studio` (`schemaVersion`, `fps`, `width`, `height`,
//!   `sampleRate`; no project id: the file leaves the system).
//! - Its `tracks` is one `Stack.1` holding one `Track.1` per track, in our order (OTIO stacks
//!   are bottom to top, like ours). `kind` is `Video` or `Audio`; a muted track is
//!   `enabled: false` (OTIO's own "mute"); `metadata.studio` keeps the track id, our kind and
//!   `locked`.
//! - Text tracks are kept, as `Video` tracks (`metadata.studio.kind` = `"text"`): a title sits
//!   over the picture, and an NLE that cannot render it still shows where it goes. Their clips
//!   have a `MissingReference` (OTIO has no text media) and carry `metadata.studio.text` and
//!   `style`.
//! - Clips in order of `start`, with a `Gap.1` wherever a track leaves space, including before
//!   its first clip, so each clip's `range_in_parent()` is its place on our timeline.
//! - A clip's `source_range` starts at `sourceStart` and lasts `duration`: in OTIO the duration of
//!   an item's `source_range` *is* its length in its parent (time effects do not change
//!   `range_in_parent()`, and OTIO's viewer and EDL adapter read a warped clip's media as
//!   `source_range.duration × time_scalar`). So speed is a `LinearTimeWarp.1` with
//!   `time_scalar = speed` (added only when speed is not 1), and the asset time used,
//!   `duration × speed`, is also written as `metadata.studio.sourceDuration`. Writing
//!   `duration × speed` as the source duration instead would push every later clip of the track
//!   out of place in every OTIO reader.
//! - Media: an `ExternalReference.1` to the asset's `target_url` when the caller knows one, with
//!   `available_range` 0..the asset's duration at its rate (the project fps when the asset has
//!   none, e.g. audio) when the duration is known. Without a URL (or without an asset at all) a
//!   `MissingReference.1`, still named after the asset and carrying its range when known.
//!   A clip is named by its `name`, else its asset's name, else (text clips) the first line of
//!   its text, else its id.
//! - Volume and fades have no OTIO schema; they travel in the clip's `metadata.studio`.
//! - Markers go on the Stack (timeline markers), `marked_range` at their time with duration 0,
//!   named by their label, coloured with the nearest OTIO marker colour (RGB distance; RED, OTIO's
//!   default, when the marker has none); the exact colour stays in `metadata.studio.color`.
//!
//! Every time is a `RationalTime` at the project fps: `value = seconds × fps`, `rate = fps`.
//! Values are not rounded to whole frames (that would move a clip by up to half a frame); only
//! floating-point noise within [`FRAME_EPSILON`] of a whole frame is removed. A stored timeline
//! never has overlapping clips (validation refuses them); if one were given anyway, a clip that
//! starts before the previous one ends is placed right after it, never earlier.

use serde_json::{Map, Value, json};

use super::model::{Clip, Marker, Project, Track, TrackKind};

/// What the export needs to know of an asset.
#[derive(Debug, Clone, PartialEq)]
pub struct OtioMedia {
    /// The asset's display name (its file name).
    pub name: String,
    /// The asset's probed duration, when known.
    pub duration_secs: Option<f64>,
    /// The asset's frame rate, when it has one (audio does not).
    pub rate: Option<f64>,
    /// Where another application can fetch the media; `None` writes a `MissingReference`.
    pub target_url: Option<String>,
}

/// Frame values this close to a whole frame are that frame: `seconds × fps` in floating point
/// leaves noise (0.1 × 30 = 3.0000000000000004) that NLEs would show as a sub-frame offset.
const FRAME_EPSILON: f64 = 1e-6;

/// The key of a clip's one media reference (OTIO's default key).
const DEFAULT_MEDIA: &str = "DEFAULT_MEDIA";

/// The longest name, in characters, taken from a text clip's text when it has no name.
const TEXT_NAME_CHARS: usize = 60;

/// OTIO's marker colours with the RGB each stands for (the CSS colour of that name).
const MARKER_COLORS: [(&str, [u8; 3]); 11] = [
    ("RED", [0xff, 0x00, 0x00]),
    ("PINK", [0xff, 0xc0, 0xcb]),
    ("ORANGE", [0xff, 0xa5, 0x00]),
    ("YELLOW", [0xff, 0xff, 0x00]),
    ("GREEN", [0x00, 0xff, 0x00]),
    ("CYAN", [0x00, 0xff, 0xff]),
    ("BLUE", [0x00, 0x00, 0xff]),
    ("PURPLE", [0x80, 0x00, 0x80]),
    ("MAGENTA", [0xff, 0x00, 0xff]),
    ("BLACK", [0x00, 0x00, 0x00]),
    ("WHITE", [0xff, 0xff, 0xff]),
];

/// OTIO's colour for a marker without one.
const DEFAULT_MARKER_COLOR: &str = "RED";

/// `project` as an OpenTimelineIO `Timeline.1` document; `media` tells what is known of an asset
/// id (`None`: nothing, the clip gets a `MissingReference`). See the module docs for the mapping.
pub fn to_otio(project: &Project, media: &dyn Fn(&str) -> Option<OtioMedia>) -> Value {
    let fps = project.fps;
    let tracks: Vec<Value> = project
        .tracks
        .iter()
        .map(|track| track_json(track, fps, media))
        .collect();
    let markers: Vec<Value> = project
        .markers
        .iter()
        .map(|marker| marker_json(marker, fps))
        .collect();
    json!({
        "OTIO_SCHEMA": "Timeline.1",
        "metadata": {
            "studio": {
                "schemaVersion": project.schema_version,
                "fps": fps,
                "width": project.width,
                "height": project.height,
                "sampleRate": project.sample_rate,
            }
        },
        "name": project.name,
        "global_start_time": rational(0.0, fps),
        "tracks": {
            "OTIO_SCHEMA": "Stack.1",
            "metadata": {},
            "name": "tracks",
            "source_range": null,
            "effects": [],
            "markers": markers,
            "enabled": true,
            "children": tracks,
        },
    })
}

fn track_json(track: &Track, fps: f64, media: &dyn Fn(&str) -> Option<OtioMedia>) -> Value {
    let mut clips: Vec<&Clip> = track.clips.iter().collect();
    clips.sort_by(|a, b| a.start.total_cmp(&b.start));

    let mut children = Vec::with_capacity(clips.len() * 2);
    // Where the previous item ends, in frames: gaps are computed from it (not from seconds) so
    // the items' durations add up to each clip's start exactly.
    let mut cursor = 0.0;
    for clip in clips {
        let start = frames(clip.start, fps);
        let gap = start - cursor;
        if gap > FRAME_EPSILON {
            children.push(gap_json(gap, fps));
        }
        children.push(clip_json(clip, track.kind, fps, media));
        cursor = cursor.max(start) + frames(clip.duration, fps);
    }

    let kind = match track.kind {
        TrackKind::Video | TrackKind::Text => "Video",
        TrackKind::Audio => "Audio",
    };
    json!({
        "OTIO_SCHEMA": "Track.1",
        "metadata": {
            "studio": {
                "id": track.id,
                "kind": track.kind.as_str(),
                "locked": track.locked,
            }
        },
        "name": track.name,
        "source_range": null,
        "effects": [],
        "markers": [],
        "enabled": !track.muted,
        "children": children,
        "kind": kind,
    })
}

fn gap_json(duration_frames: f64, fps: f64) -> Value {
    json!({
        "OTIO_SCHEMA": "Gap.1",
        "metadata": {},
        "name": "",
        "source_range": time_range(0.0, duration_frames, fps),
        "effects": [],
        "markers": [],
        "enabled": true,
    })
}

fn clip_json(
    clip: &Clip,
    kind: TrackKind,
    fps: f64,
    media: &dyn Fn(&str) -> Option<OtioMedia>,
) -> Value {
    let asset = clip.asset_id.as_deref().and_then(media);
    let speed = clip.speed();

    let mut studio = Map::new();
    studio.insert("id".into(), json!(clip.id));
    if let Some(asset_id) = &clip.asset_id {
        studio.insert("assetId".into(), json!(asset_id));
    }
    if kind != TrackKind::Text {
        studio.insert("sourceDuration".into(), json!(clip.source_duration()));
    }
    for (key, value) in [
        ("volume", clip.volume),
        ("fadeIn", clip.fade_in),
        ("fadeOut", clip.fade_out),
    ] {
        if let Some(value) = value {
            studio.insert(key.into(), json!(value));
        }
    }
    if let Some(text) = &clip.text {
        studio.insert("text".into(), json!(text));
    }
    if let Some(style) = &clip.style {
        // A struct of plain fields: serializing it cannot fail, but if it ever did the style
        // would only be missing from the metadata.
        if let Ok(style) = serde_json::to_value(style) {
            studio.insert("style".into(), style);
        }
    }

    #[expect(
        clippy::float_cmp,
        reason = "exactly 1 is normal speed; any other value, however close, is a warp"
    )]
    let effects = if speed == 1.0 {
        json!([])
    } else {
        json!([{
            "OTIO_SCHEMA": "LinearTimeWarp.1",
            "metadata": {},
            "name": "",
            "effect_name": "LinearTimeWarp",
            "time_scalar": speed,
        }])
    };

    json!({
        "OTIO_SCHEMA": "Clip.2",
        "metadata": { "studio": studio },
        "name": clip_name(clip, asset.as_ref()),
        "source_range": time_range(
            frames(clip.source_start(), fps),
            frames(clip.duration, fps),
            fps,
        ),
        "effects": effects,
        "markers": [],
        "enabled": true,
        "media_references": { DEFAULT_MEDIA: media_reference(asset.as_ref(), fps) },
        "active_media_reference_key": DEFAULT_MEDIA,
    })
}

/// The clip's name, else its asset's, else the first line of its text, else its id.
fn clip_name(clip: &Clip, asset: Option<&OtioMedia>) -> String {
    let named = |name: &str| !name.trim().is_empty();
    if let Some(name) = clip.name.as_deref().filter(|n| named(n)) {
        return name.to_owned();
    }
    if let Some(asset) = asset.filter(|a| named(&a.name)) {
        return asset.name.clone();
    }
    if let Some(line) = clip
        .text
        .as_deref()
        .and_then(|text| text.lines().map(str::trim).find(|l| !l.is_empty()))
    {
        return line.chars().take(TEXT_NAME_CHARS).collect();
    }
    clip.id.clone()
}

fn media_reference(asset: Option<&OtioMedia>, fps: f64) -> Value {
    let Some(asset) = asset else {
        return json!({
            "OTIO_SCHEMA": "MissingReference.1",
            "metadata": {},
            "name": "",
            "available_range": null,
            "available_image_bounds": null,
        });
    };
    let available_range = match asset.duration_secs {
        Some(duration) if duration.is_finite() && duration > 0.0 => {
            let rate = asset
                .rate
                .filter(|rate| rate.is_finite() && *rate > 0.0)
                .unwrap_or(fps);
            time_range(0.0, frames(duration, rate), rate)
        }
        _ => Value::Null,
    };
    match &asset.target_url {
        Some(url) => json!({
            "OTIO_SCHEMA": "ExternalReference.1",
            "metadata": {},
            "name": asset.name,
            "available_range": available_range,
            "available_image_bounds": null,
            "target_url": url,
        }),
        None => json!({
            "OTIO_SCHEMA": "MissingReference.1",
            "metadata": {},
            "name": asset.name,
            "available_range": available_range,
            "available_image_bounds": null,
        }),
    }
}

fn marker_json(marker: &Marker, fps: f64) -> Value {
    let mut studio = Map::new();
    studio.insert("id".into(), json!(marker.id));
    if let Some(color) = &marker.color {
        studio.insert("color".into(), json!(color));
    }
    let color = marker
        .color
        .as_deref()
        .and_then(nearest_marker_color)
        .unwrap_or(DEFAULT_MARKER_COLOR);
    json!({
        "OTIO_SCHEMA": "Marker.2",
        "metadata": { "studio": studio },
        "name": marker.label.as_deref().unwrap_or(""),
        "color": color,
        "marked_range": time_range(frames(marker.time, fps), 0.0, fps),
        "comment": "",
    })
}

/// The OTIO marker colour nearest to `#rrggbb` (or `#rrggbbaa`, alpha ignored); `None` when
/// `hex` is not such a colour.
fn nearest_marker_color(hex: &str) -> Option<&'static str> {
    let digits = hex.strip_prefix('#')?;
    if !(digits.len() == 6 || digits.len() == 8) || !digits.is_ascii() {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&digits[i..i + 2], 16).ok();
    let rgb = [channel(0)?, channel(2)?, channel(4)?];
    let distance = |other: [u8; 3]| -> u32 {
        rgb.iter()
            .zip(other)
            .map(|(a, b)| u32::from(a.abs_diff(b)).pow(2))
            .sum()
    };
    MARKER_COLORS
        .iter()
        .min_by_key(|(_, other)| distance(*other))
        .map(|(name, _)| *name)
}

/// `seconds` as a frame count at `rate`, with floating-point noise around whole frames removed.
fn frames(seconds: f64, rate: f64) -> f64 {
    let value = seconds * rate;
    let whole = value.round();
    if (value - whole).abs() < FRAME_EPSILON {
        whole
    } else {
        value
    }
}

fn rational(value: f64, rate: f64) -> Value {
    json!({ "OTIO_SCHEMA": "RationalTime.1", "rate": rate, "value": value })
}

fn time_range(start: f64, duration: f64, rate: f64) -> Value {
    json!({
        "OTIO_SCHEMA": "TimeRange.1",
        "duration": rational(duration, rate),
        "start_time": rational(start, rate),
    })
}

#[cfg(test)]
mod tests {
    use super::super::model::{TextStyle, Track};
    use super::*;

    const ASSET: &str = "ast_0000000000000000000000000v";

    fn clip(id: &str, start: f64, duration: f64) -> Clip {
        Clip {
            id: id.to_owned(),
            asset_id: Some(ASSET.to_owned()),
            start,
            duration,
            source_start: None,
            speed: None,
            volume: None,
            fade_in: None,
            fade_out: None,
            name: None,
            text: None,
            style: None,
        }
    }

    fn project(clips: Vec<Clip>) -> Project {
        let mut project = Project::empty("Demo");
        project.tracks[0].clips = clips;
        project
    }

    fn known(_: &str) -> Option<OtioMedia> {
        Some(OtioMedia {
            name: "beach.mp4".to_owned(),
            duration_secs: Some(10.0),
            rate: Some(25.0),
            target_url: Some("https://example.test/beach.mp4".to_owned()),
        })
    }

    fn unknown(_: &str) -> Option<OtioMedia> {
        None
    }

    fn children(otio: &Value, track: usize) -> &Vec<Value> {
        otio["tracks"]["children"][track]["children"]
            .as_array()
            .expect("children")
    }

    /// (start value, duration value, rate) of a `TimeRange.1`.
    fn range(range: &Value) -> (f64, f64, f64) {
        let value = |time: &Value| time["value"].as_f64().expect("value");
        (
            value(&range["start_time"]),
            value(&range["duration"]),
            range["duration"]["rate"].as_f64().expect("rate"),
        )
    }

    fn schemas(items: &[Value]) -> Vec<&str> {
        items
            .iter()
            .map(|item| item["OTIO_SCHEMA"].as_str().expect("schema"))
            .collect()
    }

    #[test]
    fn timeline_stack_and_tracks_have_otio_shape() {
        let otio = to_otio(&project(Vec::new()), &unknown);
        assert_eq!(otio["OTIO_SCHEMA"], "Timeline.1");
        assert_eq!(otio["name"], "Demo");
        assert_eq!(otio["global_start_time"], rational(0.0, 30.0));
        assert_eq!(
            otio["metadata"]["studio"],
            json!({ "schemaVersion": 1, "fps": 30.0, "width": 1920, "height": 1080,
                    "sampleRate": 48000 })
        );
        let stack = &otio["tracks"];
        assert_eq!(stack["OTIO_SCHEMA"], "Stack.1");
        assert_eq!(stack["markers"], json!([]));
        let tracks = stack["children"].as_array().expect("tracks");
        assert_eq!(schemas(tracks), ["Track.1", "Track.1"]);
        assert_eq!(tracks[0]["kind"], "Video");
        assert_eq!(tracks[1]["kind"], "Audio");
        assert_eq!(tracks[0]["name"], "Video 1");
        assert_eq!(tracks[0]["enabled"], true);
        assert_eq!(tracks[0]["children"], json!([]));
    }

    #[test]
    fn gaps_fill_the_space_before_and_between_clips_in_start_order() {
        let otio = to_otio(
            &project(vec![
                clip("b", 5.0, 1.0),
                clip("a", 1.0, 2.0),
                clip("c", 6.0, 0.5),
            ]),
            &known,
        );
        let items = children(&otio, 0);
        assert_eq!(
            schemas(items),
            ["Gap.1", "Clip.2", "Gap.1", "Clip.2", "Clip.2"]
        );
        assert_eq!(range(&items[0]["source_range"]), (0.0, 30.0, 30.0));
        assert_eq!(items[1]["metadata"]["studio"]["id"], "a");
        assert_eq!(range(&items[2]["source_range"]), (0.0, 60.0, 30.0));
        assert_eq!(items[3]["metadata"]["studio"]["id"], "b");
        assert_eq!(items[4]["metadata"]["studio"]["id"], "c");
    }

    #[test]
    fn a_clip_at_zero_has_no_gap_before_it() {
        let otio = to_otio(&project(vec![clip("a", 0.0, 2.0)]), &known);
        assert_eq!(schemas(children(&otio, 0)), ["Clip.2"]);
    }

    #[test]
    fn clip_ranges_are_frames_at_the_project_fps() {
        let mut with_source = clip("a", 0.1, 1.5);
        with_source.source_start = Some(2.0);
        let otio = to_otio(&project(vec![with_source]), &known);
        let items = children(&otio, 0);
        // 0.1 × 30 is 3.0000000000000004 in floating point: written as frame 3.
        assert_eq!(range(&items[0]["source_range"]), (0.0, 3.0, 30.0));
        assert_eq!(range(&items[1]["source_range"]), (60.0, 45.0, 30.0));
    }

    #[test]
    fn speed_is_a_linear_time_warp_over_the_timeline_duration() {
        let mut fast = clip("a", 0.0, 4.0);
        fast.speed = Some(2.0);
        fast.source_start = Some(1.0);
        let normal = clip("b", 4.0, 1.0);
        let otio = to_otio(&project(vec![fast, normal]), &known);
        let items = children(&otio, 0);
        assert_eq!(
            items[0]["effects"],
            json!([{ "OTIO_SCHEMA": "LinearTimeWarp.1", "metadata": {}, "name": "",
                     "effect_name": "LinearTimeWarp", "time_scalar": 2.0 }])
        );
        // The duration is the clip's length on the timeline; the warp doubles the media used.
        assert_eq!(range(&items[0]["source_range"]), (30.0, 120.0, 30.0));
        assert_eq!(items[0]["metadata"]["studio"]["sourceDuration"], 8.0);
        assert_eq!(items[1]["effects"], json!([]));
    }

    #[test]
    fn media_reference_is_external_with_the_asset_range_when_known() {
        let otio = to_otio(&project(vec![clip("a", 0.0, 1.0)]), &known);
        let clip = &children(&otio, 0)[0];
        assert_eq!(clip["name"], "beach.mp4");
        assert_eq!(clip["active_media_reference_key"], DEFAULT_MEDIA);
        let reference = &clip["media_references"][DEFAULT_MEDIA];
        assert_eq!(reference["OTIO_SCHEMA"], "ExternalReference.1");
        assert_eq!(reference["target_url"], "https://example.test/beach.mp4");
        assert_eq!(range(&reference["available_range"]), (0.0, 250.0, 25.0));
    }

    #[test]
    fn media_reference_is_missing_without_a_url_or_an_asset() {
        let no_url = |_: &str| {
            Some(OtioMedia {
                name: "voice.wav".to_owned(),
                duration_secs: Some(2.0),
                rate: None,
                target_url: None,
            })
        };
        let otio = to_otio(&project(vec![clip("a", 0.0, 1.0)]), &no_url);
        let reference = &children(&otio, 0)[0]["media_references"][DEFAULT_MEDIA];
        assert_eq!(reference["OTIO_SCHEMA"], "MissingReference.1");
        assert_eq!(reference["name"], "voice.wav");
        // No rate of its own: the project fps.
        assert_eq!(range(&reference["available_range"]), (0.0, 60.0, 30.0));

        let otio = to_otio(&project(vec![clip("a", 0.0, 1.0)]), &unknown);
        let clip = &children(&otio, 0)[0];
        assert_eq!(clip["name"], "a");
        let reference = &clip["media_references"][DEFAULT_MEDIA];
        assert_eq!(reference["OTIO_SCHEMA"], "MissingReference.1");
        assert_eq!(reference["available_range"], Value::Null);
    }

    #[test]
    fn clip_name_wins_over_the_asset_name() {
        let mut named = clip("a", 0.0, 1.0);
        named.name = Some("Intro".to_owned());
        let otio = to_otio(&project(vec![named]), &known);
        assert_eq!(children(&otio, 0)[0]["name"], "Intro");
    }

    #[test]
    fn text_tracks_are_video_tracks_of_text_clips() {
        let mut project = project(Vec::new());
        project.tracks.push(Track {
            id: "t1".to_owned(),
            kind: TrackKind::Text,
            name: "Titles".to_owned(),
            muted: true,
            locked: true,
            clips: vec![Clip {
                asset_id: None,
                text: Some("\nHello\nworld".to_owned()),
                style: Some(TextStyle {
                    font_family: None,
                    font_size: Some(64.0),
                    color: None,
                    background_color: None,
                    bold: Some(true),
                    italic: None,
                    align: None,
                    x: None,
                    y: None,
                }),
                ..clip("t", 1.0, 2.0)
            }],
        });
        let otio = to_otio(&project, &known);
        let track = &otio["tracks"]["children"][2];
        assert_eq!(track["kind"], "Video");
        assert_eq!(track["enabled"], false);
        assert_eq!(
            track["metadata"]["studio"],
            json!({ "id": "t1", "kind": "text", "locked": true })
        );
        let items = children(&otio, 2);
        assert_eq!(schemas(items), ["Gap.1", "Clip.2"]);
        let text = &items[1];
        assert_eq!(text["name"], "Hello");
        assert_eq!(
            text["media_references"][DEFAULT_MEDIA]["OTIO_SCHEMA"],
            "MissingReference.1"
        );
        assert_eq!(
            text["metadata"]["studio"],
            json!({ "id": "t", "text": "\nHello\nworld",
                    "style": { "fontSize": 64.0, "bold": true } })
        );
    }

    #[test]
    fn markers_are_on_the_stack_with_the_nearest_otio_color() {
        let mut project = project(Vec::new());
        let marker = |id: &str, time, label: Option<&str>, color: Option<&str>| Marker {
            id: id.to_owned(),
            time,
            label: label.map(str::to_owned),
            color: color.map(str::to_owned),
        };
        project.markers = vec![
            marker("m1", 12.5, Some("Drop"), Some("#ff0000")),
            marker("m2", 1.0, None, Some("#10e020")),
            marker("m3", 2.0, Some("Plain"), None),
            marker("m4", 3.0, None, Some("#f5f5f580")),
        ];
        let otio = to_otio(&project, &unknown);
        let markers = otio["tracks"]["markers"].as_array().expect("markers");
        assert_eq!(schemas(markers), ["Marker.2"; 4]);
        assert_eq!(markers[0]["name"], "Drop");
        assert_eq!(markers[0]["color"], "RED");
        assert_eq!(range(&markers[0]["marked_range"]), (375.0, 0.0, 30.0));
        assert_eq!(
            markers[0]["metadata"]["studio"],
            json!({ "id": "m1", "color": "#ff0000" })
        );
        assert_eq!(markers[1]["name"], "");
        assert_eq!(markers[1]["color"], "GREEN");
        assert_eq!(markers[2]["color"], DEFAULT_MARKER_COLOR);
        assert_eq!(markers[3]["color"], "WHITE");
        assert_eq!(otio["tracks"]["children"][0]["markers"], json!([]));
    }

    #[test]
    fn nearest_marker_color_reads_only_hex_colors() {
        assert_eq!(nearest_marker_color("#0000ff"), Some("BLUE"));
        assert_eq!(nearest_marker_color("#ffa000"), Some("ORANGE"));
        assert_eq!(nearest_marker_color("#7a0a80"), Some("PURPLE"));
        assert_eq!(nearest_marker_color("#000000ff"), Some("BLACK"));
        assert_eq!(nearest_marker_color("red"), None);
        assert_eq!(nearest_marker_color("#12345"), None);
        assert_eq!(nearest_marker_color("#gg0000"), None);
        assert_eq!(nearest_marker_color("#ééé"), None);
    }

    #[test]
    fn volume_and_fades_travel_in_metadata() {
        let mut faded = clip("a", 0.0, 2.0);
        faded.volume = Some(0.5);
        faded.fade_in = Some(0.25);
        let otio = to_otio(&project(vec![faded]), &known);
        assert_eq!(
            children(&otio, 0)[0]["metadata"]["studio"],
            json!({ "id": "a", "assetId": ASSET, "sourceDuration": 2.0, "volume": 0.5,
                    "fadeIn": 0.25 })
        );
    }

    #[test]
    fn overlapping_clips_are_placed_one_after_the_other() {
        let otio = to_otio(
            &project(vec![
                clip("a", 0.0, 2.0),
                clip("b", 1.0, 2.0),
                clip("c", 5.0, 1.0),
            ]),
            &known,
        );
        let items = children(&otio, 0);
        assert_eq!(schemas(items), ["Clip.2", "Clip.2", "Gap.1", "Clip.2"]);
        // b was pushed to 2 s and ends at 4 s: 1 s of gap before c at 5 s.
        assert_eq!(range(&items[2]["source_range"]), (0.0, 30.0, 30.0));
    }
}
