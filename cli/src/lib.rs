//! `rserve`: the node daemon (`rserve up`) and the operator CLI in one binary,
//! and the crate to build your own: write a [`Deployment`], register it with
//! [`App::kind`], and `App::run` is the whole `rserve` CLI and daemon serving
//! it next to the built-in kinds (docs/custom-deployments.md).
//!
//! ```no_run
//! use rserve::{Context, Deployment, Error, Request, Response};
//!
//! struct Hello;
//!
//! impl Deployment for Hello {
//!     type Config = ();
//!
//!     async fn new(_config: (), _cx: Context) -> Result<Self, Error> {
//!         Ok(Hello)
//!     }
//!
//!     async fn call(&self, req: Request) -> Result<Response, Error> {
//!         Ok(Response::text(format!("hello, {}\n", String::from_utf8_lossy(&req.body))))
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     rserve::App::new().kind::<Hello>("hello").run()
//! }
//! ```
//!
//! [`App::run`] parses arguments, runs one command and maps its outcome to a
//! documented exit code; errors are printed once, with their cause chain, on
//! stderr. All output goes through the `Printer` (data to stdout, messages to
//! stderr); the lints below and `cli/clippy.toml` keep it that way.
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

mod args;
mod commands;
mod connect;
mod env;
mod exit;
mod generate;
#[cfg(test)]
mod golden;
mod journal;
mod output;
mod printer;
mod streams;
mod top;
mod up;

use std::process::ExitCode;
use std::sync::Arc;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use crate::args::{Cli, Command, Global};
use crate::connect::AdminToken;
use crate::exit::{Exit, Failure};
use crate::printer::Printer;

/// Request and response parts: methods, status codes, headers.
pub use http;
pub use rserve_daemon::api::{
    Context, Deployment, DeploymentHandle, Error, EventSender, HandleError, HandleResponse,
    HandleStream, HttpError, Kinds, Request, Response,
};
/// Logging: what a deployment logs with it is filed under its replica
/// (`rserve logs`).
pub use tracing;

/// What every command gets: the global options, where the admin token comes
/// from, the printer, and the kinds `rserve up` serves.
#[derive(Debug)]
pub(crate) struct Invocation {
    pub global: Global,
    pub token: AdminToken,
    pub printer: Printer,
    pub kinds: Arc<Kinds>,
}

/// The `rserve` program, with the deployment kinds it serves.
#[derive(Debug, Default)]
pub struct App {
    kinds: Kinds,
}

impl App {
    /// `rserve` with the built-in kinds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also serves `D` as kind `name` (`replica = { kind = "name" }`).
    ///
    /// # Panics
    /// When `name` is a built-in kind's, registered twice, or not a plain
    /// name (a programming error, found on the first run).
    #[must_use]
    pub fn kind<D: Deployment>(mut self, name: &str) -> Self {
        if let Err(e) = self.kinds.register::<D>(name) {
            panic!("rserve::App::kind: {e}");
        }
        self
    }

    /// Runs the `rserve` command line (`up`, `deploy`, `status`, ...) with
    /// the process's arguments; returns the exit code to end with.
    pub fn run(self) -> ExitCode {
        let matches = Cli::command().get_matches();
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        let token = AdminToken::resolve(
            cli.global.client.token_file.as_deref(),
            matches.value_source("token_file") == Some(ValueSource::CommandLine),
            env::admin_token(),
        );
        let printer = Printer::from_env(cli.global.quiet);
        let cx = Invocation {
            global: cli.global,
            token,
            printer,
            kinds: Arc::new(self.kinds),
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                cx.printer
                    .error(&anyhow::Error::new(e).context("cannot start the async runtime"));
                return ExitCode::FAILURE;
            }
        };
        match runtime.block_on(run(&cx, cli.command)) {
            Ok(exit) => exit.into(),
            Err(Failure { exit, error }) => {
                if is_broken_pipe(&error) {
                    return Exit::Ok.into();
                }
                cx.printer.error(&error);
                exit.into()
            }
        }
    }
}

async fn run(cx: &Invocation, command: Command) -> Result<Exit, Failure> {
    match command {
        Command::Up(args) => up::run(cx, args).await,
        Command::Down(args) => commands::down(cx, args).await,
        Command::Deploy(args) => commands::deploy(cx, args).await,
        Command::Diff(args) => commands::diff(cx, args).await,
        Command::Delete(args) => commands::delete(cx, args).await,
        Command::Scale(args) => commands::scale(cx, args).await,
        Command::Status(args) if args.watch => streams::watch_status(cx, args).await,
        Command::Status(args) => commands::status(cx, args).await,
        Command::Config(args) => commands::config(cx, args).await,
        Command::Nodes(args) if args.watch => streams::watch_nodes(cx, args).await,
        Command::Nodes(args) => commands::nodes(cx, args).await,
        Command::Logs(args) => streams::logs(cx, args).await,
        Command::Events(args) => streams::events(cx, args).await,
        Command::Routes(args) => streams::routes(cx, args).await,
        Command::Tap(args) => streams::tap(cx, args).await,
        Command::Top(args) => top::run(cx, args).await,
        Command::Token(command) => commands::token(cx, command).await,
        Command::Completion(args) => generate::completion(cx, args),
        Command::GenerateMan(args) => generate::man(&args.out),
    }
}

/// `rserve status | head` must not fail loudly.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_file_source(argv: &[&str]) -> Option<ValueSource> {
        Cli::command()
            .try_get_matches_from(argv)
            .unwrap()
            .value_source("token_file")
    }

    #[test]
    fn a_token_file_flag_is_seen_as_given_on_the_command_line() {
        for argv in [
            &["rserve", "--token-file", "/t", "status"][..],
            &["rserve", "status", "--token-file", "/t"],
        ] {
            assert_eq!(
                token_file_source(argv),
                Some(ValueSource::CommandLine),
                "{argv:?}"
            );
        }
    }

    #[test]
    fn node_resources_must_be_finite_and_not_negative() {
        use clap::Parser;
        for bad in ["NaN", "inf", "-1", "lots"] {
            let cpus = format!("--num-cpus={bad}");
            let err = Cli::try_parse_from(["rserve", "up", cpus.as_str()]).unwrap_err();
            assert!(
                err.to_string().contains("is not a number from 0 to"),
                "{bad}: {err}"
            );
            let gpus = format!("--num-gpus={bad}");
            assert!(Cli::try_parse_from(["rserve", "up", gpus.as_str()]).is_err());
        }
        Cli::try_parse_from(["rserve", "up", "--num-cpus", "0.5", "--num-gpus", "0"]).unwrap();
    }

    #[test]
    fn a_half_given_client_certificate_is_refused_only_where_it_is_used() {
        use clap::Parser;
        // `up` does not use it: a stray variable must not stop a node.
        Cli::try_parse_from(["rserve", "--client-cert", "/c", "up"]).unwrap();
        let cli = Cli::try_parse_from(["rserve", "--client-cert", "/c", "status"]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = connect::client_certificate(&cli.global, dir.path()).unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(
            err.error.to_string().contains("--client-key"),
            "{}",
            err.error
        );
    }
}
