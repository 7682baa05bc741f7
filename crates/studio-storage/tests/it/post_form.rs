//! S3 POST Object forms (`BlobStore::presign_post`) against a real `s3s-fs`, which verifies the
//! SigV4 policy signature and enforces every condition the way S3 documents. The local store's
//! forms are served by studio's HTTP layer (`POST /storage`) and tested there.

use std::time::Duration;

use reqwest::StatusCode;
use studio_storage::{BlobKey, BlobStore, PresignedPost};

use crate::support::s3s;
use crate::support::{bytes, md5_hex};

const TTL: Duration = Duration::from_secs(300);
const BOUNDARY: &str = "studio-form-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body: `fields` in order, then the file as `file`, as a browser's
/// `FormData` sends it.
fn form_body(fields: &[(String, String)], file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"blob\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post(form: &PresignedPost, fields: &[(String, String)], file: &[u8]) -> reqwest::Response {
    reqwest::Client::new()
        .post(&form.url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(form_body(fields, file))
        .send()
        .await
        .expect("request sent")
}

fn with(form: &PresignedPost, name: &str, value: &str) -> Vec<(String, String)> {
    form.fields
        .iter()
        .map(|(n, v)| {
            let v = if n == name { value } else { v.as_str() };
            (n.clone(), v.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn s3s_fs_accepts_the_form_and_enforces_its_policy() {
    let server = s3s::S3sServer::start().await;
    let store = s3s::store(&server);
    let key = BlobKey::parse("originals/prj_1/ast_2").unwrap();
    let form = store.presign_post(&key, "video/mp4", 1000, TTL).unwrap();
    assert!(
        form.url.ends_with(&format!("/{}/", s3s::BUCKET)),
        "{}",
        form.url
    );

    // More than the signed largest size: refused, nothing stored.
    let res = post(&form, &form.fields, &bytes(1001, 1)).await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "{:?}",
        res.text().await
    );
    assert_eq!(store.head(&key).await.unwrap(), None);

    // Another key, another type, or a changed policy: refused.
    for (name, value) in [
        ("key", "originals/prj_1/other"),
        ("Content-Type", "image/png"),
        ("x-amz-signature", &"0".repeat(64)),
    ] {
        let res = post(&form, &with(&form, name, value), &bytes(10, 1)).await;
        assert!(res.status().is_client_error(), "{name}: {}", res.status());
    }
    // A field the policy does not name: refused.
    let mut extra = form.fields.clone();
    extra.push(("x-amz-meta-owner".into(), "mallory".into()));
    let res = post(&form, &extra, &bytes(10, 1)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(store.head(&key).await.unwrap(), None);

    // As given: stored with the signed type.
    let data = bytes(1000, 2);
    let res = post(&form, &form.fields, &data).await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "{:?}",
        res.text().await
    );
    let meta = store.head(&key).await.unwrap().expect("stored");
    assert_eq!(meta.size, 1000);
    assert_eq!(meta.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(meta.etag.as_deref(), Some(md5_hex(&data).as_str()));
}
