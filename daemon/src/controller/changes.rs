//! What a deploy would change, decided before anything changes: conflicts with
//! other applications, the planned desired state, and per deployment which keys
//! change in place and which force new replicas. `deploy` and `rserve diff`
//! (`plan`) both decide from here, so the diff says what the deploy does.

use rserve_protocol::config::{AppConfig, AppFile, DeploymentConfig};
use rserve_protocol::wire::{
    AppChange, AppPlan, Change, DeploymentAction, DeploymentPlan, WireError,
};

use super::store::{AppRecord, DesiredState};
use super::{State, bad_request, is_failed, unix_now};

/// Refuses a file whose applications take another application's route
/// prefix or OpenAI model name.
pub(super) fn check_conflicts(
    desired: &DesiredState,
    file_name: &str,
    file: &AppFile,
) -> Result<(), WireError> {
    fn others<'a>(desired: &'a DesiredState, app: &'a str) -> impl Iterator<Item = &'a AppRecord> {
        desired
            .applications
            .values()
            .filter(move |r| r.config.name != app)
    }
    for app in &file.applications {
        if let Some(other) =
            others(desired, &app.name).find(|r| r.config.route_prefix == app.route_prefix)
        {
            return Err(bad_request(format!(
                "{file_name}: application `{}` wants route prefix `{}`, which application `{}` already serves; \
                 change one of the prefixes or `rserve delete {}` first",
                app.name, app.route_prefix, other.config.name, other.config.name
            )));
        }
    }
    for app in &file.applications {
        for dep in &app.deployments {
            let Some(model) = dep.replica.openai_model(&dep.name) else {
                continue;
            };
            let owner = others(desired, &app.name).find(|r| {
                r.config
                    .deployments
                    .iter()
                    .any(|d| d.replica.openai_model(&d.name) == Some(model))
            });
            if let Some(owner) = owner {
                return Err(bad_request(format!(
                    "{file_name}: deployment `{}/{}` wants OpenAI model name `{model}`, which application `{}` \
                     already serves; set another `model_id`",
                    app.name, dep.name, owner.config.name
                )));
            }
        }
    }
    Ok(())
}

/// The desired state after deploying `file`, and what changes per application.
pub(super) fn plan_changes(state: &State, file: AppFile) -> (DesiredState, Vec<AppChange>) {
    let mut desired = state.desired.clone();
    let now_s = unix_now();
    let mut changes = Vec::new();
    for app in file.applications {
        let change = match desired.applications.get(&app.name) {
            None => Change::Created,
            Some(existing) if existing.config == app && !is_failed(state, &app.name) => {
                Change::Unchanged
            }
            Some(_) => Change::Updated,
        };
        if change != Change::Unchanged {
            desired.applications.insert(
                app.name.clone(),
                AppRecord {
                    config: app.clone(),
                    deployed_at_s: now_s,
                },
            );
        }
        changes.push(AppChange {
            app: app.name,
            change,
        });
    }
    (desired, changes)
}

/// What deploying `app` does to each of its deployments, given the
/// application-level `change` [`plan_changes`] decided.
pub(super) fn plan_app(state: &State, app: &AppConfig, change: Change) -> AppPlan {
    let existing = state.desired.applications.get(&app.name).map(|r| &r.config);
    let runtime = state.apps.get(&app.name);
    let mut keys = Vec::new();
    if let Some(old) = existing {
        if old.route_prefix != app.route_prefix {
            keys.push("route_prefix".to_owned());
        }
        if old.ingress_deployment().name != app.ingress_deployment().name {
            keys.push("ingress".to_owned());
        }
    }
    let mut deployments: Vec<DeploymentPlan> = app
        .deployments
        .iter()
        .map(|dep| {
            let old = existing.and_then(|o| o.deployments.iter().find(|d| d.name == dep.name));
            let failed = runtime
                .and_then(|r| r.deployments.get(&dep.name))
                .is_some_and(|d| d.deploy_failed());
            let plan = |action, keys: KeyChanges, reason: &str| DeploymentPlan {
                deployment: dep.name.clone(),
                action,
                in_place: keys.in_place,
                replacing: keys.replacing,
                reason: reason.to_owned(),
            };
            match old {
                None => plan(DeploymentAction::Created, KeyChanges::default(), ""),
                Some(old) => {
                    let keys = KeyChanges::between(old, dep);
                    if !keys.replacing.is_empty() {
                        plan(DeploymentAction::Replaced, keys, "")
                    } else if failed {
                        plan(
                            DeploymentAction::Replaced,
                            keys,
                            "DEPLOY_FAILED: a deploy starts its replicas again",
                        )
                    } else if !keys.in_place.is_empty() {
                        plan(DeploymentAction::Updated, keys, "")
                    } else {
                        plan(DeploymentAction::Unchanged, keys, "")
                    }
                }
            }
        })
        .collect();
    if let Some(old) = existing {
        deployments.extend(
            old.deployments
                .iter()
                .filter(|d| !app.deployments.iter().any(|n| n.name == d.name))
                .map(|d| DeploymentPlan {
                    deployment: d.name.clone(),
                    action: DeploymentAction::Removed,
                    in_place: Vec::new(),
                    replacing: Vec::new(),
                    reason: String::new(),
                }),
        );
    }
    AppPlan {
        app: app.name.clone(),
        change,
        keys,
        deployments,
    }
}

/// Keys of a deployment's config whose replica-defining values force new
/// replicas when they change (Ray: everything but the replica count, limits,
/// health and shutdown timing, and `user_config`, which running replicas take
/// in place through `reconfigure`). Paths as [`KeyChanges`] names them; a prefix
/// covers its sub-keys.
const REPLACING: &[&str] = &[
    "replica",
    "resources",
    "handles",
    "batching",
    "multiplexing.max_num_models_per_replica",
    "multiplexing.models_dir",
    "multiplexing.models",
];

/// What changed between two configs of one deployment, as key paths
/// (`num_replicas`, `replica.model_path`), split by whether the change applies
/// in place or needs new replicas. `DeploymentRuntime::update` and the
/// controller's plan both decide from this, so `rserve diff` says what deploy does.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct KeyChanges {
    pub(super) in_place: Vec<String>,
    pub(super) replacing: Vec<String>,
}

impl KeyChanges {
    pub(super) fn between(old: &DeploymentConfig, new: &DeploymentConfig) -> Self {
        let (old, new) = (to_value(old), to_value(new));
        let mut changes = Self::default();
        for key in changed_keys(&old, &new) {
            let replaces = REPLACING
                .iter()
                .any(|r| key == *r || key.starts_with(&format!("{r}.")))
                // Multiplexing switched on or off changes what replicas load.
                || key == "multiplexing";
            if replaces {
                changes.replacing.push(key);
            } else {
                changes.in_place.push(key);
            }
        }
        changes
    }
}

fn to_value(config: &DeploymentConfig) -> serde_json::Value {
    serde_json::to_value(config).expect("a deployment config always serialises")
}

/// Top-level keys whose values differ; for a table present on both sides,
/// its differing sub-keys (`replica.model_path`) instead. Sorted.
fn changed_keys(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut changed = Vec::new();
    for key in keys {
        let (a, b) = (old.get(key), new.get(key));
        if a == b {
            continue;
        }
        match (a, b) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => {
                let mut sub: Vec<&String> = a.keys().chain(b.keys()).collect();
                sub.sort();
                sub.dedup();
                changed.extend(
                    sub.into_iter()
                        .filter(|k| a.get(*k) != b.get(*k))
                        .map(|k| format!("{key}.{k}")),
                );
            }
            _ => changed.push(key.clone()),
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> DeploymentConfig {
        let file = rserve_protocol::AppFile::parse(
            "t.toml",
            &format!(
                "[[applications]]\nname = \"a\"\n[[applications.deployments]]\nname = \"d\"\n\
                 replica = {{ kind = \"digits\" }}\n{extra}\n"
            ),
        )
        .unwrap();
        file.applications[0].deployments[0].clone()
    }

    fn changes(old: &str, new: &str) -> (Vec<String>, Vec<String>) {
        let c = KeyChanges::between(&config(old), &config(new));
        (c.in_place, c.replacing)
    }

    #[test]
    fn limits_and_timing_change_in_place_and_replica_keys_replace() {
        assert_eq!(changes("", ""), (vec![], vec![]));
        assert_eq!(
            changes(
                "num_replicas = 1\nhealth_check_period_s = 10.0",
                "num_replicas = 2\nhealth_check_period_s = 5.0"
            ),
            (
                vec!["health_check_period_s".into(), "num_replicas".into()],
                vec![]
            )
        );
        assert_eq!(
            changes("", "user_config = { t = 1 }\nresources = { num_cpus = 2 }"),
            (
                vec!["user_config".into()],
                vec!["resources.num_cpus".into()]
            )
        );
    }

    #[test]
    fn multiplexing_replaces_unless_only_the_per_model_replica_counts_change() {
        let mux = |extra: &str| {
            format!("[applications.deployments.multiplexing]\nmodels_dir = \"/m\"\n{extra}")
        };
        assert_eq!(
            changes("", &mux("max_num_models_per_replica = 2")),
            (vec![], vec!["multiplexing".into()]),
            "switching multiplexing on changes what replicas load"
        );
        assert_eq!(
            changes(
                &mux("max_num_models_per_replica = 2"),
                &mux("max_num_models_per_replica = 3")
            ),
            (
                vec![],
                vec!["multiplexing.max_num_models_per_replica".into()]
            )
        );
        assert_eq!(
            changes(
                &mux("max_num_models_per_replica = 2"),
                &mux("max_num_models_per_replica = 2\nmodel_replicas = { m = 2 }")
            ),
            (vec!["multiplexing.model_replicas".into()], vec![])
        );
    }
}
