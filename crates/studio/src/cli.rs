//! The command line: `studio serve | worker | migrate | token | schema | storage`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, RawConfig};
use crate::{Application, logging, shutdown, startup};

mod storage;

/// Studio Engine: the backend of a collaborative, AI-assisted video editor.
///
/// Settings come from the embedded defaults, then `studio.toml` (or --config), then STUDIO_*
/// environment variables; see the README for the list.
#[derive(Debug, Parser)]
#[command(name = "studio", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file to read instead of ./studio.toml.
    #[arg(long, global = true, env = "STUDIO_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (on the embedded default, migrations are applied first).
    Serve,
    /// Run a background worker: connects to the database (and Redis when configured) and
    /// waits for jobs until SIGTERM. No job kinds exist yet; media jobs arrive with the queue.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a signed HS256 access token for a user, for local use and tests.
    Token {
        /// The user id (the token's `sub`).
        user_id: String,
        /// How long the token is valid, in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
    },
    /// Print the JSON Schema (draft 2020-12) of the project timeline, the contract
    /// `clients/typescript` is generated from (`scripts/gen-clients.sh`).
    Schema,
    /// Blob storage administration.
    Storage {
        #[command(subcommand)]
        command: storage::StorageCommand,
    },
}

impl Cli {
    /// Loads the configuration and runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        // The schema is a constant of the build: it needs no configuration, so a missing or
        // broken one cannot stop a client generator.
        if matches!(self.command, Command::Schema) {
            return schema();
        }
        let config = RawConfig::load(self.config.as_deref())?.validate()?;
        match self.command {
            Command::Serve => serve(config).await,
            Command::Worker => worker(config).await,
            Command::Migrate => migrate(config).await,
            Command::Token { user_id, ttl_secs } => token(config, &user_id, ttl_secs).await,
            Command::Schema => schema(),
            Command::Storage { command } => storage::run(config, command).await,
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    logging::init(config.log_format, &config.log_level)?;
    let token = CancellationToken::new();
    shutdown::cancel_on_signal(token.clone())?;
    let app = Application::build(&config).await?;
    let addr = app.local_addr()?;
    // The one line a person starting studio by hand looks for; on stderr, so stdout stays pure JSON lines for log shippers.
    eprintln!("Studio Engine listening on http://{addr} (API docs at http://{addr}/docs)");
    app.run_until_stopped(token).await
}

async fn worker(config: Config) -> anyhow::Result<()> {
    logging::init(config.log_format, &config.log_level)?;
    let token = CancellationToken::new();
    shutdown::cancel_on_signal(token.clone())?;
    let store = startup::open_store(&config).await?;
    store.ping().await.context("the database does not answer")?;
    if let Some(url) = &config.redis_url {
        let client = redis::Client::open(url.as_str()).context("invalid Redis URL")?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .context("cannot connect to Redis")?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .context("Redis does not answer PING")?;
    }
    let (blobs, local_blobs) = startup::blob_store(&config, config.bind).await?;
    let metrics = studio_http::metrics::Metrics::new();
    let held = crate::sweeper::HeldDirs::default();
    let worker = crate::jobs::worker(
        &config,
        store.clone(),
        blobs,
        studio_queue::JobMetrics::new(metrics.recorder()),
        held.clone(),
    )
    .await?;
    // The worker's scratch space (and the local store's partial writes) swept on a schedule.
    let sweeper = tokio::spawn(crate::sweeper::run(
        crate::sweeper::Sweeper {
            temp_dir: config.temp_dir.clone(),
            max_age: config.cold.temp_max_age,
            interval: config.cold.temp_sweep_interval,
            held,
            local: local_blobs,
        },
        token.clone(),
    ));
    let metrics_server = match config.worker.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for worker metrics"))?;
            tracing::info!(address = %listener.local_addr()?, "serving worker metrics");
            Some(tokio::spawn(crate::worker_metrics::serve(
                listener,
                metrics,
                store.clone(),
                token.clone(),
            )))
        }
        None => None,
    };
    tracing::info!(
        database = store.backend(),
        queue = config.worker.queue.as_str(),
        concurrency = config.worker.concurrency,
        "worker connected; waiting for jobs"
    );
    // Returns after SIGTERM once running jobs finished (within `shutdown_timeout_secs`) or were
    // handed back to the queue.
    worker.run(token).await.context("the worker failed")?;
    sweeper.abort();
    if let Some(server) = metrics_server {
        server.abort();
    }
    tracing::info!("worker stopped");
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    logging::init(config.log_format, &config.log_level)?;
    let store = startup::open_store(&Config {
        auto_migrate: true,
        ..config
    })
    .await?;
    tracing::info!(database = store.backend(), "migrations applied");
    Ok(())
}

async fn token(config: Config, user_id: &str, ttl_secs: u64) -> anyhow::Result<()> {
    let user = studio_core::UserId::parse(user_id).context("invalid user id")?;
    let source = config
        .jwt_secret
        .clone()
        .context("HS256 is not configured (no jwt_secret and HS256 not in jwt_algorithms)")?;
    let secret = crate::secrets::resolve(source).await?;
    let claims = studio_auth::MintClaims {
        sub: user.as_str().to_owned(),
        ttl: Duration::from_secs(ttl_secs),
        audience: config.jwt_audience.clone(),
        issuer: config.jwt_issuer.clone(),
        role: "authenticated".to_owned(),
    };
    let token = studio_auth::mint_hs256(&secret, &claims)?;
    // Only the token, so `TOKEN=$(studio token alice)` works.
    println!("{token}");
    Ok(())
}

/// Prints the timeline's JSON Schema, pretty, as `GET /api/schema/project.json` serves it.
fn schema() -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(studio_core::timeline::json_schema())?;
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
