//! Reconcile behaviour with paused time: scaling, start-before-stop updates,
//! failure backoff and DEPLOY_FAILED, persistence and idempotency.

use std::time::Duration;

use futures_util::FutureExt;
use rserve_protocol::status::{
    ApplicationStatus, DeploymentStatus, DeploymentStatusTrigger, ReplicaState,
};

use rserve_protocol::wire::DeploymentAction;

use super::*;

fn file(deployment: &str) -> AppFile {
    AppFile::parse(
        "t.toml",
        &format!("[[applications]]\nname = \"app\"\nroute_prefix = \"/app\"\n[[applications.deployments]]\nname = \"d\"\n{deployment}\n"),
    )
    .unwrap()
}

fn controller(dir: &std::path::Path) -> Arc<Controller> {
    Controller::new(
        Store::new(dir),
        NodeFile {
            pid: 0,
            node_id: "n".into(),
            http_address: "127.0.0.1:8000".parse().unwrap(),
            control_address: "127.0.0.1:8265".parse().unwrap(),
        },
        None,
        Arc::new(crate::observe::events::EventLog::open(dir)),
        crate::replica::ReplicaEnv::standalone(),
    )
    .unwrap()
}

/// Runs reconcile passes for `duration` of (paused) time.
async fn run_for(c: &Controller, duration: Duration) {
    let end = tokio::time::Instant::now() + duration;
    while tokio::time::Instant::now() < end {
        c.reconcile().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn deployment(c: &Controller) -> rserve_protocol::status::DeploymentDetails {
    c.status(Some("app")).await.unwrap().applications["app"].deployments["d"].clone()
}

#[tokio::test(start_paused = true)]
async fn scales_up_and_down_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let c = controller(dir.path());
    let changes = c
        .deploy(
            "t.toml",
            file("num_replicas = 3\nreplica = { kind = \"echo\" }"),
        )
        .await
        .unwrap();
    assert_eq!(changes[0].change, Change::Created);
    run_for(&c, Duration::from_millis(200)).await;
    let d = deployment(&c).await;
    assert_eq!(
        (d.status, d.replica_states[&ReplicaState::Running]),
        (DeploymentStatus::Healthy, 3)
    );
    let ids: Vec<String> = d.replicas.iter().map(|r| r.replica_id.clone()).collect();

    c.deploy(
        "t.toml",
        file("num_replicas = 1\nreplica = { kind = \"echo\" }"),
    )
    .await
    .unwrap();
    run_for(&c, Duration::from_millis(200)).await;
    let d = deployment(&c).await;
    assert_eq!(d.status, DeploymentStatus::Healthy);
    assert_eq!(
        d.status_trigger,
        DeploymentStatusTrigger::DownscaleCompleted
    );
    assert_eq!(d.replicas.len(), 1);
    // Downscaling keeps an existing replica: no restart.
    assert!(ids.contains(&d.replicas[0].replica_id));

    // Health and shutdown timing apply in place too (as in Ray).
    let kept = d.replicas[0].replica_id.clone();
    c.deploy(
        "t.toml",
        file("num_replicas = 1\nhealth_check_period_s = 2.5\ngraceful_shutdown_timeout_s = 5.0\nreplica = { kind = \"echo\" }"),
    )
    .await
    .unwrap();
    run_for(&c, Duration::from_millis(200)).await;
    let d = deployment(&c).await;
    assert_eq!(d.status, DeploymentStatus::Healthy);
    assert_eq!(d.replicas.len(), 1);
    assert_eq!(d.replicas[0].replica_id, kept);
}

#[tokio::test(start_paused = true)]
async fn a_changed_replica_kind_starts_new_replicas_before_stopping_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let c = controller(dir.path());
    c.deploy(
        "t.toml",
        file("num_replicas = 2\nreplica = { kind = \"echo\" }"),
    )
    .await
    .unwrap();
    run_for(&c, Duration::from_millis(100)).await;
    let old: Vec<String> = deployment(&c)
        .await
        .replicas
        .iter()
        .map(|r| r.replica_id.clone())
        .collect();
    let router = c.state.lock().await.apps["app"].deployments["d"]
        .router
        .clone();

    let changes = c
        .deploy(
            "t.toml",
            file("num_replicas = 2\nreplica = { kind = \"sleep\", duration_ms = 1 }"),
        )
        .await
        .unwrap();
    assert_eq!(changes[0].change, Change::Updated);
    // Right after the deploy, the old replicas still take traffic.
    assert_eq!(router.replicas().len(), 2);
    c.reconcile().await;
    assert!(router.replicas().len() >= 2);
    run_for(&c, Duration::from_millis(300)).await;
    let d = deployment(&c).await;
    assert_eq!(d.status, DeploymentStatus::Healthy);
    assert_eq!(d.kind, "sleep");
    assert_eq!(d.replicas.len(), 2);
    assert!(d.replicas.iter().all(|r| !old.contains(&r.replica_id)));
    assert_eq!(router.replicas().len(), 2);
}

/// Reconciles until `pred` holds, without moving (paused) time: model loading runs
/// on real threads, and auto-advancing time while they work would make the
/// backoff assertions depend on thread scheduling.
async fn settle(
    c: &Controller,
    what: &str,
    pred: impl Fn(&rserve_protocol::status::DeploymentDetails) -> bool,
) {
    for _ in 0..5000 {
        c.reconcile().await;
        if pred(&deployment(c).await) {
            return;
        }
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("never reached: {what}; last: {:?}", deployment(c).await);
}

#[tokio::test(start_paused = true)]
async fn startup_failures_back_off_then_deploy_failed() {
    let dir = tempfile::tempdir().unwrap();
    let c = controller(dir.path());
    let missing = dir.path().join("missing.safetensors");
    let broken = file(&format!(
        "num_replicas = 1\nreplica = {{ kind = \"digits\", weights = \"{}\" }}",
        missing.display()
    ));
    c.deploy("t.toml", broken.clone()).await.unwrap();
    settle(&c, "first failure", |d| d.replica_failures == 1).await;
    let d = deployment(&c).await;
    assert_eq!(d.status, DeploymentStatus::Updating);
    assert!(
        d.message.contains("missing.safetensors") && d.message.contains("Retrying in 0.5s"),
        "{}",
        d.message
    );

    // Backoff: nothing restarts before 0.5 s, then 1 s after the second failure.
    tokio::time::advance(Duration::from_millis(450)).await;
    c.reconcile().await;
    assert!(deployment(&c).await.replicas.is_empty());
    tokio::time::advance(Duration::from_millis(100)).await;
    settle(&c, "second failure", |d| d.replica_failures == 2).await;
    tokio::time::advance(Duration::from_millis(950)).await;
    c.reconcile().await;
    assert!(deployment(&c).await.replicas.is_empty());
    tokio::time::advance(Duration::from_millis(100)).await;
    // The third failure is the limit: min(3 × num_replicas, 20) = 3.
    settle(&c, "DEPLOY_FAILED", |d| {
        d.status == DeploymentStatus::DeployFailed
    })
    .await;
    let d = deployment(&c).await;
    assert_eq!(d.replica_failures, 3);
    assert_eq!(
        d.status_trigger,
        DeploymentStatusTrigger::ReplicaStartupFailed
    );
    assert!(
        d.message.contains("failed to start 3 times in a row"),
        "{}",
        d.message
    );
    let app = &c.status(None).await.unwrap().applications["app"];
    assert_eq!(app.status, ApplicationStatus::DeployFailed);

    // No more retries until redeployed.
    tokio::time::advance(Duration::from_secs(60)).await;
    c.reconcile().await;
    assert!(deployment(&c).await.replicas.is_empty());
    // Redeploying the same file retries (it is not "unchanged" while failed).
    let changes = c.deploy("t.toml", broken).await.unwrap();
    assert_eq!(changes[0].change, Change::Updated);
    settle(&c, "a retry after the redeploy", |d| {
        d.replica_failures == 4
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn desired_state_survives_a_new_controller_and_deploys_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let c = controller(dir.path());
    let f = file("replica = { kind = \"echo\" }");
    assert_eq!(
        c.deploy("t.toml", f.clone()).await.unwrap()[0].change,
        Change::Created
    );
    let saved = std::fs::read(dir.path().join("state.json")).unwrap();
    assert_eq!(
        c.deploy("t.toml", f.clone()).await.unwrap()[0].change,
        Change::Unchanged
    );
    assert_eq!(std::fs::read(dir.path().join("state.json")).unwrap(), saved);

    let restarted = controller(dir.path());
    assert_eq!(restarted.config(None).await.unwrap(), f);
    run_for(&restarted, Duration::from_millis(100)).await;
    assert_eq!(
        deployment(&restarted).await.status,
        DeploymentStatus::Healthy
    );
    let table = restarted.routes.load();
    assert_eq!(table.lookup("/app/x").unwrap().app, "app");

    restarted.delete("app").await.unwrap();
    assert!(restarted.routes.load().lookup("/app").is_none());
    run_for(&restarted, Duration::from_millis(100)).await;
    assert!(
        restarted
            .status(None)
            .await
            .unwrap()
            .applications
            .is_empty()
    );
    assert!(
        controller(dir.path())
            .config(None)
            .await
            .unwrap()
            .applications
            .is_empty()
    );
    let err = restarted.delete("app").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
}

#[tokio::test(start_paused = true)]
async fn status_answers_while_a_deploy_is_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let c = controller(dir.path());
    c.deploy("t.toml", file("replica = { kind = \"echo\" }"))
        .await
        .unwrap();
    // A deploy that is persisting holds the writer lock (the fsync happens
    // under it); status and reconcile must not wait for it.
    let writing = c.writer.lock().await;
    let status = tokio::time::timeout(Duration::from_secs(1), c.status(None)).await;
    assert!(status.is_ok(), "status waited for the writer");
    tokio::time::timeout(Duration::from_secs(1), c.reconcile())
        .await
        .expect("reconcile waited for the writer");
    // A second change waits for the first to be written, then applies.
    let second = tokio::spawn({
        let c = c.clone();
        async move { c.delete("app").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!second.is_finished(), "changes are written one at a time");
    drop(writing);
    second.await.unwrap().unwrap();
    assert!(c.config(None).await.unwrap().applications.is_empty());
}

#[tokio::test]
async fn a_change_whose_caller_goes_away_lands_on_disk_and_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let c = controller(dir.path());
    // Polled once, then dropped: the caller (an RPC) went away mid-deploy.
    // (`now_or_never`, not a zero timeout: on this current-thread runtime the
    // spawned change cannot run before the drop, whereas a timer tick could
    // let it finish first.)
    let gone = c
        .deploy("t.toml", file("replica = { kind = \"echo\" }"))
        .now_or_never();
    assert!(gone.is_none(), "the deploy was still running when dropped");
    // The next change waits for the dropped one to end, then sees its result.
    let changes = c
        .deploy("t.toml", file("replica = { kind = \"echo\" }"))
        .await
        .unwrap();
    assert_eq!(changes[0].change, Change::Unchanged);
    let on_disk = Store::new(dir.path()).load().unwrap();
    assert_eq!(on_disk.applications.keys().collect::<Vec<_>>(), ["app"]);
    let gone = c.delete("app").now_or_never();
    assert!(gone.is_none(), "the delete was still running when dropped");
    // Changes apply in call order: this one runs after the dropped delete.
    let again = c.delete("app").await.unwrap_err();
    assert_eq!(again.code, ErrorCode::NotFound, "{again:?}");
    assert!(c.config(None).await.unwrap().applications.is_empty());
    assert!(
        Store::new(dir.path())
            .load()
            .unwrap()
            .applications
            .is_empty()
    );
}

fn actions(plan: &[AppPlan]) -> Vec<(String, DeploymentAction, Vec<String>, Vec<String>)> {
    plan[0]
        .deployments
        .iter()
        .map(|d| {
            (
                d.deployment.clone(),
                d.action,
                d.in_place.clone(),
                d.replacing.clone(),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_plan_names_created_in_place_replaced_and_unchanged_deployments_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = controller(dir.path());
    let two = |a: &str, b: &str| {
        AppFile::parse(
            "t.toml",
            &format!(
                "[[applications]]\nname = \"app\"\nroute_prefix = \"/app\"\n\
                 [[applications.deployments]]\nname = \"a\"\n{a}\n\
                 [[applications.deployments]]\nname = \"b\"\n{b}\n"
            ),
        )
        .unwrap()
    };
    let echo = "replica = { kind = \"echo\" }";
    let first = two(echo, "replica = { kind = \"sleep\", duration_ms = 5 }");

    let plan = c.plan("t.toml", first.clone()).await.unwrap();
    assert_eq!(plan[0].change, Change::Created);
    assert_eq!(
        actions(&plan),
        [
            ("a".into(), DeploymentAction::Created, vec![], vec![]),
            ("b".into(), DeploymentAction::Created, vec![], vec![]),
        ]
    );
    assert!(
        c.status(None).await.unwrap().applications.is_empty(),
        "a plan deploys nothing"
    );
    assert!(!dir.path().join("state.json").exists(), "nor writes state");

    c.deploy("t.toml", first.clone()).await.unwrap();
    let state = std::fs::read(dir.path().join("state.json")).unwrap();
    let plan = c.plan("t.toml", first).await.unwrap();
    assert_eq!(plan[0].change, Change::Unchanged);
    assert!(
        plan[0]
            .deployments
            .iter()
            .all(|d| d.action == DeploymentAction::Unchanged)
    );

    let changed = two(
        &format!("num_replicas = 3\nmax_ongoing_requests = 7\n{echo}"),
        "replica = { kind = \"sleep\", duration_ms = 9 }\nresources = { num_cpus = 2 }",
    );
    let plan = c.plan("t.toml", changed).await.unwrap();
    assert_eq!(plan[0].change, Change::Updated);
    assert_eq!(
        actions(&plan),
        [
            (
                "a".into(),
                DeploymentAction::Updated,
                vec!["max_ongoing_requests".into(), "num_replicas".into()],
                vec![]
            ),
            (
                "b".into(),
                DeploymentAction::Replaced,
                vec![],
                vec!["replica.duration_ms".into(), "resources.num_cpus".into()]
            ),
        ]
    );

    // A deployment dropped from the file's application is removed; route
    // changes are application keys.
    let fewer = AppFile::parse(
        "t.toml",
        &format!(
            "[[applications]]\nname = \"app\"\nroute_prefix = \"/other\"\n\
             [[applications.deployments]]\nname = \"a\"\n{echo}\n"
        ),
    )
    .unwrap();
    let plan = c.plan("t.toml", fewer).await.unwrap();
    assert_eq!(plan[0].keys, ["route_prefix"]);
    assert_eq!(
        actions(&plan),
        [
            ("a".into(), DeploymentAction::Unchanged, vec![], vec![]),
            ("b".into(), DeploymentAction::Removed, vec![], vec![]),
        ]
    );
    assert_eq!(
        std::fs::read(dir.path().join("state.json")).unwrap(),
        state,
        "plans leave the state file as it was"
    );
}

#[tokio::test(start_paused = true)]
async fn a_plan_is_refused_like_a_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let c = controller(dir.path());
    c.deploy("t.toml", file("replica = { kind = \"echo\" }"))
        .await
        .unwrap();
    let clash = AppFile::parse(
        "c.toml",
        "[[applications]]\nname = \"other\"\nroute_prefix = \"/app\"\n\
         [[applications.deployments]]\nname = \"d\"\nreplica = { kind = \"echo\" }\n",
    )
    .unwrap();
    let err = c.plan("c.toml", clash).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::BadRequest);
    assert!(err.message.contains("already serves"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_replica_is_replaced_and_the_target_kept() {
    let dir = tempfile::tempdir().unwrap();
    let c = controller(dir.path());
    c.deploy(
        "t.toml",
        file("num_replicas = 2\nreplica = { kind = \"echo\" }"),
    )
    .await
    .unwrap();
    run_for(&c, Duration::from_millis(200)).await;
    let ids: Vec<String> = deployment(&c)
        .await
        .replicas
        .iter()
        .map(|r| r.replica_id.clone())
        .collect();
    assert_eq!(ids.len(), 2);

    let found = c.restart_replica(&ids[0]).await.unwrap();
    assert_eq!(found, ("app".to_owned(), "d".to_owned()));
    // Asked twice: it is already stopping, so the second is refused.
    let again = c.restart_replica(&ids[0]).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::BadRequest);
    run_for(&c, Duration::from_millis(500)).await;
    let d = deployment(&c).await;
    let now: Vec<&str> = d.replicas.iter().map(|r| r.replica_id.as_str()).collect();
    assert_eq!(d.target_num_replicas, 2);
    assert_eq!(d.replica_states[&ReplicaState::Running], 2, "{now:?}");
    assert!(!now.contains(&ids[0].as_str()), "{now:?}");
    assert!(now.contains(&ids[1].as_str()), "{now:?}");
    // Not a failure.
    assert_eq!(d.replica_failures, 0);
    assert_eq!(d.last_failure, None);

    let unknown = c.restart_replica("d-00000000").await.unwrap_err();
    assert_eq!(unknown.code, ErrorCode::BadRequest);
    assert!(
        unknown.message.contains("no replica d-00000000"),
        "{}",
        unknown.message
    );
}
