//! Tests of `router`.

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
        .map(|_| {
            Replica::spawn(
                "a",
                config,
                &crate::replica::ReplicaEnv::standalone(),
                Arc::new(tokio::sync::Notify::new()),
                &tasks,
            )
        })
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
    let replica = router.try_reserve(None, false).expect("capacity left");
    router.permit(replica, None)
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
            let permit = router.acquire(None).await.unwrap();
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
            let _permit = router.acquire(None).await.unwrap();
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
        permits.push(router.try_reserve(None, false).expect("capacity left"));
    }
    assert!(replicas.iter().all(|r| r.ongoing() == 2));
    assert!(router.try_reserve(None, false).is_none());

    // The 7th waits in the queue; the 8th finds the queue (bound 1) full.
    let waiting = tokio::spawn({
        let router = router.clone();
        async move {
            router
                .acquire(None)
                .await
                .map(|p| p.replica().id().to_owned())
        }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(router.queued(), 1);
    let err = router.acquire(None).await.unwrap_err();
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
        async move {
            router
                .acquire(None)
                .await
                .map(|p| p.replica().id().to_owned())
        }
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
    let err = router.acquire(None).await.unwrap_err();
    assert!(matches!(err, RouteError::Unavailable { .. }), "{err}");
    assert_eq!(start.elapsed(), NO_REPLICA_WAIT);
    assert_eq!(router.queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_deployment_refuses_waiters_at_once() {
    let router = Arc::new(DeploymentRouter::new("a/d".into(), -1));
    let waiting = tokio::spawn({
        let router = router.clone();
        async move { router.acquire(None).await.map(|_| ()) }
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
    let gave_up = tokio::time::timeout(Duration::from_millis(50), router.acquire(None)).await;
    assert!(gave_up.is_err());
    assert_eq!(router.queued(), 0);
    drop(held);
    assert!(router.acquire(None).await.is_ok());
}

/// A multiplexed router over `replicas` with per-model `targets`.
fn multiplexed(replicas: &[Arc<Replica>], targets: &[(&str, u32)]) -> Arc<DeploymentRouter> {
    let router = router(replicas, -1);
    router.set_multiplexing(Some(
        targets.iter().map(|(m, n)| ((*m).to_owned(), *n)).collect(),
    ));
    router
}

fn index_of(replicas: &[Arc<Replica>], permit: &Permit) -> usize {
    replicas
        .iter()
        .position(|r| Arc::ptr_eq(r, permit.replica()))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn requests_go_to_the_replica_that_holds_their_model() {
    let replicas = running_replicas(3, 8).await;
    replicas[1].models().set_loaded(vec!["m".into()]);
    let router = multiplexed(&replicas, &[]);
    let mut permits = Vec::new();
    for _ in 0..8 {
        let p = router.acquire(Some("m")).await.unwrap();
        assert_eq!(index_of(&replicas, &p), 1);
        permits.push(p);
    }
    // Requests without a model id still spread by two choices.
    let other = router.acquire(None).await.unwrap();
    assert_ne!(index_of(&replicas, &other), 1, "replica 1 is full");
    drop(permits);
    assert!(!replicas[0].models().holds("m"));
    assert_eq!(replicas[1].models().count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_new_model_goes_to_the_replica_with_fewest_models_and_stays_there() {
    let replicas = running_replicas(3, 8).await;
    replicas[0]
        .models()
        .set_loaded(vec!["a".into(), "b".into()]);
    replicas[1].models().set_loaded(vec!["c".into()]);
    let router = multiplexed(&replicas, &[]);
    let first = router.acquire(Some("x")).await.unwrap();
    assert_eq!(index_of(&replicas, &first), 2, "replica 2 holds no model");
    // Before the load finishes, the next request for x follows the first.
    let second = router.acquire(Some("x")).await.unwrap();
    assert_eq!(index_of(&replicas, &second), 2);
    // A second new model now goes to the replica with one model... or the
    // other with one: replica 1 (c) or replica 2 (x), never replica 0.
    let y = router.acquire(Some("y")).await.unwrap();
    assert_ne!(index_of(&replicas, &y), 0);
    drop((first, second));
    assert!(
        !replicas[2].models().holds("x"),
        "released with its permits"
    );
    drop(y);
}

#[tokio::test(start_paused = true)]
async fn a_busy_holder_is_waited_for_within_the_window_then_any_replica_serves() {
    let replicas = running_replicas(2, 1).await;
    replicas[0].models().set_loaded(vec!["hot".into()]);
    let router = multiplexed(&replicas, &[]);
    let held = router.acquire(Some("hot")).await.unwrap();
    assert_eq!(index_of(&replicas, &held), 0);
    // Replica 1 is free but does not hold "hot": the request waits for the
    // holder rather than load the model on a second replica...
    let waiting = tokio::spawn({
        let router = router.clone();
        async move {
            let started = tokio::time::Instant::now();
            let p = router.acquire(Some("hot")).await.unwrap();
            (p.replica().id().to_owned(), started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(router.queued(), 1);
    // ...while a request for another model passes it and takes replica 1.
    let cold = router.acquire(Some("cold")).await.unwrap();
    assert_eq!(index_of(&replicas, &cold), 1);
    drop(cold);
    // Past the matching window, the free replica serves it.
    let (id, waited) = waiting.await.unwrap();
    assert_eq!(id, replicas[1].id());
    assert!(
        waited >= MODEL_MATCH_WINDOW && waited < MODEL_MATCH_WINDOW + Duration::from_millis(50),
        "{waited:?}"
    );
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn a_per_model_target_lets_a_hot_model_spread_at_once() {
    let replicas = running_replicas(3, 1).await;
    replicas[0].models().set_loaded(vec!["hot".into()]);
    let router = multiplexed(&replicas, &[("hot", 3)]);
    let mut seen = std::collections::BTreeSet::new();
    let mut permits = Vec::new();
    for _ in 0..3 {
        let p = tokio::time::timeout(Duration::from_millis(10), router.acquire(Some("hot")))
            .await
            .expect("no wait: the target allows 3 holders")
            .unwrap();
        seen.insert(index_of(&replicas, &p));
        permits.push(p);
    }
    assert_eq!(seen.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_that_leaves_after_being_handed_a_replica_gives_the_slot_back() {
    let replicas = running_replicas(1, 1).await;
    let router = router(&replicas, -1);
    let held = take(&router);
    let mut waiter = Box::pin(router.acquire(None));
    // Polled once: it queues.
    assert!(
        tokio::time::timeout(Duration::ZERO, &mut waiter)
            .await
            .is_err()
    );
    assert_eq!(router.queued(), 1);
    // The freed slot is handed to the waiter, which leaves before taking it
    // (its client went away, or a handle call timed out).
    drop(held);
    assert_eq!(replicas[0].ongoing(), 1, "handed over");
    drop(waiter);
    assert_eq!(replicas[0].ongoing(), 0, "given back");
    let again = router.acquire(None).await.unwrap();
    assert_eq!(replicas[0].ongoing(), 1);
    drop(again);
}

#[tokio::test(start_paused = true)]
async fn a_retired_deployment_refuses_its_waiters_at_once_and_serves_again_when_revived() {
    let replicas = running_replicas(1, 1).await;
    let router = router(&replicas, -1);
    let held = take(&router);
    let waiter = tokio::spawn({
        let router = router.clone();
        async move { router.acquire(None).await.map(drop) }
    });
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(router.queued(), 1);
    let start = tokio::time::Instant::now();
    router.retire("its application was deleted");
    let refused = waiter.await.unwrap().unwrap_err();
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "at once, not after the 30 s wait"
    );
    assert_eq!(
        refused.to_string(),
        "deployment a/d has no running replica (its application was deleted)"
    );
    assert!(router.acquire(None).await.is_err(), "new requests too");
    drop(held);
    router.set_failed(false);
    drop(router.acquire(None).await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn the_node_backlog_bounds_every_deployments_queue_together() {
    let backlog = Arc::new(Backlog::new(2, 0));
    let (a, b) = (running_replicas(1, 1).await, running_replicas(1, 1).await);
    let on_node = |name: &str, replicas: &[Arc<Replica>]| {
        let router = Arc::new(DeploymentRouter::on_node(name.into(), -1, backlog.clone()));
        router.set_replicas(replicas.to_vec());
        router
    };
    let (ra, rb) = (on_node("a/x", &a), on_node("b/y", &b));
    let (held_a, held_b) = (take(&ra), take(&rb));
    // Ray's -1 queues without bound; the node's backlog takes two in all.
    let mut first = Box::pin(ra.acquire(None));
    let mut second = Box::pin(rb.acquire(None));
    for w in [&mut first, &mut second] {
        assert!(tokio::time::timeout(Duration::ZERO, w).await.is_err());
    }
    assert_eq!(backlog.figures().queued, 2);
    assert_eq!(
        ra.acquire(None).await.unwrap_err(),
        RouteError::NodeOverloaded { queued: 2, max: 2 }
    );
    // One leaves (its client went): its place is free at once, no sweep.
    drop(first);
    assert_eq!((ra.queued(), backlog.figures().queued), (0, 1));
    let mut third = Box::pin(ra.acquire(None));
    assert!(
        tokio::time::timeout(Duration::ZERO, &mut third)
            .await
            .is_err()
    );
    // A hand-over and a refusal give places back too.
    drop(held_b);
    drop(second.await.unwrap());
    rb.retire("gone");
    ra.retire("gone");
    assert!(third.await.is_err());
    drop(held_a);
    let f = backlog.figures();
    assert_eq!((f.queued, f.refused_queued), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn requests_that_leave_the_queue_cost_no_scan_and_are_swept() {
    let replicas = running_replicas(1, 1).await;
    let router = router(&replicas, -1);
    let held = take(&router);
    let mut kept = Box::pin(router.acquire(None));
    assert!(
        tokio::time::timeout(Duration::ZERO, &mut kept)
            .await
            .is_err()
    );
    // 1,000 requests queue and leave: the count follows at once, and the
    // queue never holds many more entries than waiting requests.
    for _ in 0..1000 {
        let mut gone = Box::pin(router.acquire(None));
        assert!(
            tokio::time::timeout(Duration::ZERO, &mut gone)
                .await
                .is_err()
        );
        assert_eq!(router.queued(), 2);
        drop(gone);
        assert_eq!(router.queued(), 1);
        let waiting = router.queued() as usize;
        assert!(router.waiters.lock().unwrap().len() <= 2 * waiting + 64 + 1);
    }
    // The one that stayed is still first in line.
    drop(held);
    drop(kept.await.unwrap());
    assert_eq!(router.queued(), 0);
    assert_eq!(router.backlog.figures().queued, 0);
}
