//! `/api/projects/{projectId}/timeline`: a project's timeline (the Project JSON) read and
//! written whole, its problems, and its OpenTimelineIO export.
//!
//! Versions: every write adds one to the timeline's version, sent as a strong `ETag: "<n>"`.
//! `PUT` honours `If-Match` (`*`, or the quoted versions it was based on): a stale one answers
//! 412 `timeline_version_mismatch` and changes nothing, so two tabs cannot silently overwrite
//! each other. Without `If-Match` the last write wins: clients that care should always send it.
//! `GET` honours `If-None-Match` with 304.
//!
//! A `PUT` body is parsed and validated whole (`studio_core::timeline`) against the project's
//! assets, and every problem found comes back at once as 422 `invalid_timeline` with an `errors`
//! array of `{pointer, code, message}`. These routes read their body themselves, up to the
//! timeline's `max_document_bytes` (413 `document_too_large` beyond), instead of the API's
//! general body limit, which is smaller by default.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde::Serialize;
use studio_core::timeline::otio::{self, OtioMedia};
use studio_core::timeline::{self, Project};
use studio_core::{AssetStatus, ProjectId};
use studio_db::{AssetRecord, DbError, TimelineWriteError};
use studio_storage::BlobKey;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::extract::project::{ProjectAccess, Read, Write};
use crate::timeline::{
    catalog, frame_rate, invalid, missing_asset_violations, problem_count, stored_problems,
};
use crate::{ApiError, AppState, ErrorCode};

/// Sent with a timeline that has problems found after it was written: how many.
pub const TIMELINE_PROBLEMS: HeaderName = HeaderName::from_static("timeline-problems");
/// Sent with a timeline when the live collaborative document holds a Project JSON that is not
/// valid (and so is not this timeline): how many problems it has.
pub const COLLAB_PROBLEMS: HeaderName = HeaderName::from_static("collab-problems");

/// Timelines change often and must never be served stale: caches revalidate every time (cheap
/// with the `ETag`).
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_timeline, put_timeline))
        .routes(routes!(get_timeline_problems))
        .routes(routes!(export_timeline_otio))
}

/// The strong entity tag of a timeline version: `"<version>"`.
fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits in quotes are a header value")
}

/// The entity tags of `If-Match` / `If-None-Match`: `None` for `*`; otherwise the versions named
/// by the tags (`weak` ones included only when asked: `If-Match` compares strongly).
fn listed_versions(headers: &HeaderMap, name: HeaderName, weak: bool) -> Option<Vec<i64>> {
    let mut versions = Vec::new();
    for value in headers.get_all(name) {
        // A value that is not text names no version of ours.
        let Ok(text) = value.to_str() else { continue };
        for tag in text.split(',').map(str::trim) {
            if tag == "*" {
                return None;
            }
            let tag = match tag.strip_prefix("W/") {
                Some(weak_tag) if weak => weak_tag,
                Some(_) => continue,
                None => tag,
            };
            if let Some(version) = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .and_then(|t| t.parse::<i64>().ok())
            {
                versions.push(version);
            }
        }
    }
    Some(versions)
}

/// A timeline that went away with its project (deleted after the access check).
fn project_gone(err: DbError) -> ApiError {
    match err {
        DbError::NotFound => ApiError::new(ErrorCode::ProjectNotFound, "No such project."),
        other => other.into(),
    }
}

/// 412: the timeline is at `current`, not at a version `If-Match` named.
fn version_mismatch(current: i64) -> ApiError {
    ApiError::new(
        ErrorCode::TimelineVersionMismatch,
        format!(
            "The timeline is at version {current}; read it again and apply your change to that \
             version."
        ),
    )
    .with_extension("currentVersion", current)
    .with_header(header::ETAG, etag(current))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::DocumentTooLarge,
        format!("A timeline document may be at most {limit} bytes."),
    )
    .with_extension("limitBytes", limit)
}

/// The document as the answer of a `GET` or `PUT`.
fn document_response(
    document: &Project,
    version: i64,
    problems: usize,
    collab_problems: usize,
) -> Response {
    let mut response = match serde_json::to_vec(document) {
        Ok(bytes) => bytes.into_response(),
        Err(err) => return ApiError::internal(&err).into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::ETAG, etag(version));
    headers.insert(header::CACHE_CONTROL, NO_CACHE);
    if problems > 0 {
        headers.insert(TIMELINE_PROBLEMS, HeaderValue::from(problems));
    }
    if collab_problems > 0 {
        headers.insert(COLLAB_PROBLEMS, HeaderValue::from(collab_problems));
    }
    response
}

/// The project's current timeline.
#[utoipa::path(
    get, path = "/api/projects/{projectId}/timeline", tag = "timeline", operation_id = "get_timeline",
    params(
        ("projectId" = ProjectId, Path, description = "The project"),
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` already held: 304 when it is still current"),
    ),
    responses(
        (status = 200, description = "The timeline: a Project JSON document (schema: `/api/schema/project.json`)", body = Object,
            headers(
                ("ETag" = String, description = "The version, quoted (`\"3\"`): send it back in `If-Match`"),
                ("timeline-problems" = Option<u32>, description = "How many problems were found after the version was written (see `…/timeline/problems`); absent when none"),
                ("collab-problems" = Option<u32>, description = "How many problems the Project JSON inside the live collaborative document has, which keep it from becoming the timeline (see `…/timeline/problems`); absent when it is valid"),
            )),
        (status = 304, description = "The version named by `If-None-Match` is current"),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_timeline(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let stored = state
        .store
        .timeline(&access.project.id)
        .await
        .map_err(project_gone)?;
    let known = listed_versions(&headers, header::IF_NONE_MATCH, true);
    let unchanged = match &known {
        None => true,
        Some(versions) => versions.contains(&stored.version),
    };
    if headers.contains_key(header::IF_NONE_MATCH) && unchanged {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag(stored.version)),
                (header::CACHE_CONTROL, NO_CACHE),
            ],
        )
            .into_response());
    }
    Ok(document_response(
        &stored.document,
        stored.version,
        problem_count(stored.problems.as_deref()),
        problem_count(stored.collab_problems.as_deref()),
    ))
}

/// Replace the project's timeline (editors and the owner).
///
/// The body is a whole Project JSON document. It is validated against the published schema and
/// the rules (ids, overlaps, lengths, limits) and against the project's assets: each `assetId`
/// must be an asset of this project of a kind the track takes, used within its probed duration.
/// Every problem comes back at once. Send the `ETag` you read as `If-Match`; without it the
/// last write wins.
#[utoipa::path(
    put, path = "/api/projects/{projectId}/timeline", tag = "timeline", operation_id = "put_timeline",
    params(
        ("projectId" = ProjectId, Path, description = "The project"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change is based on (or `*`); absent: last write wins"),
    ),
    request_body(content = Object, content_type = "application/json", description = "A Project JSON document (schema: `/api/schema/project.json`)"),
    responses(
        (status = 200, description = "Stored; the document as stored", body = Object,
            headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 403, description = "Viewers cannot change the timeline", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`timeline_version_mismatch`: the timeline changed since the version named in `If-Match` (extension `currentVersion`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`document_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_timeline`: every problem, in `errors` (`pointer`, `code`, `message`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn put_timeline(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let project = &access.project.id;
    let limits = &state.settings.timeline;
    // Preconditions before the content (RFC 9110 §13.2.2); the write re-checks the version
    // atomically, this only spares validating a document that cannot be stored.
    let if_version = match listed_versions(&headers, header::IF_MATCH, false) {
        Some(versions) if headers.contains_key(header::IF_MATCH) => {
            let current = state
                .store
                .timeline(project)
                .await
                .map_err(project_gone)?
                .version;
            if !versions.contains(&current) {
                return Err(version_mismatch(current));
            }
            Some(current)
        }
        _ => None,
    };
    if !is_json(&headers) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "The timeline must be sent with `Content-Type: application/json`.",
        ));
    }
    let bytes = read_body(&headers, body, limits.max_document_bytes).await?;
    let assets = state.store.list_assets(project).await?;
    // Parsing and checking a large document is tens of milliseconds of CPU (34 ms for 10,000
    // clips, BENCHMARKS.md): off the async runtime's threads, like any CPU-heavy work.
    let check_limits = limits.clone();
    let (document, catalog) = tokio::task::spawn_blocking(move || {
        let catalog = catalog(&assets);
        timeline::parse_and_validate(&bytes, &check_limits, &catalog).map(|doc| (doc, catalog))
    })
    .await
    .map_err(|err| ApiError::internal(&err))?
    .map_err(invalid)?;
    let version = match state
        .store
        .replace_timeline(project, &document, if_version)
        .await
    {
        Ok(version) => version,
        Err(TimelineWriteError::Stale { current }) => return Err(version_mismatch(current)),
        // Deleted between the validation and the write.
        Err(TimelineWriteError::MissingAssets { asset_ids }) => {
            return Err(invalid(missing_asset_violations(&document, &asset_ids)));
        }
        Err(TimelineWriteError::Db(err)) => return Err(project_gone(err)),
    };
    tracing::info!(project.id = %project, timeline.version = version, "timeline written");
    // Editors connected to the project see the new document: it is written into the live Yjs
    // document in one transaction (on whichever node holds it, through the fan-out).
    match serde_json::to_value(&document) {
        Ok(value) => {
            match state.collab.apply_timeline(project, value).await {
                // The live document now holds this valid timeline.
                Ok(()) => {
                    if let Err(err) = state.store.collab_set_problems(project, None).await {
                        tracing::error!(error = %err, "cannot clear the live document's problems");
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot apply the timeline to the collaborative document")
                }
            }
        }
        Err(err) => tracing::error!(error = %err, "cannot encode the timeline"),
    }
    // A clip on an asset not probed yet could not be checked against its duration. If the
    // asset became ready while this request ran, its job's re-check may have looked at the
    // previous version: look again now that this one is stored.
    let unprobed = document.clips().any(|(_, _, clip)| {
        clip.asset_id
            .as_deref()
            .and_then(|id| catalog.get(id))
            .is_some_and(|facts| {
                facts.duration_secs.is_none() && facts.kind != studio_core::AssetKind::Image
            })
    });
    let mut problems = 0;
    if unprobed {
        match crate::timeline::recheck(state.store.as_ref(), project, limits).await {
            Ok(found) => problems = found.len(),
            Err(err) => tracing::error!(error = %err, "cannot re-check the timeline"),
        }
    }
    // This document replaced the live one's timeline, which is valid now.
    Ok(document_response(&document, version, problems, 0))
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(essence) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
    else {
        return false;
    };
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads the whole body, refusing with 413 as soon as it passes `limit` bytes (or announces it
/// will): never more than `limit` bytes are held.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(too_large(limit));
    }
    let capacity = announced.map_or(0, |length| length as usize);
    let mut bytes = Vec::with_capacity(capacity);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("The body could not be read: {err}."),
            )
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// What was found wrong with the current timeline after it was written.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineProblems {
    /// The version these problems are about (the current one).
    pub version: i64,
    /// `{pointer, code, message}` like the errors of `invalid_timeline`; empty when none.
    #[schema(value_type = Vec<crate::error::FieldError>)]
    pub problems: Vec<serde_json::Value>,
    /// The problems of the Project JSON inside the live collaborative document (the Yjs `project`
    /// map), which keep editors' current work from becoming the timeline until they are fixed;
    /// empty when it is valid.
    #[schema(value_type = Vec<crate::error::FieldError>)]
    pub collab_problems: Vec<serde_json::Value>,
}

/// Problems found in the current timeline after it was written: a clip placed on an asset
/// before it was probed may pass the end of the asset, which is only known once it is ready.
#[utoipa::path(
    get, path = "/api/projects/{projectId}/timeline/problems", tag = "timeline", operation_id = "get_timeline_problems",
    params(("projectId" = ProjectId, Path, description = "The project")),
    responses(
        (status = 200, description = "The current version's problems", body = TimelineProblems),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_timeline_problems(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Result<Response, ApiError> {
    let stored = state
        .store
        .timeline(&access.project.id)
        .await
        .map_err(project_gone)?;
    Ok((
        [
            (header::ETAG, etag(stored.version)),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        axum::Json(TimelineProblems {
            version: stored.version,
            problems: stored_problems(stored.problems.as_deref()),
            collab_problems: stored_problems(stored.collab_problems.as_deref()),
        }),
    )
        .into_response())
}

/// The timeline as OpenTimelineIO JSON (`.otio`): a `Timeline` of one `Stack` of tracks, clips
/// with their source ranges and gaps, markers. Media references are signed download URLs (the
/// original for editors and the owner, the proxy for viewers), valid for the configured
/// download URL lifetime.
#[utoipa::path(
    get, path = "/api/projects/{projectId}/timeline.otio", tag = "timeline", operation_id = "export_timeline_otio",
    params(("projectId" = ProjectId, Path, description = "The project")),
    responses(
        (status = 200, description = "An OpenTimelineIO `Timeline.1` document", body = Object),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn export_timeline_otio(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Result<Response, ApiError> {
    crate::archive::touch_project(&state, &access.project.id).await;
    let stored = state
        .store
        .timeline(&access.project.id)
        .await
        .map_err(project_gone)?;
    let assets: HashMap<String, AssetRecord> = state
        .store
        .list_assets(&access.project.id)
        .await?
        .into_iter()
        .map(|asset| (asset.id.to_string(), asset))
        .collect();
    let originals = access.role.can_write();
    let media = |id: &str| -> Option<OtioMedia> {
        let asset = assets.get(id)?;
        Some(OtioMedia {
            name: asset.filename.clone(),
            duration_secs: crate::timeline::facts(asset).duration_secs,
            rate: frame_rate(asset),
            target_url: download_url(&state, asset, originals),
        })
    };
    let document = otio::to_otio(&stored.document, &media);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            // The signed URLs inside expire: never reuse an old answer.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        axum::Json(document),
    )
        .into_response())
}

/// A signed GET URL of the asset's media: the original (for those who may see originals, while
/// it is not in cold storage), else the proxy once it exists.
fn download_url(state: &AppState, asset: &AssetRecord, originals: bool) -> Option<String> {
    let original = originals
        && asset.original_tier == studio_db::OriginalTier::Hot
        && !matches!(
            asset.status,
            AssetStatus::PendingUpload | AssetStatus::Expired
        );
    let key = if original {
        Some(asset.original_key.as_str())
    } else if asset.status == AssetStatus::Ready {
        asset.outputs.proxy_key.as_deref()
    } else {
        None
    }?;
    let key = BlobKey::parse(key).ok()?;
    match state.blobs.presign_get(&key, state.media.download_url_ttl) {
        Ok(signed) => Some(signed.url),
        Err(err) => {
            tracing::warn!(asset.id = %asset.id, error = %err, "cannot sign a download URL");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: HeaderName, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn if_match_names_strong_versions_or_anything() {
        let list = |values: &[&str]| {
            listed_versions(&headers(header::IF_MATCH, values), header::IF_MATCH, false)
        };
        assert_eq!(list(&[]), Some(vec![]));
        assert_eq!(list(&["\"3\""]), Some(vec![3]));
        assert_eq!(list(&["\"3\", \"5\"", "\"7\""]), Some(vec![3, 5, 7]));
        assert_eq!(list(&["\"3\", *"]), None);
        // Weak tags never match strongly; garbage names nothing.
        assert_eq!(list(&["W/\"3\"", "3", "\"x\"", "\"\""]), Some(vec![]));
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let list = |values: &[&str]| {
            listed_versions(
                &headers(header::IF_NONE_MATCH, values),
                header::IF_NONE_MATCH,
                true,
            )
        };
        assert_eq!(list(&["W/\"3\", \"4\""]), Some(vec![3, 4]));
        assert_eq!(list(&["*"]), None);
    }

    #[test]
    fn etags_are_quoted_versions() {
        assert_eq!(etag(12), "\"12\"");
    }
}
