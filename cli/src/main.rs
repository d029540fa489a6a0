//! `rserve`: the node daemon (`rserve up`) and the operator CLI in one binary.
//!
//! `main` parses arguments, runs one command and maps its outcome to a documented
//! exit code; errors are printed once, with their cause chain, on stderr. All
//! output goes through the `Printer` (data to stdout, messages to stderr); the
//! lints below and `cli/clippy.toml` keep it that way.
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

mod args;
mod commands;
mod env;
mod exit;
mod generate;
mod output;
mod printer;
mod up;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, Global};
use crate::exit::{Exit, Failure};
use crate::printer::Printer;

/// What every command gets: the global options and the printer.
#[derive(Debug)]
pub struct Context {
    pub global: Global,
    pub printer: Printer,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cx = Context {
        global: cli.global,
        printer: Printer::from_env(),
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

async fn run(cx: &Context, command: Command) -> Result<Exit, Failure> {
    match command {
        Command::Up(args) => up::run(cx, args).await,
        Command::Down(args) => commands::down(cx, args).await,
        Command::Deploy(args) => commands::deploy(cx, args).await,
        Command::Delete(args) => commands::delete(cx, args).await,
        Command::Status(args) => commands::status(cx, args).await,
        Command::Config(args) => commands::config(cx, args).await,
        Command::Nodes(args) => commands::nodes(cx, args).await,
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
