//! The `embeddings` kind: a sentence-embedding model (all-MiniLM-L6-v2) on
//! its compute thread, serving OpenAI's `/v1/embeddings`. Requests are
//! tokenized on the blocking pool (off the model thread), batched (Ray's
//! `@serve.batch`), and every model call is split into bounded chunks so one
//! 2048-input request cannot blow up memory.

use std::path::PathBuf;
use std::sync::Arc;

use rserve_models::{Device, Dtype, EmbeddingModel, EncodedText, SentenceEmbedding, TextEncoder};
use rserve_protocol::config::{DeploymentConfig, EmbeddingsOptions};

use super::tokenize::Tokenizing;
use super::{ModelFailure, StartContext, batch_failed, batch_limits, record_batches, warm_up};
use crate::replica::batcher::Batcher;
use crate::replica::compute::{ComputeThread, Crash};
use crate::replica::openai::{self, EmbeddingsCall};
use crate::replica::{ReplicaRequest, ReplicaResponse};

/// Token budget of one forward pass when the deployment sets none (TEI's default).
const DEFAULT_CHUNK_TOKENS: usize = 16_384;

/// A running `embeddings` replica.
pub struct Embeddings {
    /// Groups requests into model calls on the compute thread.
    batcher: Batcher<(), EncodedText, SentenceEmbedding, ModelFailure>,
    /// Tokenizes on the blocking pool, off the model thread.
    encoder: TextEncoder,
    /// Where it tokenizes.
    tokenizing: Tokenizing,
    /// The model (health checks).
    thread: Arc<ComputeThread<EmbeddingModel>>,
    /// The OpenAI model name.
    model_id: String,
    /// Embedding width.
    dimensions: usize,
    /// Longest input in tokens.
    max_tokens: usize,
}

impl Embeddings {
    /// Loads the model on a new compute thread (and warms it up on GPUs).
    pub async fn start(
        config: &DeploymentConfig,
        options: &EmbeddingsOptions,
        capacity: usize,
        context: StartContext,
    ) -> Result<Self, String> {
        let device: Device = options.device.parse().map_err(|e| format!("{e}"))?;
        let dtype: Dtype = options.dtype.parse().map_err(|e| format!("{e}"))?;
        let dir = PathBuf::from(&options.model_dir);
        let limits = batch_limits(config);
        // One request may carry up to 2048 inputs: the model call is split so
        // that no forward pass exceeds these, whatever the request size.
        let chunk_inputs = limits.max_batch_size.max(32);
        let chunk_tokens = limits.max_tokens.unwrap_or(DEFAULT_CHUNK_TOKENS);
        let name = config.name.clone();
        let load = context.load;
        let thread = ComputeThread::start(&config.name, capacity, context.on_death, move || {
            let model = EmbeddingModel::load_with_progress(&dir, device, dtype, &load)
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
        let batcher = Batcher::spawn(
            limits,
            capacity,
            move |(), inputs: Vec<EncodedText>| {
                let model = model.clone();
                async move {
                    Ok(model
                        .run(move |m| embed_in_chunks(m, &inputs, chunk_inputs, chunk_tokens))
                        .await?)
                }
            },
            record_batches(&config.name, context.batches),
        );
        Ok(Self {
            batcher,
            encoder,
            tokenizing: Tokenizing::default(),
            thread,
            model_id: config
                .replica
                .openai_model(&config.name)
                .unwrap_or(&config.name)
                .to_owned(),
            dimensions,
            max_tokens,
        })
    }

    /// Answers one `/v1/embeddings` request.
    pub async fn call(&self, req: &ReplicaRequest) -> Result<ReplicaResponse, Crash> {
        let mut call = match EmbeddingsCall::parse(&req.body, &self.model_id, self.dimensions) {
            Ok(call) => call,
            Err(response) => return Ok(response),
        };
        // Tokenize off the async workers and off the model thread.
        let texts = std::mem::take(&mut call.texts);
        let encoder = self.encoder.clone();
        let encoded = self
            .tokenizing
            .run(move || {
                texts
                    .iter()
                    .map(|t| encoder.encode(t))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let encoded = match encoded {
            Ok(encoded) => encoded,
            Err(e) => return Ok(openai::invalid("input", e)),
        };
        let tokens = encoded.iter().map(|e| e.ids.len()).sum();
        let embeddings = match self.batcher.submit((), encoded, tokens).await {
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
            self.max_tokens,
        ))
    }

    pub async fn check_health(&self) -> Result<(), String> {
        self.thread.ping().await
    }
}

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
