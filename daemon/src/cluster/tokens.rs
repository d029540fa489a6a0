//! Join tokens: what a new node shows the head to be given a certificate.
//!
//! A token reads `rsj.<id>.<secret>.<ca>`: `id` names it, `secret` proves it, and
//! `ca` is the first 16 bytes of the SHA-256 of the cluster CA certificate, so the
//! joining node can check it is talking to the right cluster before it trusts
//! anything (as kubeadm's `--discovery-token-ca-cert-hash`, folded into the
//! token). The head keeps only the SHA-256 of each secret, with its expiry and
//! the joins it has left (one by default), in `<state dir>/join_tokens.json`
//! (atomic writes). A used-up token stays until it expires, so a late join
//! hears "used already" rather than "unknown"; expired tokens are dropped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::{self, hex};

/// Why a token was refused (said to the joining node and logged on the head).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenError {
    /// Not of the `rsj.<id>.<secret>.<ca>` shape.
    #[error(
        "the join token is malformed (expected rsj.<id>.<secret>.<ca>, as `rserve token create` prints)"
    )]
    Malformed,
    /// No such token, or the secret does not match.
    #[error("the join token is not valid for this cluster (unknown or wrong secret)")]
    Invalid,
    /// It has expired.
    #[error("the join token expired {0:.0} s ago; create a new one with `rserve token create`")]
    Expired(f64),
    /// Every join it allowed has been made.
    #[error(
        "the join token was used already; create a new one with `rserve token create` \
         (`--uses N` lets one token join N nodes)"
    )]
    Used,
}

/// A parsed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// Token id.
    pub id: String,
    /// Secret.
    pub secret: String,
    /// CA fingerprint (16 bytes, hex).
    pub ca: String,
}

impl JoinToken {
    /// Parses `rsj.<id>.<secret>.<ca>`.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let parts: Vec<&str> = text.trim().split('.').collect();
        let is_hex =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        match parts.as_slice() {
            ["rsj", id, secret, ca] if is_hex(id, 12) && is_hex(secret, 32) && is_hex(ca, 32) => {
                Ok(Self {
                    id: (*id).to_owned(),
                    secret: (*secret).to_owned(),
                    ca: (*ca).to_owned(),
                })
            }
            _ => Err(TokenError::Malformed),
        }
    }

    /// The printed form.
    pub fn to_text(&self) -> String {
        format!("rsj.{}.{}.{}", self.id, self.secret, self.ca)
    }
}

fn secret_hash(secret: &str) -> String {
    digest::sha256_hex(secret.as_bytes())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    id: String,
    secret_sha256: String,
    expires_at_s: f64,
    /// Joins it still allows (tokens written before this field allowed any
    /// number until they expired).
    #[serde(default = "unlimited")]
    uses_left: u32,
}

fn unlimited() -> u32 {
    u32::MAX
}

/// The head's tokens.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    tokens: Vec<Stored>,
}

impl TokenStore {
    /// Loads `<state dir>/join_tokens.json` (absent = none), without the
    /// tokens that expired by `now_s`.
    pub fn load(state_dir: &Path, now_s: f64) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let path = state_dir.join("join_tokens.json");
        let tokens = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a token list", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut store = Self { path, tokens };
        if store.prune(now_s) {
            store.save()?;
        }
        Ok(store)
    }

    /// Drops expired tokens; whether any went.
    fn prune(&mut self, now_s: f64) -> bool {
        let before = self.tokens.len();
        self.tokens.retain(|t| t.expires_at_s > now_s);
        self.tokens.len() != before
    }

    /// Creates a token valid for `ttl_s` seconds from `now_s` (unix time),
    /// for `uses` joins.
    pub fn create(
        &mut self,
        ca: &str,
        ttl_s: f64,
        uses: u32,
        now_s: f64,
    ) -> anyhow::Result<JoinToken> {
        let random = |n: usize| hex(&(0..n).map(|_| rand::random::<u8>()).collect::<Vec<_>>());
        let token = JoinToken {
            id: random(6),
            secret: random(16),
            ca: ca.to_owned(),
        };
        // Expired tokens are dropped whenever the list is written.
        self.prune(now_s);
        self.tokens.push(Stored {
            id: token.id.clone(),
            secret_sha256: secret_hash(&token.secret),
            expires_at_s: now_s + ttl_s,
            uses_left: uses.max(1),
        });
        self.save()?;
        Ok(token)
    }

    /// Checks a presented token at `now_s` (without using it).
    pub fn verify(&self, text: &str, now_s: f64) -> Result<(), TokenError> {
        self.find(text, now_s).map(|_| ())
    }

    /// Uses one of a presented token's joins: checked as [`verify`] does,
    /// then counted (and written) before the join is answered, so a
    /// single-use token admits one node even when two present it at once.
    ///
    /// [`verify`]: TokenStore::verify
    pub fn consume(&mut self, text: &str, now_s: f64) -> Result<(), TokenError> {
        let i = self.find(text, now_s)?;
        self.tokens[i].uses_left -= 1;
        self.prune(now_s);
        if let Err(e) = self.save() {
            // A join must not fail for the disk; the count holds in memory.
            tracing::warn!(error = %e, "Cannot write the join tokens.");
        }
        Ok(())
    }

    /// The index of a presented token that may still be used at `now_s`.
    fn find(&self, text: &str, now_s: f64) -> Result<usize, TokenError> {
        let token = JoinToken::parse(text)?;
        let i = self
            .tokens
            .iter()
            .position(|t| t.id == token.id)
            .ok_or(TokenError::Invalid)?;
        let stored = &self.tokens[i];
        if !digest::secrets_match(&stored.secret_sha256, &secret_hash(&token.secret)) {
            return Err(TokenError::Invalid);
        }
        if now_s >= stored.expires_at_s {
            return Err(TokenError::Expired(now_s - stored.expires_at_s));
        }
        if stored.uses_left == 0 {
            return Err(TokenError::Used);
        }
        Ok(i)
    }

    fn save(&self) -> anyhow::Result<()> {
        crate::state_dir::write_atomic(&self.path, &serde_json::to_vec_pretty(&self.tokens)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_expire_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let ca = digest::ca_fingerprint(b"some CA");
        let mut store = TokenStore::load(dir.path(), 1000.0).unwrap();
        let token = store.create(&ca, 60.0, 1, 1000.0).unwrap();
        let text = token.to_text();
        assert_eq!(JoinToken::parse(&text).unwrap(), token);
        assert_eq!(store.verify(&text, 1030.0), Ok(()));
        assert_eq!(store.verify(&text, 1070.0), Err(TokenError::Expired(10.0)));
        let mut wrong = token.clone();
        wrong.secret = "0".repeat(32);
        assert_eq!(
            store.verify(&wrong.to_text(), 1001.0),
            Err(TokenError::Invalid)
        );
        let mut unknown = token.clone();
        unknown.id = "0".repeat(12);
        assert_eq!(
            store.verify(&unknown.to_text(), 1001.0),
            Err(TokenError::Invalid)
        );
        for bad in ["", "rsj.x.y.z", "abc", &text.replace("rsj", "xyz")] {
            assert_eq!(
                store.verify(bad, 1001.0),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
        // Only the hash of the secret is on disk, and the token outlives a restart.
        let on_disk = std::fs::read_to_string(dir.path().join("join_tokens.json")).unwrap();
        assert!(!on_disk.contains(&token.secret));
        let reloaded = TokenStore::load(dir.path(), 1001.0).unwrap();
        assert_eq!(reloaded.verify(&text, 1030.0), Ok(()));
        // Expired tokens are dropped when the list is loaded.
        let pruned = TokenStore::load(dir.path(), 1061.0).unwrap();
        assert_eq!(pruned.verify(&text, 1030.0), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_admits_as_many_joins_as_it_allows() {
        let dir = tempfile::tempdir().unwrap();
        let ca = digest::ca_fingerprint(b"some CA");
        let mut store = TokenStore::load(dir.path(), 1000.0).unwrap();
        let once = store.create(&ca, 60.0, 1, 1000.0).unwrap().to_text();
        let twice = store.create(&ca, 60.0, 2, 1000.0).unwrap().to_text();
        assert_eq!(store.consume(&once, 1001.0), Ok(()));
        assert_eq!(store.consume(&once, 1002.0), Err(TokenError::Used));
        assert_eq!(store.consume(&twice, 1001.0), Ok(()));
        // The count survives a restart.
        let mut store = TokenStore::load(dir.path(), 1002.0).unwrap();
        assert_eq!(store.consume(&twice, 1003.0), Ok(()));
        assert_eq!(store.verify(&twice, 1004.0), Err(TokenError::Used));
        // Used up or not, a token is dropped once it expires.
        drop(store);
        let store = TokenStore::load(dir.path(), 1061.0).unwrap();
        assert!(store.tokens.is_empty());
        // A token from before the count existed allows any number until it expires.
        std::fs::write(
            dir.path().join("join_tokens.json"),
            format!(
                r#"[{{"id": "0123456789ab", "secret_sha256": "{}", "expires_at_s": 2000.0}}]"#,
                secret_hash(&"f".repeat(32))
            ),
        )
        .unwrap();
        let mut store = TokenStore::load(dir.path(), 1000.0).unwrap();
        let old = format!("rsj.0123456789ab.{}.{ca}", "f".repeat(32));
        for _ in 0..3 {
            assert_eq!(store.consume(&old, 1001.0), Ok(()));
        }
    }
}
