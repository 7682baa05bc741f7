//! Mass uploads: every user makes a project, then repeats the upload a frontend does until the
//! run time is over: `POST /api/media/upload-intent`, the bytes to the signed URL (one PUT, or
//! the parts of a multipart upload), `POST /api/media/{id}/complete`, then
//! `GET /api/assets/{id}` every `poll_interval` until the asset is `ready` (or `failed`, or
//! `ready_timeout` passes). Steps: `setup` (the project), `intent`, `put`, `complete`, `ready`
//! (complete → ready as seen by polling, so up to one poll interval late).

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::ScenarioReport;
use super::media::Media;
use super::stats::{Iterations, Step, failure, transport};
use super::users::{self, Load, User};

/// One uploads run.
#[derive(Debug, Clone)]
pub struct UploadsRun {
    pub load: Load,
    pub media: Media,
    /// How often an uploaded asset is looked at while it is processed.
    pub poll_interval: Duration,
    /// Longest wait from `complete` to `ready`.
    pub ready_timeout: Duration,
}

/// Every step's numbers, shared by all users.
struct Steps {
    setup: Step,
    intent: Step,
    put: Step,
    complete: Step,
    ready: Step,
    uploads: Iterations,
}

/// Runs the scenario.
pub async fn run(run: UploadsRun) -> anyhow::Result<ScenarioReport> {
    let steps = Arc::new(Steps {
        setup: Step::new("setup"),
        intent: Step::new("intent"),
        put: Step::new("put"),
        complete: Step::new("complete"),
        ready: Step::new("ready"),
        uploads: Iterations::default(),
    });
    let shared = Arc::new(run.clone());
    let elapsed = users::run(&run.load, run.ready_timeout, |user, schedule| {
        let steps = Arc::clone(&steps);
        let run = Arc::clone(&shared);
        async move {
            let Some(project) = create_project(&user, &steps.setup).await else {
                return;
            };
            while schedule.next().await {
                let started = Instant::now();
                let ok = upload(&user, &project, &run, &steps).await;
                steps.uploads.record(started, ok);
            }
        }
    })
    .await?;

    let mut report = ScenarioReport::new("uploads", "upload", &run.load);
    steps.uploads.fill(
        &mut report,
        &[
            &steps.setup,
            &steps.intent,
            &steps.put,
            &steps.complete,
            &steps.ready,
        ],
        elapsed,
    );
    report.file_bytes = Some(run.media.size());
    report.processes = run.load.peaks();
    Ok(report)
}

/// Creates the user's project; `None` (counted) when that fails.
pub(super) async fn create_project(user: &User, step: &Step) -> Option<String> {
    let started = Instant::now();
    let body = json!({ "name": format!("studio-load {}", user.id) });
    match user
        .api(Method::POST, "/api/projects")
        .json(&body)
        .send()
        .await
    {
        Ok(response) if response.status() == StatusCode::CREATED => {
            match response.json::<Value>().await {
                Ok(project) => {
                    step.ok(started.elapsed());
                    project["id"].as_str().map(str::to_owned)
                }
                Err(err) => {
                    step.error(transport(&err));
                    None
                }
            }
        }
        Ok(response) => {
            step.error(failure(response).await);
            None
        }
        Err(err) => {
            step.error(transport(&err));
            None
        }
    }
}

/// One upload, every step timed; `true` when the asset became `ready`.
async fn upload(user: &User, project: &str, run: &UploadsRun, steps: &Steps) -> bool {
    let media = &run.media;
    let body = json!({
        "projectId": project,
        "filename": media.filename,
        "contentType": media.content_type,
        "size": media.size(),
    });
    let Some(intent) = call(
        &steps.intent,
        user.api(Method::POST, "/api/media/upload-intent")
            .json(&body),
        StatusCode::CREATED,
    )
    .await
    else {
        return false;
    };
    let Some(asset) = intent["assetId"].as_str() else {
        steps.intent.error("no assetId");
        return false;
    };

    let started = Instant::now();
    let parts = if intent["upload"]["method"].is_string() {
        put_single(user, &intent["upload"], media)
            .await
            .map(|()| None)
    } else {
        put_multipart(user, asset, &intent["upload"]["multipart"], media)
            .await
            .map(Some)
    };
    let parts = match parts {
        Ok(parts) => {
            steps.put.ok(started.elapsed());
            parts
        }
        Err(kind) => {
            steps.put.error(kind);
            return false;
        }
    };

    let complete = user.api(Method::POST, &format!("/api/media/{asset}/complete"));
    let complete = match parts {
        Some(parts) => complete.json(&json!({ "parts": parts })),
        None => complete,
    };
    if call(&steps.complete, complete, StatusCode::ACCEPTED)
        .await
        .is_none()
    {
        return false;
    }
    wait_ready(user, asset, run, &steps.ready).await
}

/// Sends `request`; on `expected`, records its latency and returns the JSON body.
pub(super) async fn call(
    step: &Step,
    request: reqwest::RequestBuilder,
    expected: StatusCode,
) -> Option<Value> {
    let started = Instant::now();
    match request.send().await {
        Ok(response) if response.status() == expected => match response.json().await {
            Ok(body) => {
                step.ok(started.elapsed());
                Some(body)
            }
            Err(err) => {
                step.error(transport(&err));
                None
            }
        },
        Ok(response) => {
            step.error(failure(response).await);
            None
        }
        Err(err) => {
            step.error(transport(&err));
            None
        }
    }
}

/// The signed single PUT, with exactly the signed headers (`content-length` is set from the
/// body, as a browser does).
async fn put_single(user: &User, signed: &Value, media: &Media) -> Result<(), String> {
    let method = signed["method"].as_str().unwrap_or("PUT");
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| "bad signed method")?;
    let url = signed["url"].as_str().ok_or("no signed url")?;
    let mut request = user.client.request(method, url);
    if let Some(headers) = signed["headers"].as_object() {
        for (name, value) in headers {
            if !name.eq_ignore_ascii_case("content-length")
                && let Some(value) = value.as_str()
            {
                request = request.header(name, value);
            }
        }
    }
    send_bytes(request.body(media.bytes.clone()))
        .await
        .map(drop)
}

/// Sends a PUT of bytes; the response's ETag on success.
async fn send_bytes(request: reqwest::RequestBuilder) -> Result<Option<String>, String> {
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)),
        Ok(response) => Err(failure(response).await),
        Err(err) => Err(transport(&err)),
    }
}

/// Multipart: part URLs for every part, a PUT per part in order, the parts with their ETags.
async fn put_multipart(
    user: &User,
    asset: &str,
    plan: &Value,
    media: &Media,
) -> Result<Value, String> {
    let part_size = plan["partSize"].as_u64().ok_or("no partSize")? as usize;
    let part_count = plan["partCount"].as_u64().ok_or("no partCount")?;
    let numbers: Vec<u64> = (1..=part_count).collect();
    let response = user
        .api(Method::POST, &format!("/api/media/{asset}/parts"))
        .json(&json!({ "partNumbers": numbers }))
        .send()
        .await
        .map_err(|err| format!("parts: {}", transport(&err)))?;
    if !response.status().is_success() {
        return Err(format!("parts: {}", failure(response).await));
    }
    let urls: Value = response
        .json()
        .await
        .map_err(|err| format!("parts: {}", transport(&err)))?;
    let mut done = Vec::new();
    for part in urls["parts"].as_array().ok_or("parts: no list")? {
        let number = part["partNumber"].as_u64().ok_or("parts: no partNumber")?;
        let start = (number as usize - 1) * part_size;
        let end = (start + part_size).min(media.bytes.len());
        // The signed request's fields sit beside `partNumber`.
        let signed = part;
        let url = signed["url"].as_str().ok_or("parts: no url")?;
        let mut request = user.client.put(url);
        if let Some(headers) = signed["headers"].as_object() {
            for (name, value) in headers {
                if !name.eq_ignore_ascii_case("content-length")
                    && let Some(value) = value.as_str()
                {
                    request = request.header(name, value);
                }
            }
        }
        let etag = send_bytes(request.body(media.bytes.slice(start..end)))
            .await?
            .ok_or("part without ETag")?;
        done.push(json!({ "partNumber": number, "etag": etag }));
    }
    Ok(Value::Array(done))
}

/// Polls the asset until it is `ready` (`true`), `failed` or the deadline passes.
async fn wait_ready(user: &User, asset: &str, run: &UploadsRun, step: &Step) -> bool {
    let started = Instant::now();
    let deadline = started + run.ready_timeout;
    loop {
        match user
            .api(Method::GET, &format!("/api/assets/{asset}"))
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                match body["status"].as_str() {
                    Some("ready") => {
                        step.ok(started.elapsed());
                        return true;
                    }
                    Some("failed") => {
                        let code = body["errorCode"].as_str().unwrap_or("unknown");
                        step.error(format!("asset failed ({code})"));
                        return false;
                    }
                    _ => {}
                }
            }
            // A poll that fails is counted, and polling goes on: the upload is not lost.
            Ok(response) => step.error(format!("poll {}", failure(response).await)),
            Err(err) => step.error(format!("poll {}", transport(&err))),
        }
        if Instant::now() + run.poll_interval > deadline {
            step.error("not ready in time");
            return false;
        }
        tokio::time::sleep(run.poll_interval).await;
    }
}
