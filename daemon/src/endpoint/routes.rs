//! The live route view (`rserve routes`): the head's status (every replica,
//! its node and state) joined with every node's router figures over the last
//! window (its own, and the members' from their heartbeats).

use rserve_protocol::status::ServeStatus;
use rserve_protocol::stream::{
    DeploymentRoutes, ReplicaFigures, ReplicaRoutes, RouterFigures, RoutesView, merge_figures,
    quantile,
};
use rserve_protocol::wire::WireError;

use super::Context;
use crate::observe::LATENCY_BUCKETS_MS;
use crate::observe::window::WINDOW;

/// The view, on the head.
pub(super) async fn view(ctx: &Context) -> Result<RoutesView, WireError> {
    let status = ctx.controller.status(None).await?;
    let mut figures = ctx.live.window.figures();
    if let Some(fleet) = ctx.cluster.fleet() {
        figures.extend(fleet.member_figures());
    }
    Ok(assemble(&status, &figures, &ctx.node_id))
}

/// Joins status and figures: one entry per deployment, one per replica in
/// status (replicas no router reports yet have zero figures). Status leaves
/// the node of the head's own replicas empty: they are `head_id`'s.
pub fn assemble(status: &ServeStatus, figures: &[RouterFigures], head_id: &str) -> RoutesView {
    let merged = merge_figures(figures);
    let mut deployments = Vec::new();
    for (app_name, app) in &status.applications {
        for (dep_name, dep) in &app.deployments {
            let key = (app_name.clone(), dep_name.clone());
            let (queued, by_replica) = merged.get(&key).cloned().unwrap_or_default();
            let mut buckets: Vec<u64> = Vec::new();
            for fig in dep
                .replicas
                .iter()
                .filter_map(|r| by_replica.get(&r.replica_id))
            {
                buckets.resize(buckets.len().max(fig.buckets.len()), 0);
                for (sum, n) in buckets.iter_mut().zip(&fig.buckets) {
                    *sum += n;
                }
            }
            let replicas =
                dep.replicas
                    .iter()
                    .map(|r| {
                        let fig = by_replica.get(&r.replica_id).cloned().unwrap_or_else(|| {
                            ReplicaFigures {
                                replica_id: r.replica_id.clone(),
                                ..ReplicaFigures::default()
                            }
                        });
                        ReplicaRoutes {
                            replica_id: r.replica_id.clone(),
                            node_id: if r.node_id.is_empty() {
                                head_id.to_owned()
                            } else {
                                r.node_id.clone()
                            },
                            state: r.state,
                            in_flight: fig.in_flight,
                            rps: fig.rps,
                            p50_ms: quantile(&LATENCY_BUCKETS_MS, &fig.buckets, 0.5),
                            p99_ms: quantile(&LATENCY_BUCKETS_MS, &fig.buckets, 0.99),
                            errors: fig.errors,
                            models: if r.multiplexed_models.is_empty() {
                                fig.models
                            } else {
                                r.multiplexed_models.clone()
                            },
                        }
                    })
                    .collect();
            deployments.push(DeploymentRoutes {
                app: app_name.clone(),
                deployment: dep_name.clone(),
                route_prefix: app.route_prefix.clone(),
                queued,
                p50_ms: quantile(&LATENCY_BUCKETS_MS, &buckets, 0.5),
                p99_ms: quantile(&LATENCY_BUCKETS_MS, &buckets, 0.99),
                replicas,
            });
        }
    }
    RoutesView {
        window_s: WINDOW.as_secs_f64(),
        deployments,
    }
}
