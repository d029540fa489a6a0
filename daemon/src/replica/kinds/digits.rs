//! The `digits` kind: the demo classifier (a Burn MLP) on its compute thread,
//! behind the batcher (batches of one without `batching`). Multiplexed, it
//! keeps an LRU cache of models from the deployment's repository, keyed by the
//! `serve_multiplexed_model_id` header; a batch only ever holds one model's
//! requests.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use http::StatusCode;
use rserve_models::{Device, DigitsClassifier, DigitsPrediction};
use rserve_protocol::config::{DeploymentConfig, DigitsOptions};
use serde::Deserialize;

use super::{ModelFailure, StartContext, bad_request, batch_failed, batch_limits, record_batches};
use crate::replica::batcher::Batcher;
use crate::replica::compute::{ComputeThread, Crash};
use crate::replica::multiplex::{
    MODEL_ID_HEADER, ModelCache, ModelLoadError, ModelRepository, ModelSet,
};
use crate::replica::{ReplicaRequest, ReplicaResponse};

/// A running `digits` replica.
pub struct Digits {
    /// Groups requests for the same model into one call.
    batcher: Batcher<String, Vec<f32>, DigitsPrediction, ModelFailure>,
    /// The models (health checks).
    thread: Arc<ComputeThread<DigitsModels>>,
    /// The model repository when multiplexed.
    repository: Option<ModelRepository>,
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

/// The digits models of one replica, on its compute thread: the deployment's
/// own weights, and when multiplexed an LRU cache of models from the repository.
pub struct DigitsModels {
    own: DigitsClassifier,
    cache: RefCell<ModelCache<DigitsClassifier>>,
    device: Device,
    /// Where the loaded ids are published for the router and status.
    published: Arc<ModelSet>,
}

impl Digits {
    /// Loads the weights on a new compute thread.
    pub async fn start(
        config: &DeploymentConfig,
        options: &DigitsOptions,
        capacity: usize,
        context: StartContext,
    ) -> Result<Self, String> {
        let device: Device = options.device.parse().map_err(|e| format!("{e}"))?;
        let weights = options.weights.clone();
        let repository = config.multiplexing.as_ref().map(ModelRepository::new);
        let cap = config
            .multiplexing
            .as_ref()
            .map_or(0, |m| m.max_num_models_per_replica);
        let published = context.models.clone();
        let thread = Arc::new(
            ComputeThread::start(&config.name, capacity, context.on_death, move || {
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
                        .await?
                        .map_err(ModelFailure::Model)
                }
            },
            record_batches(&config.name, context.batches),
        );
        Ok(Self {
            batcher,
            thread,
            repository,
        })
    }

    /// Classifies one image (`{"pixels": [...]}`) or several (`{"instances": [...]}`).
    pub async fn call(&self, req: &ReplicaRequest) -> Result<ReplicaResponse, Crash> {
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
        let key = match self.model_key(req) {
            Ok(key) => key,
            Err(response) => return Ok(response),
        };
        let predictions = match self.batcher.submit(key, images, 0).await {
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

    /// The model a request asks for: `""` (the deployment's own weights)
    /// unless multiplexed, else the id in the header, which must exist.
    fn model_key(&self, req: &ReplicaRequest) -> Result<String, ReplicaResponse> {
        let Some(repository) = &self.repository else {
            return Ok(String::new());
        };
        let Some(id) = req
            .headers
            .get(MODEL_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
        else {
            return Err(bad_request(format!(
                "this deployment is multiplexed: name the model in the `{MODEL_ID_HEADER}` header"
            )));
        };
        if repository.resolve(id).is_none() {
            return Err(ReplicaResponse::error(
                StatusCode::NOT_FOUND,
                "model_not_found",
                ModelLoadError::Unknown(id.to_owned()),
            ));
        }
        Ok(id.to_owned())
    }

    pub async fn check_health(&self) -> Result<(), String> {
        self.thread.ping().await
    }
}

impl DigitsModels {
    /// Runs a batch on model `key` (`""` = the deployment's own weights),
    /// loading it from `path` first if it is not in the cache.
    fn predict(
        &self,
        key: &str,
        path: Option<&Path>,
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
