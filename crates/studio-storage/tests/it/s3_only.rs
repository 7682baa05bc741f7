//! Checks specific to the S3 backend, against `s3s-fs`, and against a scripted fake S3 for
//! answers `s3s-fs` never gives (objects over 5 GiB, errors inside a 200).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use studio_storage::s3::MIN_PART_SIZE;
use studio_storage::{BlobKey, BlobStore, MAX_COPY_BYTES, StorageError};

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

/// A fake S3 endpoint: HeadObject answers with a scripted object (or 404), every PUT with the
/// next scripted answer; it records the requests. It checks no signature.
#[derive(Default)]
struct FakeS3 {
    object_size: Option<u64>,
    put_answers: Mutex<VecDeque<(StatusCode, &'static str)>>,
    seen: Mutex<Vec<(Method, String, HeaderMap)>>,
}

impl FakeS3 {
    async fn start(
        object_size: Option<u64>,
        put_answers: Vec<(StatusCode, &'static str)>,
    ) -> (Arc<Self>, String) {
        let fake = Arc::new(Self {
            object_size,
            put_answers: Mutex::new(put_answers.into()),
            seen: Mutex::default(),
        });
        let app = Router::new().fallback(answer).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, endpoint)
    }

    fn puts(&self) -> Vec<HeaderMap> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(m, _, _)| m == Method::PUT)
            .map(|(_, _, h)| h.clone())
            .collect()
    }
}

async fn answer(State(fake): State<Arc<FakeS3>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().to_string();
    fake.seen
        .lock()
        .unwrap()
        .push((method.clone(), path, request.headers().clone()));
    match method {
        Method::HEAD => match fake.object_size {
            Some(size) => Response::builder()
                .header(header::CONTENT_LENGTH, size)
                .header(header::CONTENT_TYPE, "video/mp4")
                .header(header::ETAG, "\"0123abcd\"")
                .header(header::CACHE_CONTROL, "max-age=60")
                .header("x-amz-meta-camera", "A cam")
                .header("x-amz-storage-class", "STANDARD_IA")
                .header("x-amz-request-id", "not metadata")
                .body(Body::empty())
                .unwrap(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        Method::PUT => {
            let (status, body) = fake
                .put_answers
                .lock()
                .unwrap()
                .pop_front()
                .expect("an answer scripted for this PUT");
            (status, body).into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

const COPIED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyObjectResult>";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// The request S3 documents: the source URL-encoded per segment, the metadata copied, an
/// empty body with its length; and the answer's `CopyObjectResult` read.
#[tokio::test]
async fn copy_sends_an_encoded_copy_source() {
    let (fake, endpoint) = FakeS3::start(Some(10), vec![(StatusCode::OK, COPIED)]).await;
    let store = s3s::store_at(&endpoint);
    let from = BlobKey::parse("in dir/a+b é.mov").unwrap();
    let to = BlobKey::parse("out/c d.mov").unwrap();
    store.copy(&from, &to).await.unwrap();

    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "HeadObject then CopyObject");
    assert_eq!(seen[0].0, Method::HEAD);
    let path = |uri: &str| uri.split_once('?').map_or(uri, |(p, _)| p).to_owned();
    assert_eq!(
        path(&seen[0].1),
        format!("/{}/in%20dir/a%2Bb%20%C3%A9.mov", s3s::BUCKET)
    );
    let (method, uri, headers) = &seen[1];
    assert_eq!(method, Method::PUT);
    assert_eq!(path(uri), format!("/{}/out/c%20d.mov", s3s::BUCKET));
    assert_eq!(
        header(headers, "x-amz-copy-source"),
        Some(format!("/{}/in%20dir/a%2Bb%20%C3%A9.mov", s3s::BUCKET).as_str())
    );
    assert_eq!(header(headers, "x-amz-metadata-directive"), Some("COPY"));
    assert_eq!(header(headers, "content-length"), Some("0"));
    assert_eq!(headers.get_all("content-length").iter().count(), 1);
    assert_eq!(header(headers, "content-type"), None);
    assert_eq!(header(headers, "x-amz-copy-source-if-match"), None);
}

/// A self-copy replaces the metadata with the object's own (S3 refuses an unchanged one), only
/// for the version it read.
#[tokio::test]
async fn self_copy_sends_the_metadata_back() {
    let (fake, endpoint) = FakeS3::start(Some(10), vec![(StatusCode::OK, COPIED)]).await;
    let store = s3s::store_at(&endpoint);
    let k = BlobKey::parse("same key.mov").unwrap();
    store.copy(&k, &k).await.unwrap();

    let puts = fake.puts();
    let headers = &puts[0];
    assert_eq!(header(headers, "x-amz-metadata-directive"), Some("REPLACE"));
    assert_eq!(header(headers, "content-type"), Some("video/mp4"));
    assert_eq!(header(headers, "cache-control"), Some("max-age=60"));
    assert_eq!(header(headers, "x-amz-meta-camera"), Some("A cam"));
    assert_eq!(header(headers, "x-amz-storage-class"), Some("STANDARD_IA"));
    assert_eq!(header(headers, "x-amz-request-id"), None);
    assert_eq!(
        header(headers, "x-amz-copy-source-if-match"),
        Some("\"0123abcd\"")
    );
    // Every header sent is signed (presigned: listed in X-Amz-SignedHeaders).
    let url = url::Url::parse(&format!("http://x{}", fake.seen.lock().unwrap()[1].1)).unwrap();
    assert_eq!(url.path(), format!("/{}/same%20key.mov", s3s::BUCKET));
    let signed = url
        .query_pairs()
        .find(|(name, _)| name == "X-Amz-SignedHeaders")
        .map(|(_, value)| value.into_owned())
        .expect("presigned");
    let signed: Vec<&str> = signed.split(';').collect();
    for name in headers.keys() {
        let name = name.as_str();
        if name.starts_with("x-amz-") || name == "content-type" || name == "cache-control" {
            assert!(signed.contains(&name), "{name} not in {signed:?}");
        }
    }
}

/// Over 5 GiB a single CopyObject cannot work: refused before any copy is attempted.
#[tokio::test]
async fn copy_refuses_sources_over_5_gib() {
    let (fake, endpoint) = FakeS3::start(Some(MAX_COPY_BYTES + 1), Vec::new()).await;
    let store = s3s::store_at(&endpoint);
    let from = BlobKey::parse("huge.mov").unwrap();
    let err = store
        .copy(&from, &BlobKey::parse("huge copy.mov").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidArgument(_)), "{err:?}");
    let err = store.copy(&from, &from).await.unwrap_err();
    assert!(matches!(err, StorageError::InvalidArgument(_)), "{err:?}");
    assert!(fake.puts().is_empty(), "no CopyObject sent");
}

/// S3 documents that a copy failing once started answers 200 with an `<Error>` body (after
/// whitespace it sends to keep the connection open): the body decides, not the status.
#[tokio::test]
async fn copy_reads_errors_inside_200_answers() {
    let answers = vec![
        (
            StatusCode::OK,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n  \n<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>",
        ),
        (StatusCode::OK, "<Error><Code>NoSuchKey</Code></Error>"),
        (
            StatusCode::NOT_FOUND,
            "<Error><Code>NoSuchKey</Code></Error>",
        ),
        (
            StatusCode::NOT_FOUND,
            "<Error><Code>NoSuchBucket</Code></Error>",
        ),
        (StatusCode::OK, ""),
        (StatusCode::OK, "<Unexpected/>"),
        (StatusCode::OK, "\n \n \n"),
    ];
    let (_fake, endpoint) = FakeS3::start(Some(10), answers).await;
    let store = s3s::store_at(&endpoint);
    let (from, to) = (BlobKey::parse("a").unwrap(), BlobKey::parse("b").unwrap());
    let mut errors = Vec::new();
    for _ in 0..7 {
        errors.push(store.copy(&from, &to).await.unwrap_err());
    }
    let message = errors[0].to_string();
    assert!(matches!(errors[0], StorageError::Protocol(_)), "{message}");
    assert!(message.contains("InternalError"), "{message}");
    assert!(
        matches!(errors[1], StorageError::NotFound),
        "{:?}",
        errors[1]
    );
    assert!(
        matches!(errors[2], StorageError::NotFound),
        "{:?}",
        errors[2]
    );
    // A missing bucket is a configuration problem, not a missing object.
    assert!(
        matches!(&errors[3], StorageError::Protocol(m) if m.contains("NoSuchBucket")),
        "{:?}",
        errors[3]
    );
    for e in &errors[4..] {
        assert!(matches!(e, StorageError::Protocol(_)), "{e:?}");
    }
}

/// With the whitespace S3 sends while a long copy runs before its `CopyObjectResult`.
#[tokio::test]
async fn copy_accepts_a_result_after_keepalive_whitespace() {
    let padded: &'static str = Box::leak(format!("{}{COPIED}", " \n".repeat(50)).into_boxed_str());
    let (_fake, endpoint) = FakeS3::start(Some(10), vec![(StatusCode::OK, padded)]).await;
    let store = s3s::store_at(&endpoint);
    store
        .copy(&BlobKey::parse("a").unwrap(), &BlobKey::parse("b").unwrap())
        .await
        .unwrap();
}

/// A missing source is found by the HeadObject: nothing is sent to copy.
#[tokio::test]
async fn copy_of_a_missing_source_sends_no_copy() {
    let (fake, endpoint) = FakeS3::start(None, Vec::new()).await;
    let store = s3s::store_at(&endpoint);
    let err = store
        .copy(&BlobKey::parse("a").unwrap(), &BlobKey::parse("b").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound), "{err:?}");
    assert!(fake.puts().is_empty());
}
