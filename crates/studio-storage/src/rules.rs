//! Limits and argument checks both backends share, so a client meets the same rules whichever
//! store is configured. The numbers are S3's, the strictest store we target.

use std::time::Duration;

use crate::{CompletedPart, StorageError};

/// Longest lifetime of a presigned URL: S3 refuses SigV4 presigns valid for longer than 7 days.
pub const MAX_PRESIGN_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Highest multipart part number (S3: parts are numbered 1..=10000).
pub const MAX_PART_NUMBER: u32 = 10_000;
/// Largest object [`BlobStore::copy`](crate::BlobStore::copy) copies: S3 copies at most 5 GiB
/// in one CopyObject (beyond, only a multipart UploadPartCopy can), and both backends refuse
/// the same sizes.
pub const MAX_COPY_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Longest content type we sign; real ones are far shorter, this only bounds the URL.
const MAX_CONTENT_TYPE_BYTES: usize = 255;

pub(crate) fn check_ttl(ttl: Duration) -> Result<(), StorageError> {
    if ttl < Duration::from_secs(1) || ttl > MAX_PRESIGN_TTL {
        return Err(StorageError::InvalidArgument(format!(
            "presign lifetime must be between 1 s and {} s",
            MAX_PRESIGN_TTL.as_secs()
        )));
    }
    Ok(())
}

pub(crate) fn check_part_number(part_number: u32) -> Result<(), StorageError> {
    if !(1..=MAX_PART_NUMBER).contains(&part_number) {
        return Err(StorageError::InvalidArgument(format!(
            "part number {part_number} is outside 1..={MAX_PART_NUMBER}"
        )));
    }
    Ok(())
}

pub(crate) fn check_copy_size(size: u64) -> Result<(), StorageError> {
    if size > MAX_COPY_BYTES {
        return Err(StorageError::InvalidArgument(format!(
            "cannot copy an object of {size} bytes: a server-side copy is limited to \
             {MAX_COPY_BYTES} bytes (5 GiB)"
        )));
    }
    Ok(())
}

/// A content type must be a plain, printable, single-line header value.
pub(crate) fn check_content_type(content_type: &str) -> Result<(), StorageError> {
    let ok = !content_type.is_empty()
        && content_type.len() <= MAX_CONTENT_TYPE_BYTES
        && content_type.bytes().all(|b| (0x20..0x7f).contains(&b))
        && content_type.trim() == content_type;
    if !ok {
        return Err(StorageError::InvalidArgument(
            "content type must be 1..=255 printable ASCII characters".into(),
        ));
    }
    Ok(())
}

/// Parts named on completion: at least one, numbers valid and strictly ascending (S3 refuses
/// anything else with `InvalidPartOrder`).
pub(crate) fn check_completed_parts(parts: &[CompletedPart]) -> Result<(), StorageError> {
    if parts.is_empty() {
        return Err(StorageError::InvalidPart("no parts named".into()));
    }
    let mut previous = 0;
    for part in parts {
        check_part_number(part.part_number)
            .map_err(|_| StorageError::InvalidPart(format!("part {}", part.part_number)))?;
        if part.part_number <= previous {
            return Err(StorageError::InvalidPart(
                "part numbers must be strictly ascending".into(),
            ));
        }
        previous = part.part_number;
    }
    Ok(())
}

/// An entity tag without surrounding quotes (and without a weak `W/` prefix).
pub(crate) fn normalize_etag(etag: &str) -> &str {
    let etag = etag.trim();
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    etag.strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .unwrap_or(etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u32) -> CompletedPart {
        CompletedPart {
            part_number: n,
            etag: "x".into(),
        }
    }

    #[test]
    fn completed_parts_must_ascend() {
        check_completed_parts(&[part(1), part(3), part(4)]).unwrap();
        for bad in [
            vec![],
            vec![part(2), part(1)],
            vec![part(1), part(1)],
            vec![part(0)],
        ] {
            assert!(matches!(
                check_completed_parts(&bad),
                Err(StorageError::InvalidPart(_))
            ));
        }
    }

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(normalize_etag("\"abc\""), "abc");
        assert_eq!(normalize_etag("W/\"abc-2\""), "abc-2");
        assert_eq!(normalize_etag("abc"), "abc");
    }

    #[test]
    fn copies_stop_at_5_gib() {
        check_copy_size(0).unwrap();
        check_copy_size(MAX_COPY_BYTES).unwrap();
        assert!(matches!(
            check_copy_size(MAX_COPY_BYTES + 1),
            Err(StorageError::InvalidArgument(_))
        ));
    }

    #[test]
    fn content_types_are_single_line() {
        check_content_type("video/mp4; codecs=\"avc1\"").unwrap();
        for bad in ["", "a\nb", " video/mp4", "vidéo/mp4"] {
            assert!(check_content_type(bad).is_err(), "{bad:?}");
        }
    }
}
