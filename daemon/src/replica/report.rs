//! What a member node tells the head about its replicas: each one's report,
//! and the fingerprint of the config that made it (a head restarting re-adopts
//! a replica only when the fingerprints match).

use rserve_protocol::config::DeploymentConfig;
use rserve_protocol::wire::ReplicaReport;

use super::Replica;

/// The fingerprint of what makes a replica what it is (kind and options,
/// resources, user_config, batching, multiplexing): a change needs new replicas.
pub fn fingerprint(config: &DeploymentConfig) -> String {
    let parts = serde_json::json!([
        config.replica,
        config.resources,
        config.user_config,
        config.batching,
        config.multiplexing,
    ]);
    crate::digest::hex(&crate::digest::sha256(parts.to_string().as_bytes())[..8])
}

/// The report of a local replica.
pub fn report_of(replica: &Replica, fingerprint: &str) -> ReplicaReport {
    let (phase, reason) = replica.phase().reported();
    ReplicaReport {
        replica_id: replica.id().to_owned(),
        app: replica.app().to_owned(),
        deployment: replica.deployment().to_owned(),
        fingerprint: fingerprint.to_owned(),
        phase,
        reason,
    }
}
