//! The Project JSON (the EDL): what a project's timeline is, as the frontend edits it and the
//! backend stores it. Every type here is the contract: its JSON Schema (`/api/schema/project.json`)
//! is generated from these definitions and their doc comments, and the TypeScript/Zod types of
//! `clients/typescript` from that schema.
//!
//! Conventions: camelCase JSON; unknown fields are errors; times are seconds as finite JSON
//! numbers (timeline positions and durations in project time, `sourceStart` in the asset's own
//! time); ids are short strings the client chooses, unique across the whole document.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The one version this server reads and writes. See the module docs of `timeline` for how a
/// version 2 would be introduced.
pub const SCHEMA_VERSION: u32 = 1;

/// Reads a `u32` written either as an integer or as an integral float (`1920.0`, `4.8e4`):
/// JSON Schema's `integer` accepts both, and so must the server, or a document the published
/// schema accepts (as Python's `json` writes it, say) would be refused.
fn integral_u32<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
        // Integral and in range: the conversion is exact.
        Ok(value as u32)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a whole number from 0 to {}, found {value}",
            u32::MAX
        )))
    }
}

/// A project's timeline: its format, its tracks of clips, and markers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "Project", extend("$id" = "https://studio-engine.dev/schema/project.json"))]
pub struct Project {
    /// The format version of this document. Always 1 for now; a server that reads version 2
    /// upgrades version 1 documents itself.
    #[schemars(extend("const" = 1))]
    #[serde(deserialize_with = "integral_u32")]
    pub schema_version: u32,
    /// The project's display name inside the timeline (export metadata).
    #[schemars(length(min = 1, max = 200))]
    pub name: String,
    /// Frames per second of the output (e.g. 24, 25, 29.97, 30, 60).
    #[schemars(range(min = 1, max = 240))]
    pub fps: f64,
    /// Output width in pixels.
    #[schemars(range(min = 16, max = 8192))]
    #[serde(deserialize_with = "integral_u32")]
    pub width: u32,
    /// Output height in pixels.
    #[schemars(range(min = 16, max = 8192))]
    #[serde(deserialize_with = "integral_u32")]
    pub height: u32,
    /// Audio sample rate of the output, in Hz (e.g. 44100, 48000).
    #[schemars(range(min = 8000, max = 192000))]
    #[serde(deserialize_with = "integral_u32")]
    pub sample_rate: u32,
    /// Tracks, bottom to top for video (later tracks draw over earlier ones).
    pub tracks: Vec<Track>,
    /// Points of interest on the timeline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<Marker>,
}

/// What a track holds: `video` (video and image assets), `audio` (audio assets, or video assets
/// for their sound) or `text` (text clips: titles, captions; no assets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrackKind {
    Video,
    Audio,
    Text,
}

impl TrackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Video => "video",
            TrackKind::Audio => "audio",
            TrackKind::Text => "text",
        }
    }
}

/// A track: clips of one kind, which must not overlap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Track {
    /// Unique across the document.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub id: String,
    pub kind: TrackKind,
    /// Display name.
    #[schemars(length(max = 200))]
    pub name: String,
    /// A muted track is not heard (audio) or seen (video, text) in the output.
    pub muted: bool,
    /// A locked track is not editable in the editor (the server stores it as is).
    pub locked: bool,
    /// The track's clips, in any order (the server sorts nothing).
    pub clips: Vec<Clip>,
}

/// A clip: a piece of an asset (video and audio tracks) or a text (text tracks) placed on the
/// timeline from `start` for `duration` seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Clip {
    /// Unique across the document.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub id: String,
    /// The asset this clip plays (`ast_…`); required on video and audio tracks, absent on text
    /// tracks. It must be an asset of this project that is not deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^ast_[0-9a-hjkmnp-tv-z]{26}$"))]
    pub asset_id: Option<String>,
    /// Where the clip starts on the timeline, in seconds.
    #[schemars(range(min = 0))]
    pub start: f64,
    /// How long the clip lasts on the timeline, in seconds (more than 0).
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub duration: f64,
    /// Where in the asset the clip starts, in seconds of the asset's own time (0 if absent).
    /// `sourceStart + duration × speed` must not pass the end of the asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub source_start: Option<f64>,
    /// Playback speed: 2 plays twice as fast (using twice as much of the asset). 1 if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0625, max = 16))]
    pub speed: Option<f64>,
    /// Linear gain of the clip's sound: 0 silent, 1 as recorded (the default), up to 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 4))]
    pub volume: Option<f64>,
    /// Fade in from the clip's start, in seconds (picture and sound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub fade_in: Option<f64>,
    /// Fade out to the clip's end, in seconds. `fadeIn + fadeOut` must not exceed `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub fade_out: Option<f64>,
    /// Display name (defaults to the asset's file name in the editor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub name: Option<String>,
    /// The text of a text clip; required on text tracks, absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10000))]
    pub text: Option<String>,
    /// How a text clip looks; only on text tracks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<TextStyle>,
}

impl Clip {
    /// `sourceStart`, 0 when absent.
    pub fn source_start(&self) -> f64 {
        self.source_start.unwrap_or(0.0)
    }

    /// `speed`, 1 when absent.
    pub fn speed(&self) -> f64 {
        self.speed.unwrap_or(1.0)
    }

    /// Where the clip ends on the timeline.
    pub fn end(&self) -> f64 {
        self.start + self.duration
    }

    /// How much of the asset the clip uses, in the asset's seconds.
    pub fn source_duration(&self) -> f64 {
        self.duration * self.speed()
    }
}

/// Horizontal alignment of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TextAlign {
    Left,
    Center,
    Right,
}

/// The look of a text clip. Every field is optional; the editor's defaults apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TextStyle {
    /// A CSS font family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub font_family: Option<String>,
    /// Font size in output pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub font_size: Option<f64>,
    /// `#rrggbb` or `#rrggbbaa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$"))]
    pub color: Option<String>,
    /// `#rrggbb` or `#rrggbbaa` behind the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$"))]
    pub background_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bold: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub italic: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub align: Option<TextAlign>,
    /// Horizontal position of the text's anchor, 0 (left edge) to 1 (right edge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1))]
    pub x: Option<f64>,
    /// Vertical position of the text's anchor, 0 (top) to 1 (bottom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1))]
    pub y: Option<f64>,
}

/// A named point on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Marker {
    /// Unique across the document.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub id: String,
    /// Where the marker is, in seconds.
    #[schemars(range(min = 0))]
    pub time: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub label: Option<String>,
    /// `#rrggbb` or `#rrggbbaa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$"))]
    pub color: Option<String>,
}

impl Project {
    /// The timeline a new project starts with: 1080p at 30 fps, 48 kHz, one empty video track
    /// and one empty audio track.
    pub fn empty(name: &str) -> Self {
        let track = |id: &str, kind: TrackKind, name: &str| Track {
            id: id.to_owned(),
            kind,
            name: name.to_owned(),
            muted: false,
            locked: false,
            clips: Vec::new(),
        };
        Self {
            schema_version: SCHEMA_VERSION,
            name: name.to_owned(),
            fps: 30.0,
            width: 1920,
            height: 1080,
            sample_rate: 48_000,
            tracks: vec![
                track("video-1", TrackKind::Video, "Video 1"),
                track("audio-1", TrackKind::Audio, "Audio 1"),
            ],
            markers: Vec::new(),
        }
    }

    /// Every clip with the indexes of its track and of itself in that track.
    pub fn clips(&self) -> impl Iterator<Item = (usize, usize, &Clip)> {
        self.tracks.iter().enumerate().flat_map(|(t, track)| {
            track
                .clips
                .iter()
                .enumerate()
                .map(move |(c, clip)| (t, c, clip))
        })
    }
}
