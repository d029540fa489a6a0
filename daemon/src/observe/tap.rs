//! `rserve tap`: a live sample of requests as this node's ingress answers
//! them.
//!
//! The ingress asks [`Tap::active`] per request: one relaxed atomic load, and
//! nothing else when nobody taps. While someone does, at most
//! [`NODE_MAX_RPS`] events a second are built and broadcast (each tapping
//! stream then applies its own `--max-rps`), so a tap can never make serving
//! slower than building a few hundred small structs a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rserve_protocol::stream::TapEvent;
use tokio::sync::broadcast;

/// Events a node builds per second at most, whoever taps.
pub const NODE_MAX_RPS: u64 = 1000;
/// Events buffered for tapping streams.
const FEED: usize = 1024;

/// The node's tap point.
#[derive(Debug)]
pub struct Tap {
    watchers: AtomicUsize,
    /// `second << 20 | events built in that second`.
    budget: AtomicU64,
    feed: broadcast::Sender<Arc<TapEvent>>,
}

impl Default for Tap {
    fn default() -> Self {
        Self {
            watchers: AtomicUsize::new(0),
            budget: AtomicU64::new(0),
            feed: broadcast::channel(FEED).0,
        }
    }
}

/// A tapping stream's subscription; the tap goes quiet when the last one drops.
#[derive(Debug)]
pub struct Tapping {
    tap: Arc<Tap>,
    /// Sampled requests.
    pub events: broadcast::Receiver<Arc<TapEvent>>,
}

impl Drop for Tapping {
    fn drop(&mut self) {
        self.tap.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Tap {
    /// Whether anyone taps (the only cost on the request path when nobody does).
    #[inline]
    pub fn active(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }

    /// Starts tapping.
    pub fn subscribe(self: &Arc<Self>) -> Tapping {
        let events = self.feed.subscribe();
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Tapping {
            tap: self.clone(),
            events,
        }
    }

    /// Whether to sample this request (ask only while [`Tap::active`]): at
    /// most [`NODE_MAX_RPS`] a second, so the request path builds nothing for
    /// the others.
    pub fn admit(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.take(now)
    }

    /// Publishes a sampled request to the tapping streams.
    pub fn publish(&self, event: TapEvent) {
        let _ = self.feed.send(Arc::new(event));
    }

    /// Takes one unit of the budget of second `now`.
    fn take(&self, now: u64) -> bool {
        // A spent budget is seen with a plain load: no write to the shared line.
        let seen = self.budget.load(Ordering::Relaxed);
        if seen >> 20 == now && seen & ((1 << 20) - 1) >= NODE_MAX_RPS {
            return false;
        }
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                let (second, used) = (b >> 20, b & ((1 << 20) - 1));
                if second != now {
                    Some(now << 20 | 1)
                } else if used < NODE_MAX_RPS {
                    Some(b + 1)
                } else {
                    None
                }
            })
            .is_ok()
    }
}

/// A token bucket of `rate` per second (burst `rate`), on an explicit clock,
/// for a tapping stream's `--max-rps`.
#[derive(Debug)]
pub struct RateLimit {
    rate: f64,
    tokens: f64,
    last_s: f64,
}

impl RateLimit {
    /// `rate` events a second (at least one).
    pub fn new(rate: u32, now_s: f64) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            tokens: rate,
            last_s: now_s,
        }
    }

    /// Whether one more event may pass at `now_s`.
    pub fn allow(&mut self, now_s: f64) -> bool {
        let elapsed = (now_s - self.last_s).max(0.0);
        self.last_s = now_s;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> TapEvent {
        TapEvent {
            time_s: 0.0,
            node: "n".into(),
            method: "GET".into(),
            path: "/".into(),
            app: "a".into(),
            deployment: "d".into(),
            model: None,
            replica: None,
            replica_node: None,
            hop: false,
            status: 200,
            latency_ms: 1.0,
            request_id: "r".into(),
        }
    }

    #[test]
    fn the_tap_is_active_only_while_someone_taps() {
        let tap = Arc::new(Tap::default());
        assert!(!tap.active());
        let mut sub = tap.subscribe();
        assert!(tap.active());
        tap.publish(event());
        assert_eq!(sub.events.try_recv().unwrap().status, 200);
        drop(sub);
        assert!(!tap.active());
    }

    #[test]
    fn the_node_budget_caps_events_per_second() {
        let tap = Tap::default();
        let taken = (0..NODE_MAX_RPS + 50).filter(|_| tap.take(100)).count();
        assert_eq!(taken as u64, NODE_MAX_RPS);
        assert!(tap.take(101), "a new second has a new budget");
    }

    #[test]
    fn the_rate_limit_passes_rate_per_second() {
        let mut limit = RateLimit::new(10, 0.0);
        let burst = (0..100).filter(|_| limit.allow(0.0)).count();
        assert_eq!(burst, 10);
        // 0.5 s later: 5 more.
        let later = (0..100).filter(|_| limit.allow(0.5)).count();
        assert_eq!(later, 5);
    }
}
