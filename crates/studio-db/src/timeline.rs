//! The timeline half of the persistence port: each project's current timeline (the Project
//! JSON), its version, the problems found in it after it was written, and deleting an asset
//! without leaving clips that point at nothing.
//!
//! Invariants, on both backends:
//! - A timeline write and an asset deletion of the same project never interleave: both take the
//!   project row's write lock first (`BEGIN IMMEDIATE` on SQLite, `FOR NO KEY UPDATE` on
//!   PostgreSQL). A write checks, under that lock, that every asset its clips use is still an
//!   asset of the project; a deletion reads, under it, the timeline as it is. So a document
//!   naming a deleted asset can never be stored, whichever of the two comes first.
//! - `timeline_version` grows by exactly one on every write; the problems stored are about the
//!   version they were computed for, and any write clears them.
//!
//! The documents are stored as the JSON text of [`Project`]; what makes one valid (shape, rules,
//! assets) is `studio_core::timeline`'s business and the caller's, before it writes.

use std::collections::BTreeSet;

use async_trait::async_trait;
use studio_core::timeline::Project;
use studio_core::{AssetId, ProjectId};

use crate::{AssetRecord, DbError};

/// A project's current timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTimeline {
    /// The document (for a project whose timeline was never written, `Project::empty` of its
    /// name).
    pub document: Project,
    /// 1 for the starting timeline, +1 on every write.
    pub version: i64,
    /// The problems found in this version after it was written: a JSON array of violations
    /// (`{pointer, code, message}`), as [`TimelineStore::set_timeline_problems`] stored it.
    /// `None` when none were found.
    pub problems: Option<String>,
    /// The problems of the Project JSON inside the live collaborative document, which keep it
    /// from becoming the timeline (a JSON array of violations, as
    /// [`crate::CollabStore::collab_set_problems`] stored it); `None` when it is valid.
    pub collab_problems: Option<String>,
}

/// A clip that uses an asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipUse {
    pub track_id: String,
    pub clip_id: String,
    /// Where the clip is in the document: `/tracks/{t}/clips/{c}`.
    pub pointer: String,
}

/// What deleting an asset did.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetRemoval {
    /// The deleted row (its bytes were given back to its owner's usage).
    pub asset: AssetRecord,
    /// The clips removed from the timeline with it (only ever non-empty when forced).
    pub removed_clips: Vec<ClipUse>,
    /// The timeline's new version when clips were removed.
    pub timeline_version: Option<i64>,
}

/// Why a timeline was not written.
#[derive(Debug, thiserror::Error)]
pub enum TimelineWriteError {
    /// `if_version` is not the current version.
    #[error("the timeline is at version {current}")]
    Stale { current: i64 },
    /// Clips use assets that are not (or no longer) assets of the project; their ids, sorted.
    #[error("assets not in the project: {}", asset_ids.join(", "))]
    MissingAssets { asset_ids: Vec<String> },
    /// `NotFound` when the project is gone; anything else from the database.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why an asset was not deleted.
#[derive(Debug, thiserror::Error)]
pub enum AssetRemovalError {
    /// The timeline uses the asset, and removing its clips was not asked for. Nothing changed.
    #[error("the timeline uses the asset in {} clips", clips.len())]
    InUse { clips: Vec<ClipUse> },
    /// `NotFound` when the asset is gone; anything else from the database.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Persistence of project timelines.
#[async_trait]
pub trait TimelineStore: Send + Sync + 'static {
    /// The project's current timeline. `NotFound` if the project does not exist.
    async fn timeline(&self, project: &ProjectId) -> Result<StoredTimeline, DbError>;

    /// In one transaction holding the project row: checks `if_version` (when given) against the
    /// current version and that every asset the clips use is an asset of the project, then
    /// writes `document`, adds one to the version and clears the problems. Returns the new
    /// version. `if_version: None` writes whatever the current version is (last write wins).
    async fn replace_timeline(
        &self,
        project: &ProjectId,
        document: &Project,
        if_version: Option<i64>,
    ) -> Result<i64, TimelineWriteError>;

    /// Stores the problems found in version `version` (a JSON array of violations; `None`: none),
    /// if that is still the current version. Returns whether it was (false: the timeline moved on
    /// and the problems are about a document that is gone). `NotFound` if the project is gone.
    async fn set_timeline_problems(
        &self,
        project: &ProjectId,
        version: i64,
        problems: Option<&str>,
    ) -> Result<bool, DbError>;

    /// In one transaction holding the asset's project row: finds the timeline's clips using the
    /// asset. If there are some and `remove_clips` is false, changes nothing and answers
    /// [`AssetRemovalError::InUse`] with them. Otherwise writes the timeline without them (a new
    /// version, problems cleared) when there were any, then deletes the asset as
    /// [`crate::MediaStore::delete_asset`] does, giving its bytes back. `NotFound` if the asset
    /// is gone.
    async fn delete_asset_in_timeline(
        &self,
        asset: &AssetId,
        remove_clips: bool,
    ) -> Result<AssetRemoval, AssetRemovalError>;
}

/// The clips of `document` that use `asset`, in document order.
pub fn clips_using(document: &Project, asset: &str) -> Vec<ClipUse> {
    document
        .clips()
        .filter(|(_, _, clip)| clip.asset_id.as_deref() == Some(asset))
        .map(|(t, c, clip)| ClipUse {
            track_id: document.tracks[t].id.clone(),
            clip_id: clip.id.clone(),
            pointer: format!("/tracks/{t}/clips/{c}"),
        })
        .collect()
}

/// Removes the clips using `asset` from `document`; returns them (pointers into the document as
/// it was).
pub(crate) fn remove_clips_using(document: &mut Project, asset: &str) -> Vec<ClipUse> {
    let removed = clips_using(document, asset);
    for track in &mut document.tracks {
        track
            .clips
            .retain(|clip| clip.asset_id.as_deref() != Some(asset));
    }
    removed
}

/// The distinct asset ids `document`'s clips use, sorted.
pub(crate) fn used_assets(document: &Project) -> BTreeSet<&str> {
    document
        .clips()
        .filter_map(|(_, _, clip)| clip.asset_id.as_deref())
        .collect()
}

/// The ids of `used` that are not among `existing` (the project's asset ids), sorted.
pub(crate) fn missing_assets(used: &BTreeSet<&str>, existing: &[String]) -> Vec<String> {
    let existing: BTreeSet<&str> = existing.iter().map(String::as_str).collect();
    used.iter()
        .filter(|id| !existing.contains(**id))
        .map(|id| (*id).to_owned())
        .collect()
}

/// The stored form of a document.
pub(crate) fn encode(document: &Project) -> Result<String, DbError> {
    serde_json::to_string(document)
        .map_err(|err| DbError::Corrupt(format!("projects.timeline: cannot encode: {err}")))
}

/// Reads a stored document; `None` (never written) is the empty timeline named `name`.
pub(crate) fn decode(name: &str, stored: Option<&str>) -> Result<Project, DbError> {
    match stored {
        None => Ok(Project::empty(name)),
        Some(text) => serde_json::from_str(text)
            .map_err(|err| DbError::Corrupt(format!("projects.timeline: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use studio_core::timeline::{Clip, TrackKind};

    use super::*;

    fn clip(id: &str, asset: Option<&str>, start: f64) -> Clip {
        Clip {
            id: id.to_owned(),
            asset_id: asset.map(str::to_owned),
            start,
            duration: 1.0,
            source_start: None,
            speed: None,
            volume: None,
            fade_in: None,
            fade_out: None,
            name: None,
            text: asset.is_none().then(|| "hi".to_owned()),
            style: None,
        }
    }

    fn document() -> Project {
        let mut project = Project::empty("Film");
        project.tracks[0].clips = vec![clip("a", Some("x"), 0.0), clip("b", Some("y"), 1.0)];
        project.tracks[1].clips = vec![clip("c", Some("x"), 0.0)];
        project.tracks.push(studio_core::timeline::Track {
            id: "t".to_owned(),
            kind: TrackKind::Text,
            name: "Titles".to_owned(),
            muted: false,
            locked: false,
            clips: vec![clip("d", None, 0.0)],
        });
        project
    }

    #[test]
    fn clips_using_an_asset_are_found_with_their_pointers() {
        let uses = clips_using(&document(), "x");
        assert_eq!(
            uses,
            vec![
                ClipUse {
                    track_id: "video-1".to_owned(),
                    clip_id: "a".to_owned(),
                    pointer: "/tracks/0/clips/0".to_owned(),
                },
                ClipUse {
                    track_id: "audio-1".to_owned(),
                    clip_id: "c".to_owned(),
                    pointer: "/tracks/1/clips/0".to_owned(),
                },
            ]
        );
        assert!(clips_using(&document(), "z").is_empty());
    }

    #[test]
    fn removing_an_asset_keeps_every_other_clip_in_order() {
        let mut doc = document();
        let removed = remove_clips_using(&mut doc, "x");
        assert_eq!(removed.len(), 2);
        let left: Vec<&str> = doc.clips().map(|(_, _, c)| c.id.as_str()).collect();
        assert_eq!(left, ["b", "d"]);
    }

    #[test]
    fn missing_assets_are_the_used_ones_the_project_lacks() {
        let doc = document();
        let used = used_assets(&doc);
        assert_eq!(used.iter().copied().collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(missing_assets(&used, &["y".to_owned()]), ["x"]);
        assert!(missing_assets(&used, &["x".to_owned(), "y".to_owned()]).is_empty());
    }

    #[test]
    fn documents_round_trip_and_null_is_the_empty_timeline() {
        let doc = document();
        assert_eq!(decode("Film", Some(&encode(&doc).unwrap())).unwrap(), doc);
        assert_eq!(decode("Film", None).unwrap(), Project::empty("Film"));
        assert!(matches!(
            decode("Film", Some("{]")),
            Err(DbError::Corrupt(_))
        ));
    }
}
