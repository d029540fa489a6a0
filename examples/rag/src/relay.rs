//! `relay`: hands each request to the deployment behind its `next` handle
//! and answers with what came back (a streamed answer streams through).
//! Errors of the hop keep their meaning: an overloaded `next` is a 503, one
//! that fails a 502, one too slow a 504.

use std::time::Duration;

use rserve::{Context, Deployment, DeploymentHandle, Error, Request, Response};
use serde::Deserialize;

/// `user_config` of `relay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Seconds a hop may take before it is a 504 (default: the handle's 60).
    #[serde(default)]
    pub timeout_s: Option<f64>,
}

/// A deployment that calls one other deployment.
pub struct Relay {
    next: DeploymentHandle,
}

impl Deployment for Relay {
    type Config = RelayConfig;

    async fn new(config: RelayConfig, cx: Context) -> Result<Self, Error> {
        let mut next = cx.handle("next")?;
        if let Some(seconds) = config.timeout_s {
            next = next.with_timeout(Duration::try_from_secs_f64(seconds)?);
        }
        Ok(Self { next })
    }

    async fn call(&self, req: Request) -> Result<Response, Error> {
        let mut answer = self.next.stream(req).await?;
        let content_type = answer
            .headers
            .get(rserve::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        if content_type.starts_with("text/event-stream") {
            let (response, events) = Response::event_stream();
            tokio::spawn(async move {
                while let Some(chunk) = answer.next().await {
                    if events.send_raw(chunk).await.is_err() {
                        break;
                    }
                }
            });
            return Ok(response);
        }
        let mut body = Vec::new();
        while let Some(chunk) = answer.next().await {
            body.extend_from_slice(&chunk);
        }
        let mut response = Response::json(answer.status, body);
        response.content_type = rserve::http::HeaderValue::from_str(&content_type)?;
        Ok(response)
    }
}
