//! Checked-in expected files (man pages, completions, output snapshots, generated
//! doc sections): compare, or rewrite them when `RSERVE_REGENERATE` is set.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether this test run rewrites the expected files instead of checking them
/// (`RSERVE_REGENERATE=1 cargo test -p rserve`; a dev-only switch, so a plain
/// variable rather than a flag).
pub fn regenerating() -> bool {
    std::env::var_os("RSERVE_REGENERATE").is_some()
}

/// Compares `actual` with the file at `path` (relative to the repository root),
/// or writes it when regenerating. Returns the path when they differ.
pub fn check(path: &str, actual: &[u8]) -> Option<String> {
    let full = root().join(path);
    if regenerating() {
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&full, actual).unwrap();
        return None;
    }
    (std::fs::read(&full).ok().as_deref() != Some(actual)).then(|| path.to_owned())
}

/// Fails the test naming every stale file and the command that refreshes them.
pub fn assert_fresh(stale: &[String], test: &str) {
    assert!(
        stale.is_empty(),
        "stale expected files {stale:?}; if the change is intended, run \
         `RSERVE_REGENERATE=1 cargo test -p rserve {test}` and review the diff"
    );
}
