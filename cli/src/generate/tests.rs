//! Drift tests: the checked-in man pages, completions and doc tables must match
//! what the clap definitions and `Exit` generate.

use super::*;
use crate::golden;

/// Where docs/configuration.md's generated variable table starts and ends.
const ENV_BEGIN: &str =
    "<!-- BEGIN generated from the clap definitions (cli/src/generate.rs); do not edit -->";
const ENV_END: &str = "<!-- END generated -->";

/// `(file name, script)` for every supported shell.
fn completions() -> Vec<(String, Vec<u8>)> {
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

/// `doc` with the text between the markers replaced by `body`.
fn splice(doc: &str, body: &str) -> String {
    let start = doc.find(ENV_BEGIN).expect("begin marker") + ENV_BEGIN.len();
    let end = doc.find(ENV_END).expect("end marker");
    format!("{}\n{body}{}", &doc[..start], &doc[end..])
}

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

/// The checked-in files must match the clap definitions. To refresh them:
/// `RSERVE_REGENERATE=1 cargo test -p rserve generated_files`.
#[test]
fn generated_files_match_the_cli() {
    let mut stale = Vec::new();
    for (dir, files) in [("man", man_pages()), ("completions", completions())] {
        for (name, content) in files {
            stale.extend(golden::check(&format!("{dir}/{name}"), &content));
        }
    }
    let config_md = "docs/configuration.md";
    let doc = std::fs::read_to_string(golden::root().join(config_md)).unwrap();
    stale.extend(golden::check(
        config_md,
        splice(&doc, &env_markdown()).as_bytes(),
    ));
    golden::assert_fresh(&stale, "generated_files");
}

#[test]
fn every_variable_the_cli_names_is_documented() {
    let source = include_str!("../env.rs");
    let documented: Vec<String> = env_vars().into_iter().map(|v| v.name).collect();
    let named = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("RSERVE_"));
    for name in named {
        assert!(
            documented.iter().any(|d| d == name),
            "{name} is missing from the generated variable list"
        );
    }
}

#[test]
fn the_admin_token_has_no_flag_and_its_file_has_one() {
    let vars = env_vars();
    let find = |name: &str| vars.iter().find(|v| v.name == name).unwrap();
    assert_eq!(find("RSERVE_TOKEN").flag, None);
    assert_eq!(
        find("RSERVE_TOKEN_FILE").flag.as_deref(),
        Some("--token-file")
    );
    assert_eq!(find("RSERVE_CACERT").used_by, "all but up");
    assert_eq!(find("RSERVE_HTTP_ADDR").used_by, "up");
}

/// docs/operations.md's exit-code table has a row per code, with `Exit`'s wording.
#[test]
fn operations_doc_lists_every_exit_code() {
    let doc = std::fs::read_to_string(golden::root().join("docs/operations.md")).unwrap();
    let rows: Vec<(String, String)> = doc
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let code = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            code.parse::<u8>().ok()?;
            Some((code.to_owned(), cells.get(1)?.to_string()))
        })
        .collect();
    let expected: Vec<(String, String)> = Exit::ALL
        .iter()
        .map(|e| (e.code().to_string(), e.meaning().to_owned()))
        .collect();
    assert_eq!(rows, expected);
}
