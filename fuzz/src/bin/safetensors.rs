//! Fuzz target: see `rserve_models::fuzz::safetensors`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        rserve_models::fuzz::safetensors(data);
    });
}
