//! The ingress's open connections: counted against `--max-connections`, and
//! drained on shutdown without a shared waker on the request path. At the
//! cap, a connection that has not sent a whole request in
//! [`EVICT_AFTER`] (a slowloris, an idle opener) makes room for a new one.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

/// The open connections: each is told to finish its requests and close when
/// the ingress drains (hyper's graceful shutdown). Touched when a
/// connection opens and closes, never per request.
#[derive(Default)]
pub(super) struct Connections {
    stops: Mutex<HashMap<u64, Entry>>,
    /// Connections closed to make room for a new one.
    evicted: AtomicU64,
    next: AtomicU64,
    pub(super) tasks: TaskTracker,
    /// Open now (admitted, not yet closed).
    open: AtomicUsize,
    /// Closed at once because `open` was at the cap.
    refused: AtomicU64,
    /// Open connections by client address (only with a per-address cap).
    by_ip: Mutex<HashMap<IpAddr, u32>>,
    /// Closed at once because their address had `--max-connections-per-ip` open.
    refused_per_ip: AtomicU64,
    /// When a refusal was last logged (one line per [`REFUSAL_LOG_PERIOD`]).
    logged: Mutex<Option<Instant>>,
}

/// An open connection, as the registry knows it.
struct Entry {
    stop: oneshot::Sender<Stop>,
    opened: Instant,
    /// Set by the connection's first request.
    served: Arc<AtomicBool>,
}

/// What a connection is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Finish the requests in flight, then close (shutdown).
    Drain,
    /// Close now: it has not sent a request, and a new connection needs its place.
    Evict,
}

/// How long a connection may go without a whole request before a new
/// connection at the cap takes its place.
pub(super) const EVICT_AFTER: Duration = Duration::from_secs(1);

/// At most one log line per this while connections are refused.
const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(10);

impl Connections {
    /// Takes a place for a new connection from `ip`, unless `max` are open,
    /// or `per_ip` (when not 0) from that address: then the refusal is
    /// counted (and logged, at most every 10 s). A place taken is given back
    /// with [`Connections::close`].
    pub(super) fn admit(&self, max: usize, per_ip: u32, ip: IpAddr) -> bool {
        if per_ip > 0 {
            let mut by_ip = self.by_ip.lock().unwrap();
            let open = by_ip.entry(ip).or_insert(0);
            if *open >= per_ip {
                drop(by_ip);
                self.refused_per_ip.fetch_add(1, Ordering::Relaxed);
                self.log_refusal(max);
                return false;
            }
            *open += 1;
        }
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
            || self.evict_one();
        if !admitted {
            self.release_ip(per_ip, ip);
            self.refused.fetch_add(1, Ordering::Relaxed);
            self.log_refusal(max);
        }
        admitted
    }

    /// At the cap: closes the oldest connection that has not sent a whole
    /// request for [`EVICT_AFTER`], and takes its place for a new one (the
    /// count runs one over until the closed one's task ends, at once).
    fn evict_one(&self) -> bool {
        let mut stops = self.stops.lock().unwrap();
        let victim = stops
            .iter()
            .filter(|(_, e)| !e.served.load(Ordering::Relaxed) && e.opened.elapsed() >= EVICT_AFTER)
            .min_by_key(|(_, e)| e.opened)
            .map(|(id, _)| *id);
        let Some(entry) = victim.and_then(|id| stops.remove(&id)) else {
            return false;
        };
        drop(stops);
        let _ = entry.stop.send(Stop::Evict);
        self.evicted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Gives back `ip`'s place (with a per-address cap).
    fn release_ip(&self, per_ip: u32, ip: IpAddr) {
        if per_ip == 0 {
            return;
        }
        let mut by_ip = self.by_ip.lock().unwrap();
        if let Some(open) = by_ip.get_mut(&ip) {
            *open -= 1;
            if *open == 0 {
                by_ip.remove(&ip);
            }
        }
    }

    /// One warn line per [`REFUSAL_LOG_PERIOD`] while connections are refused.
    fn log_refusal(&self, max: usize) {
        let mut logged = self.logged.lock().unwrap();
        if logged.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_PERIOD) {
            *logged = Some(Instant::now());
            tracing::warn!(
                max,
                refused = self.refused.load(Ordering::Relaxed),
                refused_per_ip = self.refused_per_ip.load(Ordering::Relaxed),
                "HTTP connections at a cap (--max-connections, --max-connections-per-ip); \
                 new ones are closed at once."
            );
        }
    }

    /// Appends the connection figures to a Prometheus text page.
    pub(super) fn render(&self, out: &mut String) {
        let _ = write!(
            out,
            "# HELP rserve_http_connections Open HTTP connections on this node's ingress.\n\
             # TYPE rserve_http_connections gauge\n\
             rserve_http_connections {}\n\
             # HELP rserve_http_connections_refused_total Connections closed at once because \
             --max-connections were open.\n\
             # TYPE rserve_http_connections_refused_total counter\n\
             rserve_http_connections_refused_total {}\n\
             # HELP rserve_http_connections_refused_per_ip_total Connections closed at once \
             because their address had --max-connections-per-ip open.\n\
             # TYPE rserve_http_connections_refused_per_ip_total counter\n\
             rserve_http_connections_refused_per_ip_total {}\n\
             # HELP rserve_http_connections_evicted_total Connections without a whole request \
             closed at the cap to make room for a new one.\n\
             # TYPE rserve_http_connections_evicted_total counter\n\
             rserve_http_connections_evicted_total {}\n",
            self.open.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.refused_per_ip.load(Ordering::Relaxed),
            self.evicted.load(Ordering::Relaxed),
        );
    }

    /// Registers an admitted connection: its id, what tells it to stop, and
    /// the flag its first request sets.
    pub(super) fn open(&self) -> (u64, oneshot::Receiver<Stop>, Arc<AtomicBool>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let served = Arc::new(AtomicBool::new(false));
        self.stops.lock().unwrap().insert(
            id,
            Entry {
                stop: tx,
                opened: Instant::now(),
                served: served.clone(),
            },
        );
        (id, rx, served)
    }

    /// Forgets a connection from `ip` that ended, and frees its place.
    pub(super) fn close(&self, id: u64, per_ip: u32, ip: IpAddr) {
        self.stops.lock().unwrap().remove(&id);
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.release_ip(per_ip, ip);
    }

    /// Tells every open connection to shut down gracefully, then waits for
    /// them all to end.
    pub(super) async fn drain(&self) {
        let stops: Vec<_> = self
            .stops
            .lock()
            .unwrap()
            .drain()
            .map(|(_, e)| (e.stop, e.served.load(Ordering::Relaxed)))
            .collect();
        for (stop, served) in stops {
            // One that never sent a whole request has nothing to finish
            // (hyper would wait for the head it is trickling).
            let _ = stop.send(if served { Stop::Drain } else { Stop::Evict });
        }
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Runs `f` when dropped.
pub(super) fn on_drop(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
