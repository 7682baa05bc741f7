//! Shared test helpers: fixture keys, configs, and signing arbitrary tokens (including ones a
//! well-behaved issuer would never make).

pub mod server;

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{Value, json};
use studio_auth::{AuthConfig, AuthError, AuthErrorKind, Authenticator};

pub use server::{JwksServer, Reply};

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const USER: &str = "8b6f0c0e-3e0a-4c5e-9d1a-2f4b7c9d1e23";

const EC_1: &str = include_str!("../fixtures/ec-1.pem");
const EC_2: &str = include_str!("../fixtures/ec-2.pem");
const RSA_1: &str = include_str!("../fixtures/rsa-1.pem");
pub const RSA_1_PUBLIC_PEM: &str = include_str!("../fixtures/rsa-1.pub.pem");
const JWKS: &str = include_str!("../fixtures/jwks.json");

pub fn secret() -> SecretString {
    SecretString::from(SECRET)
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Claims as Supabase Auth issues them, valid for an hour.
pub fn good_claims() -> Value {
    json!({
        "sub": USER,
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now(),
        "exp": now() + 3600,
        "email": "someone@example.test",
    })
}

/// The fixture private key with this kid (`ec-1`, `ec-2`, `rsa-1`).
pub fn signing_key(kid: &str) -> EncodingKey {
    match kid {
        "ec-1" => EncodingKey::from_ec_pem(EC_1.as_bytes()).unwrap(),
        "ec-2" => EncodingKey::from_ec_pem(EC_2.as_bytes()).unwrap(),
        "rsa-1" => EncodingKey::from_rsa_pem(RSA_1.as_bytes()).unwrap(),
        other => panic!("no fixture key {other}"),
    }
}

/// A JWKS document holding the fixture public keys with these kids.
pub fn jwks_with(kids: &[&str]) -> String {
    let all: Value = serde_json::from_str(JWKS).unwrap();
    let keys: Vec<Value> = all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|key| kids.contains(&key["kid"].as_str().unwrap()))
        .cloned()
        .collect();
    assert_eq!(keys.len(), kids.len(), "unknown kid in {kids:?}");
    json!({ "keys": keys }).to_string()
}

pub fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

pub fn sign_hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        claims,
    )
}

/// Signs with the fixture key named by `kid`, putting that kid in the header.
pub fn sign_with_fixture(alg: Algorithm, kid: &str, claims: &Value) -> String {
    sign(alg, Some(kid), &signing_key(kid), claims)
}

/// Base64url without padding, for hand-made tokens.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hs256_config() -> AuthConfig {
    AuthConfig {
        hs256_secret: Some(secret()),
        jwks_url: None,
        algorithms: vec![Algorithm::HS256],
        audience: Some("authenticated".to_owned()),
        issuer: None,
        leeway: Duration::ZERO,
        jwks_cache_ttl: Duration::from_secs(600),
    }
}

pub fn jwks_config(url: &str, algorithms: &[Algorithm]) -> AuthConfig {
    AuthConfig {
        jwks_url: Some(url.to_owned()),
        algorithms: algorithms.to_vec(),
        ..hs256_config()
    }
}

/// Builds an authenticator whose client ignores proxy variables: the JWKS is on 127.0.0.1.
pub fn authenticator(config: AuthConfig) -> Authenticator {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    Authenticator::new(config, http).unwrap()
}

/// Asserts a failure of the given kind and returns the error for finer checks.
#[track_caller]
pub fn expect_err<T: std::fmt::Debug>(
    result: Result<T, AuthError>,
    kind: AuthErrorKind,
) -> AuthError {
    let err = result.expect_err("token was accepted");
    assert_eq!(err.kind(), kind, "{err:?}");
    err
}
