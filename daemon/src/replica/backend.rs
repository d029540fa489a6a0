//! The replica kinds: what a replica runs.
//!
//! `echo` and `sleep` are async and cost nothing to run, so they answer on the
//! tokio worker that received the request. Model kinds (`digits`, `embeddings`)
//! run on the replica's own compute thread ([`ComputeThread`]), never on a tokio
//! worker.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use std::sync::Arc;

use rserve_models::{
    ChatModel, DigitsClassifier, DigitsPrediction, EmbeddingModel, EncodedText, SentenceEmbedding,
    TextEncoder,
};
use rserve_protocol::config::{DeploymentConfig, ReplicaKind};
use rserve_protocol::status::BatchFigures;
use serde::Deserialize;

use super::batcher::{BatchError, BatchLimits, Batcher};
use super::compute::{ComputeThread, JobError, OnDeath};
use super::engine::{ChatEngine, EngineLimits};
use super::multiplex::{MODEL_ID_HEADER, ModelCache, ModelLoadError, ModelRepository, ModelSet};
use super::openai::{self, EmbeddingsCall};
use super::{ReplicaRequest, ReplicaResponse};

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
    /// The digits classifier (or, multiplexed, a cache of them) on its compute
    /// thread; requests go through the batcher (batches of one without `batching`).
    Digits {
        /// Groups requests for the same model into one call.
        batcher: Batcher<String, Vec<f32>, DigitsPrediction>,
        /// The models (health checks).
        thread: Arc<ComputeThread<DigitsModels>>,
        /// The model repository when multiplexed.
        repository: Option<ModelRepository>,
    },
    /// A sentence-embedding model on its compute thread.
    Embeddings {
        /// Groups requests into model calls on the compute thread.
        batcher: Batcher<(), EncodedText, SentenceEmbedding>,
        /// Tokenizes on the blocking pool, off the model thread.
        encoder: TextEncoder,
        /// The model (health checks).
        thread: Arc<ComputeThread<EmbeddingModel>>,
        /// The OpenAI model name.
        model_id: String,
        /// Embedding width.
        dimensions: usize,
        /// Longest input in tokens.
        max_tokens: usize,
    },
    /// A chat LLM on its engine thread (continuous batching).
    Chat {
        /// The engine.
        engine: ChatEngine,
        /// The OpenAI model name.
        model_id: String,
        /// `max_tokens` when a request gives none.
        default_max_tokens: u32,
    },
}

impl Backend {
    /// Constructs the backend (for models: loads the weights on the compute thread).
    pub async fn start(
        config: &DeploymentConfig,
        batches: Arc<std::sync::Mutex<BatchFigures>>,
        models: Arc<ModelSet>,
        on_death: OnDeath,
    ) -> Result<Self, String> {
        // The router already keeps in-flight requests at or below
        // max_ongoing_requests; the queue is sized with room for that limit to be
        // raised in place (up to MIN_QUEUE) without a restart, and stays bounded.
        let capacity = (config.max_ongoing_requests as usize).max(MIN_QUEUE);
        match &config.replica {
            ReplicaKind::Echo(opts) => Ok(Self::Echo {
                fault_injection: opts.fault_injection,
                unhealthy: AtomicBool::new(false),
            }),
            ReplicaKind::Sleep(opts) => Ok(Self::Sleep(Duration::from_millis(opts.duration_ms))),
            ReplicaKind::Digits(opts) => {
                let device = opts.device.parse().map_err(|e| format!("{e}"))?;
                let weights = opts.weights.clone();
                let repository = config.multiplexing.as_ref().map(ModelRepository::new);
                let cap = config
                    .multiplexing
                    .as_ref()
                    .map_or(0, |m| m.max_num_models_per_replica);
                let published = models.clone();
                let thread = Arc::new(
                    ComputeThread::start(&config.name, capacity, on_death.clone(), move || {
                        let own = match &weights {
                            Some(path) => DigitsClassifier::from_file(path.as_ref(), device),
                            None => DigitsClassifier::bundled(device),
                        }
                        .map_err(|e| e.to_string())?;
                        Ok(DigitsModels {
                            own,
                            cache: RefCell::new(ModelCache::new(cap)),
                            device,
                            published,
                        })
                    })
                    .await?,
                );
                let model = thread.clone();
                let name = config.name.clone();
                let resolver = repository.clone();
                let batcher = Batcher::spawn(
                    batch_limits(config),
                    capacity,
                    move |key: String, images: Vec<Vec<f32>>| {
                        let model = model.clone();
                        // Resolved here (a file lookup), loaded on the model thread.
                        let path = resolver.as_ref().and_then(|r| r.resolve(&key));
                        async move {
                            model
                                .run(move |m| m.predict(&key, path.as_deref(), &images))
                                .await
                                .map_err(|e| match e {
                                    JobError::Busy => BUSY.to_owned(),
                                    JobError::Crashed(Crash(reason)) => {
                                        format!("{CRASHED}{reason}")
                                    }
                                })?
                        }
                    },
                    move |batch| {
                        tracing::debug!(deployment = %name, size = batch.size, requests = batch.requests, "Batch.");
                        batches.lock().unwrap().record(batch.size);
                    },
                );
                Ok(Self::Digits {
                    batcher,
                    thread,
                    repository,
                })
            }
            ReplicaKind::Embeddings(opts) => {
                let device = opts.device.parse().map_err(|e| format!("{e}"))?;
                let dtype: rserve_models::Dtype = opts.dtype.parse().map_err(|e| format!("{e}"))?;
                let dir = PathBuf::from(&opts.model_dir);
                let limits = batch_limits(config);
                // One request may carry up to 2048 inputs: the model call is split
                // so that no forward pass exceeds these, whatever the request size.
                let chunk_inputs = limits.max_batch_size.max(32);
                let chunk_tokens = limits.max_tokens.unwrap_or(DEFAULT_CHUNK_TOKENS);
                let name = config.name.clone();
                let thread =
                    ComputeThread::start(&config.name, capacity, on_death.clone(), move || {
                        let model = EmbeddingModel::load_as(&dir, device, dtype)
                            .map_err(|e| e.to_string())?;
                        warm_up(&name, device, || model.warm_up(chunk_inputs, chunk_tokens));
                        Ok(model)
                    })
                    .await?;
                let (dimensions, max_tokens, encoder) = thread
                    .run(|m| (m.dimensions(), m.max_seq_length(), m.encoder()))
                    .await
                    .map_err(|_| "compute thread exited after loading".to_owned())?;
                let thread = Arc::new(thread);
                let model = thread.clone();
                let name = config.name.clone();
                let batcher = Batcher::spawn(
                    limits,
                    capacity,
                    move |(), inputs: Vec<EncodedText>| {
                        let model = model.clone();
                        async move {
                            model
                                .run(move |m| {
                                    embed_in_chunks(m, &inputs, chunk_inputs, chunk_tokens)
                                })
                                .await
                                .map_err(|e| match e {
                                    JobError::Busy => BUSY.to_owned(),
                                    JobError::Crashed(Crash(reason)) => {
                                        format!("{CRASHED}{reason}")
                                    }
                                })
                        }
                    },
                    move |batch| {
                        tracing::debug!(deployment = %name, size = batch.size, requests = batch.requests, "Batch.");
                        batches.lock().unwrap().record(batch.size);
                    },
                );
                let model_id = config
                    .replica
                    .openai_model(&config.name)
                    .unwrap_or(&config.name)
                    .to_owned();
                Ok(Self::Embeddings {
                    batcher,
                    encoder,
                    thread,
                    model_id,
                    dimensions,
                    max_tokens,
                })
            }
            ReplicaKind::Chat(opts) => {
                let device = opts.device.parse().map_err(|e| format!("{e}"))?;
                let dtype: rserve_models::Dtype = opts.dtype.parse().map_err(|e| format!("{e}"))?;
                let path = PathBuf::from(&opts.model_path);
                let limits = EngineLimits {
                    max_num_seqs: opts.max_num_seqs as usize,
                    max_num_batched_tokens: opts.max_num_batched_tokens as usize,
                    max_kv_cache_tokens: opts.max_kv_cache_tokens as usize,
                };
                let engine =
                    ChatEngine::start(&config.name, capacity, limits, batches, on_death.clone(), {
                        let name = config.name.clone();
                        move || {
                            let model = ChatModel::load_as(&path, device, dtype)
                                .map_err(|e| e.to_string())?;
                            warm_up(&name, device, || {
                                model.warm_up(limits.max_num_seqs, limits.max_num_batched_tokens)
                            });
                            Ok(model)
                        }
                    })
                    .await?;
                Ok(Self::Chat {
                    engine,
                    model_id: config
                        .replica
                        .openai_model(&config.name)
                        .unwrap_or(&config.name)
                        .to_owned(),
                    default_max_tokens: opts.default_max_tokens,
                })
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
                    headers: Vec::new(),
                    body: req.body,
                    stream: None,
                })
            }
            Self::Sleep(duration) => {
                tokio::time::sleep(*duration).await;
                Ok(ReplicaResponse::json(
                    StatusCode::OK,
                    format!("{{\"slept_ms\":{}}}", duration.as_millis()),
                ))
            }
            Self::Digits {
                batcher,
                repository,
                ..
            } => classify(batcher, repository.as_ref(), &req).await,
            Self::Embeddings {
                batcher,
                encoder,
                model_id,
                dimensions,
                max_tokens,
                ..
            } => {
                let mut call = match EmbeddingsCall::parse(&req.body, model_id, *dimensions) {
                    Ok(call) => call,
                    Err(response) => return Ok(response),
                };
                // Tokenize off the async workers and off the model thread.
                let texts = std::mem::take(&mut call.texts);
                let encoder = encoder.clone();
                let encoded = tokio::task::spawn_blocking(move || {
                    texts
                        .iter()
                        .map(|t| encoder.encode(t))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await
                .map_err(|e| Crash(format!("tokenizer task failed: {e}")))?;
                let encoded = match encoded {
                    Ok(encoded) => encoded,
                    Err(e) => return Ok(openai::invalid("input", e)),
                };
                let tokens = encoded.iter().map(|e| e.ids.len()).sum();
                let embeddings = match batcher.submit((), encoded, tokens).await {
                    Ok(embeddings) => embeddings,
                    Err(e) => return batch_failed(e),
                };
                let tokens = embeddings.iter().map(|e| e.tokens).sum();
                let truncated: Vec<usize> = embeddings
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.truncated())
                    .map(|(i, _)| i)
                    .collect();
                let vectors = embeddings.into_iter().map(|e| e.vector).collect();
                Ok(openai::embeddings_response(
                    &call,
                    vectors,
                    tokens,
                    &truncated,
                    *max_tokens,
                ))
            }
            Self::Chat {
                engine,
                model_id,
                default_max_tokens,
            } => {
                let endpoint = super::chat::Endpoint::for_path(&req.path);
                super::chat::complete(engine, &req.body, endpoint, model_id, *default_max_tokens)
                    .await
            }
        }
    }

    /// Ray's `check_health`: `Err` with a reason when the replica is unwell.
    pub async fn check_health(&self) -> Result<(), String> {
        match self {
            Self::Echo { unhealthy, .. } if unhealthy.load(Ordering::SeqCst) => {
                Err("marked unhealthy by x-rserve-fault: unhealthy".to_owned())
            }
            Self::Echo { .. } | Self::Sleep(_) => Ok(()),
            Self::Digits { thread, .. } => thread.ping().await,
            Self::Embeddings { thread, .. } => thread.ping().await,
            Self::Chat { engine, .. } => engine.ping().await,
        }
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

/// Token budget of one forward pass when the deployment sets none (TEI's default).
const DEFAULT_CHUNK_TOKENS: usize = 16_384;

/// Runs a batch as model calls of at most `max_inputs` inputs and `max_tokens`
/// tokens (added up: the model packs rows without padding; where its attention
/// is padded (CUDA), also at most `max_tokens` padded). Inputs are sorted by
/// length first, which keeps padding tight. Results come back in input order.
fn embed_in_chunks(
    model: &EmbeddingModel,
    inputs: &[EncodedText],
    max_inputs: usize,
    max_tokens: usize,
) -> Vec<SentenceEmbedding> {
    let lengths: Vec<usize> = inputs.iter().map(|e| e.ids.len()).collect();
    let mut out: Vec<Option<SentenceEmbedding>> = (0..inputs.len()).map(|_| None).collect();
    for chunk in plan_chunks(&lengths, max_inputs, max_tokens, model.pads_batches()) {
        let batch: Vec<EncodedText> = chunk.iter().map(|&i| inputs[i].clone()).collect();
        for (i, e) in chunk.into_iter().zip(model.embed_encoded(&batch)) {
            out[i] = Some(e);
        }
    }
    out.into_iter()
        .map(|e| e.expect("every input is in one chunk"))
        .collect()
}

/// Chunks for [`embed_in_chunks`]: input indices per model call. With `padded`,
/// inputs × the longest also stays within `max_tokens`.
fn plan_chunks(
    lengths: &[usize],
    max_inputs: usize,
    max_tokens: usize,
    padded: bool,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut tokens = 0;
    for i in order {
        // Sorted ascending: this input is the chunk's longest.
        let padded_over = padded && lengths[i] * (current.len() + 1) > max_tokens;
        if !current.is_empty()
            && (current.len() >= max_inputs || tokens + lengths[i] > max_tokens || padded_over)
        {
            chunks.push(std::mem::take(&mut current));
            tokens = 0;
        }
        current.push(i);
        tokens += lengths[i];
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Smallest compute/batch queue of a model replica.
const MIN_QUEUE: usize = 1024;

/// Batch failures that are a full compute queue.
const BUSY: &str = "replica compute queue is full";
/// Prefix of batch failures that are a crash of the model thread.
const CRASHED: &str = "crashed: ";

/// What a digits request may look like: one image or a batch.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DigitsInput {
    #[serde(default)]
    pixels: Option<Vec<f32>>,
    #[serde(default)]
    instances: Option<Vec<Vec<f32>>>,
}

/// The digits models of one replica, on its compute thread: the deployment's
/// own weights, and when multiplexed an LRU cache of models from the repository.
pub struct DigitsModels {
    own: DigitsClassifier,
    cache: RefCell<ModelCache<DigitsClassifier>>,
    device: rserve_models::Device,
    /// Where the loaded ids are published for the router and status.
    published: Arc<ModelSet>,
}

impl DigitsModels {
    /// Runs a batch on model `key` (`""` = the deployment's own weights),
    /// loading it from `path` first if it is not in the cache.
    fn predict(
        &self,
        key: &str,
        path: Option<&std::path::Path>,
        images: &[Vec<f32>],
    ) -> Result<Vec<DigitsPrediction>, String> {
        if key.is_empty() {
            return self.own.predict(images).map_err(|e| e.to_string());
        }
        let mut cache = self.cache.borrow_mut();
        let result = cache
            .get_or_load(key, || {
                let path = path.ok_or_else(|| ModelLoadError::Unknown(key.to_owned()))?;
                let started = std::time::Instant::now();
                let model = DigitsClassifier::from_file(path, self.device).map_err(|e| {
                    ModelLoadError::Failed {
                        id: key.to_owned(),
                        reason: e.to_string(),
                    }
                })?;
                tracing::info!(
                    model = key,
                    load_ms = started.elapsed().as_millis() as u64,
                    "Model loaded."
                );
                Ok(model)
            })
            .map_err(|e| e.to_string())
            .and_then(|model| model.predict(images).map_err(|e| e.to_string()));
        self.published.publish(&cache);
        result
    }
}

async fn classify(
    batcher: &Batcher<String, Vec<f32>, DigitsPrediction>,
    repository: Option<&ModelRepository>,
    req: &ReplicaRequest,
) -> Result<ReplicaResponse, Crash> {
    let input: DigitsInput = match serde_json::from_slice(&req.body) {
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
    // Checked before batching, so a bad request never fails a batch.
    if let Err(e) = DigitsClassifier::check_images(&images) {
        return Ok(bad_request(e));
    }
    let key = match repository {
        None => String::new(),
        Some(repository) => {
            let Some(id) = req
                .headers
                .get(MODEL_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
            else {
                return Ok(bad_request(format!(
                    "this deployment is multiplexed: name the model in the `{MODEL_ID_HEADER}` header"
                )));
            };
            if repository.resolve(id).is_none() {
                return Ok(ReplicaResponse::error(
                    StatusCode::NOT_FOUND,
                    "model_not_found",
                    ModelLoadError::Unknown(id.to_owned()),
                ));
            }
            id.to_owned()
        }
    };
    let predictions = match batcher.submit(key, images, 0).await {
        Ok(predictions) => predictions,
        Err(e) => return batch_failed(e),
    };
    let body = if single {
        serde_json::to_vec(&predictions[0])
    } else {
        serde_json::to_vec(&serde_json::json!({ "predictions": predictions }))
    }
    .expect("predictions serialise");
    Ok(ReplicaResponse::json(StatusCode::OK, body))
}

/// Maps a batch that gave no result to a response (busy, model error) or a crash.
fn batch_failed(e: BatchError) -> Result<ReplicaResponse, Crash> {
    match e {
        BatchError::Failed(e) if e.starts_with(CRASHED) => {
            Err(Crash(e[CRASHED.len()..].to_owned()))
        }
        BatchError::Failed(e) if e == BUSY => Ok(ReplicaResponse::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            e,
        )),
        BatchError::Failed(e) => Ok(ReplicaResponse::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "model_error",
            e,
        )),
        BatchError::Closed => Ok(ReplicaResponse::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            BatchError::Closed,
        )),
    }
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
        })
}

fn bad_request(message: impl std::fmt::Display) -> ReplicaResponse {
    ReplicaResponse::error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

#[cfg(test)]
mod tests {
    use super::plan_chunks;

    #[test]
    fn chunks_respect_bounds_and_cover_every_input_once() {
        let lengths = [5, 300, 7, 6, 5, 8, 9, 5, 6, 7, 5, 6, 250, 9];
        let chunks = plan_chunks(&lengths, 32, 16384, false);
        let mut seen: Vec<usize> = chunks.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        // Without padding, mixed lengths share one call.
        assert_eq!(chunks.len(), 1, "{chunks:?}");
        // Bounds: inputs per call and tokens per call (padded where the model
        // pads); every input exactly once either way.
        for padded in [false, true] {
            for (max_inputs, max_tokens) in [(4, 16384), (32, 40), (1, 1), (32, 600)] {
                let chunks = plan_chunks(&lengths, max_inputs, max_tokens, padded);
                let mut seen: Vec<usize> = chunks.iter().flatten().copied().collect();
                seen.sort_unstable();
                assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
                for chunk in chunks {
                    let tokens: usize = chunk.iter().map(|&i| lengths[i]).sum();
                    let longest = chunk.iter().map(|&i| lengths[i]).max().unwrap();
                    assert!(chunk.len() <= max_inputs);
                    assert!(chunk.len() == 1 || tokens <= max_tokens);
                    assert!(!padded || chunk.len() == 1 || longest * chunk.len() <= max_tokens);
                }
            }
        }
        // Padded, the two long inputs do not share a call with the short ones.
        assert_eq!(plan_chunks(&lengths, 32, 700, true).len(), 2);
        assert_eq!(plan_chunks(&lengths, 32, 700, false).len(), 1);
        assert!(plan_chunks(&[], 8, 100, true).is_empty());
    }
}
