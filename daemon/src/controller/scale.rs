//! `rserve scale`: a deployment's fixed replica count changed from the CLI,
//! persisted exactly as if its file said `num_replicas = N` (so `rserve
//! config` shows it and a restart keeps it).

use std::sync::Arc;

use rserve_protocol::config::{AppFile, MAX_REPLICAS, NumReplicas, Replicas};
use rserve_protocol::wire::{Change, WireError};

use super::store::DesiredState;
use super::{Controller, bad_request, not_found, run_to_end};

impl Controller {
    /// Sets `app`'s `deployment` to `num_replicas` replicas. Refused for an
    /// autoscaled deployment (its bounds are in its file) and out of range.
    pub async fn scale(
        self: &Arc<Self>,
        app: &str,
        deployment: &str,
        num_replicas: u32,
    ) -> Result<Change, WireError> {
        if !(1..=MAX_REPLICAS).contains(&num_replicas) {
            return Err(bad_request(format!(
                "cannot scale to {num_replicas} replicas: 1 to {MAX_REPLICAS} (to scale to zero, \
                 deploy the deployment with autoscaling_config and min_replicas = 0)"
            )));
        }
        let (app, deployment) = (app.to_owned(), deployment.to_owned());
        let this = self.clone();
        let edit = async move {
            this.apply_edit("rserve scale", |desired| {
                edited(desired, &app, &deployment, num_replicas)
            })
            .await
        };
        let changes = run_to_end(self.tasks.spawn(edit)).await??;
        Ok(changes.first().map_or(Change::Unchanged, |c| c.change))
    }
}

/// The deployed application with `deployment` at `num_replicas`.
fn edited(
    desired: &DesiredState,
    app: &str,
    deployment: &str,
    num_replicas: u32,
) -> Result<AppFile, WireError> {
    let Some(record) = desired.applications.get(app) else {
        return Err(not_found(app, desired));
    };
    let mut config = record.config.clone();
    let Some(dep) = config.deployments.iter_mut().find(|d| d.name == deployment) else {
        let known: Vec<&str> = config.deployments.iter().map(|d| d.name.as_str()).collect();
        return Err(bad_request(format!(
            "application {app} has no deployment {deployment} (it has: {})",
            known.join(", ")
        )));
    };
    if let Replicas::Auto(a) = dep.replicas() {
        return Err(bad_request(format!(
            "deployment {app}/{deployment} autoscales ({}..={} replicas): its autoscaler \
             sets the count; change min_replicas/max_replicas in its file and deploy it",
            a.min_replicas, a.max_replicas
        )));
    }
    dep.num_replicas = NumReplicas::Count(num_replicas);
    Ok(AppFile {
        applications: vec![config],
    })
}
