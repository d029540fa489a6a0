//! The router: route prefix → deployment → replica.
//!
//! The route table is an immutable snapshot swapped atomically by the controller;
//! the ingress reads it without a lock. Within a deployment, a request goes to the
//! less loaded of two random replicas (power of two choices over live in-flight
//! counts), never past a replica's `max_ongoing_requests`. When every replica is
//! full, requests wait in a per-deployment queue bounded by `max_queued_requests`;
//! past the bound they are refused (503), so overload never turns into memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use crate::replica::Replica;

/// How long a request waits for a deployment that has no replica at all (while
/// it starts or recovers) before it is refused.
pub const NO_REPLICA_WAIT: Duration = Duration::from_secs(30);

/// Why a request could not be given a replica.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    /// Every replica is at `max_ongoing_requests` and the queue is full.
    #[error(
        "deployment {deployment} is overloaded: {queued} requests queued (max_queued_requests = {max})"
    )]
    Overloaded {
        /// `app/deployment`.
        deployment: String,
        /// Requests waiting.
        queued: u64,
        /// The bound.
        max: i64,
    },
    /// The deployment has no running replica.
    #[error("deployment {deployment} has no running replica ({reason})")]
    Unavailable {
        /// `app/deployment`.
        deployment: String,
        /// Why (failed deploy, starting too long).
        reason: String,
    },
}

/// Request routing for one deployment, shared by every ingress connection.
#[derive(Debug)]
pub struct DeploymentRouter {
    name: String,
    replicas: ArcSwap<Vec<Arc<Replica>>>,
    queued: AtomicU64,
    max_queued: AtomicI64,
    /// Set while the deployment is DEPLOY_FAILED: requests are refused at once.
    failed: AtomicBool,
    wakeup: Notify,
}

/// A reserved slot on a replica; released when dropped.
#[derive(Debug)]
pub struct Permit {
    replica: Arc<Replica>,
    router: Arc<DeploymentRouter>,
}

impl Permit {
    /// The chosen replica.
    pub fn replica(&self) -> &Arc<Replica> {
        &self.replica
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.replica.release();
        // SeqCst pairs with the waiter's increment of `queued` before its own
        // capacity check: either it sees our release, or we see it queued.
        if self.router.queued.load(Ordering::SeqCst) > 0 {
            self.router.wakeup.notify_one();
        }
    }
}

/// Decrements the queue count when a waiting request leaves (served or gone).
struct Queued<'a>(&'a DeploymentRouter);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::SeqCst);
        // If this waiter consumed a wake-up and then left, pass it on.
        self.0.wakeup.notify_one();
    }
}

impl DeploymentRouter {
    /// A router with no replicas yet. `name` is `app/deployment`.
    pub fn new(name: String, max_queued_requests: i64) -> Self {
        Self {
            name,
            replicas: ArcSwap::from_pointee(Vec::new()),
            queued: AtomicU64::new(0),
            max_queued: AtomicI64::new(max_queued_requests),
            failed: AtomicBool::new(false),
            wakeup: Notify::new(),
        }
    }

    /// `app/deployment`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Replaces the set of replicas that may receive requests.
    pub fn set_replicas(&self, replicas: Vec<Arc<Replica>>) {
        self.replicas.store(Arc::new(replicas));
        self.wakeup.notify_waiters();
    }

    /// The replicas that may receive requests.
    pub fn replicas(&self) -> Arc<Vec<Arc<Replica>>> {
        self.replicas.load_full()
    }

    /// Applies a new `max_queued_requests` in place.
    pub fn set_max_queued(&self, max: i64) {
        self.max_queued.store(max, Ordering::SeqCst);
    }

    /// Marks the deployment failed (refuse at once) or not.
    pub fn set_failed(&self, failed: bool) {
        self.failed.store(failed, Ordering::SeqCst);
        self.wakeup.notify_waiters();
    }

    /// Requests waiting for a replica.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::SeqCst)
    }

    /// Reserves a slot on a replica, waiting in the bounded queue if all are busy.
    pub async fn acquire(self: &Arc<Self>) -> Result<Permit, RouteError> {
        if let Some(permit) = self.try_acquire() {
            return Ok(permit);
        }
        let max = self.max_queued.load(Ordering::SeqCst);
        let queued = self.queued.fetch_add(1, Ordering::SeqCst);
        let _queued = Queued(self);
        if max >= 0 && queued >= max as u64 {
            return Err(RouteError::Overloaded {
                deployment: self.name.clone(),
                queued,
                max,
            });
        }
        let mut no_replica_since = None;
        loop {
            let notified = self.wakeup.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(permit) = self.try_acquire() {
                return Ok(permit);
            }
            if self.failed.load(Ordering::SeqCst) {
                return Err(self.unavailable("its deployment failed"));
            }
            if self.replicas.load().is_empty() {
                // Nothing will ever release a slot: bound the wait.
                let since = *no_replica_since.get_or_insert_with(tokio::time::Instant::now);
                let left = NO_REPLICA_WAIT.saturating_sub(since.elapsed());
                if tokio::time::timeout(left, notified).await.is_err() {
                    return Err(self.unavailable("none became ready in time"));
                }
            } else {
                no_replica_since = None;
                notified.await;
            }
        }
    }

    fn unavailable(&self, reason: &str) -> RouteError {
        RouteError::Unavailable {
            deployment: self.name.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Power of two choices: the less loaded of two random replicas, falling back
    /// to a scan when both are full.
    fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        if self.failed.load(Ordering::Relaxed) {
            return None;
        }
        let replicas = self.replicas.load();
        let n = replicas.len();
        let permit = |replica: &Arc<Replica>| Permit {
            replica: replica.clone(),
            router: self.clone(),
        };
        match n {
            0 => None,
            1 => replicas[0].try_reserve().then(|| permit(&replicas[0])),
            _ => {
                let i = rand::random_range(0..n);
                let mut j = rand::random_range(0..n - 1);
                if j >= i {
                    j += 1;
                }
                let (a, b) = (&replicas[i], &replicas[j]);
                let (first, second) = if a.ongoing() <= b.ongoing() { (a, b) } else { (b, a) };
                if first.try_reserve() {
                    return Some(permit(first));
                }
                if second.try_reserve() {
                    return Some(permit(second));
                }
                (1..n)
                    .map(|k| &replicas[(i + k) % n])
                    .find(|r| r.try_reserve())
                    .map(permit)
            }
        }
    }
}

/// One application's entry in the route table.
#[derive(Debug, Clone)]
pub struct Route {
    /// The route prefix.
    pub prefix: String,
    /// The application.
    pub app: String,
    /// The application's ingress deployment.
    pub router: Arc<DeploymentRouter>,
}

/// An immutable snapshot of every route on the node.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Bumped on every change.
    pub version: u64,
    /// Longest prefix first.
    routes: Vec<Route>,
}

impl RouteTable {
    /// A table of `routes` (any order).
    pub fn new(version: u64, mut routes: Vec<Route>) -> Self {
        routes.sort_by(|a, b| b.prefix.len().cmp(&a.prefix.len()).then(a.prefix.cmp(&b.prefix)));
        Self { version, routes }
    }

    /// The longest prefix that matches `path` on a segment boundary.
    pub fn lookup(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| prefix_matches(&r.prefix, path))
    }

    /// Every route, longest prefix first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The node's current route table, swapped atomically by the controller.
pub type Routes = ArcSwap<RouteTable>;

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str) -> Route {
        Route {
            prefix: prefix.into(),
            app: prefix.into(),
            router: Arc::new(DeploymentRouter::new(prefix.into(), -1)),
        }
    }

    #[test]
    fn longest_prefix_on_segment_boundaries() {
        let table = RouteTable::new(1, vec![route("/"), route("/a"), route("/a/b"), route("/ab")]);
        let app = |p: &str| table.lookup(p).map(|r| r.app.as_str());
        assert_eq!(app("/a/b/c"), Some("/a/b"));
        assert_eq!(app("/a/bc"), Some("/a"));
        assert_eq!(app("/a"), Some("/a"));
        assert_eq!(app("/abc"), Some("/"));
        assert_eq!(app("/ab/x"), Some("/ab"));
        assert_eq!(app("/zzz"), Some("/"));
        let no_root = RouteTable::new(2, vec![route("/a")]);
        assert!(no_root.lookup("/b").is_none());
    }
}
