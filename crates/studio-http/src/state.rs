//! What every handler can reach. No globals: the binary builds one `AppState` and axum clones it
//! (every field is an `Arc` or a cheap handle).

use std::sync::Arc;

use axum::extract::FromRef;
use studio_auth::Authenticator;
use studio_db::Store;
use studio_queue::JobQueue;
use studio_storage::BlobStore;
use studio_storage::local::LocalStore;

use crate::settings::MediaSettings;
use crate::{HttpSettings, Readiness, metrics::Metrics};

/// Shared state of the HTTP application.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    pub readiness: Arc<Readiness>,
    pub metrics: Metrics,
    pub settings: Arc<HttpSettings>,
    /// Where blobs live.
    pub blobs: Arc<dyn BlobStore>,
    /// The same store when it is the local directory, whose signed URLs studio serves itself.
    pub local_blobs: Option<Arc<LocalStore>>,
    pub media: Arc<MediaSettings>,
    /// Where background jobs are enqueued and watched.
    pub queue: Arc<dyn JobQueue>,
    /// The live collaborative documents of this node.
    pub collab: studio_collab::CollabHub,
    /// AI calls on users' behalf (answers 503 on every call when no provider is configured).
    pub ai: studio_ai::AiService,
    /// The API rate limits (see [`crate::ratelimit`]).
    pub rate_limit: crate::ratelimit::RateLimiter,
    /// Cold storage of originals: settings and this node's recent use records.
    pub archive: Arc<crate::archive::Archive>,
}

impl FromRef<AppState> for Arc<dyn Store> {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}
