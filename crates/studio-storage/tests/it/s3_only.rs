//! Checks specific to the S3 backend, against `s3s-fs`.

use std::sync::Arc;

use studio_storage::s3::MIN_PART_SIZE;
use studio_storage::{BlobKey, BlobStore, StorageError};

use crate::support::s3s;
use crate::support::{bytes, md5_hex};

/// Above the threshold `put_file` uploads in parts (and the result reads back whole).
#[tokio::test]
async fn put_file_switches_to_multipart() {
    let server = s3s::S3sServer::start().await;
    let store = s3s::store(&server)
        .with_multipart_threshold(MIN_PART_SIZE, MIN_PART_SIZE)
        .unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(store);
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("render.mp4");
    let data = bytes(2 * MIN_PART_SIZE as usize + 1234, 11);
    tokio::fs::write(&source, &data).await.unwrap();

    let key = BlobKey::parse("renders/final cut.mp4").unwrap();
    store.put_file(&key, &source, "video/mp4").await.unwrap();
    let meta = store.head(&key).await.unwrap().unwrap();
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.content_type.as_deref(), Some("video/mp4"));
    assert!(meta.etag.unwrap().ends_with("-3"));

    let copy = dir.path().join("copy.mp4");
    store.get_to_file(&key, &copy).await.unwrap();
    assert_eq!(
        md5_hex(&tokio::fs::read(&copy).await.unwrap()),
        md5_hex(&data)
    );
}

/// Wrong credentials surface as a protocol error naming the S3 code, without the URL.
#[tokio::test]
async fn errors_do_not_leak_signed_urls() {
    let server = s3s::S3sServer::start().await;
    let store = studio_storage::s3::S3Store::from_url(
        &format!("s3://{}?endpoint={}", s3s::BUCKET, server.endpoint),
        "wrong-key".into(),
        secrecy::SecretString::from("wrong-secret"),
        reqwest::Client::new(),
    )
    .unwrap();
    let err = store.head(&BlobKey::parse("a").unwrap()).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StorageError::Protocol(_)), "{message}");
    assert!(message.contains("403"), "{message}");
    assert!(
        !message.contains("X-Amz") && !message.contains("http"),
        "{message}"
    );

    // Connection failures carry no URL either.
    drop(server);
    let store = s3s::store_at("http://127.0.0.1:9");
    let err = store
        .delete(&BlobKey::parse("a").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Transport(_)), "{err}");
    assert!(!err.to_string().contains("X-Amz"), "{err}");
}
