//! The OpenAI-compatible endpoints: `GET /v1/models`, and `POST /v1/embeddings`,
//! `/v1/chat/completions` and `/v1/completions`, routed by the body's `model` field.

use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::response::{into_response, model_not_found, model_object, plain};
use super::{Ingress, IngressBody};
use crate::replica::openai;

impl Ingress {
    /// The OpenAI-compatible endpoints: the `model` field picks the deployment.
    pub(super) async fn openai(
        self: Arc<Self>,
        req: Request<Incoming>,
        request_id: HeaderValue,
    ) -> Response<IngressBody> {
        let path = req.uri().path().to_owned();
        let table = self.routes.load_full();
        match (req.method(), path.as_str()) {
            (&http::Method::GET, "/v1/models") => {
                let data: Vec<_> = table
                    .models()
                    .iter()
                    .map(|m| model_object(&m.model))
                    .collect();
                let body = serde_json::json!({ "object": "list", "data": data });
                return plain(StatusCode::OK, "application/json", body.to_string().into());
            }
            (&http::Method::GET, p) if p.starts_with("/v1/models/") => {
                let id = &p["/v1/models/".len()..];
                return match table.model(id) {
                    Some(m) => plain(
                        StatusCode::OK,
                        "application/json",
                        model_object(&m.model).to_string().into(),
                    ),
                    None => model_not_found(id),
                };
            }
            (
                &http::Method::POST,
                "/v1/embeddings" | "/v1/chat/completions" | "/v1/completions",
            ) => {}
            _ => {
                return into_response(openai::error(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    None,
                    format!(
                        "no OpenAI endpoint {} {path}; served: GET /v1/models, POST /v1/embeddings, \
                         POST /v1/chat/completions, POST /v1/completions",
                        req.method()
                    ),
                ));
            }
        }
        if let Some(too_large) = self.declared_too_large(req.headers()) {
            return too_large;
        }
        // The table is read again once the body is here (a body may take
        // --body-timeout-s per pause; routes may change meanwhile).
        drop(table);
        let (mut parts, mut body) = req.into_parts();
        let mut held = self.config.backlog.hold();
        let body = match self.read_body(&mut body, &mut held).await {
            Ok(body) => body,
            Err(response) => return response,
        };
        #[derive(serde::Deserialize)]
        struct ModelField {
            model: Option<String>,
        }
        let model = match serde_json::from_slice::<ModelField>(&body) {
            Ok(ModelField { model: Some(model) }) => model,
            Ok(ModelField { model: None }) => {
                return into_response(openai::invalid("model", "`model` is required"));
            }
            Err(e) => {
                return into_response(openai::invalid(
                    "body",
                    format!("the body is not a JSON object: {e}"),
                ));
            }
        };
        let table = self.routes.load_full();
        let Some(entry) = table.model(&model) else {
            return model_not_found(&model);
        };
        let wanted = if path == "/v1/embeddings" {
            "embeddings"
        } else {
            "chat"
        };
        if entry.kind != wanted {
            return into_response(openai::invalid(
                "model",
                format!(
                    "model `{model}` is a {} model; it does not serve {path}",
                    entry.kind
                ),
            ));
        }
        let router = entry.router.clone();
        drop(table);
        self.dispatch(&router, &mut parts, body, &request_id).await
    }
}
