//! Real weights for tests: fetched by `scripts/fetch-models.sh` when missing, so
//! the README's test command runs the real-weight tests on a fresh machine.

use std::path::PathBuf;
use std::sync::OnceLock;

use rserve_models::Device;

/// The repository root: where the tests were built, or `RSERVE_TEST_ROOT` (for
/// test binaries copied to another machine, such as a GPU box).
fn root() -> PathBuf {
    std::env::var_os("RSERVE_TEST_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")))
}

/// The device the model tests run on: `RSERVE_TEST_DEVICE` (`cpu` by default;
/// `cuda` in a build with `--features cuda`, on a machine with a GPU).
pub fn device() -> Device {
    std::env::var("RSERVE_TEST_DEVICE").map_or(Device::Cpu, |d| d.parse().unwrap())
}

/// The repository's `models/` folder, with every model fetched.
pub fn models_dir() -> PathBuf {
    static FETCHED: OnceLock<PathBuf> = OnceLock::new();
    FETCHED
        .get_or_init(|| {
            let root = root();
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
    let path = root().join("tests/fixtures").join(name);
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
