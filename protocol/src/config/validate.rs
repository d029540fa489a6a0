//! File-level validation: names, route prefixes, ingress and OpenAI model names that
//! must be unique or must exist, gathered as one list of issues.

use std::collections::{BTreeMap, BTreeSet};

use super::{AppConfig, AppFile, ConfigError, ConfigIssue, DeploymentConfig, ReplicaKind};

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

impl DeploymentConfig {
    /// What a node checks of a deployment config that arrives over the mesh
    /// (a replica to start, a route): its name and every value a deploy
    /// checks, as `key: reason`. References to other deployments are the
    /// head's to check.
    ///
    /// # Errors
    /// Every problem, `; `-separated.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if let Err(reason) = check_name(&self.name) {
            problems.push(format!("name: {reason}"));
        }
        for (key, reason) in self.impossible_values() {
            problems.push(format!("{key}: {reason}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

impl crate::wire::AppRoute {
    /// What a member checks of an application's route from the head: its
    /// name, prefix and every deployment config in it.
    ///
    /// # Errors
    /// The first problem, naming the field.
    pub fn check(&self) -> Result<(), String> {
        check_name(&self.app).map_err(|e| format!("app: {e}"))?;
        check_route_prefix(&self.route_prefix).map_err(|e| format!("route_prefix: {e}"))?;
        std::iter::once(&self.deployment)
            .chain(self.others.iter().map(|o| &o.deployment))
            .try_for_each(|d| d.check().map_err(|e| format!("deployment {}: {e}", d.name)))
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
        if let ReplicaKind::Custom(custom) = &dep.replica
            && let Err(reason) = check_name(&custom.kind)
        {
            issues.push(issue(format!("{at}.replica.kind"), reason));
        }
        check_handles(&at, app, dep, issues);
    }
    if let Some(cycle) = handle_cycle(app) {
        issues.push(issue(
            format!("{at}.deployments"),
            format!(
                "the deployments call each other in a cycle through their handles: {}",
                cycle.join(" → ")
            ),
        ));
    }
}

/// A deployment's `handles`: each names another deployment of the same
/// application, and only kinds written in Rust call others.
fn check_handles(at: &str, app: &AppConfig, dep: &DeploymentConfig, issues: &mut Vec<ConfigIssue>) {
    if !dep.handles.is_empty() && !dep.replica.is_custom() {
        issues.push(issue(
            format!("{at}.handles"),
            format!(
                "the built-in kind `{}` calls no other deployment; handles are for kinds written in Rust",
                dep.replica.name()
            ),
        ));
        return;
    }
    for (key, target) in &dep.handles {
        let path = format!("{at}.handles.{key}");
        if let Err(reason) = check_name(key) {
            issues.push(issue(path.clone(), reason));
        }
        if target == &dep.name {
            issues.push(issue(path, format!("`{target}` is this deployment itself")));
        } else if !app.deployments.iter().any(|d| &d.name == target) {
            let names: Vec<&str> = app.deployments.iter().map(|d| d.name.as_str()).collect();
            issues.push(issue(
                path,
                format!(
                    "no deployment named `{target}` in application `{}` (it has: {})",
                    app.name,
                    names.join(", ")
                ),
            ));
        }
    }
}

/// The first cycle of handle calls between the application's deployments,
/// as the names along it (first name repeated at the end); self-handles are
/// reported by [`check_handles`].
fn handle_cycle(app: &AppConfig) -> Option<Vec<String>> {
    let calls: BTreeMap<&str, Vec<&str>> = app
        .deployments
        .iter()
        .map(|d| {
            let targets = d.handles.values().filter(|t| **t != d.name);
            (d.name.as_str(), targets.map(String::as_str).collect())
        })
        .collect();
    // Depth first without recursion (a file may hold many deployments): the
    // path is the stack; `on_path` marks its names, `done` those with no
    // cycle below.
    let (mut done, mut on_path) = (BTreeSet::new(), BTreeSet::new());
    for start in app.deployments.iter().map(|d| d.name.as_str()) {
        if done.contains(start) {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        on_path.insert(start);
        while let Some((name, next)) = stack.last_mut() {
            let name = *name;
            let Some(&callee) = calls.get(name).and_then(|c| c.get(*next)) else {
                stack.pop();
                on_path.remove(name);
                done.insert(name);
                continue;
            };
            *next += 1;
            if on_path.contains(callee) {
                let from = stack.iter().position(|(n, _)| *n == callee).unwrap_or(0);
                let mut cycle: Vec<String> =
                    stack[from..].iter().map(|(n, _)| (*n).to_owned()).collect();
                cycle.push(callee.to_owned());
                return Some(cycle);
            }
            if !done.contains(callee) && calls.contains_key(callee) {
                on_path.insert(callee);
                stack.push((callee, 0));
            }
        }
    }
    None
}

/// Names are used in URLs, file names and metric labels: keep them plain.
pub fn check_name(name: &str) -> Result<(), String> {
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
