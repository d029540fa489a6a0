//! `rserve up`: run a node in the foreground.

use std::time::Duration;

use rserve_daemon::cluster::resources::ResourceOverrides;
use rserve_daemon::node::JoinOptions;
use rserve_daemon::{Node, NodeConfig, StartError};
use rserve_protocol::AppFile;
use rserve_protocol::wire::Change;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::Context;
use crate::args::{LogFormat, UpArgs};
use crate::connect::state_dir;
use crate::env;
use crate::exit::{Exit, ExitContext, Failure, fail};
use crate::printer::Printer;

/// The demo application deployed by `rserve up --demo`.
const DEMO: &str = include_str!("../../examples/digits.toml");

pub async fn run(cx: &Context, args: UpArgs) -> Result<Exit, Failure> {
    let global = &cx.global;
    init_logging(args.log_format, &cx.printer);
    let mut files = Vec::new();
    if args.demo {
        files.push((
            "<bundled demo examples/digits.toml>".to_owned(),
            DEMO.to_owned(),
        ));
    }
    for path in &args.deploy {
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(Exit::Config, format!("cannot read {}: {e}", path.display())))?;
        files.push((path.display().to_string(), text));
    }
    // Parse before binding anything: a bad file must not leave a half-started node.
    let files = files
        .into_iter()
        .map(|(name, text)| AppFile::parse(&name, &text).map(|f| (name, f)))
        .collect::<Result<Vec<_>, _>>()
        .exit(Exit::Config)?;

    let config = NodeConfig {
        state_dir: state_dir(global),
        http_addr: args.http_addr,
        control_addr: args.control_addr,
        max_body_bytes: args.max_body_bytes,
        drain_timeout: Duration::from_secs_f64(args.drain_timeout_s.max(0.0)),
        join: args.join.map(|head| JoinOptions {
            head,
            token: args.token.clone(),
        }),
        resources: ResourceOverrides {
            num_cpus: args.num_cpus,
            num_gpus: args.num_gpus,
            memory: args.memory,
        },
        labels: args.labels.iter().cloned().collect(),
        node_timeout: Duration::from_secs_f64(args.node_timeout_s.max(0.1)),
    };
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
    node.run(shutdown).await.exit(Exit::Failed)?;
    Ok(Exit::Ok)
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
/// colours.
fn init_logging(format: LogFormat, printer: &Printer) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(printer.log_writer())
        .with_ansi(printer.colour());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
