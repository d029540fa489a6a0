//! The cluster's event log, kept on the head: deploys and deletes, replicas
//! starting, running, failing and stopping, placement refusals, nodes joining
//! and dying. Bounded ([`CAPACITY`] events), persisted to `events.jsonl` in the
//! state dir (one JSON object per line, appended; rewritten with the newest
//! [`CAPACITY`] when it grows past twice that), and offered to followers.
//!
//! The file is a record, not state: a line that cannot be read (a torn last
//! write) is skipped with a warning naming it, and a write that fails is
//! logged, never fatal.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rserve_protocol::stream::{ClusterEvent, EventReason, Severity};
use tokio::sync::broadcast;
use tracing::warn;

/// Events kept (in memory, and at least this many on disk).
pub const CAPACITY: usize = 1000;
/// Events buffered for followers; a slower follower skips events.
const FOLLOW_BUFFER: usize = 256;
/// The file in the state dir.
pub const FILE: &str = "events.jsonl";

/// What an event is about, beyond its reason and message.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// `application/NAME`, `deployment/APP/NAME`, `replica/ID` or `node/ID`.
    pub object: String,
    /// The application.
    pub app: String,
    /// The deployment.
    pub deployment: String,
    /// The node.
    pub node: String,
}

impl Subject {
    /// An application.
    pub fn app(app: &str) -> Self {
        Self {
            object: format!("application/{app}"),
            app: app.to_owned(),
            ..Self::default()
        }
    }

    /// A replica of `app`'s `deployment`, on `node`.
    pub fn replica(app: &str, deployment: &str, replica: &str, node: &str) -> Self {
        Self {
            object: format!("replica/{replica}"),
            app: app.to_owned(),
            deployment: deployment.to_owned(),
            node: node.to_owned(),
        }
    }

    /// A deployment of `app`.
    pub fn deployment(app: &str, deployment: &str) -> Self {
        Self {
            object: format!("deployment/{app}/{deployment}"),
            app: app.to_owned(),
            deployment: deployment.to_owned(),
            ..Self::default()
        }
    }

    /// A node.
    pub fn node(node: &str) -> Self {
        Self {
            object: format!("node/{node}"),
            node: node.to_owned(),
            ..Self::default()
        }
    }
}

/// The severity of each reason: trouble is a Warning.
pub fn severity(reason: EventReason) -> Severity {
    match reason {
        EventReason::ReplicaFailed
        | EventReason::Unschedulable
        | EventReason::DeployFailed
        | EventReason::NodeDead => Severity::Warning,
        _ => Severity::Normal,
    }
}

struct Inner {
    events: VecDeque<ClusterEvent>,
    next_seq: u64,
    /// Lines in the file (rewritten past 2 × [`CAPACITY`]).
    lines_on_disk: usize,
    file: Option<PathBuf>,
}

/// The event log.
pub struct EventLog {
    inner: Mutex<Inner>,
    feed: broadcast::Sender<ClusterEvent>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog").finish_non_exhaustive()
    }
}

impl EventLog {
    /// A log kept only in memory (members, tests).
    pub fn in_memory() -> Self {
        Self::with(Inner {
            events: VecDeque::new(),
            next_seq: 1,
            lines_on_disk: 0,
            file: None,
        })
    }

    /// The log persisted in `state_dir`, with the events kept there before.
    pub fn open(state_dir: &Path) -> Self {
        let path = state_dir.join(FILE);
        let mut events = VecDeque::new();
        let mut lines_on_disk = 0;
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                if !text.is_empty() && !text.ends_with('\n') {
                    // A torn last write: the next event starts on its own line.
                    let _ = std::fs::OpenOptions::new()
                        .append(true)
                        .open(&path)
                        .and_then(|mut f| f.write_all(b"\n"));
                }
                for (i, line) in text.lines().enumerate() {
                    lines_on_disk += 1;
                    match serde_json::from_str::<ClusterEvent>(line) {
                        Ok(event) => {
                            events.push_back(event);
                            if events.len() > CAPACITY {
                                events.pop_front();
                            }
                        }
                        Err(e) => warn!(file = %path.display(), line = i + 1, error = %e,
                            "Skipped an unreadable line of the event log."),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warn!(file = %path.display(), error = %e,
                "Cannot read the event log; starting an empty one."),
        }
        let next_seq = events.back().map_or(1, |e| e.seq + 1);
        Self::with(Inner {
            events,
            next_seq,
            lines_on_disk,
            file: Some(path),
        })
    }

    fn with(inner: Inner) -> Self {
        Self {
            inner: Mutex::new(inner),
            feed: broadcast::channel(FOLLOW_BUFFER).0,
        }
    }

    /// Records an event now.
    pub fn record(&self, reason: EventReason, subject: Subject, message: impl Into<String>) {
        let time_s = crate::unix_now_s();
        self.record_at(time_s, reason, subject, message.into());
    }

    fn record_at(&self, time_s: f64, reason: EventReason, subject: Subject, message: String) {
        let mut inner = self.inner.lock().unwrap();
        let event = ClusterEvent {
            seq: inner.next_seq,
            time_s,
            severity: severity(reason),
            reason,
            object: subject.object,
            app: subject.app,
            deployment: subject.deployment,
            node: subject.node,
            message,
        };
        inner.next_seq += 1;
        inner.events.push_back(event.clone());
        if inner.events.len() > CAPACITY {
            inner.events.pop_front();
        }
        if let Err(e) = persist(&mut inner, &event) {
            warn!(error = %e, "Cannot write the event log.");
        }
        drop(inner);
        let _ = self.feed.send(event);
    }

    /// New events from now on (subscribe before reading the history).
    pub fn follow(&self) -> broadcast::Receiver<ClusterEvent> {
        self.feed.subscribe()
    }

    /// The kept events, oldest first; only the last `tail` when given.
    pub fn history(&self, tail: Option<u32>) -> Vec<ClusterEvent> {
        let inner = self.inner.lock().unwrap();
        let skip = tail.map_or(0, |n| inner.events.len().saturating_sub(n as usize));
        inner.events.iter().skip(skip).cloned().collect()
    }
}

/// Appends `event` to the file; rewrites the file with the kept events when
/// it has grown past twice the capacity.
fn persist(inner: &mut Inner, event: &ClusterEvent) -> anyhow::Result<()> {
    let Some(path) = inner.file.clone() else {
        return Ok(());
    };
    if inner.lines_on_disk + 1 > 2 * CAPACITY {
        let mut text = String::new();
        for e in &inner.events {
            text.push_str(&serde_json::to_string(e)?);
            text.push('\n');
        }
        crate::state_dir::write_atomic(&path, text.as_bytes())?;
        inner.lines_on_disk = inner.events.len();
        return Ok(());
    }
    let mut line = serde_json::to_vec(event)?;
    line.push(b'\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?
        .write_all(&line)?;
    inner.lines_on_disk += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_a_restart_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path());
        log.record(EventReason::Deployed, Subject::app("a"), "created");
        log.record(
            EventReason::ReplicaFailed,
            Subject::replica("a", "d", "d-1", "n1"),
            "panicked: boom",
        );
        drop(log);
        // A write cut short by a crash.
        let path = dir.path().join(FILE);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"{\"seq\": 3, \"ti").unwrap();
        let log = EventLog::open(dir.path());
        let history = log.history(None);
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].reason, EventReason::ReplicaFailed);
        assert_eq!(history[1].severity, Severity::Warning);
        assert_eq!(history[1].object, "replica/d-1");
        log.record(EventReason::Deleting, Subject::app("a"), "deleting");
        assert_eq!(log.history(Some(1))[0].seq, 3, "numbering goes on");
    }

    #[test]
    fn the_log_and_its_file_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path());
        for i in 0..(2 * CAPACITY + 10) {
            log.record(EventReason::NodeAlive, Subject::node("n"), format!("{i}"));
        }
        assert_eq!(log.history(None).len(), CAPACITY);
        let lines = std::fs::read_to_string(dir.path().join(FILE))
            .unwrap()
            .lines()
            .count();
        assert!(lines <= 2 * CAPACITY, "{lines}");
        let reopened = EventLog::open(dir.path()).history(None);
        assert_eq!(reopened.len(), CAPACITY);
        assert_eq!(
            reopened.last().unwrap().message,
            format!("{}", 2 * CAPACITY + 9)
        );
    }
}
