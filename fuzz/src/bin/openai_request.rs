//! Fuzz target: see `rserve_daemon::fuzz::openai_request`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        rserve_daemon::fuzz::openai_request(data);
    });
}
