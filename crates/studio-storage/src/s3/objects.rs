//! Whole-object calls of the S3 backend: head, delete, copy, and the streaming file transfers.

use std::path::Path;

use futures::TryStreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use rusty_s3::S3Action;

use super::S3Store;
use super::transport::{Call, Failure, etag_header, read_xml};
use super::xml;
use crate::files::{READ_CHUNK_BYTES, TempFile};
use crate::rules::check_copy_size;
use crate::{BlobKey, ObjectMeta, StorageError};

/// `x-amz-copy-source` encoding: S3 URL-decodes the header, so everything but RFC 3986
/// unreserved characters and the `/` between segments is percent-encoded (UTF-8 bytes for
/// non-ASCII; a space is `%20` and `+` is `%2B`, never a literal `+`, which S3 may read as a
/// space), like the AWS SDKs do.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Headers of a HeadObject answer that a self-copy with `x-amz-metadata-directive: REPLACE`
/// must send back for the object to keep them (besides every `x-amz-meta-*`). The storage
/// class, website redirect and encryption are not metadata, but a copy without them resets
/// them to the bucket's defaults.
const KEPT_ON_SELF_COPY: [&str; 11] = [
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-bucket-key-enabled",
];

/// The `x-amz-copy-source` value naming `key` in `bucket`.
pub(super) fn copy_source(bucket: &str, key: &BlobKey) -> String {
    format!(
        "/{}/{}",
        utf8_percent_encode(bucket, COPY_SOURCE),
        utf8_percent_encode(key.as_str(), COPY_SOURCE)
    )
}

/// The metadata headers of a HeadObject answer to send back on a self-copy.
fn kept_metadata(head: &HeaderMap) -> Result<Vec<(String, String)>, StorageError> {
    let mut kept = Vec::new();
    for (name, value) in head {
        let name = name.as_str();
        if !(KEPT_ON_SELF_COPY.contains(&name) || name.starts_with("x-amz-meta-")) {
            continue;
        }
        // S3 sends non-ASCII metadata RFC 2047-encoded; anything else cannot be signed back.
        let value = value.to_str().map_err(|_| {
            StorageError::Protocol(format!("HeadObject: {name} is not printable ASCII"))
        })?;
        kept.push((name.to_owned(), value.to_owned()));
    }
    Ok(kept)
}

/// Size, type and entity tag from a HeadObject answer.
fn meta_of(headers: &HeaderMap) -> Result<ObjectMeta, StorageError> {
    let size = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StorageError::Protocol("HeadObject: no Content-Length".into()))?;
    Ok(ObjectMeta {
        size,
        content_type: headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        etag: etag_header(headers),
    })
}

/// A failed CopyObject, whether S3 answered an error status or a 200 with an `<Error>` body.
fn copy_failure(f: Failure) -> StorageError {
    // NoSuchKey names the source: a missing destination is created, a missing bucket is
    // NoSuchBucket (a configuration error, not a missing object).
    if f.is("NoSuchKey") || (f.status == StatusCode::NOT_FOUND && f.code.is_none()) {
        StorageError::NotFound
    } else {
        f.into_error("CopyObject")
    }
}

impl S3Store {
    pub(super) async fn head_object(
        &self,
        key: &BlobKey,
    ) -> Result<Option<ObjectMeta>, StorageError> {
        match self.head_headers(key).await? {
            Some(headers) => meta_of(&headers).map(Some),
            None => Ok(None),
        }
    }

    /// The headers of a HeadObject answer; `None` when there is no such object.
    pub(super) async fn head_headers(
        &self,
        key: &BlobKey,
    ) -> Result<Option<HeaderMap>, StorageError> {
        let action = self
            .bucket
            .head_object(Some(&self.credentials), key.as_str());
        match Call::new(&action, Vec::new()).send(&self.http).await? {
            Ok(response) => Ok(Some(response.headers().clone())),
            Err(f) if f.status == StatusCode::NOT_FOUND => Ok(None),
            Err(f) => Err(f.into_error("HeadObject")),
        }
    }

    pub(super) async fn delete_object(&self, key: &BlobKey) -> Result<(), StorageError> {
        let action = self
            .bucket
            .delete_object(Some(&self.credentials), key.as_str());
        match Call::new(&action, Vec::new()).send(&self.http).await? {
            Ok(_) => Ok(()),
            // S3 answers 204 for a missing key; some compatible servers 404.
            Err(f) if f.status == StatusCode::NOT_FOUND => Ok(()),
            Err(f) => Err(f.into_error("DeleteObject")),
        }
    }

    /// CopyObject: `PUT /{to}` with `x-amz-copy-source`, after a HeadObject of the source for
    /// `NotFound`, the 5 GiB limit and (on a self-copy) the metadata to keep. See
    /// [`BlobStore::copy`](crate::BlobStore::copy).
    pub(super) async fn copy_object(
        &self,
        from: &BlobKey,
        to: &BlobKey,
    ) -> Result<(), StorageError> {
        let Some(head) = self.head_headers(from).await? else {
            return Err(StorageError::NotFound);
        };
        let source = meta_of(&head)?;
        check_copy_size(source.size)?;
        let mut headers = vec![
            (
                "x-amz-copy-source".to_owned(),
                copy_source(self.bucket.name(), from),
            ),
            // A PUT without a length is refused by S3 (411), and reqwest sends none for an
            // empty body.
            ("content-length".to_owned(), "0".to_owned()),
        ];
        if from == to {
            // S3 refuses to copy an object onto itself unchanged (400 InvalidRequest), so the
            // metadata is "replaced" by its own values.
            headers.push(("x-amz-metadata-directive".to_owned(), "REPLACE".to_owned()));
            headers.extend(kept_metadata(&head)?);
            if let Some(etag) = &source.etag {
                // Only the version whose metadata we read: a concurrent overwrite fails the
                // copy (412 PreconditionFailed) instead of getting the old metadata.
                headers.push((
                    "x-amz-copy-source-if-match".to_owned(),
                    format!("\"{etag}\""),
                ));
            }
        } else {
            headers.push(("x-amz-metadata-directive".to_owned(), "COPY".to_owned()));
        }
        let action = self.bucket.put_object(Some(&self.credentials), to.as_str());
        let call = Call::signed(action, headers).body(Vec::<u8>::new());
        let response = match call.send(&self.http).await? {
            Ok(response) => response,
            Err(f) => return Err(copy_failure(f)),
        };
        // S3 may answer 200 and report a failure that happened during the copy in the body
        // (after whitespace sent to keep the connection open): the body decides.
        let body = read_xml(response, "CopyObject")
            .await?
            .map_err(copy_failure)?;
        if !xml::root_is(&body, "CopyObjectResult") {
            return Err(StorageError::Protocol(
                "CopyObject: answer is not a CopyObjectResult".into(),
            ));
        }
        Ok(())
    }

    /// One streamed PUT of the whole file, its length and type signed.
    pub(super) async fn put_file_single(
        &self,
        key: &BlobKey,
        path: &Path,
        size: u64,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let file = tokio::fs::File::open(path).await?;
        let mut action = self
            .bucket
            .put_object(Some(&self.credentials), key.as_str());
        let headers = vec![
            ("content-length", size.to_string()),
            ("content-type", content_type.to_owned()),
        ];
        for (name, value) in &headers {
            action.headers_mut().insert(*name, value.clone());
        }
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            tokio::io::AsyncReadExt::take(file, size),
            READ_CHUNK_BYTES,
        ));
        match Call::new(&action, headers)
            .body(body)
            .send(&self.http)
            .await?
        {
            Ok(_) => Ok(()),
            Err(f) => Err(f.into_error("PutObject")),
        }
    }

    /// Streams the object into a temp file beside `path`, then renames it into place.
    pub(super) async fn get_object_to_file(
        &self,
        key: &BlobKey,
        path: &Path,
    ) -> Result<(), StorageError> {
        let action = self
            .bucket
            .get_object(Some(&self.credentials), key.as_str());
        let response = match Call::new(&action, Vec::new()).send(&self.http).await? {
            Ok(response) => response,
            Err(f) if f.status == StatusCode::NOT_FOUND => return Err(StorageError::NotFound),
            Err(f) => return Err(f.into_error("GetObject")),
        };
        let size = response
            .content_length()
            .ok_or_else(|| StorageError::Protocol("GetObject: no Content-Length".into()))?;
        let mut temp = TempFile::create_beside(path).await?;
        let body = response.bytes_stream().map_err(|e| e.without_url());
        temp.write_stream(body, size).await.map_err(|e| match e {
            // Here a short or broken body is the connection's fault, not a client's.
            StorageError::InvalidBody(what) => {
                StorageError::Transport(format!("GetObject: {what}"))
            }
            e => e,
        })?;
        temp.commit(path).await?;
        Ok(())
    }
}
