//! Chat generation: a Llama decoder plus the tokenizer and chat template from its
//! GGUF file, with greedy or temperature/top-p/top-k sampling, stop sequences and
//! token-by-token callbacks (for streaming).

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokenizers::models::bpe::BPE;
use tokenizers::{AddedToken, Tokenizer};

use crate::gguf::{Gguf, GgufError};
use crate::llama::{self, Decode, LlamaConfig};
use crate::{Device, Dtype, ModelError, WeightsError};

/// ChatML, for GGUF files that carry no chat template.
const CHATML_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// How to pick tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// 0 = greedy.
    pub temperature: f32,
    /// Nucleus mass (1 = off).
    pub top_p: f32,
    /// Keep the k most likely (0 = off).
    pub top_k: usize,
    /// RNG seed (random when `None`).
    pub seed: Option<u64>,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Stop when the generated text contains one of these (not included).
    pub stop: Vec<String>,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            seed: None,
            max_tokens: 256,
            stop: Vec::new(),
        }
    }
}

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
    /// Why it ended.
    pub finish: FinishReason,
}

/// The text side of a chat model: tokenizer, chat template and stop tokens.
/// Shared (`Arc`) so requests can be rendered and tokenized on any thread while
/// the model thread only runs the decoder.
pub struct ChatText {
    tokenizer: Tokenizer,
    /// The chat template, parsed once at load.
    template: minijinja::Environment<'static>,
    config: LlamaConfig,
    eos: Vec<u32>,
}

impl std::fmt::Debug for ChatText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatText")
            .field("eos", &self.eos)
            .finish_non_exhaustive()
    }
}

impl ChatText {
    /// Token ids of `text` (special-token text such as `<|im_start|>` included).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| ModelError::Input(format!("cannot tokenize: {e}")))
    }

    /// Text of `ids`.
    pub fn detokenize(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids, false).unwrap_or_default()
    }

    /// The prompt for `messages` through the model's chat template.
    pub fn render(&self, messages: &[Message]) -> Result<String, ModelError> {
        self.template
            .get_template("chat")
            .and_then(|t| {
                t.render(
                    minijinja::context! { messages => messages, add_generation_prompt => true },
                )
            })
            .map_err(|e| ModelError::Input(format!("cannot render the chat template: {e}")))
    }

    /// Whether `prompt` can be generated from (not empty, shorter than the context).
    pub fn check_prompt(&self, prompt: &[u32]) -> Result<(), ModelError> {
        if prompt.is_empty() {
            return Err(ModelError::Input("the prompt is empty".to_owned()));
        }
        if prompt.len() >= self.config.context_length {
            return Err(ModelError::Input(format!(
                "the prompt has {} tokens; the model's context is {}",
                prompt.len(),
                self.config.context_length
            )));
        }
        Ok(())
    }

    /// Hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }
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
        dtype.check(device)?;
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let g = Gguf::parse(&bytes).map_err(|e| gguf_error(path, e))?;
        let config = LlamaConfig::from_gguf(&g).map_err(|e| gguf_error(path, e))?;
        let tokenizer = tokenizer_from_gguf(&g).map_err(|e| gguf_error(path, e))?;
        let source = g
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.as_str())
            .unwrap_or(CHATML_TEMPLATE)
            .to_owned();
        let mut template = minijinja::Environment::new();
        template.add_template_owned("chat", source).map_err(|e| {
            gguf_error(
                path,
                GgufError::Missing(format!("the chat template does not parse: {e}")),
            )
        })?;
        let mut eos = Vec::new();
        if let Some(id) = g
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.as_u64())
        {
            eos.push(id as u32);
        }
        // `<|endoftext|>` also ends a turn in ChatML-style vocabularies.
        if let Some(id) = tokenizer.token_to_id("<|endoftext|>") {
            eos.push(id);
        }
        let decoder = llama::load(&g, &config, device, dtype).map_err(|e| match e {
            ModelError::Gguf(e) => gguf_error(path, e),
            other => other,
        })?;
        Ok(Self {
            decoder,
            text: Arc::new(ChatText {
                tokenizer,
                template,
                config,
                eos,
            }),
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
        let longest_stop = sampling.stop.iter().map(String::len).max().unwrap_or(0);
        Ok(Sequence {
            cache: self.decoder.new_cache(),
            fed: 0,
            pending: None,
            limit,
            longest_stop,
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
    /// The last sampled token, not yet fed.
    pending: Option<u32>,
    sampling: Sampling,
    /// Most tokens to generate (`max_tokens`, capped by the context).
    limit: usize,
    longest_stop: usize,
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
        let mut from = before.saturating_sub(self.longest_stop.saturating_sub(1));
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        if let Some(at) = self
            .sampling
            .stop
            .iter()
            .filter_map(|s| self.text[from..].find(s.as_str()).map(|i| i + from))
            .min()
        {
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
        let holdback = self
            .sampling
            .stop
            .iter()
            .map(|s| longest_suffix_prefix(&self.text, s))
            .max()
            .unwrap_or(0);
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

/// Turns tokens into text as they come, in O(1) work per token: byte-level BPE
/// decodes by concatenation, so the new text is decode(window) minus
/// decode(prefix) over a short window. The bytes of an unfinished UTF-8
/// character stay pending until it completes.
pub struct IncrementalDecoder {
    text: Arc<ChatText>,
    tokens: Vec<u32>,
    prefix: usize,
    read: usize,
}

impl std::fmt::Debug for IncrementalDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncrementalDecoder")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl IncrementalDecoder {
    fn new(text: Arc<ChatText>) -> Self {
        Self {
            text,
            tokens: Vec::new(),
            prefix: 0,
            read: 0,
        }
    }

    /// Adds a token; returns the text it completes (often empty mid-character).
    pub fn push(&mut self, token: u32) -> String {
        self.tokens.push(token);
        let prefix = self.text.detokenize(&self.tokens[self.prefix..self.read]);
        let window = self.text.detokenize(&self.tokens[self.prefix..]);
        match window.strip_prefix(prefix.as_str()) {
            Some(new) if !new.is_empty() && !new.ends_with('\u{fffd}') => {
                let new = new.to_owned();
                self.prefix = self.read;
                self.read = self.tokens.len();
                new
            }
            _ => String::new(),
        }
    }

    /// The pending text (an unfinished character decodes as U+FFFD).
    pub fn finish(&self) -> String {
        let prefix = self.text.detokenize(&self.tokens[self.prefix..self.read]);
        let window = self.text.detokenize(&self.tokens[self.prefix..]);
        window
            .strip_prefix(prefix.as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop`.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    (1..stop.len())
        .rev()
        .find(|&n| stop.is_char_boundary(n) && text.ends_with(&stop[..n]))
        .unwrap_or(0)
}

/// Picks the next token from `logits` (modified in place).
pub fn sample(logits: &mut [f32], s: &Sampling, rng: &mut impl Rng) -> u32 {
    if s.temperature <= 0.0 {
        return argmax_of(logits);
    }
    if s.top_k == 0 && s.top_p >= 1.0 {
        // Plain temperature sampling: no sort of the vocabulary needed.
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0.0;
        for l in logits.iter_mut() {
            *l = ((*l - max) / s.temperature).exp();
            total += *l;
        }
        let mut r = rng.random::<f32>() * total;
        for (i, p) in logits.iter().enumerate() {
            r -= p;
            if r <= 0.0 {
                return i as u32;
            }
        }
        return argmax_of(logits);
    }
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_unstable_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if s.top_k > 0 {
        order.truncate(s.top_k);
    }
    let max = logits[order[0]];
    let mut probs: Vec<f32> = order
        .iter()
        .map(|&i| ((logits[i] - max) / s.temperature).exp())
        .collect();
    let total: f32 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if s.top_p < 1.0 {
        let mut mass = 0.0;
        let keep = probs
            .iter()
            .position(|p| {
                mass += p;
                mass >= s.top_p
            })
            .map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
        order.truncate(keep);
        let total: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
    }
    let mut r: f32 = rng.random();
    for (i, p) in probs.iter().enumerate() {
        r -= p;
        if r <= 0.0 {
            return order[i] as u32;
        }
    }
    order[probs.len() - 1] as u32
}

fn argmax_of(values: &[f32]) -> u32 {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0 as u32
}

/// Builds the byte-level BPE tokenizer from `tokenizer.ggml.*` metadata.
fn tokenizer_from_gguf(g: &Gguf<'_>) -> Result<Tokenizer, GgufError> {
    let model = g.get("tokenizer.ggml.model")?.as_str().unwrap_or_default();
    if model != "gpt2" {
        return Err(GgufError::Missing(format!(
            "tokenizer model `{model}` is not supported (gpt2 byte-level BPE is)"
        )));
    }
    let strings = |key: &str| -> Result<Vec<String>, GgufError> {
        g.get(key)?
            .as_array()
            .ok_or_else(|| GgufError::Missing(format!("`{key}` is not an array")))?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| GgufError::Missing(format!("`{key}` holds a non-string")))
            })
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges: Vec<(String, String)> = strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| GgufError::Missing(format!("malformed merge `{m}`")))
        })
        .collect::<Result<_, _>>()?;
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| GgufError::Missing(format!("cannot build the BPE tokenizer: {e}")))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let pre = g
        .metadata
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let byte_level = tokenizers::pre_tokenizers::byte_level::ByteLevel::new(false, true, true);
    if pre == "smollm" {
        // SmolLM's pre-tokenizer splits every digit on its own, then GPT-2's regex.
        tokenizer.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::sequence::Sequence::new(
            vec![
                tokenizers::pre_tokenizers::digits::Digits::new(true).into(),
                byte_level.into(),
            ],
        )));
    } else {
        tokenizer.with_pre_tokenizer(Some(byte_level));
    }
    tokenizer.with_decoder(Some(tokenizers::decoders::byte_level::ByteLevel::default()));
    // Control tokens (type 3) are matched whole, never split by BPE.
    if let Ok(types) = g.get("tokenizer.ggml.token_type") {
        let special: Vec<AddedToken> = types
            .as_array()
            .unwrap_or_default()
            .iter()
            .zip(&tokens)
            .filter(|(t, _)| t.as_u64() == Some(3))
            .map(|(_, tok)| AddedToken::from(tok.clone(), true))
            .collect();
        tokenizer.add_special_tokens(&special);
    }
    Ok(tokenizer)
}
