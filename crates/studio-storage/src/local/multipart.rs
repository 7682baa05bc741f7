//! Multipart uploads of the local store.
//!
//! An open upload is the directory `.multipart/{id}` holding `manifest.json` (key, content type)
//! and, per received part, `{n:05}.part` (the bytes) and `{n:05}.json` (size and MD5 etag).
//! The id is 32 lowercase hex digits we generate; anything else is refused before it is joined
//! to a path. Completing first renames the directory to `{id}.completing`, which no valid id can
//! name: concurrent part uploads and completions then see `NoSuchUpload`, and a failed
//! completion renames it back so the client can fix its part list and retry, as on S3.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::Stream;

use super::LocalStore;
use crate::files::{self, TempFile, Written};
use crate::rules::{check_completed_parts, check_part_number, normalize_etag};
use crate::{BlobKey, CompletedPart, ObjectMeta, StorageError, UploadId, UploadedPart};

const MANIFEST: &str = "manifest.json";
const UPLOAD_ID_LEN: usize = 32;

/// Whether `id` has the shape of the ids we generate (so it is a single safe path segment).
pub(super) fn is_upload_id(id: &str) -> bool {
    id.len() == UPLOAD_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    key: BlobKey,
    content_type: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PartMeta {
    size: u64,
    etag: String,
}

fn part_file(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:05}.part"))
}

fn part_meta_file(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:05}.json"))
}

/// `NotFound` on a path inside an upload directory means the upload is gone.
fn gone(e: io::Error) -> StorageError {
    if e.kind() == io::ErrorKind::NotFound {
        StorageError::NoSuchUpload
    } else {
        e.into()
    }
}

impl LocalStore {
    /// The directory of the open upload `upload` of `key`, after checking both.
    async fn open_upload_dir(
        &self,
        key: &BlobKey,
        upload: &UploadId,
    ) -> Result<(PathBuf, Manifest), StorageError> {
        if !is_upload_id(&upload.0) {
            return Err(StorageError::NoSuchUpload);
        }
        let dir = self.layout.multipart.join(&upload.0);
        let manifest = read_manifest(&dir).await?;
        Ok((dir, manifest_for(manifest, key)?))
    }

    pub(super) async fn mp_create(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<UploadId, StorageError> {
        let id = files::random_hex();
        let dir = self.layout.multipart.join(&id);
        tokio::fs::create_dir(&dir).await?;
        let manifest = Manifest {
            key: key.clone(),
            content_type: content_type.to_owned(),
        };
        files::write_json(&self.layout.tmp, &dir.join(MANIFEST), &manifest).await?;
        Ok(UploadId(id))
    }

    pub(super) async fn mp_write_part<S, E>(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        part_number: u32,
        length: u64,
        body: S,
    ) -> Result<UploadedPart, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        check_part_number(part_number)?;
        let (dir, _) = self.open_upload_dir(key, upload).await?;
        let mut temp = TempFile::create(&self.layout.tmp).await?;
        let Written { size, md5 } = temp.write_stream(body, length).await?;
        // `commit` would recreate a directory removed meanwhile: check it is still there.
        tokio::fs::metadata(&dir).await.map_err(gone)?;
        temp.commit(&part_file(&dir, part_number))
            .await
            .map_err(gone)?;
        let etag = files::etag_of(&md5);
        let meta = PartMeta {
            size,
            etag: etag.clone(),
        };
        files::write_json(&self.layout.tmp, &part_meta_file(&dir, part_number), &meta)
            .await
            .map_err(gone)?;
        Ok(UploadedPart {
            part_number,
            size,
            etag,
        })
    }

    pub(super) async fn mp_list_parts(
        &self,
        key: &BlobKey,
        upload: &UploadId,
    ) -> Result<Vec<UploadedPart>, StorageError> {
        let (dir, _) = self.open_upload_dir(key, upload).await?;
        list_parts_in(&dir).await
    }

    pub(super) async fn mp_complete(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<(), StorageError> {
        check_completed_parts(parts)?;
        if !is_upload_id(&upload.0) {
            return Err(StorageError::NoSuchUpload);
        }
        let open_dir = self.layout.multipart.join(&upload.0);
        let busy_dir = self
            .layout
            .multipart
            .join(format!("{}.completing", upload.0));
        // Check the key before taking the upload, so a wrong key cannot disturb it.
        let manifest = manifest_for(read_manifest(&open_dir).await?, key)?;
        tokio::fs::rename(&open_dir, &busy_dir)
            .await
            .map_err(gone)?;

        match self.assemble(&busy_dir, &manifest, key, parts).await {
            Ok(()) => {
                tokio::fs::remove_dir_all(&busy_dir).await?;
                Ok(())
            }
            Err(e) => {
                // Reopen the upload so the client can retry with a corrected part list.
                if let Err(reopen) = tokio::fs::rename(&busy_dir, &open_dir).await {
                    tracing::warn!(
                        blob.key = %key,
                        error = %reopen,
                        "could not reopen a multipart upload after a failed completion"
                    );
                }
                Err(e)
            }
        }
    }

    /// Concatenates the named parts into the object, checking each part's MD5 against the etag
    /// the client named while streaming it (the sidecar is only a fast pre-check).
    async fn assemble(
        &self,
        dir: &Path,
        manifest: &Manifest,
        key: &BlobKey,
        parts: &[CompletedPart],
    ) -> Result<(), StorageError> {
        for part in parts {
            let meta: Option<PartMeta> =
                files::read_json(&part_meta_file(dir, part.part_number)).await?;
            match meta {
                Some(meta) if meta.etag == normalize_etag(&part.etag) => {}
                Some(_) => return Err(invalid_part(part, "etag does not match")),
                None => return Err(invalid_part(part, "was not uploaded")),
            }
        }
        let mut temp = TempFile::create(&self.layout.tmp).await?;
        let mut md5s = Vec::with_capacity(parts.len());
        let mut size = 0;
        for part in parts {
            let written = temp
                .append_file(&part_file(dir, part.part_number))
                .await
                .map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => invalid_part(part, "was not uploaded"),
                    _ => e.into(),
                })?;
            if files::etag_of(&written.md5) != normalize_etag(&part.etag) {
                return Err(invalid_part(part, "etag does not match"));
            }
            size += written.size;
            md5s.push(written.md5);
        }
        let meta = ObjectMeta {
            size,
            content_type: Some(manifest.content_type.clone()),
            etag: Some(files::multipart_etag(&md5s)),
        };
        self.commit_object(temp, key, &meta).await
    }

    pub(super) async fn mp_abort(
        &self,
        key: &BlobKey,
        upload: &UploadId,
    ) -> Result<(), StorageError> {
        match self.open_upload_dir(key, upload).await {
            Ok((dir, _)) => match tokio::fs::remove_dir_all(&dir).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
            // Aborting an upload that is not open is not an error.
            Err(StorageError::NoSuchUpload) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn invalid_part(part: &CompletedPart, what: &str) -> StorageError {
    StorageError::InvalidPart(format!("part {} {what}", part.part_number))
}

async fn read_manifest(dir: &Path) -> Result<Manifest, StorageError> {
    files::read_json(&dir.join(MANIFEST))
        .await?
        .ok_or(StorageError::NoSuchUpload)
}

/// An upload belongs to one key: named with another, it does not exist (S3 answers the same).
fn manifest_for(manifest: Manifest, key: &BlobKey) -> Result<Manifest, StorageError> {
    if &manifest.key == key {
        Ok(manifest)
    } else {
        Err(StorageError::NoSuchUpload)
    }
}

async fn list_parts_in(dir: &Path) -> Result<Vec<UploadedPart>, StorageError> {
    let mut entries = tokio::fs::read_dir(dir).await.map_err(gone)?;
    let mut parts = Vec::new();
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name();
        let Some(number) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(meta) = files::read_json::<PartMeta>(&entry.path()).await? {
            parts.push(UploadedPart {
                part_number: number,
                size: meta.size,
                etag: meta.etag,
            });
        }
    }
    parts.sort_by_key(|p| p.part_number);
    Ok(parts)
}
