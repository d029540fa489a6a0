//! Joining a cluster: a new node generates its key pair, checks that the head
//! it reached holds the CA the join token names (a pinned CA, as kubeadm's
//! `--discovery-token-ca-cert-hash`) before it sends anything, proves the
//! token, and stores the certificate the head signs for it. With a pool
//! token ([`super::pool_token`]), which names no CA, both sides prove the
//! token over the session instead, and the node checks the head's proof
//! before it trusts the CA it is sent.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rserve_protocol::wire::{NodeAdvert, Request, Response};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::ClusterFile;
use super::head_address::HeadName;
use super::pool_token::PoolToken;
use super::tokens::JoinToken;
use crate::digest;
use crate::pki::{self, MESH_SERVER_NAME, TlsPaths};
use crate::rpc::client::{ClientError, ControlClient};
use crate::state_dir::write_private;

/// How long joining waits for the head to answer.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why joining failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The token or the head refused (wrong, expired, another cluster).
    #[error("{0}")]
    Refused(String),
    /// The head's name does not resolve, or nothing answers there (yet).
    #[error("{0}")]
    Unreachable(String),
    /// Anything else (unreachable head, disk).
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

/// Joins the cluster whose head is at `head` with `token`: writes this node's
/// key, certificate, the cluster CA and `cluster.json` into `state_dir`.
pub async fn join(
    state_dir: &Path,
    head_name: &HeadName,
    token: &str,
    advert: NodeAdvert,
) -> Result<ClusterFile, JoinError> {
    // A pool token names no CA: the session is checked by proofs instead.
    let (pool, pinned_ca) = if PoolToken::is_pool(token) {
        let pool = PoolToken::parse(token).map_err(|e| JoinError::Refused(e.to_string()))?;
        (Some(pool), None)
    } else {
        let parsed = JoinToken::parse(token).map_err(|e| JoinError::Refused(e.to_string()))?;
        (None, Some(parsed.ca))
    };
    let head = head_name
        .resolve()
        .await
        .map_err(|e| JoinError::Unreachable(format!("cannot resolve {head_name}: {e}")))?;
    let key = rcgen::KeyPair::generate().context("cannot generate a key pair")?;
    let crypto = pki::client_builder()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCa {
            fingerprint: pinned_ca.clone(),
            provider: pki::provider(),
        }))
        .with_no_client_auth();
    let client = ControlClient::connect_with(head, MESH_SERVER_NAME, crypto, None, JOIN_TIMEOUT)
        .await
        .map_err(|e| match e {
            ClientError::Rejected(reason) | ClientError::Untrusted(reason) => JoinError::Refused(
                format!("the node at {head} is not the cluster of this token: {reason}"),
            ),
            ClientError::Unreachable { reason, .. } => {
                JoinError::Unreachable(format!("cannot reach {head_name} ({head}): {reason}"))
            }
            other => JoinError::Other(other.into()),
        })?;
    let binding = client.channel_binding();
    let sent_token = match (&pool, &binding) {
        (Some(pool), Some(binding)) => pool.join_proof(binding),
        (Some(_), None) => {
            return Err(JoinError::Other(anyhow::anyhow!(
                "the TLS session exports no keying material to prove the pool token over"
            )));
        }
        (None, _) => token.trim().to_owned(),
    };
    let response = client
        .call(&Request::Join {
            token: sent_token,
            public_key: digest::hex(key.public_key_raw()),
            advert,
        })
        .await
        .map_err(|e| JoinError::Other(e.into()))?;
    client.close().await;
    let (cert_pem, ca_pem, cluster_id) = match response {
        Response::Joined {
            cert_pem,
            ca_pem,
            cluster_id,
            head_proof,
            ..
        } => {
            if let (Some(pool), Some(binding)) = (&pool, &binding) {
                let payload = [
                    cert_pem.as_bytes(),
                    ca_pem.as_bytes(),
                    cluster_id.as_bytes(),
                ];
                pool.verify_head(head_proof.as_deref().unwrap_or_default(), binding, &payload)
                    .map_err(|_| {
                        JoinError::Refused(format!(
                            "the node at {head} did not prove it holds this pool token (another \
                             cluster, or something in the middle): nothing it sent was kept"
                        ))
                    })?;
            }
            (cert_pem, ca_pem, cluster_id)
        }
        Response::Error(e) => {
            return Err(JoinError::Refused(format!(
                "the head at {head} refused to let this node join: {}",
                e.message
            )));
        }
        other => {
            return Err(JoinError::Other(anyhow::anyhow!(
                "unexpected answer to a join: {other:?}"
            )));
        }
    };
    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .context("the head sent an unreadable CA certificate")?;
    if let Some(pinned) = &pinned_ca
        && digest::ca_fingerprint(&ca_der) != *pinned
    {
        return Err(JoinError::Refused(
            "the head sent a CA that is not the token's".to_owned(),
        ));
    }
    let paths = TlsPaths::new(state_dir);
    std::fs::create_dir_all(paths.ca_cert.parent().expect("tls dir"))
        .context("cannot create the tls directory")?;
    write_private(&paths.node_key, key.serialize_pem().as_bytes(), 0o600)
        .context("cannot write the node key")?;
    write_private(&paths.ca_cert, ca_pem.as_bytes(), 0o644)
        .context("cannot write the CA certificate")?;
    // Written last: its presence marks the material complete.
    write_private(&paths.node_cert, cert_pem.as_bytes(), 0o644)
        .context("cannot write the node certificate")?;
    // Replica commands are taken from the head's certificate, which names
    // it the head ([`pki::HEAD_NAME`]): nothing to pin.
    let file = ClusterFile {
        head: head_name.clone(),
        cluster_id,
        head_cert_sha256: None,
    };
    file.write(state_dir)?;
    Ok(file)
}

/// Trusts a server whose chain includes the CA named by a join token (by
/// fingerprint), and verifies the chain against that CA. Without a
/// fingerprint (a pool token) any chain is taken here: the proofs over the
/// session decide. Before the head's proof holds the node sends its own
/// proof (useless over any other session), its public key and its advert,
/// and keeps nothing.
#[derive(Debug)]
struct PinnedCa {
    fingerprint: Option<String>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(fingerprint) = &self.fingerprint else {
            return Ok(ServerCertVerified::assertion());
        };
        let ca = intermediates
            .iter()
            .find(|c| digest::ca_fingerprint(c) == *fingerprint)
            .ok_or_else(|| {
                rustls::Error::General(
                    "the node's CA is not the one in the join token (another cluster, or a wrong address)"
                        .to_owned(),
                )
            })?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            self.provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?
        .verify_server_cert(end_entity, &[], server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
