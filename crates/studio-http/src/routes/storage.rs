//! `/storage/{key}`: the local directory store's stand-in for a bucket. Requests carry a URL
//! signed by [`studio_storage::local::LocalStore`]; anything unsigned, tampered, expired or sent
//! with other headers than signed is 403. Uploads stream to disk (no body limit or request
//! timeout applies here: a 4 GiB PUT is normal); downloads support `Range` and `HEAD`.
//!
//! `POST /storage` takes browser form uploads (S3's POST Object, what Uppy sends): a
//! `multipart/form-data` body of the signed fields, then the file as `file`, streamed to disk
//! and refused past the signed size. Fields after the file are not read, as with S3.
//!
//! Only mounted when storage is the local directory: with S3, clients talk to the bucket.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use studio_storage::StorageError;
use studio_storage::local::{Grant, LocalStore};
use time::OffsetDateTime;
use tower::ServiceExt as _;
use tower_http::services::ServeFile;

use crate::{ApiError, ErrorCode};

/// The routes, with the store as their state.
pub fn router(store: Arc<LocalStore>) -> Router {
    Router::new()
        .route(
            "/storage/{*key}",
            put(put_object).get(get_object).head(get_object),
        )
        .route("/storage", post(post_object))
        .with_state(store)
}

fn denied(reason: &'static str) -> ApiError {
    tracing::info!(storage.denied = reason, "signed storage request refused");
    ApiError::new(
        ErrorCode::SignatureInvalid,
        "The signed URL is invalid, expired, or used with other headers than signed.",
    )
}

fn header_u64(request: &Request, name: header::HeaderName) -> Option<u64> {
    request.headers().get(name)?.to_str().ok()?.parse().ok()
}

fn write_error(err: StorageError) -> ApiError {
    match err {
        StorageError::NoSuchUpload => ApiError::new(
            ErrorCode::UploadIncomplete,
            "The multipart upload is no longer open.",
        ),
        StorageError::InvalidBody(why) => ApiError::new(ErrorCode::BadRequest, why),
        other => ApiError::internal(&other),
    }
}

async fn put_object(
    State(store): State<Arc<LocalStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let grant = store
        .authorize(
            Method::PUT.as_str(),
            &key,
            query.as_deref().unwrap_or(""),
            header_u64(&request, header::CONTENT_LENGTH),
            content_type.as_deref(),
            OffsetDateTime::now_utc(),
        )
        .map_err(|d| denied(d.reason()))?;
    let body = request.into_body().into_data_stream();
    let etag = match &grant {
        Grant::PutObject { .. } => store.write_object(&grant, body).await,
        Grant::PutPart { .. } => {
            store
                .write_part(&grant, body)
                .await
                .map(|p| studio_storage::ObjectMeta {
                    size: p.size,
                    content_type: None,
                    etag: Some(p.etag),
                })
        }
        Grant::Get { .. } => return Err(denied("wrong_method")),
    }
    .map_err(write_error)?
    .etag
    .unwrap_or_default();
    let mut response = StatusCode::OK.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

/// Largest form field but the file: the signed fields are a key (≤ 1 KiB) and short values.
const MAX_FORM_FIELD_BYTES: u64 = 8 * 1024;
/// Most fields before the file: the signed form has five; a few more are refused by the check,
/// this only bounds the work.
const MAX_FORM_FIELDS: usize = 16;

fn bad_form(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::BadRequest,
        format!("Expected a multipart/form-data upload form: {why}."),
    )
}

async fn post_object(
    State(store): State<Arc<LocalStore>>,
    request: Request,
) -> Result<Response, ApiError> {
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| bad_form("no multipart boundary"))?;
    let limits = multer::SizeLimit::new()
        .per_field(MAX_FORM_FIELD_BYTES)
        .for_field(studio_storage::FORM_FILE_FIELD, u64::MAX);
    let mut form = multer::Multipart::with_constraints(
        request.into_body().into_data_stream(),
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let mut fields: Vec<(String, String)> = Vec::new();
    while let Some(field) = form.next_field().await.map_err(bad_form)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == studio_storage::FORM_FILE_FIELD {
            let grant = store
                .authorize_post(&fields, OffsetDateTime::now_utc())
                .map_err(|d| denied(d.reason()))?;
            let meta = store
                .write_posted_object(&grant, field)
                .await
                .map_err(write_error)?;
            let mut response = StatusCode::NO_CONTENT.into_response();
            if let Some(etag) = meta
                .etag
                .and_then(|e| HeaderValue::from_str(&format!("\"{e}\"")).ok())
            {
                response.headers_mut().insert(header::ETAG, etag);
            }
            return Ok(response);
        }
        if fields.len() == MAX_FORM_FIELDS {
            return Err(bad_form("too many fields"));
        }
        let value = field.text().await.map_err(bad_form)?;
        fields.push((name, value));
    }
    Err(bad_form("no `file` field"))
}

async fn get_object(
    State(store): State<Arc<LocalStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let grant = store
        .authorize(
            request.method().as_str(),
            &key,
            query.as_deref().unwrap_or(""),
            None,
            None,
            OffsetDateTime::now_utc(),
        )
        .map_err(|d| denied(d.reason()))?;
    let Grant::Get { key } = grant else {
        return Err(denied("wrong_method"));
    };
    let Some((path, meta)) = store
        .open_object(&key)
        .await
        .map_err(|e| ApiError::internal(&e))?
    else {
        return Err(ApiError::new(ErrorCode::NotFound, "No such object."));
    };
    let mut response = ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map(Body::new);
    let headers = response.headers_mut();
    if let Some(content_type) = meta
        .content_type
        .and_then(|t| HeaderValue::from_str(&t).ok())
    {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    if let Some(etag) = meta
        .etag
        .and_then(|e| HeaderValue::from_str(&format!("\"{e}\"")).ok())
    {
        headers.insert(header::ETAG, etag);
    }
    // Media is embedded cross-origin (`<video src>` on the editor's origin); the signature, not
    // the origin, is what protects it.
    headers.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    Ok(response)
}
