//! The local store's cold tier: a second directory (by default `.cold` under the root; usually
//! configured on another, cheaper disk) holding archived objects at `objects/{key}`, with its own
//! `.tmp/` for copies in progress.
//!
//! Moves are crash-safe on one filesystem or across two: a rename when both directories share
//! a filesystem (atomic), otherwise copy into the destination's `.tmp/`, fsync, rename into
//! place, fsync the directory, and only then remove the source. A crash leaves the object in
//! one tier or in both (never in neither, never half-copied in place); the next archive or
//! restore of the key finishes the move, and the sweep removes stale `.tmp/` files.
//!
//! The sidecar (`.meta/`) stays where it is: it is keyed by the object key and still describes
//! the same bytes when they come back. Archive and restore of one key are serialized inside the
//! process; the archiver and every restore run in the API process that owns the store.
//!
//! Reading a cold object is refused, not served from the cold disk: `head`, `open_object` and
//! `get_to_file` see only the hot tier, so a signed GET of a cold original is a 404 and the
//! HTTP layer, which knows the asset's tier, answers `original_archived` and restores first.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::LocalStore;
use crate::files::{self, TempFile};
use crate::{BlobKey, RestoreState, StorageError, TierStatus};

/// The cold directory and the per-key locks of its moves.
pub(super) struct ColdDir {
    root: PathBuf,
    /// Key → lock held while the key moves between tiers. Entries are dropped once unused.
    moving: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ColdDir {
    pub(super) fn new(root: PathBuf) -> Self {
        Self {
            root,
            moving: Mutex::new(HashMap::new()),
        }
    }

    fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }

    fn tmp(&self) -> PathBuf {
        self.root.join(".tmp")
    }
}

/// Holds a key's move lock; removes the map entry when no one else waits for it.
struct MoveGuard<'a> {
    cold: &'a ColdDir,
    key: String,
    lock: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for MoveGuard<'_> {
    fn drop(&mut self) {
        drop(self.lock.take());
        let mut moving = self.cold.moving.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map holds it now: nobody is waiting.
        if moving
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            moving.remove(&self.key);
        }
    }
}

/// Whether `path` is a regular file (a missing one, or a directory, is not).
async fn is_file(path: &Path) -> io::Result<bool> {
    match tokio::fs::metadata(path).await {
        Ok(meta) => Ok(meta.is_file()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Moves the file `from` to `to`: a rename on one filesystem, else copy into `tmp_dir` (on
/// `to`'s filesystem), fsync, rename, then remove `from`; empty directories left above `from`
/// are pruned up to `from_root`.
async fn move_file(
    from: &Path,
    to: &Path,
    tmp_dir: &Path,
    from_root: &Path,
) -> Result<(), StorageError> {
    let parent = to.parent().expect("an object path has a parent");
    tokio::fs::create_dir_all(parent).await?;
    match tokio::fs::rename(from, to).await {
        Ok(()) => files::sync_dir(parent).await,
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            tokio::fs::create_dir_all(tmp_dir).await?;
            let mut temp = TempFile::create(tmp_dir).await?;
            temp.append_file(from).await?;
            temp.commit(to).await?;
            files::remove_file_if_exists(from).await?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StorageError::NotFound),
        Err(e) => return Err(e.into()),
    }
    if let Some(dir) = from.parent() {
        files::sync_dir(dir).await;
    }
    files::prune_empty_parents(from, from_root).await;
    Ok(())
}

/// Removes the regular files directly in `dir` last modified more than `max_age` ago; returns
/// how many. A missing directory has none.
pub(crate) async fn remove_stale_files(dir: &Path, max_age: Duration) -> io::Result<u64> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let now = SystemTime::now();
    let mut removed = 0;
    while let Some(entry) = entries.next_entry().await? {
        let Ok(meta) = entry.metadata().await else {
            continue;
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|at| now.duration_since(at).ok())
            .unwrap_or_default();
        if meta.is_file() && age > max_age {
            files::remove_file_if_exists(&entry.path()).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

impl LocalStore {
    /// Puts archived objects under `dir` (created on first use) instead of the default `.cold`
    /// under the store's root. It may be on another filesystem.
    pub fn with_cold_dir(mut self, dir: PathBuf) -> Self {
        self.cold = ColdDir::new(dir);
        self
    }

    /// The cold directory.
    pub fn cold_dir(&self) -> &Path {
        &self.cold.root
    }

    fn cold_path(&self, key: &BlobKey) -> PathBuf {
        // Every segment of a BlobKey is a plain name: this stays under `objects/`.
        self.cold.objects().join(key.as_str())
    }

    async fn lock_moves(&self, key: &BlobKey) -> MoveGuard<'_> {
        let lock = {
            let mut moving = self.cold.moving.lock().unwrap_or_else(|e| e.into_inner());
            moving.entry(key.as_str().to_owned()).or_default().clone()
        };
        MoveGuard {
            cold: &self.cold,
            key: key.as_str().to_owned(),
            lock: Some(lock.lock_owned().await),
        }
    }

    pub(super) async fn archive_local(&self, key: &BlobKey) -> Result<(), StorageError> {
        let _moving = self.lock_moves(key).await;
        let (hot, cold) = (self.object_path(key), self.cold_path(key));
        if !is_file(&hot).await? {
            // Already cold (archived before, or a crash after the move): nothing to do.
            return if is_file(&cold).await? {
                Ok(())
            } else {
                Err(StorageError::NotFound)
            };
        }
        // A copy left by a crash mid-move is replaced whole by the rename.
        move_file(&hot, &cold, &self.cold.tmp(), &self.layout.objects).await
    }

    pub(super) async fn restore_local(&self, key: &BlobKey) -> Result<RestoreState, StorageError> {
        let _moving = self.lock_moves(key).await;
        let (hot, cold) = (self.object_path(key), self.cold_path(key));
        if is_file(&hot).await? {
            // Never archived, or a crash left both copies: the hot one is complete (it is only
            // removed after the cold one is), so the cold one goes.
            files::remove_file_if_exists(&cold).await?;
            files::prune_empty_parents(&cold, &self.cold.objects()).await;
            return Ok(RestoreState::Ready);
        }
        if !is_file(&cold).await? {
            return Err(StorageError::NotFound);
        }
        move_file(&cold, &hot, &self.layout.tmp, &self.cold.objects()).await?;
        Ok(RestoreState::Ready)
    }

    pub(super) async fn tier_status_local(
        &self,
        key: &BlobKey,
    ) -> Result<Option<TierStatus>, StorageError> {
        let cold = if is_file(&self.object_path(key)).await? {
            false
        } else if is_file(&self.cold_path(key)).await? {
            true
        } else {
            return Ok(None);
        };
        Ok(Some(TierStatus {
            cold,
            storage_class: None,
            restore_ongoing: None,
            restore_expiry: None,
        }))
    }

    /// Removes the cold copy of `key`, if any (deleting an object deletes it in both tiers).
    pub(super) async fn delete_cold(&self, key: &BlobKey) -> Result<(), StorageError> {
        let cold = self.cold_path(key);
        match tokio::fs::remove_file(&cold).await {
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
        files::prune_empty_parents(&cold, &self.cold.objects()).await;
        Ok(())
    }

    /// Removes partial writes older than `max_age` from the store's `.tmp/` and the cold
    /// directory's: what an upload cut off mid-body or a crash mid-move left behind. A write in
    /// progress is never that old: its file's modification time moves with every chunk.
    /// Returns how many files it removed.
    pub async fn sweep_partial_writes(&self, max_age: Duration) -> Result<u64, StorageError> {
        let hot = remove_stale_files(&self.layout.tmp, max_age).await?;
        let cold = remove_stale_files(&self.cold.tmp(), max_age).await?;
        Ok(hot + cold)
    }
}
