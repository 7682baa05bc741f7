//! The cold tier of both backends: the local store's moves to a cold directory (on the same or
//! another filesystem, crash leftovers, deletes, sweeping), and S3 storage classes changed in
//! place and restored, against moto (`s3s-fs` knows no storage class but STANDARD).

use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use studio_storage::local::LocalStore;
use studio_storage::s3::S3Store;
use studio_storage::{BlobKey, BlobStore, RestoreState, StorageError};
use studio_testkit::moto::{self, MotoServer};

use crate::support::bytes;

fn key(s: &str) -> BlobKey {
    BlobKey::parse(s).unwrap()
}

fn local(root: &Path, cold: Option<&Path>) -> LocalStore {
    let store = LocalStore::new(
        root.to_owned(),
        "http://127.0.0.1:1".to_owned(),
        SecretString::from("k".repeat(32)),
    )
    .unwrap();
    match cold {
        Some(dir) => store.with_cold_dir(dir.to_owned()),
        None => store,
    }
}

async fn put(store: &dyn BlobStore, key: &BlobKey, data: &[u8]) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), data).unwrap();
    store.put_file(key, file.path(), "video/mp4").await.unwrap();
}

async fn get(store: &dyn BlobStore, key: &BlobKey) -> Result<Vec<u8>, StorageError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    store.get_to_file(key, &path).await?;
    Ok(std::fs::read(path).unwrap())
}

/// A directory on another filesystem than the system temp dir when the machine has one
/// (`/dev/shm` is a tmpfs on Linux), so the copy-then-remove path runs; else a plain one.
fn other_filesystem_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

async fn archive_and_restore_round_trip(store: &LocalStore, cold_root: &Path) {
    let original = key("originals/p1/a1");
    let proxy = key("derived/a1/proxy.mp4");
    let data = bytes(300_000, 7);
    put(store, &original, &data).await;
    put(store, &proxy, b"proxy").await;
    let meta = store.head(&original).await.unwrap().unwrap();

    store.archive(&original, "GLACIER").await.unwrap();
    // Cold: not readable through the store, in the cold directory, the proxy untouched.
    assert_eq!(store.head(&original).await.unwrap(), None);
    assert!(matches!(
        get(store, &original).await,
        Err(StorageError::NotFound)
    ));
    assert!(cold_root.join("objects/originals/p1/a1").is_file());
    assert!(store.tier_status(&original).await.unwrap().unwrap().cold);
    assert!(!store.tier_status(&proxy).await.unwrap().unwrap().cold);
    assert_eq!(get(store, &proxy).await.unwrap(), b"proxy");
    // Archiving again is a no-op.
    store.archive(&original, "GLACIER").await.unwrap();

    assert_eq!(
        store.restore(&original, 1).await.unwrap(),
        RestoreState::Ready
    );
    assert_eq!(get(store, &original).await.unwrap(), data);
    // Same bytes, same metadata (the sidecar stayed).
    assert_eq!(store.head(&original).await.unwrap().unwrap(), meta);
    assert!(!cold_root.join("objects/originals/p1/a1").exists());
    assert!(!store.tier_status(&original).await.unwrap().unwrap().cold);
    // Restoring a hot object is a no-op; a missing one is NotFound in every operation.
    assert_eq!(
        store.restore(&original, 1).await.unwrap(),
        RestoreState::Ready
    );
    let missing = key("originals/p1/none");
    assert!(matches!(
        store.archive(&missing, "GLACIER").await,
        Err(StorageError::NotFound)
    ));
    assert!(matches!(
        store.restore(&missing, 1).await,
        Err(StorageError::NotFound)
    ));
    assert_eq!(store.tier_status(&missing).await.unwrap(), None);
}

#[tokio::test]
async fn local_archive_moves_to_the_default_cold_dir_and_back() {
    let root = tempfile::tempdir().unwrap();
    let store = local(root.path(), None);
    archive_and_restore_round_trip(&store, &root.path().join(".cold")).await;
}

#[tokio::test]
async fn local_archive_moves_across_filesystems() {
    let root = tempfile::tempdir().unwrap();
    let cold = other_filesystem_dir();
    let store = local(root.path(), Some(&cold.path().join("cold")));
    archive_and_restore_round_trip(&store, &cold.path().join("cold")).await;
    // Nothing left in the copy areas.
    for tmp in [root.path().join(".tmp"), cold.path().join("cold/.tmp")] {
        if tmp.exists() {
            assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "{tmp:?}");
        }
    }
}

#[tokio::test]
async fn a_crash_mid_move_is_finished_by_the_next_call() {
    let root = tempfile::tempdir().unwrap();
    let cold = other_filesystem_dir();
    let store = local(root.path(), Some(cold.path()));
    let original = key("originals/p/a");
    put(&store, &original, b"whole").await;
    // A crash after the cold copy was renamed into place but before the hot one was removed.
    let cold_copy = cold.path().join("objects/originals/p/a");
    std::fs::create_dir_all(cold_copy.parent().unwrap()).unwrap();
    std::fs::write(&cold_copy, b"whole").unwrap();
    // Restoring keeps the (complete) hot copy and drops the other.
    assert_eq!(
        store.restore(&original, 1).await.unwrap(),
        RestoreState::Ready
    );
    assert!(!cold_copy.exists());
    assert_eq!(get(&store, &original).await.unwrap(), b"whole");
    // Archiving over a stale cold copy replaces it whole.
    std::fs::create_dir_all(cold_copy.parent().unwrap()).unwrap();
    std::fs::write(&cold_copy, b"stale").unwrap();
    store.archive(&original, "GLACIER").await.unwrap();
    assert_eq!(std::fs::read(&cold_copy).unwrap(), b"whole");
}

#[tokio::test]
async fn deleting_a_cold_object_removes_it_from_the_cold_dir() {
    let root = tempfile::tempdir().unwrap();
    let store = local(root.path(), None);
    let original = key("originals/p/gone");
    put(&store, &original, b"bytes").await;
    store.archive(&original, "GLACIER").await.unwrap();
    store.delete(&original).await.unwrap();
    assert_eq!(store.tier_status(&original).await.unwrap(), None);
    assert!(!root.path().join(".cold/objects/originals/p/gone").exists());
}

#[tokio::test]
async fn stale_partial_writes_are_swept_and_fresh_ones_kept() {
    let root = tempfile::tempdir().unwrap();
    let cold = tempfile::tempdir().unwrap();
    let store = local(root.path(), Some(cold.path()));
    let old = root.path().join(".tmp/old.tmp");
    let old_cold = cold.path().join(".tmp/old.tmp");
    std::fs::create_dir_all(old_cold.parent().unwrap()).unwrap();
    for path in [&old, &old_cold] {
        std::fs::write(path, b"partial").unwrap();
        let past = std::time::SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(past)
            .unwrap();
    }
    let fresh = root.path().join(".tmp/fresh.tmp");
    std::fs::write(&fresh, b"in progress").unwrap();
    let removed = store
        .sweep_partial_writes(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(removed, 2);
    assert!(!old.exists() && !old_cold.exists());
    assert!(fresh.exists());
}

// ---- S3, against moto ----------------------------------------------------------------------

fn s3(server: &MotoServer) -> S3Store {
    S3Store::from_url(
        &server.storage_url(),
        moto::ACCESS_KEY.to_owned(),
        SecretString::from(moto::SECRET_KEY),
        reqwest::Client::new(),
    )
    .unwrap()
}

#[tokio::test]
async fn s3_archive_changes_the_storage_class_in_place_and_an_instant_class_restores_at_once() {
    let server = MotoServer::start().await;
    let store = s3(&server);
    let original = key("originals/p/instant");
    let data = bytes(70_000, 3);
    put(&store, &original, &data).await;
    let status = store.tier_status(&original).await.unwrap().unwrap();
    assert!(!status.cold);
    assert_eq!(status.storage_class.as_deref(), Some("STANDARD"));

    store.archive(&original, "STANDARD_IA").await.unwrap();
    let status = store.tier_status(&original).await.unwrap().unwrap();
    assert!(status.cold);
    assert_eq!(status.storage_class.as_deref(), Some("STANDARD_IA"));
    // Same key, same bytes, same content type: a copy in place.
    let meta = store.head(&original).await.unwrap().unwrap();
    assert_eq!(meta.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(meta.size, data.len() as u64);

    assert_eq!(
        store.restore(&original, 1).await.unwrap(),
        RestoreState::Ready
    );
    let status = store.tier_status(&original).await.unwrap().unwrap();
    assert_eq!(status.storage_class.as_deref(), Some("STANDARD"));
    assert_eq!(get(&store, &original).await.unwrap(), data);
}

#[tokio::test]
async fn s3_glacier_needs_a_restore_request_before_it_comes_back() {
    let server = MotoServer::start().await;
    let store = s3(&server);
    let original = key("originals/p/glacier");
    let data = bytes(50_000, 9);
    put(&store, &original, &data).await;
    store.archive(&original, "GLACIER").await.unwrap();
    let status = store.tier_status(&original).await.unwrap().unwrap();
    assert_eq!(status.storage_class.as_deref(), Some("GLACIER"));
    assert_eq!(status.restore_ongoing, None);
    // Archived: not readable until restored.
    assert!(get(&store, &original).await.is_err());

    // The first call asks for the restore.
    assert_eq!(
        store.restore(&original, 2).await.unwrap(),
        RestoreState::Started
    );
    let status = store.tier_status(&original).await.unwrap().unwrap();
    assert!(status.restore_ongoing.is_some(), "{status:?}");
    // moto finishes a restore at once (S3 takes hours, and `restore` answers InProgress
    // meanwhile): the temporary copy is readable until its expiry, and the next call copies the
    // object back to STANDARD for good.
    assert_eq!(status.restore_ongoing, Some(false), "{status:?}");
    assert!(status.restore_expiry.is_some(), "{status:?}");
    assert_eq!(
        store.restore(&original, 2).await.unwrap(),
        RestoreState::Ready
    );
    let status = store.tier_status(&original).await.unwrap().unwrap();
    assert_eq!(status.storage_class.as_deref(), Some("STANDARD"));
    assert_eq!(status.restore_ongoing, None, "a plain STANDARD object now");
    assert_eq!(get(&store, &original).await.unwrap(), data);
}
