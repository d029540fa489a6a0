//! The replica kinds: what a replica runs.
//!
//! `echo` and `sleep` are async and cost nothing to run, so they answer on the
//! tokio worker that received the request. `digits` runs a Burn model, which must
//! never block a tokio worker: each replica owns a dedicated compute thread fed by a
//! bounded channel, and the async side awaits a oneshot answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use rserve_models::{DigitsClassifier, DigitsPrediction};
use rserve_protocol::config::{DeploymentConfig, DigitsOptions, ReplicaKind};
use serde::Deserialize;
use tokio::sync::oneshot;

use super::{ReplicaRequest, ReplicaResponse, panic_message};

/// The replica died while handling a request (a panic); the string says how.
#[derive(Debug)]
pub struct Crash(pub String);

/// A running replica kind.
pub enum Backend {
    /// Returns the request body.
    Echo {
        /// Honour `x-rserve-fault`.
        fault_injection: bool,
        /// Set by `x-rserve-fault: unhealthy`; health checks fail from then on.
        unhealthy: AtomicBool,
    },
    /// Waits, then answers.
    Sleep(Duration),
    /// The digits classifier on its compute thread.
    Digits(ComputeThread),
}

impl Backend {
    /// Constructs the backend (for models: loads the weights on the compute thread).
    pub async fn start(config: &DeploymentConfig) -> Result<Self, String> {
        match &config.replica {
            ReplicaKind::Echo(opts) => Ok(Self::Echo {
                fault_injection: opts.fault_injection,
                unhealthy: AtomicBool::new(false),
            }),
            ReplicaKind::Sleep(opts) => Ok(Self::Sleep(Duration::from_millis(opts.duration_ms))),
            ReplicaKind::Digits(opts) => {
                ComputeThread::start(&config.name, opts, config.max_ongoing_requests)
                    .await
                    .map(Self::Digits)
            }
        }
    }

    /// Handles one request.
    pub async fn call(&self, req: ReplicaRequest) -> Result<ReplicaResponse, Crash> {
        match self {
            Self::Echo {
                fault_injection,
                unhealthy,
            } => {
                if *fault_injection {
                    match req.headers.get("x-rserve-fault").map(HeaderValue::as_bytes) {
                        Some(b"panic") => panic!("fault injected by x-rserve-fault: panic"),
                        Some(b"unhealthy") => unhealthy.store(true, Ordering::SeqCst),
                        _ => {}
                    }
                }
                let content_type = req
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .cloned()
                    .unwrap_or(HeaderValue::from_static("application/octet-stream"));
                Ok(ReplicaResponse {
                    status: StatusCode::OK,
                    content_type,
                    body: req.body,
                })
            }
            Self::Sleep(duration) => {
                tokio::time::sleep(*duration).await;
                Ok(ReplicaResponse::json(
                    StatusCode::OK,
                    format!("{{\"slept_ms\":{}}}", duration.as_millis()),
                ))
            }
            Self::Digits(thread) => thread.classify(&req.body).await,
        }
    }

    /// Ray's `check_health`: `Err` with a reason when the replica is unwell.
    pub async fn check_health(&self) -> Result<(), String> {
        match self {
            Self::Echo { unhealthy, .. } if unhealthy.load(Ordering::SeqCst) => {
                Err("marked unhealthy by x-rserve-fault: unhealthy".to_owned())
            }
            Self::Echo { .. } | Self::Sleep(_) => Ok(()),
            Self::Digits(thread) => thread.ping().await,
        }
    }
}

enum Job {
    Classify {
        images: Vec<Vec<f32>>,
        reply: oneshot::Sender<Result<Vec<DigitsPrediction>, String>>,
    },
    Ping(oneshot::Sender<()>),
}

/// A dedicated OS thread that owns a model; jobs arrive on a bounded channel.
pub struct ComputeThread {
    jobs: mpsc::SyncSender<Job>,
}

/// What a digits request may look like: one image or a batch.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DigitsInput {
    #[serde(default)]
    pixels: Option<Vec<f32>>,
    #[serde(default)]
    instances: Option<Vec<Vec<f32>>>,
}

impl ComputeThread {
    async fn start(name: &str, opts: &DigitsOptions, capacity: u32) -> Result<Self, String> {
        let device = opts.device.parse().map_err(|e| format!("{e}"))?;
        let weights = opts.weights.clone();
        // One slot per allowed in-flight request plus room for a health check, so a
        // send from a reserved request never blocks.
        let (jobs, rx) = mpsc::sync_channel::<Job>(capacity as usize + 1);
        let (ready_tx, ready_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("rserve-{name}"))
            .spawn(move || {
                let loaded = std::panic::catch_unwind(|| match &weights {
                    Some(path) => DigitsClassifier::from_file(path.as_ref(), device),
                    None => DigitsClassifier::bundled(device),
                });
                let model = match loaded {
                    Ok(Ok(model)) => model,
                    Ok(Err(e)) => return drop(ready_tx.send(Err(e.to_string()))),
                    Err(panic) => return drop(ready_tx.send(Err(panic_message(&panic)))),
                };
                let _ = ready_tx.send(Ok(()));
                run_jobs(&model, &rx);
            })
            .map_err(|e| format!("cannot spawn compute thread: {e}"))?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(Self { jobs }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("compute thread exited while loading the model".to_owned()),
        }
    }

    async fn classify(&self, body: &Bytes) -> Result<ReplicaResponse, Crash> {
        let input: DigitsInput = match serde_json::from_slice(body) {
            Ok(input) => input,
            Err(e) => return Ok(bad_request(format!("invalid JSON body: {e}"))),
        };
        let (images, single) = match (input.pixels, input.instances) {
            (Some(pixels), None) => (vec![pixels], true),
            (None, Some(instances)) if !instances.is_empty() => (instances, false),
            _ => {
                return Ok(bad_request(
                    "expected {\"pixels\": [64 numbers 0..16]} or {\"instances\": [[...], ...]}",
                ));
            }
        };
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job::Classify { images, reply }) {
            Ok(()) => {}
            // Only possible after max_ongoing_requests was raised in place.
            Err(mpsc::TrySendError::Full(_)) => {
                return Ok(ReplicaResponse::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "replica compute queue is full",
                ));
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                return Err(Crash("compute thread exited".to_owned()));
            }
        }
        let predictions = match answer.await {
            Ok(Ok(predictions)) => predictions,
            Ok(Err(e)) if e.starts_with("panicked") => return Err(Crash(e)),
            Ok(Err(e)) => return Ok(bad_request(e)),
            Err(_) => return Err(Crash("compute thread exited".to_owned())),
        };
        let body = if single {
            serde_json::to_vec(&predictions[0])
        } else {
            serde_json::to_vec(&serde_json::json!({ "predictions": predictions }))
        }
        .expect("predictions serialise");
        Ok(ReplicaResponse::json(StatusCode::OK, body))
    }

    async fn ping(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.jobs.try_send(Job::Ping(tx)).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => "compute queue is full".to_owned(),
            mpsc::TrySendError::Disconnected(_) => "compute thread exited".to_owned(),
        })?;
        rx.await.map_err(|_| "compute thread exited".to_owned())
    }
}

fn run_jobs(model: &DigitsClassifier, rx: &mpsc::Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        match job {
            Job::Ping(reply) => drop(reply.send(())),
            Job::Classify { images, reply } => {
                // The client went away while the job waited: skip the compute.
                if reply.is_closed() {
                    continue;
                }
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    model.predict(&images)
                })) {
                    Ok(result) => drop(reply.send(result.map_err(|e| e.to_string()))),
                    Err(panic) => {
                        // The model may be in any state now: answer, then let the
                        // thread end so the controller replaces the replica.
                        let _ = reply.send(Err(panic_message(&panic)));
                        return;
                    }
                }
            }
        }
    }
}

fn bad_request(message: impl std::fmt::Display) -> ReplicaResponse {
    ReplicaResponse::error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}
