//! The `echo` kind: answers with the request body (and its content type).
//! With `fault_injection`, the `x-rserve-fault` header makes it panic or turn
//! unhealthy, for chaos tests. Costs nothing to run, so it answers on the tokio
//! worker that received the request.

use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderValue, StatusCode};
use rserve_protocol::config::EchoOptions;

use crate::replica::{ReplicaRequest, ReplicaResponse};

/// A running `echo` replica.
#[derive(Debug)]
pub struct Echo {
    /// Honour `x-rserve-fault`.
    fault_injection: bool,
    /// Set by `x-rserve-fault: unhealthy`; health checks fail from then on.
    unhealthy: AtomicBool,
}

impl Echo {
    pub fn new(options: &EchoOptions) -> Self {
        Self {
            fault_injection: options.fault_injection,
            unhealthy: AtomicBool::new(false),
        }
    }

    pub fn call(&self, req: ReplicaRequest) -> ReplicaResponse {
        if self.fault_injection {
            match req.headers.get("x-rserve-fault").map(HeaderValue::as_bytes) {
                Some(b"panic") => panic!("fault injected by x-rserve-fault: panic"),
                Some(b"unhealthy") => self.unhealthy.store(true, Ordering::SeqCst),
                _ => {}
            }
        }
        let content_type = req
            .headers
            .get(http::header::CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        ReplicaResponse {
            status: StatusCode::OK,
            content_type,
            headers: Vec::new(),
            body: req.body,
            stream: None,
        }
    }

    pub fn check_health(&self) -> Result<(), String> {
        if self.unhealthy.load(Ordering::SeqCst) {
            return Err("marked unhealthy by x-rserve-fault: unhealthy".to_owned());
        }
        Ok(())
    }
}
