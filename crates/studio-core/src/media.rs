//! Media assets: what kinds exist, the states an upload goes through, and plan limits.

use serde::{Deserialize, Serialize};

/// What an asset is, from its content type's top-level type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    Video,
    Audio,
    Image,
}

impl AssetKind {
    /// The kind of a `type/subtype` content type; `None` for anything but video, audio, image.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
        let (top, sub) = essence.split_once('/')?;
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
        };
        if !token(sub) {
            return None;
        }
        match top {
            "video" => Some(Self::Video),
            "audio" => Some(Self::Audio),
            "image" => Some(Self::Image),
            _ => None,
        }
    }

    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Image => "image",
        }
    }

    /// Parses the stored form.
    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "video" => Some(Self::Video),
            "audio" => Some(Self::Audio),
            "image" => Some(Self::Image),
            _ => None,
        }
    }
}

/// Where an asset is in its life.
///
/// `pending_upload` → `uploaded` → `processing` → `ready` | `failed`; an intent whose bytes never
/// came becomes `expired`. Deleted assets are removed, not kept in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    /// An upload intent exists; the bytes have not been confirmed.
    PendingUpload,
    /// The bytes are in storage, checked; a `process_asset` job is recorded.
    Uploaded,
    /// A worker is making the proxy and waveform.
    Processing,
    /// Proxy and waveform exist.
    Ready,
    /// Processing failed for good.
    Failed,
    /// The intent expired without bytes; its reservation was released.
    Expired,
}

impl AssetStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingUpload => "pending_upload",
            Self::Uploaded => "uploaded",
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    /// Parses the stored form.
    pub fn from_db(s: &str) -> Option<Self> {
        [
            Self::PendingUpload,
            Self::Uploaded,
            Self::Processing,
            Self::Ready,
            Self::Failed,
            Self::Expired,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// What a plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    /// Total bytes of originals a user may store (used + reserved).
    pub storage_bytes: u64,
    /// Largest single file.
    pub max_file_bytes: u64,
}

/// S3 allows at most this many parts in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;

/// How a file of a given size is cut into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartPlan {
    pub size: u64,
    pub part_size: u64,
    pub part_count: u32,
}

impl MultipartPlan {
    /// Parts of `min_part_size` bytes, made larger when the file would need more than
    /// [`MAX_PARTS`] of them. `None` for an empty file or a zero part size.
    pub fn new(size: u64, min_part_size: u64) -> Option<Self> {
        if size == 0 || min_part_size == 0 {
            return None;
        }
        let part_size = min_part_size.max(size.div_ceil(MAX_PARTS));
        let part_count = u32::try_from(size.div_ceil(part_size)).ok()?;
        Some(Self {
            size,
            part_size,
            part_count,
        })
    }

    /// The length of part `number` (1-based); `None` outside `1..=part_count`.
    pub fn part_length(&self, number: u32) -> Option<u64> {
        if number == 0 || number > self.part_count {
            return None;
        }
        let start = u64::from(number - 1) * self.part_size;
        Some(self.part_size.min(self.size - start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_plans_cover_the_file_exactly() {
        let mib = 1024 * 1024;
        let plan = MultipartPlan::new(100 * mib + 1, 16 * mib).unwrap();
        assert_eq!(plan.part_count, 7);
        let total: u64 = (1..=plan.part_count)
            .map(|n| plan.part_length(n).unwrap())
            .sum();
        assert_eq!(total, 100 * mib + 1);
        assert_eq!(plan.part_length(7), Some(4 * mib + 1));
        assert_eq!(plan.part_length(0), None);
        assert_eq!(plan.part_length(8), None);
        // A huge file gets bigger parts, never more than S3's 10,000.
        let huge = MultipartPlan::new(5 * 1024 * 1024 * mib, 5 * mib).unwrap();
        assert!(u64::from(huge.part_count) <= MAX_PARTS);
        assert_eq!(MultipartPlan::new(0, 5 * mib), None);
    }

    #[test]
    fn kinds_come_from_the_top_level_type() {
        assert_eq!(
            AssetKind::from_content_type("video/mp4"),
            Some(AssetKind::Video)
        );
        assert_eq!(
            AssetKind::from_content_type("Audio/MPEG; charset=x"),
            Some(AssetKind::Audio)
        );
        assert_eq!(
            AssetKind::from_content_type("image/svg+xml"),
            Some(AssetKind::Image)
        );
        for bad in [
            "application/pdf",
            "video",
            "video/",
            "text/html",
            "video/mp4 x",
            "",
        ] {
            assert_eq!(AssetKind::from_content_type(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            "pending_upload",
            "uploaded",
            "processing",
            "ready",
            "failed",
            "expired",
        ] {
            assert_eq!(AssetStatus::from_db(s).unwrap().as_str(), s);
        }
        assert_eq!(AssetStatus::from_db("deleted"), None);
    }
}
