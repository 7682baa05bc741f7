//! The `BlobStore` contract, written once and run against every backend by `contract_suite!`.
//! Each test talks to the store the way studio and a browser do: presigned requests over real
//! HTTP, and the trait for the server's own calls.

use std::time::Duration;

use reqwest::StatusCode;
use studio_storage::{BlobKey, CompletedPart, StorageError, UploadId};

use crate::support::{Backend, MIN_PART, bytes, md5_hex};

const TTL: Duration = Duration::from_secs(300);

fn key(s: &str) -> BlobKey {
    BlobKey::parse(s).unwrap()
}

/// Generates one test per contract check for a backend made by `$make`.
macro_rules! contract_suite {
    ($backend:ident, $make:path) => {
        mod $backend {
            contract_suite!(@tests $make;
                single_put_round_trip,
                refuses_wrong_size_type_tampering_and_expiry,
                odd_keys_round_trip,
                multipart_upload_and_resume,
                complete_checks_the_parts,
                abort_discards_the_upload,
                delete_is_idempotent,
                put_file_and_get_to_file,
                copy_round_trip,
                copy_of_a_missing_key_is_not_found,
                copy_with_odd_keys,
                copy_overwrites_the_target,
                copy_onto_itself_keeps_the_object,
                presigned_get_and_head,
            );
        }
    };
    (@tests $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let backend = $make().await;
                super::$name(&backend).await;
            }
        )*
    };
}

contract_suite!(local, crate::support::local_server::local_backend);
contract_suite!(s3, crate::support::s3s::s3_backend);

/// Uploads `data` with a presigned PUT and returns the response's ETag.
async fn put(b: &Backend, k: &BlobKey, data: &[u8], content_type: &str) -> String {
    let req = b
        .store
        .presign_put(k, data.len() as u64, content_type, TTL)
        .unwrap();
    let res = b.send(&req, data.to_vec()).await;
    assert_eq!(res.status(), StatusCode::OK, "PUT {k}");
    etag_of(&res)
}

fn etag_of(res: &reqwest::Response) -> String {
    res.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

async fn get(b: &Backend, k: &BlobKey) -> Vec<u8> {
    let req = b.store.presign_get(k, TTL).unwrap();
    let res = b.send_with(&req, |r| r).await;
    assert_eq!(res.status(), StatusCode::OK, "GET {k}");
    res.bytes().await.unwrap().to_vec()
}

async fn single_put_round_trip(b: &Backend) {
    let k = key("contract/single/clip.mp4");
    let data = bytes(100_000, 1);
    let etag = put(b, &k, &data, "video/mp4").await;
    assert_eq!(etag, md5_hex(&data));

    let meta = b.store.head(&k).await.unwrap().expect("stored");
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(meta.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(get(b, &k).await, data);

    // Range, as a video element asks for it.
    let req = b.store.presign_get(&k, TTL).unwrap();
    let res = b
        .send_with(&req, |r| r.header("range", "bytes=10-19"))
        .await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap(), data[10..20]);

    // Overwrite replaces, size and type included.
    put(b, &k, b"short", "text/plain").await;
    let meta = b.store.head(&k).await.unwrap().unwrap();
    assert_eq!(
        (meta.size, meta.content_type.as_deref()),
        (5, Some("text/plain"))
    );
}

/// Flips one hex digit of the signature, wherever the backend puts it.
fn tamper_signature(url: &str) -> String {
    let at = ["X-Amz-Signature=", "sig="]
        .iter()
        .find_map(|p| url.find(p).map(|i| i + p.len()))
        .expect("signature parameter");
    let mut url = url.to_owned();
    let flipped = if &url[at..=at] == "0" { "1" } else { "0" };
    url.replace_range(at..=at, flipped);
    url
}

async fn refuses_wrong_size_type_tampering_and_expiry(b: &Backend) {
    let k = key("contract/refused/a b.bin");
    let data = bytes(1000, 2);
    let req = b
        .store
        .presign_put(&k, data.len() as u64, "application/octet-stream", TTL)
        .unwrap();
    assert_eq!(req.headers[1].0, "content-type");

    let longer = [data.clone(), vec![0]].concat();
    let res = b.send(&req, longer).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "longer body");
    let res = b.send(&req, data[..999].to_vec()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "shorter body");

    let mut other_type = req.clone();
    other_type.headers[1].1 = "text/html".into();
    let res = b.send(&other_type, data.clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "other type");

    let mut tampered = req.clone();
    tampered.url = tamper_signature(&req.url);
    let res = b.send(&tampered, data.clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "tampered signature");

    let mut other_key = req.clone();
    other_key.url = req.url.replace("/a%20b.bin?", "/c.bin?");
    assert_ne!(other_key.url, req.url);
    let res = b.send(&other_key, data.clone()).await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "URL reused for another key"
    );

    let get = b.store.presign_get(&k, TTL).unwrap();
    let res = b
        .http
        .put(&get.url)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "GET URL used to PUT");

    let short = b
        .store
        .presign_put(
            &k,
            data.len() as u64,
            "application/octet-stream",
            Duration::from_secs(1),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let res = b.send(&short, data.clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "expired");

    assert_eq!(b.store.head(&k).await.unwrap(), None, "nothing was stored");
}

async fn odd_keys_round_trip(b: &Backend) {
    for (i, name) in [
        "odd/with space.mov",
        "odd/plus+sign.mov",
        "odd/été 日本語 ✓.wav",
        "odd/~tilde(1)&'=;,@!$*.txt",
        "odd/question?hash#.txt",
    ]
    .into_iter()
    .enumerate()
    {
        let k = key(name);
        let data = bytes(300 + i, i as u8);
        put(b, &k, &data, "application/octet-stream").await;
        assert_eq!(
            b.store.head(&k).await.unwrap().unwrap().size,
            data.len() as u64,
            "{name}"
        );
        assert_eq!(get(b, &k).await, data, "{name}");
    }
    // `+` is not a space: the key with a space is distinct from one with `+`.
    assert!(
        b.store
            .head(&key("odd/with+space.mov"))
            .await
            .unwrap()
            .is_none()
    );
}

/// Uploads part `n` with a presigned part URL; returns its ETag.
async fn put_part(b: &Backend, k: &BlobKey, upload: &UploadId, n: u32, data: &[u8]) -> String {
    let req = b
        .store
        .presign_upload_part(k, upload, n, data.len() as u64, TTL)
        .unwrap();
    let res = b.send(&req, data.to_vec()).await;
    assert_eq!(res.status(), StatusCode::OK, "part {n}");
    etag_of(&res)
}

async fn multipart_upload_and_resume(b: &Backend) {
    let k = key("contract/multi/big clip+1.mov");
    let upload = b
        .store
        .create_multipart(&k, "video/quicktime")
        .await
        .unwrap();
    let one = bytes(MIN_PART, 3);
    let two = bytes(12_345, 4);

    let etag1 = put_part(b, &k, &upload, 1, &one).await;
    assert_eq!(etag1, md5_hex(&one));

    // A wrong-size part is refused by the signature.
    let req = b
        .store
        .presign_upload_part(&k, &upload, 2, 10, TTL)
        .unwrap();
    assert_eq!(
        b.send(&req, vec![0; 11]).await.status(),
        StatusCode::FORBIDDEN
    );

    // Resume: the client asks what the store already has.
    let listed = b.store.list_parts(&k, &upload).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].part_number, listed[0].size),
        (1, MIN_PART as u64)
    );
    if !b.quirks.lax_uploads {
        assert_eq!(listed[0].etag, etag1);
    }

    let etag2 = put_part(b, &k, &upload, 2, &two).await;
    let listed = b.store.list_parts(&k, &upload).await.unwrap();
    let numbers: Vec<_> = listed.iter().map(|p| (p.part_number, p.size)).collect();
    assert_eq!(numbers, [(1, MIN_PART as u64), (2, two.len() as u64)]);

    let parts = [
        CompletedPart {
            part_number: 1,
            etag: format!("\"{etag1}\""),
        },
        CompletedPart {
            part_number: 2,
            etag: etag2,
        },
    ];
    b.store
        .complete_multipart(&k, &upload, &parts)
        .await
        .unwrap();

    let meta = b.store.head(&k).await.unwrap().expect("assembled");
    assert_eq!(meta.size, (one.len() + two.len()) as u64);
    assert_eq!(meta.content_type.as_deref(), Some("video/quicktime"));
    assert!(
        meta.etag.unwrap().ends_with("-2"),
        "S3-style multipart etag"
    );
    assert_eq!(get(b, &k).await, [one, two].concat());

    // Completed means closed.
    assert!(
        b.store
            .complete_multipart(&k, &upload, &parts)
            .await
            .is_err()
    );
    if !b.quirks.lax_uploads {
        assert!(matches!(
            b.store.list_parts(&k, &upload).await,
            Err(StorageError::NoSuchUpload)
        ));
    }
}

async fn complete_checks_the_parts(b: &Backend) {
    let k = key("contract/multi/checked.bin");
    let upload = b
        .store
        .create_multipart(&k, "application/octet-stream")
        .await
        .unwrap();
    let data = bytes(4096, 5);
    let etag = put_part(b, &k, &upload, 1, &data).await;

    let missing = [
        CompletedPart {
            part_number: 1,
            etag: etag.clone(),
        },
        CompletedPart {
            part_number: 2,
            etag: etag.clone(),
        },
    ];
    let err = b
        .store
        .complete_multipart(&k, &upload, &missing)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidPart(_)), "{err:?}");

    let unordered = [
        CompletedPart {
            part_number: 1,
            etag: etag.clone(),
        },
        CompletedPart {
            part_number: 1,
            etag: etag.clone(),
        },
    ];
    let err = b
        .store
        .complete_multipart(&k, &upload, &unordered)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidPart(_)), "{err:?}");

    if !b.quirks.lax_uploads {
        let wrong = [CompletedPart {
            part_number: 1,
            etag: "0".repeat(32),
        }];
        let err = b
            .store
            .complete_multipart(&k, &upload, &wrong)
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::InvalidPart(_)), "{err:?}");
    }

    // Failed completions leave the upload open: the right list still completes it.
    let right = [CompletedPart {
        part_number: 1,
        etag,
    }];
    b.store
        .complete_multipart(&k, &upload, &right)
        .await
        .unwrap();
    assert_eq!(get(b, &k).await, data);
}

async fn abort_discards_the_upload(b: &Backend) {
    let k = key("contract/multi/aborted.bin");
    let upload = b
        .store
        .create_multipart(&k, "application/octet-stream")
        .await
        .unwrap();
    put_part(b, &k, &upload, 1, &bytes(100, 6)).await;
    b.store.abort_multipart(&k, &upload).await.unwrap();

    match b.store.list_parts(&k, &upload).await {
        Err(StorageError::NoSuchUpload) => {}
        Ok(parts) if b.quirks.lax_uploads => assert!(parts.is_empty()),
        other => panic!("list after abort: {other:?}"),
    }
    // A part URL signed before the abort no longer stores anything.
    let req = b.store.presign_upload_part(&k, &upload, 2, 3, TTL).unwrap();
    assert!(!b.send(&req, vec![1, 2, 3]).await.status().is_success());
    let right = [CompletedPart {
        part_number: 1,
        etag: md5_hex(&bytes(100, 6)),
    }];
    assert!(
        b.store
            .complete_multipart(&k, &upload, &right)
            .await
            .is_err()
    );
    assert_eq!(b.store.head(&k).await.unwrap(), None);

    if !b.quirks.lax_uploads {
        // Aborting what is not open is not an error.
        b.store.abort_multipart(&k, &upload).await.unwrap();
        let never = UploadId("f".repeat(32));
        b.store.abort_multipart(&k, &never).await.unwrap();
    }
}

async fn delete_is_idempotent(b: &Backend) {
    let k = key("contract/delete/me.txt");
    put(b, &k, b"bye", "text/plain").await;
    b.store.delete(&k).await.unwrap();
    assert_eq!(b.store.head(&k).await.unwrap(), None);
    b.store.delete(&k).await.unwrap();
    b.store
        .delete(&key("contract/delete/never/was"))
        .await
        .unwrap();
}

async fn put_file_and_get_to_file(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("proxy.mp4");
    let data = bytes(1_500_000, 7);
    tokio::fs::write(&source, &data).await.unwrap();

    let k = key("contract/files/proxy 720p.mp4");
    b.store.put_file(&k, &source, "video/mp4").await.unwrap();
    let meta = b.store.head(&k).await.unwrap().unwrap();
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(meta.etag.as_deref(), Some(md5_hex(&data).as_str()));

    let dest = dir.path().join("nested/dir/copy.mp4");
    b.store.get_to_file(&k, &dest).await.unwrap();
    assert_eq!(tokio::fs::read(&dest).await.unwrap(), data);
    // Only the file itself is left: the temp file was renamed, not copied.
    let mut entries = tokio::fs::read_dir(dest.parent().unwrap()).await.unwrap();
    let mut names = Vec::new();
    while let Some(e) = entries.next_entry().await.unwrap() {
        names.push(e.file_name());
    }
    assert_eq!(names, ["copy.mp4"]);

    let err = b
        .store
        .get_to_file(&key("contract/files/missing"), &dir.path().join("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound), "{err:?}");
    assert!(!dir.path().join("x").exists());
}

async fn copy_round_trip(b: &Backend) {
    let from = key("contract/copy/source.mp4");
    let to = key("contract/copy/nested/dir/target.mp4");
    let data = bytes(200_000, 8);
    put(b, &from, &data, "video/mp4").await;

    b.store.copy(&from, &to).await.unwrap();
    let meta = b.store.head(&to).await.unwrap().expect("copied");
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(meta.etag.as_deref(), Some(md5_hex(&data).as_str()));
    assert_eq!(get(b, &to).await, data);

    // The source is untouched, and the two are independent afterwards.
    assert_eq!(get(b, &from).await, data);
    b.store.delete(&from).await.unwrap();
    assert_eq!(get(b, &to).await, data);
}

async fn copy_of_a_missing_key_is_not_found(b: &Backend) {
    let missing = key("contract/copy/missing.bin");
    let to = key("contract/copy/never.bin");
    let err = b.store.copy(&missing, &to).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound), "{err:?}");
    assert_eq!(b.store.head(&to).await.unwrap(), None, "nothing created");
    let err = b.store.copy(&missing, &missing).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound), "self-copy: {err:?}");
}

async fn copy_with_odd_keys(b: &Backend) {
    let names = [
        "copy odd/with space.mov",
        "copy odd/plus+sign+.mov",
        "copy odd/été 日本語 ✓.wav",
        "copy odd/~tilde(1)&'=;,@!$*.txt",
        "copy odd/question?hash#.txt",
    ];
    for (i, name) in names.into_iter().enumerate() {
        let from = key(name);
        let data = bytes(500 + i, 20 + i as u8);
        put(b, &from, &data, "application/x-odd+type").await;
        // Both directions: the odd key as source and as destination.
        let to = key(&format!("{name} + copié"));
        b.store.copy(&from, &to).await.unwrap();
        assert_eq!(get(b, &to).await, data, "{name}");
        let back = key(&format!("copy back/{i} +é/{}", name.replace('/', "_")));
        b.store.copy(&to, &back).await.unwrap();
        let meta = b.store.head(&back).await.unwrap().expect("copied back");
        assert_eq!(
            (meta.size, meta.content_type.as_deref()),
            (data.len() as u64, Some("application/x-odd+type")),
            "{name}"
        );
    }
    // `+` stayed a `+`: nothing was written under the key with a space instead.
    assert!(
        b.store
            .head(&key("copy odd/plus sign .mov + copié"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        b.store
            .head(&key("copy odd/plus+sign+.mov   copié"))
            .await
            .unwrap()
            .is_none()
    );
}

async fn copy_overwrites_the_target(b: &Backend) {
    let from = key("contract/copy/new.wav");
    let to = key("contract/copy/existing.wav");
    let old = bytes(300_000, 9);
    let new = bytes(1234, 10);
    put(b, &to, &old, "text/plain").await;
    put(b, &from, &new, "audio/wav").await;

    b.store.copy(&from, &to).await.unwrap();
    let meta = b.store.head(&to).await.unwrap().unwrap();
    assert_eq!(meta.size, new.len() as u64, "size replaced");
    assert_eq!(
        meta.content_type.as_deref(),
        Some("audio/wav"),
        "type replaced"
    );
    assert_eq!(meta.etag.as_deref(), Some(md5_hex(&new).as_str()));
    assert_eq!(get(b, &to).await, new);
}

async fn copy_onto_itself_keeps_the_object(b: &Backend) {
    let k = key("contract/copy/self + été.mov");
    let data = bytes(70_000, 11);
    put(b, &k, &data, "video/quicktime").await;
    b.store.copy(&k, &k).await.unwrap();
    b.store.copy(&k, &k).await.unwrap();
    let meta = b.store.head(&k).await.unwrap().expect("still there");
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.content_type.as_deref(), Some("video/quicktime"));
    assert_eq!(get(b, &k).await, data);
}

/// A presigned GET URL used for `HEAD`: the local store answers it (studio serves GET and HEAD
/// from one grant), with the object's length and type and no body. On S3 the SigV4 signature
/// covers the method, so the same URL is refused: `s3s-fs` answers 403, like AWS.
async fn presigned_get_and_head(b: &Backend) {
    let k = key("contract/head/hello world.txt");
    let data = b"hello, head";
    put(b, &k, data, "text/plain").await;
    let req = b.store.presign_get(&k, TTL).unwrap();
    let res = b.http.head(&req.url).send().await.unwrap();
    match b.store.backend() {
        "local" => {
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(
                res.headers()["content-length"],
                data.len().to_string().as_str()
            );
            assert_eq!(res.headers()["content-type"], "text/plain");
            assert!(res.bytes().await.unwrap().is_empty());
            // reqwest never reads a HEAD body: check on the wire that none is sent.
            let raw = raw_head(&req.url).await;
            let (head, body) = raw.split_once("\r\n\r\n").expect("complete answer");
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            assert!(
                head.to_ascii_lowercase()
                    .contains(&format!("content-length: {}", data.len())),
                "{head}"
            );
            assert_eq!(body, "", "HEAD answered with a body");
        }
        "s3" => assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "a GET signature must not authorize HEAD on S3"
        ),
        other => panic!("unknown backend {other}"),
    }
    // The URL still does what it was signed for.
    assert_eq!(get(b, &k).await, data);
}

/// Sends `HEAD url` over a fresh connection closed after the answer, and returns all of it.
async fn raw_head(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url::Url::parse(url).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let target = format!("{}?{}", url.path(), url.query().unwrap_or(""));
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let request = format!("HEAD {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("server closed the connection")
        .unwrap();
    String::from_utf8(answer).unwrap()
}
