//! Fuzz target: see `rserve_models::fuzz::gguf`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        rserve_models::fuzz::gguf(data);
    });
}
