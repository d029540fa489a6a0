//! Fuzz target: see `rserve_daemon::fuzz::control_stream`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        rserve_daemon::fuzz::control_stream(data);
    });
}
