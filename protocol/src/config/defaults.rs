//! Ray Serve's defaults, in one place (the configuration reference is tested against these).

#![allow(missing_docs)]

pub fn route_prefix() -> String {
    "/".to_owned()
}
pub fn max_ongoing_requests() -> u32 {
    5
}
pub fn max_queued_requests() -> i64 {
    -1
}
pub fn health_check_period_s() -> f64 {
    10.0
}
pub fn health_check_timeout_s() -> f64 {
    30.0
}
pub fn graceful_shutdown_wait_loop_s() -> f64 {
    2.0
}
pub fn graceful_shutdown_timeout_s() -> f64 {
    20.0
}
pub fn num_cpus() -> f64 {
    1.0
}
pub fn sleep_ms() -> u64 {
    100
}
pub fn kv_cache_dtype() -> String {
    "auto".into()
}

pub fn is_auto(s: &str) -> bool {
    s == "auto"
}

pub fn dtype() -> String {
    "f32".to_owned()
}
pub fn device() -> String {
    "cpu".to_owned()
}
pub fn max_batch_size() -> u32 {
    10
}
pub fn batch_wait_timeout_s() -> f64 {
    0.01
}
pub fn max_concurrent_batches() -> u32 {
    1
}
pub fn chat_model_path() -> String {
    "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf".to_owned()
}
pub fn chat_max_tokens() -> u32 {
    256
}
pub fn max_num_models_per_replica() -> i64 {
    3
}
pub fn max_num_seqs() -> u32 {
    16
}
pub fn max_num_batched_tokens() -> u32 {
    512
}
pub fn max_kv_cache_tokens() -> u32 {
    16384
}
pub fn enable_prefix_caching() -> bool {
    true
}
pub fn embeddings_model_dir() -> String {
    "models/all-minilm-l6-v2".to_owned()
}
