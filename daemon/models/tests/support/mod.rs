//! Real weights for tests: fetched by `scripts/fetch-models.sh` when missing, so
//! the README's test command runs the real-weight tests on a fresh machine.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The repository's `models/` folder, with every model fetched.
pub fn models_dir() -> PathBuf {
    static FETCHED: OnceLock<PathBuf> = OnceLock::new();
    FETCHED
        .get_or_init(|| {
            let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
            // Test binaries run in parallel: serialise fetches with a file lock.
            std::fs::create_dir_all(root.join("models")).unwrap();
            let lock = std::fs::File::create(root.join("models/.fetch.lock")).unwrap();
            lock.lock().unwrap();
            let status = std::process::Command::new("bash")
                .arg(root.join("scripts/fetch-models.sh"))
                .status()
                .expect("run scripts/fetch-models.sh");
            assert!(status.success(), "scripts/fetch-models.sh failed: {status}");
            root.join("models")
        })
        .clone()
}

/// A fixture written by `scripts/reference.py` (`tests/fixtures/<name>`).
pub fn fixture(name: &str) -> serde_json::Value {
    let path =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures")).join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A JSON array of token ids.
pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}
