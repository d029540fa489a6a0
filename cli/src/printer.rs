//! The one place the CLI writes to the terminal: data to stdout, messages to stderr.
//!
//! Commands hand their result (a table, a document, a token) to [`Printer::data`]
//! and talk to the person running them through [`Printer::note`],
//! [`Printer::progress`] and [`Printer::error`], so `rserve status | jq` never sees a
//! message and a message never hides in a pipe. Colour and progress bars are used only
//! on a terminal; never colour when `NO_COLOR` is set (<https://no-color.org>: any
//! non-empty value), never bars when `CI` is. `--quiet` leaves only the result and
//! errors. The rest of the crate is kept off `print!` and `std::io::stdout`/`stderr`
//! by lints (see `main.rs` and `cli/clippy.toml`).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::ffi::OsStr;
use std::fmt::Display;
use std::io::{IsTerminal, Write};

use self::progress::Mode;
pub use self::progress::{Progress, Row};

mod progress;

/// The variable that turns colour off (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// Set by CI services (GitHub Actions, GitLab, …): no progress bars, plain lines.
pub const CI: &str = "CI";

const RED_BOLD: &str = "\x1b[1;31m";
const RESET: &str = "\x1b[0m";

/// Where output goes and whether messages are coloured.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    colour: bool,
    /// Live progress bars may be drawn on stderr.
    bars: bool,
    /// `--quiet`: only the result and errors.
    quiet: bool,
}

impl Printer {
    /// Colour on stderr when it is a terminal and `NO_COLOR` is unset or empty;
    /// progress bars when it is a terminal and `CI` is unset.
    pub fn from_env(quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        Self {
            colour: colour_allowed(std::env::var_os(NO_COLOR).as_deref(), terminal),
            bars: bars_allowed(std::env::var_os(CI).as_deref(), terminal),
            quiet,
        }
    }

    /// Progress of a wait: live bars on a terminal, else one line per change
    /// on stderr (also with `plain`, e.g. `-o json`); nothing with `--quiet`.
    pub fn progress(&self, plain: bool) -> Progress {
        let mode = if self.quiet {
            Mode::Silent
        } else if self.bars && !plain {
            Mode::Bars
        } else {
            Mode::Lines
        };
        Progress::new(*self, mode)
    }

    /// Whether messages (and the daemon's logs) may carry ANSI colours.
    pub fn colour(&self) -> bool {
        self.colour
    }

    /// Writes a command's result to stdout. A closed pipe comes back as an
    /// `io::Error` (`main` treats it as success), never as a panic.
    pub fn data(&self, text: impl AsRef<[u8]>) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_ref())?;
        out.flush()
    }

    /// A message for the person running the command: progress, what happened.
    pub fn note(&self, message: impl Display) {
        if !self.quiet {
            write_stderr(&format!("{message}\n"));
        }
    }

    /// The error that ended the command, with its cause chain.
    pub fn error(&self, error: &anyhow::Error) {
        let line = labelled(self.colour, "error", &format!("{error:#}"));
        // Under systemd the journal files it at priority err (`journalctl -p err`).
        if crate::journal::is_journal(&std::io::stderr()) {
            write_stderr(&format!("<3>{line}"));
        } else {
            write_stderr(&line);
        }
    }

    /// Whether stdout is a terminal (watches redraw in place there).
    pub fn stdout_is_terminal(&self) -> bool {
        std::io::stdout().is_terminal()
    }

    /// Replaces the screen with `text` (a watch's redraw on a terminal).
    pub fn redraw(&self, text: impl AsRef<str>) -> std::io::Result<()> {
        // Home, clear to the end of the screen, then the text.
        self.data(format!("\x1b[H\x1b[2J{}", text.as_ref()))
    }

    /// The writer the daemon's logs go to (stderr, as messages do).
    pub fn log_writer(&self) -> fn() -> std::io::Stderr {
        std::io::stderr
    }
}

/// Bars only on a terminal, and not under CI (whose logs are terminals
/// sometimes, but are read later, where redrawn lines turn into noise).
/// `CI=false` or `CI=0` does not count.
fn bars_allowed(ci: Option<&OsStr>, terminal: bool) -> bool {
    terminal && ci.is_none_or(|v| v.is_empty() || v == "false" || v == "0")
}

/// no-color.org: "when present and not an empty string", colour is off.
fn colour_allowed(no_color: Option<&OsStr>, terminal: bool) -> bool {
    terminal && no_color.is_none_or(OsStr::is_empty)
}

/// `error: message`, the label in bold red when colour is on.
fn labelled(colour: bool, label: &str, message: &str) -> String {
    if colour {
        format!("{RED_BOLD}{label}{RESET}: {message}\n")
    } else {
        format!("{label}: {message}\n")
    }
}

fn write_stderr(line: &str) {
    // Nowhere left to report a failure to write to stderr.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(colour_allowed(None, true));
        assert!(
            colour_allowed(empty, true),
            "an empty NO_COLOR does not count"
        );
        assert!(!colour_allowed(set, true));
        assert!(!colour_allowed(None, false));
    }

    #[test]
    fn bars_only_on_a_terminal_outside_ci() {
        assert!(bars_allowed(None, true));
        assert!(!bars_allowed(None, false));
        assert!(!bars_allowed(Some(OsStr::new("true")), true));
        assert!(!bars_allowed(Some(OsStr::new("1")), true));
        assert!(bars_allowed(Some(OsStr::new("false")), true));
    }

    #[test]
    fn progress_is_plain_lines_unless_bars_are_allowed_and_wanted() {
        let printer = |bars, quiet| Printer {
            colour: false,
            bars,
            quiet,
        };
        assert_eq!(printer(true, false).progress(false).mode(), Mode::Bars);
        assert_eq!(printer(true, false).progress(true).mode(), Mode::Lines);
        assert_eq!(printer(false, false).progress(false).mode(), Mode::Lines);
        assert_eq!(printer(true, true).progress(false).mode(), Mode::Silent);
    }

    #[test]
    fn errors_are_plain_text_without_colour() {
        assert_eq!(labelled(false, "error", "no node"), "error: no node\n");
    }

    #[test]
    fn errors_are_labelled_in_red_with_colour() {
        assert_eq!(
            labelled(true, "error", "no node"),
            "\x1b[1;31merror\x1b[0m: no node\n"
        );
    }
}
