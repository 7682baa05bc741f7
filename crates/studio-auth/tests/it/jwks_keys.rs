//! ES256/RS256 verification against a JWKS: success, key selection by `kid`, and the
//! algorithm-confusion attacks.

use jsonwebtoken::{Algorithm, EncodingKey};
use studio_auth::{AuthError, AuthErrorKind};

use crate::support::*;

const ES_RS: &[Algorithm] = &[Algorithm::ES256, Algorithm::RS256];

async fn serving(kids: &[&str]) -> JwksServer {
    JwksServer::start(Reply::Json(jwks_with(kids))).await
}

#[tokio::test]
async fn es256_and_rs256_tokens_verify() {
    let server = serving(&["ec-1", "ec-2", "rsa-1"]).await;
    let auth = authenticator(jwks_config(server.url(), ES_RS));
    for (alg, kid) in [
        (Algorithm::ES256, "ec-1"),
        (Algorithm::ES256, "ec-2"),
        (Algorithm::RS256, "rsa-1"),
    ] {
        let user = auth
            .verify(&sign_with_fixture(alg, kid, &good_claims()))
            .await
            .unwrap_or_else(|e| panic!("{kid}: {e:?}"));
        assert_eq!(user.user_id.as_str(), USER);
        assert_eq!(user.role.as_deref(), Some("authenticated"));
    }
    assert_eq!(server.hits(), 1, "one fetch serves every key of the set");
}

#[tokio::test]
async fn hs256_and_jwks_algorithms_work_side_by_side() {
    let server = serving(&["ec-1"]).await;
    let auth = authenticator(jwks_config(
        server.url(),
        &[Algorithm::HS256, Algorithm::ES256],
    ));
    auth.verify(&sign_hs256(&good_claims())).await.unwrap();
    assert_eq!(server.hits(), 0, "HS256 never touches the JWKS");
    auth.verify(&sign_with_fixture(Algorithm::ES256, "ec-1", &good_claims()))
        .await
        .unwrap();
}

#[tokio::test]
async fn token_signed_by_another_key_than_its_kid_is_a_bad_signature() {
    let server = serving(&["ec-1", "ec-2"]).await;
    let auth = authenticator(jwks_config(server.url(), ES_RS));
    let token = sign(
        Algorithm::ES256,
        Some("ec-1"),
        &signing_key("ec-2"),
        &good_claims(),
    );
    let err = expect_err(auth.verify(&token).await, AuthErrorKind::Invalid);
    assert!(matches!(err, AuthError::BadSignature), "{err:?}");
}

#[tokio::test]
async fn kid_of_a_key_of_another_type_is_unusable() {
    let server = serving(&["ec-1", "rsa-1"]).await;
    let auth = authenticator(jwks_config(server.url(), ES_RS));
    // An RS256 token pointing at the EC key, signed with the RSA key.
    let token = sign(
        Algorithm::RS256,
        Some("ec-1"),
        &signing_key("rsa-1"),
        &good_claims(),
    );
    let err = expect_err(auth.verify(&token).await, AuthErrorKind::Invalid);
    assert!(matches!(err, AuthError::NoUsableKey), "{err:?}");
}

#[tokio::test]
async fn token_without_kid_needs_exactly_one_fitting_key() {
    let server = serving(&["ec-1", "ec-2", "rsa-1"]).await;
    let auth = authenticator(jwks_config(server.url(), ES_RS));

    let rsa = sign(
        Algorithm::RS256,
        None,
        &signing_key("rsa-1"),
        &good_claims(),
    );
    auth.verify(&rsa).await.unwrap();

    let ec = sign(Algorithm::ES256, None, &signing_key("ec-1"), &good_claims());
    let err = expect_err(auth.verify(&ec).await, AuthErrorKind::Invalid);
    assert!(matches!(err, AuthError::NoUsableKey), "{err:?}");

    let single = serving(&["ec-1"]).await;
    let auth = authenticator(jwks_config(single.url(), ES_RS));
    auth.verify(&ec).await.unwrap();
}

#[tokio::test]
async fn algorithms_outside_the_config_are_refused_without_fetching() {
    let server = serving(&["ec-1", "rsa-1"]).await;
    let es_only = authenticator(jwks_config(server.url(), &[Algorithm::ES256]));
    let rs_token = sign_with_fixture(Algorithm::RS256, "rsa-1", &good_claims());
    let err = expect_err(es_only.verify(&rs_token).await, AuthErrorKind::Invalid);
    assert!(matches!(err, AuthError::AlgorithmNotAllowed), "{err:?}");

    // An HS256 token, even with a valid signature under some secret, when only asymmetric
    // algorithms are configured.
    let hs_token = sign_hs256(&good_claims());
    let err = expect_err(es_only.verify(&hs_token).await, AuthErrorKind::Invalid);
    assert!(matches!(err, AuthError::AlgorithmNotAllowed), "{err:?}");
    assert_eq!(server.hits(), 0);
}

/// The classic confusion: sign HS256 with the RSA *public* key as the HMAC secret, hoping the
/// verifier feeds its RSA key to HMAC.
#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let server = serving(&["rsa-1"]).await;
    let confused = |kid: Option<&str>| {
        sign(
            Algorithm::HS256,
            kid,
            &EncodingKey::from_secret(RSA_1_PUBLIC_PEM.as_bytes()),
            &good_claims(),
        )
    };

    let rs_only = authenticator(jwks_config(server.url(), &[Algorithm::RS256]));
    let err = expect_err(
        rs_only.verify(&confused(Some("rsa-1"))).await,
        AuthErrorKind::Invalid,
    );
    assert!(matches!(err, AuthError::AlgorithmNotAllowed), "{err:?}");

    // Even with HS256 enabled, the HMAC key is only ever the configured secret.
    let both = authenticator(jwks_config(
        server.url(),
        &[Algorithm::HS256, Algorithm::RS256],
    ));
    for kid in [Some("rsa-1"), None] {
        let err = expect_err(both.verify(&confused(kid)).await, AuthErrorKind::Invalid);
        assert!(matches!(err, AuthError::BadSignature), "{err:?}");
    }
}

#[tokio::test]
async fn claims_are_checked_for_jwks_tokens_too() {
    let server = serving(&["ec-1"]).await;
    let auth = authenticator(jwks_config(server.url(), ES_RS));
    let mut claims = good_claims();
    claims["exp"] = serde_json::json!(now() - 5);
    let token = sign_with_fixture(Algorithm::ES256, "ec-1", &claims);
    expect_err(auth.verify(&token).await, AuthErrorKind::Expired);
}
