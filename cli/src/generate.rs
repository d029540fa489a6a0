//! Shell completions and man pages, generated from the clap definitions.
//! The checked-in copies under `completions/` and `man/` are drift-tested.

use std::path::Path;

use clap::CommandFactory;

use crate::Context;
use crate::args::{Cli, CompletionArgs};
use crate::exit::{Exit, ExitContext, Failure};

pub fn completion(cx: &Context, args: CompletionArgs) -> Result<Exit, Failure> {
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
    let root = Cli::command();
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
        out.extend_from_slice(b".SH ENVIRONMENT\n");
        for (name, meaning) in crate::env::ALL {
            out.extend_from_slice(format!(".TP\n\\fB{name}\\fR\n{meaning}\n").as_bytes());
        }
        out.extend_from_slice(
            b".SH \"EXIT STATUS\"\n.TP\n0\nSuccess.\n.TP\n1\nThe operation failed (rejected, deployment failed).\n\
.TP\n2\nUsage error.\n.TP\n3\nA --wait or --timeout ran out.\n.TP\n4\nThe node cannot be reached or refused the credentials.\n\
.TP\n69\nrserve up: the state dir or a port is already in use.\n.TP\n78\nrserve up: the persisted state is unusable.\n",
        );
    }
    out
}

#[cfg(test)]
/// `(file name, script)` for every supported shell.
pub fn completions() -> Vec<(String, Vec<u8>)> {
    use clap_complete::Shell;
    [
        (Shell::Bash, "rserve.bash"),
        (Shell::Zsh, "_rserve"),
        (Shell::Fish, "rserve.fish"),
        (Shell::PowerShell, "_rserve.ps1"),
        (Shell::Elvish, "rserve.elv"),
    ]
    .into_iter()
    .map(|(shell, file)| {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "rserve", &mut out);
        (file.to_owned(), out)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The checked-in files must match the clap definitions. To refresh them:
    /// `RSERVE_REGENERATE=1 cargo test -p rserve generated_files`.
    #[test]
    fn generated_files_match_the_cli() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let regenerate = std::env::var_os("RSERVE_REGENERATE").is_some();
        let mut stale = Vec::new();
        for (dir, files) in [("man", man_pages()), ("completions", completions())] {
            for (name, content) in files {
                let path = root.join(dir).join(&name);
                if regenerate {
                    std::fs::write(&path, &content).unwrap();
                } else if std::fs::read(&path).ok().as_deref() != Some(content.as_slice()) {
                    stale.push(format!("{dir}/{name}"));
                }
            }
        }
        assert!(
            stale.is_empty(),
            "stale generated files {stale:?}; run `RSERVE_REGENERATE=1 cargo test -p rserve generated_files`"
        );
    }
}
