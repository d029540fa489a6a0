//! The ingress's open connections: counted against `--max-connections`, and
//! drained on shutdown without a shared waker on the request path.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

/// The open connections: each is told to finish its requests and close when
/// the ingress drains (hyper's graceful shutdown). Touched when a
/// connection opens and closes, never per request.
#[derive(Default)]
pub(super) struct Connections {
    stops: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    next: AtomicU64,
    pub(super) tasks: TaskTracker,
    /// Open now (admitted, not yet closed).
    open: AtomicUsize,
    /// Closed at once because `open` was at the cap.
    refused: AtomicU64,
    /// When a refusal was last logged (one line per [`REFUSAL_LOG_PERIOD`]).
    logged: Mutex<Option<Instant>>,
}

/// At most one log line per this while connections are refused.
const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(10);

impl Connections {
    /// Takes a place for a new connection, unless `max` are open: then the
    /// refusal is counted (and logged, at most every 10 s).
    pub(super) fn admit(&self, max: usize) -> bool {
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if !admitted {
            let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
            let mut logged = self.logged.lock().unwrap();
            if logged.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_PERIOD) {
                *logged = Some(Instant::now());
                tracing::warn!(
                    max,
                    refused,
                    "HTTP connections at the cap (--max-connections); new ones are closed at once."
                );
            }
        }
        admitted
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
             rserve_http_connections_refused_total {}\n",
            self.open.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        );
    }

    /// Registers an admitted connection: its id, and what tells it to shut down.
    pub(super) fn open(&self) -> (u64, oneshot::Receiver<()>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.stops.lock().unwrap().insert(id, tx);
        (id, rx)
    }

    /// Forgets a connection that ended, and frees its place.
    pub(super) fn close(&self, id: u64) {
        self.stops.lock().unwrap().remove(&id);
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// Tells every open connection to shut down gracefully, then waits for
    /// them all to end.
    pub(super) async fn drain(&self) {
        let stops: Vec<_> = self
            .stops
            .lock()
            .unwrap()
            .drain()
            .map(|(_, tx)| tx)
            .collect();
        for stop in stops {
            let _ = stop.send(());
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
