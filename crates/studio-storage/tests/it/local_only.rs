//! Checks specific to the local backend: `authorize` in detail, path traversal, body length
//! enforcement, upload ids, and a large streamed upload.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use secrecy::SecretString;
use studio_storage::local::{Denied, Grant, LocalStore};
use studio_storage::{BlobKey, BlobStore, StorageError, UploadId};
use time::OffsetDateTime;

use crate::support::local_server::{SECRET, spawn};
use crate::support::md5_hex;

const TTL: Duration = Duration::from_secs(300);

fn key(s: &str) -> BlobKey {
    BlobKey::parse(s).unwrap()
}

fn query(url: &str) -> &str {
    url.split_once('?').unwrap().1
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[tokio::test]
async fn traversal_is_refused_by_authorize() {
    let (store, _dir, _) = spawn().await;
    let signed = store.presign_get(&key("safe.txt"), TTL).unwrap();
    for raw in [
        "../secret",
        "a/../../secret",
        "/etc/passwd",
        "%2e%2e/secret",
        "..%2Fsecret",
        "..\\secret",
        "a/./b",
        "a//b",
        "",
    ] {
        let got = store.authorize("GET", raw, query(&signed.url), None, None, now());
        assert_eq!(got, Err(Denied::BadKey), "{raw:?}");
    }
}

#[tokio::test]
async fn traversal_is_refused_over_http() {
    let (store, dir, base) = spawn().await;
    tokio::fs::write(dir.path().join("secret"), b"top secret")
        .await
        .unwrap();
    let signed = store.presign_get(&key("safe.txt"), TTL).unwrap();
    let q = query(&signed.url);
    let http = reqwest::Client::new();
    for path in [
        "..%2F..%2Fsecret",
        "%2E%2E%2F%2E%2E%2Fsecret",
        "objects%2F..%2F..%2Fsecret",
        "%2Fetc%2Fpasswd",
        "a%5C..%5C..%5Csecret",
        "%252e%252e/secret",
    ] {
        let res = http
            .get(format!("{base}/storage/{path}?{q}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Dot segments a URL parser resolves itself never reach the handler.
    for path in ["../../secret", "%2e%2e/%2e%2e/secret"] {
        let res = http
            .get(format!("{base}/storage/{path}?{q}"))
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn authorize_binds_method_values_and_expiry() {
    let (store, _dir, _) = spawn().await;
    let k = key("clips/a b+c.mov");
    let put = store.presign_put(&k, 10, "video/quicktime", TTL).unwrap();
    let q = query(&put.url);
    let ok = store.authorize(
        "PUT",
        k.as_str(),
        q,
        Some(10),
        Some("video/quicktime"),
        now(),
    );
    assert_eq!(
        ok,
        Ok(Grant::PutObject {
            key: k.clone(),
            length: 10,
            content_type: "video/quicktime".into()
        })
    );
    let check = |method, len, ty, at| store.authorize(method, k.as_str(), q, len, ty, at);
    let vq = Some("video/quicktime");
    assert_eq!(check("POST", Some(10), vq, now()), Err(Denied::WrongMethod));
    assert_eq!(check("GET", Some(10), vq, now()), Err(Denied::WrongMethod));
    assert_eq!(
        check("PUT", Some(11), vq, now()),
        Err(Denied::LengthMismatch)
    );
    assert_eq!(check("PUT", None, vq, now()), Err(Denied::LengthMismatch));
    assert_eq!(
        check("PUT", Some(10), Some("video/mp4"), now()),
        Err(Denied::TypeMismatch)
    );
    assert_eq!(
        check("PUT", Some(10), None, now()),
        Err(Denied::TypeMismatch)
    );
    let later = now() + Duration::from_secs(301);
    assert_eq!(check("PUT", Some(10), vq, later), Err(Denied::Expired));

    let other = |q: &str| store.authorize("PUT", k.as_str(), q, Some(10), vq, now());
    assert_eq!(
        other(&q.replace("len=10", "len=11")),
        Err(Denied::BadSignature)
    );
    assert_eq!(
        other(&q.replace("len=10", "len=+10")),
        Err(Denied::Malformed)
    );
    assert_eq!(
        other(&q.replace("op=put", "op=get")),
        Err(Denied::Malformed)
    );
    assert_eq!(other(&format!("{q}&len=10")), Err(Denied::Malformed));
    assert_eq!(other(&format!("{q}&x=1")), Err(Denied::Malformed));
    assert_eq!(
        other(&q.replace("&sig=", "&sig=00")),
        Err(Denied::BadSignature)
    );
    assert_eq!(
        store.authorize("PUT", "clips/other.mov", q, Some(10), vq, now()),
        Err(Denied::BadSignature)
    );

    // Content types travel in the query: `+`, `;`, spaces and quotes survive the round trip.
    let odd = "application/vnd.studio+json; charset=\"utf-8\"";
    let signed = store.presign_put(&k, 1, odd, TTL).unwrap();
    let grant = store.authorize(
        "PUT",
        k.as_str(),
        query(&signed.url),
        Some(1),
        Some(odd),
        now(),
    );
    assert!(grant.is_ok(), "{grant:?}");

    let get = store.presign_get(&k, TTL).unwrap();
    for method in ["GET", "HEAD"] {
        let grant = store.authorize(method, k.as_str(), query(&get.url), None, None, now());
        assert_eq!(grant, Ok(Grant::Get { key: k.clone() }));
    }
    let grant = store.authorize("PUT", k.as_str(), query(&get.url), Some(0), None, now());
    assert_eq!(grant, Err(Denied::WrongMethod));

    // Another store's secret does not verify.
    let dir = tempfile::tempdir().unwrap();
    let stranger = LocalStore::new(
        dir.path().to_owned(),
        "http://x".into(),
        SecretString::from("another-secret-another-secret-another"),
    )
    .unwrap();
    let got = stranger.authorize("PUT", k.as_str(), q, Some(10), vq, now());
    assert_eq!(got, Err(Denied::BadSignature));
}

#[tokio::test]
async fn part_urls_bind_upload_and_number() {
    let (store, _dir, _) = spawn().await;
    let k = key("clips/multi.mov");
    let upload = store.create_multipart(&k, "video/quicktime").await.unwrap();
    let part = store.presign_upload_part(&k, &upload, 3, 5, TTL).unwrap();
    let q = query(&part.url);
    let grant = store.authorize("PUT", k.as_str(), q, Some(5), None, now());
    assert_eq!(
        grant,
        Ok(Grant::PutPart {
            key: k.clone(),
            upload: upload.clone(),
            part_number: 3,
            length: 5
        })
    );
    let renumbered = q.replace("part=3", "part=4");
    let got = store.authorize("PUT", k.as_str(), &renumbered, Some(5), None, now());
    assert_eq!(got, Err(Denied::BadSignature));
    let hostile = q.replace(&upload.0, "..%2F..%2Fobjects");
    let got = store.authorize("PUT", k.as_str(), &hostile, Some(5), None, now());
    assert_eq!(got, Err(Denied::Malformed));
}

#[tokio::test]
async fn upload_ids_are_checked_before_use() {
    let (store, _dir, _) = spawn().await;
    let k = key("clips/multi.mov");
    for bad in [
        "../../objects",
        "",
        "ABCDEF0123456789ABCDEF0123456789",
        "a/b",
    ] {
        let id = UploadId(bad.into());
        assert!(matches!(
            store.list_parts(&k, &id).await,
            Err(StorageError::NoSuchUpload)
        ));
        assert!(store.presign_upload_part(&k, &id, 1, 1, TTL).is_err());
        store.abort_multipart(&k, &id).await.unwrap();
    }
    // An upload belongs to its key.
    let upload = store.create_multipart(&k, "video/quicktime").await.unwrap();
    let other = key("clips/other.mov");
    assert!(matches!(
        store.list_parts(&other, &upload).await,
        Err(StorageError::NoSuchUpload)
    ));
    let grant = Grant::PutPart {
        key: other.clone(),
        upload: upload.clone(),
        part_number: 1,
        length: 1,
    };
    let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"x"))]);
    let err = store.write_part(&grant, body).await.unwrap_err();
    assert!(matches!(err, StorageError::NoSuchUpload), "{err:?}");
    store.abort_multipart(&other, &upload).await.unwrap();
    assert!(
        store.list_parts(&k, &upload).await.unwrap().is_empty(),
        "still open"
    );
}

#[tokio::test]
async fn bodies_must_match_the_signed_length() {
    let (store, dir, _) = spawn().await;
    let k = key("clips/exact.bin");
    let grant = Grant::PutObject {
        key: k.clone(),
        length: 6,
        content_type: "a/b".into(),
    };
    let chunks = |parts: Vec<&'static [u8]>| {
        futures::stream::iter(
            parts
                .into_iter()
                .map(|p| Ok::<_, std::io::Error>(bytes::Bytes::from_static(p))),
        )
    };
    for body in [vec![b"abc".as_slice(), b"defg"], vec![b"abc"], vec![]] {
        let err = store.write_object(&grant, chunks(body)).await.unwrap_err();
        assert!(matches!(err, StorageError::InvalidBody(_)), "{err:?}");
    }
    let broken = futures::stream::iter([
        Ok(bytes::Bytes::from_static(b"abc")),
        Err(std::io::Error::other("client went away")),
    ]);
    let err = store.write_object(&grant, broken).await.unwrap_err();
    assert!(matches!(err, StorageError::InvalidBody(_)), "{err:?}");
    assert_eq!(store.head(&k).await.unwrap(), None);

    let meta = store
        .write_object(&grant, chunks(vec![b"abc", b"def"]))
        .await
        .unwrap();
    assert_eq!(meta.etag.as_deref(), Some(md5_hex(b"abcdef").as_str()));
    let (path, served) = store.open_object(&k).await.unwrap().unwrap();
    assert_eq!(tokio::fs::read(&path).await.unwrap(), b"abcdef");
    assert_eq!(served, meta);

    // Refused bodies leave no temp file behind (removal runs in the background).
    assert_no_temp_files(dir.path()).await;
}

/// 64 MiB through HTTP in 64 KiB chunks: nothing in the path holds the whole body.
#[tokio::test]
async fn large_upload_streams() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 1024;
    let (store, _dir, _) = spawn().await;
    let k = key("clips/large.bin");
    let total = (CHUNK * CHUNKS) as u64;
    let req = store
        .presign_put(&k, total, "application/octet-stream", TTL)
        .unwrap();

    let chunk = bytes::Bytes::from(crate::support::bytes(CHUNK, 9));
    let mut md5 = <md5::Md5 as md5::Digest>::new();
    for _ in 0..CHUNKS {
        md5::Digest::update(&mut md5, &chunk);
    }
    let expected = hex::encode(md5::Digest::finalize(md5));
    let body = futures::stream::repeat(chunk)
        .take(CHUNKS)
        .map(Ok::<_, std::io::Error>);
    let res = reqwest::Client::new()
        .put(&req.url)
        .header("content-type", "application/octet-stream")
        .header("content-length", total)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let meta = store.head(&k).await.unwrap().unwrap();
    assert_eq!(meta.size, total);
    assert_eq!(meta.etag, Some(expected));
}

#[test]
fn construction_checks_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let new = |url: &str, secret: &str| {
        LocalStore::new(
            dir.path().to_owned(),
            url.into(),
            SecretString::from(secret),
        )
    };
    new("http://127.0.0.1:8080/", SECRET).unwrap();
    for (url, secret) in [
        ("http://127.0.0.1:8080", "short"),
        ("not a url", SECRET),
        ("ftp://host", SECRET),
        ("http://host/?q=1", SECRET),
    ] {
        assert!(
            matches!(new(url, secret), Err(StorageError::Config(_))),
            "{url}"
        );
    }
    let store = new("http://127.0.0.1:8080/", SECRET).unwrap();
    let url = store.presign_get(&key("a b/c+d é"), TTL).unwrap().url;
    assert!(
        url.starts_with("http://127.0.0.1:8080/storage/a%20b/c%2Bd%20%C3%A9?op=get&exp="),
        "{url}"
    );
    assert!(!format!("{store:?}").contains(SECRET));
}

/// Waits for the background removal of refused temp files; panics if some stay.
async fn assert_no_temp_files(dir: &std::path::Path) {
    let tmp = dir.join("blobs/.tmp");
    for _ in 0..100 {
        if std::fs::read_dir(&tmp).unwrap().next().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("temp files left in {}", tmp.display());
}

/// A copy is renamed into place whole, leaves no temp file, and one that cannot be placed
/// (the target key is a prefix of other keys, so a directory) leaves the store as it was.
#[tokio::test]
async fn copies_are_atomic_and_clean_up() {
    let (store, dir, _) = spawn().await;
    let source = dir.path().join("src.bin");
    let data = crate::support::bytes(3 * 1024 * 1024 + 7, 12);
    tokio::fs::write(&source, &data).await.unwrap();
    let from = key("c/source.bin");
    store
        .put_file(&from, &source, "application/octet-stream")
        .await
        .unwrap();

    let to = key("c/target.bin");
    store.copy(&from, &to).await.unwrap();
    let (path, meta) = store.open_object(&to).await.unwrap().unwrap();
    assert_eq!(tokio::fs::read(&path).await.unwrap(), data);
    assert_eq!(meta.etag.as_deref(), Some(md5_hex(&data).as_str()));
    assert_no_temp_files(dir.path()).await;

    // A key prefix is a directory here, not an object. (`s3s-fs` answers HeadObject on one
    // with a 500, so this is not part of the contract.)
    let err = store.copy(&key("c"), &key("d")).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound), "{err:?}");

    // `c` is a directory: the copy fails, nothing changes, the temp file goes away.
    let err = store.copy(&from, &key("c")).await.unwrap_err();
    assert!(matches!(err, StorageError::Io(_)), "{err:?}");
    assert!(store.head(&to).await.unwrap().is_some());
    assert_eq!(
        store.head(&from).await.unwrap().unwrap().size,
        data.len() as u64
    );
    assert_no_temp_files(dir.path()).await;
}

/// Over 5 GiB (S3's CopyObject limit) the local store refuses too, before reading a byte. The
/// source is a sparse file put in place directly, so the test stays fast.
#[tokio::test]
async fn copies_over_5_gib_are_refused() {
    let (store, dir, _) = spawn().await;
    let from = key("huge/source.mov");
    let path = dir.path().join("blobs/objects/huge/source.mov");
    tokio::fs::create_dir_all(path.parent().unwrap())
        .await
        .unwrap();
    let file = tokio::fs::File::create(&path).await.unwrap();
    file.set_len(studio_storage::MAX_COPY_BYTES + 1)
        .await
        .unwrap();
    drop(file);
    let to = key("huge/copy.mov");
    let err = store.copy(&from, &to).await.unwrap_err();
    assert!(matches!(err, StorageError::InvalidArgument(_)), "{err:?}");
    let err = store.copy(&from, &from).await.unwrap_err();
    assert!(matches!(err, StorageError::InvalidArgument(_)), "{err:?}");
    assert_eq!(store.head(&to).await.unwrap(), None);
    assert_no_temp_files(dir.path()).await;
}
