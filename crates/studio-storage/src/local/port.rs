//! `LocalStore` as a [`BlobStore`].

use std::io;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::signing::{Claims, Op};
use super::{LocalStore, multipart};
use crate::files::{self, TempFile};
use crate::rules::{check_content_type, check_copy_size, check_part_number, check_ttl};
use crate::{
    BlobKey, BlobStore, CompletedPart, ObjectMeta, PresignedPost, PresignedRequest, RestoreState,
    StorageError, TierStatus, UploadId, UploadedPart,
};

/// Expiry of a URL signed now for `ttl`, whole seconds (the URL carries Unix seconds).
fn expiry(ttl: Duration) -> Result<OffsetDateTime, StorageError> {
    check_ttl(ttl)?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 is valid");
    Ok(now + ttl)
}

#[async_trait]
impl BlobStore for LocalStore {
    fn backend(&self) -> &'static str {
        "local"
    }

    fn presign_put(
        &self,
        key: &BlobKey,
        content_length: u64,
        content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        check_content_type(content_type)?;
        let expires_at = expiry(ttl)?;
        let claims = Claims {
            op: Op::Put,
            key: key.as_str(),
            expires: expires_at.unix_timestamp(),
            length: Some(content_length),
            content_type: Some(content_type),
            upload: None,
            part: None,
        };
        Ok(self.presign(&claims, expires_at))
    }

    fn presign_post(
        &self,
        key: &BlobKey,
        content_type: &str,
        max_size: u64,
        ttl: Duration,
    ) -> Result<PresignedPost, StorageError> {
        self.post_form(key, content_type, max_size, ttl)
    }

    fn presign_get(&self, key: &BlobKey, ttl: Duration) -> Result<PresignedRequest, StorageError> {
        let expires_at = expiry(ttl)?;
        let claims = Claims {
            op: Op::Get,
            key: key.as_str(),
            expires: expires_at.unix_timestamp(),
            length: None,
            content_type: None,
            upload: None,
            part: None,
        };
        Ok(self.presign(&claims, expires_at))
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<ObjectMeta>, StorageError> {
        Ok(self.open_object(key).await?.map(|(_, meta)| meta))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StorageError> {
        let path = self.object_path(key);
        match tokio::fs::remove_file(&path).await {
            Err(e)
                if !matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Err(e.into());
            }
            _ => {}
        }
        let meta = self.meta_path(key);
        files::remove_file_if_exists(&meta).await?;
        files::prune_empty_parents(&path, &self.layout.objects).await;
        self.delete_cold(key).await
    }

    async fn create_multipart(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<UploadId, StorageError> {
        check_content_type(content_type)?;
        self.mp_create(key, content_type).await
    }

    fn presign_upload_part(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        part_number: u32,
        content_length: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        check_part_number(part_number)?;
        if !multipart::is_upload_id(&upload.0) {
            return Err(StorageError::NoSuchUpload);
        }
        let expires_at = expiry(ttl)?;
        let claims = Claims {
            op: Op::Part,
            key: key.as_str(),
            expires: expires_at.unix_timestamp(),
            length: Some(content_length),
            content_type: None,
            upload: Some(&upload.0),
            part: Some(part_number),
        };
        Ok(self.presign(&claims, expires_at))
    }

    async fn list_parts(
        &self,
        key: &BlobKey,
        upload: &UploadId,
    ) -> Result<Vec<UploadedPart>, StorageError> {
        self.mp_list_parts(key, upload).await
    }

    async fn complete_multipart(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<(), StorageError> {
        self.mp_complete(key, upload, parts).await
    }

    async fn abort_multipart(&self, key: &BlobKey, upload: &UploadId) -> Result<(), StorageError> {
        self.mp_abort(key, upload).await
    }

    async fn put_file(
        &self,
        key: &BlobKey,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        check_content_type(content_type)?;
        let mut temp = TempFile::create(&self.layout.tmp).await?;
        let written = temp.append_file(path).await?;
        let meta = ObjectMeta {
            size: written.size,
            content_type: Some(content_type.to_owned()),
            etag: Some(files::etag_of(&written.md5)),
        };
        self.commit_object(temp, key, &meta).await
    }

    async fn get_to_file(&self, key: &BlobKey, path: &Path) -> Result<(), StorageError> {
        let Some((source, _)) = self.open_object(key).await? else {
            return Err(StorageError::NotFound);
        };
        let mut temp = TempFile::create_beside(path).await?;
        temp.append_file(&source)
            .await
            .map_err(|e| match e.kind() {
                // Deleted between `open_object` and the copy.
                io::ErrorKind::NotFound => StorageError::NotFound,
                _ => e.into(),
            })?;
        temp.commit(path).await?;
        Ok(())
    }

    /// Streams the source into a temp file under `.tmp` (same filesystem as `objects/`),
    /// fsyncs it and renames it over `to`, then writes `to`'s sidecar with the source's content
    /// type. The source is read from one open file, so a concurrent overwrite of `from` yields
    /// the old or the new bytes whole.
    async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), StorageError> {
        let Some((file, source)) = self.open_object_file(from).await? else {
            return Err(StorageError::NotFound);
        };
        check_copy_size(source.size)?;
        if from == to {
            return Ok(());
        }
        let mut temp = TempFile::create(&self.layout.tmp).await?;
        let written = temp.append_open_file(file).await?;
        let meta = ObjectMeta {
            size: written.size,
            content_type: source.content_type,
            // Like S3, whose copy of a multipart object is a single-part object.
            etag: Some(files::etag_of(&written.md5)),
        };
        self.commit_object(temp, to, &meta).await
    }

    async fn archive(&self, key: &BlobKey, _storage_class: &str) -> Result<(), StorageError> {
        self.archive_local(key).await
    }

    async fn restore(&self, key: &BlobKey, _days: u32) -> Result<RestoreState, StorageError> {
        self.restore_local(key).await
    }

    async fn tier_status(&self, key: &BlobKey) -> Result<Option<TierStatus>, StorageError> {
        self.tier_status_local(key).await
    }
}
