//! Every way a bearer token can be wrong answers 401 with `WWW-Authenticate: Bearer`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use studio_testkit::TestApp;

use crate::support::assert_problem;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(secret: &[u8], claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

async fn get_projects(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url("/api/projects"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

async fn assert_refused(response: reqwest::Response, code: &str, token_sent: bool) {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate header")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_eq!(
        challenge.contains("invalid_token"),
        token_sent,
        "{challenge}"
    );
    assert_problem(response, 401, code).await;
}

#[tokio::test]
async fn a_valid_token_is_accepted() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let response = get_projects(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), 200);
    // The scheme is case-insensitive (RFC 7235).
    let response = get_projects(&app, Some(&format!("bearer {token}"))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_missing_token_is_401_with_a_challenge() {
    let app = TestApp::spawn().await;
    assert_refused(get_projects(&app, None).await, "unauthenticated", false).await;
}

#[tokio::test]
async fn malformed_authorization_headers_are_401() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    for value in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Basic {token}"),
        token.clone(),
        "Bearer not.a.jwt".to_owned(),
        "Bearer ey.ey.ey".to_owned(),
    ] {
        let response = get_projects(&app, Some(&value)).await;
        assert_refused(response, "invalid_token", true).await;
    }
}

#[tokio::test]
async fn expired_tokens_are_401_token_expired() {
    let app = TestApp::spawn().await;
    let secret = secrecy::ExposeSecret::expose_secret(app.secret())
        .as_bytes()
        .to_vec();
    let token = hs256(
        &secret,
        &json!({"sub": "alice", "aud": "authenticated", "exp": now() - 3600, "iat": now() - 7200}),
    );
    let response = get_projects(&app, Some(&format!("Bearer {token}"))).await;
    assert_refused(response, "token_expired", true).await;
}

#[tokio::test]
async fn tokens_not_yet_valid_wrong_audience_or_without_subject_are_401() {
    let app = TestApp::spawn().await;
    let secret = secrecy::ExposeSecret::expose_secret(app.secret())
        .as_bytes()
        .to_vec();
    let exp = now() + 3600;
    for claims in [
        json!({"sub": "alice", "aud": "authenticated", "exp": exp, "nbf": now() + 1800}),
        json!({"sub": "alice", "aud": "anon", "exp": exp}),
        json!({"sub": "alice", "exp": exp}),
        json!({"aud": "authenticated", "exp": exp}),
        json!({"sub": "", "aud": "authenticated", "exp": exp}),
        json!({"sub": "a/../b", "aud": "authenticated", "exp": exp}),
        json!({"sub": "alice", "aud": "authenticated"}),
    ] {
        let token = hs256(&secret, &claims);
        let response = get_projects(&app, Some(&format!("Bearer {token}"))).await;
        assert_refused(response, "invalid_token", true).await;
    }
    // The testkit's own helper with a wrong audience, for good measure.
    let token = app.token_with("alice", Duration::from_secs(60), Some("service_role"));
    let response = get_projects(&app, Some(&format!("Bearer {token}"))).await;
    assert_refused(response, "invalid_token", true).await;
}

#[tokio::test]
async fn a_token_signed_with_another_secret_or_tampered_is_401() {
    let app = TestApp::spawn().await;
    let forged = hs256(
        b"another secret that is long enough to be accepted",
        &json!({"sub": "alice", "aud": "authenticated", "exp": now() + 3600}),
    );
    let response = get_projects(&app, Some(&format!("Bearer {forged}"))).await;
    assert_refused(response, "invalid_token", true).await;

    // Swap the payload of a genuine token for one naming another user.
    use base64::Engine as _;
    let genuine = app.token("alice");
    let parts: Vec<&str> = genuine.split('.').collect();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"sub": "mallory", "aud": "authenticated", "exp": now() + 3600}).to_string());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    let response = get_projects(&app, Some(&format!("Bearer {tampered}"))).await;
    assert_refused(response, "invalid_token", true).await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    use base64::Engine as _;
    let app = TestApp::spawn().await;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let header = b64(json!({"alg": "none", "typ": "JWT"}));
    let payload = b64(json!({"sub": "alice", "aud": "authenticated", "exp": now() + 3600}));
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        let response = get_projects(&app, Some(&format!("Bearer {token}"))).await;
        assert_refused(response, "invalid_token", true).await;
    }
}

#[tokio::test]
async fn the_issuer_is_checked_when_configured() {
    let app =
        TestApp::spawn_with(|c| c.jwt_issuer = Some("https://auth.example.test/v1".into())).await;
    let secret = secrecy::ExposeSecret::expose_secret(app.secret())
        .as_bytes()
        .to_vec();
    let exp = now() + 3600;
    let good = hs256(
        &secret,
        &json!({"sub": "alice", "aud": "authenticated", "exp": exp, "iss": "https://auth.example.test/v1"}),
    );
    assert_eq!(
        get_projects(&app, Some(&format!("Bearer {good}")))
            .await
            .status(),
        200
    );
    for claims in [
        json!({"sub": "alice", "aud": "authenticated", "exp": exp, "iss": "https://evil.test/v1"}),
        json!({"sub": "alice", "aud": "authenticated", "exp": exp}),
    ] {
        let token = hs256(&secret, &claims);
        let response = get_projects(&app, Some(&format!("Bearer {token}"))).await;
        assert_refused(response, "invalid_token", true).await;
    }
}

#[tokio::test]
async fn the_same_user_id_works_across_requests_and_users_are_created_on_first_write() {
    let app = TestApp::spawn().await;
    let project = app
        .create_project("8b6f0c0e-3e0a-4c5e-9d1a-2f4b7c9d1e23", "Mine")
        .await;
    assert_eq!(project["ownerId"], "8b6f0c0e-3e0a-4c5e-9d1a-2f4b7c9d1e23");
    let user = studio_core::UserId::parse("8b6f0c0e-3e0a-4c5e-9d1a-2f4b7c9d1e23").unwrap();
    assert_eq!(app.store.user_plan(&user).await.unwrap(), "free");
}
