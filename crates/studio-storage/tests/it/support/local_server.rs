//! A test-only HTTP front for `LocalStore`: the few lines the real HTTP layer needs to serve
//! `/storage/{key}` (authorize, then write or serve the file with `Range` via `ServeFile`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use secrecy::SecretString;
use studio_storage::StorageError;
use studio_storage::local::{Grant, LocalStore};
use time::OffsetDateTime;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::{Backend, Quirks};

pub const SECRET: &str = "test-signing-secret-of-at-least-32-bytes!";

/// A local store in a temp dir behind a server on a free port.
pub async fn local_backend() -> Backend {
    let (store, dir, _) = spawn().await;
    Backend {
        store,
        http: reqwest::Client::new(),
        quirks: Quirks { lax_uploads: false },
        _guard: Box::new(dir),
    }
}

/// The server, the concrete store (for local-only tests) and its base URL.
pub async fn spawn() -> (Arc<LocalStore>, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(
        LocalStore::new(
            dir.path().join("blobs"),
            base.clone(),
            SecretString::from(SECRET),
        )
        .unwrap(),
    );
    let app = Router::new()
        .route("/storage/{*key}", any(storage))
        .with_state(store.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (store, dir, base)
}

async fn storage(
    State(store): State<Arc<LocalStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let headers = request.headers();
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let grant = match store.authorize(
        request.method().as_str(),
        &key,
        query.as_deref().unwrap_or(""),
        content_length,
        content_type,
        OffsetDateTime::now_utc(),
    ) {
        Ok(grant) => grant,
        Err(denied) => return (StatusCode::FORBIDDEN, denied.reason()).into_response(),
    };
    let result = match &grant {
        Grant::PutObject { .. } => store
            .write_object(&grant, request.into_body().into_data_stream())
            .await
            .map(|meta| meta.etag),
        Grant::PutPart { .. } => store
            .write_part(&grant, request.into_body().into_data_stream())
            .await
            .map(|part| Some(part.etag)),
        Grant::Get { key } => {
            return match store.open_object(key).await {
                Ok(Some((path, meta))) => {
                    let mut response = ServeFile::new(path)
                        .oneshot(request)
                        .await
                        .unwrap()
                        .map(Body::new);
                    let headers = response.headers_mut();
                    if let Some(t) = meta.content_type {
                        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(&t).unwrap());
                    }
                    if let Some(e) = meta.etag {
                        headers.insert(header::ETAG, quoted(&e));
                    }
                    response
                }
                Ok(None) => StatusCode::NOT_FOUND.into_response(),
                Err(e) => error_response(e),
            };
        }
    };
    match result {
        Ok(etag) => {
            let mut response = StatusCode::OK.into_response();
            if let Some(etag) = etag {
                response.headers_mut().insert(header::ETAG, quoted(&etag));
            }
            response
        }
        Err(e) => error_response(e),
    }
}

fn quoted(etag: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{etag}\"")).unwrap()
}

fn error_response(e: StorageError) -> Response {
    let status = match e {
        StorageError::InvalidBody(_) => StatusCode::BAD_REQUEST,
        StorageError::NoSuchUpload | StorageError::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, e.to_string()).into_response()
}
