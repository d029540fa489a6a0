//! OpenAI-compatible request and response bodies, as the replica kinds that serve
//! the OpenAI API read and write them. Errors use OpenAI's error object.

use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ReplicaResponse;
use super::call::error_object;

/// Most inputs in one embeddings request (OpenAI's limit).
pub const MAX_EMBEDDING_INPUTS: usize = 2048;

/// An error response with OpenAI's error object.
pub fn error(
    status: StatusCode,
    kind: &str,
    param: Option<&str>,
    message: impl std::fmt::Display,
) -> ReplicaResponse {
    ReplicaResponse::json(
        status,
        error_object(status, kind, param, message).to_string(),
    )
}

/// An OpenAI-style 400 naming the offending parameter.
pub fn invalid(param: &str, message: impl std::fmt::Display) -> ReplicaResponse {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some(param),
        message,
    )
}

/// `POST /v1/embeddings` body.
#[derive(Debug, Deserialize)]
pub struct EmbeddingsRequest {
    /// The model name (routing already happened; echoed back).
    #[serde(default)]
    pub model: Option<String>,
    /// One string or an array of strings (required; checked after parsing,
    /// so its absence is reported as `input`).
    #[serde(default)]
    pub input: Option<EmbeddingsInput>,
    /// `float` (default) or `base64`.
    #[serde(default)]
    pub encoding_format: Option<String>,
    /// Requested width; only the model's own width is supported.
    #[serde(default)]
    pub dimensions: Option<usize>,
    /// Caller id (ignored, accepted for compatibility).
    #[serde(default)]
    pub user: Option<String>,
}

/// The `input` field.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingsInput {
    /// One text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
    /// Token ids (OpenAI allows them; we do not).
    Tokens(serde_json::Value),
}

/// What an embeddings request asks for, validated.
#[derive(Debug)]
pub struct EmbeddingsCall {
    /// Model name to echo.
    pub model: String,
    /// Texts, in order.
    pub texts: Vec<String>,
    /// Base64 instead of float arrays.
    pub base64: bool,
}

impl EmbeddingsCall {
    /// Parses and validates a body; `Err` is the 400 to send.
    pub fn parse(
        body: &Bytes,
        default_model: &str,
        dimensions: usize,
    ) -> Result<Self, ReplicaResponse> {
        let mut json = serde_json::Deserializer::from_slice(body);
        let req: EmbeddingsRequest = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            // The field the parser stopped at, or the body as a whole.
            let param = match e.path().iter().next() {
                Some(serde_path_to_error::Segment::Map { key }) => key.clone(),
                _ => "body".to_owned(),
            };
            invalid(&param, format!("invalid embeddings request: {}", e.inner()))
        })?;
        let Some(input) = req.input else {
            return Err(invalid("input", "`input` is required"));
        };
        let texts = match input {
            EmbeddingsInput::One(text) => vec![text],
            EmbeddingsInput::Many(texts) if texts.is_empty() => {
                return Err(invalid(
                    "input",
                    "`input` is an empty list; send at least one string",
                ));
            }
            EmbeddingsInput::Many(texts) if texts.len() > MAX_EMBEDDING_INPUTS => {
                return Err(invalid(
                    "input",
                    format!(
                        "`input` has {} items; at most {MAX_EMBEDDING_INPUTS} per request",
                        texts.len()
                    ),
                ));
            }
            EmbeddingsInput::Many(texts) => texts,
            EmbeddingsInput::Tokens(_) => {
                return Err(invalid(
                    "input",
                    "`input` must be a string or an array of strings (token-id input is not supported)",
                ));
            }
        };
        let base64 = match req.encoding_format.as_deref() {
            None | Some("float") => false,
            Some("base64") => true,
            Some(other) => {
                return Err(invalid(
                    "encoding_format",
                    format!("`encoding_format` must be `float` or `base64`, not `{other}`"),
                ));
            }
        };
        if let Some(d) = req.dimensions
            && d != dimensions
        {
            return Err(invalid(
                "dimensions",
                format!(
                    "this model produces {dimensions}-dimensional embeddings; `dimensions` = {d} is not supported"
                ),
            ));
        }
        Ok(Self {
            model: req.model.unwrap_or_else(|| default_model.to_owned()),
            texts,
            base64,
        })
    }
}

/// One embedding: floats are serialised as f32 (shortest form), not widened.
#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingItem {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

#[derive(Serialize)]
struct Truncated<'a> {
    indices: &'a [usize],
    max_input_tokens: usize,
}

#[derive(Serialize)]
struct EmbeddingsResponse<'a> {
    object: &'static str,
    data: Vec<EmbeddingItem>,
    model: &'a str,
    usage: Usage,
    /// Reported, never silent (an extension field OpenAI clients ignore).
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated_inputs: Option<Truncated<'a>>,
}

/// Renders the OpenAI response. `truncated` lists inputs cut to `max_tokens`.
pub fn embeddings_response(
    call: &EmbeddingsCall,
    vectors: Vec<Vec<f32>>,
    prompt_tokens: usize,
    truncated: &[usize],
    max_tokens: usize,
) -> ReplicaResponse {
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| EmbeddingItem {
            object: "embedding",
            index,
            embedding: if call.base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Vector::Base64(base64_encode(&bytes))
            } else {
                Vector::Floats(v)
            },
        })
        .collect();
    let body = EmbeddingsResponse {
        object: "list",
        data,
        model: &call.model,
        usage: Usage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
        truncated_inputs: (!truncated.is_empty()).then_some(Truncated {
            indices: truncated,
            max_input_tokens: max_tokens,
        }),
    };
    let mut response = ReplicaResponse::json(
        StatusCode::OK,
        serde_json::to_vec(&body).expect("embeddings serialise"),
    );
    if !truncated.is_empty() {
        response.headers.push((
            http::HeaderName::from_static("x-rserve-truncated-inputs"),
            http::HeaderValue::from(truncated.len()),
        ));
    }
    response
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(input.as_bytes()), expected);
        }
    }

    #[test]
    fn bad_requests_name_the_parameter() {
        let parse = |body: &str| EmbeddingsCall::parse(&Bytes::from(body.to_owned()), "m", 384);
        let param = |r: ReplicaResponse| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            (
                r.status.as_u16(),
                v["error"]["param"].as_str().unwrap().to_owned(),
            )
        };
        assert_eq!(
            param(parse(r#"{"input": []}"#).unwrap_err()),
            (400, "input".into())
        );
        assert_eq!(
            param(parse(r#"{"input": [1, 2]}"#).unwrap_err()),
            (400, "input".into())
        );
        assert_eq!(
            param(parse(r#"{"input": "a", "encoding_format": "hex"}"#).unwrap_err()),
            (400, "encoding_format".into())
        );
        assert_eq!(
            param(parse(r#"{"input": "a", "dimensions": 3}"#).unwrap_err()),
            (400, "dimensions".into())
        );
        assert_eq!(
            param(parse(r#"{"model": "m"}"#).unwrap_err()),
            (400, "input".into())
        );
        assert_eq!(param(parse("nope").unwrap_err()), (400, "body".into()));
        let ok = parse(r#"{"input": ["a", "b"], "encoding_format": "base64"}"#).unwrap();
        assert_eq!(
            (ok.texts.len(), ok.base64, ok.model.as_str()),
            (2, true, "m")
        );
    }
}
