//! The `chat` kind: a chat LLM (SmolLM2 from GGUF) serving OpenAI's
//! `/v1/chat/completions` and `/v1/completions` over the replica's
//! [`ChatEngine`] (continuous batching), whole or streamed as server-sent
//! events. A client that goes away stops its generation: its event receiver
//! is dropped and the engine drops the sequence at the next step.

mod meta;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use rserve_models::{ChatLoad, ChatModel, ChatText, Device, Dtype, Message, Sampling};
use rserve_protocol::config::{ChatOptions, DeploymentConfig};
use rserve_protocol::status::BatchFigures;
use serde::Deserialize;
use tokio::sync::mpsc;

use self::meta::Meta;
use super::tokenize::Tokenizing;
use super::{StartContext, warm_up};
use crate::replica::call::error_object;
use crate::replica::compute::Crash;
use crate::replica::engine::{ChatEngine, EngineLimits, SeqEvent, SubmitError};
use crate::replica::openai::invalid;
use crate::replica::{ReplicaRequest, ReplicaResponse};

/// A running `chat` replica.
pub struct Chat {
    /// The engine thread (continuous batching).
    engine: ChatEngine,
    /// The OpenAI model name.
    model_id: String,
    /// `max_tokens` when a request gives none.
    default_max_tokens: u32,
    /// Prompts are rendered and tokenized here.
    tokenizing: Tokenizing,
}

impl Chat {
    /// Loads the model on a new engine thread (and warms it up on GPUs).
    pub async fn start(
        config: &DeploymentConfig,
        options: &ChatOptions,
        capacity: usize,
        context: StartContext,
    ) -> Result<Self, String> {
        let device: Device = options.device.parse().map_err(|e| format!("{e}"))?;
        let dtype: Dtype = options.dtype.parse().map_err(|e| format!("{e}"))?;
        let path = PathBuf::from(&options.model_path);
        let limits = EngineLimits {
            max_num_seqs: options.max_num_seqs as usize,
            max_num_batched_tokens: options.max_num_batched_tokens as usize,
            max_kv_cache_tokens: options.max_kv_cache_tokens as usize,
            prefix_caching: options.enable_prefix_caching,
        };
        let figures: Arc<Mutex<BatchFigures>> = context.batches;
        let name = config.name.clone();
        let load = context.load;
        let load_options = ChatLoad {
            device,
            dtype,
            dequantize_weights: options.dequantize_weights,
            kv_cache_dtype: match options.kv_cache_dtype.as_str() {
                "auto" => None,
                kv => Some(kv.parse().map_err(|e| format!("kv_cache_dtype: {e}"))?),
            },
        };
        let engine = ChatEngine::start(
            &config.name,
            capacity,
            limits,
            figures,
            context.on_death,
            move || {
                let model =
                    ChatModel::load_with(&path, &load_options, &load).map_err(|e| e.to_string())?;
                warm_up(&name, device, || {
                    model.warm_up(limits.max_num_seqs, limits.max_num_batched_tokens)
                });
                Ok(model)
            },
        )
        .await?;
        Ok(Self {
            engine,
            model_id: config
                .replica
                .openai_model(&config.name)
                .unwrap_or(&config.name)
                .to_owned(),
            default_max_tokens: options.default_max_tokens,
            tokenizing: Tokenizing::default(),
        })
    }

    /// Answers one completion request (chat or text, by path).
    pub async fn call(&self, req: &ReplicaRequest) -> Result<ReplicaResponse, Crash> {
        let endpoint = Endpoint::for_path(&req.path);
        complete(
            &self.engine,
            &self.tokenizing,
            &req.body,
            endpoint,
            &self.model_id,
            self.default_max_tokens,
        )
        .await
    }

    /// The engine answers between steps.
    pub async fn check_health(&self) -> Result<(), String> {
        self.engine.ping().await
    }
}

/// Longest stop sequence accepted (each is matched byte by byte as text
/// arrives, in constant time a byte whatever its length; this bounds memory).
const MAX_STOP_BYTES: usize = 256;

/// Chunks buffered between the engine's events and the HTTP connection.
const STREAM_BUFFER: usize = 16;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
struct ContentPart {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// The fields of chat and text completion requests that rserve reads; others
/// (logprobs, tools, ...) are ignored.
#[derive(Debug, Deserialize)]
struct CompletionRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    messages: Option<Vec<ChatMessage>>,
    #[serde(default)]
    prompt: Option<serde_json::Value>,
    #[serde(default)]
    max_tokens: Option<i64>,
    #[serde(default)]
    max_completion_tokens: Option<i64>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    top_k: Option<i64>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    n: Option<i64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

/// Which endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/chat/completions` (or the deployment's own route).
    Chat,
    /// `/v1/completions`.
    Completions,
}

impl Endpoint {
    /// The endpoint for a request path.
    pub fn for_path(path: &str) -> Self {
        if path.ends_with("/completions") && !path.ends_with("/chat/completions") {
            Self::Completions
        } else {
            Self::Chat
        }
    }
}

struct Call {
    endpoint: Endpoint,
    model: String,
    prompt: Prompt,
    sampling: Sampling,
    stream: bool,
    include_usage: bool,
}

enum Prompt {
    Messages(Vec<Message>),
    Text(String),
}

/// The fuzz targets' entry: `body` through the parser, both endpoints.
pub(super) fn fuzz(body: &Bytes) {
    for endpoint in [Endpoint::Chat, Endpoint::Completions] {
        let _ = parse(body, endpoint, "m", 16);
    }
}

fn parse(
    body: &Bytes,
    endpoint: Endpoint,
    model_id: &str,
    default_max: u32,
) -> Result<Call, ReplicaResponse> {
    let mut req: CompletionRequest = serde_json::from_slice(body)
        .map_err(|e| invalid("body", format!("invalid completion request: {e}")))?;
    // Another model's request is refused before anything of it is read
    // further (the ingress routes `/v1/*` by this field; a deployment's own
    // route accepts its name, or none).
    if let Some(model) = req.model.as_deref()
        && model != model_id
    {
        return Err(crate::replica::openai::error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model"),
            format!("the model `{model}` does not exist; this deployment serves `{model_id}`"),
        ));
    }
    let prompt = match endpoint {
        Endpoint::Chat => Prompt::Messages(parse_messages(req.messages.take())?),
        Endpoint::Completions => match req.prompt.take() {
            Some(serde_json::Value::String(p)) => Prompt::Text(p),
            Some(serde_json::Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
                Prompt::Text(a[0].as_str().unwrap_or_default().to_owned())
            }
            _ => return Err(invalid("prompt", "`prompt` must be a string")),
        },
    };
    if let Some(n) = req.n
        && n != 1
    {
        return Err(invalid(
            "n",
            format!("`n` = {n} is not supported; only n = 1"),
        ));
    }
    Ok(Call {
        endpoint,
        model: req.model.clone().unwrap_or_else(|| model_id.to_owned()),
        prompt,
        sampling: parse_sampling(&req, default_max)?,
        stream: req.stream.unwrap_or(false),
        include_usage: req.stream_options.unwrap_or_default().include_usage,
    })
}

/// A chat request's messages: known roles, text content (parts joined).
fn parse_messages(messages: Option<Vec<ChatMessage>>) -> Result<Vec<Message>, ReplicaResponse> {
    let messages = messages.ok_or_else(|| invalid("messages", "`messages` is required"))?;
    if messages.is_empty() {
        return Err(invalid(
            "messages",
            "`messages` is empty; send at least one message",
        ));
    }
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.into_iter().enumerate() {
        if !matches!(
            m.role.as_str(),
            "system" | "user" | "assistant" | "developer"
        ) {
            return Err(invalid(
                &format!("messages[{i}].role"),
                format!("unknown role `{}`", m.role),
            ));
        }
        let content = match m.content {
            None => String::new(),
            Some(Content::Text(t)) => t,
            Some(Content::Parts(parts)) => text_of_parts(i, parts)?,
        };
        let role = if m.role == "developer" {
            "system".to_owned()
        } else {
            m.role
        };
        out.push(Message { role, content });
    }
    Ok(out)
}

/// The text of message `i`'s content parts (only text parts are supported).
fn text_of_parts(i: usize, parts: Vec<ContentPart>) -> Result<String, ReplicaResponse> {
    let mut text = String::new();
    for p in parts {
        if p.kind != "text" {
            return Err(invalid(
                &format!("messages[{i}].content"),
                format!("content part type `{}` is not supported (text is)", p.kind),
            ));
        }
        text.push_str(p.text.as_deref().unwrap_or_default());
    }
    Ok(text)
}

/// Sampling settings, each checked against OpenAI's range.
fn parse_sampling(req: &CompletionRequest, default_max: u32) -> Result<Sampling, ReplicaResponse> {
    let max_tokens = req
        .max_completion_tokens
        .or(req.max_tokens)
        .unwrap_or(i64::from(default_max));
    if max_tokens < 1 {
        return Err(invalid(
            "max_tokens",
            format!("`max_tokens` must be at least 1, not {max_tokens}"),
        ));
    }
    let temperature = req.temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(invalid(
            "temperature",
            format!("`temperature` must be between 0 and 2, not {temperature}"),
        ));
    }
    let top_p = req.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(invalid(
            "top_p",
            format!("`top_p` must be in (0, 1], not {top_p}"),
        ));
    }
    let top_k = req.top_k.unwrap_or(0);
    if top_k < 0 {
        return Err(invalid(
            "top_k",
            format!("`top_k` must be >= 0, not {top_k}"),
        ));
    }
    let stop = match &req.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s.clone()],
        Some(Stop::Many(v)) if v.len() > 4 => {
            return Err(invalid("stop", "`stop` takes at most 4 sequences"));
        }
        Some(Stop::Many(v)) => v.clone(),
    };
    if let Some(s) = stop
        .iter()
        .find(|s| s.is_empty() || s.len() > MAX_STOP_BYTES)
    {
        let why = match s.len() {
            0 => "stop sequences must not be empty".to_owned(),
            _ => format!("a stop sequence may be at most {MAX_STOP_BYTES} bytes long"),
        };
        return Err(invalid("stop", why));
    }
    Ok(Sampling {
        temperature,
        top_p,
        top_k: top_k as usize,
        seed: req.seed,
        max_tokens: max_tokens as usize,
        stop,
    })
}

/// Handles one completion request on the replica's engine.
async fn complete(
    engine: &ChatEngine,
    tokenizing: &Tokenizing,
    body: &Bytes,
    endpoint: Endpoint,
    model_id: &str,
    default_max: u32,
) -> Result<ReplicaResponse, Crash> {
    let call = match parse(body, endpoint, model_id, default_max) {
        Ok(call) => call,
        Err(response) => return Ok(response),
    };
    let id = format!(
        "{}-{:016x}",
        if call.endpoint == Endpoint::Chat {
            "chatcmpl"
        } else {
            "cmpl"
        },
        rand::random::<u64>()
    );
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let meta = Meta {
        id,
        created,
        model: call.model.clone(),
        endpoint: call.endpoint,
    };
    let Call {
        prompt,
        sampling,
        stream,
        include_usage,
        ..
    } = call;

    // Render and tokenize off the async workers and off the engine thread, so a
    // bad prompt is a 400 even when streaming.
    let text = engine.text().clone();
    let prepared = tokenizing
        .run(move || {
            let tokens = prompt_tokens(&text, &prompt)?;
            text.check_prompt(&tokens)?;
            Ok::<_, rserve_models::ModelError>(tokens)
        })
        .await?;
    let tokens = match prepared {
        Ok(tokens) => tokens,
        Err(e) => return Ok(invalid(prompt_param(endpoint), e)),
    };
    let mut events = match engine.submit(tokens, sampling) {
        Ok(events) => events,
        Err(SubmitError::Busy) => {
            return Ok(ReplicaResponse::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "replica engine queue is full",
            ));
        }
        Err(SubmitError::Crashed(reason)) => return Err(Crash(reason)),
    };

    if !stream {
        // Dropped (client gone) → the receiver drops → the sequence is cancelled.
        loop {
            match events.recv().await {
                Some(SeqEvent::Text(_)) => {}
                Some(SeqEvent::Done(generation)) => {
                    return Ok(ReplicaResponse::json(
                        StatusCode::OK,
                        meta.whole(&generation).to_string(),
                    ));
                }
                Some(SeqEvent::Failed(e)) => return Ok(invalid(prompt_param(endpoint), e)),
                None => return Err(Crash(engine.crash())),
            }
        }
    }

    // The HTTP side: events become server-sent events; a client that leaves
    // drops `rx`, this task ends, and the engine sees the sequence is gone.
    let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
    let crash = engine.crash_reporter();
    tokio::spawn(async move {
        let send = |event: serde_json::Value| tx.send(sse(&event));
        if meta.endpoint == Endpoint::Chat
            && send(meta.chunk(Some("assistant"), "", None)).await.is_err()
        {
            return;
        }
        loop {
            let event = events.recv().await;
            let sent = match event {
                Some(SeqEvent::Text(piece)) => send(meta.chunk(None, &piece, None)).await,
                Some(SeqEvent::Done(generation)) => {
                    if send(meta.chunk(None, "", Some(generation.finish)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if include_usage {
                        let _ = send(meta.usage_chunk(&generation)).await;
                    }
                    let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
                    return;
                }
                Some(SeqEvent::Failed(e)) => {
                    let error =
                        error_object(StatusCode::BAD_REQUEST, "invalid_request_error", None, e);
                    let _ = send(error).await;
                    return;
                }
                None => {
                    // Cancelled by the engine (a reader too slow), or a crash.
                    let Some(reason) = crash() else { return };
                    let error = error_object(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "replica_error",
                        None,
                        format!("replica crashed: {reason}"),
                    );
                    let _ = send(error).await;
                    return;
                }
            };
            if sent.is_err() {
                return;
            }
        }
    });
    let mut response = ReplicaResponse::json(StatusCode::OK, Bytes::new());
    response.content_type = HeaderValue::from_static("text/event-stream");
    response.headers.push((
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    ));
    response.stream = Some(rx);
    Ok(response)
}

fn prompt_param(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Chat => "messages",
        Endpoint::Completions => "prompt",
    }
}

/// The prompt's tokens; a text far too long for the context is refused
/// before it is tokenized.
fn prompt_tokens(text: &ChatText, prompt: &Prompt) -> Result<Vec<u32>, rserve_models::ModelError> {
    let rendered;
    let prompt = match prompt {
        Prompt::Messages(messages) => {
            rendered = text.render(messages)?;
            &rendered
        }
        Prompt::Text(t) => t,
    };
    text.check_prompt_text(prompt)?;
    text.tokenize(prompt)
}

fn sse(event: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {event}\n\n"))
}

#[cfg(test)]
mod tests;
