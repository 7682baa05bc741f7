//! Blob storage for Studio Engine: where uploaded originals, proxies and waveforms live.
//!
//! One [`BlobStore`] trait, two implementations chosen by configuration:
//! - `local`: a directory on disk; studio serves the signed URLs itself under `/storage/…`
//!   (see [`local::LocalStore`] for the request checks the HTTP layer calls);
//! - `s3`: any S3-compatible bucket, presigned with SigV4.
//!
//! Both speak the same upload protocol (single signed PUT, or multipart with signed part PUTs,
//! or a signed form POST for browser uploaders such as Uppy), so a client uses one flow whatever
//! the backend.

mod cold;
mod error;
mod files;
mod key;
pub mod lifecycle;
pub mod local;
mod post;
mod rules;
pub mod s3;
mod store;

pub use cold::{
    ARCHIVE_CLASSES, COLD_CLASSES, RestoreState, STANDARD_CLASS, TierStatus, needs_restore,
    parse_restore_header,
};
pub use error::StorageError;
pub use key::{BlobKey, BlobKeyError, MAX_KEY_BYTES, MAX_SEGMENT_BYTES};
pub use post::{FORM_FILE_FIELD, PresignedPost};
pub use rules::{MAX_COPY_BYTES, MAX_PART_NUMBER, MAX_PRESIGN_TTL};
pub use store::{BlobStore, CompletedPart, ObjectMeta, PresignedRequest, UploadId, UploadedPart};
