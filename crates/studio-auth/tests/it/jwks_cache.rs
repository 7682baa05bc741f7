//! JWKS cache behaviour seen from outside: lazy fetch, sharing, rotation, throttling, and what
//! happens when the provider is down. Fetches are counted by the local server.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use studio_auth::{AuthConfig, AuthError, AuthErrorKind, Authenticator};

use crate::support::*;

const ES: &[Algorithm] = &[Algorithm::ES256];

fn ec_token(kid: &str) -> String {
    sign_with_fixture(Algorithm::ES256, kid, &good_claims())
}

/// An ES256 token naming a kid no set has (signed with ec-1, which does not matter).
fn random_kid_token(kid: &str) -> String {
    sign(
        Algorithm::ES256,
        Some(kid),
        &signing_key("ec-1"),
        &good_claims(),
    )
}

#[tokio::test]
async fn fetches_lazily_and_once_while_fresh() {
    let server = JwksServer::start(Reply::Json(jwks_with(&["ec-1"]))).await;
    let auth = authenticator(jwks_config(server.url(), ES));
    assert_eq!(server.hits(), 0, "no fetch before the first token");
    for _ in 0..3 {
        auth.verify(&ec_token("ec-1")).await.unwrap();
    }
    // Clones share the cache.
    auth.clone().verify(&ec_token("ec-1")).await.unwrap();
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn concurrent_verifications_share_one_fetch() {
    let server = JwksServer::start(Reply::Json(jwks_with(&["ec-1"]))).await;
    server.set_delay(Duration::from_millis(200));
    let auth = authenticator(jwks_config(server.url(), ES));
    let token = ec_token("ec-1");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (auth, token) = (auth.clone(), token.clone());
            tokio::spawn(async move { auth.verify(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn unknown_kid_refetches_and_picks_up_a_rotated_key() {
    let server = JwksServer::start(Reply::Json(jwks_with(&["ec-1"]))).await;
    let auth = authenticator(jwks_config(server.url(), ES));
    auth.verify(&ec_token("ec-1")).await.unwrap();

    // The provider rotates: ec-2 appears, ec-1 is retired.
    server.set_reply(Reply::Json(jwks_with(&["ec-2"])));
    auth.verify(&ec_token("ec-2")).await.unwrap();
    assert_eq!(server.hits(), 2);

    // The refreshed set is what we now trust.
    let err = expect_err(auth.verify(&ec_token("ec-1")).await, AuthErrorKind::Invalid);
    assert!(matches!(err, AuthError::UnknownKey), "{err:?}");
}

#[tokio::test]
async fn unknown_kid_refetches_are_throttled() {
    let server = JwksServer::start(Reply::Json(jwks_with(&["ec-1"]))).await;
    let auth = authenticator(jwks_config(server.url(), ES));
    auth.verify(&ec_token("ec-1")).await.unwrap();
    assert_eq!(server.hits(), 1);

    let first = expect_err(
        auth.verify(&random_kid_token("made-up-1")).await,
        AuthErrorKind::Invalid,
    );
    assert!(matches!(first, AuthError::UnknownKey), "{first:?}");
    assert_eq!(server.hits(), 2, "the first unknown kid refetches");

    for i in 2..20 {
        let err = expect_err(
            auth.verify(&random_kid_token(&format!("made-up-{i}")))
                .await,
            AuthErrorKind::Invalid,
        );
        assert!(matches!(err, AuthError::UnknownKey), "{err:?}");
    }
    assert_eq!(
        server.hits(),
        2,
        "further unknown kids within the interval do not refetch"
    );
    // Known keys keep working throughout.
    auth.verify(&ec_token("ec-1")).await.unwrap();
}

#[tokio::test]
async fn provider_down_without_cached_keys_is_unavailable() {
    // A port that was just free: nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/jwks.json", listener.local_addr().unwrap())
    };
    let auth = authenticator(jwks_config(&closed, ES));
    let err = expect_err(
        auth.verify(&ec_token("ec-1")).await,
        AuthErrorKind::Unavailable,
    );
    assert!(matches!(err, AuthError::KeysUnavailable(_)), "{err:?}");
}

#[tokio::test]
async fn error_status_and_bad_json_are_fetch_failures() {
    for reply in [
        Reply::Status(500),
        Reply::Status(404),
        Reply::Json("<html>oops</html>".to_owned()),
        Reply::Json(r#"{"keys": "none"}"#.to_owned()),
    ] {
        let server = JwksServer::start(reply.clone()).await;
        let auth = authenticator(jwks_config(server.url(), ES));
        let err = expect_err(
            auth.verify(&ec_token("ec-1")).await,
            AuthErrorKind::Unavailable,
        );
        assert!(
            matches!(err, AuthError::KeysUnavailable(_)),
            "{reply:?}: {err:?}"
        );

        // The failure is not retried at once: the provider is not hammered while down.
        expect_err(
            auth.verify(&ec_token("ec-1")).await,
            AuthErrorKind::Unavailable,
        );
        assert_eq!(server.hits(), 1, "{reply:?}");
    }
}

#[tokio::test]
async fn failed_refresh_keeps_serving_cached_keys() {
    let server = JwksServer::start(Reply::Json(jwks_with(&["ec-1"]))).await;
    // A zero TTL makes every verification try to refresh.
    let auth = authenticator(AuthConfig {
        jwks_cache_ttl: Duration::ZERO,
        ..jwks_config(server.url(), ES)
    });
    auth.verify(&ec_token("ec-1")).await.unwrap();

    server.set_reply(Reply::Status(503));
    auth.verify(&ec_token("ec-1")).await.unwrap();
    assert_eq!(
        server.hits(),
        2,
        "the stale set triggered a refresh, which failed"
    );

    auth.verify(&ec_token("ec-1")).await.unwrap();
    assert_eq!(server.hits(), 2, "no retry right after a failure");

    // A key the stale set lacks cannot be judged while the provider is down.
    let err = expect_err(
        auth.verify(&ec_token("ec-2")).await,
        AuthErrorKind::Unavailable,
    );
    assert!(matches!(err, AuthError::KeysUnavailable(_)), "{err:?}");
}

#[tokio::test]
async fn stale_set_is_refreshed() {
    let server = JwksServer::start(Reply::Json(jwks_with(&["ec-1"]))).await;
    let auth = authenticator(AuthConfig {
        jwks_cache_ttl: Duration::ZERO,
        ..jwks_config(server.url(), ES)
    });
    auth.verify(&ec_token("ec-1")).await.unwrap();
    auth.verify(&ec_token("ec-1")).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[test]
fn config_errors_are_reported_at_construction() {
    let http = reqwest::Client::new();
    let bad = [
        AuthConfig {
            algorithms: vec![],
            ..hs256_config()
        },
        AuthConfig {
            hs256_secret: None,
            ..hs256_config()
        },
        AuthConfig {
            hs256_secret: Some("too-short".into()),
            ..hs256_config()
        },
        AuthConfig {
            algorithms: vec![Algorithm::ES256],
            ..hs256_config()
        },
        AuthConfig {
            algorithms: vec![Algorithm::PS256],
            ..hs256_config()
        },
    ];
    for config in bad {
        let shown = format!("{config:?}");
        assert!(!shown.contains(SECRET), "Debug must not show the secret");
        assert!(Authenticator::new(config, http.clone()).is_err(), "{shown}");
    }
}
