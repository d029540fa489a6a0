//! Router figures over a sliding window (`rserve routes`): the node samples
//! its routers' cumulative counters every second and answers with the
//! difference between the newest sample and the one [`WINDOW`] before.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use rserve_protocol::stream::{ReplicaFigures, RouterFigures};

use super::{DeploymentSnapshot, RequestFigures};

/// The window rates and latencies cover.
pub const WINDOW: Duration = Duration::from_secs(10);
/// How often the node samples.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// Seconds on this process's monotonic clock: what [`RouterWindow::sample`]
/// is fed (a wall-clock step must not stretch or empty the window).
pub fn now_s() -> f64 {
    static START: std::sync::LazyLock<std::time::Instant> =
        std::sync::LazyLock::new(std::time::Instant::now);
    START.elapsed().as_secs_f64()
}

/// Samples of the node's routers, newest last.
#[derive(Debug, Default)]
pub struct RouterWindow {
    samples: Mutex<VecDeque<(f64, Vec<DeploymentSnapshot>)>>,
}

impl RouterWindow {
    /// Adds a sample taken at `now_s` and forgets those older than the window.
    pub fn sample(&self, now_s: f64, routers: Vec<DeploymentSnapshot>) {
        let mut samples = self.samples.lock().unwrap();
        samples.push_back((now_s, routers));
        // Keep the newest sample at least WINDOW old as the base.
        while samples.len() > 2 && now_s - samples[1].0 >= WINDOW.as_secs_f64() {
            samples.pop_front();
        }
    }

    /// Each deployment's figures over the window (in-flight and queued as of
    /// the newest sample).
    pub fn figures(&self) -> Vec<RouterFigures> {
        let samples = self.samples.lock().unwrap();
        let Some((newest_s, newest)) = samples.back() else {
            return Vec::new();
        };
        let (oldest_s, oldest) = samples.front().expect("not empty");
        let span = newest_s - oldest_s;
        let base: HashMap<&str, &RequestFigures> = if samples.len() > 1 {
            oldest
                .iter()
                .flat_map(|d| d.replicas.iter())
                .map(|r| (r.replica_id.as_str(), &r.requests))
                .collect()
        } else {
            HashMap::new()
        };
        newest
            .iter()
            .map(|d| RouterFigures {
                app: d.app.clone(),
                deployment: d.deployment.clone(),
                queued: d.queued,
                replicas: d
                    .replicas
                    .iter()
                    .map(|r| {
                        let delta = r.requests.since(base.get(r.replica_id.as_str()).copied());
                        let requests: u64 = delta.by_class.iter().sum();
                        ReplicaFigures {
                            replica_id: r.replica_id.clone(),
                            // The hosting node's count includes requests
                            // other nodes forward; a proxy's would count them twice.
                            in_flight: if r.hosted_here {
                                u64::from(r.ongoing)
                            } else {
                                0
                            },
                            requests,
                            rps: if span > 0.0 {
                                requests as f64 / span
                            } else {
                                0.0
                            },
                            errors: delta.by_class[4],
                            buckets: delta.buckets.to_vec(),
                            models: r.models.clone(),
                        }
                    })
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{ReplicaSnapshot, RequestStats};

    fn snapshot(stats: &RequestStats, ongoing: u32) -> Vec<DeploymentSnapshot> {
        vec![DeploymentSnapshot {
            app: "a".into(),
            deployment: "d".into(),
            queued: 3,
            replicas: vec![ReplicaSnapshot {
                replica_id: "d-1".into(),
                ongoing,
                hosted_here: true,
                requests: stats.figures(),
                ..ReplicaSnapshot::default()
            }],
            ..DeploymentSnapshot::default()
        }]
    }

    #[test]
    fn figures_cover_the_last_window_only() {
        let stats = RequestStats::default();
        let window = RouterWindow::default();
        // 100 requests before the window, then 5 per second for 10 s.
        for _ in 0..100 {
            stats.record(200, Duration::from_millis(1));
        }
        window.sample(0.0, snapshot(&stats, 0));
        for second in 1..=12 {
            for i in 0..5 {
                let status = if i == 0 { 503 } else { 200 };
                stats.record(status, Duration::from_millis(7));
            }
            window.sample(f64::from(second), snapshot(&stats, 2));
        }
        let figures = window.figures();
        let r = &figures[0].replicas[0];
        assert_eq!(r.requests, 50, "10 s of 5 requests");
        assert_eq!(r.rps, 5.0);
        assert_eq!(r.errors, 10);
        assert_eq!(r.in_flight, 2);
        assert_eq!(figures[0].queued, 3);
        assert_eq!(r.buckets[3], 50, "all in (5, 10] ms");
    }
}
