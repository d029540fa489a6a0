//! File-level validation: names, route prefixes, ingress and OpenAI model names that
//! must be unique or must exist, gathered as one list of issues.

use std::collections::BTreeSet;

use super::{AppConfig, AppFile, ConfigError, ConfigIssue};

/// Names and model ids already taken earlier in the file.
#[derive(Default)]
struct Seen<'a> {
    names: BTreeSet<&'a str>,
    prefixes: BTreeSet<&'a str>,
    models: BTreeSet<&'a str>,
}

impl AppFile {
    /// Checks values that the types alone cannot (names, limits, references).
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let mut issues = Vec::new();
        if self.applications.is_empty() {
            issues.push(issue(
                "applications".into(),
                "at least one application is required".into(),
            ));
        }
        let mut seen = Seen::default();
        for (a, app) in self.applications.iter().enumerate() {
            check_app(&format!("applications[{a}]"), app, &mut seen, &mut issues);
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                file: file.to_owned(),
                issues,
            })
        }
    }
}

fn issue(path: String, reason: String) -> ConfigIssue {
    ConfigIssue { path, reason }
}

/// One application's issues, at key path `at`.
fn check_app<'a>(at: &str, app: &'a AppConfig, seen: &mut Seen<'a>, issues: &mut Vec<ConfigIssue>) {
    if let Err(reason) = check_name(&app.name) {
        issues.push(issue(format!("{at}.name"), reason));
    }
    if !seen.names.insert(app.name.as_str()) {
        issues.push(issue(
            format!("{at}.name"),
            format!("application `{}` appears twice", app.name),
        ));
    }
    if let Err(reason) = check_route_prefix(&app.route_prefix) {
        issues.push(issue(format!("{at}.route_prefix"), reason));
    } else if !seen.prefixes.insert(app.route_prefix.as_str()) {
        issues.push(issue(
            format!("{at}.route_prefix"),
            format!(
                "route prefix `{}` is used by another application",
                app.route_prefix
            ),
        ));
    }
    if app.deployments.is_empty() {
        issues.push(issue(
            format!("{at}.deployments"),
            "at least one deployment is required".into(),
        ));
    }
    if let Some(ingress) = &app.ingress
        && !app.deployments.iter().any(|d| &d.name == ingress)
    {
        issues.push(issue(
            format!("{at}.ingress"),
            format!("no deployment named `{ingress}` in this application"),
        ));
    }
    let mut deployment_names = BTreeSet::new();
    for (d, dep) in app.deployments.iter().enumerate() {
        let at = format!("{at}.deployments[{d}]");
        if let Err(reason) = check_name(&dep.name) {
            issues.push(issue(format!("{at}.name"), reason));
        }
        if !deployment_names.insert(dep.name.as_str()) {
            issues.push(issue(
                format!("{at}.name"),
                format!("deployment `{}` appears twice", dep.name),
            ));
        }
        for (path, reason) in dep.impossible_values() {
            issues.push(issue(format!("{at}.{path}"), reason));
        }
        if let Some(model) = dep.replica.openai_model(&dep.name)
            && !seen.models.insert(model)
        {
            issues.push(issue(
                format!("{at}.replica.model_id"),
                format!("OpenAI model `{model}` is served by another deployment in this file"),
            ));
        }
    }
}

/// Names are used in URLs, file names and metric labels: keep them plain.
pub(super) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err(format!("`{name}` must be 1 to 63 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "`{name}` may only hold letters, digits, `-`, `_` and `.`"
        ));
    }
    Ok(())
}

/// Ray's rule: starts with `/`, no trailing `/` except the root, no `{` or `}`.
fn check_route_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') {
        return Err(format!("`{prefix}` must start with `/`"));
    }
    if prefix.len() > 1 && prefix.ends_with('/') {
        return Err(format!("`{prefix}` must not end with `/`"));
    }
    if prefix
        .chars()
        .any(|c| matches!(c, '{' | '}' | '?' | '#') || c.is_whitespace())
    {
        return Err(format!(
            "`{prefix}` must not contain `{{`, `}}`, `?`, `#` or spaces"
        ));
    }
    Ok(())
}
