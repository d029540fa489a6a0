//! Tokenization off the async workers, bounded like the requests it serves.
//!
//! A tokenizer job cannot be stopped midway, and the blocking pool would run
//! hundreds at once: so a replica runs at most one job per core, each
//! holding its place until it ends, and a job whose request left (client
//! gone, request timed out) before it began is never run. Inputs are cut or
//! refused by length before they get here, so each job is short.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Semaphore;

use crate::replica::compute::Crash;

/// A replica's tokenizer jobs.
#[derive(Debug, Clone)]
pub(super) struct Tokenizing {
    places: Arc<Semaphore>,
}

impl Default for Tokenizing {
    /// One job per core.
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl Tokenizing {
    /// At most `jobs` jobs at once.
    pub(super) fn new(jobs: usize) -> Self {
        Self {
            places: Arc::new(Semaphore::new(jobs.max(1))),
        }
    }

    /// Runs `job` on the blocking pool once a place is free. Dropping the
    /// returned future before the job begins means it never runs.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Crash> {
        let place = self
            .places
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Crash("the tokenizer was closed".to_owned()))?;
        let left = Arc::new(AtomicBool::new(false));
        let _leaving = SetOnDrop(left.clone());
        let done = tokio::task::spawn_blocking(move || {
            let _place = place; // held until the job ends, whoever waits
            (!left.load(Ordering::SeqCst)).then(job)
        })
        .await
        .map_err(|e| Crash(format!("tokenizer task failed: {e}")))?;
        // `None` only when the request left, and then nobody reads this.
        done.ok_or_else(|| Crash("the request left before tokenizing".to_owned()))
    }

    /// Places free now.
    #[cfg(test)]
    fn free(&self) -> usize {
        self.places.available_permits()
    }
}

/// Sets its flag when dropped (the waiting request went away).
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_are_bounded_and_a_job_whose_request_left_never_runs() {
        let tokenizing = Tokenizing::new(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let (release, held) = std::sync::mpsc::channel::<()>();
        // A long job takes the only place.
        let long = tokio::spawn({
            let (t, ran) = (tokenizing.clone(), ran.clone());
            async move {
                t.run(move || {
                    held.recv().unwrap();
                    ran.fetch_add(1, Ordering::SeqCst);
                })
                .await
            }
        });
        while tokenizing.free() != 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Requests that leave while they wait: their jobs never run, and
        // they hold nothing.
        for _ in 0..100 {
            let ran = ran.clone();
            let waiting = tokenizing.run(move || {
                ran.fetch_add(100, Ordering::SeqCst);
            });
            assert!(
                tokio::time::timeout(Duration::from_millis(1), waiting)
                    .await
                    .is_err()
            );
        }
        // The long job's request leaves too: its job still holds the place
        // until it ends (it cannot be stopped midway).
        long.abort();
        assert!(long.await.unwrap_err().is_cancelled());
        assert_eq!(tokenizing.free(), 0);
        release.send(()).unwrap();
        let ran2 = ran.clone();
        tokenizing
            .run(move || ran2.fetch_add(1, Ordering::SeqCst))
            .await
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 2, "the long job and the last");
        assert_eq!(tokenizing.free(), 1);
    }
}
