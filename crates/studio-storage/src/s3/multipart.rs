//! Multipart calls of the S3 backend, and `put_file`'s own multipart upload for large files.

use std::io::SeekFrom;
use std::path::Path;

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use rusty_s3::S3Action;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::S3Store;
use super::transport::{Call, Failure, etag_header, read_xml};
use super::xml;
use crate::files::READ_CHUNK_BYTES;
use crate::rules::{MAX_PART_NUMBER, check_completed_parts, normalize_etag};
use crate::{BlobKey, CompletedPart, StorageError, UploadId, UploadedPart};

/// Codes S3 uses when the part list named on completion is wrong.
const PART_ERRORS: [&str; 3] = ["InvalidPart", "InvalidPartOrder", "EntityTooSmall"];

fn upload_failure(f: Failure, operation: &str) -> StorageError {
    if f.is("NoSuchUpload") {
        StorageError::NoSuchUpload
    } else if let Some(code) = PART_ERRORS.iter().find(|c| f.is(c)) {
        StorageError::InvalidPart((*code).to_owned())
    } else {
        f.into_error(operation)
    }
}

impl S3Store {
    pub(super) async fn mp_create(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<UploadId, StorageError> {
        let mut action = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), key.as_str());
        action
            .headers_mut()
            .insert(CONTENT_TYPE.as_str(), content_type.to_owned());
        let call = Call::new(&action, vec![("content-type", content_type.to_owned())]);
        let response = match call.send(&self.http).await? {
            Ok(r) => r,
            Err(f) => return Err(f.into_error("CreateMultipartUpload")),
        };
        let body = read_xml(response, "CreateMultipartUpload")
            .await?
            .map_err(|f| f.into_error("CreateMultipartUpload"))?;
        xml::text(&body, "UploadId")
            .filter(|id| !id.is_empty())
            .map(UploadId)
            .ok_or_else(|| StorageError::Protocol("CreateMultipartUpload: no UploadId".into()))
    }

    /// All parts, following `NextPartNumberMarker` (S3 lists at most 1,000 per answer). An etag
    /// the store does not report (`s3s-fs` reports none) is returned empty.
    pub(super) async fn mp_list_parts(
        &self,
        key: &BlobKey,
        upload: &UploadId,
    ) -> Result<Vec<UploadedPart>, StorageError> {
        let mut parts = Vec::new();
        let mut marker: Option<u16> = None;
        loop {
            let mut action =
                self.bucket
                    .list_parts(Some(&self.credentials), key.as_str(), &upload.0);
            if let Some(marker) = marker {
                action.set_part_number_marker(marker);
            }
            let response = match Call::new(&action, Vec::new()).send(&self.http).await? {
                Ok(r) => r,
                Err(f) if f.status == StatusCode::NOT_FOUND => {
                    return Err(StorageError::NoSuchUpload);
                }
                Err(f) => return Err(upload_failure(f, "ListParts")),
            };
            let body = read_xml(response, "ListParts")
                .await?
                .map_err(|f| upload_failure(f, "ListParts"))?;
            for part in xml::elements(&body, "Part") {
                let number = xml::text(part, "PartNumber").and_then(|n| n.parse().ok());
                let size = xml::text(part, "Size").and_then(|n| n.parse().ok());
                let (Some(part_number), Some(size)) = (number, size) else {
                    return Err(StorageError::Protocol("ListParts: malformed part".into()));
                };
                let etag = xml::text(part, "ETag").unwrap_or_default();
                parts.push(UploadedPart {
                    part_number,
                    size,
                    etag: normalize_etag(&etag).to_owned(),
                });
            }
            if xml::text(&body, "IsTruncated").as_deref() != Some("true") {
                break;
            }
            let next = xml::text(&body, "NextPartNumberMarker").and_then(|n| n.parse().ok());
            match next {
                // Only forward: a marker that does not advance would loop forever.
                Some(next) if next > marker.unwrap_or(0) => marker = Some(next),
                _ => return Err(StorageError::Protocol("ListParts: bad marker".into())),
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    /// Checks the named parts against the listed ones first: S3 would refuse a wrong list
    /// anyway, but some compatible servers (`s3s-fs`) fail with a 500 and drop the upload.
    pub(super) async fn mp_complete(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<(), StorageError> {
        check_completed_parts(parts)?;
        let listed = self.mp_list_parts(key, upload).await?;
        for part in parts {
            let Some(found) = listed.iter().find(|p| p.part_number == part.part_number) else {
                return Err(StorageError::InvalidPart(format!(
                    "part {} was not uploaded",
                    part.part_number
                )));
            };
            if !found.etag.is_empty() && found.etag != normalize_etag(&part.etag) {
                return Err(StorageError::InvalidPart(format!(
                    "part {} etag does not match",
                    part.part_number
                )));
            }
        }
        self.complete_call(key, upload, parts).await
    }

    async fn complete_call(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<(), StorageError> {
        let action = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            key.as_str(),
            &upload.0,
            std::iter::empty::<&str>(),
        );
        let call = Call::new(&action, Vec::new()).body(xml::complete_body(parts));
        let response = match call.send(&self.http).await? {
            Ok(r) => r,
            Err(f) if f.status == StatusCode::NOT_FOUND && f.code.is_none() => {
                return Err(StorageError::NoSuchUpload);
            }
            Err(f) => return Err(upload_failure(f, "CompleteMultipartUpload")),
        };
        read_xml(response, "CompleteMultipartUpload")
            .await?
            .map_err(|f| upload_failure(f, "CompleteMultipartUpload"))?;
        Ok(())
    }

    pub(super) async fn mp_abort(
        &self,
        key: &BlobKey,
        upload: &UploadId,
    ) -> Result<(), StorageError> {
        let action =
            self.bucket
                .abort_multipart_upload(Some(&self.credentials), key.as_str(), &upload.0);
        match Call::new(&action, Vec::new()).send(&self.http).await? {
            Ok(_) => Ok(()),
            Err(f) if f.status == StatusCode::NOT_FOUND || f.is("NoSuchUpload") => Ok(()),
            Err(f) => Err(f.into_error("AbortMultipartUpload")),
        }
    }

    /// Uploads a file too large for one PUT in parts of `self.part_size`; aborts on failure.
    pub(super) async fn put_file_multipart(
        &self,
        key: &BlobKey,
        path: &Path,
        size: u64,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let count = size.div_ceil(self.part_size);
        if count > u64::from(MAX_PART_NUMBER) {
            return Err(StorageError::InvalidArgument(format!(
                "file of {size} bytes needs more than {MAX_PART_NUMBER} parts"
            )));
        }
        let upload = self.mp_create(key, content_type).await?;
        let result = async {
            let mut parts = Vec::new();
            for index in 0..count {
                let offset = index * self.part_size;
                let length = self.part_size.min(size - offset);
                let part_number = u16::try_from(index + 1).expect("checked ≤ 10000");
                let etag = self
                    .upload_file_part(key, &upload, part_number, path, offset, length)
                    .await?;
                parts.push(CompletedPart {
                    part_number: part_number.into(),
                    etag,
                });
            }
            self.complete_call(key, &upload, &parts).await
        }
        .await;
        if result.is_err()
            && let Err(e) = self.mp_abort(key, &upload).await
        {
            // The upload's error is the one returned; this one only explains leftover parts.
            tracing::warn!(blob.key = %key, error = %e, "could not abort a failed multipart upload");
        }
        result
    }

    async fn upload_file_part(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        part_number: u16,
        path: &Path,
        offset: u64,
        length: u64,
    ) -> Result<String, StorageError> {
        let mut file = tokio::fs::File::open(path).await?;
        file.seek(SeekFrom::Start(offset)).await?;
        let mut action = self.bucket.upload_part(
            Some(&self.credentials),
            key.as_str(),
            part_number,
            &upload.0,
        );
        action
            .headers_mut()
            .insert("content-length", length.to_string());
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            file.take(length),
            READ_CHUNK_BYTES,
        ));
        let call = Call::new(&action, vec![("content-length", length.to_string())]).body(body);
        match call.send(&self.http).await? {
            Ok(response) => etag_header(response.headers())
                .ok_or_else(|| StorageError::Protocol("UploadPart: no ETag".into())),
            Err(f) => Err(upload_failure(f, "UploadPart")),
        }
    }
}
