//! The text side of a chat model: its byte-level BPE tokenizer and chat
//! template (both from the GGUF file's metadata), and incremental
//! detokenization for streaming.

use std::sync::Arc;

use serde::Serialize;
use tokenizers::models::bpe::BPE;
use tokenizers::{AddedToken, Tokenizer};

use crate::ModelError;
use crate::gguf::{Gguf, GgufError};
use crate::llama::LlamaConfig;

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

/// The text side of a chat model: tokenizer, chat template and stop tokens.
/// Shared (`Arc`) so requests can be rendered and tokenized on any thread while
/// the model thread only runs the decoder.
pub struct ChatText {
    tokenizer: Tokenizer,
    /// The chat template, parsed once at load.
    template: minijinja::Environment<'static>,
    pub(super) config: LlamaConfig,
    /// Tokens that end a turn.
    pub(super) eos: Vec<u32>,
    /// Bytes of text a token holds at most (with a margin).
    bytes_per_token: usize,
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

    /// Refuses a prompt text far too long for the context before it is
    /// tokenized: even at the most bytes a token can hold, it would not fit.
    pub fn check_prompt_text(&self, text: &str) -> Result<(), ModelError> {
        let context = self.config.context_length;
        let max = context.saturating_mul(self.bytes_per_token);
        if text.len() > max {
            return Err(ModelError::Input(format!(
                "the prompt is {} bytes, more than the model's context of {context} tokens \
                 can hold (at most {max} bytes); it was not tokenized",
                text.len()
            )));
        }
        Ok(())
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

impl ChatText {
    /// The tokenizer, chat template and end-of-turn tokens from a GGUF file's
    /// metadata (ChatML when it carries no template).
    pub(crate) fn from_gguf(g: &Gguf<'_>, config: LlamaConfig) -> Result<Self, GgufError> {
        let tokenizer = tokenizer_from_gguf(g)?;
        let source = g
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.as_str())
            .unwrap_or(CHATML_TEMPLATE)
            .to_owned();
        let mut template = minijinja::Environment::new();
        template
            .add_template_owned("chat", source)
            .map_err(|e| GgufError::Missing(format!("the chat template does not parse: {e}")))?;
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
        Ok(Self {
            bytes_per_token: crate::tokens::bytes_per_token(&tokenizer),
            tokenizer,
            template,
            config,
            eos,
        })
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
    pub(super) fn new(text: Arc<ChatText>) -> Self {
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
