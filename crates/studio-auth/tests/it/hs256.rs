//! HS256 verification and minting, and the claim checks (which do not depend on the algorithm).

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;
use studio_auth::{AuthError, AuthErrorKind, MintClaims, mint_hs256};

use crate::support::*;

#[tokio::test]
async fn minted_token_verifies() {
    let auth = authenticator(hs256_config());
    let claims = MintClaims::authenticated(USER, Duration::from_secs(3600));
    let token = mint_hs256(&secret(), &claims).unwrap();

    let user = auth.verify(&token).await.unwrap();
    assert_eq!(user.user_id.as_str(), USER);
    assert_eq!(user.role.as_deref(), Some("authenticated"));
    let lifetime = user.expires_at.unix_timestamp() - now();
    assert!((3590..=3600).contains(&lifetime), "{lifetime}");
}

#[tokio::test]
async fn minted_token_with_issuer_verifies_where_issuer_is_required() {
    let auth = authenticator(studio_auth::AuthConfig {
        issuer: Some("https://auth.example.test/auth/v1".to_owned()),
        ..hs256_config()
    });
    let claims = MintClaims {
        issuer: Some("https://auth.example.test/auth/v1".to_owned()),
        ..MintClaims::authenticated(USER, Duration::from_secs(60))
    };
    auth.verify(&mint_hs256(&secret(), &claims).unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn supabase_shaped_token_verifies() {
    let auth = authenticator(hs256_config());
    let user = auth.verify(&sign_hs256(&good_claims())).await.unwrap();
    assert_eq!(user.user_id.as_str(), USER);
}

#[tokio::test]
async fn expired_token_is_expired_unless_within_leeway() {
    let mut claims = good_claims();
    claims["exp"] = json!(now() - 30);
    let token = sign_hs256(&claims);

    let strict = authenticator(hs256_config());
    let err = expect_err(strict.verify(&token).await, AuthErrorKind::Expired);
    assert!(matches!(err, AuthError::Expired));

    let lenient = authenticator(studio_auth::AuthConfig {
        leeway: Duration::from_secs(60),
        ..hs256_config()
    });
    lenient.verify(&token).await.unwrap();
}

#[tokio::test]
async fn token_not_yet_valid_is_refused() {
    let mut claims = good_claims();
    claims["nbf"] = json!(now() + 600);
    let auth = authenticator(hs256_config());
    let err = expect_err(
        auth.verify(&sign_hs256(&claims)).await,
        AuthErrorKind::Invalid,
    );
    assert!(matches!(err, AuthError::NotYetValid), "{err:?}");

    claims["nbf"] = json!(now() - 1);
    auth.verify(&sign_hs256(&claims)).await.unwrap();
}

#[tokio::test]
async fn audience_is_checked_as_string_or_array() {
    let auth = authenticator(hs256_config());
    let mut claims = good_claims();

    claims["aud"] = json!("anon");
    let err = expect_err(
        auth.verify(&sign_hs256(&claims)).await,
        AuthErrorKind::Invalid,
    );
    assert!(matches!(err, AuthError::WrongAudience), "{err:?}");

    claims["aud"] = json!(["other", "authenticated"]);
    auth.verify(&sign_hs256(&claims)).await.unwrap();

    claims["aud"] = json!(["other"]);
    let err = expect_err(
        auth.verify(&sign_hs256(&claims)).await,
        AuthErrorKind::Invalid,
    );
    assert!(matches!(err, AuthError::WrongAudience), "{err:?}");

    // `jsonwebtoken` alone would let a token without `aud` through.
    claims.as_object_mut().unwrap().remove("aud");
    let err = expect_err(
        auth.verify(&sign_hs256(&claims)).await,
        AuthErrorKind::Invalid,
    );
    assert!(
        matches!(&err, AuthError::MissingClaim(c) if c == "aud"),
        "{err:?}"
    );
}

#[tokio::test]
async fn audience_is_ignored_when_not_configured() {
    let auth = authenticator(studio_auth::AuthConfig {
        audience: None,
        ..hs256_config()
    });
    let mut claims = good_claims();
    claims["aud"] = json!("anything");
    auth.verify(&sign_hs256(&claims)).await.unwrap();
    claims.as_object_mut().unwrap().remove("aud");
    auth.verify(&sign_hs256(&claims)).await.unwrap();
}

#[tokio::test]
async fn issuer_is_checked_when_configured() {
    let auth = authenticator(studio_auth::AuthConfig {
        issuer: Some("https://auth.example.test/auth/v1".to_owned()),
        ..hs256_config()
    });
    let mut claims = good_claims();

    claims["iss"] = json!("https://evil.example.test/auth/v1");
    let err = expect_err(
        auth.verify(&sign_hs256(&claims)).await,
        AuthErrorKind::Invalid,
    );
    assert!(matches!(err, AuthError::WrongIssuer), "{err:?}");

    // Absent `iss` must fail too, not slip past the comparison.
    claims.as_object_mut().unwrap().remove("iss");
    let err = expect_err(
        auth.verify(&sign_hs256(&claims)).await,
        AuthErrorKind::Invalid,
    );
    assert!(
        matches!(&err, AuthError::MissingClaim(c) if c == "iss"),
        "{err:?}"
    );

    claims["iss"] = json!("https://auth.example.test/auth/v1");
    auth.verify(&sign_hs256(&claims)).await.unwrap();
}

#[tokio::test]
async fn subject_and_expiry_are_required() {
    let auth = authenticator(hs256_config());
    for claim in ["sub", "exp"] {
        let mut claims = good_claims();
        claims.as_object_mut().unwrap().remove(claim);
        let err = expect_err(
            auth.verify(&sign_hs256(&claims)).await,
            AuthErrorKind::Invalid,
        );
        assert!(
            matches!(&err, AuthError::MissingClaim(c) if c == claim),
            "{err:?}"
        );
    }

    let mut claims = good_claims();
    claims["sub"] = json!(42);
    let err = expect_err(
        auth.verify(&sign_hs256(&claims)).await,
        AuthErrorKind::Invalid,
    );
    assert!(
        matches!(&err, AuthError::MissingClaim(c) if c == "sub"),
        "{err:?}"
    );

    let mut claims = good_claims();
    claims["exp"] = json!("tomorrow");
    expect_err(
        auth.verify(&sign_hs256(&claims)).await,
        AuthErrorKind::Invalid,
    );
}

#[tokio::test]
async fn subject_must_be_a_user_id() {
    let auth = authenticator(hs256_config());
    for bad in ["", "../etc/passwd", "a b", &"x".repeat(200)] {
        let mut claims = good_claims();
        claims["sub"] = json!(bad);
        let err = expect_err(
            auth.verify(&sign_hs256(&claims)).await,
            AuthErrorKind::Invalid,
        );
        assert!(matches!(err, AuthError::BadSubject(_)), "{bad:?}: {err:?}");
    }
}

#[tokio::test]
async fn wrong_secret_is_a_bad_signature() {
    let auth = authenticator(hs256_config());
    let other = EncodingKey::from_secret(b"another-secret-another-secret-0123456789");
    let token = sign(Algorithm::HS256, None, &other, &good_claims());
    let err = expect_err(auth.verify(&token).await, AuthErrorKind::Invalid);
    assert!(matches!(err, AuthError::BadSignature), "{err:?}");
}

#[tokio::test]
async fn tampered_payload_is_a_bad_signature() {
    let auth = authenticator(hs256_config());
    let token = sign_hs256(&good_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = good_claims();
    claims["role"] = json!("service_role");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    let err = expect_err(auth.verify(&forged).await, AuthErrorKind::Invalid);
    assert!(matches!(err, AuthError::BadSignature), "{err:?}");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let auth = authenticator(hs256_config());
    let payload = b64(good_claims().to_string().as_bytes());
    for header in [r#"{"alg":"none","typ":"JWT"}"#, r#"{"alg":"None"}"#] {
        for signature in ["", "AAAA"] {
            let token = format!("{}.{payload}.{signature}", b64(header.as_bytes()));
            let err = expect_err(auth.verify(&token).await, AuthErrorKind::Invalid);
            assert!(matches!(err, AuthError::Malformed), "{err:?}");
        }
    }
}

#[tokio::test]
async fn critical_header_extensions_are_refused() {
    let auth = authenticator(hs256_config());
    let token = sign_hs256(&good_claims());
    let signature = token.rsplit('.').next().unwrap();
    let header = b64(br#"{"alg":"HS256","crit":["exp"],"exp":1}"#);
    let payload = b64(good_claims().to_string().as_bytes());
    let err = expect_err(
        auth.verify(&format!("{header}.{payload}.{signature}"))
            .await,
        AuthErrorKind::Invalid,
    );
    assert!(matches!(err, AuthError::Malformed), "{err:?}");
}

#[tokio::test]
async fn garbage_is_malformed() {
    let auth = authenticator(hs256_config());
    let huge = "a".repeat(100_000);
    let not_json = format!("{}.{}.sig", b64(b"hello"), b64(b"world"));
    let array_claims = format!("{}.{}.sig", b64(br#"{"alg":"HS256"}"#), b64(b"[1,2]"));
    for garbage in [
        "",
        "Bearer",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "..",
        "eyJhbGciOiJIUzI1NiJ9..",
        "%%%.%%%.%%%",
        &huge,
        &not_json,
        &array_claims,
    ] {
        let err = expect_err(auth.verify(garbage).await, AuthErrorKind::Invalid);
        assert!(
            matches!(err, AuthError::Malformed | AuthError::BadSignature),
            "{garbage:.20}: {err:?}"
        );
    }
}
