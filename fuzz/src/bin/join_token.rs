//! Fuzz target: see `rserve_daemon::fuzz::join_token`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        rserve_daemon::fuzz::join_token(data);
    });
}
