//! Everything generated from the clap definitions and the `Exit` table: shell
//! completions, man pages (with ENVIRONMENT and EXIT STATUS sections) and the
//! variable table in docs/configuration.md. The checked-in copies are drift-tested.

use std::path::Path;

use clap::CommandFactory;

use crate::Invocation;
use crate::args::{CONNECTION_OPTIONS, Cli, CompletionArgs};
use crate::exit::{Exit, ExitContext, Failure};

pub fn completion(cx: &Invocation, args: CompletionArgs) -> Result<Exit, Failure> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "rserve", &mut out);
    cx.printer.data(out).exit(Exit::Failed)?;
    Ok(Exit::Ok)
}

pub fn man(dir: &Path) -> Result<Exit, Failure> {
    for (name, page) in man_pages() {
        std::fs::write(dir.join(&name), page).exit(Exit::Failed)?;
    }
    Ok(Exit::Ok)
}

/// `(file name, roff)` for `rserve` and each visible subcommand.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    // The page's own ENVIRONMENT section says what `--help`'s footer does.
    let root = Cli::command().after_help(None::<&str>);
    let mut pages = vec![("rserve.1".to_owned(), render(root.clone(), true))];
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("rserve-{}", sub.get_name());
        let cmd = sub.clone().name(name.clone());
        pages.push((format!("{name}.1"), render(cmd, false)));
    }
    pages
}

fn render(cmd: clap::Command, root: bool) -> Vec<u8> {
    let man = clap_mangen::Man::new(cmd);
    let mut out = Vec::new();
    man.render(&mut out)
        .expect("rendering to memory cannot fail");
    if root {
        let mut extra = String::from(".SH ENVIRONMENT\n");
        for var in env_vars() {
            let flag = var.flag.map(|f| format!("{f}; ")).unwrap_or_default();
            let text = format!("{} ({flag}used by: {})", var.meaning, var.used_by);
            extra += &format!(".TP\n\\fB{}\\fR\n{}\n", var.name, roff(&text));
        }
        extra += ".SH \"EXIT STATUS\"\n";
        for exit in Exit::ALL {
            extra += &format!(".TP\n{}\n{}\n", exit.code(), roff(exit.meaning()));
        }
        out.extend_from_slice(extra.as_bytes());
    }
    out
}

/// Text made safe for roff: backslashes and hyphens escaped, no control lines.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// One environment variable as the references list it.
#[derive(Debug)]
pub struct EnvVar {
    pub name: String,
    /// The flag it stands for, if any (`--state-dir`).
    pub flag: Option<String>,
    /// The commands that read it.
    pub used_by: String,
    /// The flag's help, with its default and possible values.
    pub meaning: String,
}

/// Every variable rserve reads: those behind a flag from the clap definitions
/// (in the order `--help` lists them), then `env::UNFLAGGED`.
pub fn env_vars() -> Vec<EnvVar> {
    let root = Cli::command();
    let mut vars = Vec::new();
    for arg in root.get_arguments() {
        let used_by = if arg.get_help_heading() == Some(CONNECTION_OPTIONS) {
            "all but up"
        } else {
            "all"
        };
        vars.extend(env_var(arg, used_by));
    }
    for sub in root.get_subcommands() {
        for arg in sub.get_arguments() {
            vars.extend(env_var(arg, sub.get_name()));
        }
    }
    vars.extend(crate::env::UNFLAGGED.iter().map(|v| EnvVar {
        name: v.name.to_owned(),
        flag: None,
        used_by: v.used_by.to_owned(),
        meaning: v.meaning.to_owned(),
    }));
    vars
}

fn env_var(arg: &clap::Arg, used_by: &str) -> Option<EnvVar> {
    let name = arg.get_env()?.to_string_lossy().into_owned();
    let mut meaning = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    if !values.is_empty() {
        meaning += &format!(" [possible values: {}]", values.join(", "));
    }
    if let [default] = arg.get_default_values() {
        meaning += &format!(" [default: {}]", default.to_string_lossy());
    }
    Some(EnvVar {
        name,
        flag: arg.get_long().map(|l| format!("--{l}")),
        used_by: used_by.to_owned(),
        meaning,
    })
}

/// The variable table of docs/configuration.md, as Markdown.
#[cfg(test)]
pub fn env_markdown() -> String {
    let mut out = String::from("| Variable | Flag | Used by | Meaning |\n|---|---|---|---|\n");
    for var in env_vars() {
        let flag = var.flag.map(|f| format!("`{f}`")).unwrap_or("—".to_owned());
        // `<state dir>` would read as an HTML tag.
        let meaning = var.meaning.replace('|', "\\|").replace('<', "\\<");
        out += &format!(
            "| `{}` | {flag} | {} | {meaning} |\n",
            var.name, var.used_by
        );
    }
    out
}

#[cfg(test)]
mod tests;
