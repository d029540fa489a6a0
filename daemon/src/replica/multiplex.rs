//! Model multiplexing (Ray's `@serve.multiplexed`): many models of one
//! architecture served by one pool of replicas. A replica loads a model on first
//! use into an LRU cache capped at `max_num_models_per_replica`; the router sees
//! each replica's models ([`ModelSet`]) and prefers replicas that hold the
//! requested one.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use rserve_protocol::config::MultiplexingConfig;

/// The request header that names the model (Ray's `SERVE_MULTIPLEXED_MODEL_ID`).
pub const MODEL_ID_HEADER: &str = "serve_multiplexed_model_id";

/// A replica's models as the router sees them: those loaded (least recently used
/// first) and those with requests routed but not finished (loading, or about to).
#[derive(Debug, Default)]
pub struct ModelSet {
    inner: Mutex<ModelSetInner>,
}

#[derive(Debug, Default)]
struct ModelSetInner {
    loaded: Vec<String>,
    routed: HashMap<String, u32>,
    loads: u64,
    evictions: u64,
}

impl ModelSet {
    /// Whether the replica holds `id` or is about to (a request for it is routed).
    pub fn holds(&self, id: &str) -> bool {
        let inner = self.inner.lock().unwrap();
        inner.loaded.iter().any(|m| m == id) || inner.routed.contains_key(id)
    }

    /// Models held or about to be.
    pub fn count(&self) -> usize {
        let inner = self.inner.lock().unwrap();
        inner.loaded.len()
            + inner
                .routed
                .keys()
                .filter(|k| !inner.loaded.contains(k))
                .count()
    }

    /// A request for `id` was routed here.
    pub fn routed(&self, id: &str) {
        *self
            .inner
            .lock()
            .unwrap()
            .routed
            .entry(id.to_owned())
            .or_insert(0) += 1;
    }

    /// A request for `id` routed here has finished.
    pub fn finished(&self, id: &str) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(n) = inner.routed.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                inner.routed.remove(id);
            }
        }
    }

    /// Publishes the models loaded now, least recently used first.
    pub fn set_loaded(&self, ids: Vec<String>) {
        self.inner.lock().unwrap().loaded = ids;
    }

    /// Publishes a cache's state: loaded ids, loads and evictions so far.
    pub fn publish<M>(&self, cache: &ModelCache<M>) {
        let mut inner = self.inner.lock().unwrap();
        inner.loaded = cache.ids();
        inner.loads = cache.loads;
        inner.evictions = cache.evictions;
    }

    /// Model loads and evictions so far.
    pub fn load_counts(&self) -> (u64, u64) {
        let inner = self.inner.lock().unwrap();
        (inner.loads, inner.evictions)
    }

    /// The models loaded now, least recently used first.
    pub fn loaded(&self) -> Vec<String> {
        self.inner.lock().unwrap().loaded.clone()
    }
}

/// Where the weights of each model id are.
#[derive(Debug, Clone)]
pub struct ModelRepository {
    /// `<id>.safetensors` files here are models.
    dir: Option<PathBuf>,
    /// Explicit ids → files (checked first).
    files: BTreeMap<String, PathBuf>,
}

impl ModelRepository {
    /// The repository a deployment's `multiplexing` table describes.
    pub fn new(config: &MultiplexingConfig) -> Self {
        Self {
            dir: config.models_dir.as_ref().map(PathBuf::from),
            files: config
                .models
                .iter()
                .map(|(id, path)| (id.clone(), PathBuf::from(path)))
                .collect(),
        }
    }

    /// The weights file of `id`, if the repository has it. Ids in the directory
    /// are plain names (no path separators), so a request cannot reach outside it.
    pub fn resolve(&self, id: &str) -> Option<PathBuf> {
        if let Some(path) = self.files.get(id) {
            return Some(path.clone());
        }
        let plain = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !id.starts_with('.');
        let path = self.dir.as_ref()?.join(format!("{id}.safetensors"));
        (plain && path.is_file()).then_some(path)
    }
}

/// Why a model could not be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelLoadError {
    /// The repository has no such model.
    #[error("model `{0}` is not in this deployment's model repository")]
    Unknown(String),
    /// Loading failed.
    #[error("model `{id}` failed to load: {reason}")]
    Failed {
        /// The model.
        id: String,
        /// Why.
        reason: String,
    },
}

/// The per-replica LRU cache of loaded models (lives on the compute thread).
#[derive(Debug)]
pub struct ModelCache<M> {
    /// Most models kept (0 = no limit).
    cap: usize,
    /// Least recently used first.
    entries: Vec<(String, M)>,
    /// Loads and evictions so far.
    pub loads: u64,
    /// Evictions so far.
    pub evictions: u64,
}

impl<M> ModelCache<M> {
    /// An empty cache holding at most `cap` models (Ray: 0 or less = no limit).
    pub fn new(cap: i64) -> Self {
        Self {
            cap: usize::try_from(cap).unwrap_or(0),
            entries: Vec::new(),
            loads: 0,
            evictions: 0,
        }
    }

    /// The model `id`, loaded with `load` if absent; the least recently used
    /// model is evicted (dropped) when the cache is over its cap.
    pub fn get_or_load(
        &mut self,
        id: &str,
        load: impl FnOnce() -> Result<M, ModelLoadError>,
    ) -> Result<&M, ModelLoadError> {
        match self.entries.iter().position(|(k, _)| k == id) {
            Some(i) => {
                let entry = self.entries.remove(i);
                self.entries.push(entry);
            }
            None => {
                let model = load()?;
                self.loads += 1;
                self.entries.push((id.to_owned(), model));
                if self.cap > 0 && self.entries.len() > self.cap {
                    self.entries.remove(0);
                    self.evictions += 1;
                }
            }
        }
        Ok(&self.entries.last().expect("just pushed").1)
    }

    /// Loaded ids, least recently used first.
    pub fn ids(&self) -> Vec<String> {
        self.entries.iter().map(|(k, _)| k.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_evicts_the_least_recently_used_past_the_cap() {
        let mut cache = ModelCache::new(3);
        let mut loads = Vec::new();
        let mut get = |cache: &mut ModelCache<String>, id: &str| {
            cache
                .get_or_load(id, || {
                    loads.push(id.to_owned());
                    Ok(format!("weights of {id}"))
                })
                .unwrap()
                .clone()
        };
        assert_eq!(get(&mut cache, "a"), "weights of a");
        get(&mut cache, "b");
        get(&mut cache, "c");
        get(&mut cache, "a"); // a is now the most recent: b is the LRU
        assert_eq!(cache.ids(), ["b", "c", "a"]);
        get(&mut cache, "d"); // evicts b
        assert_eq!(cache.ids(), ["c", "a", "d"]);
        get(&mut cache, "b"); // evicts c, loads b again
        assert_eq!(cache.ids(), ["a", "d", "b"]);
        assert_eq!(loads, ["a", "b", "c", "d", "b"]);
        assert_eq!((cache.loads, cache.evictions), (5, 2));
    }

    #[test]
    fn no_limit_and_failed_loads_leave_the_cache_as_it_was() {
        let mut cache = ModelCache::<u32>::new(-1);
        for i in 0..10 {
            cache.get_or_load(&i.to_string(), || Ok(i)).unwrap();
        }
        assert_eq!(cache.ids().len(), 10);
        let mut small = ModelCache::<u32>::new(1);
        small.get_or_load("a", || Ok(1)).unwrap();
        let err = small
            .get_or_load("b", || Err(ModelLoadError::Unknown("b".into())))
            .unwrap_err();
        assert_eq!(err, ModelLoadError::Unknown("b".into()));
        assert_eq!(small.ids(), ["a"], "a failed load evicts nothing");
    }

    #[test]
    fn the_router_view_counts_loaded_and_routed_models() {
        let set = ModelSet::default();
        set.set_loaded(vec!["a".into(), "b".into()]);
        set.routed("b");
        set.routed("c");
        assert!(set.holds("c") && set.holds("a") && !set.holds("d"));
        assert_eq!(set.count(), 3);
        set.finished("c");
        assert!(!set.holds("c"));
        assert_eq!(set.count(), 2);
    }

    #[test]
    fn repository_ids_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m1.safetensors"), b"x").unwrap();
        let repo = ModelRepository::new(&MultiplexingConfig {
            models_dir: Some(dir.path().display().to_string()),
            models: [("alias".to_owned(), "/elsewhere/w.safetensors".to_owned())].into(),
            ..MultiplexingConfig::default()
        });
        assert_eq!(repo.resolve("m1"), Some(dir.path().join("m1.safetensors")));
        assert_eq!(
            repo.resolve("alias"),
            Some(PathBuf::from("/elsewhere/w.safetensors"))
        );
        for bad in ["m2", "../m1", "", ".hidden", "a/b"] {
            assert_eq!(repo.resolve(bad), None, "{bad}");
        }
    }
}
