//! `/api/ai/chat` and `/api/ai/tts`: AI calls on the user's behalf, streamed back as they are
//! generated. The request body of `/api/ai/chat` is what the Vercel AI SDK's `useChat` sends
//! (`{id, messages: [{id, role, parts: [{type: "text", text}]}], trigger, …}`, unknown fields
//! ignored) or the plain `{messages: [{role, content}]}`; the answer is a UI message stream.
//! The heavy lifting (limits, cache, coalescing, providers) is `studio_ai`'s; see `crate::ai`
//! for the bodies and the error mapping.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use studio_ai::tasks::{ProjectContext, Task};
use studio_ai::{CachePolicy, Caller, ChatMessage, ChatRequest, Role, SpeechRequest};
use studio_core::ProjectId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{FieldError, Problem};
use crate::extract::auth::AuthUser;
use crate::extract::json::ApiJson;
use crate::{ApiError, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chat))
        .routes(routes!(tts))
}

/// Most messages in one conversation.
const MAX_MESSAGES: usize = 200;

/// A generation request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatIn {
    /// The conversation so far, oldest first. May be empty when `task` is set.
    #[serde(default)]
    pub messages: Vec<MessageIn>,
    /// A model the server allows; the server's default when absent.
    pub model: Option<String>,
    /// The project the conversation is about (its name and timeline become the task's context;
    /// with cache scope `project`, answers are shared within it).
    pub project_id: Option<String>,
    /// A server-side prompt template: `video-ideas`, `script` or `titles`.
    pub task: Option<String>,
    /// Sampling temperature, 0 to 2.
    pub temperature: Option<f32>,
    /// At most this many generated tokens (capped by the server).
    pub max_output_tokens: Option<u32>,
}

/// One message: `content` as plain text, or `parts` as the AI SDK's UI messages carry them
/// (only `text` parts are read).
#[derive(Debug, Deserialize, ToSchema)]
pub struct MessageIn {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub parts: Option<Vec<serde_json::Value>>,
}

/// A speech request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TtsIn {
    pub text: String,
    pub voice_id: String,
    pub model: Option<String>,
}

/// Streams a generated answer (Vercel AI SDK UI message stream over SSE).
#[utoipa::path(
    post, path = "/api/ai/chat", tag = "ai", operation_id = "ai_chat",
    request_body = ChatIn,
    responses(
        (status = 200, description = "The answer as a UI message stream (`x-vercel-ai-ui-message-stream: v1`); `x-cache` says HIT, MISS, COALESCED or BYPASS", content_type = "text/event-stream"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid request or unknown model", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "An AI limit of the plan, or the provider's", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No provider configured, or the provider is down", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The provider did not answer in time", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn chat(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChatIn>,
) -> Result<Response, ApiError> {
    let ai = &state.ai;
    let settings = ai.settings();
    let task = body.task.as_deref().map(parse_task).transpose()?;
    let mut messages = messages(&body.messages, settings.max_input_chars)?;
    if messages.is_empty() && task.is_none() {
        return Err(invalid(
            "/messages",
            "required",
            "Send at least one message, or a task.",
        ));
    }
    if let Some(t) = body.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(invalid(
            "/temperature",
            "out_of_range",
            "Must be between 0 and 2.",
        ));
    }
    let (provider, model) = ai.route_chat(body.model.as_deref())?;
    let project = match &body.project_id {
        Some(id) => Some(project_context(&state, &user, id).await?),
        None => None,
    };
    if let Some(task) = task {
        messages = studio_ai::tasks::apply(task, project.as_ref().map(|(_, c)| c), messages);
    }
    let request = ChatRequest {
        model,
        messages,
        temperature: body.temperature,
        max_output_tokens: body.max_output_tokens.unwrap_or(settings.max_output_tokens),
    };
    let caller = caller(&state, &user, project.map(|(id, _)| id.to_string())).await?;
    let answer = ai
        .chat(&caller, provider, request, cache_policy(&headers))
        .await?;
    let cache = answer.cache.header_value();
    let message_id = format!("msg-{:032x}", rand::random::<u128>());
    let body = crate::ai::ui_message_stream(answer, message_id, settings.keep_alive);
    Ok(streaming(body, "text/event-stream", cache, true))
}

/// Streams speech for a text (`audio/mpeg`), as the provider produces it.
#[utoipa::path(
    post, path = "/api/ai/tts", tag = "ai", operation_id = "ai_tts",
    request_body = TtsIn,
    responses(
        (status = 200, description = "The audio, streamed; `x-cache` as for chat", content_type = "audio/mpeg"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid request or unknown model", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "An AI limit of the plan, or the provider's", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No provider configured, or the provider is down", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The provider did not answer in time", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn tts(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TtsIn>,
) -> Result<Response, ApiError> {
    let ai = &state.ai;
    let characters = body.text.chars().count();
    if body.text.trim().is_empty() {
        return Err(invalid("/text", "required", "Say something."));
    }
    if characters > ai.settings().max_speech_chars {
        return Err(invalid(
            "/text",
            "too_long",
            &format!("At most {} characters.", ai.settings().max_speech_chars),
        ));
    }
    let voice_ok = (1..=64).contains(&body.voice_id.len())
        && body
            .voice_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !voice_ok {
        return Err(invalid(
            "/voiceId",
            "invalid",
            "Letters, digits, `_` and `-`, at most 64.",
        ));
    }
    let (provider, model) = ai.route_speech(body.model.as_deref())?;
    let request = SpeechRequest {
        voice_id: body.voice_id,
        model,
        text: body.text,
    };
    let caller = caller(&state, &user, None).await?;
    let answer = ai
        .speech(&caller, provider, request, cache_policy(&headers))
        .await?;
    let cache = answer.cache.header_value();
    let content_type = answer.content_type.clone();
    let body = crate::ai::audio_stream(answer.audio);
    Ok(streaming(body, &content_type, cache, false))
}

fn streaming(body: Body, content_type: &str, cache: &'static str, ui_stream: bool) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx and similar proxies buffer responses unless told not to.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert("x-cache", HeaderValue::from_static(cache));
    if ui_stream {
        headers.insert(
            studio_ai::uistream::PROTOCOL_HEADER,
            HeaderValue::from_static(studio_ai::uistream::PROTOCOL_VERSION),
        );
    }
    response
}

fn cache_policy(headers: &HeaderMap) -> CachePolicy {
    let values: Vec<&str> = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    CachePolicy::from_cache_control(Some(&values.join(",")))
}

async fn caller(
    state: &AppState,
    user: &AuthUser,
    project: Option<String>,
) -> Result<Caller, ApiError> {
    Ok(Caller {
        user: user.user_id.clone(),
        plan: state.store.user_plan(&user.user_id).await?,
        project,
    })
}

fn parse_task(task: &str) -> Result<Task, ApiError> {
    serde_json::from_value(serde_json::Value::String(task.to_owned())).map_err(|_| {
        invalid(
            "/task",
            "unknown_task",
            "One of `video-ideas`, `script`, `titles`.",
        )
    })
}

/// The project (which the caller must be able to read) and what a task may tell the model
/// about it.
async fn project_context(
    state: &AppState,
    user: &AuthUser,
    id: &str,
) -> Result<(ProjectId, ProjectContext), ApiError> {
    let not_found = || ApiError::new(ErrorCode::ProjectNotFound, "No such project.");
    let id: ProjectId = id.parse().map_err(|_| not_found())?;
    let project = state
        .store
        .project_for_user(&id, &user.user_id)
        .await?
        .ok_or_else(not_found)?;
    let timeline = state.store.timeline(&id).await?;
    Ok((
        id,
        ProjectContext {
            name: project.project.name,
            timeline: timeline.document,
        },
    ))
}

/// The messages as text, checked: known roles, at most [`MAX_MESSAGES`], at most
/// `max_chars` characters in all.
fn messages(input: &[MessageIn], max_chars: usize) -> Result<Vec<ChatMessage>, ApiError> {
    if input.len() > MAX_MESSAGES {
        return Err(invalid(
            "/messages",
            "too_many",
            &format!("At most {MAX_MESSAGES} messages."),
        ));
    }
    let mut total = 0;
    let mut out = Vec::with_capacity(input.len());
    for (i, message) in input.iter().enumerate() {
        let role = match message.role.as_str() {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => {
                return Err(invalid(
                    &format!("/messages/{i}/role"),
                    "invalid",
                    "One of `system`, `user`, `assistant`.",
                ));
            }
        };
        let content = match (&message.content, &message.parts) {
            (Some(content), _) => content.clone(),
            (None, Some(parts)) => parts
                .iter()
                .filter(|part| part.get("type").and_then(|t| t.as_str()) == Some("text"))
                .filter_map(|part| part.get("text").and_then(|t| t.as_str()))
                .collect::<Vec<_>>()
                .join(""),
            (None, None) => {
                return Err(invalid(
                    &format!("/messages/{i}"),
                    "required",
                    "A message needs `content` or `parts`.",
                ));
            }
        };
        total += content.chars().count();
        if total > max_chars {
            return Err(invalid(
                "/messages",
                "too_long",
                &format!("At most {max_chars} characters in all."),
            ));
        }
        out.push(ChatMessage { role, content });
    }
    Ok(out)
}

fn invalid(pointer: &str, code: &str, message: &str) -> ApiError {
    ApiError::validation(vec![FieldError {
        pointer: pointer.to_owned(),
        code: code.to_owned(),
        message: message.to_owned(),
    }])
}
