//! Who the head lets into the cluster and out of it: joins (one-time and
//! pool tokens), certificate renewals, and members that leave as they drain.

use std::net::SocketAddr;
use std::time::Instant;

use rserve_protocol::stream::EventReason;
use rserve_protocol::wire::{NodeAdvert, Response};
use tracing::{info, warn};

use super::super::membership::{IssuedCert, MemberCerts, MembershipEvent};
use super::super::pool_token::{self, Binding, PoolToken, PoolTokenError};
use super::{Head, bad_advert, bad_request, fix_addresses, hosts, human_duration, unauthorized};
use crate::digest;
use crate::observe::events::Subject;
use crate::unix_now_s as now_s;

impl Head {
    /// A joining node: checks its token, signs a certificate for its key,
    /// admits it.
    pub(super) fn join(
        &self,
        token: &str,
        public_key: &str,
        mut advert: NodeAdvert,
        remote: SocketAddr,
        binding: Option<&Binding>,
    ) -> Response {
        let pool = match pool_token::proof_id(token) {
            Some(_) => match self.verify_pool_join(token, binding) {
                Ok(pool) => Some((pool, binding.copied().unwrap_or_default())),
                Err(e) => {
                    warn!(%remote, node = %advert.node_id, reason = %e, "Refused a node's join.");
                    return unauthorized(e.to_string());
                }
            },
            None => {
                if let Err(e) = self.tokens.lock().unwrap().verify(token, now_s()) {
                    warn!(%remote, node = %advert.node_id, reason = %e, "Refused a node's join.");
                    return unauthorized(e.to_string());
                }
                None
            }
        };
        if let Err(e) = advert.check() {
            warn!(%remote, reason = %e, "Refused a node's join: bad advert.");
            return bad_advert(e);
        }
        if advert.node_id == self.node_id {
            warn!(%remote, node = %advert.node_id, "Refused a node's join: it has the head's node id.");
            return bad_advert(format!(
                "the node id `{}` is the head's own; give this node another (--node-name)",
                advert.node_id
            ));
        }
        let Some(key) = digest::decode_hex(public_key) else {
            return unauthorized("the public key is not hex".to_owned());
        };
        let issued =
            match self
                .issuer
                .sign_node(&advert.node_id, &key, self.certs.lifetime, now_s())
            {
                Ok(issued) => issued,
                Err(e) => return unauthorized(format!("{e:#}")),
            };
        // Used only now that the join will be answered (a refused advert
        // leaves the token as it was). A pool token is not used up.
        if pool.is_none()
            && let Err(e) = self.tokens.lock().unwrap().consume(token, now_s())
        {
            warn!(%remote, node = %advert.node_id, reason = %e, "Refused a node's join.");
            return unauthorized(e.to_string());
        }
        fix_addresses(&mut advert, remote);
        let mut membership = self.membership.lock().unwrap();
        // The same id joining again (a pod rescheduled under its name, its
        // state gone): what its old self ran, or was starting, is gone.
        if membership.advert(&advert.node_id).is_some() {
            self.fleet.node_died(
                &advert.node_id,
                "joined again without its state (its replicas went with it)",
            );
        }
        let certs = MemberCerts {
            current: IssuedCert {
                fingerprint: issued.fingerprint,
                expires_at_s: Some(issued.expires_at_s),
            },
            previous: None,
        };
        let event = membership.admit(advert.clone(), certs, Instant::now(), now_s());
        self.nodes_file.save(&membership);
        self.fleet.set_members(hosts(&membership));
        if let MembershipEvent::Joined(id) = event {
            info!(node = %id, %remote, http = %advert.http_address, "Node joined the cluster.");
            self.events.record(
                EventReason::NodeJoined,
                Subject::node(&id),
                format!("joined from {remote} (http {})", advert.http_address),
            );
        }
        let head_proof = pool.map(|(pool, binding)| {
            pool.head_proof(
                &binding,
                &[
                    issued.cert_pem.as_bytes(),
                    self.issuer.ca_pem.as_bytes(),
                    self.cluster_id.as_bytes(),
                ],
            )
        });
        Response::Joined {
            cert_pem: issued.cert_pem,
            ca_pem: self.issuer.ca_pem.clone(),
            cluster_id: self.cluster_id.clone(),
            expires_at_s: Some(issued.expires_at_s),
            head_proof,
        }
    }

    /// The pool token a join proof `rsp.<id>.<proof>` was made with, if it
    /// holds over this connection's session and has not expired.
    fn verify_pool_join(
        &self,
        proof: &str,
        binding: Option<&Binding>,
    ) -> Result<&PoolToken, PoolTokenError> {
        let binding = binding.ok_or(PoolTokenError::Invalid)?;
        let id = pool_token::proof_id(proof).ok_or(PoolTokenError::Malformed)?;
        if self.pool_tokens.is_empty() {
            return Err(PoolTokenError::NoneHere);
        }
        let pool = self
            .pool_tokens
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
            .ok_or(PoolTokenError::Invalid)?;
        pool.verify_join(proof, binding)?;
        pool.check_expiry(now_s())?;
        Ok(pool)
    }

    /// Accepts joins with these pool tokens (`--pool-token-file`).
    pub fn with_pool_tokens(mut self, tokens: Vec<PoolToken>) -> Self {
        self.pool_tokens = tokens;
        self
    }

    /// A member drains: counted out now (its replicas placed elsewhere, the
    /// routes rebuilt without them) instead of after the node timeout.
    pub(super) fn leaving(&self, peer: &str, remote: SocketAddr) -> Response {
        let mut membership = self.membership.lock().unwrap();
        let Some((id, event)) = membership.leave(peer, Instant::now(), now_s()) else {
            return unauthorized("this certificate is no member's".to_owned());
        };
        if event.is_some() {
            self.fleet.set_members(hosts(&membership));
            info!(node = %id, %remote, "Node leaving (draining); its replicas will be placed elsewhere.");
            self.events.record(
                EventReason::NodeDead,
                Subject::node(&id),
                "left: draining; its replicas are placed elsewhere".to_owned(),
            );
            self.fleet.node_left(&id);
        }
        Response::Accepted
    }

    /// A member's renewal, over a connection authenticated with its current
    /// certificate (`peer`): a certificate for its new key, recorded as its
    /// newest; the old one is taken until it expires.
    pub(super) fn renew(&self, peer: &str, public_key: &str, remote: SocketAddr) -> Response {
        let Some(key) = digest::decode_hex(public_key) else {
            return bad_request("the public key is not hex".to_owned());
        };
        let now = now_s();
        let mut membership = self.membership.lock().unwrap();
        let node_id = match membership.may_renew(peer, self.certs.lifetime, now) {
            Ok(id) => id,
            Err(e) => {
                warn!(%remote, reason = %e, "Refused a certificate renewal.");
                return unauthorized(e.to_string());
            }
        };
        let issued = match self
            .issuer
            .sign_node(&node_id, &key, self.certs.lifetime, now)
        {
            Ok(issued) => issued,
            Err(e) => return bad_request(format!("{e:#}")),
        };
        let new = IssuedCert {
            fingerprint: issued.fingerprint,
            expires_at_s: Some(issued.expires_at_s),
        };
        membership.renewed(&node_id, peer, new, now);
        self.nodes_file.save(&membership);
        info!(node = %node_id, expires_at_s = issued.expires_at_s, "Renewed a node's certificate.");
        self.events.record(
            EventReason::CertificateRenewed,
            Subject::node(&node_id),
            format!(
                "new certificate, valid for {}",
                human_duration(self.certs.lifetime)
            ),
        );
        Response::CertificateRenewed {
            cert_pem: issued.cert_pem,
            expires_at_s: issued.expires_at_s,
        }
    }
}
