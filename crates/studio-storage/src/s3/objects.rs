//! Whole-object calls of the S3 backend: head, delete, and the streaming file transfers.

use std::path::Path;

use futures::TryStreamExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use rusty_s3::S3Action;

use super::S3Store;
use super::transport::{Call, etag_header};
use crate::files::{READ_CHUNK_BYTES, TempFile};
use crate::{BlobKey, ObjectMeta, StorageError};

impl S3Store {
    pub(super) async fn head_object(
        &self,
        key: &BlobKey,
    ) -> Result<Option<ObjectMeta>, StorageError> {
        let action = self
            .bucket
            .head_object(Some(&self.credentials), key.as_str());
        let response = match Call::new(&action, Vec::new()).send(&self.http).await? {
            Ok(response) => response,
            Err(f) if f.status == StatusCode::NOT_FOUND => return Ok(None),
            Err(f) => return Err(f.into_error("HeadObject")),
        };
        let headers = response.headers();
        let size = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StorageError::Protocol("HeadObject: no Content-Length".into()))?;
        Ok(Some(ObjectMeta {
            size,
            content_type: headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            etag: etag_header(headers),
        }))
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
