//! Rendering for people (tables, kubectl's layout) and for programs (JSON, YAML,
//! `kind/name` lines). Every function here returns text; the `Printer` writes it.

pub mod live;
pub mod nodes;
pub mod plan;
pub mod status;

#[cfg(test)]
pub(crate) mod snapshots;

use serde::Serialize;

use crate::exit::{Exit, ExitContext, Failure};

/// How a table is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// `-o wide`: the extra columns too.
    pub wide: bool,
    /// The header line (`--no-headers` turns it off).
    pub headers: bool,
}

/// `doc` as pretty JSON, newline-terminated.
pub fn json<T: Serialize>(doc: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(doc)
        .map(|s| s + "\n")
        .exit(Exit::Failed)
}

/// `doc` as YAML.
pub fn yaml<T: Serialize>(doc: &T) -> Result<String, Failure> {
    serde_yaml::to_string(doc).exit(Exit::Failed)
}

/// Rows under a header, as left-aligned columns two spaces apart.
#[derive(Debug)]
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: Vec<&'static str>) -> Self {
        Self {
            header,
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have a cell for every column.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len());
        self.rows.push(cells);
    }

    /// The rows, with the header line first when `headers` is set.
    pub fn render(&self, headers: bool) -> String {
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        let lines: Vec<&Vec<String>> = headers
            .then_some(&header)
            .into_iter()
            .chain(&self.rows)
            .collect();
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                lines
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in lines {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// `-` for an empty list, else its items joined by commas.
/// `3s`, `5m`, `2h`, `4d`: kubectl's AGE.
pub fn age(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_owned();
    }
    let s = seconds as u64;
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// When a certificate that expires at `expires_at_s` does, seen at `now_s`:
/// `in 89d`, `expired`, or `-` when it does not say.
pub fn cert_expiry(expires_at_s: Option<f64>, now_s: f64) -> String {
    match expires_at_s {
        None => "-".to_owned(),
        Some(at) if at <= now_s => "expired".to_owned(),
        Some(at) => format!("in {}", age(at - now_s)),
    }
}

pub(crate) fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

/// The serde name of a status enum (`RUNNING`, `DEPLOY_FAILED`, ...).
pub(crate) fn enum_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
