//! Browser form uploads: an HTML form `POST` of `multipart/form-data` (S3 calls it POST Object),
//! the shape Uppy's Companion protocol uses for files it does not send in parts.
//!
//! A [`PresignedPost`] is the form's action URL and the fields to send before the file. The
//! fields carry a signature over everything they bind (key, content type, largest size, expiry),
//! so the store itself refuses a form that was changed, a file that is too large, or a late one.
//! The client sends every field as given, in order, then the file as the field `file`, last: S3
//! ignores fields after the file, and so does the local store.

use time::OffsetDateTime;

/// The name of the form field that carries the file; it must come last.
pub const FORM_FILE_FIELD: &str = "file";

/// A form the client POSTs to upload a whole object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedPost {
    /// Where the form goes (the bucket's URL with S3; `{public_url}/storage` locally).
    pub url: String,
    /// Field name → value, to send verbatim and in this order, before the `file` field.
    pub fields: Vec<(String, String)>,
    pub expires_at: OffsetDateTime,
}
