//! Chat generation: a Llama decoder plus the tokenizer and chat template from its
//! GGUF file, with greedy or temperature/top-p/top-k sampling, stop sequences and
//! token-by-token callbacks (for streaming).

use std::any::Any;
use std::path::Path;

use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokenizers::models::bpe::BPE;
use tokenizers::{AddedToken, Tokenizer};

use crate::gguf::{Gguf, GgufError};
use crate::llama::{self, Decode, LlamaConfig};
use crate::{Device, ModelError, WeightsError};

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

/// A loaded chat model; the backend is erased.
pub struct ChatModel {
    decoder: Box<dyn Decode>,
    tokenizer: Tokenizer,
    /// The chat template, parsed once at load.
    template: minijinja::Environment<'static>,
    config: LlamaConfig,
    eos: Vec<u32>,
    device: Device,
}

impl std::fmt::Debug for ChatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatModel")
            .field("config", &self.config)
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
    /// Loads a Llama GGUF file with its tokenizer and chat template.
    pub fn load(path: &Path, device: Device) -> Result<Self, ModelError> {
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
        let decoder = llama::load(&g, &config, device).map_err(|e| match e {
            ModelError::Gguf(e) => gguf_error(path, e),
            other => other,
        })?;
        Ok(Self {
            decoder,
            tokenizer,
            template,
            config,
            eos,
            device,
        })
    }

    /// Hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

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

    /// A decoder that turns generated tokens into text as they come.
    pub fn incremental(&self) -> IncrementalDecoder<'_> {
        IncrementalDecoder {
            model: self,
            tokens: Vec::new(),
            prefix: 0,
            read: 0,
        }
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

    /// Logits for the next token after `prompt` (for tests against a reference).
    pub fn next_logits(&self, prompt: &[u32]) -> Vec<f32> {
        let mut cache = self.decoder.new_cache();
        self.decoder.forward(&mut cache, prompt)
    }

    /// Generates from prompt tokens. `on_text` receives each new piece of text
    /// as soon as it is final; returning `false` cancels.
    pub fn generate(
        &self,
        prompt: &[u32],
        sampling: &Sampling,
        mut on_text: impl FnMut(&str) -> bool,
    ) -> Result<Generation, ModelError> {
        self.check_prompt(prompt)?;
        let mut rng = match sampling.seed {
            Some(seed) => rand::rngs::StdRng::seed_from_u64(seed),
            None => rand::rngs::StdRng::from_os_rng(),
        };
        let mut cache: Box<dyn Any + Send> = self.decoder.new_cache();
        let mut logits = self.decoder.forward(&mut cache, prompt);
        let mut tokens = Vec::new();
        let mut emitted = 0; // bytes of `text` already handed out
        let mut text = String::new();
        let mut decoder = self.incremental();
        let mut stop_matched = false;
        let longest_stop = sampling.stop.iter().map(String::len).max().unwrap_or(0);
        let room = self.config.context_length - prompt.len();
        let finish = loop {
            if tokens.len() >= sampling.max_tokens.min(room) {
                break FinishReason::Length;
            }
            let next = sample(&mut logits, sampling, &mut rng);
            if self.eos.contains(&next) {
                break FinishReason::Stop;
            }
            tokens.push(next);
            let before = text.len();
            text.push_str(&decoder.push(next));
            // A new stop match must end in the new text.
            let mut from = before.saturating_sub(longest_stop.saturating_sub(1));
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            if let Some(at) = sampling
                .stop
                .iter()
                .filter_map(|s| text[from..].find(s.as_str()).map(|i| i + from))
                .min()
            {
                text.truncate(at);
                stop_matched = true;
                if at > emitted {
                    if !on_text(&text[emitted..]) {
                        break FinishReason::Cancelled;
                    }
                    emitted = at;
                }
                break FinishReason::Stop;
            }
            // Hold back what could still become a stop sequence.
            let holdback = sampling
                .stop
                .iter()
                .map(|s| longest_suffix_prefix(&text, s))
                .max()
                .unwrap_or(0);
            let mut ready = text.len() - holdback;
            while !text.is_char_boundary(ready) {
                ready -= 1;
            }
            if ready > emitted {
                if !on_text(&text[emitted..ready]) {
                    break FinishReason::Cancelled;
                }
                emitted = ready;
            }
            logits = self.decoder.forward(&mut cache, &[next]);
        };
        if finish != FinishReason::Cancelled {
            // An unfinished character at the very end decodes lossily, as a full
            // decode of the tokens would.
            if !stop_matched {
                text.push_str(&decoder.finish());
            }
            if text.len() > emitted {
                on_text(&text[emitted..]);
            }
        }
        Ok(Generation {
            tokens,
            text,
            prompt_tokens: prompt.len(),
            finish,
        })
    }
}

/// Turns tokens into text as they come, in O(1) work per token: byte-level BPE
/// decodes by concatenation, so the new text is decode(window) minus
/// decode(prefix) over a short window. The bytes of an unfinished UTF-8
/// character stay pending until it completes.
pub struct IncrementalDecoder<'a> {
    model: &'a ChatModel,
    tokens: Vec<u32>,
    prefix: usize,
    read: usize,
}

impl std::fmt::Debug for IncrementalDecoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncrementalDecoder")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl IncrementalDecoder<'_> {
    /// Adds a token; returns the text it completes (often empty mid-character).
    pub fn push(&mut self, token: u32) -> String {
        self.tokens.push(token);
        let prefix = self.model.detokenize(&self.tokens[self.prefix..self.read]);
        let window = self.model.detokenize(&self.tokens[self.prefix..]);
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
        let prefix = self.model.detokenize(&self.tokens[self.prefix..self.read]);
        let window = self.model.detokenize(&self.tokens[self.prefix..]);
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
