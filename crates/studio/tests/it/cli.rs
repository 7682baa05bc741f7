//! The real `studio` binary: `--help`, configuration errors, `token`, `migrate`, `schema`, the
//! generated secret, JSON logs with request ids, and graceful shutdown on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

use crate::support::process::{
    SECRET, STUDIO, database, mint, output, serve, studio, terminate, tokio_stream_from,
};

#[tokio::test]
async fn help_documents_every_subcommand() {
    let out = output({
        let mut c = Command::new(STUDIO);
        c.arg("--help");
        c
    })
    .await;
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in ["serve", "worker", "migrate", "token", "schema", "storage"] {
        assert!(text.contains(sub), "{sub} missing from:\n{text}");
    }
}

#[tokio::test]
async fn bad_configuration_names_every_bad_setting_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = studio(dir.path(), "mysql://nope");
    command
        .env("STUDIO_BIND", "not-an-address")
        .env("STUDIO_JWT_SECRET", "tooshort")
        .arg("serve");
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stderr).unwrap();
    for key in ["STUDIO_BIND", "STUDIO_DATABASE_URL", "STUDIO_JWT_SECRET"] {
        assert!(text.contains(key), "{key} missing from:\n{text}");
    }
    assert!(!text.contains("tooshort"), "the secret leaked: {text}");
}

/// `studio schema` prints the timeline's JSON Schema (what `scripts/gen-clients.sh` generates the
/// TypeScript client from), pretty, and nothing else; it needs no working configuration.
#[tokio::test]
async fn schema_prints_the_timeline_json_schema_without_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = studio(dir.path(), "mysql://nope");
    command.env("STUDIO_BIND", "not-an-address").arg("schema");
    let out = output(command).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let printed: Value = serde_json::from_str(&text).expect("the schema is JSON");
    assert_eq!(&printed, studio_core::timeline::json_schema());
    assert_eq!(
        printed["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(text.starts_with("{\n  \""), "pretty-printed: {text:.40}");
    assert!(text.ends_with("}\n"), "one trailing newline");
}

#[tokio::test]
async fn migrate_then_serve_with_a_generated_secret_and_a_minted_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let mut migrate = studio(dir.path(), &db.url);
    migrate.arg("migrate");
    let out = output(migrate).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Serving without a configured secret generates one in the data dir, readable only by us.
    let (child, url, logs) = serve(studio(dir.path(), &db.url)).await;
    let secret_file = dir.path().join("data/jwt-secret");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&secret_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // `studio token` signs with that same secret and prints nothing but the token.
    let mut token_cmd = studio(dir.path(), &db.url);
    token_cmd.args(["token", "alice"]);
    let out = output(token_cmd).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim_end();
    assert_eq!(stdout.lines().count(), 1);
    assert_eq!(token.split('.').count(), 3);

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{url}/api/projects"))
        .bearer_auth(token)
        .header("x-request-id", "cli-test-1")
        .json(&json!({"name": "From the CLI"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    terminate(&child).await;
    let lines = logs.await.unwrap();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let request_lines: Vec<&Value> = parsed
        .iter()
        .filter(|l| l["request_id"] == "cli-test-1")
        .collect();
    assert!(
        request_lines
            .iter()
            .any(|l| l["message"] == "project created"),
        "handler lines carry the request id: {lines:?}"
    );
    let access = request_lines
        .iter()
        .find(|l| l["message"] == "request finished")
        .expect("one access line");
    assert_eq!(access["http.method"], "POST");
    assert_eq!(access["http.route"], "/api/projects");
    assert_eq!(access["http.status"], 201);
    assert!(access["latency_ms"].is_number());
    let all = lines.join("\n");
    assert!(!all.contains(token), "the token was logged");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    assert!(!all.contains(secret.trim()), "the secret was logged");
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let secret = SECRET;
    let mut command = studio(dir.path(), &db.url);
    // Postgres does not migrate on start by default; this test has no `studio migrate` step.
    command
        .env("STUDIO_JWT_SECRET", secret)
        .env("STUDIO_AUTO_MIGRATE", "true");
    let (mut child, url, _logs) = serve(command).await;
    let token = mint(secret);

    // A request whose body is still arriving when SIGTERM comes.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn(
        client
            .post(format!("{url}/api/projects"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send(),
    );
    tx.send(Ok(b"{\"name\":".to_vec())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    terminate(&child).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(Ok(b"\"finished after SIGTERM\"}".to_vec()))
        .await
        .unwrap();
    drop(tx);

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), 201);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("studio exits after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    // No longer accepting.
    assert!(client.get(format!("{url}/health")).send().await.is_err());
}

#[tokio::test]
async fn a_request_still_running_at_the_shutdown_deadline_does_not_hold_the_exit() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let mut command = studio(dir.path(), &db.url);
    command
        .env("STUDIO_AUTO_MIGRATE", "true")
        .env("STUDIO_JWT_SECRET", SECRET)
        .env("STUDIO_SHUTDOWN_TIMEOUT_SECS", "1");
    let (mut child, url, _logs) = serve(command).await;

    // A body that never finishes: the request stays in flight forever.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(b"{\"name\":".to_vec())).await.unwrap();
    let in_flight = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{url}/api/projects"))
            .bearer_auth(mint(SECRET))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(tokio_stream_from(rx)))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    terminate(&child).await;
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("studio exits once the shutdown bound has passed")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        in_flight.await.unwrap().is_err(),
        "the cut-off request fails"
    );
    drop(tx);
}

#[tokio::test]
async fn the_worker_connects_waits_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let mut command = studio(dir.path(), &db.url);
    command
        .env("STUDIO_AUTO_MIGRATE", "true")
        .env("STUDIO_REDIS_URL", "redis://127.0.0.1:6379")
        .arg("worker")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            let line: Value = serde_json::from_str(&line).unwrap();
            if line["message"] == "worker connected; waiting for jobs" {
                return line;
            }
        }
        panic!("the worker exited before connecting");
    })
    .await
    .expect("the worker connects");
    assert!(ready["database"].is_string());
    terminate(&child).await;
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the worker stops")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn the_worker_refuses_to_start_without_its_redis() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let mut command = studio(dir.path(), &db.url);
    command
        .env("STUDIO_AUTO_MIGRATE", "true")
        .env("STUDIO_REDIS_URL", "redis://127.0.0.1:1")
        .arg("worker");
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("Redis"), "{text}");
}
