//! `/api/jobs/{jobId}` (a job's state), `/api/jobs/{jobId}/events` (its changes as Server-Sent
//! Events, whichever process runs it) and `/api/assets/{assetId}/reprocess`.
//!
//! A job is visible to the members of the project it works for, found through its payload
//! (`projectId`, or `assetId` → the asset's project); anyone else, and any job that names no
//! project, gets 404 `job_not_found`, so job ids leak nothing.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde::Serialize;
use studio_core::{AssetId, AssetStatus, JobId, ProjectId};
use studio_db::QueueJob;
use studio_queue::{JobEvent, JobOptions};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::extract::asset::AssetAccess;
use crate::extract::auth::AuthUser;
use crate::extract::project::{ProjectAccess, Read, Write};
use crate::media::PROCESS_ASSET_JOB;
use crate::{ApiError, AppState, ErrorCode};

/// How often an idle event stream says it is alive: proxies drop silent connections.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_job))
        .routes(routes!(stream_job_events))
        .routes(routes!(reprocess_asset))
}

/// A job as clients see it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobOut {
    #[schema(value_type = String)]
    pub id: JobId,
    pub kind: String,
    /// `queued`, `active`, `completed`, `failed`, `retrying` or `cancelled`.
    pub state: String,
    /// Attempts so far, the running one included.
    pub attempts: u32,
    pub max_attempts: u32,
    /// Percent, 0 to 100.
    pub progress: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The result, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<OffsetDateTime>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<QueueJob> for JobOut {
    fn from(job: QueueJob) -> Self {
        Self {
            id: job.id,
            kind: job.kind,
            state: job.state.as_str().to_owned(),
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            progress: job.progress,
            stage: job.stage,
            result: job.result.and_then(|r| serde_json::from_str(&r).ok()),
            error_code: job.error_code,
            error: job.error,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            updated_at: job.updated_at,
        }
    }
}

/// One change of a job, as sent on the event stream (event name `job`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobEventOut {
    #[schema(value_type = String)]
    pub job_id: JobId,
    pub state: String,
    pub attempts: u32,
    pub progress: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

impl From<JobEvent> for JobEventOut {
    fn from(event: JobEvent) -> Self {
        Self {
            job_id: event.job_id,
            state: event.state.as_str().to_owned(),
            attempts: event.attempts,
            progress: event.progress,
            stage: event.stage,
            error_code: event.error_code,
            error: event.error,
            at: event.at,
        }
    }
}

fn job_not_found() -> ApiError {
    ApiError::new(ErrorCode::JobNotFound, "No such job.")
}

/// The project a job works for, from its payload.
async fn project_of(state: &AppState, job: &QueueJob) -> Result<Option<ProjectId>, ApiError> {
    let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap_or_default();
    if let Some(project) = payload
        .get("projectId")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<ProjectId>().ok())
    {
        return Ok(Some(project));
    }
    let Some(asset_id) = payload
        .get("assetId")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<AssetId>().ok())
    else {
        return Ok(None);
    };
    Ok(state.store.asset(&asset_id).await?.map(|a| a.project_id))
}

/// Loads the job named in the path, if `user` may read its project.
async fn visible_job(state: &AppState, user: AuthUser, id: &str) -> Result<QueueJob, ApiError> {
    let id: JobId = id.parse().map_err(|_| job_not_found())?;
    let job = state
        .queue
        .status(&id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(job_not_found)?;
    let project = project_of(state, &job).await?.ok_or_else(job_not_found)?;
    ProjectAccess::<Read>::check(state.store.as_ref(), user, &project)
        .await
        .map_err(|err| match err.code {
            ErrorCode::ProjectNotFound => job_not_found(),
            _ => err,
        })?;
    Ok(job)
}

/// A job's state, attempts, progress, stage and error.
#[utoipa::path(
    get, path = "/api/jobs/{jobId}", tag = "jobs", operation_id = "get_job",
    params(("jobId" = String, Path, description = "The job")),
    responses(
        (status = 200, description = "The job", body = JobOut),
        (status = 404, description = "No such job, or no access to its project", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_job(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<JobOut>, ApiError> {
    Ok(Json(visible_job(&state, user, &id).await?.into()))
}

/// Server-Sent Events of every state and progress change of a job, from its current state
/// until it ends (events named `job`, data a `JobEventOut`); works whichever process runs it.
#[utoipa::path(
    get, path = "/api/jobs/{jobId}/events", tag = "jobs", operation_id = "stream_job_events",
    params(("jobId" = String, Path, description = "The job")),
    responses(
        (status = 200, description = "An event stream (`text/event-stream`), one `job` event per change", content_type = "text/event-stream", body = JobEventOut),
        (status = 404, description = "No such job, or no access to its project", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn stream_job_events(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = visible_job(&state, user, &id).await?;
    let events = state.queue.subscribe(job.id).map(|item| {
        let event = match item {
            Ok(event) => {
                let data = serde_json::to_string(&JobEventOut::from(event)).unwrap_or_default();
                Event::default().event("job").data(data)
            }
            Err(err) => {
                // Told once, in the stream's own terms; the client may reconnect.
                tracing::warn!(error = %err, "job event stream failed");
                Event::default()
                    .event("error")
                    .data(r#"{"code":"service_unavailable"}"#)
            }
        };
        Ok::<_, Infallible>(event)
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx buffers responses unless told not to; an event stream must flow.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The queued job.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReprocessOut {
    pub asset_id: AssetId,
    #[schema(value_type = String)]
    pub job_id: JobId,
}

/// Make an uploaded asset's proxy and waveform again (editors and the owner).
#[utoipa::path(
    post, path = "/api/assets/{assetId}/reprocess", tag = "jobs", operation_id = "reprocess_asset",
    params(("assetId" = AssetId, Path, description = "The asset")),
    responses(
        (status = 202, description = "Processing queued", body = ReprocessOut),
        (status = 403, description = "Viewers cannot reprocess", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such asset, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`upload_incomplete`: no confirmed upload yet; `original_archived`: the original is in cold storage and a slow restore is under way (extension `restore`: `started` or `in_progress`): try again once it is done", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn reprocess_asset(
    State(state): State<AppState>,
    access: AssetAccess<Write>,
) -> Result<(StatusCode, Json<ReprocessOut>), ApiError> {
    let asset = access.asset;
    match asset.status {
        // `processing` too: a cancelled or abandoned job can leave an asset there, and a new
        // job is how it gets out. Two jobs on one asset write the same keys and the database
        // makes one transition to `ready`, so a double click costs work, not correctness.
        AssetStatus::Uploaded
        | AssetStatus::Ready
        | AssetStatus::Failed
        | AssetStatus::Processing => {}
        AssetStatus::PendingUpload | AssetStatus::Expired => {
            return Err(ApiError::new(
                ErrorCode::UploadIncomplete,
                "The asset has no confirmed upload to process.",
            ));
        }
    }
    // Reprocessing reads the original: a cold one is restored first (at once when the tier
    // allows; otherwise the restore starts and this answers `original_archived`).
    crate::archive::touch_asset(&state, &asset).await;
    crate::archive::ensure_original_hot(&state, &asset).await?;
    let job_id = JobId::generate();
    let options = JobOptions {
        id: Some(job_id.clone()),
        idempotency_key: Some(format!("{PROCESS_ASSET_JOB}:{}:{job_id}", asset.id)),
        request_id: crate::middleware::request_id::current(),
        ..JobOptions::default()
    };
    let job_id = state
        .queue
        .enqueue(
            PROCESS_ASSET_JOB,
            serde_json::json!({ "assetId": asset.id }),
            options,
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    tracing::info!(asset.id = %asset.id, job.id = %job_id, "reprocessing queued");
    Ok((
        StatusCode::ACCEPTED,
        Json(ReprocessOut {
            asset_id: asset.id,
            job_id,
        }),
    ))
}
