//! Timeline logic shared by the timeline routes, asset deletion and the `process_asset` job:
//! what validation knows of a project's assets (its [`AssetCatalog`]), turning violations into
//! the API's error, and the re-check that stores the problems a timeline turns out to have after
//! it was written.
//!
//! Why a re-check: a clip may be placed on an asset before it is probed (its duration unknown,
//! so "within the asset" cannot be checked yet). When the asset becomes ready, or the timeline
//! changes without a full validation (clips removed with a deleted asset), the current document
//! is validated again and what is found is stored as the version's problems, which
//! `GET …/timeline/problems` shows and `GET …/timeline` counts in a header.

use std::collections::HashMap;

use serde::Deserialize;
use studio_core::timeline::{AssetFacts, TimelineLimits, Violation, ViolationCode};
use studio_core::{AssetKind, ProjectId};
use studio_db::{AssetRecord, DbError, Store};

use crate::error::FieldError;
use crate::{ApiError, ErrorCode};

/// How many times the re-check tries again when the timeline changes under it. Every writer
/// makes sure its own version gets checked, so giving up after a few is safe.
const RECHECK_ATTEMPTS: usize = 3;

/// The probed metadata validation reads (`process_asset` stores studio-media's `MediaInfo` with
/// camelCase keys; snake_case is read too).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probed {
    kind: Option<String>,
    #[serde(alias = "duration_secs")]
    duration_secs: Option<f64>,
    #[serde(alias = "has_audio")]
    has_audio: Option<bool>,
    #[serde(alias = "frame_rate")]
    frame_rate: Option<f64>,
}

fn probed(asset: &AssetRecord) -> Option<Probed> {
    serde_json::from_str(asset.media_info.as_deref()?).ok()
}

/// What validation knows of `asset`: its kind (the probed one once processed, since a file
/// declared `video/mp4` may hold sound only), and its duration and sound once probed.
pub fn facts(asset: &AssetRecord) -> AssetFacts {
    match probed(asset) {
        None => AssetFacts {
            kind: asset.kind,
            duration_secs: None,
            has_audio: None,
        },
        Some(info) => {
            let kind = info
                .kind
                .as_deref()
                .and_then(AssetKind::from_db)
                .unwrap_or(asset.kind);
            AssetFacts {
                kind,
                // A still has no time of its own (its probed duration is 0).
                duration_secs: info
                    .duration_secs
                    .filter(|secs| secs.is_finite() && kind != AssetKind::Image),
                has_audio: info.has_audio,
            }
        }
    }
}

/// The probed frame rate of an asset, when it has pictures.
pub fn frame_rate(asset: &AssetRecord) -> Option<f64> {
    probed(asset)?
        .frame_rate
        .filter(|rate| rate.is_finite() && *rate > 0.0)
}

/// The catalog clips of a project may use: its assets (every one not deleted, whatever its
/// status), by id. Another project's asset is simply absent, so it is `asset_not_found`.
pub fn catalog(assets: &[AssetRecord]) -> HashMap<String, AssetFacts> {
    assets
        .iter()
        .map(|asset| (asset.id.to_string(), facts(asset)))
        .collect()
}

/// 422 `invalid_timeline` listing every violation as `{pointer, code, message}`.
pub fn invalid(violations: Vec<Violation>) -> ApiError {
    let detail = match violations.len() {
        1 => "The timeline has 1 problem.".to_owned(),
        n => format!("The timeline has {n} problems."),
    };
    ApiError {
        errors: violations.into_iter().map(field_error).collect(),
        ..ApiError::new(ErrorCode::InvalidTimeline, detail)
    }
}

fn field_error(violation: Violation) -> FieldError {
    FieldError {
        pointer: violation.pointer,
        code: violation.code.as_str().to_owned(),
        message: violation.message,
    }
}

/// `asset_not_found` violations for the clips of `document` using any of `asset_ids` (assets
/// deleted between validation and the write).
pub fn missing_asset_violations(
    document: &studio_core::timeline::Project,
    asset_ids: &[String],
) -> Vec<Violation> {
    document
        .clips()
        .filter_map(|(t, c, clip)| {
            let id = clip.asset_id.as_deref()?;
            asset_ids.iter().any(|gone| gone == id).then(|| {
                Violation::new(
                    format!("/tracks/{t}/clips/{c}/assetId"),
                    ViolationCode::AssetNotFound,
                    format!("no asset `{id}` in this project"),
                )
            })
        })
        .collect()
}

/// Validates the project's current timeline against its assets as they are now and stores what
/// is found as that version's problems (clearing them when nothing is). Returns the problems
/// stored (empty when none, or when the timeline kept changing underneath: its writers check
/// their own versions). Logs a warning when there are some.
pub async fn recheck(
    store: &dyn Store,
    project: &ProjectId,
    limits: &TimelineLimits,
) -> Result<Vec<Violation>, DbError> {
    for _ in 0..RECHECK_ATTEMPTS {
        let stored = store.timeline(project).await?;
        let assets = store.list_assets(project).await?;
        let found = studio_core::timeline::validate(&stored.document, limits, &catalog(&assets));
        let problems = if found.is_empty() {
            None
        } else {
            Some(
                serde_json::to_string(&found)
                    .map_err(|err| DbError::Corrupt(format!("cannot encode problems: {err}")))?,
            )
        };
        if store
            .set_timeline_problems(project, stored.version, problems.as_deref())
            .await?
        {
            if !found.is_empty() {
                tracing::warn!(
                    project.id = %project,
                    timeline.version = stored.version,
                    timeline.problems = found.len(),
                    timeline.first_problem = %found[0].code,
                    "the project's timeline has problems"
                );
            }
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// A stored problems array (`timeline_problems`, `collab_problems`) read back; empty for none
/// or unreadable.
pub fn stored_problems(problems: Option<&str>) -> Vec<serde_json::Value> {
    problems
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// The number of problems in a stored problems array (0 for none or unreadable).
pub fn problem_count(problems: Option<&str>) -> usize {
    stored_problems(problems).len()
}

#[cfg(test)]
mod tests {
    use studio_core::{AssetId, AssetStatus, ProjectId, UserId};
    use studio_db::AssetOutputs;
    use time::OffsetDateTime;

    use super::*;

    fn asset(kind: AssetKind, media_info: Option<&str>) -> AssetRecord {
        let now = OffsetDateTime::now_utc();
        AssetRecord {
            id: AssetId::generate(),
            project_id: ProjectId::generate(),
            owner_id: UserId::parse("alice").unwrap(),
            kind,
            filename: "a".to_owned(),
            content_type: "video/mp4".to_owned(),
            declared_size: 1,
            real_size: Some(1),
            status: AssetStatus::Ready,
            original_key: "originals/x/y".to_owned(),
            upload_id: None,
            part_size: None,
            expires_at: now,
            job_id: None,
            error: None,
            created_at: now,
            updated_at: now,
            media_info: media_info.map(str::to_owned),
            outputs: AssetOutputs::default(),
            error_code: None,
            last_accessed_at: now,
            original_tier: studio_db::OriginalTier::Hot,
            original_tier_changed_at: None,
        }
    }

    #[test]
    fn facts_come_from_the_probe_once_there_is_one() {
        let unprobed = facts(&asset(AssetKind::Video, None));
        assert_eq!(
            (unprobed.kind, unprobed.duration_secs, unprobed.has_audio),
            (AssetKind::Video, None, None)
        );
        let video = asset(
            AssetKind::Video,
            Some(r#"{"kind":"video","durationSecs":2.5,"hasAudio":false,"frameRate":25.0}"#),
        );
        let probed = facts(&video);
        assert_eq!(
            (probed.kind, probed.duration_secs, probed.has_audio),
            (AssetKind::Video, Some(2.5), Some(false))
        );
        assert_eq!(frame_rate(&video), Some(25.0));
        // Declared a video, probed as sound only: it is audio.
        let sound = facts(&asset(
            AssetKind::Video,
            Some(r#"{"kind":"audio","duration_secs":3.0,"has_audio":true}"#),
        ));
        assert_eq!(
            (sound.kind, sound.duration_secs),
            (AssetKind::Audio, Some(3.0))
        );
        // A still has no duration.
        let image = facts(&asset(
            AssetKind::Image,
            Some(r#"{"kind":"image","durationSecs":0}"#),
        ));
        assert_eq!((image.kind, image.duration_secs), (AssetKind::Image, None));
        // Unreadable metadata is as good as none.
        assert_eq!(
            facts(&asset(AssetKind::Audio, Some("nope"))).duration_secs,
            None
        );
    }

    #[test]
    fn violations_become_the_errors_of_one_problem() {
        let err = invalid(vec![
            Violation::new("/fps", ViolationCode::OutOfRange, "too fast"),
            Violation::new("/tracks/0/id", ViolationCode::DuplicateId, "twice"),
        ]);
        assert_eq!(err.code, ErrorCode::InvalidTimeline);
        assert_eq!(err.errors.len(), 2);
        assert_eq!(err.errors[1].pointer, "/tracks/0/id");
        assert_eq!(err.errors[1].code, "duplicate_id");
    }

    #[test]
    fn problems_are_counted() {
        assert_eq!(problem_count(None), 0);
        assert_eq!(problem_count(Some("[]")), 0);
        assert_eq!(problem_count(Some(r#"[{"a":1},{"b":2}]"#)), 2);
        assert_eq!(problem_count(Some("garbage")), 0);
    }
}
