//! The cold tier of the storage port: moving an object out of the hot tier after inactivity,
//! bringing it back, and asking where it is.
//!
//! - S3: the object stays at its key; archiving is a CopyObject in place into a colder storage
//!   class. Classes with instant access (`STANDARD_IA`, `GLACIER_IR`, …) are restored by copying
//!   back to `STANDARD`; archive classes (`GLACIER`, `DEEP_ARCHIVE`) need a `RestoreObject`
//!   first (minutes to hours), after which the temporary copy is copied back to `STANDARD`.
//! - Local: the file moves to a cold directory (possibly another disk); restoring moves it back.
//!   While cold, the object is not readable through the store (`head` says it is not there, a
//!   signed GET is 404): callers check the tier first and restore.

/// What [`BlobStore::restore`](crate::BlobStore::restore) achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreState {
    /// The object is in the hot tier and readable now.
    Ready,
    /// A restore was asked for by this call; ask again later.
    Started,
    /// A restore asked for earlier is still under way.
    InProgress,
}

/// Where an object is, as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierStatus {
    /// In the cold tier: a storage class other than `STANDARD` on S3, the cold directory on the
    /// local store.
    pub cold: bool,
    /// The storage class S3 reports (`STANDARD` when it sends none); `None` on the local store.
    pub storage_class: Option<String>,
    /// For an archived S3 object with a restore: `Some(true)` while under way, `Some(false)` once
    /// a temporary copy is readable (until [`TierStatus::restore_expiry`]).
    pub restore_ongoing: Option<bool>,
    /// When a finished restore's temporary copy goes away, as S3 writes it (an HTTP date).
    pub restore_expiry: Option<String>,
}

/// The storage class of a hot object on S3.
pub const STANDARD_CLASS: &str = "STANDARD";

/// S3 storage classes whose objects must be restored (`RestoreObject`) before they can be read
/// or copied. Every other class reads at once.
pub const ARCHIVE_CLASSES: [&str; 2] = ["GLACIER", "DEEP_ARCHIVE"];

/// Whether objects of `class` need a `RestoreObject` before they can be read.
pub fn needs_restore(class: &str) -> bool {
    ARCHIVE_CLASSES.contains(&class)
}

/// The classes an object may be archived into (validated in the configuration).
pub const COLD_CLASSES: [&str; 8] = [
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
    "REDUCED_REDUNDANCY",
    "STANDARD",
];

/// Reads S3's `x-amz-restore` header: `ongoing-request="true"`, or
/// `ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`. Returns
/// (ongoing, expiry); `None` when the header says neither.
pub fn parse_restore_header(value: &str) -> Option<(bool, Option<String>)> {
    let field = |name: &str| -> Option<String> {
        let start = value.find(&format!("{name}=\""))? + name.len() + 2;
        let end = value[start..].find('"')? + start;
        Some(value[start..end].to_owned())
    };
    let ongoing = match field("ongoing-request")?.as_str() {
        "true" => true,
        "false" => false,
        _ => return None,
    };
    Some((ongoing, field("expiry-date")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_restore_header() {
        assert_eq!(
            parse_restore_header(r#"ongoing-request="true""#),
            Some((true, None))
        );
        assert_eq!(
            parse_restore_header(
                r#"ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT""#
            ),
            Some((false, Some("Fri, 21 Dec 2012 00:00:00 GMT".to_owned())))
        );
        assert_eq!(parse_restore_header("garbage"), None);
        assert!(needs_restore("GLACIER") && !needs_restore("GLACIER_IR"));
    }
}
