//! Pool tokens: one reusable join credential for a whole node pool, made
//! offline before any node runs (`rserve token create --pool`), so it can sit
//! in a Kubernetes Secret that the head and every pool pod mount.
//!
//! A pool token reads `rsp.<id>.<secret>.<expiry>`: `id` names it, `secret`
//! (128 bits) is shared by the head and the pool, `expiry` is the Unix time
//! after which the head refuses it. It cannot name the cluster CA the way a
//! join token does (no CA exists when it is made), so neither side sends the
//! secret: both prove it with an HMAC over the TLS session's exported keying
//! material (RFC 5705). The joining node sends `rsp.<id>.<proof>`; the head
//! answers with its own proof over the same session and the certificates it
//! hands out. A node in the middle holds two sessions with two different
//! exports, so it can neither pass the node's proof on nor forge the head's,
//! and the token is never seen on the wire.

use ring::hmac;

use crate::digest::hex;

/// The label of the keying material both sides export from the session.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-rserve-pool-join";
/// Bytes exported.
pub const BINDING_LEN: usize = 32;

/// A session's exported keying material.
pub type Binding = [u8; BINDING_LEN];

/// `conn`'s session's exported keying material: the same on both ends of one
/// session, different on any other.
pub fn session_binding(conn: &quinn::Connection) -> Option<Binding> {
    let mut out = [0u8; BINDING_LEN];
    conn.export_keying_material(&mut out, EXPORTER_LABEL, b"")
        .ok()?;
    Some(out)
}

/// Why a pool token or proof was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PoolTokenError {
    /// Not of the `rsp.<id>.<secret>.<expiry>` shape.
    #[error(
        "the pool token is malformed (expected rsp.<id>.<secret>.<expiry>, as `rserve token create --pool` prints)"
    )]
    Malformed,
    /// No pool token with this id, or the proof does not match.
    #[error("the pool token is not valid for this cluster (unknown, or another secret)")]
    Invalid,
    /// The head was started without `--pool-token-file`.
    #[error(
        "this head accepts no pool tokens: start it with --pool-token-file (RSERVE_POOL_TOKEN_FILE) naming the token's file"
    )]
    NoneHere,
    /// Past its expiry.
    #[error(
        "the pool token expired {0:.0} s ago; make a new one with `rserve token create --pool` and update the Secret (the head and the pool)"
    )]
    Expired(f64),
}

/// A pool token.
#[derive(Clone, PartialEq, Eq)]
pub struct PoolToken {
    /// Its id (12 hex digits).
    pub id: String,
    secret: String,
    /// Unix time after which the head refuses it.
    pub expires_at_s: u64,
}

impl std::fmt::Debug for PoolToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolToken")
            .field("id", &self.id)
            .field("expires_at_s", &self.expires_at_s)
            .finish_non_exhaustive()
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl PoolToken {
    /// Whether `text` is meant as a pool token (not a one-time join token).
    pub fn is_pool(text: &str) -> bool {
        text.trim().starts_with("rsp.")
    }

    /// A new token, valid for `ttl_s` from `now_s`.
    pub fn generate(ttl_s: f64, now_s: f64) -> Self {
        Self {
            id: hex(&rand::random::<[u8; 6]>()),
            secret: hex(&rand::random::<[u8; 16]>()),
            expires_at_s: (now_s + ttl_s).ceil().max(0.0) as u64,
        }
    }

    /// Parses `rsp.<id>.<secret>.<expiry>`.
    pub fn parse(text: &str) -> Result<Self, PoolTokenError> {
        let parts: Vec<&str> = text.trim().split('.').collect();
        match parts.as_slice() {
            ["rsp", id, secret, expiry] if is_hex(id, 12) && is_hex(secret, 32) => Ok(Self {
                id: id.to_ascii_lowercase(),
                secret: secret.to_ascii_lowercase(),
                expires_at_s: expiry.parse().map_err(|_| PoolTokenError::Malformed)?,
            }),
            _ => Err(PoolTokenError::Malformed),
        }
    }

    /// The printed form.
    pub fn to_text(&self) -> String {
        format!("rsp.{}.{}.{}", self.id, self.secret, self.expires_at_s)
    }

    /// Refused when past its expiry at `now_s`.
    pub fn check_expiry(&self, now_s: f64) -> Result<(), PoolTokenError> {
        let late = now_s - self.expires_at_s as f64;
        if late >= 0.0 {
            return Err(PoolTokenError::Expired(late));
        }
        Ok(())
    }

    fn mac(&self, role: &[u8], binding: &Binding, payload: &[&[u8]]) -> hmac::Tag {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.secret.as_bytes());
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(role);
        ctx.update(binding);
        for part in payload {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        ctx.sign()
    }

    /// What a joining node sends in place of the token: `rsp.<id>.<proof>`.
    pub fn join_proof(&self, binding: &Binding) -> String {
        format!(
            "rsp.{}.{}",
            self.id,
            hex(self.mac(b"node", binding, &[]).as_ref())
        )
    }

    /// Whether `proof` (from [`join_proof`](Self::join_proof)) was made with
    /// this token over `binding`. Constant time.
    pub fn verify_join(&self, proof: &str, binding: &Binding) -> Result<(), PoolTokenError> {
        let (id, mac) = parse_proof(proof)?;
        if id != self.id {
            return Err(PoolTokenError::Invalid);
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.secret.as_bytes());
        let mut message = b"node".to_vec();
        message.extend_from_slice(binding);
        hmac::verify(&key, &message, &mac).map_err(|_| PoolTokenError::Invalid)
    }

    /// The head's answer proof over `binding` and what it hands out.
    pub fn head_proof(&self, binding: &Binding, payload: &[&[u8]]) -> String {
        hex(self.mac(b"head", binding, payload).as_ref())
    }

    /// Whether `proof` is the head's over `binding` and `payload`. Constant time.
    pub fn verify_head(
        &self,
        proof: &str,
        binding: &Binding,
        payload: &[&[u8]],
    ) -> Result<(), PoolTokenError> {
        let expected = self.head_proof(binding, payload);
        if !crate::digest::secrets_match(&expected, proof) {
            return Err(PoolTokenError::Invalid);
        }
        Ok(())
    }
}

/// The id of a join proof `rsp.<id>.<proof>`, if `text` is one.
pub fn proof_id(text: &str) -> Option<&str> {
    let mut parts = text.trim().split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("rsp"), Some(id), Some(proof), None) if is_hex(id, 12) && is_hex(proof, 64) => {
            Some(id)
        }
        _ => None,
    }
}

fn parse_proof(text: &str) -> Result<(String, Vec<u8>), PoolTokenError> {
    let id = proof_id(text).ok_or(PoolTokenError::Malformed)?;
    let mac = text.trim().rsplit('.').next().unwrap_or_default();
    let bytes = crate::digest::decode_hex(mac).ok_or(PoolTokenError::Malformed)?;
    Ok((id.to_ascii_lowercase(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_prints_and_parses_back_and_says_when_it_expires() {
        let token = PoolToken::generate(3600.0, 1_000_000.0);
        assert_eq!(token.expires_at_s, 1_003_600);
        let text = token.to_text();
        assert!(PoolToken::is_pool(&text));
        assert_eq!(PoolToken::parse(&format!("  {text}\n")).unwrap(), token);
        assert!(token.check_expiry(1_003_599.0).is_ok());
        assert_eq!(
            token.check_expiry(1_003_610.0),
            Err(PoolTokenError::Expired(10.0))
        );
        // The secret never shows in logs.
        assert!(!format!("{token:?}").contains(&token.secret));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for text in [
            "",
            "rsp.abc.def.1",
            "rsj.0123456789ab.0123456789abcdef0123456789abcdef.1",
            "rsp.0123456789ab.0123456789abcdef0123456789abcdef",
            "rsp.0123456789ab.0123456789abcdef0123456789abcdef.soon",
            "rsp.0123456789ab.0123456789abcdef0123456789abcdeg.1",
        ] {
            assert_eq!(
                PoolToken::parse(text),
                Err(PoolTokenError::Malformed),
                "{text}"
            );
        }
    }

    #[test]
    fn a_proof_holds_only_for_its_token_and_its_session() {
        let token = PoolToken::generate(60.0, 0.0);
        let other = PoolToken::generate(60.0, 0.0);
        let session = [7u8; BINDING_LEN];
        let relayed = [8u8; BINDING_LEN];
        let proof = token.join_proof(&session);
        assert!(!proof.contains(&token.secret));
        assert_eq!(proof_id(&proof), Some(token.id.as_str()));
        assert!(token.verify_join(&proof, &session).is_ok());
        // Over another session (a node in the middle): refused.
        assert_eq!(
            token.verify_join(&proof, &relayed),
            Err(PoolTokenError::Invalid)
        );
        // Another token with the same id but another secret: refused.
        let forged = PoolToken {
            id: token.id.clone(),
            ..other
        };
        assert_eq!(
            token.verify_join(&forged.join_proof(&session), &session),
            Err(PoolTokenError::Invalid)
        );
        assert_eq!(
            token.verify_join("rsp.zz", &session),
            Err(PoolTokenError::Malformed)
        );

        let head = token.head_proof(&session, &[b"cert", b"ca"]);
        assert!(
            token
                .verify_head(&head, &session, &[b"cert", b"ca"])
                .is_ok()
        );
        // Certificates swapped, or another session: refused.
        assert!(
            token
                .verify_head(&head, &session, &[b"cert", b"other ca"])
                .is_err()
        );
        assert!(
            token
                .verify_head(&head, &session, &[b"certc", b"a"])
                .is_err()
        );
        assert!(
            token
                .verify_head(&head, &relayed, &[b"cert", b"ca"])
                .is_err()
        );
    }
}
