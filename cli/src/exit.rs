//! Exit codes (documented in the man page and docs/operations.md) and the
//! classification of failures into them.

use std::process::ExitCode;

/// rserve's documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// The operation failed (rejected, deployment failed).
    Failed = 1,
    /// A `--wait` or `--timeout` ran out.
    Timeout = 3,
    /// The node cannot be reached or did not accept the credentials.
    Unreachable = 4,
    /// `rserve up`: the state dir or a port is taken (EX_UNAVAILABLE).
    Unavailable = 69,
    /// `rserve up`: the persisted state is unusable (EX_CONFIG; systemd's
    /// RestartPreventExitStatus=78 stops a crash loop).
    Config = 78,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A failure and the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

/// Attaches an exit code to an error.
pub trait ExitContext<T> {
    fn exit(self, exit: Exit) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> ExitContext<T> for Result<T, E> {
    fn exit(self, exit: Exit) -> Result<T, Failure> {
        self.map_err(|e| Failure {
            exit,
            error: e.into(),
        })
    }
}

/// A failure with a message.
pub fn fail(exit: Exit, message: impl std::fmt::Display) -> Failure {
    Failure {
        exit,
        error: anyhow::anyhow!("{message}"),
    }
}
