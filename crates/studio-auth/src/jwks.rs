//! The JWKS cache: finds the public key for an ES256/RS256 token, fetching the provider's key set
//! lazily and refreshing it when it is stale or a token names a `kid` we have not seen.
//!
//! Invariants:
//! - Verifications with a known `kid` in a fresh set never wait: they read an `Arc` snapshot.
//! - At most one fetch runs at a time; verifications that need one queue on the fetch mutex and
//!   re-check the snapshot first, so a burst of them shares a single fetch.
//! - An unknown `kid` triggers at most one refetch per [`MIN_REFETCH_INTERVAL`], and a failed
//!   fetch is not retried within it, so neither random kids nor a provider outage make us hammer
//!   the provider.
//! - When a fetch fails, the previous set (even if stale) keeps serving the keys it has.

mod fetch;
mod keyset;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey};

pub use fetch::{JWKS_FETCH_TIMEOUT, MAX_JWKS_BYTES};
use keyset::{KeySet, Lookup};

use crate::{AuthError, JwksFetchError};

/// Minimum time between two refetches caused by unknown `kid`s, and between a failed fetch and
/// the next attempt. Key rotation is rare, so one refetch per interval picks it up at once, while
/// tokens with made-up kids cost the provider at most one request per interval.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Shared cache of the provider's signing keys.
pub(crate) struct JwksCache {
    http: reqwest::Client,
    url: reqwest::Url,
    ttl: Duration,
    /// The latest successfully fetched set. A std lock: it is held only to clone or swap the
    /// `Arc`, never across an await.
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// Serializes fetches and remembers when we last tried.
    fetch: tokio::sync::Mutex<FetchState>,
}

struct Snapshot {
    keys: KeySet,
    fetched_at: Instant,
}

impl Snapshot {
    fn is_fresh(&self, now: Instant, ttl: Duration) -> bool {
        now.saturating_duration_since(self.fetched_at) < ttl
    }
}

/// Why a verification needs a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Nothing fetched yet.
    Initial,
    /// The set is older than its TTL.
    Stale,
    /// The set is fresh but does not know the token's key.
    UnknownKid,
}

#[derive(Default)]
struct FetchState {
    /// The last failed attempt, kept until a fetch succeeds, to back off and to report why keys
    /// are unavailable.
    last_failure: Option<(Instant, Arc<JwksFetchError>)>,
    /// The last fetch caused by an unknown `kid`, successful or not.
    last_kid_refetch: Option<Instant>,
}

impl FetchState {
    /// The refetch policy, kept pure so it can be tested with made-up instants.
    fn may_fetch(&self, need: Need, now: Instant) -> bool {
        let recent = |at: Instant| now.saturating_duration_since(at) < MIN_REFETCH_INTERVAL;
        if self
            .last_failure
            .as_ref()
            .is_some_and(|(at, _)| recent(*at))
        {
            return false;
        }
        match need {
            Need::Initial | Need::Stale => true,
            Need::UnknownKid => !self.last_kid_refetch.is_some_and(recent),
        }
    }
}

impl JwksCache {
    pub fn new(http: reqwest::Client, url: reqwest::Url, ttl: Duration) -> Self {
        Self {
            http,
            url,
            ttl,
            snapshot: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        }
    }

    /// The key that verifies a token with this header `kid` and (already allowed) `alg`.
    pub async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, AuthError> {
        // Fast path: a fresh set that answers the question either way.
        if let Some(snapshot) = self.current()
            && snapshot.is_fresh(Instant::now(), self.ttl)
        {
            match snapshot.keys.lookup(kid, alg) {
                Lookup::Found(key) => return Ok(key.clone()),
                Lookup::Unusable => return Err(AuthError::NoUsableKey),
                Lookup::Unknown => {}
            }
        }
        self.key_after_fetch(kid, alg).await
    }

    async fn key_after_fetch(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, AuthError> {
        let mut state = self.fetch.lock().await;
        let now = Instant::now();
        // Re-check: whoever held the lock before us may have fetched what we need.
        let mut snapshot = self.current();
        let need = match &snapshot {
            None => Need::Initial,
            Some(s) if !s.is_fresh(now, self.ttl) => Need::Stale,
            Some(s) => match s.keys.lookup(kid, alg) {
                Lookup::Found(key) => return Ok(key.clone()),
                Lookup::Unusable => return Err(AuthError::NoUsableKey),
                Lookup::Unknown => Need::UnknownKid,
            },
        };

        if state.may_fetch(need, now) {
            if need == Need::UnknownKid {
                state.last_kid_refetch = Some(now);
            }
            match fetch::fetch_key_set(&self.http, &self.url).await {
                Ok(keys) => {
                    tracing::info!(jwks.keys = keys.len(), jwks.reason = ?need, "fetched JWKS");
                    state.last_failure = None;
                    let fresh = Arc::new(Snapshot {
                        keys,
                        fetched_at: Instant::now(),
                    });
                    *self
                        .snapshot
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&fresh));
                    snapshot = Some(fresh);
                }
                Err(error) => {
                    // Logged here, once per attempt (at most one per interval), because a
                    // failure the stale set covers for reaches no caller.
                    tracing::warn!(
                        error = %error_chain(&error),
                        jwks.url = %self.url,
                        jwks.reason = ?need,
                        jwks.has_cached_keys = snapshot.is_some(),
                        "JWKS fetch failed"
                    );
                    state.last_failure = Some((now, Arc::new(error)));
                }
            }
        }

        match snapshot.as_ref().map(|s| s.keys.lookup(kid, alg)) {
            Some(Lookup::Found(key)) => Ok(key.clone()),
            Some(Lookup::Unusable) => Err(AuthError::NoUsableKey),
            // While the provider is failing we cannot tell a rotated key from a bogus one.
            Some(Lookup::Unknown) | None => match &state.last_failure {
                Some((_, error)) => Err(AuthError::KeysUnavailable(Arc::clone(error))),
                None => Err(AuthError::UnknownKey),
            },
        }
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        // Poisoning cannot leave a half-written snapshot (writers only swap an `Arc`), so a
        // poisoned lock is still safe to read.
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// `error: source: source...`, because `reqwest::Error`'s own message omits the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_at(at: Instant) -> Option<(Instant, Arc<JwksFetchError>)> {
        Some((at, Arc::new(JwksFetchError::Status(503))))
    }

    #[test]
    fn fetches_freely_when_nothing_went_wrong() {
        let now = Instant::now();
        let state = FetchState::default();
        for need in [Need::Initial, Need::Stale, Need::UnknownKid] {
            assert!(state.may_fetch(need, now), "{need:?}");
        }
    }

    #[test]
    fn throttles_unknown_kid_refetches_only() {
        let start = Instant::now();
        let state = FetchState {
            last_kid_refetch: Some(start),
            ..FetchState::default()
        };
        let soon = start + MIN_REFETCH_INTERVAL / 2;
        assert!(!state.may_fetch(Need::UnknownKid, soon));
        assert!(state.may_fetch(Need::Stale, soon));
        assert!(state.may_fetch(Need::UnknownKid, start + MIN_REFETCH_INTERVAL));
    }

    #[test]
    fn backs_off_after_a_failure() {
        let start = Instant::now();
        let state = FetchState {
            last_failure: failed_at(start),
            ..FetchState::default()
        };
        let soon = start + MIN_REFETCH_INTERVAL / 2;
        for need in [Need::Initial, Need::Stale, Need::UnknownKid] {
            assert!(!state.may_fetch(need, soon), "{need:?}");
            assert!(
                state.may_fetch(need, start + MIN_REFETCH_INTERVAL),
                "{need:?}"
            );
        }
    }

    #[test]
    fn error_chain_includes_causes() {
        let cause = serde_json::from_str::<()>("x").unwrap_err();
        assert_eq!(
            error_chain(&JwksFetchError::Json(cause)),
            "JWKS response is not a JSON key set: expected value at line 1 column 1"
        );
    }
}
