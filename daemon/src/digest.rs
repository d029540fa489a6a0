//! Digests and their text forms: SHA-256 in hex, the fingerprints that name
//! certificates (a member's node certificate, the cluster CA in join tokens),
//! and a constant-time comparison for secrets.
//!
//! A leaf module: the TLS material (`pki`) and the join tokens
//! (`cluster::tokens`) both use it, neither uses the other.

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The bytes of a hex string (either case), or `None` if it is not hex.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha256(bytes))
}

/// SHA-256 (hex) of a DER leaf certificate: how the head recognises a
/// member's connection.
pub fn cert_fingerprint(der: &[u8]) -> String {
    sha256_hex(der)
}

/// The first 16 bytes of the SHA-256 (hex) of a DER CA certificate: the
/// cluster id, and the CA pinned by join tokens.
pub fn ca_fingerprint(der: &[u8]) -> String {
    hex(&sha256(der)[..16])
}

/// Whether `text` is a SHA-256 in hex (a certificate fingerprint).
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether two secrets are equal, in time independent of where they differ.
pub fn secrets_match(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_non_hex() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(decode_hex("0001ABff"), Some(bytes.to_vec()));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex(""), Some(Vec::new()));
    }

    #[test]
    fn fingerprints_are_sha256_prefixes() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(ca_fingerprint(b"abc"), "ba7816bf8f01cfea414140de5dae2223");
        assert_eq!(cert_fingerprint(b"abc"), sha256_hex(b"abc"));
    }

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(secrets_match("abc", "abc"));
        assert!(!secrets_match("abc", "abd"));
        assert!(!secrets_match("abc", "ab"));
    }
}
