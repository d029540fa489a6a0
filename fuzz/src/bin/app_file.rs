//! Fuzz target: an application file, parsed and validated as `rserve deploy`
//! and the node do; what parses must print and parse back the same.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(file) = rserve_protocol::AppFile::parse("fuzz.toml", text) {
            let json = serde_json::to_string(&file).expect("a parsed file serialises");
            let again: rserve_protocol::AppFile =
                serde_json::from_str(&json).expect("and reads back");
            assert_eq!(again, file);
        }
    });
}
