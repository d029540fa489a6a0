//! The node's TLS material and admin token, created on first start in the
//! state dir: the cluster CA, this node's certificate, the operators' client
//! certificate, and the rustls configuration pieces built from them.
//!
//! A cluster CA signs every node's certificate; clients trust the CA, not a node
//! certificate, so more nodes join under the same CA (the mesh), and a
//! certificate signed by it is a node's or an operator's identity.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::digest;
use crate::state_dir::write_private;

/// The DNS name in every node certificate; clients verify it by default.
pub const NODE_SERVER_NAME: &str = "localhost";

/// Files in `<state dir>/tls`.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    /// The cluster CA certificate (clients trust this).
    pub ca_cert: PathBuf,
    /// The cluster CA key (0600).
    pub ca_key: PathBuf,
    /// This node's certificate.
    pub node_cert: PathBuf,
    /// This node's key (0600).
    pub node_key: PathBuf,
    /// The operators' client certificate (head only).
    pub admin_cert: PathBuf,
    /// Its key (0600).
    pub admin_key: PathBuf,
}

impl TlsPaths {
    /// The paths under `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        let dir = state_dir.join("tls");
        Self {
            ca_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            node_cert: dir.join("node.crt"),
            node_key: dir.join("node.key"),
            admin_cert: dir.join("admin.crt"),
            admin_key: dir.join("admin.key"),
        }
    }
}

/// The node's certificate chain and key, ready for rustls.
#[derive(Debug)]
pub struct NodeIdentity {
    /// Node certificate followed by the CA certificate.
    pub chain: Vec<CertificateDer<'static>>,
    /// The node's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for NodeIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// The crypto provider of every TLS configuration (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS 1.3 client configuration, before its verifier is chosen.
pub fn client_builder()
-> anyhow::Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?)
}

/// Loads the node identity, creating a CA and node certificate on first start.
pub fn load_or_create(state_dir: &Path) -> anyhow::Result<NodeIdentity> {
    use anyhow::Context as _;
    let paths = TlsPaths::new(state_dir);
    if !paths.node_cert.exists() {
        create(&paths).with_context(|| {
            format!(
                "cannot create TLS material in {}",
                paths.ca_cert.parent().unwrap().display()
            )
        })?;
    }
    let read_certs = |path: &Path| -> anyhow::Result<Vec<CertificateDer<'static>>> {
        CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("cannot read certificate {}", path.display()))
    };
    let mut chain = read_certs(&paths.node_cert)?;
    chain.extend(read_certs(&paths.ca_cert)?);
    let key = PrivateKeyDer::from_pem_file(&paths.node_key)
        .with_context(|| format!("cannot read key {}", paths.node_key.display()))?;
    Ok(NodeIdentity { chain, key })
}

/// The name every node certificate carries, verified on node-to-node connections
/// (a node's identity is "signed by the cluster CA", not an address).
pub const MESH_SERVER_NAME: &str = "rserve-node";

/// The cluster CA's certificate parameters. Deterministic, so the head can
/// rebuild the issuer from the CA key on disk to sign joining nodes' certificates
/// (same subject, same key: certificates chain to the CA certificate on disk).
fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "rserve cluster CA");
    Ok(ca)
}

/// A node certificate's parameters: usable as a server (the CLI verifies
/// `localhost` or an IP by default, nodes verify `rserve-node`) and as a client.
fn node_params(node_name: &str) -> anyhow::Result<CertificateParams> {
    let mut node = CertificateParams::new(vec![
        NODE_SERVER_NAME.to_owned(),
        MESH_SERVER_NAME.to_owned(),
    ])?;
    node.distinguished_name.push(DnType::CommonName, node_name);
    node.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    node.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    Ok(node)
}

fn create(paths: &TlsPaths) -> anyhow::Result<()> {
    std::fs::create_dir_all(paths.ca_cert.parent().unwrap())?;
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params()?.self_signed(&ca_key)?;

    let node_key = KeyPair::generate()?;
    let node_cert = node_params("rserve node")?.signed_by(&node_key, &ca_cert, &ca_key)?;

    write_private(&paths.ca_key, ca_key.serialize_pem().as_bytes(), 0o600)?;
    write_private(&paths.node_key, node_key.serialize_pem().as_bytes(), 0o600)?;
    write_private(&paths.ca_cert, ca_cert.pem().as_bytes(), 0o644)?;
    // Written last: its presence marks the material complete.
    write_private(&paths.node_cert, node_cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

/// The head's ability to sign certificates for joining nodes (the CA key is only
/// on the node that created the cluster).
pub struct CaIssuer {
    cert: rcgen::Certificate,
    key: KeyPair,
    /// The CA certificate as stored (PEM).
    pub ca_pem: String,
    /// The CA fingerprint used in join tokens.
    pub fingerprint: String,
}

impl std::fmt::Debug for CaIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaIssuer")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Creates the operators' client certificate (`tls/admin.crt`, `tls/admin.key`)
/// if this node holds the CA and it is missing: the CLI presents it (mutual TLS).
pub fn ensure_admin_cert(state_dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let paths = TlsPaths::new(state_dir);
    if paths.admin_cert.exists() {
        return Ok(());
    }
    let Some(issuer) = CaIssuer::load(state_dir)? else {
        return Ok(());
    };
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "rserve admin");
    let cert = params.signed_by(&key, &issuer.cert, &issuer.key)?;
    write_private(&paths.admin_key, key.serialize_pem().as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", paths.admin_key.display()))?;
    write_private(&paths.admin_cert, cert.pem().as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", paths.admin_cert.display()))?;
    Ok(())
}

/// A joining node's public key: an ECDSA P-256 point, as `KeyPair::public_key_raw`.
struct RawP256(Vec<u8>);

impl rcgen::PublicKeyData for RawP256 {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl CaIssuer {
    /// Loads the CA key and certificate, if this node holds the CA (the head).
    pub fn load(state_dir: &Path) -> anyhow::Result<Option<Self>> {
        use anyhow::Context as _;
        let paths = TlsPaths::new(state_dir);
        let key_pem = match std::fs::read_to_string(&paths.ca_key) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", paths.ca_key.display()));
            }
        };
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("{} is not a key", paths.ca_key.display()))?;
        let ca_pem = std::fs::read_to_string(&paths.ca_cert)
            .with_context(|| format!("cannot read {}", paths.ca_cert.display()))?;
        let der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .with_context(|| format!("{} is not a certificate", paths.ca_cert.display()))?;
        let cert = ca_params()?.self_signed(&key)?;
        Ok(Some(Self {
            cert,
            key,
            fingerprint: digest::ca_fingerprint(&der),
            ca_pem,
        }))
    }

    /// A certificate (PEM) for a joining node's public key (`public_key_raw`
    /// of an ECDSA P-256 key pair).
    pub fn sign_node(&self, node_id: &str, public_key_raw: &[u8]) -> anyhow::Result<String> {
        anyhow::ensure!(
            public_key_raw.len() == 65 && public_key_raw[0] == 4,
            "the public key is not an uncompressed ECDSA P-256 point"
        );
        let cert = node_params(node_id)?.signed_by(
            &RawP256(public_key_raw.to_vec()),
            &self.cert,
            &self.key,
        )?;
        Ok(cert.pem())
    }
}

/// Reads the admin token, creating a random one (0600) on first start.
pub fn load_or_create_token(state_dir: &Path) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let path = token_path(state_dir);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let token = digest::hex(&rand::random::<[u8; 32]>());
    write_private(&path, format!("{token}\n").as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(token)
}

/// Where the admin token lives in a state dir.
pub fn token_path(state_dir: &Path) -> PathBuf {
    state_dir.join("admin.token")
}
