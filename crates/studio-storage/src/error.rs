//! The one error type of the storage layer.

/// What went wrong talking to the store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object asked for does not exist.
    #[error("no such object")]
    NotFound,
    /// The multipart upload is not open (never was, aborted, or already completed).
    #[error("no such multipart upload")]
    NoSuchUpload,
    /// A part named on completion is missing or its entity tag does not match.
    #[error("invalid part: {0}")]
    InvalidPart(String),
    /// The caller asked for something the store cannot do (a presign lifetime over 7 days, a part
    /// number outside 1..=10000, a grant of the wrong kind…): a bug in the caller, not the client.
    #[error("invalid storage request: {0}")]
    InvalidArgument(String),
    /// An upload body was refused: shorter or longer than the signed length, or cut off. Nothing
    /// was stored. The HTTP layer answers 400.
    #[error("upload body refused: {0}")]
    InvalidBody(String),
    /// The storage URL or credentials in the configuration are unusable.
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// The store answered something we did not expect (status and a short excerpt).
    #[error("unexpected answer from the store: {0}")]
    Protocol(String),
    /// The store could not be reached, or the connection failed mid-request (no URL included).
    #[error("storage transport error: {0}")]
    Transport(String),
    /// Local filesystem failure.
    #[error("storage IO error: {0}")]
    Io(#[from] std::io::Error),
}
