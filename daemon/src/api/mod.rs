//! Deployments written in Rust: the [`Deployment`] trait a user implements,
//! the [`Kinds`] registry that serves them next to the built-in kinds, and
//! [`DeploymentHandle`]s through which one deployment calls another.
//!
//! This is what the `rserve` crate re-exports; its `App` runs the whole
//! `rserve` CLI and daemon with the registered kinds. A user kind is named
//! in an application file like a built-in one (`replica = { kind = "hello" }`),
//! gets its settings from `user_config` (typed, checked at deploy time), and
//! declares the deployments it calls under `handles`:
//!
//! ```toml
//! [[applications.deployments]]
//! name = "rag"
//! replica = { kind = "rag" }
//! user_config = { top_k = 3 }
//! handles = { embedder = "embed", llm = "chat" }
//! ```
//!
//! Layout: this file (the trait, the context a replica starts with, errors),
//! [`kinds`] (the registry and deploy-time checks), [`handle`] (calls through
//! the router), [`message`] (request and response helpers).

pub mod handle;
pub mod kinds;
pub mod message;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;

use http::StatusCode;
use rserve_protocol::config::Resources;
use serde::de::DeserializeOwned;

pub use self::handle::{DeploymentHandle, HandleError, HandleResponse, HandleStream};
pub use self::kinds::Kinds;
pub use self::message::{EventSender, HttpError};
pub use crate::replica::call::{ReplicaRequest as Request, ReplicaResponse as Response};

/// What a deployment's methods may fail with: any error. A [`HttpError`] or a
/// [`HandleError`] keeps its HTTP status; anything else answers 500 with its
/// message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A deployment written in Rust: the analogue of a Ray Serve deployment
/// class. One value per replica; requests call [`call`](Self::call)
/// concurrently (up to `max_ongoing_requests`), so state that changes sits
/// behind a lock or an atomic.
///
/// A panic in any method fails the replica (the controller replaces it, with
/// backoff); an `Err` from [`call`](Self::call) only fails that request.
///
/// ```
/// use rserve_daemon::api::{Context, Deployment, Error, Request, Response};
///
/// /// Answers `hello, <body>` (or the configured greeting).
/// struct Hello {
///     greeting: String,
/// }
///
/// #[derive(serde::Deserialize)]
/// struct HelloConfig {
///     #[serde(default = "default_greeting")]
///     greeting: String,
/// }
///
/// fn default_greeting() -> String {
///     "hello".into()
/// }
///
/// impl Deployment for Hello {
///     type Config = HelloConfig;
///
///     async fn new(config: HelloConfig, _cx: Context) -> Result<Self, Error> {
///         Ok(Self { greeting: config.greeting })
///     }
///
///     async fn call(&self, req: Request) -> Result<Response, Error> {
///         let name = String::from_utf8_lossy(&req.body);
///         Ok(Response::text(format!("{}, {name}\n", self.greeting)))
///     }
/// }
/// ```
pub trait Deployment: Send + Sync + Sized + 'static {
    /// The deployment's `user_config`, deserialised (an absent one is `{}`,
    /// or `null` for a config that takes none, like `()`).
    type Config: DeserializeOwned + Send + 'static;

    /// Constructs a replica (Ray's `__init__`): load what it needs, take the
    /// handles it calls from `cx`. An `Err` fails the start; the controller
    /// retries with backoff and, after repeated failures, marks the
    /// deployment `DEPLOY_FAILED` with the message.
    fn new(config: Self::Config, cx: Context) -> impl Future<Output = Result<Self, Error>> + Send;

    /// Handles one request.
    fn call(&self, req: Request) -> impl Future<Output = Result<Response, Error>> + Send;

    /// Applies a new `user_config` in place, without a restart (Ray's
    /// `reconfigure`). The default keeps the old settings. An `Err` fails the
    /// replica; its replacement starts with the new config.
    fn reconfigure(&self, config: Self::Config) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = config;
        async { Ok(()) }
    }

    /// Ray's `check_health`, every `health_check_period_s`: an `Err` (or a
    /// check slower than `health_check_timeout_s`) three times in a row
    /// replaces the replica.
    fn check_health(&self) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// Called once when the replica stops, after in-flight requests drained
    /// (or `graceful_shutdown_timeout_s` passed).
    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// What a replica starts with besides its config.
#[derive(Debug, Clone)]
pub struct Context {
    /// Its application.
    pub app: String,
    /// Its deployment.
    pub deployment: String,
    /// Its replica id (`<deployment>-<hex>`).
    pub replica_id: String,
    /// The resources each replica of the deployment reserved.
    pub resources: Resources,
    pub(crate) handles: BTreeMap<String, DeploymentHandle>,
}

impl Context {
    /// A context with no handles, for unit tests of a kind's `new` and
    /// `call` outside a node (a replica gets its own from the node).
    pub fn new(app: &str, deployment: &str, replica_id: &str) -> Self {
        Self {
            app: app.to_owned(),
            deployment: deployment.to_owned(),
            replica_id: replica_id.to_owned(),
            resources: Resources::default(),
            handles: BTreeMap::new(),
        }
    }

    /// The handle declared under `key` in the deployment's `handles`.
    ///
    /// # Errors
    /// When the deployment declares no such key (the message lists those it has).
    pub fn handle(&self, key: &str) -> Result<DeploymentHandle, Error> {
        self.handles.get(key).cloned().ok_or_else(|| {
            let keys: Vec<&str> = self.handles.keys().map(String::as_str).collect();
            format!(
                "deployment `{}` declares no handle `{key}` (its `handles`: {}); add `{key} = \"<deployment>\"` to it in the application file",
                self.deployment,
                if keys.is_empty() { "none".to_owned() } else { keys.join(", ") }
            )
            .into()
        })
    }

    /// Every declared handle, by key.
    pub fn handles(&self) -> &BTreeMap<String, DeploymentHandle> {
        &self.handles
    }
}

/// The HTTP status and error type a deployment's error answers with.
pub(crate) fn error_status(error: &Error) -> (StatusCode, &'static str) {
    if let Some(e) = error.downcast_ref::<HttpError>() {
        return (e.status, e.kind());
    }
    if let Some(e) = error.downcast_ref::<HandleError>() {
        return (e.status(), e.kind());
    }
    (StatusCode::INTERNAL_SERVER_ERROR, "deployment_error")
}
