//! The `sleep` kind: waits `duration_ms`, then answers — a stand-in for a
//! slow model in tests and benchmarks (it waits on the tokio timer, holding no
//! thread).

use std::time::Duration;

use http::StatusCode;
use rserve_protocol::config::SleepOptions;

use crate::replica::ReplicaResponse;

/// A running `sleep` replica.
#[derive(Debug)]
pub struct Sleep(Duration);

impl Sleep {
    pub fn new(options: &SleepOptions) -> Self {
        Self(Duration::from_millis(options.duration_ms))
    }

    pub async fn call(&self) -> ReplicaResponse {
        tokio::time::sleep(self.0).await;
        ReplicaResponse::json(
            StatusCode::OK,
            format!("{{\"slept_ms\":{}}}", self.0.as_millis()),
        )
    }
}
