//! The command line: `studio-load collab relay | throughput | idle`, `studio-load ai` and
//! `studio-load scenario uploads | browse | collab` (in [`scenario`]).

pub mod scenario;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use self::scenario::ScenarioCommand;
use crate::ai::{self, AiRun};

use crate::collab::idle::{self, IdleRun};
use crate::collab::room::{self, Pace, RoomRun};
use crate::report;
use crate::sys;
use crate::units::{parse_duration, parse_rate};

/// Room for the descriptors the tool needs besides its connections (stdio, the runtime's own).
const SPARE_FDS: u64 = 64;

/// Load generator for Studio Engine.
///
/// Every scenario prints a human summary; with --json the summary goes to stderr and one JSON
/// object with the numbers to stdout.
#[derive(Debug, Parser)]
#[command(name = "studio-load", version, propagate_version = true)]
pub struct Cli {
    /// Print one JSON object with the numbers on stdout (the summary goes to stderr).
    #[arg(long, global = true)]
    pub json: bool,

    /// Runtime worker threads. One by default: the tool usually shares the machine with the
    /// server it measures, and one core handles thousands of connections.
    #[arg(long, global = true, default_value_t = 1, value_name = "N")]
    pub threads: usize,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collaboration scenarios over the y-websocket protocol.
    #[command(subcommand)]
    Collab(CollabCommand),
    /// AI chat latency: time to first token and total time of streamed answers from a fake
    /// OpenAI-compatible provider the tool starts, called directly (the baseline) and through
    /// studio's `/api/ai/chat` (cache misses, then the same prompts as hits).
    Ai(AiArgs),
    /// HTTP scenarios with many users (mass uploads, browsing, collaboration): throughput,
    /// per-step latency percentiles and errors, against any studio base URL(s).
    #[command(subcommand)]
    Scenario(ScenarioCommand),
}

#[derive(Debug, Subcommand)]
pub enum CollabCommand {
    /// Relay latency: N clients in one room, each sending RATE updates/s on a fixed schedule;
    /// reports send-to-receive latency percentiles, deliveries and missing deliveries.
    Relay(RelayArgs),
    /// Relay throughput: N clients in one room sending as fast as the server relays (a bounded
    /// number of updates in flight per sender); reports deliveries per second.
    Throughput(ThroughputArgs),
    /// Idle connections: opens N connections over K rooms, each completing the sync
    /// handshake, holds them; reports failures and, with --server-pid, server RSS per
    /// connection.
    Idle(IdleArgs),
}

/// Where to connect.
#[derive(Debug, Clone, Args)]
pub struct Endpoint {
    /// Collaboration endpoint; clients connect to <URL>/<ROOM>?token=<TOKEN>.
    #[arg(long, env = "STUDIO_LOAD_URL")]
    pub url: String,

    /// Access token (a JWT), sent as the `token` query parameter. Prefer the environment
    /// variable: command lines are visible to every user of the machine.
    #[arg(long, env = "STUDIO_LOAD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Deadline per connection for connecting and completing the sync handshake.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub connect_timeout: Duration,
}

/// Settings every room run shares.
#[derive(Debug, Clone, Args)]
pub struct RoomArgs {
    /// The room all clients join.
    #[arg(long, default_value = "studio-load")]
    pub room: String,

    /// Measured time (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,

    /// Unmeasured time before it, for connections and caches to settle.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub warmup: Duration,

    /// Longest wait after the last send for deliveries still in flight.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub drain: Duration,

    /// New connections per second while connecting (e.g. 200/s).
    #[arg(long, default_value = "200/s", value_parser = parse_rate, value_name = "RATE")]
    pub connect_rate: f64,

    /// The server's process id: report the CPU it used in the measured window.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    #[command(flatten)]
    pub endpoint: Endpoint,

    #[command(flatten)]
    pub room: RoomArgs,

    /// Clients in the room (2 to 10,000).
    #[arg(long, default_value_t = 50)]
    pub clients: usize,

    /// Updates per second each client sends (e.g. 20 or 20/s).
    #[arg(long, default_value = "20", value_parser = parse_rate, value_name = "RATE")]
    pub rate: f64,
}

#[derive(Debug, Clone, Args)]
pub struct ThroughputArgs {
    #[command(flatten)]
    pub endpoint: Endpoint,

    #[command(flatten)]
    pub room: RoomArgs,

    /// Clients in the room (2 to 10,000).
    #[arg(long, default_value_t = 10)]
    pub clients: usize,

    /// Updates a sender may have in flight (sent, not yet seen by every other client). Against
    /// the reference server 4 already saturates it; more only adds queueing latency.
    #[arg(long, default_value_t = 16)]
    pub window: u64,
}

#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    pub endpoint: Endpoint,

    /// Room name template: `{}` becomes the room number; otherwise `-<number>` is appended
    /// when there is more than one room.
    #[arg(long, default_value = "studio-load-idle")]
    pub room: String,

    /// Rooms to spread the connections over.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,

    /// Connections to open.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,

    /// New connections per second (e.g. 500/s).
    #[arg(long, default_value = "500/s", value_parser = parse_rate, value_name = "RATE")]
    pub ramp: f64,

    /// How long to hold the connections once all are open.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub hold: Duration,

    /// The server's process id: report its resident memory (VmRSS) before and after.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

#[derive(Debug, Clone, Args)]
pub struct AiArgs {
    /// Studio's base URL (http://HOST:PORT). Studio must call the fake: start it with
    /// STUDIO_AI_OPENAI_BASE_URL=http://<fake-addr>/v1 and a model in STUDIO_AI_OPENAI_MODELS.
    /// Without it, only the direct baseline is measured.
    #[arg(long, env = "STUDIO_LOAD_URL")]
    pub url: Option<String>,

    /// Bearer token for studio. Prefer the environment variable: command lines are visible to
    /// every user of the machine.
    #[arg(long, env = "STUDIO_LOAD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Where the fake provider listens (port 0: any, for the direct baseline alone).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub fake_addr: std::net::SocketAddr,

    /// Measured requests per series (direct, studio miss, studio hit).
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub requests: usize,

    /// Unmeasured requests of each kind first.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub warmup: usize,

    /// Text tokens per answer.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub tokens: usize,

    /// The fake's wait before its first token (0: the added latency alone).
    #[arg(long, default_value = "0ms", value_parser = parse_duration, value_name = "DURATION")]
    pub first_token_delay: Duration,

    /// The fake's wait before each later token.
    #[arg(long, default_value = "0ms", value_parser = parse_duration, value_name = "DURATION")]
    pub token_delay: Duration,

    /// Deadline per request.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

impl AiArgs {
    /// The run these arguments describe.
    pub fn into_run(self) -> AiRun {
        AiRun {
            url: self.url,
            token: self.token,
            fake_addr: self.fake_addr,
            requests: self.requests,
            warmup: self.warmup,
            tokens: self.tokens,
            first_token_delay: self.first_token_delay,
            token_delay: self.token_delay,
            timeout: self.timeout,
        }
    }
}

impl Cli {
    /// Runs the chosen scenario on a runtime of `--threads` threads and prints its report.
    pub fn run(self) -> anyhow::Result<()> {
        let runtime = if self.threads <= 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(self.threads)
                .enable_all()
                .build()?
        };
        let fd_limit = sys::raise_fd_limit();
        let json = self.json;
        match self.command {
            Command::Collab(CollabCommand::Relay(args)) => {
                let report = runtime.block_on(room::run(args.into_run()))?;
                report::print(&report, json)
            }
            Command::Collab(CollabCommand::Throughput(args)) => {
                let report = runtime.block_on(room::run(args.into_run()))?;
                report::print(&report, json)
            }
            Command::Collab(CollabCommand::Idle(args)) => {
                if let Some(limit) = fd_limit
                    && args.connections as u64 + SPARE_FDS > limit
                {
                    eprintln!(
                        "studio-load: warning: {} connections but only {limit} file descriptors",
                        args.connections
                    );
                }
                let report = runtime.block_on(idle::run(args.into_run()))?;
                report::print(&report, json)
            }
            Command::Ai(args) => {
                let report = runtime.block_on(ai::run(args.into_run()))?;
                report::print(&report, json)
            }
            Command::Scenario(ScenarioCommand::Uploads(args)) => {
                let report = runtime.block_on(async {
                    crate::scenario::uploads::run(args.into_run().await?).await
                })?;
                report::print(&report, json)
            }
            Command::Scenario(ScenarioCommand::Browse(args)) => {
                let report = runtime.block_on(crate::scenario::browse::run(args.into_run()))?;
                report::print(&report, json)
            }
            Command::Scenario(ScenarioCommand::Collab(args)) => {
                let report = runtime.block_on(crate::scenario::collab::run(args.into_run()))?;
                report::print(&report, json)
            }
        }
    }
}

impl RelayArgs {
    /// The run these arguments describe.
    pub fn into_run(self) -> RoomRun {
        room_run(
            self.endpoint,
            self.room,
            self.clients,
            Pace::Rate(self.rate),
        )
    }
}

impl ThroughputArgs {
    /// The run these arguments describe.
    pub fn into_run(self) -> RoomRun {
        room_run(
            self.endpoint,
            self.room,
            self.clients,
            Pace::Window(self.window),
        )
    }
}

fn room_run(endpoint: Endpoint, room: RoomArgs, clients: usize, pace: Pace) -> RoomRun {
    RoomRun {
        url: endpoint.url,
        more_urls: Vec::new(),
        room: room.room,
        token: endpoint.token,
        clients,
        pace,
        duration: room.duration,
        warmup: room.warmup,
        drain: room.drain,
        connect_rate: room.connect_rate,
        connect_timeout: endpoint.connect_timeout,
        server_pid: room.server_pid,
    }
}

impl IdleArgs {
    /// The run these arguments describe.
    pub fn into_run(self) -> IdleRun {
        IdleRun {
            url: self.endpoint.url,
            room: self.room,
            token: self.endpoint.token,
            rooms: self.rooms,
            connections: self.connections,
            ramp: self.ramp,
            hold: self.hold,
            connect_timeout: self.endpoint.connect_timeout,
            server_pid: self.server_pid,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_documented_relay_command() {
        let cli = Cli::try_parse_from([
            "studio-load",
            "collab",
            "relay",
            "--url",
            "ws://127.0.0.1:1/api/collab",
            "--room",
            "R",
            "--clients",
            "50",
            "--rate",
            "20",
            "--duration",
            "30s",
            "--warmup",
            "5s",
            "--json",
        ])
        .expect("parses");
        assert!(cli.json);
        let Command::Collab(CollabCommand::Relay(args)) = cli.command else {
            panic!("not relay");
        };
        let run = args.into_run();
        assert_eq!(run.clients, 50);
        assert_eq!(run.duration, Duration::from_secs(30));
        assert!(matches!(run.pace, Pace::Rate(rate) if rate == 20.0));
    }

    #[test]
    fn parses_the_ai_benchmark() {
        let cli = Cli::try_parse_from([
            "studio-load",
            "ai",
            "--url",
            "http://127.0.0.1:1",
            "--fake-addr",
            "127.0.0.1:4000",
            "--requests",
            "10",
            "--token-delay",
            "5ms",
        ])
        .expect("parses");
        let Command::Ai(args) = cli.command else {
            panic!("not ai");
        };
        let run = args.into_run();
        assert_eq!(run.requests, 10);
        assert_eq!(run.fake_addr.port(), 4000);
        assert_eq!(run.token_delay, Duration::from_millis(5));
        assert_eq!(run.first_token_delay, Duration::ZERO);
    }

    #[test]
    fn parses_the_uploads_scenario_over_two_hosts() {
        let cli = Cli::try_parse_from([
            "studio-load",
            "scenario",
            "uploads",
            "--host",
            "http://127.0.0.1:1,http://127.0.0.1:2",
            "--jwt-secret",
            "0123456789abcdef0123456789abcdef",
            "--users",
            "20",
            "--hatch-rate",
            "5/s",
            "--run-time",
            "1m",
            "--rate",
            "3",
            "--server-pid",
            "node-a=1",
        ])
        .expect("parses");
        let Command::Scenario(ScenarioCommand::Uploads(args)) = cli.command else {
            panic!("not uploads");
        };
        assert_eq!(args.load.hosts.len(), 2);
        assert_eq!(args.load.users, 20);
        assert_eq!(args.load.hatch_rate, 5.0);
        assert_eq!(args.load.run_time, Duration::from_secs(60));
        assert_eq!(args.rate, Some(3.0));
        assert_eq!(args.clip_secs, 2.0);
        assert_eq!(args.load.watch[0].label, "node-a");
    }

    #[test]
    fn parses_idle_with_a_ramp() {
        let cli = Cli::try_parse_from([
            "studio-load",
            "collab",
            "idle",
            "--url",
            "ws://127.0.0.1:1",
            "--rooms",
            "4",
            "--connections",
            "3000",
            "--ramp",
            "500/s",
            "--server-pid",
            "42",
        ])
        .expect("parses");
        let Command::Collab(CollabCommand::Idle(args)) = cli.command else {
            panic!("not idle");
        };
        let run = args.into_run();
        assert_eq!(run.ramp, 500.0);
        assert_eq!(run.server_pid, Some(42));
        assert_eq!(run.hold, Duration::from_secs(10));
    }
}
