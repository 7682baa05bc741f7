//! `studio-load scenario uploads | browse | collab`: the command-line side of
//! [`crate::scenario`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use secrecy::SecretString;

use crate::scenario::browse::BrowseRun;
use crate::scenario::collab::CollabRun;
use crate::scenario::media::Media;
use crate::scenario::uploads::UploadsRun;
use crate::scenario::users::{Load, Watched};
use crate::units::{parse_duration, parse_rate};

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Mass uploads: each user makes a project, then repeats upload intent → PUT of the bytes
    /// → complete → wait until the asset is `ready`. Reports uploads/s and per-step latency.
    Uploads(UploadsArgs),
    /// Browsing: each user makes a project with a few assets, then repeats list projects →
    /// list the project's assets → get its timeline.
    Browse(BrowseArgs),
    /// Collaboration: --users editors in one project over y-websocket, each sending --rate
    /// updates per second, spread over the hosts.
    Collab(CollabArgs),
}

/// The load shape every scenario takes.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of a studio node (http://HOST:PORT). Repeat it, or separate with commas, for
    /// the nodes of one deployment: users are spread over them round robin.
    #[arg(
        long = "host",
        required = true,
        value_delimiter = ',',
        env = "STUDIO_LOAD_HOST"
    )]
    pub hosts: Vec<String>,

    /// The HS256 secret the deployment verifies tokens with (its STUDIO_JWT_SECRET): every
    /// user's token is minted from it. Prefer the environment variable.
    #[arg(long, env = "STUDIO_LOAD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,

    /// Simulated users.
    #[arg(long, default_value_t = 10)]
    pub users: usize,

    /// Users started per second (e.g. 5/s).
    #[arg(long, default_value = "10/s", value_parser = parse_rate, value_name = "RATE")]
    pub hatch_rate: f64,

    /// How long iterations keep starting (e.g. 30s, 2m); iterations in flight then finish.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub run_time: Duration,

    /// Deadline of one request.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// User ids are <PREFIX>-<n>. Default: `load-` and a random tag, so runs do not share
    /// users (nor their quotas).
    #[arg(long, value_name = "PREFIX")]
    pub user_prefix: Option<String>,

    /// A process whose peak memory (VmHWM) the report shows at the end, as PID or LABEL=PID.
    /// Repeat for several.
    #[arg(long = "server-pid", value_parser = Watched::parse, value_name = "[LABEL=]PID")]
    pub watch: Vec<Watched>,
}

impl LoadArgs {
    fn into_load(self, rate: Option<f64>) -> Load {
        Load {
            hosts: self.hosts,
            jwt_secret: SecretString::from(self.jwt_secret),
            users: self.users,
            hatch_rate: self.hatch_rate,
            run_time: self.run_time,
            rate,
            timeout: self.timeout,
            user_prefix: self
                .user_prefix
                .unwrap_or_else(|| format!("load-{:08x}", rand::random::<u32>())),
            watch: self.watch,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct UploadsArgs {
    #[command(flatten)]
    pub load: LoadArgs,

    /// Uploads started per second by all users together (default: no cap, each user uploads
    /// again as soon as the last one is ready).
    #[arg(long, value_parser = parse_rate, value_name = "RATE")]
    pub rate: Option<f64>,

    /// The file every upload sends. Default: a test clip made with ffmpeg (--clip-secs).
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Content type of --file (default: from its extension).
    #[arg(long, requires = "file")]
    pub content_type: Option<String>,

    /// Length of the generated clip (1280×720, 30 fps, H.264 + AAC), seconds.
    #[arg(
        long,
        default_value_t = 2.0,
        conflicts_with = "file",
        value_name = "SECONDS"
    )]
    pub clip_secs: f64,

    /// How often a processing asset is looked at.
    #[arg(long, default_value = "200ms", value_parser = parse_duration, value_name = "DURATION")]
    pub poll_interval: Duration,

    /// Longest wait from complete to ready.
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub ready_timeout: Duration,
}

impl UploadsArgs {
    /// The run these arguments describe (reads or makes the file).
    pub async fn into_run(self) -> anyhow::Result<UploadsRun> {
        let media = match &self.file {
            Some(path) => Media::read(path, self.content_type.clone())?,
            None => Media::generate(self.clip_secs).await?,
        };
        Ok(UploadsRun {
            load: self.load.into_load(self.rate),
            media,
            poll_interval: self.poll_interval,
            ready_timeout: self.ready_timeout,
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct BrowseArgs {
    #[command(flatten)]
    pub load: LoadArgs,

    /// Pages (three reads each) started per second by all users together (default: no cap).
    #[arg(long, value_parser = parse_rate, value_name = "RATE")]
    pub rate: Option<f64>,

    /// Assets each user's project gets before browsing (upload intents, no bytes).
    #[arg(long, default_value_t = 5)]
    pub assets: usize,
}

impl BrowseArgs {
    /// The run these arguments describe.
    pub fn into_run(self) -> BrowseRun {
        BrowseRun {
            load: self.load.into_load(self.rate),
            assets: self.assets,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct CollabArgs {
    #[command(flatten)]
    pub load: LoadArgs,

    /// Updates per second each editor sends (studio closes a connection past
    /// collab_messages_per_second, 200 by default).
    #[arg(long, default_value = "5/s", value_parser = parse_rate, value_name = "RATE")]
    pub rate: f64,

    /// Unmeasured time before --run-time, once everyone is connected.
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "DURATION")]
    pub warmup: Duration,
}

impl CollabArgs {
    /// The run these arguments describe.
    pub fn into_run(self) -> CollabRun {
        CollabRun {
            load: self.load.into_load(None),
            edits_per_s: self.rate,
            warmup: self.warmup,
        }
    }
}
