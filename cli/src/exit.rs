//! Exit codes (one table, `Exit::ALL`, from which the man page is generated and
//! against which docs/operations.md is tested) and the classification of failures
//! into them.

use std::process::ExitCode;

/// rserve's documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; for `diff`: nothing would change.
    Ok = 0,
    /// The operation failed (rejected, deployment failed); for `diff`: something
    /// would change (kubectl diff's contract).
    Failed = 1,
    /// Usage error: unknown flag, missing or invalid argument (clap's own code);
    /// for `diff`: any error (the file is invalid, the node refuses or fails it).
    Usage = 2,
    /// A `--wait` or `--timeout` ran out.
    Timeout = 3,
    /// The node cannot be reached or did not accept the credentials.
    Unreachable = 4,
    /// `rserve up`: the state dir or a port is taken (EX_UNAVAILABLE).
    Unavailable = 69,
    /// `rserve up`: the persisted state is unusable (EX_CONFIG; systemd's
    /// RestartPreventExitStatus=78 stops a crash loop).
    Config = 78,
    /// `rserve up`: a second SIGINT/SIGTERM stopped it without draining (128 + SIGINT).
    Interrupted = 130,
}

impl Exit {
    /// Every code, in numeric order.
    pub const ALL: [Exit; 8] = [
        Exit::Ok,
        Exit::Failed,
        Exit::Usage,
        Exit::Timeout,
        Exit::Unreachable,
        Exit::Unavailable,
        Exit::Config,
        Exit::Interrupted,
    ];

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// What the code means, one sentence, as the man page and docs say it.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "Success. `diff`: nothing would change.",
            Exit::Failed => "The operation failed. `diff`: something would change.",
            Exit::Usage => {
                "Usage error. `diff`: any error but an unreachable node (the file is invalid, the node refuses it or fails)."
            }
            Exit::Timeout => "A `--wait` or `--timeout` ran out.",
            Exit::Unreachable => "The node cannot be reached or did not accept the credentials.",
            Exit::Unavailable => {
                "`rserve up`: the state directory or a port is taken (`EX_UNAVAILABLE`)."
            }
            Exit::Config => "`rserve up`: the configuration is unusable (`EX_CONFIG`).",
            Exit::Interrupted => {
                "`rserve up`: stopped by a second SIGINT/SIGTERM without draining."
            }
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_code_once_in_order() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 69, 78, 130]);
    }

    #[test]
    fn clap_usage_errors_exit_with_the_usage_code() {
        use clap::Parser;
        let err =
            crate::args::Cli::try_parse_from(["rserve", "status", "--no-such-flag"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(Exit::Usage.code()));
    }
}
