//! Log capture: every line the node logs is kept in a bounded ring per source
//! (each replica, and the node itself) and offered to followers, so `rserve
//! logs` can show any replica's lines from any node.
//!
//! A replica runs inside a [`REPLICA_SPAN`] span naming its app, deployment
//! and replica id (its supervisor task, its model thread, and so its panics);
//! [`CaptureLayer`] files each event under the innermost such span. Rings are
//! bounded in lines and bytes; a replica that ends keeps its ring (for
//! `--previous`) until [`MAX_ENDED`] newer ones have ended. Followers read a
//! broadcast channel: a follower that falls behind loses the oldest lines and
//! is told how many, and the logging thread never waits.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use rserve_protocol::stream::{LogLine, LogQuery, clip_line};
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The name of the span a replica runs in.
pub const REPLICA_SPAN: &str = "replica";
/// Lines kept per replica.
pub const RING_LINES: usize = 1000;
/// Bytes kept per replica (messages only).
pub const RING_BYTES: usize = 256 * 1024;
/// Lines kept of the node's own log.
pub const NODE_RING_LINES: usize = 2000;
/// Bytes kept of the node's own log.
pub const NODE_RING_BYTES: usize = 512 * 1024;
/// Ended replicas whose rings are kept.
pub const MAX_ENDED: usize = 32;
/// Lines buffered for followers (shared); a slower follower skips lines.
pub const FOLLOW_BUFFER: usize = 1024;

/// The span a replica's work runs in: its lines are filed under `replica`.
pub fn replica_span(app: &str, deployment: &str, replica: &str) -> tracing::Span {
    tracing::info_span!(REPLICA_SPAN, app, deployment, replica)
}

/// This process's log hub (one node per process; the node sets its id).
pub fn hub() -> &'static LogHub {
    static HUB: LazyLock<LogHub> = LazyLock::new(LogHub::default);
    &HUB
}

#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<Arc<LogLine>>,
    bytes: usize,
    ended: bool,
}

impl Ring {
    fn push(&mut self, line: Arc<LogLine>, max_lines: usize, max_bytes: usize) {
        self.bytes += line.message.len();
        self.lines.push_back(line);
        while self.lines.len() > max_lines || (self.bytes > max_bytes && self.lines.len() > 1) {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.message.len();
            }
        }
    }
}

#[derive(Debug, Default)]
struct Rings {
    /// Lines pushed so far: each line's sequence number (followers skip what
    /// a history read already had).
    pushed: u64,
    node: Ring,
    replicas: HashMap<String, Ring>,
    /// Ended replicas, oldest first.
    ended: VecDeque<String>,
}

/// Captured lines of this node: rings per source and a feed for followers.
#[derive(Debug)]
pub struct LogHub {
    node: OnceLock<String>,
    rings: Mutex<Rings>,
    feed: broadcast::Sender<(u64, Arc<LogLine>)>,
}

impl Default for LogHub {
    fn default() -> Self {
        Self {
            node: OnceLock::new(),
            rings: Mutex::default(),
            feed: broadcast::channel(FOLLOW_BUFFER).0,
        }
    }
}

impl LogHub {
    /// Names the node lines are attributed to (the first call wins).
    pub fn set_node(&self, node_id: &str) {
        let _ = self.node.set(node_id.to_owned());
    }

    /// Keeps one line and offers it to followers.
    pub fn push(&self, tag: Option<&ReplicaTag>, level: &str, mut message: String, time_s: f64) {
        clip_line(&mut message);
        let line = Arc::new(LogLine {
            time_s,
            level: level.to_owned(),
            node: self.node.get().cloned().unwrap_or_default(),
            app: tag.map(|t| t.app.clone()).unwrap_or_default(),
            deployment: tag.map(|t| t.deployment.clone()).unwrap_or_default(),
            replica: tag.map(|t| t.replica.clone()),
            message,
        });
        {
            let mut rings = self.rings.lock().unwrap();
            rings.pushed += 1;
            match tag {
                None => rings
                    .node
                    .push(line.clone(), NODE_RING_LINES, NODE_RING_BYTES),
                Some(tag) => rings.replicas.entry(tag.replica.clone()).or_default().push(
                    line.clone(),
                    RING_LINES,
                    RING_BYTES,
                ),
            }
            // Sent under the lock: followers see lines in sequence order (no
            // receiver is fine: nobody follows).
            let _ = self.feed.send((rings.pushed, line));
        }
    }

    /// The replica ended: its ring is kept for `--previous` until
    /// [`MAX_ENDED`] newer ones have ended.
    pub fn retire(&self, replica: &str) {
        let mut rings = self.rings.lock().unwrap();
        let Some(ring) = rings.replicas.get_mut(replica) else {
            return;
        };
        if ring.ended {
            return;
        }
        ring.ended = true;
        rings.ended.push_back(replica.to_owned());
        while rings.ended.len() > MAX_ENDED {
            if let Some(old) = rings.ended.pop_front() {
                rings.replicas.remove(&old);
            }
        }
    }

    /// New lines from now on (subscribe before reading the history, so no
    /// line falls between the two).
    pub fn follow(&self) -> broadcast::Receiver<(u64, Arc<LogLine>)> {
        self.feed.subscribe()
    }

    /// The kept lines `query` selects, oldest first: live replicas (or ended
    /// ones with `previous`) and, without a replica selector, the node's own;
    /// and the sequence number of the last line pushed (a follower skips the
    /// lines at or below it).
    pub fn history_since(&self, query: &LogQuery) -> (Vec<Arc<LogLine>>, u64) {
        let rings = self.rings.lock().unwrap();
        (Self::select(&rings, query), rings.pushed)
    }

    /// [`LogHub::history_since`] without the sequence number.
    pub fn history(&self, query: &LogQuery) -> Vec<Arc<LogLine>> {
        Self::select(&self.rings.lock().unwrap(), query)
    }

    fn select(rings: &Rings, query: &LogQuery) -> Vec<Arc<LogLine>> {
        let node_ring = (!query.previous).then_some(&rings.node);
        let replica_rings = rings
            .replicas
            .values()
            .filter(|ring| ring.ended == query.previous);
        let mut out = Vec::new();
        for ring in node_ring.into_iter().chain(replica_rings) {
            let selected: Vec<&Arc<LogLine>> = ring
                .lines
                .iter()
                .filter(|l| query.matches(l))
                .filter(|l| query.since_s.is_none_or(|since| l.time_s >= since))
                .collect();
            let skip = query
                .tail
                .map_or(0, |n| selected.len().saturating_sub(n as usize));
            out.extend(selected.into_iter().skip(skip).cloned());
        }
        out.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        out
    }
}

/// The replica a span belongs to (stored in the span's extensions).
#[derive(Debug, Clone, Default)]
pub struct ReplicaTag {
    app: String,
    deployment: String,
    replica: String,
}

impl Visit for ReplicaTag {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "app" => value.clone_into(&mut self.app),
            "deployment" => value.clone_into(&mut self.deployment),
            "replica" => value.clone_into(&mut self.replica),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Formats an event as the text log does: the message, then `key=value`.
#[derive(Default)]
struct Message {
    text: String,
    fields: String,
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.text, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

/// The `tracing` layer that feeds [`hub`]. Install it beside the node's
/// formatter, under the same filter: the lines kept are the lines logged.
#[derive(Debug, Default, Clone, Copy)]
pub struct CaptureLayer;

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != REPLICA_SPAN {
            return;
        }
        let mut tag = ReplicaTag::default();
        attrs.record(&mut tag);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(tag);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let tag = ctx.event_scope(event).and_then(|scope| {
            scope
                .into_iter()
                .find_map(|span| span.extensions().get::<ReplicaTag>().cloned())
        });
        let mut message = Message::default();
        event.record(&mut message);
        message.text.push_str(&message.fields);
        let time_s = crate::unix_now_s();
        hub().push(
            tag.as_ref(),
            event.metadata().level().as_str(),
            message.text,
            time_s,
        );
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn tag(replica: &str) -> ReplicaTag {
        ReplicaTag {
            app: "app".into(),
            deployment: "dep".into(),
            replica: replica.into(),
        }
    }

    #[test]
    fn rings_are_bounded_in_lines_and_bytes() {
        let hub = LogHub::default();
        for i in 0..RING_LINES + 10 {
            hub.push(Some(&tag("r1")), "INFO", format!("line {i}"), i as f64);
        }
        let query = LogQuery {
            replica: Some("r1".into()),
            ..LogQuery::default()
        };
        let lines = hub.history(&query);
        assert_eq!(lines.len(), RING_LINES);
        assert_eq!(lines[0].message, "line 10", "the oldest go first");
        let big = "x".repeat(4000);
        for i in 0..200 {
            hub.push(Some(&tag("r2")), "INFO", big.clone(), i as f64);
        }
        let bytes: usize = hub
            .history(&LogQuery {
                replica: Some("r2".into()),
                ..LogQuery::default()
            })
            .iter()
            .map(|l| l.message.len())
            .sum();
        assert!(bytes <= RING_BYTES, "{bytes}");
    }

    #[test]
    fn tail_and_since_select_per_source_and_lines_merge_in_time_order() {
        let hub = LogHub::default();
        hub.push(Some(&tag("a")), "INFO", "a1".into(), 1.0);
        hub.push(Some(&tag("b")), "INFO", "b2".into(), 2.0);
        hub.push(Some(&tag("a")), "INFO", "a3".into(), 3.0);
        hub.push(None, "INFO", "node4".into(), 4.0);
        hub.push(Some(&tag("b")), "INFO", "b5".into(), 5.0);
        let text = |q: &LogQuery| -> Vec<String> {
            hub.history(q).iter().map(|l| l.message.clone()).collect()
        };
        assert_eq!(
            text(&LogQuery::default()),
            ["a1", "b2", "a3", "node4", "b5"]
        );
        let tail1 = LogQuery {
            tail: Some(1),
            ..LogQuery::default()
        };
        assert_eq!(
            text(&tail1),
            ["a3", "node4", "b5"],
            "the last line of each source"
        );
        let since = LogQuery {
            since_s: Some(3.0),
            app: Some("app".into()),
            ..LogQuery::default()
        };
        assert_eq!(text(&since), ["a3", "b5"]);
    }

    #[test]
    fn ended_replicas_are_kept_for_previous_and_then_forgotten() {
        let hub = LogHub::default();
        hub.push(Some(&tag("dead")), "ERROR", "panicked: boom".into(), 1.0);
        hub.push(Some(&tag("live")), "INFO", "serving".into(), 2.0);
        hub.retire("dead");
        let previous = LogQuery {
            previous: true,
            ..LogQuery::default()
        };
        let prev: Vec<_> = hub.history(&previous);
        assert_eq!(prev.len(), 1);
        assert_eq!(prev[0].message, "panicked: boom");
        let live: Vec<_> = hub.history(&LogQuery::default());
        assert_eq!(live.len(), 1, "ended rings are not live");
        for i in 0..MAX_ENDED {
            let id = format!("r{i}");
            hub.push(Some(&tag(&id)), "INFO", "x".into(), 3.0);
            hub.retire(&id);
        }
        assert!(
            hub.history(&previous)
                .iter()
                .all(|l| l.message != "panicked: boom"),
            "the oldest ended ring is dropped past MAX_ENDED"
        );
    }

    #[test]
    fn followers_that_fall_behind_are_told_how_many_lines_they_missed() {
        let hub = LogHub::default();
        let mut rx = hub.follow();
        for i in 0..FOLLOW_BUFFER + 5 {
            hub.push(None, "INFO", format!("{i}"), i as f64);
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(5))
        ));
        assert_eq!(rx.try_recv().unwrap().1.message, "5");
    }

    #[test]
    fn the_layer_files_events_under_the_replica_span() {
        let subscriber = tracing_subscriber::registry().with(CaptureLayer);
        tracing::subscriber::with_default(subscriber, || {
            let span = replica_span("chat", "llm", "llm-00c0ffee");
            span.in_scope(|| tracing::warn!(failures = 2, "Health check failed."));
            tracing::info!("Node line.");
        });
        let lines = hub().history(&LogQuery {
            replica: Some("llm-00c0ffee".into()),
            ..LogQuery::default()
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].message, "Health check failed. failures=2");
        assert_eq!(
            (lines[0].app.as_str(), lines[0].level.as_str()),
            ("chat", "WARN")
        );
        assert!(
            hub()
                .history(&LogQuery::default())
                .iter()
                .any(|l| l.replica.is_none() && l.message == "Node line.")
        );
    }
}
