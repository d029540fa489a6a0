//! Why an application file was rejected: parse errors with a location, or every impossible value.

use std::fmt;

/// Why an application file was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML, or a value has the wrong type or an unknown key.
    #[error("{file}{location}: {path}{message}", location = fmt_location(*.line, *.column), path = fmt_path(.path))]
    Parse {
        /// The file name as given by the operator.
        file: String,
        /// 1-based line, where TOML reports one.
        line: Option<usize>,
        /// 1-based column, where TOML reports one.
        column: Option<usize>,
        /// Key path, e.g. `applications[0].deployments[1].num_replicas`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file parsed but some values are impossible.
    #[error("{file}: {}", issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// The file name as given by the operator.
        file: String,
        /// Every problem found, in file order.
        issues: Vec<ConfigIssue>,
    },
}

/// One impossible value: where it is and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigIssue {
    /// Key path, e.g. `applications[0].deployments[1].num_replicas`.
    pub path: String,
    /// Why the value is rejected.
    pub reason: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

fn fmt_location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

fn fmt_path(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("{path}: ")
    }
}
