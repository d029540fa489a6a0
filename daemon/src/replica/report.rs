//! What a member node tells the head about its replicas: each one's report,
//! and the fingerprint of the config that made it (a head restarting re-adopts
//! a replica only when the fingerprints match).

use rserve_protocol::config::DeploymentConfig;
use rserve_protocol::wire::ReplicaReport;

use super::Replica;

/// The fingerprint of what makes a replica what it is (kind and options,
/// resources, handles, batching, multiplexing): a change needs new replicas.
/// `user_config` is applied in place (reconfigure), so it is not part of it;
/// handles take its old slot, `null` when there are none: replicas started
/// by an older build without a `user_config` keep their fingerprints (those
/// with one are not re-adopted by an upgraded head, once, and are replaced).
pub fn fingerprint(config: &DeploymentConfig) -> String {
    let handles = if config.handles.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::json!(config.handles)
    };
    let parts = serde_json::json!([
        config.replica,
        config.resources,
        handles,
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
