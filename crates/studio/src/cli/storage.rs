//! `studio storage …`: administration of the blob store.
//!
//! `studio storage lifecycle` prints the bucket lifecycle configuration studio's settings ask
//! for (the S3 XML, on stdout and nothing else, whatever the storage), and with `--apply` puts
//! it on the S3 bucket, keeping rules that are not studio's. The local store has no lifecycle
//! configuration: there studio sweeps its own files, so `--apply` fails there.

use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use studio_storage::s3::{LifecycleApplied, S3Store};

use crate::config::{Config, StorageConfig};

/// Connecting to the store: fail fast on a wrong endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Each lifecycle call is a small document: a minute is plenty.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Print the bucket lifecycle configuration (S3 XML) from the storage_lifecycle_* settings:
    /// expire temporary objects, abort incomplete multipart uploads, move objects tagged cold.
    Lifecycle {
        /// Put it on the S3 bucket (rules whose ID does not start with `studio-` are kept),
        /// then read it back and compare. S3 storage only.
        #[arg(long)]
        apply: bool,
    },
}

/// Runs a `studio storage` command.
pub(super) async fn run(config: Config, command: StorageCommand) -> anyhow::Result<()> {
    match command {
        StorageCommand::Lifecycle { apply } => lifecycle(config, apply).await,
    }
}

async fn lifecycle(config: Config, apply: bool) -> anyhow::Result<()> {
    let rules = &config.storage_lifecycle;
    let (url, access_key_id, secret_access_key) = match &config.media.storage {
        StorageConfig::S3 {
            url,
            access_key_id,
            secret_access_key,
        } => (url, access_key_id, secret_access_key),
        StorageConfig::Local { .. } if apply => anyhow::bail!(
            "storage is a local directory, which has no lifecycle configuration: studio sweeps \
             its temporary files and expired uploads there itself. --apply is for S3 storage \
             (storage_url = \"s3://…\")"
        ),
        StorageConfig::Local { .. } => {
            eprintln!(
                "note: storage is a local directory; this configuration applies to S3 storage \
                 only (studio sweeps local files itself)"
            );
            print!("{}", rules.to_xml());
            return Ok(());
        }
    };
    if !apply {
        print!("{}", rules.to_xml());
        return Ok(());
    }
    let http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")?;
    let store = S3Store::from_url(url, access_key_id.clone(), secret_access_key.clone(), http)
        .context("invalid S3 storage settings")?;
    let outcome = store
        .apply_lifecycle(rules)
        .await
        .context("cannot apply the bucket lifecycle configuration")?;
    // The XML stays on stdout, so `--apply > applied.xml` records what the bucket now has;
    // what happened goes to stderr.
    print!("{}", rules.to_xml());
    match outcome {
        LifecycleApplied::Unchanged => {
            eprintln!("lifecycle: the bucket already has these rules; nothing changed");
        }
        LifecycleApplied::Updated { kept } => {
            eprintln!("lifecycle: applied and verified ({kept} rule(s) not studio's kept)");
        }
    }
    Ok(())
}
