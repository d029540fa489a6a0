//! A deployment's status as Ray names it: derived after each reconcile pass
//! (HEALTHY, UPDATING, UPSCALING, UNHEALTHY, DEPLOY_FAILED with its trigger)
//! and rendered into `rserve status`'s details.

use rserve_protocol::config::ReplicaKind;
use rserve_protocol::status::{
    BatchFigures, DeploymentDetails, DeploymentStatus, DeploymentStatusTrigger as Trigger,
    ReplicaDetails,
};

use tokio::time::Instant;

use super::DeploymentRuntime;

impl DeploymentRuntime {
    /// Of `target`, the replicas placed nowhere at the last attempt (not
    /// those waiting out a restart backoff): the signal for growing the
    /// fleet (a Kubernetes pool scaled on it).
    pub(super) fn unschedulable(&self, target: usize) -> usize {
        if self.pending.is_none() {
            return 0;
        }
        let placed = self
            .replicas
            .iter()
            .filter(|m| m.generation == self.generation && !m.stopping)
            .count();
        self.unplaced.min(target.saturating_sub(placed))
    }

    pub(super) fn derive_status(&mut self, target: usize, new_running: usize) {
        let converged = new_running == target && self.replicas.len() == target;
        (self.status, self.trigger) = if self.deploy_failed {
            (
                DeploymentStatus::DeployFailed,
                Trigger::ReplicaStartupFailed,
            )
        } else if converged {
            let trigger = match self.goal {
                DeploymentStatus::Upscaling => Trigger::UpscaleCompleted,
                DeploymentStatus::Downscaling => Trigger::DownscaleCompleted,
                _ => Trigger::ConfigUpdateCompleted,
            };
            self.goal = DeploymentStatus::Healthy;
            (
                DeploymentStatus::Healthy,
                if self.status == DeploymentStatus::Healthy {
                    self.trigger
                } else {
                    trigger
                },
            )
        } else {
            match self.goal {
                DeploymentStatus::Unhealthy => {
                    (DeploymentStatus::Unhealthy, Trigger::HealthCheckFailed)
                }
                DeploymentStatus::Upscaling => {
                    (DeploymentStatus::Upscaling, self.scaling_trigger())
                }
                DeploymentStatus::Downscaling => {
                    (DeploymentStatus::Downscaling, self.scaling_trigger())
                }
                DeploymentStatus::Healthy if self.startup_failures_in_row > 0 => {
                    (DeploymentStatus::Unhealthy, Trigger::ReplicaStartupFailed)
                }
                _ => (DeploymentStatus::Updating, Trigger::ConfigUpdateStarted),
            }
        };
    }

    /// The deployment's status for `rserve status`.
    pub(in crate::controller) fn details(&self) -> DeploymentDetails {
        let mut replica_states = std::collections::BTreeMap::new();
        let mut replicas = Vec::new();
        for managed in &self.replicas {
            let Some(state) = managed.replica.state() else {
                continue;
            };
            let state =
                if managed.stopping && state == rserve_protocol::status::ReplicaState::Running {
                    rserve_protocol::status::ReplicaState::Stopping
                } else {
                    state
                };
            *replica_states.entry(state).or_insert(0) += 1;
            replicas.push(ReplicaDetails {
                replica_id: managed.replica.id().to_owned(),
                state,
                ongoing_requests: managed.replica.ongoing(),
                start_time_s: managed.replica.start_time_s(),
                multiplexed_models: managed.replica.models().loaded(),
                loading: managed.replica.loading(),
                node_id: managed
                    .replica
                    .remote_target()
                    .map(|t| t.node_id.clone())
                    .unwrap_or_default(),
            });
        }
        let message = match (&self.status, &self.last_failure) {
            (DeploymentStatus::DeployFailed, Some(last)) => format!(
                "The deployment failed to start {} times in a row; not retrying until it is redeployed. Last error: {last}",
                self.startup_failures_in_row
            ),
            (DeploymentStatus::Healthy, Some(last)) => format!("Recovered. Last failure: {last}"),
            (_, Some(last)) if self.failures_in_row > 0 => {
                let wait = self.next_start_at.saturating_duration_since(Instant::now());
                format!("{last}. Retrying in {:.1}s.", wait.as_secs_f64())
            }
            _ => String::new(),
        };
        let message = match &self.pending {
            Some(reason) => format!("A replica is PENDING: {reason}. {message}")
                .trim_end()
                .to_owned(),
            None => message,
        };
        DeploymentDetails {
            status: self.status,
            status_trigger: self.trigger,
            message,
            kind: self.config.replica.name().to_owned(),
            target_num_replicas: self.target(),
            autoscaling_detail: self.autoscaling_detail(),
            replica_states,
            replica_failures: self.total_failures,
            last_failure: self.last_failure.clone(),
            queued_requests: self.router.queued(),
            // Chat replicas always batch (continuous batching: one "batch" per step).
            batching: (self.config.batching.is_some()
                || matches!(self.config.replica, ReplicaKind::Chat(_)))
            .then(|| {
                let mut figures = BatchFigures::default();
                for managed in &self.replicas {
                    figures.merge(&managed.replica.batch_figures());
                }
                figures
            }),
            replicas,
        }
    }

    /// Current status.
    pub(in crate::controller) fn status(&self) -> DeploymentStatus {
        self.status
    }
}
