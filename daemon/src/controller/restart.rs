//! Restarting one replica (`r` in `rserve top`): the replica drains and
//! stops as in a scale-down, and reconcile starts a fresh one in its place
//! (the deployment's target is unchanged), as `kubectl delete pod` does for
//! a ReplicaSet's pod.

use rserve_protocol::wire::WireError;

use super::deployment::Recorder;
use super::{Controller, bad_request};

impl Controller {
    /// Stops replica `replica_id` so that reconcile replaces it; answers the
    /// replica's `(app, deployment)`.
    pub async fn restart_replica(&self, replica_id: &str) -> Result<(String, String), WireError> {
        let mut state = self.state.lock().await;
        let recorder = Recorder {
            events: &self.events,
            node_id: &self.node.node_id,
        };
        for (name, app) in &mut state.apps {
            for (dep_name, dep) in &mut app.deployments {
                if dep.restart(replica_id, &self.tasks, &recorder) {
                    let found = (name.clone(), dep_name.clone());
                    drop(state);
                    self.changed.notify_one();
                    return Ok(found);
                }
            }
        }
        Err(bad_request(format!(
            "no replica {replica_id} is running or starting (list them with `rserve status`)"
        )))
    }
}
