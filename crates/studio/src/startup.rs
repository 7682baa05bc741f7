//! Wiring: configuration in, a running server out. The only place that names concrete backends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use studio_auth::{AuthConfig, Authenticator};
use studio_db::{MigrateMode, Store};
use studio_http::metrics::Metrics;
use studio_http::{AppState, HttpSettings, MediaSettings, Readiness, WebhookAuth};
use studio_storage::BlobStore;
use studio_storage::local::LocalStore;
use studio_storage::s3::S3Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, StorageConfig};
use crate::secrets;

/// Connect and read timeout for outbound calls the API makes itself (JWKS): a slow identity
/// provider must not hold requests for long.
const OUTBOUND_TIMEOUT: Duration = Duration::from_secs(5);

/// A built application: listening, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    reconcile_interval: Duration,
    shutdown_timeout: Duration,
    /// Finished jobs older than this are deleted, every `purge_interval`.
    job_retention: Duration,
    purge_interval: Duration,
    store: Arc<dyn Store>,
    /// The in-process job worker, unless `run_in_process_worker = false`.
    worker: Option<studio_queue::Worker>,
    /// Sweeps scratch space and partial writes.
    sweeper: crate::sweeper::Sweeper,
    /// How often idle originals go to cold storage (`studio_http::archive`).
    archive_interval: Duration,
}

/// Opens the configured store, applying migrations when configured to.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let migrate = if config.auto_migrate {
        MigrateMode::Apply
    } else {
        MigrateMode::Skip
    };
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
    }
    studio_db::open(&config.database_url, migrate)
        .await
        .context("cannot open the database")
}

/// The HTTP client for outbound calls: bounded in time, and never following a redirect (a
/// redirect to another host is how a trusted URL gets turned into an untrusted one).
pub fn outbound_http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(OUTBOUND_TIMEOUT)
        .timeout(OUTBOUND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build the HTTP client")
}

/// Builds the token verifier from the configuration.
pub async fn authenticator(config: &Config) -> anyhow::Result<Authenticator> {
    let hs256_secret = match config.jwt_secret.clone() {
        Some(source) => Some(secrets::resolve(source).await?),
        None => None,
    };
    let auth_config = AuthConfig {
        hs256_secret,
        jwks_url: config.jwks_url.clone(),
        algorithms: config.jwt_algorithms.clone(),
        audience: config.jwt_audience.clone(),
        issuer: config.jwt_issuer.clone(),
        leeway: config.jwt_leeway,
        jwks_cache_ttl: config.jwks_cache_ttl,
    };
    Authenticator::new(auth_config, outbound_http_client()?).context("invalid JWT settings")
}

/// The configured blob store; for the local directory also the concrete store, whose signed
/// URLs the HTTP layer serves. `bound` is the listening address, the default public URL.
pub async fn blob_store(
    config: &Config,
    bound: SocketAddr,
) -> anyhow::Result<(Arc<dyn BlobStore>, Option<Arc<LocalStore>>)> {
    match &config.media.storage {
        StorageConfig::Local { root } => {
            let secret = secrets::resolve(config.media.storage_signing_secret.clone()).await?;
            let public_url = config
                .media
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{bound}"));
            let root = root.clone();
            // Creating the directories is blocking IO.
            let local =
                tokio::task::spawn_blocking(move || LocalStore::new(root, public_url, secret))
                    .await
                    .context("storage set-up did not finish")?
                    .context("cannot open the local storage directory")?;
            let local = Arc::new(local.with_cold_dir(config.cold.dir.clone()));
            Ok((local.clone(), Some(local)))
        }
        StorageConfig::S3 {
            url,
            access_key_id,
            secret_access_key,
        } => {
            let store = S3Store::from_url(
                url,
                access_key_id.clone(),
                secret_access_key.clone(),
                storage_http_client()?,
            )
            .context("invalid S3 storage settings")?;
            Ok((Arc::new(store), None))
        }
    }
}

/// The HTTP client for S3 calls: connects fast or fails, but no overall timeout, because it
/// also streams whole files to and from the bucket.
fn storage_http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(OUTBOUND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build the storage HTTP client")
}

/// The collaboration server: with Redis configured, live projects are shared with the other
/// nodes through Redis Streams (keys `<queue_prefix>:collab:<project id>`).
fn collab_hub(
    config: &Config,
    store: Arc<dyn Store>,
    metrics: &Metrics,
) -> anyhow::Result<studio_collab::CollabHub> {
    let fanout = match &config.redis_url {
        Some(url) => Some(studio_collab::RedisFanout {
            client: redis::Client::open(url.as_str()).context("invalid Redis URL")?,
            prefix: format!("{}:", config.worker.queue_prefix),
            node: format!("{:016x}", rand::random::<u64>()),
        }),
        None => None,
    };
    let sink = studio_http::collab::StoreTimelineSink {
        store: store.clone(),
        limits: config.timeline.clone(),
    };
    Ok(studio_collab::CollabHub::new(
        config.collab.clone(),
        store,
        Arc::new(sink),
        fanout,
        studio_collab::CollabMetrics::new(metrics.recorder()),
    ))
}

/// A rate-limit check waits at most this long for Redis before the node limits alone for a
/// while (see `studio_http::ratelimit`): it sits in front of every API request.
const RATE_LIMIT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// The API rate limiter: shared by all nodes through Redis when it is configured (keys
/// `<queue_prefix>:rl:…`), in process otherwise.
fn rate_limiter(config: &Config) -> anyhow::Result<studio_http::ratelimit::RateLimiter> {
    use studio_http::ratelimit::RateLimiter;
    let settings = config.rate_limit.clone();
    let Some(url) = &config.redis_url else {
        return Ok(RateLimiter::in_process(settings));
    };
    let client = redis::Client::open(url.as_str()).context("invalid Redis URL")?;
    // Lazy, one quick reconnect attempt, short timeouts: while Redis is away the limiter falls
    // back to this node's own counts rather than holding requests.
    let conn = redis::aio::ConnectionManager::new_lazy_with_config(
        client,
        redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(RATE_LIMIT_REDIS_TIMEOUT * 4))
            .set_response_timeout(Some(RATE_LIMIT_REDIS_TIMEOUT)),
    )
    .context("cannot set up the Redis connection for rate limits")?;
    Ok(RateLimiter::with_redis(
        settings,
        conn,
        config.worker.queue_prefix.clone(),
    ))
}

impl Application {
    /// Opens the database, builds the state and binds the listener (port 0 picks a free port).
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let store = open_store(config).await?;
        let auth = Arc::new(authenticator(config).await?);
        let readiness = Readiness::new(
            store.clone(),
            config.redis_url.as_deref(),
            config.temp_dir.clone(),
            config.min_free_temp_bytes,
        )
        .context("invalid Redis URL")?;
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let (blobs, local_blobs) = blob_store(config, listener.local_addr()?).await?;
        let media = MediaSettings {
            multipart_threshold_bytes: config.media.multipart_threshold_bytes,
            multipart_part_size_bytes: config.media.multipart_part_size_bytes,
            upload_url_ttl: config.media.upload_url_ttl,
            upload_intent_ttl: config.media.upload_intent_ttl,
            download_url_ttl: config.media.download_url_ttl,
            plans: config.media.plans.clone(),
            webhook: WebhookAuth {
                token: config.media.storage_webhook_token.clone(),
                signing_key: config.media.storage_webhook_key.clone(),
            },
        };
        let settings = HttpSettings {
            cors_origins: config.cors_origins.clone(),
            body_limit_bytes: config.body_limit_bytes,
            request_timeout: config.request_timeout,
            timeline: config.timeline.clone(),
        };
        let metrics = Metrics::new();
        let collab = collab_hub(config, store.clone(), &metrics)?;
        let metrics_for_ai = metrics.clone();
        let state = AppState {
            store: store.clone(),
            auth,
            readiness: Arc::new(readiness),
            metrics,
            settings: Arc::new(settings),
            blobs,
            local_blobs,
            media: Arc::new(media),
            queue: studio_queue::open_queue(store.clone(), &crate::jobs::engine(config)?)
                .await
                .context("cannot open the job queue")?,
            collab,
            ai: crate::ai::service(config, store.clone(), &metrics_for_ai)?,
            rate_limit: rate_limiter(config)?,
            archive: Arc::new(studio_http::archive::Archive::new(
                config.cold.settings.clone(),
            )),
        };
        let held = crate::sweeper::HeldDirs::default();
        let worker = if config.worker.in_process {
            let metrics = studio_queue::JobMetrics::new(state.metrics.recorder());
            let blobs = state.blobs.clone();
            Some(crate::jobs::worker(config, store.clone(), blobs, metrics, held.clone()).await?)
        } else {
            None
        };
        let sweeper = crate::sweeper::Sweeper {
            temp_dir: config.temp_dir.clone(),
            max_age: config.cold.temp_max_age,
            interval: config.cold.temp_sweep_interval,
            held,
            local: state.local_blobs.clone(),
        };
        Ok(Self {
            worker,
            listener,
            router: studio_http::router(state.clone()),
            state,
            reconcile_interval: config.media.reconcile_interval,
            shutdown_timeout: config.shutdown_timeout,
            job_retention: config.worker.retention,
            purge_interval: config.worker.purge_interval,
            sweeper,
            archive_interval: config.cold.archive_interval,
            store,
        })
    }

    /// The address actually bound (the port is the real one when 0 was asked for).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The application state (tests drive the reconciler with it).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The store the application uses (tests inspect it directly).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets in-flight requests
    /// finish for up to the configured bound, and returns.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.local_addr()?;
        tracing::info!(
            address = %addr,
            database = self.store.backend(),
            storage = self.state.blobs.backend(),
            queue = self.state.queue.engine(),
            "serving"
        );
        let reconciler = tokio::spawn(studio_http::reconciler::run(
            self.state.clone(),
            self.reconcile_interval,
            shutdown.clone(),
        ));
        let archiver = tokio::spawn(studio_http::archive::run(
            self.state.clone(),
            self.archive_interval,
            shutdown.clone(),
        ));
        let sweeper = tokio::spawn(crate::sweeper::run(self.sweeper, shutdown.clone()));
        let janitor = tokio::spawn(crate::janitor::run(
            self.store.clone(),
            self.job_retention,
            self.purge_interval,
            shutdown.clone(),
        ));
        // Same shutdown token: on SIGTERM the worker stops claiming, lets running jobs finish
        // within the shutdown timeout and hands the rest back.
        let worker = self
            .worker
            .map(|worker| tokio::spawn(worker.run(shutdown.clone())));
        // Upgraded WebSockets are not requests the graceful shutdown waits for: the hub closes
        // them (1001) and writes every live document's log and final snapshot itself.
        let collab = self.state.collab.clone();
        let collab_stopped = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                shutdown.cancelled().await;
                collab.shutdown().await;
            }
        });
        // No Nagle: y-websocket sends small frames back to back (step 1, then awareness), and
        // with Nagle the second waits for the client's delayed ACK (~40 ms, measured).
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY");
            }
        });
        let server = axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        tokio::select! {
            result = server => result.context("the server failed")?,
            () = deadline => {
                tracing::warn!(
                    timeout_secs = self.shutdown_timeout.as_secs(),
                    "requests still running at the shutdown deadline were cut off"
                );
            }
        }
        if let Err(err) = collab_stopped.await {
            tracing::error!(error = %err, "the collaboration shutdown panicked");
        }
        reconciler.abort();
        janitor.abort();
        archiver.abort();
        sweeper.abort();
        if let Some(worker) = worker {
            match worker.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!(error = %err, "the job worker failed"),
                Err(err) => tracing::error!(error = %err, "the job worker panicked"),
            }
        }
        tracing::info!("stopped");
        Ok(())
    }
}
