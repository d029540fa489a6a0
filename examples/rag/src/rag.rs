//! `rag`: retrieval-augmented generation over a corpus it ships
//! (`corpus.txt`, one passage per line, its id the line number from 0).
//!
//! At start it embeds every passage through its `embedder` handle. A request
//! `{"question": "...", "stream": true}` embeds the question the same way,
//! takes the `top_k` passages by cosine similarity, and asks its `llm` handle
//! (an OpenAI chat completion) to answer from them. Streamed, the answer is
//! server-sent events: first `{"passages": [...]}`, then one `{"delta": "..."}`
//! per chunk of the answer, then `{"timings": {...}}` and `[DONE]`; not
//! streamed, one JSON object with all three. `top_k`, `max_tokens` and the
//! system prompt are its `user_config`, changed in place (`reconfigure`).

use std::sync::RwLock;
use std::time::Instant;

use rserve::{Context, Deployment, DeploymentHandle, Error, HttpError, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The corpus: a couple of hundred one-line facts.
const CORPUS: &str = include_str!("../corpus.txt");
/// Passages embedded per call at start.
const EMBED_BATCH: usize = 64;

/// `user_config` of `rag`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RagConfig {
    /// Passages retrieved per question.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Most tokens in an answer.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// What the model is told before the passages.
    #[serde(default = "default_system_prompt")]
    pub system_prompt: String,
}

fn default_top_k() -> usize {
    3
}

fn default_max_tokens() -> u32 {
    48
}

fn default_system_prompt() -> String {
    "Answer the question in one short sentence, using only these facts:".into()
}

impl RagConfig {
    fn checked(self) -> Result<Self, Error> {
        if self.top_k == 0 || self.top_k > 20 {
            return Err(format!("user_config.top_k: {} is not within 1..=20", self.top_k).into());
        }
        Ok(self)
    }
}

/// One retrieved passage.
#[derive(Debug, Clone, Serialize)]
struct Hit {
    id: usize,
    score: f32,
    text: &'static str,
}

/// A question.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Question {
    question: String,
    #[serde(default = "yes")]
    stream: bool,
}

fn yes() -> bool {
    true
}

/// The `rag` deployment.
pub struct Rag {
    embedder: DeploymentHandle,
    llm: DeploymentHandle,
    passages: Vec<&'static str>,
    /// Unit-length embeddings of `passages`.
    vectors: Vec<Vec<f32>>,
    config: RwLock<RagConfig>,
}

impl Deployment for Rag {
    type Config = RagConfig;

    async fn new(config: RagConfig, cx: Context) -> Result<Self, Error> {
        let config = config.checked()?;
        let embedder = cx.handle("embedder")?;
        let llm = cx.handle("llm")?;
        let passages: Vec<&'static str> = CORPUS.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut vectors = Vec::with_capacity(passages.len());
        for batch in passages.chunks(EMBED_BATCH) {
            vectors.extend(embed(&embedder, batch).await?);
        }
        Ok(Self {
            embedder,
            llm,
            passages,
            vectors,
            config: RwLock::new(config),
        })
    }

    async fn call(&self, req: Request) -> Result<Response, Error> {
        let started = Instant::now();
        let question: Question = req.json()?;
        if question.question.trim().is_empty() {
            return Err(HttpError::bad_request("`question` is empty").into());
        }
        let config = self.config.read().unwrap().clone();
        let query = embed(&self.embedder, &[question.question.as_str()])
            .await?
            .pop()
            .ok_or("the embedder answered no vector")?;
        let embed_ms = ms(started);
        let hits = self.nearest(&query, config.top_k);
        let search_ms = ms(started) - embed_ms;
        let facts: Vec<String> = hits.iter().map(|h| format!("- {}", h.text)).collect();
        let chat = json!({
            "messages": [
                {"role": "system", "content": format!("{}\n{}", config.system_prompt, facts.join("\n"))},
                {"role": "user", "content": question.question},
            ],
            "max_tokens": config.max_tokens,
            "temperature": 0.0,
            "stream": question.stream,
        });
        if !question.stream {
            let answer: Value = self.llm.call_json("/v1/chat/completions", &chat).await?;
            let text = answer["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default();
            return Ok(Response::json_of(&json!({
                "passages": hits,
                "answer": text,
                "timings": {"embed_ms": embed_ms, "search_ms": search_ms, "total_ms": ms(started)},
            })));
        }
        let mut answer = self
            .llm
            .stream(Request::post_json("/v1/chat/completions", &chat))
            .await?;
        let (response, events) = Response::event_stream();
        tokio::spawn(async move {
            if events.send_json(&json!({"passages": hits})).await.is_err() {
                return;
            }
            let mut first_token_ms = None;
            loop {
                let data = match answer.next_event().await {
                    Ok(Some(data)) => data,
                    Ok(None) => break,
                    Err(e) => {
                        let error = json!({"error": {"message": e.to_string()}});
                        let _ = events.send_json(&error).await;
                        return;
                    }
                };
                if data == "[DONE]" {
                    break;
                }
                let chunk: Value = serde_json::from_str(&data).unwrap_or_default();
                if chunk.get("error").is_some() {
                    let _ = events.send_json(&chunk).await;
                    return;
                }
                // The first chunk carries only the role (empty content).
                let Some(delta) = chunk["choices"][0]["delta"]["content"]
                    .as_str()
                    .filter(|d| !d.is_empty())
                else {
                    continue;
                };
                first_token_ms.get_or_insert_with(|| ms(started));
                if events.send_json(&json!({"delta": delta})).await.is_err() {
                    return;
                }
            }
            let timings = json!({"timings": {
                "embed_ms": embed_ms,
                "search_ms": search_ms,
                "first_token_ms": first_token_ms,
                "total_ms": ms(started),
            }});
            let _ = events.send_json(&timings).await;
            let _ = events.send("[DONE]").await;
        });
        Ok(response)
    }

    async fn reconfigure(&self, config: RagConfig) -> Result<(), Error> {
        *self.config.write().unwrap() = config.checked()?;
        Ok(())
    }
}

impl Rag {
    /// The `k` passages nearest to `query`, best first.
    fn nearest(&self, query: &[f32], k: usize) -> Vec<Hit> {
        let mut scored: Vec<(usize, f32)> = self
            .vectors
            .iter()
            .map(|v| v.iter().zip(query).map(|(a, b)| a * b).sum())
            .enumerate()
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored
            .into_iter()
            .take(k)
            .map(|(id, score)| Hit {
                id,
                score,
                text: self.passages[id],
            })
            .collect()
    }
}

/// Unit-length embeddings of `texts` from an `embeddings` deployment
/// (OpenAI's `/v1/embeddings`).
async fn embed(embedder: &DeploymentHandle, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
    #[derive(Deserialize)]
    struct Embeddings {
        data: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        embedding: Vec<f32>,
    }
    let answer: Embeddings = embedder
        .call_json("/v1/embeddings", &json!({"input": texts}))
        .await?;
    if answer.data.len() != texts.len() {
        return Err(format!(
            "asked for {} embeddings, got {}",
            texts.len(),
            answer.data.len()
        )
        .into());
    }
    Ok(answer
        .data
        .into_iter()
        .map(|item| {
            let norm = item
                .embedding
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
                .max(1e-12);
            item.embedding.iter().map(|x| x / norm).collect()
        })
        .collect())
}

/// Milliseconds since `start`.
fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}
