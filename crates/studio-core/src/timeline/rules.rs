//! The rules a well-shaped timeline must still follow: unique ids, lengths and counts within the
//! configured limits, no overlapping clips on a track, fades that fit, and clips that point at
//! assets of this project, of a kind the track takes, within the asset's probed duration.
//!
//! Every rule runs and every violation is reported, in document order. Nothing here panics on
//! any value a [`Project`] can hold (times are finite: JSON has no NaN or infinity, and the
//! shape check bounds them below).

use std::collections::{HashMap, HashSet};

use crate::AssetKind;

use super::model::{Clip, Project, TrackKind};
use super::violation::{Violation, ViolationCode};

/// How far two times may differ and still count as equal: clips that touch (one ends where the
/// next starts) after float arithmetic are not overlapping, and a clip using an asset up to its
/// last millisecond does not pass its end.
const TIME_TOLERANCE: f64 = 1e-3;

/// Configurable bounds on a timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineLimits {
    /// The longest a project may be, in seconds: nothing may end after it.
    pub max_duration_secs: f64,
    pub max_tracks: usize,
    /// Clips in the whole document.
    pub max_clips: usize,
    pub max_markers: usize,
    /// The largest document, in bytes of JSON.
    pub max_document_bytes: usize,
}

impl Default for TimelineLimits {
    /// 6 hours, 100 tracks, 20,000 clips, 1,000 markers, 8 MiB: well beyond what an editor
    /// session produces, well below what would slow the server.
    fn default() -> Self {
        Self {
            max_duration_secs: 6.0 * 3600.0,
            max_tracks: 100,
            max_clips: 20_000,
            max_markers: 1_000,
            max_document_bytes: 8 * 1024 * 1024,
        }
    }
}

/// What validation needs to know of an asset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AssetFacts {
    pub kind: AssetKind,
    /// Probed duration in seconds; `None` until the asset is processed (then the source range
    /// is checked when it becomes ready).
    pub duration_secs: Option<f64>,
    /// Whether a video has a sound track, once probed.
    pub has_audio: Option<bool>,
}

/// The assets clips may use: this project's, not deleted, by id. Anything else (another
/// project's asset included) is not found, so no id of another project can be referenced.
pub trait AssetCatalog {
    fn facts(&self, asset_id: &str) -> Option<AssetFacts>;
}

impl AssetCatalog for HashMap<String, AssetFacts> {
    fn facts(&self, asset_id: &str) -> Option<AssetFacts> {
        self.get(asset_id).copied()
    }
}

/// Every rule violation of `project`.
pub fn check(
    project: &Project,
    limits: &TimelineLimits,
    assets: &dyn AssetCatalog,
) -> Vec<Violation> {
    let mut found = Vec::new();
    check_counts(project, limits, &mut found);
    check_ids(project, &mut found);
    for (t, track) in project.tracks.iter().enumerate() {
        for (c, clip) in track.clips.iter().enumerate() {
            let pointer = format!("/tracks/{t}/clips/{c}");
            check_clip(track.kind, clip, &pointer, limits, assets, &mut found);
        }
        check_overlaps(t, &track.clips, &mut found);
    }
    for (m, marker) in project.markers.iter().enumerate() {
        if marker.time > limits.max_duration_secs {
            found.push(Violation::new(
                format!("/markers/{m}/time"),
                ViolationCode::BeyondMaxLength,
                format!(
                    "the marker is past the maximum project length ({} s)",
                    limits.max_duration_secs
                ),
            ));
        }
    }
    found
}

fn check_counts(project: &Project, limits: &TimelineLimits, found: &mut Vec<Violation>) {
    if project.tracks.len() > limits.max_tracks {
        found.push(Violation::new(
            "/tracks",
            ViolationCode::TooManyTracks,
            format!("at most {} tracks", limits.max_tracks),
        ));
    }
    let clips: usize = project.tracks.iter().map(|track| track.clips.len()).sum();
    if clips > limits.max_clips {
        found.push(Violation::new(
            "/tracks",
            ViolationCode::TooManyClips,
            format!("{clips} clips; at most {}", limits.max_clips),
        ));
    }
    if project.markers.len() > limits.max_markers {
        found.push(Violation::new(
            "/markers",
            ViolationCode::TooManyMarkers,
            format!("at most {} markers", limits.max_markers),
        ));
    }
}

/// Tracks, clips and markers share one id space.
fn check_ids(project: &Project, found: &mut Vec<Violation>) {
    let mut ids: Vec<(&str, String)> = Vec::new();
    for (t, track) in project.tracks.iter().enumerate() {
        ids.push((&track.id, format!("/tracks/{t}/id")));
        for (c, clip) in track.clips.iter().enumerate() {
            ids.push((&clip.id, format!("/tracks/{t}/clips/{c}/id")));
        }
    }
    for (m, marker) in project.markers.iter().enumerate() {
        ids.push((&marker.id, format!("/markers/{m}/id")));
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(ids.len());
    for (id, pointer) in ids {
        if !seen.insert(id) {
            found.push(Violation::new(
                pointer,
                ViolationCode::DuplicateId,
                format!("the id `{id}` is used more than once"),
            ));
        }
    }
}

fn check_clip(
    track: TrackKind,
    clip: &Clip,
    pointer: &str,
    limits: &TimelineLimits,
    assets: &dyn AssetCatalog,
    found: &mut Vec<Violation>,
) {
    let at = |field: &str| format!("{pointer}/{field}");
    if clip.end() > limits.max_duration_secs + TIME_TOLERANCE {
        found.push(Violation::new(
            at("duration"),
            ViolationCode::BeyondMaxLength,
            format!(
                "the clip ends at {} s, past the maximum project length ({} s)",
                clip.end(),
                limits.max_duration_secs
            ),
        ));
    }
    let fades = clip.fade_in.unwrap_or(0.0) + clip.fade_out.unwrap_or(0.0);
    if fades > clip.duration + TIME_TOLERANCE {
        found.push(Violation::new(
            at(if clip.fade_out.is_some() {
                "fadeOut"
            } else {
                "fadeIn"
            }),
            ViolationCode::FadeTooLong,
            format!(
                "fades of {fades} s do not fit a clip of {} s",
                clip.duration
            ),
        ));
    }
    match track {
        TrackKind::Text => {
            if clip.text.is_none() {
                found.push(Violation::new(
                    at("text"),
                    ViolationCode::MissingField,
                    "a clip on a text track needs `text`",
                ));
            }
            for (field, present) in [
                ("assetId", clip.asset_id.is_some()),
                ("sourceStart", clip.source_start.is_some()),
                ("speed", clip.speed.is_some()),
                ("volume", clip.volume.is_some()),
            ] {
                if present {
                    found.push(Violation::new(
                        at(field),
                        ViolationCode::UnexpectedField,
                        format!("a text clip has no `{field}`"),
                    ));
                }
            }
        }
        TrackKind::Video | TrackKind::Audio => {
            for (field, present) in [
                ("text", clip.text.is_some()),
                ("style", clip.style.is_some()),
            ] {
                if present {
                    found.push(Violation::new(
                        at(field),
                        ViolationCode::UnexpectedField,
                        format!("only clips on text tracks have `{field}`"),
                    ));
                }
            }
            match &clip.asset_id {
                None => found.push(Violation::new(
                    at("assetId"),
                    ViolationCode::MissingField,
                    format!("a clip on a {} track needs `assetId`", track.as_str()),
                )),
                Some(asset_id) => check_asset_use(track, clip, asset_id, &at, assets, found),
            }
        }
    }
}

fn check_asset_use(
    track: TrackKind,
    clip: &Clip,
    asset_id: &str,
    at: &dyn Fn(&str) -> String,
    assets: &dyn AssetCatalog,
    found: &mut Vec<Violation>,
) {
    let Some(asset) = assets.facts(asset_id) else {
        found.push(Violation::new(
            at("assetId"),
            ViolationCode::AssetNotFound,
            format!("no asset `{asset_id}` in this project"),
        ));
        return;
    };
    let fits = match (track, asset.kind) {
        (TrackKind::Video, AssetKind::Video | AssetKind::Image) => true,
        (TrackKind::Audio, AssetKind::Audio) => true,
        // A video's sound on an audio track, unless probing found it has none.
        (TrackKind::Audio, AssetKind::Video) => asset.has_audio != Some(false),
        _ => false,
    };
    if !fits {
        found.push(Violation::new(
            at("assetId"),
            ViolationCode::AssetKindMismatch,
            format!(
                "a {} asset{} cannot go on a {} track",
                asset_kind_name(asset.kind),
                if asset.kind == AssetKind::Video && asset.has_audio == Some(false) {
                    " without sound"
                } else {
                    ""
                },
                track.as_str()
            ),
        ));
    }
    // A still image has no time of its own: any duration of it is fine.
    if asset.kind == AssetKind::Image {
        return;
    }
    if let Some(length) = asset.duration_secs {
        let used_until = clip.source_start() + clip.source_duration();
        if used_until > length + TIME_TOLERANCE {
            found.push(Violation::new(
                at("duration"),
                ViolationCode::BeyondSource,
                format!(
                    "the clip uses the asset up to {used_until:.3} s (sourceStart + duration × \
                     speed), but it is {length:.3} s long"
                ),
            ));
        }
    }
}

fn asset_kind_name(kind: AssetKind) -> &'static str {
    match kind {
        AssetKind::Video => "video",
        AssetKind::Audio => "audio",
        AssetKind::Image => "image",
    }
}

/// Clips of one track must not overlap: sorted by start, each must end before the next begins.
fn check_overlaps(track: usize, clips: &[Clip], found: &mut Vec<Violation>) {
    let mut order: Vec<usize> = (0..clips.len()).collect();
    order.sort_by(|&a, &b| clips[a].start.total_cmp(&clips[b].start).then(a.cmp(&b)));
    // The furthest end so far, and whose: a long clip can overlap several later ones.
    let mut reach: Option<(f64, usize)> = None;
    for &index in &order {
        let clip = &clips[index];
        if let Some((end, by)) = reach
            && clip.start < end - TIME_TOLERANCE
        {
            found.push(Violation::new(
                format!("/tracks/{track}/clips/{index}/start"),
                ViolationCode::ClipOverlap,
                format!(
                    "the clip `{}` starts at {} s, before the clip `{}` ends ({end} s)",
                    clip.id, clip.start, clips[by].id
                ),
            ));
        }
        if reach.is_none_or(|(end, _)| clip.end() > end) {
            reach = Some((clip.end(), index));
        }
    }
}
