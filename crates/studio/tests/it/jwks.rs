//! Asymmetric tokens as Supabase issues them: ES256/RS256 keys from a JWKS URL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use studio_testkit::TestApp;

use crate::support::assert_problem;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../studio-auth/tests/fixtures");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> serde_json::Value {
    json!({"sub": "carol", "aud": "authenticated", "role": "authenticated", "exp": now() + 600, "iat": now()})
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims(), key).unwrap()
}

/// Serves the fixture JWKS on 127.0.0.1; `up` switches it between 200 and 503.
async fn jwks_server(up: Arc<AtomicBool>) -> String {
    let jwks = String::from_utf8(fixture("jwks.json")).unwrap();
    let app = axum::Router::new().route(
        "/auth/v1/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            let up = up.clone();
            async move {
                if up.load(Ordering::SeqCst) {
                    (StatusCode::OK, jwks)
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, String::new())
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/auth/v1/.well-known/jwks.json")
}

async fn spawn_with_jwks(url: String) -> TestApp {
    TestApp::spawn_with(move |c| {
        c.jwks_url = Some(url);
        c.jwt_secret = None;
        c.jwt_algorithms = Some(vec!["ES256".into(), "RS256".into()]);
    })
    .await
}

async fn get_projects(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/projects"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn es256_and_rs256_tokens_verify_against_the_jwks() {
    let url = jwks_server(Arc::new(AtomicBool::new(true))).await;
    let app = spawn_with_jwks(url).await;
    let ec = EncodingKey::from_ec_pem(&fixture("ec-1.pem")).unwrap();
    let rsa = EncodingKey::from_rsa_pem(&fixture("rsa-1.pem")).unwrap();
    for token in [
        sign(Algorithm::ES256, "ec-1", &ec),
        sign(Algorithm::RS256, "rsa-1", &rsa),
    ] {
        let response = get_projects(&app, &token).await;
        assert_eq!(response.status(), 200);
    }
    // A project created with an asymmetric token belongs to the token's `sub`.
    let response = app
        .client
        .post(app.url("/api/projects"))
        .bearer_auth(sign(Algorithm::ES256, "ec-1", &ec))
        .json(&json!({"name": "From Supabase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["ownerId"], "carol");
}

#[tokio::test]
async fn wrong_kid_wrong_key_and_hs_rs_confusion_are_401() {
    let url = jwks_server(Arc::new(AtomicBool::new(true))).await;
    let app = spawn_with_jwks(url).await;
    let ec1 = EncodingKey::from_ec_pem(&fixture("ec-1.pem")).unwrap();
    let ec2 = EncodingKey::from_ec_pem(&fixture("ec-2.pem")).unwrap();
    // Signed by ec-2's key but claiming to be ec-1.
    let mislabelled = sign(Algorithm::ES256, "ec-1", &ec2);
    // A kid the JWKS does not have.
    let unknown = sign(Algorithm::ES256, "nope", &ec1);
    // HS256 with the RSA public key's text as the secret: HS256 is not accepted here at all.
    let confused = sign(
        Algorithm::HS256,
        "rsa-1",
        &EncodingKey::from_secret(&fixture("jwks.json")),
    );
    for token in [mislabelled, unknown, confused] {
        let response = get_projects(&app, &token).await;
        assert!(response.headers().contains_key("www-authenticate"));
        assert_problem(response, 401, "invalid_token").await;
    }
}

#[tokio::test]
async fn a_jwks_outage_with_nothing_cached_is_503_not_401() {
    let up = Arc::new(AtomicBool::new(false));
    let url = jwks_server(up.clone()).await;
    let app = spawn_with_jwks(url).await;
    let ec = EncodingKey::from_ec_pem(&fixture("ec-1.pem")).unwrap();
    let token = sign(Algorithm::ES256, "ec-1", &ec);
    assert_problem(get_projects(&app, &token).await, 503, "auth_unavailable").await;
    up.store(true, Ordering::SeqCst);
    // The throttle on refetching may hold the next fetch back a little; it must recover.
    let mut status = 0;
    for _ in 0..40 {
        status = get_projects(&app, &token).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(status, 200, "verification recovers once the JWKS is back");
}
