//! `nodes.json`: the head's membership records (advert, certificates, join
//! time), checked on load as a join checks them and written off the async
//! threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rserve_protocol::wire::NodeAdvert;
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::membership::{IssuedCert, MemberCerts, Membership};
use crate::digest;
use crate::state_dir::StateFileError;

/// A membership record as persisted by the head.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MemberRecord {
    advert: NodeAdvert,
    /// The node's newest certificate.
    cert_fingerprint: String,
    /// When it expires (absent in records from before certificates expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cert_expires_at_s: Option<f64>,
    /// The one it replaced, taken until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_cert: Option<IssuedCert>,
    joined_at_s: f64,
}

impl MemberRecord {
    /// What a join would have refused, as `field: reason`.
    fn check(&self) -> Result<(), String> {
        self.advert.check().map_err(|e| format!("advert.{e}"))?;
        let cert = |field: &str, fingerprint: &str, expires_at_s: Option<f64>| {
            if !digest::is_sha256_hex(fingerprint) {
                return Err(format!(
                    "{field}fingerprint `{fingerprint}` is not a SHA-256 in hex"
                ));
            }
            match expires_at_s {
                Some(at) if !(at.is_finite() && at >= 0.0) => {
                    Err(format!("{field}expires_at_s {at} is not a time"))
                }
                _ => Ok(()),
            }
        };
        cert("cert_", &self.cert_fingerprint, self.cert_expires_at_s)?;
        if let Some(p) = &self.previous_cert {
            cert("previous_cert.", &p.fingerprint, p.expires_at_s)?;
        }
        if !(self.joined_at_s.is_finite() && self.joined_at_s >= 0.0) {
            return Err(format!("joined_at_s {} is not a time", self.joined_at_s));
        }
        Ok(())
    }

    fn certs(&self) -> MemberCerts {
        MemberCerts {
            current: IssuedCert {
                fingerprint: self.cert_fingerprint.clone(),
                expires_at_s: self.cert_expires_at_s,
            },
            previous: self.previous_cert.clone(),
        }
    }
}

/// `nodes.json`, written off the async threads: each save takes a snapshot
/// (under the membership lock the caller holds) and writes it on the blocking
/// pool; a write older than one already made is skipped, so the file ends
/// with the newest snapshot whatever order the writes run in.
#[derive(Debug)]
pub(super) struct NodesFile {
    path: PathBuf,
    /// Snapshots taken.
    generation: AtomicU64,
    /// The newest snapshot written.
    written: Mutex<u64>,
}

impl NodesFile {
    /// `<state dir>/nodes.json`.
    pub(super) fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("nodes.json"),
            generation: AtomicU64::new(0),
            written: Mutex::new(0),
        }
    }

    /// The persisted members as `(advert, certificates, joined at)`, each
    /// checked as a join checks it (the file may have been edited); none if
    /// there is no file.
    pub(super) fn load(&self) -> Result<Vec<(NodeAdvert, MemberCerts, f64)>, StateFileError> {
        let Ok(bytes) = std::fs::read(&self.path) else {
            return Ok(Vec::new());
        };
        let corrupt = |reason: String| StateFileError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let records: Vec<MemberRecord> =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        for (i, r) in records.iter().enumerate() {
            r.check().map_err(|e| corrupt(format!("[{i}].{e}")))?;
        }
        Ok(records
            .into_iter()
            .map(|r| {
                let certs = r.certs();
                (r.advert, certs, r.joined_at_s)
            })
            .collect())
    }

    /// Persists a snapshot of `membership`, off the async threads.
    pub(super) fn save(self: &Arc<Self>, membership: &Membership) {
        let records: Vec<MemberRecord> = membership
            .records()
            .into_iter()
            .map(|(advert, certs, joined_at_s)| MemberRecord {
                advert,
                cert_fingerprint: certs.current.fingerprint,
                cert_expires_at_s: certs.current.expires_at_s,
                previous_cert: certs.previous,
                joined_at_s,
            })
            .collect();
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let file = self.clone();
        let write = move || {
            let mut written = file.written.lock().unwrap();
            if *written > generation {
                return;
            }
            let bytes = serde_json::to_vec_pretty(&records).expect("records serialise");
            match crate::state_dir::write_atomic(&file.path, &bytes) {
                Ok(()) => *written = generation,
                Err(e) => warn!(error = %format!("{e:#}"), "Cannot persist the node list."),
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(write)),
            Err(_) => write(),
        }
    }
}
