//! `rserve`: the node daemon (`rserve up`) and the operator CLI in one binary.
//!
//! `main` parses arguments, runs one command and maps its outcome to a documented
//! exit code; errors are printed once, with their cause chain, on stderr. Data goes
//! to stdout, messages to stderr.

mod args;
mod commands;
mod env;
mod exit;
mod generate;
mod output;
mod up;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::exit::{Exit, Failure};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => exit.into(),
        Err(Failure { exit, error }) => {
            if is_broken_pipe(&error) {
                return Exit::Ok.into();
            }
            eprintln!("error: {error:#}");
            exit.into()
        }
    }
}

async fn run(cli: Cli) -> Result<Exit, Failure> {
    let global = &cli.global;
    match cli.command {
        Command::Up(args) => up::run(global, args).await,
        Command::Down(args) => commands::down(global, args).await,
        Command::Deploy(args) => commands::deploy(global, args).await,
        Command::Delete(args) => commands::delete(global, args).await,
        Command::Status(args) => commands::status(global, args).await,
        Command::Config(args) => commands::config(global, args).await,
        Command::Nodes(args) => commands::nodes(global, args).await,
        Command::Token(command) => commands::token(global, command).await,
        Command::Completion(args) => generate::completion(args),
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
