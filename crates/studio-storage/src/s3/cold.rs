//! The cold tier on S3: storage classes changed in place, and `RestoreObject` for the archive
//! classes (see [`crate::RestoreState`]'s module for the whole picture).
//!
//! Archiving is a CopyObject of the object onto itself with `x-amz-storage-class` and
//! `x-amz-metadata-directive: COPY` (a storage-class change is a change, so S3 allows the self
//! copy without replacing the metadata), conditional on the entity tag read just before, so a
//! concurrent overwrite is not archived by mistake. Like every CopyObject it is limited to
//! 5 GiB (`InvalidArgument` above; UploadPartCopy is not implemented).
//!
//! Restoring: from an instant class, the same copy back to `STANDARD`; from `GLACIER` /
//! `DEEP_ARCHIVE`, `POST ?restore` with `<Days>` first (S3 answers 202, or 409
//! `RestoreAlreadyInProgress`), then, once HeadObject's `x-amz-restore` says
//! `ongoing-request="false"`, the copy back to `STANDARD` (the temporary copy would otherwise
//! vanish after `Days`).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use super::S3Store;
use super::objects::copy_source;
use super::transport::{Call, Failure, etag_header, read_xml};
use super::xml;
use crate::rules::check_copy_size;
use crate::{
    BlobKey, RestoreState, STANDARD_CLASS, StorageError, TierStatus, needs_restore,
    parse_restore_header,
};

/// The query parameter of RestoreObject.
const RESTORE_PARAM: &str = "restore";
/// Signatures of these calls are used at once.
const SIGN_TTL: Duration = Duration::from_secs(5 * 60);
/// The retrieval tier asked for: `Standard` (hours on GLACIER); `Expedited` costs more and is
/// not available for DEEP_ARCHIVE, `Bulk` is slowest.
const RETRIEVAL_TIER: &str = "Standard";

/// The storage class of a HeadObject answer (S3 omits the header for `STANDARD`).
fn storage_class(head: &HeaderMap) -> String {
    head.get("x-amz-storage-class")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(STANDARD_CLASS)
        .to_owned()
}

/// `(ongoing, expiry)` from a HeadObject answer's `x-amz-restore`, when there is one.
fn restore_progress(head: &HeaderMap) -> Option<(bool, Option<String>)> {
    head.get("x-amz-restore")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_restore_header)
}

/// The body of a RestoreObject request.
fn restore_request(days: u32) -> String {
    format!(
        "<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Days>{days}</Days>\
         <GlacierJobParameters><Tier>{RETRIEVAL_TIER}</Tier></GlacierJobParameters>\
         </RestoreRequest>"
    )
}

impl S3Store {
    pub(super) async fn archive_object(
        &self,
        key: &BlobKey,
        class: &str,
    ) -> Result<(), StorageError> {
        let Some(head) = self.head_headers(key).await? else {
            return Err(StorageError::NotFound);
        };
        let current = storage_class(&head);
        if current != STANDARD_CLASS || current == class {
            // Already in a colder class (archived before): nothing to do.
            return Ok(());
        }
        self.copy_in_place(key, class, &head).await
    }

    pub(super) async fn restore_object(
        &self,
        key: &BlobKey,
        days: u32,
    ) -> Result<RestoreState, StorageError> {
        let Some(head) = self.head_headers(key).await? else {
            return Err(StorageError::NotFound);
        };
        let class = storage_class(&head);
        if class == STANDARD_CLASS {
            return Ok(RestoreState::Ready);
        }
        if !needs_restore(&class) {
            self.copy_in_place(key, STANDARD_CLASS, &head).await?;
            return Ok(RestoreState::Ready);
        }
        match restore_progress(&head) {
            Some((true, _)) => Ok(RestoreState::InProgress),
            Some((false, _)) => {
                self.copy_in_place(key, STANDARD_CLASS, &head).await?;
                Ok(RestoreState::Ready)
            }
            None => self.post_restore(key, days).await,
        }
    }

    pub(super) async fn tier_status_object(
        &self,
        key: &BlobKey,
    ) -> Result<Option<TierStatus>, StorageError> {
        let Some(head) = self.head_headers(key).await? else {
            return Ok(None);
        };
        let class = storage_class(&head);
        let progress = restore_progress(&head);
        Ok(Some(TierStatus {
            cold: class != STANDARD_CLASS,
            storage_class: Some(class),
            restore_ongoing: progress.as_ref().map(|(ongoing, _)| *ongoing),
            restore_expiry: progress.and_then(|(_, expiry)| expiry),
        }))
    }

    /// CopyObject of `key` onto itself into `class`, keeping its metadata, only if it still has
    /// the entity tag of `head`.
    async fn copy_in_place(
        &self,
        key: &BlobKey,
        class: &str,
        head: &HeaderMap,
    ) -> Result<(), StorageError> {
        let size = head
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StorageError::Protocol("HeadObject: no Content-Length".into()))?;
        check_copy_size(size)?;
        let mut headers = vec![
            (
                "x-amz-copy-source".to_owned(),
                copy_source(self.bucket.name(), key),
            ),
            ("content-length".to_owned(), "0".to_owned()),
            ("x-amz-metadata-directive".to_owned(), "COPY".to_owned()),
            ("x-amz-storage-class".to_owned(), class.to_owned()),
        ];
        if let Some(etag) = etag_header(head) {
            headers.push((
                "x-amz-copy-source-if-match".to_owned(),
                format!("\"{etag}\""),
            ));
        }
        let action = self
            .bucket
            .put_object(Some(&self.credentials), key.as_str());
        let call = Call::signed(action, headers).body(Vec::<u8>::new());
        let failed = |f: Failure| {
            if f.is("NoSuchKey") {
                StorageError::NotFound
            } else {
                f.into_error("CopyObject (storage class)")
            }
        };
        let response = call.send(&self.http).await?.map_err(failed)?;
        let body = read_xml(response, "CopyObject").await?.map_err(failed)?;
        if !xml::root_is(&body, "CopyObjectResult") {
            return Err(StorageError::Protocol(
                "CopyObject: answer is not a CopyObjectResult".into(),
            ));
        }
        Ok(())
    }

    /// RestoreObject: `POST /{key}?restore`.
    async fn post_restore(&self, key: &BlobKey, days: u32) -> Result<RestoreState, StorageError> {
        let url = rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            rusty_s3::Method::Post,
            self.bucket.object_url(key.as_str()),
            self.credentials.key(),
            self.credentials.secret(),
            self.credentials.token(),
            self.bucket.region(),
            SIGN_TTL.as_secs(),
            std::iter::once((RESTORE_PARAM, "")),
            std::iter::empty(),
        );
        let call = Call {
            method: Method::POST,
            url,
            headers: Vec::new(),
            body: Some(restore_request(days).into()),
        };
        match call.send(&self.http).await? {
            // 202: started. 200: a restored copy exists already (its expiry was extended).
            Ok(response) if response.status() == StatusCode::OK => Ok(RestoreState::InProgress),
            Ok(_) => Ok(RestoreState::Started),
            Err(f) if f.is("RestoreAlreadyInProgress") => Ok(RestoreState::InProgress),
            Err(f) if f.is("NoSuchKey") => Err(StorageError::NotFound),
            Err(f) => Err(f.into_error("RestoreObject")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restore_request_names_days_and_tier() {
        let body = restore_request(3);
        assert!(body.contains("<Days>3</Days>"), "{body}");
        assert!(body.contains("<Tier>Standard</Tier>"), "{body}");
    }
}
