//! The command line, as clap definitions only (no runtime behaviour), so the
//! binary, the completion and man page generators and the drift tests share it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

/// A number of seconds: finite, not negative, at most `MAX_SECONDS`.
fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    let max = rserve_protocol::config::MAX_SECONDS;
    if (0.0..=max).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be between 0 and {max} seconds"))
    }
}

/// [`seconds`], more than zero (a zero timeout would refuse every request).
fn positive_seconds(s: &str) -> Result<f64, String> {
    match seconds(s)? {
        v if v > 0.0 => Ok(v),
        _ => Err("must be more than 0 seconds".to_owned()),
    }
}

/// rserve: model serving in one binary — the node daemon and the operator CLI.
#[derive(Debug, Parser)]
#[command(name = "rserve", version, about, long_about = None, propagate_version = true, after_help = env::help_footer())]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]
    // Listed after each command's own options.
    #[arg(long, global = true, env = env::STATE_DIR, value_name = "DIR", display_order = 100)]
    pub state_dir: Option<PathBuf>,

    /// Print only the result and errors: no progress, no messages
    #[arg(short, long, global = true, display_order = 99)]
    pub quiet: bool,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// The heading of the options that say how to reach a node.
pub const CONNECTION_OPTIONS: &str = "Connection options";

/// How the CLI finds, trusts and authenticates to a node (`rserve up` ignores
/// these). The admin token itself has no flag: `RSERVE_TOKEN` (`env::UNFLAGGED`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = CONNECTION_OPTIONS)]
pub struct ClientArgs {
    /// Control address of the node to talk to [default: from the state dir's node.json, else 127.0.0.1:8265]
    #[arg(long, global = true, env = env::ADDR, value_name = "HOST:PORT")]
    pub address: Option<SocketAddr>,

    /// CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]
    #[arg(long, global = true, env = env::CACERT, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]
    #[arg(long, global = true, env = env::CLIENT_CERT, value_name = "FILE")]
    pub client_cert: Option<PathBuf>,

    /// Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]
    #[arg(long, global = true, env = env::CLIENT_KEY, value_name = "FILE")]
    pub client_key: Option<PathBuf>,

    /// Name verified in the node's certificate
    #[arg(long, global = true, env = env::TLS_SERVER_NAME, value_name = "NAME", default_value = rserve_daemon::pki::NODE_SERVER_NAME)]
    pub tls_server_name: String,

    /// File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]
    #[arg(long, global = true, env = env::TOKEN_FILE, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: `up`'s many flags make its variant large, and that costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Start a node in the foreground (stop it with Ctrl-C, SIGTERM or `rserve down`).
    Up(UpArgs),
    /// Stop the running node gracefully.
    Down(DownArgs),
    /// Create or update the applications in a TOML file (idempotent; never removes others).
    Deploy(DeployArgs),
    /// Show what `deploy` of a file would change, per deployment, changing nothing (exit 0: nothing, 1: something would change).
    Diff(DiffArgs),
    /// Delete an application.
    Delete(DeleteArgs),
    /// Set a deployment's replica count, kept as if its file said num_replicas = N (not for autoscaled ones).
    Scale(ScaleArgs),
    /// Show applications, deployments and replicas with Ray Serve's status names.
    Status(StatusArgs),
    /// Print the deployed configuration.
    Config(ConfigArgs),
    /// List the cluster's nodes: resources, labels, alive or dead (ask the head); `nodes remove ID` removes one.
    Nodes(NodesArgs),
    /// Print log lines of replicas (and nodes) from across the cluster; -f follows.
    Logs(LogsArgs),
    /// Print the cluster's event log: deploys, replicas starting, failing and stopping, nodes joining and dying.
    Events(EventsArgs),
    /// Show each deployment's replicas with node, state, in-flight requests, rate, latency and errors, from every node's routers.
    Routes(RoutesArgs),
    /// Interactive terminal monitor of nodes, deployments, replicas, live routing, logs and events (k9s keys; ? for help).
    Top(TopArgs),
    /// Print a live, rate-limited sample of requests as every node's ingress answers them.
    Tap(TapArgs),
    /// Manage join tokens for adding nodes to the cluster (on the head).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print a shell completion script.
    Completion(CompletionArgs),
    /// Write man pages (one per command) into a directory.
    #[command(hide = true)]
    GenerateMan(GenerateManArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// HTTP ingress address (port 0 picks a free port)
    #[arg(long, env = env::HTTP_ADDR, default_value = rserve_daemon::node::DEFAULT_HTTP_ADDR, value_name = "HOST:PORT")]
    pub http_addr: SocketAddr,

    /// Control endpoint address, UDP/QUIC (port 0 picks a free port)
    #[arg(long, env = env::CONTROL_ADDR, default_value = rserve_daemon::node::DEFAULT_CONTROL_ADDR, value_name = "HOST:PORT")]
    pub control_addr: SocketAddr,

    /// Deploy the bundled digits demo at /digits once the node is up
    #[arg(long)]
    pub demo: bool,

    /// Deploy this application file once the node is up, and again on SIGHUP (repeatable)
    #[arg(long, value_name = "FILE")]
    pub deploy: Vec<PathBuf>,

    /// Largest request body the ingress accepts, in bytes (larger: 413)
    #[arg(long, env = env::MAX_BODY_BYTES, default_value_t = 16 * 1024 * 1024, value_name = "BYTES")]
    pub max_body_bytes: usize,

    /// Open HTTP connections at most; past it new ones are closed at once
    #[arg(long, env = env::MAX_CONNECTIONS, default_value_t = 4096, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Open HTTP connections from one client address at most (0: no such cap; behind a proxy, keep 0)
    #[arg(long, env = env::MAX_CONNECTIONS_PER_IP, default_value_t = 0, value_name = "N")]
    pub max_connections_per_ip: u32,

    /// Seconds a client has to send a request's head (also the keep-alive idle limit)
    #[arg(long, env = env::HEADER_TIMEOUT_S, default_value_t = 30.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub header_timeout_s: f64,

    /// Longest pause, in seconds, while a request body arrives (longer: 408)
    #[arg(long, env = env::BODY_TIMEOUT_S, default_value_t = 30.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub body_timeout_s: f64,

    /// HTTP/2 streams (requests) open at once on one connection
    #[arg(long, env = env::H2_MAX_STREAMS, default_value_t = 128, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub h2_max_streams: u32,

    /// Seconds a request may wait for its answer to start, queueing included (past it: 408) [default: none]
    #[arg(long, env = env::REQUEST_TIMEOUT_S, value_name = "SECONDS", value_parser = positive_seconds)]
    pub request_timeout_s: Option<f64>,

    /// Requests queued at most over every deployment (past it: 503), under each max_queued_requests
    #[arg(long, env = env::MAX_QUEUED_REQUESTS, default_value_t = rserve_daemon::router::DEFAULT_MAX_QUEUED, value_name = "N")]
    pub max_queued_requests: u64,

    /// Request bodies held in memory at most at once, in MiB (past it: 503)
    #[arg(long, env = env::MAX_BUFFERED_MB, default_value_t = rserve_daemon::router::DEFAULT_MAX_BYTES >> 20, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=(1 << 40)))]
    pub max_buffered_mb: u64,

    /// Seconds in-flight requests may take to finish after SIGTERM/SIGINT
    #[arg(long, env = env::DRAIN_TIMEOUT_S, default_value_t = 20.0, value_name = "SECONDS", value_parser = seconds)]
    pub drain_timeout_s: f64,

    /// Log format
    #[arg(long, env = env::LOG_FORMAT, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Join the cluster whose head's control endpoint is here, an IP or a DNS name, looked up again at each reconnection (first time: with a token)
    #[arg(long, env = env::JOIN, value_name = "HOST:PORT")]
    pub join: Option<rserve_daemon::cluster::head_address::HeadName>,

    /// Seconds a first join keeps retrying while the head cannot be reached (pods of a pool start before their head)
    #[arg(long, env = env::JOIN_WAIT_S, default_value_t = 0.0, value_name = "SECONDS", value_parser = seconds, requires = "join")]
    pub join_wait_s: f64,

    /// This node's id, e.g. a StatefulSet pod's stable name [default: the state dir's, or a new node-<hex>]
    #[arg(long, env = env::NODE_NAME, value_name = "NAME")]
    pub node_name: Option<String>,

    /// The IP other nodes reach this one at, when it binds 0.0.0.0 or [::] (e.g. a pod's IP) [default: as the head sees it]
    #[arg(long, env = env::ADVERTISE_IP, value_name = "IP")]
    pub advertise_ip: Option<std::net::IpAddr>,

    /// Head: also accept joins with this reusable pool token (a file from `rserve token create --pool`; repeatable, or comma-separated in the variable)
    #[arg(long, env = env::POOL_TOKEN_FILE, value_name = "FILE", value_delimiter = ',', conflicts_with = "join")]
    pub pool_token_file: Vec<PathBuf>,

    /// Join token from `rserve token create` on the head (prefer the environment variable)
    #[arg(long, env = env::JOIN_TOKEN, value_name = "TOKEN", hide_env_values = true, requires = "join")]
    pub token: Option<String>,

    /// File holding the join token, e.g. a systemd credential (keeps it out of argv and the environment)
    #[arg(long, env = env::JOIN_TOKEN_FILE, value_name = "FILE", requires = "join", conflicts_with = "token")]
    pub join_token_file: Option<PathBuf>,

    /// CPU cores this node offers [default: discovered]
    #[arg(long, env = env::NUM_CPUS, value_name = "N", value_parser = units)]
    pub num_cpus: Option<f64>,

    /// GPUs this node offers [default: discovered from the NVIDIA driver]
    #[arg(long, env = env::NUM_GPUS, value_name = "N", value_parser = units)]
    pub num_gpus: Option<f64>,

    /// Memory this node offers, in bytes [default: discovered]
    #[arg(long, env = env::MEMORY, value_name = "BYTES")]
    pub memory: Option<u64>,

    /// A label for scheduling constraints, KEY=VALUE (repeatable, or several comma-separated; a value holds no comma)
    #[arg(long = "label", env = env::LABELS, value_name = "KEY=VALUE", value_parser = label, value_delimiter = ',')]
    pub labels: Vec<(String, String)>,

    /// Head: seconds without a heartbeat after which a node is declared dead
    #[arg(long, env = env::NODE_TIMEOUT_S, default_value_t = 5.0, value_name = "SECONDS", value_parser = seconds)]
    pub node_timeout_s: f64,

    /// Head: how long node certificates are valid (30s, 12h, 90d); each is renewed in the last third of its life
    #[arg(long, env = env::NODE_CERT_LIFETIME, default_value = "90d", value_name = "DURATION", value_parser = cert_lifetime)]
    pub node_cert_lifetime: f64,
}

/// A join token's lifetime: a [`duration`] from 1 s to 10 years.
fn token_ttl(s: &str) -> Result<f64, String> {
    match duration(s)? {
        v if (1.0..=3650.0 * 86400.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` must be between 1s and 3650d")),
    }
}

/// A certificate lifetime: a [`duration`] from 10 s to 10 years.
fn cert_lifetime(s: &str) -> Result<f64, String> {
    match duration(s)? {
        v if (10.0..=3650.0 * 86400.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` must be between 10s and 3650d")),
    }
}

/// `KEY=VALUE` with a plain key.
/// CPUs or GPUs a node offers: a finite number from 0 (fractions allowed).
fn units(s: &str) -> Result<f64, String> {
    let max = rserve_protocol::wire::MAX_NODE_UNITS;
    match s.parse::<f64>() {
        Ok(v) if (0.0..=max).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number from 0 to {max}")),
    }
}

fn label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    if k.is_empty()
        || !k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        return Err(format!(
            "label key `{k}` may only hold letters, digits, `-`, `_`, `.`, `/`"
        ));
    }
    Ok((k.to_owned(), v.to_owned()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Seconds to wait for the node to exit
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS", value_parser = seconds)]
    pub timeout: f64,
}

/// The application file: positional, or kubectl's `-f`.
#[derive(Debug, Args)]
pub struct FileArg {
    /// Application file (TOML); `-` reads standard input
    #[arg(value_name = "FILE", required_unless_present = "file")]
    pub path: Option<PathBuf>,

    /// Application file, kubectl style (same as the positional FILE)
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        conflicts_with = "path"
    )]
    pub file: Option<PathBuf>,
}

impl FileArg {
    /// The file given, whichever way (clap requires one).
    pub fn path(self) -> PathBuf {
        self.path.or(self.file).expect("clap requires a file")
    }
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub source: FileArg,

    /// Block until every application in the file is RUNNING (exit 3 on timeout, 1 on failure)
    #[arg(long)]
    pub wait: bool,

    /// Check the file against the node and print what would change, changing nothing (as `rserve diff`, but exit 0)
    #[arg(long, conflicts_with = "wait")]
    pub dry_run: bool,

    /// Seconds `--wait` waits
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS", value_parser = seconds)]
    pub timeout: f64,

    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub source: FileArg,

    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Application name
    pub app: String,

    /// Block until the application's replicas are gone (exit 3 on timeout)
    #[arg(long)]
    pub wait: bool,

    /// Seconds `--wait` waits
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS", value_parser = seconds)]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// APP/DEPLOYMENT
    #[arg(value_name = "APP/DEPLOYMENT", value_parser = app_deployment)]
    pub target: (String, String),

    /// The replica count
    #[arg(value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(rserve_protocol::config::MAX_REPLICAS)))]
    pub replicas: u32,
}

/// `APP/DEPLOYMENT` (also `deployment/APP/DEPLOYMENT`, kubectl's kind prefix).
fn app_deployment(s: &str) -> Result<(String, String), String> {
    let s = s.strip_prefix("deployment/").unwrap_or(s);
    match s.split_once('/') {
        Some((app, dep)) if !app.is_empty() && !dep.is_empty() && !dep.contains('/') => {
            Ok((app.to_owned(), dep.to_owned()))
        }
        _ => Err(format!("`{s}` is not APP/DEPLOYMENT")),
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this application
    pub app: Option<String>,

    /// Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart
    #[arg(short, long)]
    pub watch: bool,

    /// Output format; `wide` adds trigger, ongoing requests, nodes and replica ids; `name` prints application/NAME lines
    #[arg(short, long, value_enum, default_value_t = ListOutput::Table)]
    pub output: ListOutput,

    /// Leave out the column headers (table and wide)
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Only this application
    pub app: Option<String>,

    /// Output format; `table` prints TOML, the file format
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NodesArgs {
    #[command(subcommand)]
    pub command: Option<NodesCommand>,

    /// Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart
    #[arg(short, long)]
    pub watch: bool,

    /// Output format; `wide` adds GPU memory, version and replica ids; `name` prints node/ID lines
    #[arg(short, long, value_enum, default_value_t = ListOutput::Table)]
    pub output: ListOutput,

    /// Leave out the column headers (table and wide)
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Debug, Subcommand)]
pub enum NodesCommand {
    /// Remove a member for good: its replicas are placed elsewhere and its certificate is refused by every node (it may rejoin only with a new token)
    Remove {
        /// The member's node id (see `rserve nodes`)
        node_id: String,
    },
}

/// A duration: `90`, `90s`, `10m`, `2h`, `1d`.
pub fn duration(s: &str) -> Result<f64, String> {
    let (number, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(format!("`{s}`: the unit must be s, m, h or d")),
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s, 10m or 2h"))?;
    if !(n.is_finite() && n >= 0.0) {
        return Err(format!("`{s}` must not be negative"));
    }
    Ok(n * scale)
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// APP or APP/DEPLOYMENT, or replica/ID [default: every replica and every node's own lines]
    pub target: Option<String>,

    /// Only this replica
    #[arg(long, value_name = "ID")]
    pub replica: Option<String>,

    /// Only lines of this node
    #[arg(long, value_name = "ID")]
    pub node: Option<String>,

    /// Follow: keep printing new lines as they are logged
    #[arg(short, long)]
    pub follow: bool,

    /// Only lines newer than this (30s, 10m, 2h)
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub since: Option<f64>,

    /// Only the last N lines of each replica (and node)
    #[arg(long, value_name = "N")]
    pub tail: Option<u32>,

    /// Start each line with its time (RFC 3339, UTC)
    #[arg(long)]
    pub timestamps: bool,

    /// Start each line with its source, [replica/ID] or [node/ID] [default: when more than one source]
    #[arg(long, overrides_with = "no_prefix")]
    pub prefix: bool,

    /// Never prefix lines with their source
    #[arg(long, overrides_with = "prefix")]
    pub no_prefix: bool,

    /// The last lines of replicas that ended (stopped, crashed), as kubectl logs --previous
    #[arg(short, long, conflicts_with = "follow")]
    pub previous: bool,

    /// Output format; `json` prints JSON Lines (docs/api.md)
    #[arg(short, long, value_enum, default_value_t = StreamOutput::Text)]
    pub output: StreamOutput,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Follow: keep printing new events
    #[arg(short, long)]
    pub follow: bool,

    /// Only the last N events of the history
    #[arg(long, value_name = "N")]
    pub tail: Option<u32>,

    /// Output format; `json` prints JSON Lines (docs/api.md)
    #[arg(short, long, value_enum, default_value_t = StreamOutput::Text)]
    pub output: StreamOutput,

    /// Leave out the column headers
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Disable every key that changes the cluster (scale, delete, restart): for on-call viewers
    #[arg(long)]
    pub readonly: bool,
}

#[derive(Debug, Args)]
pub struct RoutesArgs {
    /// Watch: redraw on a terminal, else print the table (or a JSON object) per change
    #[arg(short, long)]
    pub watch: bool,

    /// Output format; `wide` adds multiplexed models
    #[arg(short, long, value_enum, default_value_t = RoutesOutput::Table)]
    pub output: RoutesOutput,

    /// Leave out the column headers (table and wide)
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Debug, Args)]
pub struct TapArgs {
    /// APP or APP/DEPLOYMENT [default: every deployment]
    pub target: Option<String>,

    /// Only requests entering this node
    #[arg(long, value_name = "ID")]
    pub node: Option<String>,

    /// Most requests a second to print (linkerd tap's default)
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub max_rps: u32,

    /// Output format; `json` prints JSON Lines (docs/api.md)
    #[arg(short, long, value_enum, default_value_t = StreamOutput::Text)]
    pub output: StreamOutput,
}

/// `-o` of the streaming commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StreamOutput {
    /// Lines for people.
    Text,
    /// JSON Lines: one object per line with a `type` field (docs/api.md).
    Json,
}

/// `-o` of `rserve routes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoutesOutput {
    /// Aligned columns for people.
    Table,
    /// The table with multiplexed models.
    Wide,
    /// The stable JSON schema (docs/api.md); JSON Lines with --watch.
    Json,
    /// The same document as YAML.
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a join token: `rserve up --join HEAD --token TOKEN` on a new node
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// How long the token stays valid: seconds, or 30m, 12h, 365d (at most 3650d)
    #[arg(long, default_value = "1d", value_name = "DURATION", value_parser = token_ttl)]
    pub ttl: f64,

    /// Nodes the token may join (then it is used up)
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000), conflicts_with = "pool")]
    pub uses: u32,

    /// Make a reusable pool token here, without a node: every node of a pool joins with it until --ttl passes (the head reads it with --pool-token-file)
    #[arg(long)]
    pub pool: bool,

    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// The stable JSON schema (docs/api.md).
    Json,
    /// The same document as YAML.
    Yaml,
}

/// `-o` of the commands that list things (`status`, `nodes`), kubectl's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListOutput {
    /// Aligned columns for people.
    Table,
    /// The table with more columns.
    Wide,
    /// `kind/name`, one per line, for scripts.
    Name,
    /// The stable JSON schema (docs/api.md).
    Json,
    /// The same document as YAML.
    Yaml,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// Shell to generate for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct GenerateManArgs {
    /// Directory to write the pages into
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}
