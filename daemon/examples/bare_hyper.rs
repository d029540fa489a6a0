//! The physical limit for the serving layer: a bare hyper server (HTTP/1.1 + h2,
//! multi-threaded tokio, as rserve's ingress) that echoes the request body.
//! `scripts/bench.sh` loads it and rserve's `echo` deployment in the same run.
//!
//!     cargo run --release -p rserve-daemon --example bare_hyper -- 127.0.0.1:18080

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let content_type = req.headers().get(hyper::header::CONTENT_TYPE).cloned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut response = Response::new(Full::new(body));
    if let Some(ct) = content_type {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, ct);
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("bare hyper echo on http://{addr}");
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(echo))
                .await;
        });
    }
}
