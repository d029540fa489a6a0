//! Chat generation: a Llama decoder plus the tokenizer and chat template from its
//! GGUF file ([`text`]), with greedy or temperature/top-p/top-k sampling
//! ([`sampling`]), stop sequences and token-by-token output (for streaming).

mod prefix;
mod sampling;
mod stop;
mod text;

pub use prefix::PrefixCache;
pub use sampling::{Sampling, sample};
pub use text::{ChatText, IncrementalDecoder, Message};

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use rand::SeedableRng;
use serde::Serialize;

use crate::gguf::{Gguf, GgufError};
use crate::llama::{self, ChatLoad, Decode, LlamaConfig};
use crate::{Device, Dtype, LoadProgress, ModelError, WeightsError};

/// Why generation ended (OpenAI's `finish_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// EOS or a stop sequence.
    Stop,
    /// `max_tokens` or the context length.
    Length,
    /// The consumer asked to stop (client gone).
    Cancelled,
}

/// The outcome of a generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Generated token ids (without the EOS).
    pub tokens: Vec<u32>,
    /// The text (without a matched stop sequence).
    pub text: String,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values came from a [`PrefixCache`]
    /// (not prefilled again).
    pub cached_tokens: usize,
    /// Why it ended.
    pub finish: FinishReason,
}

/// A loaded chat model; the backend is erased.
pub struct ChatModel {
    decoder: Box<dyn Decode>,
    text: Arc<ChatText>,
    device: Device,
}

impl std::fmt::Debug for ChatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatModel")
            .field("config", &self.text.config)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

fn gguf_error(path: &Path, e: GgufError) -> ModelError {
    WeightsError::Format {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
    .into()
}

impl ChatModel {
    /// Loads a Llama GGUF file with its tokenizer and chat template (f32).
    pub fn load(path: &Path, device: Device) -> Result<Self, ModelError> {
        Self::load_as(path, device, Dtype::F32)
    }

    /// Loads a Llama GGUF file, its weights, activations and KV cache in
    /// `dtype` (f16/bf16 only on CUDA).
    pub fn load_as(path: &Path, device: Device, dtype: Dtype) -> Result<Self, ModelError> {
        Self::load_with_progress(path, device, dtype, &LoadProgress::default())
    }

    /// [`ChatModel::load_as`], counting its steps in `progress`: reading the
    /// file, each decoder block, the embeddings and head.
    pub fn load_with_progress(
        path: &Path,
        device: Device,
        dtype: Dtype,
        progress: &LoadProgress,
    ) -> Result<Self, ModelError> {
        Self::load_with(
            path,
            &ChatLoad {
                device,
                dtype,
                ..ChatLoad::default()
            },
            progress,
        )
    }

    /// [`ChatModel::load_with_progress`] with every [`ChatLoad`] option.
    pub fn load_with(
        path: &Path,
        options: &ChatLoad,
        progress: &LoadProgress,
    ) -> Result<Self, ModelError> {
        let ChatLoad { device, dtype, .. } = *options;
        dtype.check(device)?;
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let g = Gguf::parse(&bytes).map_err(|e| gguf_error(path, e))?;
        let config = LlamaConfig::from_gguf(&g).map_err(|e| gguf_error(path, e))?;
        progress.begin(config.layers as u64 + 2);
        progress.step();
        let text = ChatText::from_gguf(&g, config.clone()).map_err(|e| gguf_error(path, e))?;
        let decoder = llama::load(&g, &config, options, progress).map_err(|e| match e {
            ModelError::Gguf(e) => gguf_error(path, e),
            other => other,
        })?;
        Ok(Self {
            decoder,
            text: Arc::new(text),
            device,
        })
    }

    /// The tokenizer and template, shareable across threads.
    pub fn text(&self) -> Arc<ChatText> {
        self.text.clone()
    }

    /// Hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.text.config
    }

    /// Token ids of `text`.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.text.tokenize(text)
    }

    /// Text of `ids`.
    pub fn detokenize(&self, ids: &[u32]) -> String {
        self.text.detokenize(ids)
    }

    /// The prompt for `messages` through the model's chat template.
    pub fn render(&self, messages: &[Message]) -> Result<String, ModelError> {
        self.text.render(messages)
    }

    /// A decoder that turns generated tokens into text as they come.
    pub fn incremental(&self) -> IncrementalDecoder {
        IncrementalDecoder::new(self.text.clone())
    }

    /// Logits for the next token after `prompt` (for tests against a reference).
    pub fn next_logits(&self, prompt: &[u32]) -> Vec<f32> {
        let mut cache = self.decoder.new_cache();
        self.decoder
            .forward_batch(&mut [(&mut cache, prompt)])
            .pop()
            .expect("one item")
    }

    /// A new sequence for `prompt`, ready to be stepped.
    pub fn start(&self, prompt: Vec<u32>, sampling: Sampling) -> Result<Sequence, ModelError> {
        self.text.check_prompt(&prompt)?;
        let rng = match sampling.seed {
            Some(seed) => rand::rngs::StdRng::seed_from_u64(seed),
            None => rand::rngs::StdRng::from_os_rng(),
        };
        let limit = sampling
            .max_tokens
            .min(self.text.config.context_length - prompt.len());
        let stops = stop::StopScan::new(&sampling.stop);
        Ok(Sequence {
            cache: self.decoder.new_cache(),
            fed: 0,
            cached: 0,
            pending: None,
            limit,
            stops,
            rng,
            tokens: Vec::new(),
            text: String::new(),
            emitted: 0,
            decoder: self.incremental(),
            finish: (limit == 0).then_some(FinishReason::Length),
            prompt,
            sampling,
        })
    }

    /// [`ChatModel::start`], reusing the keys and values of the longest prefix
    /// of `prompt` held in `cache` (all but the prompt's last token at most:
    /// the first step needs one token to feed).
    pub fn start_cached(
        &self,
        prompt: Vec<u32>,
        sampling: Sampling,
        cache: &mut PrefixCache,
    ) -> Result<Sequence, ModelError> {
        let mut seq = self.start(prompt, sampling)?;
        if seq.finish.is_none()
            && let Some((held, common)) = cache.longest(&seq.prompt)
        {
            let reuse = common.min(seq.prompt.len() - 1);
            if reuse > 0 {
                seq.cache = self.decoder.fork_cache(held, reuse);
                seq.fed = reuse;
                seq.cached = reuse;
            }
        }
        Ok(seq)
    }

    /// The outcome of a finished (or cancelled) sequence; its keys and values
    /// go into `cache` for later prompts if they fit in `room` tokens.
    pub fn retire(&self, mut seq: Sequence, cache: &mut PrefixCache, room: usize) -> Generation {
        let len = self.decoder.cache_len(&*seq.cache);
        if len <= room {
            // Held at its size: the budget counts positions.
            self.decoder.trim_cache(&mut *seq.cache);
        }
        let mut held = Vec::with_capacity(len);
        held.extend(seq.prompt.iter().chain(&seq.tokens).take(len));
        let generation = Generation {
            tokens: seq.tokens,
            text: seq.text,
            prompt_tokens: seq.prompt.len(),
            cached_tokens: seq.cached,
            finish: seq.finish.unwrap_or(FinishReason::Cancelled),
        };
        cache.insert(held, seq.cache, room);
        generation
    }

    /// Runs the decoder through the step shapes continuous batching produces —
    /// prefill chunks of 1 to `max_batched_tokens` rows and decode steps of 2 to
    /// `max_seqs` sequences, in powers of two — so a GPU backend autotunes its
    /// kernels before serving rather than on the first requests. Returns the
    /// number of steps.
    pub fn warm_up(&self, max_seqs: usize, max_batched_tokens: usize) -> usize {
        let sampling = Sampling {
            max_tokens: 2,
            seed: Some(0),
            ..Sampling::default()
        };
        let longest = max_batched_tokens.min(self.text.config.context_length.saturating_sub(2));
        let start = |len: usize| {
            self.start(vec![0; len], sampling.clone())
                .expect("a prompt within the context")
        };
        let mut steps = 0;
        for rows in crate::device::warm_up_sizes(1, longest) {
            let mut seq = start(rows);
            self.step(&mut [(&mut seq, rows)]);
            steps += 1;
        }
        for n in crate::device::warm_up_sizes(2, max_seqs) {
            let mut seqs: Vec<Sequence> = (0..n).map(|_| start(4)).collect();
            // Prefill, then one decode step for those that did not finish.
            for _ in 0..2 {
                let mut items: Vec<(&mut Sequence, usize)> = seqs
                    .iter_mut()
                    .filter(|s| s.finish.is_none())
                    .map(|s| (s, 4))
                    .collect();
                if items.is_empty() {
                    break;
                }
                self.step(&mut items);
                steps += 1;
            }
        }
        steps
    }

    /// One decoding step for several sequences (continuous batching): each item
    /// feeds `n` tokens — up to `n` of its remaining prompt while prefilling
    /// (chunked prefill), or its last sampled token (`n` = 1) once decoding. A
    /// sequence whose prompt is complete samples its next token; the returned
    /// piece is the new text it makes final (often empty). Finished sequences
    /// must not be stepped.
    pub fn step(&self, items: &mut [(&mut Sequence, usize)]) -> Vec<String> {
        let inputs: Vec<Vec<u32>> = items
            .iter()
            .map(|(seq, n)| {
                assert!(seq.finish.is_none(), "a finished sequence was stepped");
                match seq.pending {
                    Some(token) => vec![token],
                    None => {
                        let end = (seq.fed + (*n).max(1)).min(seq.prompt.len());
                        seq.prompt[seq.fed..end].to_vec()
                    }
                }
            })
            .collect();
        let mut batch: Vec<(&mut Box<dyn Any + Send>, &[u32])> = items
            .iter_mut()
            .zip(&inputs)
            .map(|((seq, _), input)| (&mut seq.cache, input.as_slice()))
            .collect();
        let logits = self.decoder.forward_batch(&mut batch);
        items
            .iter_mut()
            .zip(inputs)
            .zip(logits)
            .map(|(((seq, _), input), mut logits)| {
                if seq.pending.take().is_none() {
                    seq.fed += input.len();
                    if seq.fed < seq.prompt.len() {
                        return String::new(); // more prompt to prefill
                    }
                }
                seq.accept(&self.text, &mut logits)
            })
            .collect()
    }

    /// Generates from prompt tokens, one sequence alone. `on_text` receives
    /// each new piece of text as soon as it is final; returning `false` cancels.
    pub fn generate(
        &self,
        prompt: &[u32],
        sampling: &Sampling,
        mut on_text: impl FnMut(&str) -> bool,
    ) -> Result<Generation, ModelError> {
        let mut seq = self.start(prompt.to_vec(), sampling.clone())?;
        while !seq.is_finished() {
            let n = seq.remaining_prompt();
            let piece = self.step(&mut [(&mut seq, n)]).pop().expect("one item");
            if !piece.is_empty() && !on_text(&piece) {
                seq.cancel();
            }
        }
        Ok(seq.into_generation())
    }
}

/// One generation in progress: its KV cache, sampling state and text so far.
/// Stepped by [`ChatModel::step`], alone or with others.
pub struct Sequence {
    cache: Box<dyn Any + Send>,
    prompt: Vec<u32>,
    /// Prompt tokens already in the cache.
    fed: usize,
    /// Prompt tokens copied from a [`PrefixCache`] at the start.
    cached: usize,
    /// The last sampled token, not yet fed.
    pending: Option<u32>,
    sampling: Sampling,
    /// Most tokens to generate (`max_tokens`, capped by the context).
    limit: usize,
    /// How far each stop sequence is matched at the end of `text`.
    stops: stop::StopScan,
    rng: rand::rngs::StdRng,
    tokens: Vec<u32>,
    text: String,
    /// Bytes of `text` already handed out.
    emitted: usize,
    decoder: IncrementalDecoder,
    finish: Option<FinishReason>,
}

impl std::fmt::Debug for Sequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequence")
            .field("prompt", &self.prompt.len())
            .field("fed", &self.fed)
            .field("tokens", &self.tokens.len())
            .field("finish", &self.finish)
            .finish_non_exhaustive()
    }
}

impl Sequence {
    /// Prompt tokens not yet prefilled (0 once decoding).
    pub fn remaining_prompt(&self) -> usize {
        self.prompt.len() - self.fed
    }

    /// Prompt length in tokens.
    pub fn prompt_len(&self) -> usize {
        self.prompt.len()
    }

    /// Prompt tokens taken from a [`PrefixCache`] (not prefilled).
    pub fn cached_tokens(&self) -> usize {
        self.cached
    }

    /// Most tokens this sequence can hold in its cache (prompt + generation).
    pub fn max_len(&self) -> usize {
        self.prompt.len() + self.limit
    }

    /// Whether it has ended (then [`Sequence::into_generation`]).
    pub fn is_finished(&self) -> bool {
        self.finish.is_some()
    }

    /// Ends it now (client gone).
    pub fn cancel(&mut self) {
        self.finish.get_or_insert(FinishReason::Cancelled);
    }

    /// The outcome.
    pub fn into_generation(self) -> Generation {
        Generation {
            tokens: self.tokens,
            text: self.text,
            prompt_tokens: self.prompt.len(),
            cached_tokens: self.cached,
            finish: self.finish.unwrap_or(FinishReason::Cancelled),
        }
    }

    /// Samples the next token from `logits` and returns the text it makes final.
    fn accept(&mut self, text: &ChatText, logits: &mut [f32]) -> String {
        let next = sample(logits, &self.sampling, &mut self.rng);
        if text.eos.contains(&next) {
            self.finish = Some(FinishReason::Stop);
            return self.flush();
        }
        self.tokens.push(next);
        let before = self.text.len();
        self.text.push_str(&self.decoder.push(next));
        // A new stop match must end in the new text.
        if let Some(at) = self.stops.feed(&self.text.as_bytes()[before..], before) {
            self.text.truncate(at);
            self.finish = Some(FinishReason::Stop);
            let piece = self.text.get(self.emitted..).unwrap_or_default().to_owned();
            self.emitted = self.emitted.max(at);
            return piece;
        }
        if self.tokens.len() >= self.limit {
            self.finish = Some(FinishReason::Length);
            return self.flush();
        }
        self.pending = Some(next);
        // Hold back what could still become a stop sequence.
        let holdback = self.stops.pending();
        let mut ready = self.text.len() - holdback;
        while !self.text.is_char_boundary(ready) {
            ready -= 1;
        }
        if ready <= self.emitted {
            return String::new();
        }
        let piece = self.text[self.emitted..ready].to_owned();
        self.emitted = ready;
        piece
    }

    /// At the end (EOS or length): the pending text, an unfinished character at
    /// the very end decoded lossily, as a full decode of the tokens would.
    fn flush(&mut self) -> String {
        self.text.push_str(&self.decoder.finish());
        let piece = self.text[self.emitted..].to_owned();
        self.emitted = self.text.len();
        piece
    }
}
