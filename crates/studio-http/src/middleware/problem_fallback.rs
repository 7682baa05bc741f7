//! One error format: an error response produced below the handlers without a problem+json body
//! (axum's router answering 404 or 405, tower-http's body limit answering 413, the timeout's 408)
//! is replaced by the problem+json body of the matching code. Responses that already are
//! problem+json pass untouched.

use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, ErrorCode};

/// The middleware.
pub async fn layer(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // Only bodies nobody chose are replaced: none at all, or the plain text that axum's and
    // tower-http's built-in rejections write. A handler that answered JSON on purpose (`/ready`
    // reports its checks with a 503) or problem+json keeps its body.
    let is_bare = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|ct| ct.as_bytes().starts_with(b"text/plain"));
    if !is_bare {
        return response;
    }
    let code = ErrorCode::for_status(status);
    let detail = match code {
        ErrorCode::RouteNotFound => "No route matches this path.".to_owned(),
        ErrorCode::MethodNotAllowed => "This route does not accept this method.".to_owned(),
        ErrorCode::PayloadTooLarge => "The request body is larger than allowed.".to_owned(),
        ErrorCode::RequestTimeout => "The request took too long to handle.".to_owned(),
        _ => code.title().to_owned(),
    };
    let mut replacement = ApiError::new(code, detail).into_response();
    // Keep what the original response said about itself that clients rely on (`Allow` on 405).
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = response.headers().get(&name) {
            replacement.headers_mut().insert(name, value.clone());
        }
    }
    replacement
}
