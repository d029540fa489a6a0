//! The router: route prefix → deployment → replica.
//!
//! The route table is an immutable snapshot swapped atomically by the controller;
//! the ingress reads it without a lock. Within a deployment, a request goes to the
//! less loaded of two random replicas (power of two choices over live in-flight
//! counts), never past a replica's `max_ongoing_requests`. When every replica is
//! full, requests wait in a per-deployment queue bounded by `max_queued_requests`;
//! past the bound they are refused (503), so overload never turns into memory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::oneshot;

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

/// A queued request: it is handed a replica whose slot is already reserved for
/// it, or told why not.
type Waiter = oneshot::Sender<Result<Arc<Replica>, RouteError>>;

/// Request routing for one deployment, shared by every ingress connection.
#[derive(Debug)]
pub struct DeploymentRouter {
    name: String,
    replicas: ArcSwap<Vec<Arc<Replica>>>,
    /// Requests waiting for a slot, oldest first. A freed slot goes to the oldest
    /// waiter (FIFO, as Ray's router); new requests never pass queued ones.
    waiters: Mutex<VecDeque<Waiter>>,
    /// `waiters.len()`, readable without the lock on the hot path.
    queued: AtomicU64,
    max_queued: AtomicI64,
    /// Set while the deployment is DEPLOY_FAILED: requests are refused at once.
    failed: AtomicBool,
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
        // SeqCst pairs with the enqueue in `acquire` (push, then re-dispatch):
        // either the waiter sees this release, or we see the waiter.
        if self.router.queued.load(Ordering::SeqCst) > 0 {
            self.router.dispatch();
        }
    }
}

impl DeploymentRouter {
    /// A router with no replicas yet. `name` is `app/deployment`.
    pub fn new(name: String, max_queued_requests: i64) -> Self {
        Self {
            name,
            replicas: ArcSwap::from_pointee(Vec::new()),
            waiters: Mutex::new(VecDeque::new()),
            queued: AtomicU64::new(0),
            max_queued: AtomicI64::new(max_queued_requests),
            failed: AtomicBool::new(false),
        }
    }

    /// `app/deployment`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Replaces the set of replicas that may receive requests.
    pub fn set_replicas(&self, replicas: Vec<Arc<Replica>>) {
        self.replicas.store(Arc::new(replicas));
        self.dispatch();
    }

    /// The replicas that may receive requests.
    pub fn replicas(&self) -> Arc<Vec<Arc<Replica>>> {
        self.replicas.load_full()
    }

    /// Applies a new `max_queued_requests` in place.
    pub fn set_max_queued(&self, max: i64) {
        self.max_queued.store(max, Ordering::SeqCst);
    }

    /// Hands capacity that appeared without a release (a raised
    /// `max_ongoing_requests`) to waiting requests.
    pub fn capacity_changed(&self) {
        self.dispatch();
    }

    /// Marks the deployment failed (refuse at once, waiters included) or not.
    pub fn set_failed(&self, failed: bool) {
        self.failed.store(failed, Ordering::SeqCst);
        if failed {
            let mut waiters = self.waiters.lock().unwrap();
            for w in waiters.drain(..) {
                let _ = w.send(Err(self.unavailable("its deployment failed")));
            }
            self.queued.store(0, Ordering::SeqCst);
        }
    }

    /// Requests waiting for a replica (those whose client left are not counted).
    pub fn queued(&self) -> u64 {
        let mut waiters = self.waiters.lock().unwrap();
        waiters.retain(|w| !w.is_closed());
        let n = waiters.len() as u64;
        self.queued.store(n, Ordering::SeqCst);
        n
    }

    /// Reserves a slot on a replica, waiting in the bounded FIFO queue if all are
    /// busy (or none is running yet).
    pub async fn acquire(self: &Arc<Self>) -> Result<Permit, RouteError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(self.unavailable("its deployment failed"));
        }
        if self.queued.load(Ordering::SeqCst) == 0
            && let Some(replica) = self.try_reserve()
        {
            return Ok(self.permit(replica));
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut waiters = self.waiters.lock().unwrap();
            // Requests whose client left still sit in the queue: drop them first.
            waiters.retain(|w| !w.is_closed());
            let max = self.max_queued.load(Ordering::SeqCst);
            let queued = waiters.len() as u64;
            if max >= 0 && queued >= max as u64 {
                self.queued.store(queued, Ordering::SeqCst);
                return Err(RouteError::Overloaded {
                    deployment: self.name.clone(),
                    queued,
                    max,
                });
            }
            waiters.push_back(tx);
            self.queued.store(waiters.len() as u64, Ordering::SeqCst);
        }
        // A slot may have been freed between the fast path and the push.
        self.dispatch();
        let handed = if self.replicas.load().is_empty() {
            // Nothing is running (starting, or recovering): bound the wait.
            match tokio::time::timeout(NO_REPLICA_WAIT, rx).await {
                Ok(handed) => handed,
                Err(_) => return Err(self.unavailable("none became ready in time")),
            }
        } else {
            rx.await
        };
        match handed {
            Ok(Ok(replica)) => Ok(self.permit(replica)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(self.unavailable("the router was reset")),
        }
    }

    /// Gives free slots to the oldest waiting requests.
    fn dispatch(&self) {
        let mut waiters = self.waiters.lock().unwrap();
        while let Some(front) = waiters.front() {
            if front.is_closed() {
                waiters.pop_front();
                continue;
            }
            let Some(replica) = self.try_reserve() else {
                break;
            };
            let waiter = waiters.pop_front().expect("front exists");
            if let Err(Ok(replica)) = waiter.send(Ok(replica)) {
                // The waiter left just now: give the slot back.
                replica.release();
            }
        }
        self.queued.store(waiters.len() as u64, Ordering::SeqCst);
    }

    fn permit(self: &Arc<Self>, replica: Arc<Replica>) -> Permit {
        Permit {
            replica,
            router: self.clone(),
        }
    }

    fn unavailable(&self, reason: &str) -> RouteError {
        RouteError::Unavailable {
            deployment: self.name.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Power of two choices: the less loaded of two random replicas, falling back
    /// to a scan when both are full. The returned replica's slot is reserved.
    fn try_reserve(&self) -> Option<Arc<Replica>> {
        if self.failed.load(Ordering::Relaxed) {
            return None;
        }
        let replicas = self.replicas.load();
        let n = replicas.len();
        match n {
            0 => None,
            1 => replicas[0].try_reserve().then(|| replicas[0].clone()),
            _ => {
                let i = rand::random_range(0..n);
                let mut j = rand::random_range(0..n - 1);
                if j >= i {
                    j += 1;
                }
                let (a, b) = (&replicas[i], &replicas[j]);
                let (first, second) = if a.ongoing() <= b.ongoing() {
                    (a, b)
                } else {
                    (b, a)
                };
                if first.try_reserve() {
                    return Some(first.clone());
                }
                if second.try_reserve() {
                    return Some(second.clone());
                }
                (1..n)
                    .map(|k| &replicas[(i + k) % n])
                    .find(|r| r.try_reserve())
                    .cloned()
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

/// A deployment that serves the OpenAI API under a model name.
#[derive(Debug, Clone)]
pub struct ModelRoute {
    /// The OpenAI `model` name.
    pub model: String,
    /// The application.
    pub app: String,
    /// The replica kind (`embeddings`, ...), to check the endpoint fits.
    pub kind: &'static str,
    /// The deployment's router.
    pub router: Arc<DeploymentRouter>,
}

/// An immutable snapshot of every route on the node.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Bumped on every change.
    pub version: u64,
    /// Longest prefix first.
    routes: Vec<Route>,
    /// Sorted by model name.
    models: Vec<ModelRoute>,
}

impl RouteTable {
    /// A table of `routes` (any order) and OpenAI `models`.
    pub fn new(version: u64, mut routes: Vec<Route>, mut models: Vec<ModelRoute>) -> Self {
        routes.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then(a.prefix.cmp(&b.prefix))
        });
        models.sort_by(|a, b| a.model.cmp(&b.model));
        Self {
            version,
            routes,
            models,
        }
    }

    /// Every served OpenAI model, by name.
    pub fn models(&self) -> &[ModelRoute] {
        &self.models
    }

    /// The deployment serving OpenAI model `id`.
    pub fn model(&self, id: &str) -> Option<&ModelRoute> {
        self.models
            .binary_search_by(|m| m.model.as_str().cmp(id))
            .ok()
            .map(|i| &self.models[i])
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
    use rserve_protocol::AppFile;
    use tokio_util::task::TaskTracker;

    /// `n` running echo replicas with `max_ongoing` slots each.
    async fn running_replicas(n: usize, max_ongoing: u32) -> Vec<Arc<Replica>> {
        let file = AppFile::parse(
            "t.toml",
            &format!(
                "[[applications]]\nname = \"a\"\n[[applications.deployments]]\nname = \"d\"\n\
                 max_ongoing_requests = {max_ongoing}\nreplica = {{ kind = \"echo\" }}\n"
            ),
        )
        .unwrap();
        let config = &file.applications[0].deployments[0];
        let tasks = TaskTracker::new();
        let replicas: Vec<_> = (0..n)
            .map(|_| Replica::spawn("a", config, Arc::new(tokio::sync::Notify::new()), &tasks))
            .collect();
        while replicas
            .iter()
            .any(|r| r.phase() != crate::replica::Phase::Running)
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        replicas
    }

    fn take(router: &Arc<DeploymentRouter>) -> Permit {
        let replica = router.try_reserve().expect("capacity left");
        router.permit(replica)
    }

    #[tokio::test(start_paused = true)]
    async fn queued_requests_are_served_first_in_first_out() {
        let replicas = running_replicas(1, 1).await;
        let router = router(&replicas, -1);
        let held = take(&router);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for i in 0..4 {
            let (router, tx) = (router.clone(), tx.clone());
            tasks.push(tokio::spawn(async move {
                let permit = router.acquire().await.unwrap();
                tx.send(i).unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
                drop(permit);
            }));
            // Arrive in order.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(router.queued(), 4);
        drop(held);
        // A newcomer while others wait goes to the back, even if a slot is free
        // at the instant it arrives.
        let late = tokio::spawn({
            let (router, tx) = (router.clone(), tx.clone());
            async move {
                let _permit = router.acquire().await.unwrap();
                tx.send(99).unwrap();
            }
        });
        for t in tasks {
            t.await.unwrap();
        }
        late.await.unwrap();
        let mut order = Vec::new();
        while let Ok(i) = rx.try_recv() {
            order.push(i);
        }
        assert_eq!(order, vec![0, 1, 2, 3, 99]);
        assert_eq!(router.queued(), 0);
    }

    fn router(replicas: &[Arc<Replica>], max_queued: i64) -> Arc<DeploymentRouter> {
        let router = Arc::new(DeploymentRouter::new("a/d".into(), max_queued));
        router.set_replicas(replicas.to_vec());
        router
    }

    #[tokio::test(start_paused = true)]
    async fn never_exceeds_max_ongoing_and_bounds_the_queue() {
        let replicas = running_replicas(3, 2).await;
        let router = router(&replicas, 1);
        let mut permits = Vec::new();
        for _ in 0..6 {
            permits.push(router.try_reserve().expect("capacity left"));
        }
        assert!(replicas.iter().all(|r| r.ongoing() == 2));
        assert!(router.try_reserve().is_none());

        // The 7th waits in the queue; the 8th finds the queue (bound 1) full.
        let waiting = tokio::spawn({
            let router = router.clone();
            async move { router.acquire().await.map(|p| p.replica().id().to_owned()) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(router.queued(), 1);
        let err = router.acquire().await.unwrap_err();
        assert_eq!(
            err,
            RouteError::Overloaded {
                deployment: "a/d".into(),
                queued: 1,
                max: 1
            }
        );
        assert_eq!(router.queued(), 1);

        // Releasing one slot hands it to the waiter, on that replica.
        let freed = permits.remove(0);
        let freed_id = freed.id().to_owned();
        freed.release();
        router.capacity_changed();
        assert_eq!(waiting.await.unwrap().unwrap(), freed_id);
        assert_eq!(router.queued(), 0);
        assert!(replicas.iter().all(|r| r.ongoing() <= 2));
    }

    #[tokio::test(start_paused = true)]
    async fn two_choices_balance_two_replicas_exactly() {
        let replicas = running_replicas(2, 100).await;
        let router = router(&replicas, -1);
        let permits: Vec<_> = (0..40).map(|_| take(&router)).collect();
        // With two replicas both are always compared, so the less loaded wins.
        assert_eq!((replicas[0].ongoing(), replicas[1].ongoing()), (20, 20));
        drop(permits);
        assert!(replicas.iter().all(|r| r.ongoing() == 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waits_for_the_first_replica_then_is_served() {
        let router = Arc::new(DeploymentRouter::new("a/d".into(), -1));
        let waiting = tokio::spawn({
            let router = router.clone();
            async move { router.acquire().await.map(|p| p.replica().id().to_owned()) }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(router.queued(), 1);
        let replicas = running_replicas(1, 1).await;
        router.set_replicas(replicas.clone());
        assert_eq!(waiting.await.unwrap().unwrap(), replicas[0].id());
    }

    #[tokio::test(start_paused = true)]
    async fn no_replica_at_all_is_refused_after_the_bounded_wait() {
        let router = Arc::new(DeploymentRouter::new("a/d".into(), -1));
        let start = tokio::time::Instant::now();
        let err = router.acquire().await.unwrap_err();
        assert!(matches!(err, RouteError::Unavailable { .. }), "{err}");
        assert_eq!(start.elapsed(), NO_REPLICA_WAIT);
        assert_eq!(router.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_deployment_refuses_waiters_at_once() {
        let router = Arc::new(DeploymentRouter::new("a/d".into(), -1));
        let waiting = tokio::spawn({
            let router = router.clone();
            async move { router.acquire().await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        router.set_failed(true);
        let err = waiting.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("its deployment failed"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_that_gives_up_leaves_the_queue() {
        let replicas = running_replicas(1, 1).await;
        let router = router(&replicas, -1);
        let held = take(&router);
        let gave_up = tokio::time::timeout(Duration::from_millis(50), router.acquire()).await;
        assert!(gave_up.is_err());
        assert_eq!(router.queued(), 0);
        drop(held);
        assert!(router.acquire().await.is_ok());
    }

    fn route(prefix: &str) -> Route {
        Route {
            prefix: prefix.into(),
            app: prefix.into(),
            router: Arc::new(DeploymentRouter::new(prefix.into(), -1)),
        }
    }

    #[test]
    fn longest_prefix_on_segment_boundaries() {
        let table = RouteTable::new(
            1,
            vec![route("/"), route("/a"), route("/a/b"), route("/ab")],
            vec![],
        );
        let app = |p: &str| table.lookup(p).map(|r| r.app.as_str());
        assert_eq!(app("/a/b/c"), Some("/a/b"));
        assert_eq!(app("/a/bc"), Some("/a"));
        assert_eq!(app("/a"), Some("/a"));
        assert_eq!(app("/abc"), Some("/"));
        assert_eq!(app("/ab/x"), Some("/ab"));
        assert_eq!(app("/zzz"), Some("/"));
        let no_root = RouteTable::new(2, vec![route("/a")], vec![]);
        assert!(no_root.lookup("/b").is_none());
    }
}
