//! The node's state directory: its lock (one node per directory), the files
//! in it that are not the controller's (`node_id`, `node.json`), and how every
//! file in it is written — atomically and durably, so a crash leaves the old
//! file or the new one, never a torn one.
//!
//! The controller's desired state (`state.json`, through [`write_durably`]),
//! the cluster's files (`cluster.json`, `nodes.json`, `join_tokens.json`),
//! `node_id` and `node.json` (through [`write_atomic`]) and the TLS material
//! (`tls/`, through [`write_private`]) all take this one path.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// Why a state directory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another node holds it; the message names that node.
    #[error("{0}")]
    Held(String),
    /// It could not be created, opened or locked (permissions, disk).
    #[error("{0:#}")]
    Io(#[from] anyhow::Error),
}

/// A state directory, locked for this process's life.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Creates the directory (0700) if needed and takes its lock. Fails with a
    /// message naming the running node when another one holds it.
    pub fn lock(path: &Path) -> Result<Self, LockError> {
        create_private_dir(path)?;
        let lock_path = path.join("node.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Self {
                path: path.to_owned(),
                _lock: file,
            }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = NodeFile::read(path)
                    .map(|f| {
                        format!(
                            " (pid {}, http {}, control {})",
                            f.pid, f.http_address, f.control_address
                        )
                    })
                    .unwrap_or_default();
                Err(LockError::Held(format!(
                    "another rserve node is already running with state dir {}{holder}; stop it with `rserve down` or use another --state-dir",
                    path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(anyhow::Error::new(e)
                .context(format!("cannot lock {}", lock_path.display()))
                .into()),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This node's id, created (`node-<hex>`) on first start.
    pub fn node_id(&self) -> anyhow::Result<String> {
        let path = self.path.join("node_id");
        if let Ok(id) = std::fs::read_to_string(&path)
            && !id.trim().is_empty()
        {
            return Ok(id.trim().to_owned());
        }
        let id = format!("node-{:012x}", rand::random::<u64>() >> 16);
        write_atomic(&path, format!("{id}\n").as_bytes())?;
        Ok(id)
    }
}

/// A state file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// Reading or writing failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file exists but is not a valid state file.
    #[error(
        "state file {path} is corrupt ({reason}); it was left untouched: restore it from a backup or move it away to start empty"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
}

/// Whether a node process holds the lock of `state_dir` right now.
pub fn is_running(state_dir: &Path) -> bool {
    match File::open(state_dir.join("node.lock")) {
        Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// What a running node advertises in `<state dir>/node.json`, so that a CLI
/// pointed at the state dir finds it (useful with ephemeral ports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeFile {
    /// The node's process id.
    pub pid: u32,
    /// Node id.
    pub node_id: String,
    /// Bound HTTP address.
    pub http_address: std::net::SocketAddr,
    /// Bound control address.
    pub control_address: std::net::SocketAddr,
}

impl NodeFile {
    /// `<state dir>/node.json`.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("node.json")
    }

    /// Reads the file of a running (or crashed) node, if any.
    pub fn read(state_dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(Self::path(state_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create state dir {}", dir.display()))
}

/// Replaces `path` with `bytes` atomically and durably: write a temporary
/// file, fsync it, rename it over `path`, fsync the directory.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o666)
}

/// [`write_durably`] with the path in the error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_durably(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// [`write_durably`] with the file's permission bits (keys: 0600).
pub fn write_private(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    write_with_mode(path, bytes, mode)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn one_node_per_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let held = StateDir::lock(dir.path()).unwrap();
        assert!(is_running(dir.path()));
        let err = StateDir::lock(dir.path()).unwrap_err().to_string();
        assert!(err.contains("already running with state dir"), "{err}");
        drop(held);
        assert!(!is_running(dir.path()));
    }

    #[test]
    fn the_node_id_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateDir::lock(dir.path()).unwrap().node_id().unwrap();
        assert!(first.starts_with("node-"), "{first}");
        let again = StateDir::lock(dir.path()).unwrap().node_id().unwrap();
        assert_eq!(first, again);
    }

    #[test]
    fn private_files_keep_their_mode_and_leave_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        write_private(&path, b"k", 0o600).unwrap();
        write_private(&path, b"k2", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"k2");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.path().join("secret.tmp").exists());
    }
}
