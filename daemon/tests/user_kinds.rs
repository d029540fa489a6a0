//! A kind written against the public API, served by a node started in
//! process: what its `call` sees of a request (method, path, query, request
//! id), how its errors answer, and `reconfigure` applied in place.

mod common;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rserve_daemon::NodeConfig;
use rserve_daemon::api::{Context, Deployment, Error, HttpError, Kinds, Request, Response};
use rserve_protocol::AppFile;

use common::request;

/// Answers with what it saw, greeted as configured.
struct Probe {
    greeting: RwLock<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeConfig {
    greeting: String,
}

impl Deployment for Probe {
    type Config = ProbeConfig;

    async fn new(config: ProbeConfig, _cx: Context) -> Result<Self, Error> {
        Ok(Self {
            greeting: RwLock::new(config.greeting),
        })
    }

    async fn call(&self, req: Request) -> Result<Response, Error> {
        if req.path.ends_with("/teapot") {
            return Err(HttpError::new(http::StatusCode::IM_A_TEAPOT, "short and stout").into());
        }
        if req.path.ends_with("/boom") {
            return Err("the probe failed".into());
        }
        Ok(Response::json_of(&serde_json::json!({
            "greeting": *self.greeting.read().unwrap(),
            "method": req.method.as_str(),
            "path": req.path,
            "query": req.query,
            "request_id": req.header("x-request-id"),
            "body": String::from_utf8_lossy(&req.body),
        })))
    }

    async fn reconfigure(&self, config: ProbeConfig) -> Result<(), Error> {
        *self.greeting.write().unwrap() = config.greeting;
        Ok(())
    }
}

fn app(greeting: &str) -> AppFile {
    AppFile::parse(
        "probe.toml",
        &format!(
            "[[applications]]\nname = \"probe\"\nroute_prefix = \"/probe\"\n\
             [[applications.deployments]]\nname = \"p\"\nuser_config = {{ greeting = \"{greeting}\" }}\n\
             replica = {{ kind = \"probe\" }}\n"
        ),
    )
    .unwrap()
}

fn json_body(response: &str) -> serde_json::Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

fn replica_of(response: &str) -> String {
    response
        .lines()
        .find_map(|l| l.strip_prefix("x-rserve-replica: "))
        .unwrap_or_else(|| panic!("no replica header: {response}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_kind_sees_the_request_answers_its_errors_and_reconfigures_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut kinds = Kinds::new();
    kinds.register::<Probe>("probe").unwrap();
    let config = NodeConfig {
        kinds: Arc::new(kinds),
        ..NodeConfig::new(dir.path().to_owned())
    };
    let (node, http) = common::start(config).await;
    // A kind this node does not serve, and a user_config its kind cannot take.
    let unknown = AppFile::parse(
        "other.toml",
        "[[applications]]\nname = \"o\"\nroute_prefix = \"/o\"\n[[applications.deployments]]\n\
         name = \"o\"\nreplica = { kind = \"prob\" }\n",
    )
    .unwrap();
    let err = node.deploy("other.toml", unknown).await.unwrap_err();
    assert!(
        err.message.contains(
            "unknown kind `prob`; this rserve serves: echo, sleep, digits, embeddings, chat, probe"
        ),
        "{}",
        err.message
    );
    let wrong = AppFile::parse(
        "wrong.toml",
        "[[applications]]\nname = \"w\"\nroute_prefix = \"/w\"\n[[applications.deployments]]\n\
         name = \"w\"\nuser_config = { greeting = 1 }\nreplica = { kind = \"probe\" }\n",
    )
    .unwrap();
    let err = node.deploy("wrong.toml", wrong).await.unwrap_err();
    assert!(
        err.message.contains(
            "user_config.greeting: invalid type: integer `1`, expected a string (for kind `probe`)"
        ),
        "{}",
        err.message
    );
    node.deploy("probe.toml", app("hi")).await.unwrap();
    let handle = node.handle();
    let running = common::Running::spawn(node);

    let ask = |target: &'static str, headers: &'static str| async move {
        tokio::time::timeout(
            Duration::from_secs(20),
            request(http, "POST", target, headers, "payload"),
        )
        .await
        .expect("answered")
    };
    let response = ask("/probe/x?a=1&b=two", "x-request-id: probe-1\r\n").await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert_eq!(
        json_body(&response),
        serde_json::json!({
            "greeting": "hi", "method": "POST", "path": "/probe/x", "query": "a=1&b=two",
            "request_id": "probe-1", "body": "payload",
        })
    );
    let first = replica_of(&response);
    // Without an id of its own, the request gets the node's, and so does the kind.
    let response = ask("/probe", "").await;
    let body = json_body(&response);
    assert_eq!(body["query"], serde_json::Value::Null);
    let given = response
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap();
    assert_eq!(body["request_id"], given);

    // Errors answer with their status, in OpenAI's shape.
    let teapot = ask("/probe/teapot", "").await;
    assert!(teapot.starts_with("HTTP/1.1 418 "), "{teapot}");
    let error = json_body(&teapot);
    assert_eq!(error["error"]["message"], "short and stout");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    let boom = ask("/probe/boom", "").await;
    assert!(boom.starts_with("HTTP/1.1 500 "), "{boom}");
    assert_eq!(json_body(&boom)["error"]["type"], "deployment_error");
    assert_eq!(json_body(&boom)["error"]["message"], "the probe failed");

    // A new user_config is applied in place: the same replica greets anew.
    handle.deploy("probe.toml", app("bonjour")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = ask("/probe", "").await;
        if json_body(&response)["greeting"] == "bonjour" {
            assert_eq!(replica_of(&response), first, "reconfigured, not replaced");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{response}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    running.stop().await;
}
