//! The replica kinds: what a local replica runs, one file per kind, behind
//! one [`Handler`] the replica calls.
//!
//! `echo` and `sleep` are async and cost nothing to run, so they answer on the
//! tokio worker that received the request. Model kinds (`digits`,
//! `embeddings`, `chat`) run on the replica's own model thread (a compute
//! thread, or the chat engine), never on a tokio worker. This module also
//! holds what the model kinds share: queue sizing, batching limits, warm-up,
//! and how a failed model call becomes a response.

mod chat;
mod custom;
mod digits;
mod echo;
mod embeddings;
mod sleep;
mod tokenize;

/// A completion request body through `chat`'s parser, both endpoints (the
/// fuzz targets' entry).
pub fn fuzz_completion(body: &bytes::Bytes) {
    chat::fuzz(body);
}

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use rserve_models::LoadProgress;
use rserve_protocol::config::{DeploymentConfig, ReplicaKind};
use rserve_protocol::status::BatchFigures;

use super::batcher::{BatchError, BatchLimits, BatchRecord};
use super::compute::{Crash, JobError, OnDeath};
use super::env::ReplicaEnv;
use super::multiplex::ModelSet;
use super::{Attempt, ReplicaRequest, ReplicaResponse};

/// A running replica kind.
pub enum Handler {
    /// Returns the request body.
    Echo(echo::Echo),
    /// Waits, then answers.
    Sleep(sleep::Sleep),
    /// The digits classifier, or a cache of them (multiplexed).
    Digits(digits::Digits),
    /// A sentence-embedding model.
    Embeddings(embeddings::Embeddings),
    /// A chat LLM (continuous batching).
    Chat(chat::Chat),
    /// A kind written in Rust by a user.
    Custom(custom::Custom),
}

/// What the replica hands its kind at start.
pub struct StartContext {
    /// The replica's application.
    pub app: String,
    /// The replica's id.
    pub replica_id: String,
    /// What the node offers its replicas (handles, user kinds).
    pub env: Arc<ReplicaEnv>,
    /// Where batches are counted (status and metrics).
    pub batches: Arc<Mutex<BatchFigures>>,
    /// Where the multiplexed models held are published (router and status).
    pub models: Arc<ModelSet>,
    /// Fails the replica at once when its model thread dies.
    pub on_death: OnDeath,
    /// Where a model kind counts its load's steps (status, `deploy --wait`).
    pub load: Arc<LoadProgress>,
}

impl Handler {
    /// Constructs the kind (for models: loads the weights on their thread).
    pub async fn start(config: &DeploymentConfig, context: StartContext) -> Result<Self, String> {
        let capacity = queue_capacity(config);
        Ok(match &config.replica {
            ReplicaKind::Echo(options) => Self::Echo(echo::Echo::new(options)),
            ReplicaKind::Sleep(options) => Self::Sleep(sleep::Sleep::new(options)),
            ReplicaKind::Digits(options) => {
                Self::Digits(digits::Digits::start(config, options, capacity, context).await?)
            }
            ReplicaKind::Embeddings(options) => Self::Embeddings(
                embeddings::Embeddings::start(config, options, capacity, context).await?,
            ),
            ReplicaKind::Chat(options) => {
                Self::Chat(chat::Chat::start(config, options, capacity, context).await?)
            }
            ReplicaKind::Custom(_) => Self::Custom(
                custom::Custom::start(&context.app, &context.replica_id, config, &context.env)
                    .await?,
            ),
        })
    }

    /// Handles one request; `Err` is a crash of the replica.
    ///
    /// The model kinds' futures are boxed: inline, the largest (chat's) would
    /// set the size of every request's future, which hyper moves and the
    /// echo path would pay for.
    pub async fn call(&self, req: ReplicaRequest) -> Result<ReplicaResponse, Crash> {
        match self {
            Self::Echo(echo) => Ok(echo.call(req)),
            Self::Sleep(sleep) => Ok(Box::pin(sleep.call()).await),
            Self::Digits(digits) => Box::pin(digits.call(&req)).await,
            Self::Embeddings(embeddings) => Box::pin(embeddings.call(&req)).await,
            Self::Chat(chat) => Box::pin(chat.call(&req)).await,
            Self::Custom(custom) => Box::pin(custom.call(req)).await,
        }
    }

    /// Handles one request without a future if the kind costs nothing
    /// (`echo`); the request back otherwise, to be [`call`](Self::call)ed.
    pub fn call_now(&self, req: ReplicaRequest) -> Attempt<ReplicaResponse, ReplicaRequest> {
        match self {
            Self::Echo(echo) => Attempt::Done(echo.call(req)),
            _ => Attempt::Later(req),
        }
    }

    /// Applies a new `user_config` in place: `Ok(true)` when a kind written
    /// in Rust took it (built-in kinds take none).
    pub async fn reconfigure(
        &self,
        user_config: Option<serde_json::Value>,
    ) -> Result<bool, String> {
        match self {
            Self::Custom(custom) => custom.reconfigure(user_config).await,
            _ => Ok(false),
        }
    }

    /// Called once the replica drained, before it is dropped.
    pub async fn shutdown(&self) {
        if let Self::Custom(custom) = self {
            custom.shutdown().await;
        }
    }

    /// Ray's `check_health`: `Err` with a reason when the replica is unwell.
    pub async fn check_health(&self) -> Result<(), String> {
        match self {
            Self::Echo(echo) => echo.check_health(),
            Self::Sleep(_) => Ok(()),
            Self::Digits(digits) => digits.check_health().await,
            Self::Embeddings(embeddings) => embeddings.check_health().await,
            Self::Chat(chat) => chat.check_health().await,
            Self::Custom(custom) => custom.check_health().await,
        }
    }
}

/// Smallest compute/batch queue of a model replica.
const MIN_QUEUE: usize = 1024;

/// Largest compute/batch queue of a model replica: the model thread's queue
/// is a std channel that allocates its whole bound up front, so a huge
/// `max_ongoing_requests` (say 4294967295) must not become its size.
/// Requests past it (only with `max_ongoing_requests` above it) get 503.
const MAX_QUEUE: usize = 1 << 16;

/// The bound of a model replica's queues. The router already keeps in-flight
/// requests at or below `max_ongoing_requests`; the queue has room for that
/// limit to be raised in place (up to [`MIN_QUEUE`]) without a restart, and
/// stays bounded by [`MAX_QUEUE`].
fn queue_capacity(config: &DeploymentConfig) -> usize {
    (config.max_ongoing_requests as usize).clamp(MIN_QUEUE, MAX_QUEUE)
}

/// The batching limits of a deployment (batches of one without `batching`).
fn batch_limits(config: &DeploymentConfig) -> BatchLimits {
    config
        .batching
        .as_ref()
        .map_or_else(BatchLimits::unbatched, |b| BatchLimits {
            max_batch_size: b.max_batch_size as usize,
            wait: Duration::from_secs_f64(b.batch_wait_timeout_s),
            max_concurrent: b.max_concurrent_batches as usize,
            max_tokens: b.max_batch_tokens.map(|t| t as usize),
            wait_when_idle: b.wait_when_idle,
        })
}

/// Counts every batch a deployment's batcher runs in `batches`.
fn record_batches(
    deployment: &str,
    batches: Arc<Mutex<BatchFigures>>,
) -> impl Fn(BatchRecord) + Send + Sync + 'static {
    let name = deployment.to_owned();
    move |batch| {
        tracing::debug!(deployment = %name, size = batch.size, requests = batch.requests, "Batch.");
        batches.lock().unwrap().record(batch.size);
    }
}

/// On a device that autotunes its kernels at first use (CUDA), runs `run` (a
/// model's `warm_up`, returning the forward passes it made) before the replica
/// reports ready, and logs how long it took.
fn warm_up(deployment: &str, device: rserve_models::Device, run: impl FnOnce() -> usize) {
    if device.autotunes() {
        let started = std::time::Instant::now();
        let passes = run();
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(deployment, %device, passes, seconds, "Warmed up the model's kernels.");
    }
}

/// Why a batched model call gave no result; every request of the batch gets it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelFailure {
    /// The model thread's queue is full (only after `max_ongoing_requests`
    /// was raised in place).
    #[error("replica compute queue is full")]
    Busy,
    /// The model thread died: the replica must be replaced.
    #[error("crashed: {0}")]
    Crashed(String),
    /// The model refused the inputs (or failed to load a multiplexed model).
    #[error("{0}")]
    Model(String),
}

impl From<JobError> for ModelFailure {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Busy => Self::Busy,
            JobError::Crashed(Crash(reason)) => Self::Crashed(reason),
        }
    }
}

/// Maps a batch that gave no result to a response (busy, model error) or a crash.
fn batch_failed(e: BatchError<ModelFailure>) -> Result<ReplicaResponse, Crash> {
    let (status, kind) = match &e {
        BatchError::Failed(ModelFailure::Crashed(reason)) => return Err(Crash(reason.clone())),
        BatchError::Failed(ModelFailure::Busy) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
        BatchError::Failed(ModelFailure::Model(_)) | BatchError::Mismatch { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "model_error")
        }
        BatchError::Closed => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    Ok(ReplicaResponse::error(status, kind, e))
}

fn bad_request(message: impl std::fmt::Display) -> ReplicaResponse {
    ReplicaResponse::error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_max_ongoing_requests_does_not_size_the_queues() {
        let config = |max: u32| {
            let file = rserve_protocol::AppFile::parse(
                "t.toml",
                &format!(
                    "[[applications]]\nname = \"a\"\n[[applications.deployments]]\nname = \"d\"\n\
                     max_ongoing_requests = {max}\nreplica = {{ kind = \"digits\" }}\n"
                ),
            )
            .unwrap();
            file.applications[0].deployments[0].clone()
        };
        assert_eq!(queue_capacity(&config(5)), MIN_QUEUE);
        assert_eq!(queue_capacity(&config(5000)), 5000);
        assert_eq!(queue_capacity(&config(u32::MAX)), MAX_QUEUE);
    }

    #[test]
    fn a_failed_batch_answers_by_what_failed() {
        let status = |e| batch_failed(e).map(|r| r.status);
        assert_eq!(
            status(BatchError::Failed(ModelFailure::Busy)),
            Ok(StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(
            status(BatchError::Failed(ModelFailure::Model("bad".into()))),
            Ok(StatusCode::INTERNAL_SERVER_ERROR)
        );
        assert_eq!(
            status(BatchError::Closed),
            Ok(StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(
            batch_failed(BatchError::Failed(ModelFailure::Crashed("boom".into()))).unwrap_err(),
            Crash("boom".into())
        );
        let body = batch_failed(BatchError::Failed(ModelFailure::Busy))
            .unwrap()
            .body;
        assert!(
            String::from_utf8_lossy(&body).contains("replica compute queue is full"),
            "the message names the cause"
        );
    }
}
