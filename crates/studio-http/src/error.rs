//! The one error path of the HTTP API: every failure becomes an RFC 9457
//! `application/problem+json` body with a stable `code`.
//!
//! The table in [`ErrorCode`] is the single place that maps a code to its HTTP status and title.
//! Lower layers' errors convert into [`ApiError`] with `From`, so handlers use `?`. A 5xx is logged
//! once here, inside the request's span (so the line carries its `request_id`), and the client
//! gets a generic message: internals never leave the process.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:ident, $title:literal)),+ $(,)?) => {
        /// Every error the API can answer, with its stable machine-readable code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            /// The stable code clients match on.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code),+ }
            }
            /// The HTTP status this error is answered with.
            pub fn status(self) -> StatusCode {
                match self { $(Self::$variant => StatusCode::$status),+ }
            }
            /// A short human summary that does not change between occurrences.
            pub fn title(self) -> &'static str {
                match self { $(Self::$variant => $title),+ }
            }
            /// All codes, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant),+];
        }
    };
}

error_codes! {
    BadRequest => ("bad_request", BAD_REQUEST, "Bad request"),
    MalformedJson => ("malformed_json", BAD_REQUEST, "Malformed JSON body"),
    InvalidCursor => ("invalid_cursor", BAD_REQUEST, "Invalid pagination cursor"),
    InvalidQuery => ("invalid_query", BAD_REQUEST, "Invalid query string"),
    Unauthenticated => ("unauthenticated", UNAUTHORIZED, "Authentication required"),
    InvalidToken => ("invalid_token", UNAUTHORIZED, "Invalid token"),
    TokenExpired => ("token_expired", UNAUTHORIZED, "Token expired"),
    WebhookUnauthorized => ("webhook_unauthorized", UNAUTHORIZED, "Webhook delivery not authenticated"),
    Forbidden => ("forbidden", FORBIDDEN, "Forbidden"),
    NotFound => ("not_found", NOT_FOUND, "Not found"),
    ProjectNotFound => ("project_not_found", NOT_FOUND, "Project not found"),
    MemberNotFound => ("member_not_found", NOT_FOUND, "Member not found"),
    AssetNotFound => ("asset_not_found", NOT_FOUND, "Asset not found"),
    JobNotFound => ("job_not_found", NOT_FOUND, "Job not found"),
    FileTooLarge => ("file_too_large", UNPROCESSABLE_ENTITY, "File larger than the plan allows"),
    QuotaExceeded => ("quota_exceeded", UNPROCESSABLE_ENTITY, "Storage quota exceeded"),
    NotMultipart => ("not_multipart", CONFLICT, "The upload is not multipart"),
    NotPending => ("not_pending", CONFLICT, "The upload is already complete"),
    SignatureInvalid => ("signature_invalid", FORBIDDEN, "Invalid or expired signed URL"),
    UploadIncomplete => ("upload_incomplete", CONFLICT, "The upload is not complete"),
    SizeMismatch => ("size_mismatch", CONFLICT, "The stored size differs from the declared size"),
    TypeMismatch => ("type_mismatch", CONFLICT, "The stored type differs from the declared type"),
    UploadExpired => ("upload_expired", GONE, "The upload intent has expired"),
    InvalidPart => ("invalid_part", UNPROCESSABLE_ENTITY, "Invalid multipart part"),
    StorageUnavailable => ("storage_unavailable", BAD_GATEWAY, "Storage is not answering"),
    RouteNotFound => ("route_not_found", NOT_FOUND, "No such route"),
    MethodNotAllowed => ("method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed"),
    RequestTimeout => ("request_timeout", REQUEST_TIMEOUT, "Request timed out"),
    Conflict => ("conflict", CONFLICT, "Conflict"),
    OwnerIsNotAMember => ("owner_is_not_a_member", CONFLICT, "The owner cannot be a member"),
    PayloadTooLarge => ("payload_too_large", PAYLOAD_TOO_LARGE, "Request body too large"),
    UnsupportedMediaType => ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type"),
    ValidationFailed => ("validation_failed", UNPROCESSABLE_ENTITY, "Validation failed"),
    InvalidTimeline => ("invalid_timeline", UNPROCESSABLE_ENTITY, "Invalid timeline"),
    TimelineVersionMismatch => ("timeline_version_mismatch", PRECONDITION_FAILED, "The timeline has changed"),
    DocumentTooLarge => ("document_too_large", PAYLOAD_TOO_LARGE, "Timeline document too large"),
    AssetInUse => ("asset_in_use", CONFLICT, "The asset is used by the timeline"),
    OriginalArchived => ("original_archived", CONFLICT, "The original is in cold storage"),
    UpgradeRequired => ("upgrade_required", UPGRADE_REQUIRED, "WebSocket upgrade required"),
    TooManyRequests => ("too_many_requests", TOO_MANY_REQUESTS, "Too many requests"),
    RateLimited => ("rate_limited", TOO_MANY_REQUESTS, "Rate limit exceeded"),
    UnknownModel => ("unknown_model", UNPROCESSABLE_ENTITY, "Model not available"),
    AiLimitExceeded => ("ai_limit_exceeded", TOO_MANY_REQUESTS, "AI usage limit reached"),
    AiProviderRateLimited => ("ai_provider_rate_limited", TOO_MANY_REQUESTS, "The AI provider is rate limiting"),
    Internal => ("internal", INTERNAL_SERVER_ERROR, "Internal server error"),
    AiProviderRejected => ("ai_provider_rejected", BAD_GATEWAY, "The AI provider rejected the request"),
    AiProviderError => ("ai_provider_error", BAD_GATEWAY, "The AI provider failed"),
    AiUnavailable => ("ai_unavailable", SERVICE_UNAVAILABLE, "No AI provider is configured"),
    AiProviderUnavailable => ("ai_provider_unavailable", SERVICE_UNAVAILABLE, "The AI provider is unavailable"),
    AiProviderTimeout => ("ai_provider_timeout", GATEWAY_TIMEOUT, "The AI provider did not answer in time"),
    AuthUnavailable => ("auth_unavailable", SERVICE_UNAVAILABLE, "Token verification is unavailable"),
    ServiceUnavailable => ("service_unavailable", SERVICE_UNAVAILABLE, "Service unavailable"),
}

impl ErrorCode {
    /// The code a bare status maps to when something below the handlers (the router, a tower
    /// layer) answered without a problem body; see `middleware::problem_fallback`.
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::RouteNotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::REQUEST_TIMEOUT => Self::RequestTimeout,
            StatusCode::UNAUTHORIZED => Self::Unauthenticated,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::CONFLICT => Self::Conflict,
            StatusCode::UNPROCESSABLE_ENTITY => Self::ValidationFailed,
            StatusCode::TOO_MANY_REQUESTS => Self::TooManyRequests,
            StatusCode::SERVICE_UNAVAILABLE => Self::ServiceUnavailable,
            s if s.is_server_error() => Self::Internal,
            _ => Self::BadRequest,
        }
    }
}

/// One failing field of a request, located by a JSON pointer into the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer (RFC 6901) to the offending value, e.g. `/name`.
    pub pointer: String,
    /// Stable code for this field's problem, e.g. `too_long`.
    pub code: String,
    /// Human explanation.
    pub message: String,
}

/// An error on its way to becoming a problem+json response.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    /// Human explanation for this occurrence; never internals for a 5xx.
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra response headers (e.g. `WWW-Authenticate`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
    /// Extension members of the problem body (RFC 9457 §3.2), e.g. the numbers behind
    /// `quota_exceeded`.
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    /// An error with the given code and detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds an extension member to the body.
    pub fn with_extension(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.insert(name.to_owned(), value.into());
        self
    }

    /// A 422 listing every failing field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => "1 field is invalid".to_owned(),
            n => format!("{n} fields are invalid"),
        };
        Self {
            errors,
            ..Self::new(ErrorCode::ValidationFailed, detail)
        }
    }

    /// A 500 whose cause is logged (once, here) but not shown.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(cause), "internal error");
        Self::new(
            ErrorCode::Internal,
            "The server failed to handle the request.",
        )
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// Formats an error with all its sources, `a: b: c`, for a log line.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

/// The problem+json body (RFC 9457), with our `code`, the request id and field errors.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// A URI reference naming the problem type: `/problems/{code}`, which describes it.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// The request id, as echoed in the `x-request-id` header; quote it in bug reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For `validation_failed` and `invalid_timeline`: every failing field, or every problem of
    /// the timeline (its `code` is then a `ViolationCode`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Members specific to the code (e.g. `limitBytes` for `quota_exceeded`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// The base of every problem `type` URI: a relative reference (RFC 9457 allows one), resolved
/// against the API's own address, where `GET /problems/{code}` describes the code.
pub const PROBLEM_TYPE_BASE: &str = "/problems/";

impl Problem {
    fn from_error(err: &ApiError) -> Self {
        Self {
            type_uri: format!("{PROBLEM_TYPE_BASE}{}", err.code.as_str()),
            title: err.code.title().to_owned(),
            status: err.code.status().as_u16(),
            detail: err.detail.clone(),
            code: err.code.as_str().to_owned(),
            request_id: crate::middleware::request_id::current(),
            errors: err.errors.clone(),
            extensions: err.extensions.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem::from_error(&self);
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.code.status(), bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

impl From<studio_db::DbError> for ApiError {
    fn from(err: studio_db::DbError) -> Self {
        match err {
            studio_db::DbError::NotFound => Self::new(ErrorCode::NotFound, "Not found."),
            studio_db::DbError::Conflict { .. } => Self::new(
                ErrorCode::Conflict,
                "The change conflicts with existing data.",
            ),
            other => Self::internal(&other),
        }
    }
}
