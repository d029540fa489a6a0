//! Tests of deployment handles against real replicas in this process, on
//! paused time: routing and figures, the request id carried on, overload,
//! timeouts, a deployment with no route, and splitting server-sent events.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::Method;
use rserve_protocol::AppFile;
use tokio_util::task::TaskTracker;

use super::handle::{Events, REQUEST_ID};
use super::{DeploymentHandle, HandleError, Request};
use crate::replica::{Phase, Replica, ReplicaEnv};
use crate::router::{DeploymentRouter, NO_REPLICA_WAIT, RouteTable};

/// A node's env whose route table holds deployment `d` of app `a`: one
/// running replica of `replica` (a TOML inline table), with `limits` keys.
async fn env_with(replica: &str, limits: &str) -> (Arc<ReplicaEnv>, Arc<DeploymentRouter>) {
    let file = AppFile::parse(
        "t.toml",
        &format!(
            "[[applications]]\nname = \"a\"\n[[applications.deployments]]\nname = \"d\"\n\
             {limits}\nreplica = {replica}\n"
        ),
    )
    .unwrap();
    let config = &file.applications[0].deployments[0];
    let env = Arc::new(ReplicaEnv {
        routes: Arc::new(ArcSwap::from_pointee(RouteTable::default())),
        kinds: Arc::default(),
        tap: Arc::default(),
        node_id: "n1".into(),
        backlog: Arc::default(),
    });
    let tasks = TaskTracker::new();
    let replica = Replica::spawn(
        "a",
        config,
        &env,
        Arc::new(tokio::sync::Notify::new()),
        &tasks,
    );
    while replica.phase() != Phase::Running {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let router = Arc::new(DeploymentRouter::for_deployment("a", config, &env.backlog));
    router.set_replicas(vec![replica]);
    let mut table = RouteTable::builder();
    table.deployment("a", "d", &router);
    env.routes.store(Arc::new(table.build(1)));
    (env, router)
}

fn handle(env: &Arc<ReplicaEnv>, deployment: &str) -> DeploymentHandle {
    DeploymentHandle::new(env.clone(), "a", deployment, "caller-1", Arc::default())
}

#[tokio::test(start_paused = true)]
async fn a_call_goes_through_the_router_counts_and_carries_the_request_id() {
    let (env, router) = env_with("{ kind = \"echo\" }", "").await;
    let mut tapping = env.tap.subscribe();
    let caller = handle(&env, "d");
    let call = caller.call(Request::new(Method::POST, "/x", "ping"));
    let answer = REQUEST_ID
        .scope(http::HeaderValue::from_static("parent-7"), call)
        .await
        .unwrap();
    assert_eq!(&answer.body[..], b"ping");
    assert!(answer.replica().unwrap().starts_with("d-"), "{answer:?}");
    // Counted in the callee's figures like an ingress call.
    assert_eq!(router.stats().figures().by_class[1], 1);
    // Sampled for the tap, with the caller's request id.
    let event = tapping.events.recv().await.unwrap();
    assert_eq!(
        (event.app.as_str(), event.deployment.as_str(), event.status),
        ("a", "d", 200)
    );
    assert_eq!(event.request_id, "parent-7");
    assert_eq!(event.node, "n1");
    assert!(!event.hop);
    // Outside a request, a call gets an id naming its caller.
    handle(&env, "d")
        .call(Request::new(Method::POST, "/x", "pong"))
        .await
        .unwrap();
    let event = tapping.events.recv().await.unwrap();
    assert_eq!(event.request_id, "caller-1-0");
}

#[tokio::test(start_paused = true)]
async fn an_overloaded_dependency_is_an_error_at_once_and_a_slow_one_a_timeout() {
    let (env, _) = env_with(
        "{ kind = \"sleep\", duration_ms = 1000 }",
        "max_ongoing_requests = 1\nmax_queued_requests = 0",
    )
    .await;
    let busy = tokio::spawn({
        let handle = handle(&env, "d");
        async move { handle.call(Request::new(Method::GET, "/", "")).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = tokio::time::Instant::now();
    let refused = handle(&env, "d")
        .call(Request::new(Method::GET, "/", ""))
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO, "refused at once");
    assert!(matches!(refused, HandleError::Overloaded(_)), "{refused}");
    assert!(
        refused.to_string().contains("a/d is overloaded"),
        "{refused}"
    );
    assert_eq!(refused.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    busy.await.unwrap().unwrap();

    let started = tokio::time::Instant::now();
    let slow = handle(&env, "d")
        .with_timeout(Duration::from_millis(100))
        .call(Request::new(Method::GET, "/", ""))
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(
        slow,
        HandleError::Timeout {
            deployment: "a/d".into(),
            after: Duration::from_millis(100)
        }
    );
    assert_eq!(slow.status(), http::StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_deployment_this_node_has_no_route_to_is_no_replica_after_the_wait() {
    let (env, _) = env_with("{ kind = \"echo\" }", "").await;
    let started = tokio::time::Instant::now();
    let err = handle(&env, "gone")
        .call(Request::new(Method::GET, "/", ""))
        .await
        .unwrap_err();
    assert!(matches!(err, HandleError::NoReplica { .. }), "{err}");
    assert!(started.elapsed() >= NO_REPLICA_WAIT);
    assert!(started.elapsed() < NO_REPLICA_WAIT + Duration::from_secs(1));
}

#[test]
fn events_are_split_whatever_the_chunks() {
    let stream =
        b"data: {\"a\":1}\n\n: keep-alive\n\ndata: line one\r\ndata: line two\r\n\r\ndata: [DONE]\n\n";
    for size in [1, 2, 5, 7, stream.len()] {
        let mut events = Events::default();
        let mut got = Vec::new();
        for chunk in stream.chunks(size) {
            events.push(chunk);
            while let Some(data) = events.pop() {
                got.push(data);
            }
        }
        assert_eq!(
            got,
            ["{\"a\":1}", "line one\nline two", "[DONE]"],
            "chunks of {size}"
        );
    }
}
