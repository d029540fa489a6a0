//! A kind written by a user (an [`api::Deployment`](crate::api::Deployment)):
//! started from the node's [`Kinds`](crate::api::Kinds) with its handles,
//! called on the tokio worker that received the request (its `async` code
//! decides where heavy work runs), with the request's id in scope so its
//! handle calls carry it on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use http::HeaderValue;
use rserve_protocol::config::DeploymentConfig;

use super::super::compute::Crash;
use super::super::{ReplicaRequest, ReplicaResponse, panic_message};
use crate::api::handle::REQUEST_ID;
use crate::api::kinds::Running;
use crate::api::{Context, DeploymentHandle, error_status};
use crate::replica::env::ReplicaEnv;

/// A running user deployment.
pub struct Custom {
    running: Arc<dyn Running>,
    /// The replica's span: what the user's code logs while handling a
    /// request is filed under the replica (`rserve logs`).
    span: tracing::Span,
    /// The `user_config` last applied (a reconfigure with the same one is skipped).
    applied: Mutex<Option<serde_json::Value>>,
}

impl Custom {
    /// Constructs the user's deployment with a handle per declared dependency.
    pub async fn start(
        app: &str,
        replica_id: &str,
        config: &DeploymentConfig,
        env: &Arc<ReplicaEnv>,
    ) -> Result<Self, String> {
        let next_id = Arc::default();
        let handles: BTreeMap<String, DeploymentHandle> = config
            .handles
            .iter()
            .map(|(key, target)| {
                let handle = DeploymentHandle::new(
                    env.clone(),
                    app,
                    target,
                    replica_id,
                    Arc::clone(&next_id),
                );
                (key.clone(), handle)
            })
            .collect();
        let cx = Context {
            app: app.to_owned(),
            deployment: config.name.clone(),
            replica_id: replica_id.to_owned(),
            resources: config.resources.clone(),
            handles,
        };
        let kind = config.replica.name().to_owned();
        let started =
            std::panic::AssertUnwindSafe(env.kinds.start(&kind, config.user_config.clone(), cx))
                .catch_unwind()
                .await;
        match started {
            Ok(Ok(running)) => Ok(Self {
                running,
                span: crate::observe::logs::replica_span(app, &config.name, replica_id),
                applied: Mutex::new(config.user_config.clone()),
            }),
            Ok(Err(e)) => Err(format!("kind `{kind}` failed to start: {e}")),
            Err(panic) => Err(format!(
                "kind `{kind}` {} while starting",
                panic_message(&panic)
            )),
        }
    }

    /// Handles one request (a panic is caught by the replica: a crash).
    pub async fn call(&self, req: ReplicaRequest) -> Result<ReplicaResponse, Crash> {
        let id = req
            .headers
            .get(crate::ingress::REQUEST_ID)
            .cloned()
            .unwrap_or(HeaderValue::from_static(""));
        let call = REQUEST_ID.scope(id, self.running.call(req));
        let answer = tracing::Instrument::instrument(call, self.span.clone()).await;
        Ok(answer.unwrap_or_else(|e| {
            let (status, kind) = error_status(&e);
            ReplicaResponse::error(status, kind, e)
        }))
    }

    /// Applies `user_config` in place if it changed.
    pub async fn reconfigure(&self, config: Option<serde_json::Value>) -> Result<bool, String> {
        if *self.applied.lock().unwrap() == config {
            return Ok(false);
        }
        self.running
            .reconfigure(config.clone())
            .await
            .map_err(|e| format!("reconfigure failed: {e}"))?;
        *self.applied.lock().unwrap() = config;
        Ok(true)
    }

    /// The user's `check_health`.
    pub async fn check_health(&self) -> Result<(), String> {
        self.running.check_health().await.map_err(|e| e.to_string())
    }

    /// The user's `shutdown`.
    pub async fn shutdown(&self) {
        self.running.shutdown().await;
    }
}
