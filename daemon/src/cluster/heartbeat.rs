//! A member node's heartbeat loop: reports to the head every
//! [`HEARTBEAT_PERIOD`] (its advert, its replicas' phases and its routers'
//! figures), applies the route table the head answers with, renews the
//! node's certificate when the head says it is due, and reconnects with
//! backoff when the head is gone (looking its name up again each time: a
//! rescheduled head may come back at another IP).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rserve_protocol::wire::{NodeAdvert, Request, Response};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::agent::MemberAgent;
use super::head_address::HeadAddress;
use crate::observe::window::RouterWindow;
use crate::pki::{LiveCert, MESH_SERVER_NAME};
use crate::rpc::client::ControlClient;

/// How often a member node heartbeats the head (its routers' load rides
/// along: the autoscaler's signal is at most this old).
pub const HEARTBEAT_PERIOD: Duration = Duration::from_millis(500);
/// How long connecting to the head may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a member waits after a failed renewal before it tries again
/// (the head asks at every heartbeat until one succeeds).
const RENEW_RETRY: Duration = Duration::from_secs(30);

/// Connects to the head with the node's certificate (`crypto`, presenting
/// `cert`), reports `advert` and the agent's replicas every
/// [`HEARTBEAT_PERIOD`], until `stop`.
pub async fn run(
    head_address: Arc<HeadAddress>,
    crypto: rustls::ClientConfig,
    cert: Arc<LiveCert>,
    advert: NodeAdvert,
    agent: Arc<MemberAgent>,
    window: Arc<RouterWindow>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    let mut last_warning: Option<Instant> = None;
    while !stop.is_cancelled() {
        let head = head_address.refresh().await;
        let connecting = ControlClient::connect_with(
            head,
            MESH_SERVER_NAME,
            crypto.clone(),
            None,
            CONNECT_TIMEOUT,
        );
        let client = tokio::select! {
            () = stop.cancelled() => return,
            client = connecting => client,
        };
        let client = match client {
            Ok(client) => client,
            Err(e) => {
                if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
                    if cert
                        .expires_at_s()
                        .is_some_and(|at| at <= crate::unix_now_s())
                    {
                        warn!(head = %head_address, error = %e, "Cannot reach the cluster head: this node's certificate expired before the head could renew it; restart it with a new join token (--token).");
                    } else {
                        warn!(head = %head_address, error = %e, "Cannot reach the cluster head; retrying.");
                    }
                    last_warning = Some(Instant::now());
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        info!(%head, "Connected to the cluster head.");
        backoff = Duration::from_millis(200);
        match beat(&client, head, &advert, &agent, &window, &cert, &stop).await {
            Beats::Stopped => {
                client.close().await;
                return;
            }
            // New connections present the new certificate: reconnect now.
            Beats::Renewed => {
                client.close().await;
                continue;
            }
            Beats::Lost => {}
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
    }
}

/// How a connection's heartbeats ended.
#[derive(Debug, PartialEq)]
enum Beats {
    /// The node is stopping.
    Stopped,
    /// The head refused or the connection broke: reconnect.
    Lost,
    /// The node's certificate was renewed: reconnect with it.
    Renewed,
}

/// Heartbeats over one connection until it fails or `stop`.
async fn beat(
    client: &ControlClient,
    head: SocketAddr,
    advert: &NodeAdvert,
    agent: &MemberAgent,
    window: &RouterWindow,
    cert: &Arc<LiveCert>,
    stop: &CancellationToken,
) -> Beats {
    let mut tick = tokio::time::interval(HEARTBEAT_PERIOD);
    let mut renew_after = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return Beats::Stopped,
            _ = tick.tick() => {}
        }
        let request = Request::Heartbeat {
            advert: advert.clone(),
            replicas: agent.reports(),
            routes_version: agent.routes_version(),
            router_figures: {
                // A fresh sample: in-flight and queued as of now.
                window.sample(crate::observe::window::now_s(), agent.router_snapshot());
                window.figures()
            },
        };
        match client.call(&request).await {
            Ok(Response::HeartbeatAck {
                routes,
                revoked,
                renew_certificate,
                ..
            }) => {
                if let Some(routes) = routes {
                    agent.apply_routes(&routes);
                }
                // Applied now, or already the head's: this node can serve.
                agent.readiness.routes_known();
                agent.revoked.replace(revoked);
                if renew_certificate && Instant::now() >= renew_after {
                    match renew(client, cert).await {
                        Ok(expires_at_s) => {
                            info!(%head, expires_at_s, "Renewed this node's certificate.");
                            return Beats::Renewed;
                        }
                        Err(e) => {
                            warn!(%head, error = %format!("{e:#}"), retry_s = RENEW_RETRY.as_secs(), "Cannot renew this node's certificate; retrying.");
                            renew_after = Instant::now() + RENEW_RETRY;
                        }
                    }
                }
            }
            Ok(Response::Error(e)) => {
                warn!(%head, reason = %e.message, "The head refused this node's heartbeat.");
                return Beats::Lost;
            }
            Ok(other) => {
                warn!(%head, answer = ?other, "Unexpected answer to a heartbeat.");
                return Beats::Lost;
            }
            Err(e) => {
                warn!(%head, error = %e, "Lost the cluster head; reconnecting.");
                return Beats::Lost;
            }
        }
    }
}

/// Asks the head for a certificate for a new key and installs both (the key
/// never leaves the node). Returns when the new one expires.
async fn renew(client: &ControlClient, cert: &Arc<LiveCert>) -> anyhow::Result<f64> {
    let key = rcgen::KeyPair::generate().context("cannot generate a key pair")?;
    let request = Request::RenewCertificate {
        public_key: crate::digest::hex(key.public_key_raw()),
    };
    let (cert_pem, expires_at_s) = match client.call(&request).await? {
        Response::CertificateRenewed {
            cert_pem,
            expires_at_s,
        } => (cert_pem, expires_at_s),
        Response::Error(e) => anyhow::bail!("the head refused: {}", e.message),
        other => anyhow::bail!("unexpected answer to a renewal: {other:?}"),
    };
    let cert = cert.clone();
    tokio::task::spawn_blocking(move || cert.install(&key, &cert_pem))
        .await
        .context("the renewal task failed")??;
    Ok(expires_at_s)
}
