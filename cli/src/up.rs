//! `rserve up`: run a node in the foreground, under systemd or not: SIGTERM and
//! SIGINT drain it, SIGHUP re-deploys the `--deploy` files, and logs carry syslog
//! priorities when stderr is the journal (`crate::journal`).

use std::path::PathBuf;
use std::time::Duration;

use rserve_daemon::cluster::resources::ResourceOverrides;
use rserve_daemon::ingress::HttpLimits;
use rserve_daemon::node::{JoinOptions, NodeHandle};
use rserve_daemon::notify::Notifier;
use rserve_daemon::{Node, NodeConfig, StartError};
use rserve_protocol::AppFile;
use rserve_protocol::wire::Change;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::Invocation;
use crate::args::{LogFormat, UpArgs};
use crate::connect::state_dir;
use crate::env;
use crate::exit::{Exit, ExitContext, Failure};
use crate::printer::Printer;

/// The demo application deployed by `rserve up --demo`.
const DEMO: &str = include_str!("../../examples/digits.toml");

/// Test-only (see `NodeConfig::stall_controller_while`): while the file this
/// names exists, the controller loop stalls. Not documented for operators.
const TEST_STALL_CONTROLLER: &str = "RSERVE_TEST_STALL_CONTROLLER";

/// Where an application file given to `up` comes from; read again on SIGHUP.
#[derive(Debug, Clone)]
enum Source {
    Demo,
    File(PathBuf),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Self::Demo => "<bundled demo examples/digits.toml>".to_owned(),
            Self::File(path) => path.display().to_string(),
        }
    }

    /// Reads and parses the file.
    fn load(&self) -> anyhow::Result<AppFile> {
        let text = match self {
            Self::Demo => DEMO.to_owned(),
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
        };
        Ok(AppFile::parse(&self.name(), &text)?)
    }
}

pub async fn run(cx: &Invocation, args: UpArgs) -> Result<Exit, Failure> {
    let global = &cx.global;
    init_logging(args.log_format, &cx.printer);
    let mut sources = Vec::new();
    if args.demo {
        sources.push(Source::Demo);
    }
    sources.extend(args.deploy.iter().cloned().map(Source::File));
    // Parse before binding anything: a bad file must not leave a half-started node.
    let files = sources
        .iter()
        .map(|s| s.load().map(|f| (s.name(), f)))
        .collect::<Result<Vec<_>, _>>()
        .exit(Exit::Config)?;
    let token = match &args.join_token_file {
        Some(path) => Some(read_join_token(path).exit(Exit::Config)?),
        None => args.token.clone(),
    };

    let config = NodeConfig {
        state_dir: state_dir(global),
        http_addr: args.http_addr,
        control_addr: args.control_addr,
        max_body_bytes: args.max_body_bytes,
        http_limits: HttpLimits {
            max_connections: args.max_connections as usize,
            max_connections_per_ip: args.max_connections_per_ip,
            header_timeout: Duration::from_secs_f64(args.header_timeout_s),
            body_timeout: Duration::from_secs_f64(args.body_timeout_s),
            h2_max_streams: args.h2_max_streams,
            request_timeout: args.request_timeout_s.map(Duration::from_secs_f64),
        },
        max_queued_requests: args.max_queued_requests,
        max_buffered_bytes: args.max_buffered_mb << 20,
        drain_timeout: Duration::from_secs_f64(args.drain_timeout_s.max(0.0)),
        join: args.join.map(|head| JoinOptions {
            head,
            token,
            wait: Duration::from_secs_f64(args.join_wait_s),
        }),
        node_name: args.node_name.clone(),
        advertise_ip: args.advertise_ip,
        pool_tokens: args
            .pool_token_file
            .iter()
            .map(|path| read_pool_token(path))
            .collect::<anyhow::Result<_>>()
            .exit(Exit::Config)?,
        resources: ResourceOverrides {
            num_cpus: args.num_cpus,
            num_gpus: args.num_gpus,
            memory: args.memory,
        },
        labels: args.labels.iter().cloned().collect(),
        node_timeout: Duration::from_secs_f64(args.node_timeout_s.max(0.1)),
        node_cert_lifetime: Duration::from_secs_f64(args.node_cert_lifetime),
        notify: Notifier::from_env(),
        kinds: cx.kinds.clone(),
        // Debug builds only (the tests'): an inherited variable must never
        // hang a production node's controller.
        stall_controller_while: std::env::var_os(TEST_STALL_CONTROLLER)
            .filter(|_| cfg!(debug_assertions))
            .map(PathBuf::from),
    };
    // Installed before the node starts (a join may take a while), so a SIGHUP
    // meanwhile is held for the watcher instead of taking its default action
    // (exit); it reloads once the node runs.
    let hangups = signal(SignalKind::hangup());
    let node = Node::start(config).await.map_err(|e| {
        let exit = match &e {
            StartError::Busy(_) => Exit::Unavailable,
            StartError::State(_) => Exit::Config,
            StartError::JoinRefused(_) => Exit::Unreachable,
            StartError::Other(_) => Exit::Failed,
        };
        Failure {
            exit,
            error: e.into(),
        }
    })?;
    for (name, file) in files {
        let changes = node.deploy(&name, file).await.exit(Exit::Config)?;
        for c in changes {
            if c.change != Change::Unchanged {
                info!(app = %c.app, file = %name, "Deployed at start.");
            }
        }
    }
    let info = node.info().clone();
    cx.printer.note(format_args!(
        "rserve node {} is up: http://{}  (control {}, state dir {})",
        info.node_id,
        info.http_address,
        info.control_address,
        state_dir(global).display()
    ));
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    match hangups {
        Ok(hangups) => {
            tokio::spawn(watch_reloads(
                hangups,
                node.handle(),
                sources,
                shutdown.clone(),
            ));
        }
        Err(e) => {
            warn!(error = %e, "Cannot install the SIGHUP handler; reloads will stop the node.")
        }
    }
    node.run(shutdown).await.exit(Exit::Failed)?;
    Ok(Exit::Ok)
}

/// The join token in `path` (e.g. `$CREDENTIALS_DIRECTORY/join-token`), trimmed.
fn read_join_token(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the join token file {}: {e}", path.display()))?;
    let token = text.trim();
    anyhow::ensure!(
        !token.is_empty(),
        "the join token file {} is empty; put the token from `rserve token create` in it",
        path.display()
    );
    Ok(token.to_owned())
}

/// A pool token file for the head (`--pool-token-file`).
fn read_pool_token(
    path: &std::path::Path,
) -> anyhow::Result<rserve_daemon::cluster::pool_token::PoolToken> {
    let text = read_join_token(path)?;
    let token = rserve_daemon::cluster::pool_token::PoolToken::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if token.check_expiry(rserve_daemon::unix_now_s()).is_err() {
        tracing::warn!(file = %path.display(), "The pool token in this file has expired: joins with it are refused; make a new one with `rserve token create --pool`.");
    }
    Ok(token)
}

/// SIGHUP: re-deploy every `--deploy` file (and the demo) until shutdown.
async fn watch_reloads(
    mut hangups: tokio::signal::unix::Signal,
    node: NodeHandle,
    sources: Vec<Source>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            received = hangups.recv() => if received.is_none() { return },
        }
        info!(
            files = sources.len(),
            "SIGHUP: reloading the --deploy files."
        );
        // A shutdown ends the reload between files (each deploy that began
        // runs to its end), and no READY=1 follows STOPPING=1.
        let failed = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            failed = node.reload(reload(&node, &sources)) => failed,
        };
        if failed == 0 {
            info!("Reload done.");
        } else {
            warn!(
                failed,
                "Reload done; the files that failed changed nothing."
            );
        }
    }
}

/// Deploys each source again (idempotent: an unchanged file changes nothing).
/// A file that cannot be read, parsed or deployed is logged and skipped: the
/// applications it holds keep running as they were. Returns how many failed.
async fn reload(node: &NodeHandle, sources: &[Source]) -> usize {
    let mut failed = 0;
    for source in sources {
        let name = source.name();
        let result = match source.load() {
            Ok(file) => node.deploy(&name, file).await.map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(changes) => {
                for c in changes.iter().filter(|c| c.change != Change::Unchanged) {
                    info!(app = %c.app, file = %name, change = ?c.change, "Reloaded.");
                }
            }
            Err(e) => {
                failed += 1;
                error!(
                    file = %name,
                    error = format!("{e:#}"),
                    "Cannot reload this file; its applications keep running as they were."
                );
            }
        }
    }
    failed
}

/// SIGINT and SIGTERM both start a graceful shutdown; a second one exits at once.
async fn watch_signals(shutdown: CancellationToken) {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        warn!("Cannot install signal handlers; stop the node with `rserve down`.");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    info!(
        signal = name,
        "Shutting down gracefully: draining in-flight requests."
    );
    shutdown.cancel();
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    warn!("Second signal: exiting without draining.");
    std::process::exit(Exit::Interrupted.code().into());
}

/// Logs are messages: they go where the printer sends them, coloured only when it
/// colours. Every line logged is also kept by the node's log hub (`rserve
/// logs`), under the same filter; a panic is logged too, so a replica's panic
/// is among its lines.
fn init_logging(format: LogFormat, printer: &Printer) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = tracing_subscriber::EnvFilter::try_from_env(env::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let capture = rserve_daemon::observe::logs::CaptureLayer;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(printer.colour());
    if crate::journal::is_journal(&printer.log_writer()()) {
        // The journal stamps every entry itself; the priority goes in front.
        let builder = builder
            .without_time()
            .with_writer(crate::journal::PriorityWriter::new(printer.log_writer()));
        match format {
            LogFormat::Text => builder.finish().with(capture).init(),
            LogFormat::Json => builder.json().finish().with(capture).init(),
        }
    } else {
        let builder = builder.with_writer(printer.log_writer());
        match format {
            LogFormat::Text => builder.finish().with(capture).init(),
            LogFormat::Json => builder.json().finish().with(capture).init(),
        }
    }
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic payload".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        tracing::error!(panic = %message, %location, %thread, "Panicked.");
    }));
}
