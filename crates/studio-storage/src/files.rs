//! Durable file writes for both backends: stream into a temp file on the destination's
//! filesystem, count and hash, fsync, then rename into place, so a reader sees the old file or
//! the whole new one, never a partial one. Also the JSON sidecars in which the local store keeps
//! what a plain file cannot (content type, entity tag).
//!
//! All IO goes through `tokio::fs` (which runs the blocking calls on the blocking pool).

use std::fmt::Display;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::StorageError;

/// Write buffer in front of the temp file: fewer, larger blocking writes than hyper's ~16 KiB
/// chunks, while memory per upload stays bounded.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;
/// Read chunk when the store copies its own files (concatenation, `put_file`, `copy`).
pub(crate) const READ_CHUNK_BYTES: usize = 256 * 1024;

/// What a streamed write produced.
pub(crate) struct Written {
    pub size: u64,
    pub md5: [u8; 16],
}

/// A temp file that deletes itself unless [`TempFile::commit`] moved it into place.
pub(crate) struct TempFile {
    path: PathBuf,
    file: Option<BufWriter<tokio::fs::File>>,
}

impl TempFile {
    /// Creates a new, uniquely named file in `dir` (which must be on the destination's
    /// filesystem for the final rename to be atomic).
    pub async fn create(dir: &Path) -> io::Result<Self> {
        let path = dir.join(format!("{}.tmp", random_hex()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(Self {
            path,
            file: Some(BufWriter::with_capacity(WRITE_BUFFER_BYTES, file)),
        })
    }

    /// A temp file beside `dest` (creating `dest`'s directory): for files outside the store,
    /// where the final rename must stay on `dest`'s filesystem.
    pub async fn create_beside(dest: &Path) -> io::Result<Self> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        tokio::fs::create_dir_all(dir).await?;
        Self::create(dir).await
    }

    fn writer(&mut self) -> &mut BufWriter<tokio::fs::File> {
        self.file.as_mut().expect("temp file used after commit")
    }

    /// Appends the whole `body`, refusing it as soon as it exceeds `expected` bytes, or at its
    /// end when it is shorter. Returns the byte count and MD5 of what this call wrote.
    pub async fn write_stream<S, E>(
        &mut self,
        body: S,
        expected: u64,
    ) -> Result<Written, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: Display,
    {
        let written = self.write_stream_at_most(body, expected).await?;
        if written.size != expected {
            return Err(StorageError::InvalidBody(format!(
                "body has {} bytes, {expected} were signed",
                written.size
            )));
        }
        Ok(written)
    }

    /// Appends the whole `body`, refusing it as soon as it exceeds `max` bytes (a form upload
    /// signs a largest size, not an exact one). Returns the byte count and MD5 of what this
    /// call wrote.
    pub async fn write_stream_at_most<S, E>(
        &mut self,
        body: S,
        max: u64,
    ) -> Result<Written, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: Display,
    {
        let mut body = std::pin::pin!(body);
        let mut hasher = Md5::new();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| StorageError::InvalidBody(format!("body stream failed: {e}")))?;
            size += chunk.len() as u64;
            if size > max {
                return Err(StorageError::InvalidBody(format!(
                    "body is longer than the signed {max} bytes"
                )));
            }
            hasher.update(&chunk);
            self.writer().write_all(&chunk).await?;
        }
        Ok(Written {
            size,
            md5: hasher.finalize().into(),
        })
    }

    /// Appends the file at `source`, streaming, and returns its byte count and MD5.
    pub async fn append_file(&mut self, source: &Path) -> io::Result<Written> {
        let file = tokio::fs::File::open(source).await?;
        self.append_open_file(file).await
    }

    /// Appends what is left to read of `file`, streaming, and returns its byte count and MD5.
    pub async fn append_open_file(&mut self, file: tokio::fs::File) -> io::Result<Written> {
        let stream = tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK_BYTES);
        let mut stream = std::pin::pin!(stream);
        let mut hasher = Md5::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            hasher.update(&chunk);
            self.writer().write_all(&chunk).await?;
        }
        Ok(Written {
            size,
            md5: hasher.finalize().into(),
        })
    }

    /// Flushes, fsyncs and renames the file to `dest`, creating `dest`'s parent directories.
    pub async fn commit(mut self, dest: &Path) -> io::Result<()> {
        let mut writer = self.file.take().expect("temp file committed twice");
        writer.flush().await?;
        let file = writer.into_inner();
        file.sync_all().await?;
        drop(file);
        let parent = dest.parent().expect("destination has a parent");
        tokio::fs::create_dir_all(parent).await?;
        let renamed = match tokio::fs::rename(&self.path, dest).await {
            // A concurrent delete may have pruned the freshly created parent: once more.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tokio::fs::create_dir_all(parent).await?;
                tokio::fs::rename(&self.path, dest).await
            }
            other => other,
        };
        // On failure the temp file is still there and `drop` removes it.
        renamed?;
        self.path = PathBuf::new();
        sync_dir(parent).await;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        let path = std::mem::take(&mut self.path);
        // Unlinking blocks; off the runtime when there is one.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    let _ = tokio::fs::remove_file(&path).await;
                });
            }
            Err(_) => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Makes a rename durable. Best effort: some filesystems cannot fsync a directory.
pub(crate) async fn sync_dir(dir: &Path) {
    let dir = dir.to_owned();
    let _ = tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all()).await;
}

/// 128 random bits as 32 lowercase hex digits: temp names and upload ids.
pub(crate) fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Reads a JSON sidecar; `None` when it does not exist.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Option<T>, StorageError> {
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            StorageError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("corrupt sidecar {}: {e}", path.display()),
            ))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes a JSON sidecar atomically (temp file in `tmp_dir`, then rename).
pub(crate) async fn write_json<T: serde::Serialize>(
    tmp_dir: &Path,
    dest: &Path,
    value: &T,
) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    let mut temp = TempFile::create(tmp_dir).await?;
    temp.writer().write_all(&bytes).await?;
    temp.commit(dest).await
}

/// Removes a file; a missing one is fine.
pub(crate) async fn remove_file_if_exists(path: &Path) -> io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes the now-empty directories between `path` and `stop` (exclusive), bottom-up, stopping
/// at the first that is not empty. Races with writers are harmless: `remove_dir` refuses
/// non-empty directories, and [`TempFile::commit`] recreates a parent pruned under it.
pub(crate) async fn prune_empty_parents(path: &Path, stop: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == stop || !d.starts_with(stop) || tokio::fs::remove_dir(d).await.is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// An S3-style entity tag: the MD5 of the content, or for an object assembled from `n` parts the
/// MD5 of the parts' MD5s followed by `-n`.
///
/// MD5 rather than a truncated SHA-256 because it is what S3 returns for the same uploads, so
/// clients (Uppy's multipart resume, `Content-MD5` checks) and our code see one etag format
/// whatever the backend. It is an identifier, not a security boundary: who may write what is
/// decided by the signed URL, never by an etag.
pub(crate) fn etag_of(md5: &[u8; 16]) -> String {
    hex::encode(md5)
}

pub(crate) fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut hasher = Md5::new();
    for md5 in part_md5s {
        hasher.update(md5);
    }
    format!("{}-{}", hex::encode(hasher.finalize()), part_md5s.len())
}
