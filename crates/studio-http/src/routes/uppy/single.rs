//! `GET /s3/params`: an upload intent answered with a signed POST form (Companion's
//! `getUploadParameters`). `@uppy/aws-s3` v6 reads only `url` and `fields` from it and POSTs
//! `multipart/form-data` (the fields, then the file) to `url`; a presigned PUT would not be
//! used, so the local store accepts the same form at `POST /storage`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::{Serialize, Serializer};
use studio_core::AssetId;
use utoipa::ToSchema;

use super::{UppyCaller, UppyFile};
use crate::error::Problem;
use crate::media::storage_error;
use crate::routes::media::{IntentRequest, UploadShape, field, open_upload_intent};
use crate::{ApiError, AppState};

/// Largest file one form upload may carry: S3's limit for a single POST or PUT (5 GiB).
/// Larger files go multipart (Uppy does above 100 MiB by default).
pub const MAX_FORM_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// A signed form, in Companion's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UppyParamsOut {
    /// Always `POST`.
    pub method: &'static str,
    /// Where to POST the form.
    pub url: String,
    /// Field name → value, to send in this order before the file (as the field `file`).
    #[serde(serialize_with = "in_order")]
    #[schema(value_type = Object)]
    pub fields: Vec<(String, String)>,
    /// Seconds the form stays valid (Companion's `expires`).
    pub expires: u64,
    /// The asset the upload creates (also the last segment of `fields.key`).
    pub asset_id: AssetId,
}

/// Serializes pairs as a JSON object, keeping their order.
fn in_order<S: Serializer>(pairs: &[(String, String)], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

/// Sign a form upload (Companion's `GET /s3/params`). Reserves the file's size against the
/// quota and creates the pending asset; the form binds its key, type and size.
#[utoipa::path(
    get, path = "/s3/params", tag = "uppy", operation_id = "get_uppy_upload_params",
    params(
        ("filename" = Option<String>, Query, description = "The file name (Uppy's `file.name`)"),
        ("type" = Option<String>, Query, description = "The file's media type"),
        ("metadata[projectId]" = String, Query, description = "The project to upload to"),
        ("metadata[size]" = u64, Query, description = "The file size in bytes (Uppy's meta `size`)"),
        ("metadata[name]" = Option<String>, Query, description = "The display name (wins over `filename`)"),
    ),
    responses(
        (status = 200, description = "A signed form", body = UppyParamsOut),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Viewers cannot upload", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a video, audio or image type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing project or size, file too large, or quota exceeded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn get_uppy_upload_params(
    State(state): State<AppState>,
    UppyCaller(user): UppyCaller,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<UppyParamsOut>, ApiError> {
    let mut filename = None;
    let mut content_type = None;
    let mut metadata = BTreeMap::new();
    for (name, value) in query {
        match name.as_str() {
            "filename" => filename = Some(value),
            "type" => content_type = Some(value),
            _ => {
                if let Some(meta) = name
                    .strip_prefix("metadata[")
                    .and_then(|n| n.strip_suffix(']'))
                {
                    metadata.insert(meta.to_owned(), value);
                }
            }
        }
    }
    let file = UppyFile::from_request(filename.as_deref(), content_type.as_deref(), &metadata)?;
    if file.size > MAX_FORM_UPLOAD_BYTES {
        return Err(ApiError::validation(vec![field(
            "/metadata/size",
            "too_large_for_one_request",
            format!(
                "one form upload carries at most {MAX_FORM_UPLOAD_BYTES} bytes: upload this file \
                 in parts (Uppy's `shouldUseMultipart`)"
            ),
        )]));
    }
    let opened = open_upload_intent(
        &state,
        user,
        IntentRequest {
            project_id: &file.project_id,
            filename: &file.filename,
            content_type: &file.content_type,
            size: file.size,
            shape: UploadShape::Single,
        },
    )
    .await?;
    let form = state
        .blobs
        .presign_post(
            &opened.key,
            &file.content_type,
            file.size,
            state.media.upload_url_ttl,
        )
        .map_err(storage_error)?;
    Ok(Json(UppyParamsOut {
        method: "POST",
        url: form.url,
        fields: form.fields,
        expires: state.media.upload_url_ttl.as_secs(),
        asset_id: opened.asset.id,
    }))
}
