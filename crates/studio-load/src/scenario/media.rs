//! The file every simulated upload sends: one given with `--file`, or a short test clip made
//! with ffmpeg at start (processing needs real media: bytes that are not would fail the job).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;

/// Longest ffmpeg may take to make the clip (a few seconds of ultrafast x264).
const FFMPEG_TIMEOUT: Duration = Duration::from_secs(120);

/// The bytes to upload and how to describe them in the intent.
#[derive(Debug, Clone)]
pub struct Media {
    pub filename: String,
    pub content_type: String,
    /// Shared by every upload without copying.
    pub bytes: Bytes,
}

impl Media {
    /// Reads `path`; the content type from its extension unless given.
    pub fn read(path: &Path, content_type: Option<String>) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let filename = path
            .file_name()
            .map_or_else(|| "upload".to_owned(), |n| n.to_string_lossy().into_owned());
        let content_type = content_type.unwrap_or_else(|| guess_type(&filename).to_owned());
        Ok(Self {
            filename,
            content_type,
            bytes: Bytes::from(bytes),
        })
    }

    /// A `secs` long 1280×720 30 fps test pattern with a 440 Hz tone (H.264 + AAC in MP4), made
    /// by ffmpeg in a temp dir.
    pub async fn generate(secs: f64) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("a temp dir for the test clip")?;
        let path = dir.path().join("studio-load-clip.mp4");
        let mut command = tokio::process::Command::new("ffmpeg");
        command
            .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size=1280x720:rate=30:duration={secs}"))
            .args(["-f", "lavfi", "-i"])
            .arg(format!(
                "sine=frequency=440:sample_rate=48000:duration={secs}"
            ))
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-c:a", "aac", "-shortest"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command
            .spawn()
            .context("cannot run ffmpeg (install it, or pass --file)")?;
        let output = tokio::time::timeout(FFMPEG_TIMEOUT, child.wait_with_output())
            .await
            .context("ffmpeg took too long to make the test clip")??;
        if !output.status.success() {
            bail!(
                "ffmpeg could not make the test clip: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Self::read(&path, Some("video/mp4".to_owned()))
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// A content type from a file name's extension; `application/octet-stream` when unknown
/// (studio then refuses the intent, which the run reports).
fn guess_type(filename: &str) -> &'static str {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_from_extensions() {
        assert_eq!(guess_type("a.MP4"), "video/mp4");
        assert_eq!(guess_type("song.mp3"), "audio/mpeg");
        assert_eq!(guess_type("noext"), "application/octet-stream");
    }
}
