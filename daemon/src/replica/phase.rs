//! Where a replica is in its life, and the two other shapes of that fact.
//!
//! Three enums describe a replica's state, each for its own reader:
//! - [`Phase`] (here): the daemon's own, with the reason of a failure; what the
//!   controller reconciles on;
//! - [`ReportedPhase`] (wire): what a member node reports to the head in its
//!   heartbeats, the reason beside it;
//! - [`ReplicaState`] (status): Ray's names, what `rserve status` shows.
//!
//! The conversions between them live here and nowhere else.

use rserve_protocol::status::ReplicaState;
use rserve_protocol::wire::{ReplicaReport, ReportedPhase};

/// Where a replica is in its life, as the controller sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// The replica's kind is being constructed (model loading).
    Starting,
    /// Serving.
    Running,
    /// Draining in-flight requests.
    Stopping,
    /// Gone after a stop.
    Stopped,
    /// Gone after a failure; the controller replaces it.
    Failed {
        /// Whether it failed before it ever ran (constructor failure).
        during_startup: bool,
        /// What happened.
        reason: String,
    },
}

impl Phase {
    /// Whether the replica is gone (stopped or failed): final phases.
    pub fn is_gone(&self) -> bool {
        matches!(self, Self::Stopped | Self::Failed { .. })
    }

    /// Ray's `ReplicaState`, or `None` once the replica is gone.
    pub fn state(&self) -> Option<ReplicaState> {
        match self {
            Self::Starting => Some(ReplicaState::Starting),
            Self::Running => Some(ReplicaState::Running),
            Self::Stopping => Some(ReplicaState::Stopping),
            Self::Stopped | Self::Failed { .. } => None,
        }
    }

    /// The phase and reason a member reports for it.
    pub fn reported(&self) -> (ReportedPhase, String) {
        match self {
            Self::Starting => (ReportedPhase::Starting, String::new()),
            Self::Running => (ReportedPhase::Running, String::new()),
            Self::Stopping => (ReportedPhase::Stopping, String::new()),
            Self::Stopped => (ReportedPhase::Stopped, String::new()),
            Self::Failed {
                during_startup,
                reason,
            } => (
                if *during_startup {
                    ReportedPhase::FailedStarting
                } else {
                    ReportedPhase::Failed
                },
                reason.clone(),
            ),
        }
    }
}

impl From<&ReplicaReport> for Phase {
    fn from(report: &ReplicaReport) -> Self {
        match report.phase {
            ReportedPhase::Starting => Self::Starting,
            ReportedPhase::Running => Self::Running,
            ReportedPhase::Stopping => Self::Stopping,
            ReportedPhase::Stopped => Self::Stopped,
            ReportedPhase::FailedStarting | ReportedPhase::Failed => Self::Failed {
                during_startup: report.phase == ReportedPhase::FailedStarting,
                reason: report.reason.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_phase_round_trips() {
        for phase in [
            Phase::Starting,
            Phase::Running,
            Phase::Stopping,
            Phase::Stopped,
            Phase::Failed {
                during_startup: true,
                reason: "no weights".into(),
            },
            Phase::Failed {
                during_startup: false,
                reason: "panicked".into(),
            },
        ] {
            let (reported, reason) = phase.reported();
            let report = ReplicaReport {
                replica_id: "d-1".into(),
                app: "a".into(),
                deployment: "d".into(),
                fingerprint: String::new(),
                phase: reported,
                reason,
            };
            assert_eq!(Phase::from(&report), phase);
        }
        assert_eq!(Phase::Stopping.state(), Some(ReplicaState::Stopping));
        assert!(Phase::Stopped.is_gone() && Phase::Stopped.state().is_none());
    }
}
