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

    /// This node's id: `given` (`--node-name`, e.g. a StatefulSet pod's
    /// stable name), or the one recorded, or a new `node-<hex>` on first
    /// start. One that is not a plain name (an edited or damaged file) is
    /// refused: it names the node's files, certificate and records across
    /// the cluster. A given name that differs from the recorded one is
    /// refused too: the state dir's certificate names the recorded one.
    pub fn node_id(&self, given: Option<&str>) -> Result<String, StateFileError> {
        let path = self.path.join("node_id");
        let io = |source| StateFileError::Io {
            path: path.clone(),
            source,
        };
        if let Some(given) = given {
            rserve_protocol::config::check_plain_name(given).map_err(|reason| {
                StateFileError::Corrupt {
                    path: path.clone(),
                    reason: format!("the node name `{given}` (--node-name) {reason}"),
                }
            })?;
        }
        match std::fs::read_to_string(&path) {
            Ok(id) if !id.trim().is_empty() => {
                let id = id.trim();
                rserve_protocol::config::check_plain_name(id).map_err(|reason| {
                    StateFileError::Corrupt {
                        path: path.clone(),
                        reason: format!("the node id `{id}` {reason}"),
                    }
                })?;
                if let Some(given) = given
                    && given != id
                {
                    return Err(StateFileError::Corrupt {
                        path: path.clone(),
                        reason: format!(
                            "this state dir belongs to node `{id}`, not `{given}` (--node-name); \
                             start it with its own name, or use a fresh --state-dir"
                        ),
                    });
                }
                return Ok(id.to_owned());
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let id = match given {
            Some(given) => given.to_owned(),
            None => format!("node-{:012x}", rand::random::<u64>() >> 16),
        };
        write_durably(&path, format!("{id}\n").as_bytes()).map_err(io)?;
        Ok(id)
    }

    /// Enforces, on every start, who may read what the state dir holds: the
    /// directory and `tls/` are made 0700, `bookkeeping` files (no secret
    /// in them) 0600; a `secret` (key, token) that others could read is
    /// refused with the command that fixes it, since it may have been read
    /// already (fix it, and rotate it if so). Absent files are skipped; a
    /// file that is a symbolic link is refused (the directories may be links,
    /// as a state dir moved to another disk often is).
    pub fn enforce_modes(
        &self,
        secrets: &[PathBuf],
        bookkeeping: &[PathBuf],
    ) -> Result<(), StateFileError> {
        use std::os::unix::fs::PermissionsExt;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StateFileError::Io { path, source }
        };
        // A file's metadata (none when absent); a file that is a link is
        // refused, while the state dir and `tls/` are followed.
        let inspect = |path: &Path| -> Result<Option<std::fs::Metadata>, StateFileError> {
            let meta = if path == self.path || path == self.path.join("tls") {
                std::fs::metadata(path)
            } else {
                std::fs::symlink_metadata(path)
            };
            match meta {
                Ok(meta) if meta.file_type().is_symlink() => Err(StateFileError::Insecure {
                    path: path.to_owned(),
                    reason: "is a symbolic link; state files must be the files themselves"
                        .to_owned(),
                }),
                Ok(meta) => Ok(Some(meta)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io(path)(e)),
            }
        };
        let set = |path: &Path, mode: u32| -> Result<(), StateFileError> {
            match inspect(path)? {
                Some(meta) if meta.permissions().mode() & 0o777 != mode => {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                        .map_err(io(path))
                }
                _ => Ok(()),
            }
        };
        set(&self.path, 0o700)?;
        set(&self.path.join("tls"), 0o700)?;
        for path in bookkeeping {
            set(path, 0o600)?;
        }
        for path in secrets {
            let Some(meta) = inspect(path)? else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(StateFileError::Insecure {
                    path: path.clone(),
                    reason: format!(
                        "holds a secret but other users may read it (mode {mode:03o}); run \
                         `chmod 600 {}`, and rotate it if someone else may have read it",
                        path.display()
                    ),
                });
            }
        }
        Ok(())
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
    /// The file's permissions or kind make it unsafe to use.
    #[error("state file {path} {reason}")]
    Insecure {
        /// The file.
        path: PathBuf,
        /// What is wrong, and the fix.
        reason: String,
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
/// file, fsync it, rename it over `path`, fsync the directory. Readable by
/// the node's user only (0600).
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o600)
}

/// [`write_durably`] with the path in the error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_durably(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// [`write_durably`] with the file's permission bits (keys: 0600).
pub fn write_private(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    write_with_mode(path, bytes, mode)
}

/// The temporary file is new (`O_EXCL`: never an existing file, nor one a
/// symbolic link planted at its name points to), with a random name, and
/// removed if anything fails before the rename.
fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
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
        let first = StateDir::lock(dir.path()).unwrap().node_id(None).unwrap();
        assert!(first.starts_with("node-"), "{first}");
        let again = StateDir::lock(dir.path()).unwrap().node_id(None).unwrap();
        assert_eq!(first, again);
    }

    #[test]
    fn a_given_node_name_is_recorded_and_must_match_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::lock(dir.path()).unwrap();
        assert_eq!(
            state.node_id(Some("rserve-pool-cpu-1")).unwrap(),
            "rserve-pool-cpu-1"
        );
        assert_eq!(state.node_id(None).unwrap(), "rserve-pool-cpu-1");
        assert_eq!(
            state.node_id(Some("rserve-pool-cpu-1")).unwrap(),
            "rserve-pool-cpu-1"
        );
        let err = state
            .node_id(Some("rserve-pool-cpu-2"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("belongs to node `rserve-pool-cpu-1`, not `rserve-pool-cpu-2`"),
            "{err}"
        );
        let err = state.node_id(Some("a/b")).unwrap_err().to_string();
        assert!(err.contains("the node name `a/b` (--node-name)"), "{err}");
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
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temp file left: {left:?}");
    }

    #[test]
    fn a_link_planted_at_a_temp_name_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"untouched").unwrap();
        // The old fixed temp name of state.json, and a link in its place.
        std::os::unix::fs::symlink(&victim, dir.path().join("state.tmp")).unwrap();
        write_durably(&dir.path().join("state.json"), b"{}").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        assert_eq!(std::fs::read(dir.path().join("state.json")).unwrap(), b"{}");
    }

    #[test]
    fn a_bad_node_id_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("node_id"), "../../etc/passwd\n").unwrap();
        let err = StateDir::lock(dir.path())
            .unwrap()
            .node_id(None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("node_id is corrupt"), "{err}");
        assert!(err.contains("`../../etc/passwd`"), "{err}");
    }

    #[test]
    fn modes_are_enforced_and_readable_secrets_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let held = StateDir::lock(&state).unwrap();
        std::fs::create_dir(state.join("tls")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let chmod = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        };
        chmod(&state, 0o755);
        chmod(&state.join("tls"), 0o777);
        let (key, list) = (state.join("tls/node.key"), state.join("nodes.json"));
        std::fs::write(&key, "k").unwrap();
        std::fs::write(&list, "[]").unwrap();
        chmod(&key, 0o644);
        chmod(&list, 0o644);
        let err = held
            .enforce_modes(std::slice::from_ref(&key), std::slice::from_ref(&list))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mode 644"), "{err}");
        assert!(
            err.contains(&format!("chmod 600 {}", key.display())),
            "{err}"
        );
        // What holds no secret was fixed on the way.
        assert_eq!(
            (mode(&state), mode(&state.join("tls")), mode(&list)),
            (0o700, 0o700, 0o600)
        );
        chmod(&key, 0o600);
        held.enforce_modes(&[key], &[list]).unwrap();
        // A state dir that is a link (moved to another disk) is fine; a key
        // that is a link is not.
        drop(held);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&state, &link).unwrap();
        let held = StateDir::lock(&link).unwrap();
        held.enforce_modes(&[link.join("tls/node.key")], &[])
            .unwrap();
        std::fs::rename(state.join("tls/node.key"), state.join("tls/real.key")).unwrap();
        std::os::unix::fs::symlink(state.join("tls/real.key"), state.join("tls/node.key")).unwrap();
        let err = held
            .enforce_modes(&[link.join("tls/node.key")], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
    }
}
