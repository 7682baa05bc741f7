//! The crate's one error type. Each variant has a stable `code` (for job results and API bodies)
//! and says whether retrying can help.

use std::time::Duration;

/// Everything that can go wrong while probing or transcoding.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The input is not something ffprobe/ffmpeg can read as audio, video or an image
    /// (a text file, a truncated container without its index, …). Permanent.
    #[error("the file is not a readable audio, video or image file: {detail}")]
    NotMedia { detail: String },
    /// The program is not installed (or not on `PATH`).
    #[error("`{program}` is not installed or not on PATH")]
    ToolMissing { program: String },
    /// The program could not be started for another reason.
    #[error("could not start `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// The program ran longer than its budget and was killed.
    #[error("`{program}` took longer than {timeout:?} and was killed")]
    Timeout { program: String, timeout: Duration },
    /// The program exited unsuccessfully; `stderr` holds its last error lines.
    #[error("`{program}` failed ({status}): {stderr}")]
    Failed {
        program: String,
        status: String,
        stderr: String,
    },
    /// ffprobe answered something we could not parse.
    #[error("unexpected ffprobe output: {0}")]
    BadProbeOutput(String),
    /// Invalid settings given by the caller.
    #[error("invalid media settings: {0}")]
    InvalidSettings(String),
    /// Reading or writing local files, or talking to a child's pipes.
    #[error("media i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Encoding the waveform PNG.
    #[error("png encoding: {0}")]
    Png(#[from] png::EncodingError),
}

impl MediaError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::NotMedia { .. } => "not_media",
            MediaError::ToolMissing { .. } => "media_tool_missing",
            MediaError::Spawn { .. } => "media_tool_spawn",
            MediaError::Timeout { .. } => "media_timeout",
            MediaError::Failed { .. } => "media_tool_failed",
            MediaError::BadProbeOutput(_) => "media_bad_probe_output",
            MediaError::InvalidSettings(_) => "media_invalid_settings",
            MediaError::Io(_) => "media_io",
            MediaError::Png(_) => "media_png",
        }
    }

    /// `true` when retrying the same input cannot succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            MediaError::NotMedia { .. } | MediaError::InvalidSettings(_)
        )
    }
}
