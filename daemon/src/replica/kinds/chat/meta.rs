//! The OpenAI response bodies of a chat or completion: whole, streamed
//! chunks, and the final usage chunk.

use rserve_models::{FinishReason, Generation};

use super::Endpoint;

#[derive(Clone)]
pub(super) struct Meta {
    pub(super) id: String,
    pub(super) created: u64,
    pub(super) model: String,
    pub(super) endpoint: Endpoint,
}

impl Meta {
    pub(super) fn usage(g: &Generation) -> serde_json::Value {
        serde_json::json!({
            "prompt_tokens": g.prompt_tokens,
            "completion_tokens": g.tokens.len(),
            "total_tokens": g.prompt_tokens + g.tokens.len(),
            "prompt_tokens_details": {"cached_tokens": g.cached_tokens},
        })
    }

    pub(super) fn finish(f: FinishReason) -> &'static str {
        match f {
            FinishReason::Stop | FinishReason::Cancelled => "stop",
            FinishReason::Length => "length",
        }
    }

    pub(super) fn whole(&self, g: &Generation) -> serde_json::Value {
        let choice = match self.endpoint {
            Endpoint::Chat => serde_json::json!({
                "index": 0,
                "message": {"role": "assistant", "content": g.text},
                "logprobs": null,
                "finish_reason": Self::finish(g.finish),
            }),
            Endpoint::Completions => serde_json::json!({
                "index": 0, "text": g.text, "logprobs": null, "finish_reason": Self::finish(g.finish),
            }),
        };
        serde_json::json!({
            "id": self.id,
            "object": if self.endpoint == Endpoint::Chat { "chat.completion" } else { "text_completion" },
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": Self::usage(g),
        })
    }

    pub(super) fn chunk(
        &self,
        role: Option<&str>,
        text: &str,
        finish: Option<FinishReason>,
    ) -> serde_json::Value {
        let finish = finish.map(Self::finish);
        let choice = match self.endpoint {
            Endpoint::Chat => {
                let mut delta = serde_json::json!({});
                if let Some(role) = role {
                    delta["role"] = role.into();
                    delta["content"] = "".into();
                } else if finish.is_none() {
                    delta["content"] = text.into();
                }
                serde_json::json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish})
            }
            Endpoint::Completions => {
                serde_json::json!({"index": 0, "text": text, "logprobs": null, "finish_reason": finish})
            }
        };
        serde_json::json!({
            "id": self.id,
            "object": if self.endpoint == Endpoint::Chat { "chat.completion.chunk" } else { "text_completion" },
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        })
    }

    pub(super) fn usage_chunk(&self, g: &Generation) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "object": if self.endpoint == Endpoint::Chat { "chat.completion.chunk" } else { "text_completion" },
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": Self::usage(g),
        })
    }
}
