//! The controller's persisted desired state: which applications are deployed.
//!
//! One JSON file in the state dir, replaced atomically (write a temp file, fsync,
//! rename, fsync the directory), so a crash at any point leaves either the old or
//! the new state, never a torn one. A file that cannot be parsed stops the node with
//! an error naming it; it is never overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rserve_protocol::AppFile;
use rserve_protocol::config::AppConfig;
use serde::{Deserialize, Serialize};

use crate::state_dir::StateFileError;

/// Version of the state file's format.
const FORMAT_VERSION: u32 = 1;

/// One deployed application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    /// The config as last deployed.
    pub config: AppConfig,
    /// Unix time of the deploy that set it.
    pub deployed_at_s: f64,
}

/// Everything the controller must remember across restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DesiredState {
    /// Applications by name.
    pub applications: BTreeMap<String, AppRecord>,
}

impl DesiredState {
    /// Checks every application as a deploy checks its file (an edited or
    /// damaged state file must not reach the controller): each one's keys,
    /// under its name, then what must be unique across them.
    fn validate(&self) -> Result<(), String> {
        for (name, record) in &self.applications {
            if &record.config.name != name {
                return Err(format!(
                    "applications.{name}: its config names application `{}`",
                    record.config.name
                ));
            }
            let one = AppFile {
                applications: vec![record.config.clone()],
            };
            one.validate(&format!("applications.{name}"))
                .map_err(|e| e.to_string().replace("applications[0].", "config."))?;
        }
        let all = AppFile {
            applications: self
                .applications
                .values()
                .map(|r| r.config.clone())
                .collect(),
        };
        if all.applications.is_empty() {
            return Ok(());
        }
        all.validate("the applications together")
            .map_err(|e| e.to_string())
    }
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    format_version: u32,
    #[serde(flatten)]
    state: DesiredState,
}

/// Reads and writes `state.json` in the state dir.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The store in `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("state.json"),
        }
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the desired state; a missing file is an empty state.
    pub fn load(&self) -> Result<DesiredState, StateFileError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DesiredState::default());
            }
            Err(source) => return Err(self.io(source)),
        };
        let corrupt = |reason: String| StateFileError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if file.format_version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {} is not {FORMAT_VERSION}",
                file.format_version
            )));
        }
        file.state.validate().map_err(corrupt)?;
        Ok(file.state)
    }

    /// Replaces the desired state atomically and durably.
    pub fn save(&self, state: &DesiredState) -> Result<(), StateFileError> {
        let file = StateFile {
            format_version: FORMAT_VERSION,
            state: state.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).expect("state serialises");
        crate::state_dir::write_durably(&self.path, &bytes).map_err(|e| self.io(e))
    }

    fn io(&self, source: std::io::Error) -> StateFileError {
        StateFileError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DesiredState {
        let file = AppFile::parse(
            "t.toml",
            "[[applications]]\nname = \"a\"\n[[applications.deployments]]\nname = \"d\"\nreplica = { kind = \"echo\" }\n",
        )
        .unwrap();
        let mut state = DesiredState::default();
        state.applications.insert(
            "a".into(),
            AppRecord {
                config: file.applications[0].clone(),
                deployed_at_s: 1.5,
            },
        );
        state
    }

    #[test]
    fn save_then_load_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert_eq!(store.load().unwrap(), DesiredState::default());
        store.save(&sample()).unwrap();
        assert_eq!(store.load().unwrap(), sample());
        assert!(!dir.path().join("state.tmp").exists());
    }

    #[test]
    fn impossible_values_in_the_file_are_refused_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let mut state = sample();
        let record = state.applications.get_mut("a").unwrap();
        record.config.deployments[0].health_check_period_s = -1.0;
        store.save(&state).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains("corrupt (applications.a: config.deployments[0].health_check_period_s:"),
            "{err}"
        );
        state
            .applications
            .get_mut("a")
            .unwrap()
            .config
            .deployments
            .clear();
        store.save(&state).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains("config.deployments: at least one deployment is required"),
            "{err}"
        );
        let mut renamed = sample();
        let record = renamed.applications.remove("a").unwrap();
        renamed.applications.insert("b".into(), record);
        store.save(&renamed).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains("applications.b: its config names application `a`"),
            "{err}"
        );
    }

    #[test]
    fn a_corrupt_file_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        std::fs::write(
            store.path(),
            b"{\"format_version\": 1, \"applications\": {\"a\": 3",
        )
        .unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains("state.json") && err.contains("corrupt"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(store.path()).unwrap(),
            b"{\"format_version\": 1, \"applications\": {\"a\": 3"
        );
    }
}
