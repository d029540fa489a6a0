//! Draining the ingress's connections without a shared waker on the request path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

impl Connections {
    /// Registers a connection: its id, and what tells it to shut down.
    pub(super) fn open(&self) -> (u64, oneshot::Receiver<()>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.stops.lock().unwrap().insert(id, tx);
        (id, rx)
    }

    /// Forgets a connection that ended.
    pub(super) fn close(&self, id: u64) {
        self.stops.lock().unwrap().remove(&id);
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
