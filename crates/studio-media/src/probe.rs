//! `ffprobe` → [`MediaInfo`]. Dimensions are the *displayed* ones (after rotation), since that
//! is what the editor lays out and what ffmpeg's default autorotation produces.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::MediaError;
use crate::process::{self, Tools};

/// ffprobe reads only headers and a few packets: anything slower is a hung input.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Relative difference between `r_frame_rate` and `avg_frame_rate` above which a stream counts
/// as variable frame rate (CFR files differ only by rounding of the averaged duration).
const VFR_TOLERANCE: f64 = 0.01;

/// What kind of asset a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Video,
    Audio,
    Image,
}

/// What the processing job needs to know about an input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub kind: MediaKind,
    /// 0 for still images.
    pub duration_secs: f64,
    /// Displayed width (after rotation), when there is a picture.
    pub width: Option<u32>,
    /// Displayed height (after rotation), when there is a picture.
    pub height: Option<u32>,
    /// Clockwise rotation applied on display, normalized to 0, 90, 180 or 270.
    pub rotation_degrees: u32,
    /// Average frame rate (falls back to `r_frame_rate`); `None` without video.
    pub frame_rate: Option<f64>,
    /// `r_frame_rate` and `avg_frame_rate` disagree.
    pub variable_frame_rate: bool,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub audio_channels: Option<u32>,
    pub audio_sample_rate: Option<u32>,
    pub has_audio: bool,
    /// A moving picture: `false` for still images (whose picture is in `width`/`height`).
    pub has_video: bool,
    /// ffprobe's `format_name`, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub container: String,
    pub size_bytes: u64,
}

/// Probes `path` with ffprobe.
pub async fn probe(tools: &Tools, path: &Path) -> Result<MediaInfo, MediaError> {
    let size_bytes = tokio::fs::metadata(path).await?.len();
    let args: Vec<OsString> = vec![
        "-v".into(),
        "error".into(),
        "-print_format".into(),
        "json".into(),
        "-show_format".into(),
        "-show_streams".into(),
        path.into(),
    ];
    let out = process::run(&tools.ffprobe, &args, PROBE_TIMEOUT).await?;
    if !out.status.success() {
        // ffprobe only fails this way when it cannot open or understand the input.
        return Err(MediaError::NotMedia {
            detail: tail(&out.stderr),
        });
    }
    let raw: ProbeOutput = serde_json::from_slice(&out.stdout)
        .map_err(|e| MediaError::BadProbeOutput(e.to_string()))?;
    parse(raw, size_bytes)
}

fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(process::STDERR_TAIL_LINES);
    lines[start..].join("\n")
}

/// Parses ffprobe's JSON (`-show_format -show_streams`) into [`MediaInfo`].
pub fn parse_json(json: &[u8], size_bytes: u64) -> Result<MediaInfo, MediaError> {
    let raw: ProbeOutput =
        serde_json::from_slice(json).map_err(|e| MediaError::BadProbeOutput(e.to_string()))?;
    parse(raw, size_bytes)
}

fn parse(raw: ProbeOutput, size_bytes: u64) -> Result<MediaInfo, MediaError> {
    let format = raw.format.unwrap_or_default();
    let container = format.format_name.unwrap_or_default();
    // Cover art in MP3/M4A shows up as a one-frame video stream marked attached_pic.
    let video = raw.streams.iter().find(|s| {
        s.codec_type.as_deref() == Some("video")
            && s.disposition.as_ref().is_none_or(|d| d.attached_pic == 0)
    });
    let audio = raw
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"));
    if video.is_none() && audio.is_none() {
        return Err(MediaError::NotMedia {
            detail: "no audio or video stream".to_owned(),
        });
    }

    let is_image_container = container == "image2" || container.ends_with("_pipe");
    let kind = match (video, audio) {
        (Some(_), None) if is_image_container => MediaKind::Image,
        (Some(_), _) => MediaKind::Video,
        (None, _) => MediaKind::Audio,
    };

    let rotation_degrees = video.map(rotation_of).unwrap_or(0);
    let (width, height) = match video.and_then(|v| Some((v.width?, v.height?))) {
        Some((w, h)) if rotation_degrees % 180 == 90 => (Some(h), Some(w)),
        Some((w, h)) => (Some(w), Some(h)),
        None => (None, None),
    };

    let (frame_rate, variable_frame_rate) = match video {
        Some(v) if kind == MediaKind::Video => {
            let r = v.r_frame_rate.as_deref().and_then(parse_rational);
            let avg = v.avg_frame_rate.as_deref().and_then(parse_rational);
            let vfr = match (r, avg) {
                (Some(r), Some(avg)) => ((r - avg) / r).abs() > VFR_TOLERANCE,
                _ => false,
            };
            (avg.or(r), vfr)
        }
        _ => (None, false),
    };

    let duration_secs = if kind == MediaKind::Image {
        0.0
    } else {
        format
            .duration
            .as_deref()
            .and_then(|d| d.parse::<f64>().ok())
            .or_else(|| {
                raw.streams
                    .iter()
                    .filter_map(|s| s.duration.as_deref()?.parse::<f64>().ok())
                    .reduce(f64::max)
            })
            .filter(|d| d.is_finite() && *d >= 0.0)
            .unwrap_or(0.0)
    };

    Ok(MediaInfo {
        kind,
        duration_secs,
        width,
        height,
        rotation_degrees,
        frame_rate,
        variable_frame_rate,
        video_codec: video.and_then(|v| v.codec_name.clone()),
        audio_codec: audio.and_then(|a| a.codec_name.clone()),
        audio_channels: audio.and_then(|a| a.channels),
        audio_sample_rate: audio.and_then(|a| a.sample_rate.as_deref()?.parse().ok()),
        has_audio: audio.is_some(),
        has_video: kind == MediaKind::Video,
        container,
        size_bytes,
    })
}

/// Clockwise display rotation in {0, 90, 180, 270}. The display matrix's `rotation` is
/// counter-clockwise (libavutil's `av_display_rotation_get`); the legacy `rotate` tag is
/// clockwise.
fn rotation_of(stream: &Stream) -> u32 {
    let from_matrix = stream
        .side_data_list
        .iter()
        .flatten()
        .find(|sd| sd.side_data_type.as_deref() == Some("Display Matrix"))
        .and_then(|sd| sd.rotation)
        .map(|ccw| -ccw);
    let from_tag = || {
        stream
            .tags
            .as_ref()?
            .get("rotate")?
            .trim()
            .parse::<f64>()
            .ok()
    };
    let clockwise = from_matrix.or_else(from_tag).unwrap_or(0.0);
    // Snap to the nearest quarter turn: arbitrary angles are not something players honour.
    let quarter_turns = (clockwise / 90.0).round() as i64;
    (quarter_turns.rem_euclid(4) * 90) as u32
}

/// `"30000/1001"` → 29.97…; `None` for `0/0` and garbage.
fn parse_rational(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let (n, d) = (n.trim().parse::<f64>().ok()?, d.trim().parse::<f64>().ok()?);
    let v = n / d;
    (v.is_finite() && v > 0.0).then_some(v)
}

#[derive(Debug, Deserialize)]
struct ProbeOutput {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Debug, Default, Deserialize)]
struct Format {
    format_name: Option<String>,
    duration: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    r_frame_rate: Option<String>,
    avg_frame_rate: Option<String>,
    channels: Option<u32>,
    sample_rate: Option<String>,
    duration: Option<String>,
    tags: Option<HashMap<String, String>>,
    side_data_list: Option<Vec<SideData>>,
    disposition: Option<Disposition>,
}

#[derive(Debug, Deserialize)]
struct SideData {
    side_data_type: Option<String>,
    rotation: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Disposition {
    #[serde(default)]
    attached_pic: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video_json(extra_stream: &str, format_name: &str) -> String {
        format!(
            r#"{{"streams":[{{"codec_type":"video","codec_name":"h264","width":1920,"height":1080,
            "r_frame_rate":"30/1","avg_frame_rate":"30/1","duration":"2.0"{extra_stream}}},
            {{"codec_type":"audio","codec_name":"aac","channels":2,"sample_rate":"44100"}}],
            "format":{{"format_name":"{format_name}","duration":"2.000000"}}}}"#
        )
    }

    #[test]
    fn landscape_video() {
        let info = parse_json(video_json("", "mov,mp4").as_bytes(), 10).unwrap();
        assert_eq!(info.kind, MediaKind::Video);
        assert_eq!((info.width, info.height), (Some(1920), Some(1080)));
        assert_eq!(info.rotation_degrees, 0);
        assert_eq!(info.frame_rate, Some(30.0));
        assert!(!info.variable_frame_rate);
        assert_eq!(info.audio_sample_rate, Some(44100));
        assert_eq!(info.audio_channels, Some(2));
        assert!(info.has_audio && info.has_video);
        assert_eq!(info.duration_secs, 2.0);
    }

    #[test]
    fn display_matrix_rotation_swaps_dimensions() {
        let side = r#","side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]"#;
        let info = parse_json(video_json(side, "mov,mp4").as_bytes(), 10).unwrap();
        assert_eq!(info.rotation_degrees, 90);
        assert_eq!((info.width, info.height), (Some(1080), Some(1920)));
    }

    #[test]
    fn legacy_rotate_tag() {
        let tag = r#","tags":{"rotate":"270"}"#;
        let info = parse_json(video_json(tag, "mov,mp4").as_bytes(), 10).unwrap();
        assert_eq!(info.rotation_degrees, 270);
        assert_eq!((info.width, info.height), (Some(1080), Some(1920)));
    }

    #[test]
    fn rates_that_differ_are_vfr() {
        let json = video_json("", "mov,mp4").replace(
            r#""avg_frame_rate":"30/1""#,
            r#""avg_frame_rate":"2400/100""#,
        );
        let info = parse_json(json.as_bytes(), 10).unwrap();
        assert!(info.variable_frame_rate);
        assert_eq!(info.frame_rate, Some(24.0));
    }

    #[test]
    fn still_image() {
        let json = r#"{"streams":[{"codec_type":"video","codec_name":"png","width":640,"height":480,
            "r_frame_rate":"25/1","avg_frame_rate":"0/0"}],"format":{"format_name":"png_pipe"}}"#;
        let info = parse_json(json.as_bytes(), 10).unwrap();
        assert_eq!(info.kind, MediaKind::Image);
        assert!(!info.has_video && !info.has_audio);
        assert_eq!(info.frame_rate, None);
        assert_eq!(info.duration_secs, 0.0);
    }

    #[test]
    fn audio_with_cover_art_is_audio() {
        let json = r#"{"streams":[{"codec_type":"audio","codec_name":"mp3","channels":2,"sample_rate":"44100"},
            {"codec_type":"video","codec_name":"mjpeg","width":300,"height":300,"disposition":{"attached_pic":1}}],
            "format":{"format_name":"mp3","duration":"3.1"}}"#;
        let info = parse_json(json.as_bytes(), 10).unwrap();
        assert_eq!(info.kind, MediaKind::Audio);
        assert_eq!(info.width, None);
    }

    #[test]
    fn no_streams_is_not_media() {
        let err = parse_json(br#"{"streams":[],"format":{"format_name":"tty"}}"#, 10).unwrap_err();
        assert_eq!(err.code(), "not_media");
        assert!(err.is_permanent());
    }

    #[test]
    fn rationals() {
        assert!((parse_rational("30000/1001").unwrap() - 29.97).abs() < 0.01);
        assert_eq!(parse_rational("0/0"), None);
        assert_eq!(parse_rational("25"), Some(25.0));
    }
}
