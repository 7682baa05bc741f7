//! The storage port.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{BlobKey, PresignedPost, StorageError};

/// A request the client makes directly to the store: method, URL and the headers it must send
/// exactly as given (they are part of the signature).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresignedRequest {
    pub method: String,
    pub url: String,
    /// Header name (lowercase) → value, to send verbatim.
    pub headers: Vec<(String, String)>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// What the store knows about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub content_type: Option<String>,
    /// The entity tag, without surrounding quotes.
    pub etag: Option<String>,
}

/// The id of an open multipart upload, as the store issued it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(pub String);

/// A part already received by the store for an open multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub part_number: u32,
    pub size: u64,
    /// Without surrounding quotes. Empty when the store does not report part etags (`s3s-fs`
    /// does not; AWS, MinIO and the local store do).
    pub etag: String,
}

/// A part named by the client when completing a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    /// With or without surrounding quotes; implementations normalise.
    pub etag: String,
}

/// The storage port. Keys are checked [`BlobKey`]s, so no implementation ever sees a path that
/// could leave its root.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// `local` or `s3`, for logs and `/ready`.
    fn backend(&self) -> &'static str;

    /// A URL the client PUTs the whole object to. `content_length` and `content_type` are bound
    /// into the signature: a body of another size or type is refused by the store.
    fn presign_put(
        &self,
        key: &BlobKey,
        content_length: u64,
        content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError>;

    /// A form the client POSTs the whole object with (`multipart/form-data`: the fields as
    /// given, then the file as `file`, last). The store refuses a file of more than `max_size`
    /// bytes, a changed field, or a form sent after `ttl`; the object gets `content_type`.
    /// `max_size` is an upper bound: the caller checks the stored size afterwards.
    fn presign_post(
        &self,
        key: &BlobKey,
        content_type: &str,
        max_size: u64,
        ttl: Duration,
    ) -> Result<PresignedPost, StorageError>;

    /// A URL the client GETs the object from (supports `Range`).
    fn presign_get(&self, key: &BlobKey, ttl: Duration) -> Result<PresignedRequest, StorageError>;

    /// Size, type and entity tag of a stored object; `None` when there is none.
    async fn head(&self, key: &BlobKey) -> Result<Option<ObjectMeta>, StorageError>;

    /// Removes an object; removing a missing object is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<(), StorageError>;

    /// Opens a multipart upload whose completed object will have `content_type`.
    async fn create_multipart(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<UploadId, StorageError>;

    /// A URL the client PUTs one part to; `content_length` is bound into the signature.
    fn presign_upload_part(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        part_number: u32,
        content_length: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError>;

    /// The parts received so far, by part number. `NoSuchUpload` when the upload is not open.
    async fn list_parts(
        &self,
        key: &BlobKey,
        upload: &UploadId,
    ) -> Result<Vec<UploadedPart>, StorageError>;

    /// Assembles the parts into the object. `NoSuchUpload` when the upload is not open (for
    /// example already completed), `InvalidPart` when a part or its etag does not match.
    async fn complete_multipart(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<(), StorageError>;

    /// Discards an open multipart upload and its parts; aborting a missing upload is not an
    /// error.
    async fn abort_multipart(&self, key: &BlobKey, upload: &UploadId) -> Result<(), StorageError>;

    /// Uploads a local file as an object (server-side: workers storing proxies). Streams.
    async fn put_file(
        &self,
        key: &BlobKey,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError>;

    /// Downloads an object into a local file (server-side: workers reading originals). Streams.
    async fn get_to_file(&self, key: &BlobKey, path: &Path) -> Result<(), StorageError>;

    /// Copies the object `from` to `to` inside the store (server-side: the bytes do not pass
    /// through studio on S3), with its content type; an existing `to` is replaced whole, and a
    /// reader of `to` sees the old object or the complete copy, never part of one. The copy's
    /// entity tag is the MD5 of its bytes on the local store and whatever the store assigns on
    /// S3 (for a multipart source it may differ from the source's).
    ///
    /// `NotFound` when `from` does not exist. `from == to` is allowed: a no-op on the local
    /// store; on S3 a self-copy that keeps the object's metadata (S3 refuses a plain self-copy,
    /// so it is sent with `x-amz-metadata-directive: REPLACE` and the object's own content type,
    /// `Cache-Control`, `Content-Disposition`, `Content-Encoding`, `Content-Language`,
    /// `Expires`, `x-amz-meta-*`, storage class, website redirect and server-side encryption
    /// settings, conditional on its entity tag so a concurrent overwrite is not relabelled).
    ///
    /// Limit: one S3 CopyObject copies at most 5 GiB ([`MAX_COPY_BYTES`](crate::MAX_COPY_BYTES));
    /// larger objects would need a multipart UploadPartCopy, which is not implemented. Both
    /// backends answer `InvalidArgument` for a larger source, before copying anything.
    async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), StorageError>;

    /// Moves the object to the cold tier (see [`crate::RestoreState`]'s module): on S3 a copy in
    /// place into `storage_class` (the metadata kept); on the local store a crash-safe move into
    /// the cold directory (`storage_class` is not used). Archiving an object already cold is a
    /// no-op. `NotFound` when there is no such object in either tier.
    async fn archive(&self, key: &BlobKey, storage_class: &str) -> Result<(), StorageError>;

    /// Brings an archived object back to the hot tier, or starts doing so: `Ready` when it is
    /// readable now (restored by this call, or never archived), `Started` / `InProgress` while
    /// an S3 archive class restores (the temporary copy is kept `days` days; call again until
    /// `Ready`, which copies it back to `STANDARD`). `NotFound` when there is no such object.
    async fn restore(&self, key: &BlobKey, days: u32) -> Result<crate::RestoreState, StorageError>;

    /// Where the object is; `None` when there is no such object in either tier.
    async fn tier_status(&self, key: &BlobKey) -> Result<Option<crate::TierStatus>, StorageError>;
}
