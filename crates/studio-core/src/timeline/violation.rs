//! What is wrong with a timeline document: one [`Violation`] per problem, each pointing at the
//! value it is about (RFC 6901 JSON pointer) with a stable code a frontend can switch on.

use serde::Serialize;

/// Why a timeline is refused. Stable: clients switch on these names (`snake_case` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationCode {
    // The document as a whole.
    /// Not JSON at all (or a number JSON cannot hold).
    InvalidJson,
    /// Larger than the configured maximum size.
    DocumentTooLarge,
    /// `schemaVersion` is not one this server reads.
    UnsupportedSchemaVersion,

    // Shape (what the JSON Schema says).
    /// A field the format does not have.
    UnknownField,
    /// A required field is absent (including `assetId` on a media clip, `text` on a text clip).
    MissingField,
    /// A field that the format has, but not here (`assetId` on a text clip, `text` elsewhere).
    UnexpectedField,
    /// A value of the wrong JSON type.
    InvalidType,
    /// A value outside its allowed range (fps, sizes, sample rate, speed, volume, …).
    OutOfRange,
    /// A string too short or too long.
    InvalidLength,
    /// A string not in its required form (ids, colours).
    InvalidFormat,
    /// A value not among the allowed ones (track kind, alignment).
    InvalidValue,
    /// A time below 0.
    NegativeTime,
    /// A clip `duration` of 0 or less.
    NonPositiveDuration,

    // Rules across values.
    /// Two things in the document share an id.
    DuplicateId,
    /// A clip or marker reaches past the maximum project length.
    BeyondMaxLength,
    /// Two clips of one track overlap in time.
    ClipOverlap,
    /// `sourceStart + duration × speed` passes the end of the asset.
    BeyondSource,
    /// `fadeIn + fadeOut` is longer than the clip.
    FadeTooLong,
    /// The asset does not exist, is deleted, or belongs to another project.
    AssetNotFound,
    /// The asset's kind does not fit the track (an audio-only asset on a video track, …).
    AssetKindMismatch,
    /// More tracks than the configured maximum.
    TooManyTracks,
    /// More clips than the configured maximum.
    TooManyClips,
    /// More markers than the configured maximum.
    TooManyMarkers,
}

impl ViolationCode {
    /// The stable name, as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationCode::InvalidJson => "invalid_json",
            ViolationCode::DocumentTooLarge => "document_too_large",
            ViolationCode::UnsupportedSchemaVersion => "unsupported_schema_version",
            ViolationCode::UnknownField => "unknown_field",
            ViolationCode::MissingField => "missing_field",
            ViolationCode::UnexpectedField => "unexpected_field",
            ViolationCode::InvalidType => "invalid_type",
            ViolationCode::OutOfRange => "out_of_range",
            ViolationCode::InvalidLength => "invalid_length",
            ViolationCode::InvalidFormat => "invalid_format",
            ViolationCode::InvalidValue => "invalid_value",
            ViolationCode::NegativeTime => "negative_time",
            ViolationCode::NonPositiveDuration => "non_positive_duration",
            ViolationCode::DuplicateId => "duplicate_id",
            ViolationCode::BeyondMaxLength => "beyond_max_length",
            ViolationCode::ClipOverlap => "clip_overlap",
            ViolationCode::BeyondSource => "beyond_source",
            ViolationCode::FadeTooLong => "fade_too_long",
            ViolationCode::AssetNotFound => "asset_not_found",
            ViolationCode::AssetKindMismatch => "asset_kind_mismatch",
            ViolationCode::TooManyTracks => "too_many_tracks",
            ViolationCode::TooManyClips => "too_many_clips",
            ViolationCode::TooManyMarkers => "too_many_markers",
        }
    }
}

impl std::fmt::Display for ViolationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a timeline document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Where: an RFC 6901 JSON pointer into the document (`/tracks/0/clips/3/start`; `""` for
    /// the whole document).
    pub pointer: String,
    pub code: ViolationCode,
    /// What is wrong, for people.
    pub message: String,
}

impl Violation {
    pub fn new(
        pointer: impl Into<String>,
        code: ViolationCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            pointer: pointer.into(),
            code,
            message: message.into(),
        }
    }
}

/// Appends `segment` to `pointer`, escaped as RFC 6901 says (`~` → `~0`, `/` → `~1`).
pub fn push_pointer(pointer: &str, segment: &str) -> String {
    let escaped = segment.replace('~', "~0").replace('/', "~1");
    format!("{pointer}/{escaped}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_their_segments() {
        assert_eq!(push_pointer("", "tracks"), "/tracks");
        assert_eq!(push_pointer("/a", "b/c~d"), "/a/b~1c~0d");
    }

    #[test]
    fn codes_serialize_as_their_names() {
        for code in [
            ViolationCode::InvalidJson,
            ViolationCode::BeyondSource,
            ViolationCode::TooManyMarkers,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::String(code.as_str().to_owned())
            );
        }
    }
}
