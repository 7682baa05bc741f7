//! `POST /api/webhooks/storage`: storage reports that an object arrived, and we do what the
//! client's `POST /api/media/{assetId}/complete` does: check the object in storage and confirm
//! its upload (quota settled, `process_asset` job recorded), through the same
//! [`crate::media::confirm_stored`], so webhook, `complete` and the reconciler racing each
//! other still record one job (the database decides).
//!
//! Invariants:
//! - Authenticated before the body is even parsed ([`crate::webhook::auth`]): the configured
//!   bearer token or a Standard Webhooks signature; with neither configured, everything is 401.
//! - The payload only names objects. Size and type are checked in storage, never taken from it;
//!   keys we never issued are ignored.
//! - A multipart upload is never completed here: an object-created event means whoever made the
//!   object already completed it.
//! - Each record stands alone. Records that cannot succeed now (object not there yet, other size
//!   or type, intent expired) are reported and left to `complete` or the reconciler: retrying
//!   them would not help, so they do not fail the delivery. Only a failure on our side
//!   (database or storage unreachable) does: the answer is then 503, so the sender delivers
//!   again, and the records already handled are handled again harmlessly.
//! - De-duplication: a delivery is recorded (`MediaStore::record_webhook_delivery`) only after
//!   its record was handled, under `webhook:{webhook-id}:{index}` when the sender gives an id,
//!   else a key derived from bucket, key and sequencer or entity tag. A repeated delivery for an
//!   asset already confirmed touches neither storage nor the asset; one racing the first
//!   delivery is settled by the database like any other race.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use studio_core::{AssetId, AssetStatus, JobId};
use studio_storage::BlobKey;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{FieldError, Problem};
use crate::webhook::auth::{self, WEBHOOK_ID};
use crate::webhook::payload::{self, ObjectCreated, PayloadError, Record};
use crate::webhook::signature;
use crate::{ApiError, AppState, ErrorCode};

/// What a sender is told to wait before delivering again after a 503: long enough for a
/// database failover or a storage hiccup, short enough that uploads are not held up for long.
const RETRY_AFTER_SECS: u32 = 30;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive_storage_webhook))
        // The body is read as bytes (a signature covers them exactly). The API's own body limit
        // still bounds it; axum's fixed default (2 MiB) would cut it below a larger configured
        // limit.
        .layer(DefaultBodyLimit::disable())
}

/// What happened to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// This delivery confirmed the upload: job recorded, quota settled.
    Confirmed,
    /// The upload was already confirmed (by `complete`, the reconciler or another event).
    AlreadyConfirmed,
    /// This very event was handled before.
    Duplicate,
    /// Nothing to do: not an object-created event, or a key we never issued.
    Ignored,
    /// Cannot be confirmed now (`reason` says why); left to `complete` or the reconciler.
    Deferred,
    /// The record could not be read (`reason`, `pointer`).
    Invalid,
    /// Our side failed (database or storage); the whole delivery answers 503.
    Failed,
}

/// One record's outcome.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordOut {
    /// Position in the notification, from 0.
    pub index: usize,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub asset_id: Option<AssetId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub job_id: Option<JobId>,
    /// For ignored, deferred, invalid and failed records: a stable reason (`unknown_key`,
    /// `other_event`, `invalid_record`, or the error code that stopped it: `upload_incomplete`,
    /// `size_mismatch`, `type_mismatch`, `upload_expired`, `storage_unavailable`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For invalid records: JSON pointer to the offending value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// For invalid records: what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl RecordOut {
    fn new(index: usize, outcome: Outcome) -> Self {
        Self {
            index,
            outcome,
            asset_id: None,
            job_id: None,
            reason: None,
            pointer: None,
            detail: None,
        }
    }

    fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    fn asset(mut self, asset: &AssetId, job: Option<&JobId>) -> Self {
        self.asset_id = Some(asset.clone());
        self.job_id = job.cloned();
        self
    }
}

/// What a delivery did.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageWebhookOut {
    /// Records in the notification.
    pub records: usize,
    pub confirmed: usize,
    pub already_confirmed: usize,
    pub duplicates: usize,
    pub ignored: usize,
    pub deferred: usize,
    pub invalid: usize,
    pub failed: usize,
    /// One entry per record, in order.
    pub results: Vec<RecordOut>,
}

impl StorageWebhookOut {
    fn push(&mut self, record: RecordOut) {
        self.records += 1;
        *match record.outcome {
            Outcome::Confirmed => &mut self.confirmed,
            Outcome::AlreadyConfirmed => &mut self.already_confirmed,
            Outcome::Duplicate => &mut self.duplicates,
            Outcome::Ignored => &mut self.ignored,
            Outcome::Deferred => &mut self.deferred,
            Outcome::Invalid => &mut self.invalid,
            Outcome::Failed => &mut self.failed,
        } += 1;
        self.results.push(record);
    }
}

/// Storage event notifications: S3 (AWS, MinIO), Supabase Storage webhooks and Supabase
/// Database webhooks on `storage.objects`. Authenticated by `Authorization: Bearer <token>`
/// (`storage_webhook_token`) or a Standard Webhooks signature (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`; `storage_webhook_secret`). Each object-created
/// record for a key we issued is checked in storage and confirms its upload, exactly as
/// `complete_upload` would. Idempotent.
#[utoipa::path(
    post, path = "/api/webhooks/storage", tag = "webhooks", operation_id = "receive_storage_webhook",
    request_body(content = Object, description = "An S3, MinIO or Supabase notification", content_type = "application/json"),
    responses(
        (status = 200, description = "Every record handled (some may be ignored or deferred)", body = StorageWebhookOut),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token or signature", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the API allows", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "JSON, but not a known notification", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Some records failed on our side; deliver again (the body's `summary` says which)", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn receive_storage_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<StorageWebhookOut>, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                "The request body is larger than allowed.",
            )
        } else {
            ApiError::new(ErrorCode::BadRequest, rejection.body_text())
        }
    })?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let verified = auth::authenticate(&state.media.webhook, &headers, &body, now).map_err(|r| {
        tracing::info!(webhook.refusal = r.reason(), "storage webhook refused");
        ApiError::new(
            ErrorCode::WebhookUnauthorized,
            format!("The delivery is not authenticated: {r}."),
        )
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    })?;
    let notification = payload::parse(&body).map_err(|err| match err {
        PayloadError::Malformed(why) => ApiError::new(
            ErrorCode::MalformedJson,
            format!("The body is not valid JSON: {why}."),
        ),
        PayloadError::Unrecognized { pointer, message } => ApiError::validation(vec![FieldError {
            pointer,
            code: "unrecognized_notification".to_owned(),
            message,
        }]),
    })?;
    let delivery = auth::header_text(&headers, WEBHOOK_ID).filter(|id| signature::valid_id(id));

    let mut summary = StorageWebhookOut::default();
    for (index, record) in notification.records.into_iter().enumerate() {
        let out = match record {
            Record::Created(event) => {
                let event_key = match delivery {
                    Some(id) => format!("webhook:{id}:{index}"),
                    None => event.event_key(notification.format),
                };
                handle(&state, index, &event, &event_key).await
            }
            Record::Ignored { .. } => {
                RecordOut::new(index, Outcome::Ignored).because("other_event")
            }
            Record::Invalid(err) => RecordOut {
                pointer: Some(err.pointer),
                detail: Some(err.message),
                ..RecordOut::new(index, Outcome::Invalid).because("invalid_record")
            },
        };
        summary.push(out);
    }
    tracing::info!(
        webhook.format = notification.format.as_str(),
        webhook.auth = ?verified,
        webhook.records = summary.records,
        webhook.confirmed = summary.confirmed,
        webhook.already_confirmed = summary.already_confirmed,
        webhook.duplicates = summary.duplicates,
        webhook.ignored = summary.ignored,
        webhook.deferred = summary.deferred,
        webhook.invalid = summary.invalid,
        webhook.failed = summary.failed,
        "storage webhook handled"
    );
    if summary.failed > 0 {
        let detail = format!(
            "{} of {} records could not be handled now; deliver the notification again.",
            summary.failed, summary.records
        );
        let summary = serde_json::to_value(&summary).unwrap_or_default();
        return Err(ApiError::new(ErrorCode::ServiceUnavailable, detail)
            .with_extension("summary", summary)
            .with_header(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS)));
    }
    Ok(Json(summary))
}

/// Confirms the asset of one object-created record, as `complete` would.
async fn handle(
    state: &AppState,
    index: usize,
    event: &ObjectCreated,
    event_key: &str,
) -> RecordOut {
    let unknown = || RecordOut::new(index, Outcome::Ignored).because("unknown_key");
    // Every key we issue is a valid `BlobKey`; anything else cannot be ours, and is not worth
    // a query (nor can it upset one: no NUL or control characters reach the database).
    if BlobKey::parse(&event.key).is_err() {
        return unknown();
    }
    let asset = match state.store.asset_by_key(&event.key).await {
        Ok(Some(asset)) => asset,
        Ok(None) => return unknown(),
        Err(err) => return failed(index, ApiError::from(err)),
    };
    match asset.status {
        AssetStatus::PendingUpload => {}
        AssetStatus::Expired => {
            return RecordOut::new(index, Outcome::Deferred)
                .asset(&asset.id, None)
                .because(ErrorCode::UploadExpired.as_str());
        }
        // Confirmed already: nothing to check or change, only whether we saw this event.
        _ => {
            let outcome = match state.store.record_webhook_delivery(event_key).await {
                Ok(true) => Outcome::AlreadyConfirmed,
                Ok(false) => Outcome::Duplicate,
                Err(err) => {
                    // The asset is confirmed either way; a later duplicate is harmless.
                    tracing::warn!(error = %err, "could not record a webhook delivery");
                    Outcome::AlreadyConfirmed
                }
            };
            return RecordOut::new(index, outcome).asset(&asset.id, asset.job_id.as_ref());
        }
    }
    let confirmed = match crate::media::confirm_stored(state, &asset).await {
        Ok(confirmed) => confirmed,
        Err(err) if err.code.status().is_server_error() => return failed(index, err),
        // Deleted since we read it.
        Err(err) if err.code == ErrorCode::AssetNotFound => return unknown(),
        Err(err) => {
            tracing::info!(
                asset.id = %asset.id,
                webhook.reason = err.code.as_str(),
                "storage webhook could not confirm an upload yet"
            );
            return RecordOut::new(index, Outcome::Deferred)
                .asset(&asset.id, None)
                .because(err.code.as_str());
        }
    };
    // Recorded only now that the record is handled, so a failed attempt is tried again.
    let first = match state.store.record_webhook_delivery(event_key).await {
        Ok(first) => first,
        Err(err) => {
            tracing::warn!(error = %err, "could not record a webhook delivery");
            true
        }
    };
    let outcome = match (confirmed.newly_confirmed, first) {
        (true, _) => Outcome::Confirmed,
        (false, true) => Outcome::AlreadyConfirmed,
        (false, false) => Outcome::Duplicate,
    };
    RecordOut::new(index, outcome).asset(&confirmed.asset.id, Some(&confirmed.job_id))
}

/// A record that failed on our side; the error was logged where it was made.
fn failed(index: usize, err: ApiError) -> RecordOut {
    RecordOut::new(index, Outcome::Failed).because(err.code.as_str())
}
