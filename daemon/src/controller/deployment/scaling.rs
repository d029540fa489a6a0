//! A deployment's replica target: fixed, or its autoscaler's, fed each tick
//! with the deployment's load across the cluster.

use rserve_protocol::config::Replicas;
use rserve_protocol::status::{
    AutoscalingDetail, AutoscalingStatus, DeploymentStatus, DeploymentStatusTrigger as Trigger,
    ScalingDecision,
};
use rserve_protocol::stream::{EventReason, RouterFigures};
use tracing::info;

use super::{DeploymentRuntime, Recorder};
use crate::controller::autoscale::desired;
use crate::observe::events::Subject;
use crate::replica::Phase;

impl DeploymentRuntime {
    /// The replica count the deployment converges to now.
    pub(in crate::controller) fn target(&self) -> u32 {
        if self.retiring {
            return 0;
        }
        match (&self.autoscaler, self.config.replicas()) {
            (Some(scaler), Replicas::Auto(_)) => scaler.target,
            (_, Replicas::Fixed(n)) => n,
            (None, Replicas::Auto(a)) => a.initial_replicas,
        }
    }

    /// One autoscaling tick at `(monotonic, Unix)` seconds: the deployment's load across the cluster (in
    /// flight on its replicas wherever they run, plus queued on every node:
    /// this node's router, and the members' figures from their heartbeats),
    /// then the policy. Paused while placement holds after a head restart,
    /// and upscaling while a replica cannot be placed (it stays PENDING).
    pub(in crate::controller) fn autoscale(
        &mut self,
        (now_s, unix_s): (f64, f64),
        members: &[RouterFigures],
        holding: bool,
        recorder: &Recorder<'_>,
    ) {
        let Replicas::Auto(config) = self.config.replicas() else {
            return;
        };
        if self.retiring || holding || self.deploy_failed {
            return;
        }
        let here = self.router.snapshot();
        let mut load = here.queued as f64
            + here
                .replicas
                .iter()
                .filter(|r| r.hosted_here)
                .map(|r| f64::from(r.ongoing))
                .sum::<f64>();
        for figures in members
            .iter()
            .filter(|f| f.app == self.app && f.deployment == self.config.name)
        {
            load += figures.queued as f64
                + figures
                    .replicas
                    .iter()
                    .map(|r| r.in_flight as f64)
                    .sum::<f64>();
        }
        let pending = self.pending.is_some();
        let Some(scaler) = &mut self.autoscaler else {
            return;
        };
        scaler.observe(now_s, load, &config);
        if pending && desired(&config, scaler.target, scaler.metric(&config)) >= scaler.target {
            // No room for the replicas already wanted: do not ask for more.
            return;
        }
        let Some(decision) = scaler.decide(now_s, &config) else {
            return;
        };
        scaler.stamp_last(unix_s);
        self.router.count_decision(decision.to > decision.from);
        // A rollout or an unhealthy deployment keeps saying so; the new
        // target shows in the replica counts.
        if matches!(
            self.goal,
            DeploymentStatus::Healthy | DeploymentStatus::Upscaling | DeploymentStatus::Downscaling
        ) {
            self.goal = if decision.to > decision.from {
                DeploymentStatus::Upscaling
            } else {
                DeploymentStatus::Downscaling
            };
        }
        info!(app = %self.app, deployment = %self.config.name, from = decision.from,
            to = decision.to, reason = %decision.reason, "Autoscaling.");
        recorder.events.record(
            EventReason::Autoscaled,
            Subject::deployment(&self.app, &self.config.name),
            format!(
                "{} -> {} replicas: {}",
                decision.from, decision.to, decision.reason
            ),
        );
    }

    /// Upscaling or downscaling on the autoscaler's word, or a changed count.
    pub(super) fn scaling_trigger(&self) -> Trigger {
        if self.autoscaler.is_some() {
            Trigger::Autoscaling
        } else {
            Trigger::Unspecified
        }
    }

    /// Ray's `autoscaling_detail`, for an autoscaled deployment.
    pub(super) fn autoscaling_detail(&self) -> Option<AutoscalingDetail> {
        let (Some(scaler), Replicas::Auto(config)) = (&self.autoscaler, self.config.replicas())
        else {
            return None;
        };
        let running = self
            .replicas
            .iter()
            .filter(|m| !m.stopping && m.replica.phase() == Phase::Running)
            .count() as u32;
        let target = self.target();
        Some(AutoscalingDetail {
            status: match target.cmp(&running) {
                std::cmp::Ordering::Greater => AutoscalingStatus::Upscaling,
                std::cmp::Ordering::Less => AutoscalingStatus::Downscaling,
                std::cmp::Ordering::Equal => AutoscalingStatus::Stable,
            },
            current_metric: scaler.metric(&config),
            target_num_replicas: target,
            min_replicas: config.min_replicas,
            max_replicas: config.max_replicas,
            decisions: scaler
                .decisions
                .iter()
                .map(|d| ScalingDecision {
                    timestamp_s: d.time_s,
                    reason: d.reason.clone(),
                    prev_num_replicas: d.from,
                    curr_num_replicas: d.to,
                })
                .collect(),
        })
    }
}
