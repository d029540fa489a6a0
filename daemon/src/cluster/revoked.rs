//! Certificates of nodes an operator removed (`rserve nodes remove`): the
//! head keeps them in `<state dir>/revoked_nodes.json` and sends them with
//! every heartbeat answer; every node refuses calls made with them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::state_dir::StateFileError;

/// The fingerprints (SHA-256, hex) of revoked certificates.
#[derive(Debug, Default)]
pub struct Revoked {
    fingerprints: RwLock<BTreeSet<String>>,
}

/// One removed node, as the head keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemovedNode {
    /// The node.
    pub node_id: String,
    /// Its certificate's SHA-256 (hex).
    pub cert_fingerprint: String,
    /// Unix time of the removal.
    pub removed_at_s: f64,
}

impl Revoked {
    /// Whether `fingerprint` was revoked.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.fingerprints.read().unwrap().contains(fingerprint)
    }

    /// Every revoked fingerprint.
    pub fn all(&self) -> Vec<String> {
        self.fingerprints.read().unwrap().iter().cloned().collect()
    }

    /// Replaces the set (a member, from the head's heartbeat answer).
    pub fn replace(&self, fingerprints: Vec<String>) {
        *self.fingerprints.write().unwrap() = fingerprints.into_iter().collect();
    }

    /// Adds one.
    pub fn insert(&self, fingerprint: String) {
        self.fingerprints.write().unwrap().insert(fingerprint);
    }
}

/// `<state dir>/revoked_nodes.json`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("revoked_nodes.json")
}

/// The removed nodes recorded in `state_dir` (none when the file is absent);
/// a record that is not a node id and a SHA-256 stops the node (exit 78).
pub fn load(state_dir: &Path) -> Result<Vec<RemovedNode>, StateFileError> {
    let path = path(state_dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(StateFileError::Io { path, source }),
    };
    let corrupt = |reason: String| StateFileError::Corrupt {
        path: path.clone(),
        reason,
    };
    let removed: Vec<RemovedNode> =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    for (i, r) in removed.iter().enumerate() {
        rserve_protocol::config::check_plain_name(&r.node_id)
            .map_err(|e| corrupt(format!("[{i}].node_id {e}")))?;
        if !crate::digest::is_sha256_hex(&r.cert_fingerprint) {
            return Err(corrupt(format!(
                "[{i}].cert_fingerprint is not a SHA-256 in hex"
            )));
        }
    }
    Ok(removed)
}

/// Writes the removed nodes (atomically, 0600).
pub fn save(state_dir: &Path, removed: &[RemovedNode]) -> anyhow::Result<()> {
    crate::state_dir::write_atomic(&path(state_dir), &serde_json::to_vec_pretty(removed)?)
}
