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
use std::time::Duration;

use arc_swap::ArcSwap;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::digest;
use crate::state_dir::write_private;

/// The DNS name in every node certificate; clients verify it by default.
pub const NODE_SERVER_NAME: &str = "localhost";

/// The name only the head's certificate carries (a DNS name among its
/// subject alternative names): members take replica commands from a
/// certificate of the cluster CA that carries it. Only the holder of the CA
/// key issues certificates, and it gives this name to no other node.
pub const HEAD_NAME: &str = "rserve-head";

/// How long a node certificate is valid unless the head is told otherwise
/// (`--node-cert-lifetime-s`): 90 days, as ACME certificates.
pub const DEFAULT_NODE_CERT_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

/// Certificates are valid from this long before they are issued: clocks of
/// nodes differ a little.
const BACKDATE_S: i64 = 300;

/// Whether a certificate that expires at `expires_at_s` is due for renewal:
/// in the last third of `lifetime` (as certbot renews 90-day certificates 30
/// days before). One from before certificates expired (`None`) is due at once.
pub fn renewal_due(expires_at_s: Option<f64>, lifetime: Duration, now_s: f64) -> bool {
    expires_at_s.is_none_or(|at| at - now_s < lifetime.as_secs_f64() / 3.0)
}

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
    /// A renewed key and certificate on their way into `node.key` and
    /// `node.crt` (0600; see [`LiveCert::install`]).
    pub node_next: PathBuf,
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
            node_next: dir.join("node.next.pem"),
        }
    }

    /// Unix time this node's certificate expires, if it can be read.
    pub fn node_cert_expiry(&self) -> Option<f64> {
        let der = CertificateDer::from_pem_file(&self.node_cert).ok()?;
        validity(&der).map(|(_, not_after)| not_after as f64)
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

/// Loads the node identity, creating a CA and the head's certificate (for
/// node `node_id`, valid for `lifetime`) on first start. A renewal that a
/// crash interrupted is completed first.
pub fn load_or_create(
    state_dir: &Path,
    node_id: &str,
    lifetime: Duration,
) -> anyhow::Result<NodeIdentity> {
    use anyhow::Context as _;
    let paths = TlsPaths::new(state_dir);
    finish_install(&paths)?;
    if !paths.node_cert.exists() {
        create(&paths, node_id, lifetime).with_context(|| {
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
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no certificate",
        paths.node_cert.display()
    );
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
/// `localhost` or an IP by default, nodes verify `rserve-node`) and as a
/// client; its common name is the node id, the head's carries [`HEAD_NAME`];
/// valid from a little before `now_s` for `lifetime`.
fn node_params(
    node_id: &str,
    head: bool,
    now_s: f64,
    lifetime: Duration,
) -> anyhow::Result<CertificateParams> {
    let mut names = vec![NODE_SERVER_NAME.to_owned(), MESH_SERVER_NAME.to_owned()];
    if head {
        names.push(HEAD_NAME.to_owned());
    }
    let mut node = CertificateParams::new(names)?;
    node.distinguished_name.push(DnType::CommonName, node_id);
    node.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    node.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    let now = now_s as i64;
    let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    node.not_before = time::OffsetDateTime::from_unix_timestamp(now - BACKDATE_S)?;
    node.not_after = time::OffsetDateTime::from_unix_timestamp(now.saturating_add(lifetime))?;
    Ok(node)
}

/// A certificate the CA just signed.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its SHA-256 (hex): the node's identity on every connection.
    pub fingerprint: String,
    /// Unix time it expires.
    pub expires_at_s: f64,
}

impl Issued {
    fn of(cert: &rcgen::Certificate, params: &CertificateParams) -> Self {
        Self {
            cert_pem: cert.pem(),
            fingerprint: digest::cert_fingerprint(cert.der()),
            expires_at_s: params.not_after.unix_timestamp() as f64,
        }
    }
}

fn create(paths: &TlsPaths, node_id: &str, lifetime: Duration) -> anyhow::Result<()> {
    std::fs::create_dir_all(paths.ca_cert.parent().unwrap())?;
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params()?.self_signed(&ca_key)?;
    write_private(&paths.ca_key, ca_key.serialize_pem().as_bytes(), 0o600)?;
    write_private(&paths.ca_cert, ca_cert.pem().as_bytes(), 0o644)?;
    let issuer = CaIssuer::from_parts(ca_cert, ca_key)?;
    let (node_key, issued) = issuer.issue_head(node_id, lifetime, crate::unix_now_s())?;
    write_private(&paths.node_key, node_key.serialize_pem().as_bytes(), 0o600)?;
    // Written last: its presence marks the material complete.
    write_private(&paths.node_cert, issued.cert_pem.as_bytes(), 0o644)?;
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

    /// The issuer of a CA just created.
    fn from_parts(cert: rcgen::Certificate, key: KeyPair) -> anyhow::Result<Self> {
        Ok(Self {
            fingerprint: digest::ca_fingerprint(cert.der()),
            ca_pem: cert.pem(),
            cert,
            key,
        })
    }

    /// A certificate for node `node_id`'s public key (`public_key_raw` of an
    /// ECDSA P-256 key pair, as a join or a renewal sends it), valid for
    /// `lifetime` from `now_s`.
    pub fn sign_node(
        &self,
        node_id: &str,
        public_key_raw: &[u8],
        lifetime: Duration,
        now_s: f64,
    ) -> anyhow::Result<Issued> {
        anyhow::ensure!(
            public_key_raw.len() == 65 && public_key_raw[0] == 4,
            "the public key is not an uncompressed ECDSA P-256 point"
        );
        let params = node_params(node_id, false, now_s, lifetime)?;
        let cert =
            params
                .clone()
                .signed_by(&RawP256(public_key_raw.to_vec()), &self.cert, &self.key)?;
        Ok(Issued::of(&cert, &params))
    }

    /// A new key and certificate for the head itself (node `node_id`),
    /// marked with [`HEAD_NAME`].
    pub fn issue_head(
        &self,
        node_id: &str,
        lifetime: Duration,
        now_s: f64,
    ) -> anyhow::Result<(KeyPair, Issued)> {
        let key = KeyPair::generate()?;
        let params = node_params(node_id, true, now_s, lifetime)?;
        let cert = params.clone().signed_by(&key, &self.cert, &self.key)?;
        Ok((key, Issued::of(&cert, &params)))
    }
}

/// `(not before, not after)` of a certificate (DER), in Unix seconds; `None`
/// if it cannot be read. Only the outer structure up to the validity is
/// walked: the certificate itself was verified (or written) by rustls or rcgen.
pub fn validity(der: &[u8]) -> Option<(i64, i64)> {
    // One DER element: (tag, contents, the bytes after it).
    fn element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = bytes.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }
    fn time(tag: u8, text: &[u8]) -> Option<i64> {
        let text = std::str::from_utf8(text).ok()?;
        let digits = text.strip_suffix('Z')?;
        let (year, rest) = match (tag, digits.len()) {
            // UTCTime: YYMMDDHHMMSS, 1950–2049.
            (0x17, 12) => {
                let yy: i32 = digits[..2].parse().ok()?;
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
            }
            // GeneralizedTime: YYYYMMDDHHMMSS.
            (0x18, 14) => (digits[..4].parse().ok()?, &digits[4..]),
            _ => return None,
        };
        if !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let field = |i: usize| rest[i..i + 2].parse::<u8>().ok();
        let date =
            time::Date::from_calendar_date(year, time::Month::try_from(field(0)?).ok()?, field(2)?)
                .ok()?;
        let clock = time::Time::from_hms(field(4)?, field(6)?, field(8)?).ok()?;
        Some(
            time::PrimitiveDateTime::new(date, clock)
                .assume_utc()
                .unix_timestamp(),
        )
    }
    let (0x30, certificate, _) = element(der)? else {
        return None;
    };
    let (0x30, mut tbs, _) = element(certificate)? else {
        return None;
    };
    // [0] version (optional), serial number, signature algorithm, issuer.
    if tbs.first() == Some(&0xa0) {
        tbs = element(tbs)?.2;
    }
    for _ in 0..3 {
        tbs = element(tbs)?.2;
    }
    let (0x30, validity, _) = element(tbs)? else {
        return None;
    };
    let (tag, not_before, rest) = element(validity)?;
    let not_before = time(tag, not_before)?;
    let (tag, not_after, _) = element(rest)?;
    Some((not_before, time(tag, not_after)?))
}

/// Whether a certificate (DER) names [`HEAD_NAME`]: the head's own. Only
/// meaningful for one verified against the cluster CA.
pub fn is_head_cert(der: &CertificateDer<'_>) -> bool {
    let Ok(name) = rustls::pki_types::ServerName::try_from(HEAD_NAME) else {
        return false;
    };
    webpki::EndEntityCert::try_from(der)
        .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
}

/// This node's certificate as TLS presents it, replaced in place when
/// renewed: the control endpoint (as a server) and the mesh and heartbeats
/// (as a client) resolve through it, so new connections carry the new
/// certificate while open ones keep theirs.
pub struct LiveCert {
    paths: TlsPaths,
    current: ArcSwap<CertifiedKey>,
}

impl std::fmt::Debug for LiveCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCert")
            .field("expires_at_s", &self.expires_at_s())
            .finish_non_exhaustive()
    }
}

fn certified(identity: NodeIdentity) -> anyhow::Result<CertifiedKey> {
    use anyhow::Context as _;
    CertifiedKey::from_der(identity.chain, identity.key, &provider())
        .context("the node key does not match its certificate")
}

impl LiveCert {
    /// The identity loaded from `state_dir`.
    pub fn new(state_dir: &Path, identity: NodeIdentity) -> anyhow::Result<Self> {
        Ok(Self {
            paths: TlsPaths::new(state_dir),
            current: ArcSwap::from_pointee(certified(identity)?),
        })
    }

    fn leaf(&self) -> CertificateDer<'static> {
        self.current.load().cert[0].clone()
    }

    /// Unix time the current certificate expires (`None` if unreadable).
    pub fn expires_at_s(&self) -> Option<f64> {
        validity(&self.leaf()).map(|(_, not_after)| not_after as f64)
    }

    /// Whether the current certificate is the head's ([`HEAD_NAME`]).
    pub fn is_head(&self) -> bool {
        is_head_cert(&self.leaf())
    }

    /// Stores `key` and its certificate `cert_pem` as this node's, and
    /// presents them from now on. Blocking file I/O (run it off the async
    /// threads). Two files cannot be replaced in one step, so both go first
    /// into `node.next.pem`, then into place; a start that finds that file
    /// (a crash in between) completes the move.
    pub fn install(&self, key: &KeyPair, cert_pem: &str) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let key_pem = key.serialize_pem();
        let mut chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .context("the new certificate is not PEM")?;
        anyhow::ensure!(chain.len() == 1, "expected one new certificate");
        chain.extend(
            CertificateDer::pem_file_iter(&self.paths.ca_cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("cannot read {}", self.paths.ca_cert.display()))?,
        );
        let key_der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .context("cannot read back the new key")?;
        // Checked before anything is written: the key signs for the certificate.
        let next = certified(NodeIdentity {
            chain,
            key: key_der,
        })?;
        write_private(
            &self.paths.node_next,
            format!("{key_pem}{cert_pem}").as_bytes(),
            0o600,
        )
        .with_context(|| format!("cannot write {}", self.paths.node_next.display()))?;
        finish_install(&self.paths)?;
        self.current.store(Arc::new(next));
        Ok(())
    }
}

impl rustls::server::ResolvesServerCert for LiveCert {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl rustls::client::ResolvesClientCert for LiveCert {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Moves a renewed key and certificate from `node.next.pem` into
/// `node.key` and `node.crt`, if one is waiting (see [`LiveCert::install`]).
fn finish_install(paths: &TlsPaths) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let pem = match std::fs::read_to_string(&paths.node_next) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", paths.node_next.display()));
        }
    };
    let bad = || {
        format!(
            "{} is not a key followed by a certificate; remove it (the node keeps the \
             certificate it had, and the head renews it again)",
            paths.node_next.display()
        )
    };
    let split = pem.find("-----BEGIN CERTIFICATE-----").with_context(bad)?;
    let (key_pem, cert_pem) = pem.split_at(split);
    PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).with_context(bad)?;
    CertificateDer::from_pem_slice(cert_pem.as_bytes()).with_context(bad)?;
    write_private(&paths.node_key, key_pem.as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", paths.node_key.display()))?;
    write_private(&paths.node_cert, cert_pem.as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", paths.node_cert.display()))?;
    std::fs::remove_file(&paths.node_next)
        .with_context(|| format!("cannot remove {}", paths.node_next.display()))?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86400);

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn certificates_carry_their_lifetime_and_only_the_heads_names_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::new(dir.path());
        create(&paths, "node-head", 90 * DAY).unwrap();
        let issuer = CaIssuer::load(dir.path()).unwrap().unwrap();
        let now = 1_800_000_000.0;
        let node_key = KeyPair::generate().unwrap();
        let node = issuer
            .sign_node("node-a", node_key.public_key_raw(), 30 * DAY, now)
            .unwrap();
        assert_eq!(node.expires_at_s, now + 30.0 * 86400.0);
        assert_eq!(
            validity(&der(&node.cert_pem)),
            Some((now as i64 - BACKDATE_S, now as i64 + 30 * 86400))
        );
        assert_eq!(
            node.fingerprint,
            digest::cert_fingerprint(&der(&node.cert_pem))
        );
        let (_, head) = issuer.issue_head("node-head", 90 * DAY, now).unwrap();
        assert!(is_head_cert(&der(&head.cert_pem)));
        assert!(!is_head_cert(&der(&node.cert_pem)));
        // The first start's own certificate is the head's too.
        let first = std::fs::read_to_string(&paths.node_cert).unwrap();
        assert!(is_head_cert(&der(&first)));
        // Dates past 2049 are GeneralizedTime.
        let long = issuer
            .sign_node("node-a", node_key.public_key_raw(), 3650 * DAY * 3, now)
            .unwrap();
        assert_eq!(
            validity(&der(&long.cert_pem)).map(|v| v.1),
            Some(now as i64 + 3650 * 3 * 86400)
        );
    }

    #[test]
    fn validity_of_anything_else_is_none_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::new(dir.path());
        create(&paths, "node-head", DAY).unwrap();
        let good = der(&std::fs::read_to_string(&paths.node_cert).unwrap()).to_vec();
        assert!(validity(&good).is_some());
        for cut in 0..good.len() {
            assert_eq!(validity(&good[..cut]), None, "cut at {cut}");
        }
        for bytes in [
            &b""[..],
            b"\x30",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x80",
            b"hello",
        ] {
            assert_eq!(validity(bytes), None);
        }
        // Every single-byte change is read or refused, never a panic.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x5a;
            let _ = validity(&bad);
        }
    }

    #[test]
    fn renewal_is_due_in_the_last_third_and_at_once_for_certificates_without_expiry() {
        let life = 90 * DAY;
        let issued = 1000.0;
        let expires = Some(issued + life.as_secs_f64());
        assert!(!renewal_due(expires, life, issued));
        assert!(!renewal_due(expires, life, issued + 59.0 * 86400.0));
        assert!(renewal_due(expires, life, issued + 61.0 * 86400.0));
        assert!(renewal_due(None, life, issued));
    }

    #[test]
    fn an_install_replaces_the_presented_certificate_and_a_crash_midway_is_completed() {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::new(dir.path());
        let identity = load_or_create(dir.path(), "node-head", DAY).unwrap();
        let live = LiveCert::new(dir.path(), identity).unwrap();
        let before = live.expires_at_s().unwrap();
        assert!(live.is_head());
        let issuer = CaIssuer::load(dir.path()).unwrap().unwrap();
        let (key, issued) = issuer
            .issue_head("node-head", 2 * DAY, crate::unix_now_s())
            .unwrap();
        live.install(&key, &issued.cert_pem).unwrap();
        assert_eq!(live.expires_at_s(), Some(issued.expires_at_s));
        assert!(live.expires_at_s().unwrap() > before);
        assert!(!paths.node_next.exists());
        assert_eq!(
            std::fs::read_to_string(&paths.node_cert).unwrap(),
            issued.cert_pem
        );
        // A key that is not the certificate's is refused before anything is written.
        let other = KeyPair::generate().unwrap();
        let (_, again) = issuer
            .issue_head("node-head", 3 * DAY, crate::unix_now_s())
            .unwrap();
        assert!(live.install(&other, &again.cert_pem).is_err());
        assert_eq!(live.expires_at_s(), Some(issued.expires_at_s));
        // A crash after `node.next.pem` was written: the next start completes it.
        let (key, next) = issuer
            .issue_head("node-head", 4 * DAY, crate::unix_now_s())
            .unwrap();
        write_private(
            &paths.node_next,
            format!("{}{}", key.serialize_pem(), next.cert_pem).as_bytes(),
            0o600,
        )
        .unwrap();
        let identity = load_or_create(dir.path(), "node-head", DAY).unwrap();
        let live = LiveCert::new(dir.path(), identity).unwrap();
        assert_eq!(live.expires_at_s(), Some(next.expires_at_s));
        assert!(!paths.node_next.exists());
        // A damaged one is named, with what to do.
        std::fs::write(&paths.node_next, "garbage").unwrap();
        let err = load_or_create(dir.path(), "node-head", DAY).unwrap_err();
        assert!(format!("{err:#}").contains("node.next.pem"), "{err:#}");
    }
}
