//! A dedicated OS thread that owns a model. Model compute never runs on a tokio
//! worker: jobs arrive on a bounded channel and answer through a oneshot. A
//! panic on the thread ends it and is reported as a [`Crash`], at once
//! ([`OnDeath`]) and to every caller after.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::panic_message;

/// The replica died while handling a request (a panic); the string says how.
#[derive(Debug, Clone, PartialEq)]
pub struct Crash(pub String);

type Job<M> = Box<dyn FnOnce(&M) + Send>;

/// Called with the panic message when the compute thread dies, so the replica
/// fails at once (not only when a request or health check notices).
pub type OnDeath = Arc<dyn Fn(String) + Send + Sync>;

/// Spawns a model's OS thread: builds the model there with `load` (an error or
/// a panic is a failed start), answers with `ready(&model)`, then runs
/// `serve(model)`. If `serve` ends with a panic message, it is recorded in
/// `death` and `on_death` fails the replica so the controller replaces it.
pub(super) async fn spawn_model_thread<M, R: Send + 'static>(
    name: &str,
    load: impl FnOnce() -> Result<M, String> + Send + 'static,
    ready: impl FnOnce(&M) -> R + Send + 'static,
    death: Arc<Mutex<Option<String>>>,
    on_death: OnDeath,
    serve: impl FnOnce(M) -> Result<(), String> + Send + 'static,
) -> Result<R, String> {
    let (ready_tx, ready_rx) = oneshot::channel();
    // The replica's span: the thread's lines (and panics) are the replica's.
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name(format!("rserve-{name}"))
        .spawn(move || {
            let _entered = span.enter();
            let model = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(load)) {
                Ok(Ok(model)) => model,
                Ok(Err(e)) => return drop(ready_tx.send(Err(e))),
                Err(panic) => return drop(ready_tx.send(Err(panic_message(&panic)))),
            };
            let _ = ready_tx.send(Ok(ready(&model)));
            if let Err(reason) = serve(model) {
                *death.lock().unwrap() = Some(reason.clone());
                on_death(reason);
            }
        })
        .map_err(|e| format!("cannot spawn the model thread: {e}"))?;
    match ready_rx.await {
        Ok(result) => result,
        Err(_) => Err("the model thread exited while loading the model".to_owned()),
    }
}

/// Why a job did not run.
#[derive(Debug)]
pub enum JobError {
    /// The queue is full (only after `max_ongoing_requests` was raised in place).
    Busy,
    /// The thread is gone (it panicked; the replica must be replaced).
    Crashed(Crash),
}

/// Handle to a model's compute thread.
pub struct ComputeThread<M> {
    jobs: mpsc::SyncSender<Job<M>>,
    /// The panic that ended the thread, if one did.
    death: Arc<Mutex<Option<String>>>,
    /// Whether a job is running now.
    busy: Arc<AtomicBool>,
}

impl<M: 'static> ComputeThread<M> {
    /// Spawns the thread, builds the model on it with `load` and waits until it is
    /// ready. `capacity` bounds the queue (the router already bounds in-flight
    /// requests per replica; one more slot is for health checks).
    pub async fn start(
        name: &str,
        capacity: usize,
        on_death: OnDeath,
        load: impl FnOnce() -> Result<M, String> + Send + 'static,
    ) -> Result<Self, String> {
        let (jobs, rx) = mpsc::sync_channel::<Job<M>>(capacity + 1);
        let death = Arc::new(Mutex::new(None));
        let busy = Arc::new(AtomicBool::new(false));
        let thread_busy = busy.clone();
        spawn_model_thread(
            name,
            load,
            |_| (),
            death.clone(),
            on_death,
            move |model| {
                while let Ok(job) = rx.recv() {
                    thread_busy.store(true, Ordering::SeqCst);
                    let outcome =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&model)));
                    thread_busy.store(false, Ordering::SeqCst);
                    // The model may be in any state after a panic: stop taking jobs.
                    outcome.map_err(|panic| panic_message(&panic))?;
                }
                Ok(())
            },
        )
        .await?;
        Ok(Self { jobs, death, busy })
    }

    /// Runs `f` on the model and returns its result. If the caller stops waiting
    /// (client gone) before the job starts, the job is skipped.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&M) -> R + Send + 'static,
    ) -> Result<R, JobError> {
        let (tx, rx) = oneshot::channel();
        let job: Job<M> = Box::new(move |model| {
            if !tx.is_closed() {
                let _ = tx.send(f(model));
            }
        });
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => JobError::Busy,
            mpsc::TrySendError::Disconnected(_) => JobError::Crashed(self.crash()),
        })?;
        rx.await.map_err(|_| JobError::Crashed(self.crash()))
    }

    fn crash(&self) -> Crash {
        Crash(
            self.death
                .lock()
                .unwrap()
                .clone()
                .unwrap_or_else(|| "compute thread exited".to_owned()),
        )
    }

    /// A health check: the thread is alive, and takes a job when idle. A busy
    /// thread counts as healthy: a long generation or batch must not look like a
    /// hang (a job that truly hangs is not detected).
    pub async fn ping(&self) -> Result<(), String> {
        if let Some(reason) = self.death.lock().unwrap().clone() {
            return Err(reason);
        }
        if self.busy.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.run(|_| ()).await.map_err(|e| match e {
            JobError::Busy => "compute queue is full".to_owned(),
            JobError::Crashed(Crash(reason)) => reason,
        })
    }
}
