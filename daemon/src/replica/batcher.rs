//! Dynamic request batching (Ray's `@serve.batch`): requests are grouped into one
//! model call when the batch is full (`max_batch_size` inputs, or the token budget
//! `max_batch_tokens`, the inputs' tokens added up) or the first request has waited
//! `batch_wait_timeout_s`. While `max_concurrent_batches` batches run, new
//! requests queue and form the next batch, so a busy replica batches naturally.
//! A batch that would run alone (no other batch running) runs at once with
//! what is queued: an idle replica adds no latency, and batches form from the
//! requests that arrive while the replica is busy (Ray's `@serve.batch` waits
//! the timeout even on an idle replica; `wait_when_idle` restores that). Requests whose client has
//! gone are dropped before compute; each request gets exactly its own results.
//! Every request carries a key (the multiplexed model id, as in Ray): a batch
//! only ever holds one key, and a request with another key starts the next batch.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

/// Batching limits (from the deployment's `batching` table).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchLimits {
    /// Most inputs per batch (a single larger request runs alone).
    pub max_batch_size: usize,
    /// How long the first request waits for company.
    pub wait: Duration,
    /// Batches running at once.
    pub max_concurrent: usize,
    /// Most tokens per batch (every input's tokens added up: models run packed
    /// rows, without padding).
    pub max_tokens: Option<usize>,
    /// Wait for company even when no batch is running (Ray's exact semantics).
    pub wait_when_idle: bool,
}

impl BatchLimits {
    /// No batching: every request alone, at once.
    pub fn unbatched() -> Self {
        Self {
            max_batch_size: 1,
            wait: Duration::ZERO,
            max_concurrent: 1,
            max_tokens: None,
            wait_when_idle: false,
        }
    }
}

struct Pending<K, I, O, E> {
    key: K,
    items: Vec<I>,
    /// Tokens of all its items (for the token budget).
    tokens: usize,
    reply: oneshot::Sender<Result<Vec<O>, BatchError<E>>>,
}

/// A batch that ran, for observers (tests, metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    /// Inputs in the batch.
    pub size: usize,
    /// Requests in the batch.
    pub requests: usize,
}

/// Handle to a batching task. `E` is the error a batch's model call can end
/// with; every request of a failed batch gets a copy.
pub struct Batcher<K, I, O, E = String> {
    tx: mpsc::Sender<Pending<K, I, O, E>>,
}

/// Why a submitted request got no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError<E> {
    /// The batch's model call failed; every request in it gets the error.
    #[error("{0}")]
    Failed(E),
    /// The model call returned a different number of results than inputs.
    #[error("the model returned {returned} results for a batch of {inputs}")]
    Mismatch {
        /// Results returned.
        returned: usize,
        /// Inputs in the batch.
        inputs: usize,
    },
    /// The batcher is gone (replica stopping).
    #[error("the replica is shutting down")]
    Closed,
}

impl<K, I, O, E> Batcher<K, I, O, E>
where
    K: PartialEq + Clone + Send + 'static,
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    /// Starts the batching task. `run` executes one batch (all of one key) and
    /// must return one output per input, in order. `observe` sees every batch
    /// that runs.
    pub fn spawn<F, Fut>(
        limits: BatchLimits,
        queue: usize,
        run: F,
        observe: impl Fn(BatchRecord) + Send + Sync + 'static,
    ) -> Self
    where
        F: Fn(K, Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<O>, E>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(queue.max(1));
        tokio::spawn(form_batches(limits, rx, Arc::new(run), Arc::new(observe)));
        Self { tx }
    }

    /// Submits one request's inputs under `key`; resolves to its outputs, in order.
    pub async fn submit(
        &self,
        key: K,
        items: Vec<I>,
        tokens: usize,
    ) -> Result<Vec<O>, BatchError<E>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending {
                key,
                items,
                tokens,
                reply,
            })
            .await
            .map_err(|_| BatchError::Closed)?;
        rx.await.map_err(|_| BatchError::Closed)?
    }
}

async fn form_batches<K, I, O, E, F, Fut>(
    limits: BatchLimits,
    mut rx: mpsc::Receiver<Pending<K, I, O, E>>,
    run: Arc<F>,
    observe: Arc<dyn Fn(BatchRecord) + Send + Sync>,
) where
    K: PartialEq + Clone + Send + 'static,
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
    F: Fn(K, Vec<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<O>, E>> + Send + 'static,
{
    let running = Arc::new(Semaphore::new(limits.max_concurrent));
    let mut carried: Option<Pending<K, I, O, E>> = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        if first.reply.is_closed() {
            continue;
        }
        // The wait counts from the first request's arrival; while every batch slot
        // is busy, requests keep queueing and join this batch. Once it has a
        // slot, a batch that would run alone (no other batch running) runs at
        // once with what is queued, unless `wait_when_idle` (Ray's semantics).
        let arrived = Instant::now();
        let turn = running.clone().acquire_owned().await.expect("never closed");
        let alone = running.available_permits() + 1 == limits.max_concurrent;
        let deadline = if alone && !limits.wait_when_idle {
            Instant::now()
        } else {
            arrived + limits.wait
        };
        let mut size = first.items.len();
        let mut tokens = first.tokens;
        let mut batch = vec![first];
        while size < limits.max_batch_size {
            let next = match rx.try_recv() {
                Ok(p) => p,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) if Instant::now() >= deadline => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(p)) => p,
                        Ok(None) | Err(_) => break,
                    }
                }
            };
            if next.reply.is_closed() {
                continue;
            }
            let grown = size + next.items.len();
            if next.key != batch[0].key
                || grown > limits.max_batch_size
                || limits
                    .max_tokens
                    .is_some_and(|max| tokens + next.tokens > max)
            {
                carried = Some(next);
                break;
            }
            size = grown;
            tokens += next.tokens;
            batch.push(next);
        }
        // Clients may have left while the batch formed.
        batch.retain(|p| !p.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let run = run.clone();
        let observe = observe.clone();
        tokio::spawn(async move {
            let key = batch[0].key.clone();
            let counts: Vec<usize> = batch.iter().map(|p| p.items.len()).collect();
            let (items, replies): (Vec<Vec<I>>, Vec<_>) =
                batch.into_iter().map(|p| (p.items, p.reply)).unzip();
            let items: Vec<I> = items.into_iter().flatten().collect();
            let total = items.len();
            observe(BatchRecord {
                size: total,
                requests: counts.len(),
            });
            let result = run(key, items).await;
            drop(turn);
            match result {
                Ok(outputs) if outputs.len() == total => {
                    let mut outputs = outputs.into_iter();
                    for (reply, n) in replies.into_iter().zip(counts) {
                        let _ = reply.send(Ok(outputs.by_ref().take(n).collect()));
                    }
                }
                Ok(outputs) => {
                    let e = BatchError::Mismatch {
                        returned: outputs.len(),
                        inputs: total,
                    };
                    replies
                        .into_iter()
                        .for_each(|r| drop(r.send(Err(e.clone()))));
                }
                Err(e) => replies
                    .into_iter()
                    .for_each(|r| drop(r.send(Err(BatchError::Failed(e.clone()))))),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    type Log = Arc<Mutex<Vec<(Instant, BatchRecord)>>>;

    /// A batcher whose "model" doubles numbers after `cost` of (paused) time.
    fn doubler(limits: BatchLimits, cost: Duration) -> (Arc<Batcher<(), u32, u32>>, Log) {
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        let batcher = Batcher::spawn(
            limits,
            1024,
            move |(), items: Vec<u32>| async move {
                tokio::time::sleep(cost).await;
                if items.contains(&13) {
                    return Err("unlucky input".to_owned());
                }
                Ok(items.into_iter().map(|x| x * 2).collect())
            },
            move |record| seen.lock().unwrap().push((Instant::now(), record)),
        );
        (Arc::new(batcher), log)
    }

    fn limits(size: usize, wait_ms: u64) -> BatchLimits {
        BatchLimits {
            max_batch_size: size,
            wait: Duration::from_millis(wait_ms),
            max_concurrent: 1,
            max_tokens: None,
            wait_when_idle: true,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_replica_runs_at_once_and_a_busy_one_batches_what_arrives() {
        let idle = BatchLimits {
            wait_when_idle: false,
            ..limits(8, 10)
        };
        let (b, log) = doubler(idle, Duration::from_millis(5));
        // Alone on an idle replica: no wait at all.
        let start = Instant::now();
        assert_eq!(b.submit((), vec![1], 1).await.unwrap(), vec![2]);
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(5),
            "only the model's time"
        );
        // A burst while the first batch runs: the first runs at once, the
        // others queue behind it and run as one batch when it ends.
        let start = Instant::now();
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.submit((), vec![10], 1).await }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        let rest: Vec<_> = (0..3)
            .map(|i| {
                let b = b.clone();
                tokio::spawn(async move { b.submit((), vec![20 + i], 1).await })
            })
            .collect();
        assert_eq!(first.await.unwrap().unwrap(), vec![20]);
        for (i, r) in rest.into_iter().enumerate() {
            assert_eq!(r.await.unwrap().unwrap(), vec![2 * (20 + i as u32)]);
        }
        let log = log.lock().unwrap();
        let batches: Vec<_> = log[1..]
            .iter()
            .map(|(at, r)| (*at - start, r.size))
            .collect();
        assert_eq!(
            batches,
            [
                (Duration::ZERO, 1),
                // Queued at 1 ms while the first ran; they run together as
                // soon as it ends, at 5 ms, without waiting out their 10 ms.
                (Duration::from_millis(5), 3),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_request_gets_exactly_its_own_results() {
        let (b, log) = doubler(limits(8, 10), Duration::from_millis(5));
        let tasks: Vec<_> = (0..50u32)
            .map(|i| {
                let b = b.clone();
                // Varied request sizes, interleaved.
                let items: Vec<u32> = (0..(i % 4) + 1).map(|k| i * 100 + k).collect();
                tokio::spawn(async move { (items.clone(), b.submit((), items, 1).await) })
            })
            .collect();
        for t in tasks {
            let (items, out) = t.await.unwrap();
            assert_eq!(
                out.unwrap(),
                items.iter().map(|x| x * 2).collect::<Vec<_>>()
            );
        }
        let log = log.lock().unwrap();
        assert!(
            log.len() < 50,
            "requests were batched ({} batches)",
            log.len()
        );
        // A batch exceeds max_batch_size only when one request alone is larger (max 4 here).
        assert!(log.iter().all(|(_, r)| r.size <= 8), "{log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_request_waits_exactly_the_timeout() {
        let (b, log) = doubler(limits(10, 10), Duration::ZERO);
        let start = Instant::now();
        assert_eq!(b.submit((), vec![1], 1).await.unwrap(), vec![2]);
        let log = log.lock().unwrap();
        assert_eq!(log[0].0 - start, Duration::from_millis(10));
        assert_eq!(
            log[0].1,
            BatchRecord {
                size: 1,
                requests: 1
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_runs_without_waiting() {
        let (b, log) = doubler(limits(3, 1000), Duration::ZERO);
        let start = Instant::now();
        let all = futures_util::future::join_all((0..3).map(|i| b.submit((), vec![i], 1))).await;
        assert!(all.iter().all(Result::is_ok));
        let log = log.lock().unwrap();
        assert_eq!(
            log[0].1,
            BatchRecord {
                size: 3,
                requests: 3
            }
        );
        assert_eq!(log[0].0, start, "no wait once full");
    }

    #[tokio::test(start_paused = true)]
    async fn the_token_budget_adds_up_tokens() {
        let mut l = limits(100, 10);
        l.max_tokens = Some(100);
        let (b, log) = doubler(l, Duration::ZERO);
        // 4 × 10 + 60 tokens fit exactly (no padding counted); 1 more does not.
        let mut calls: Vec<_> = (0..4).map(|i| b.submit((), vec![i], 10)).collect();
        calls.push(b.submit((), vec![99], 60));
        calls.push(b.submit((), vec![98], 1));
        let all = futures_util::future::join_all(calls).await;
        assert!(all.iter().all(Result::is_ok));
        let sizes: Vec<usize> = log.lock().unwrap().iter().map(|(_, r)| r.size).collect();
        assert_eq!(sizes, vec![5, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_batch_fails_only_its_requests() {
        let (b, _) = doubler(limits(2, 10), Duration::ZERO);
        let (bad, good) = tokio::join!(
            async {
                futures_util::future::join(b.submit((), vec![13], 1), b.submit((), vec![1], 1))
                    .await
            },
            async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                b.submit((), vec![2], 1).await
            }
        );
        assert_eq!(bad.0, Err(BatchError::Failed("unlucky input".into())));
        assert_eq!(bad.1, Err(BatchError::Failed("unlucky input".into())));
        assert_eq!(good, Ok(vec![4]));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_whose_client_left_are_dropped_before_compute() {
        let (b, log) = doubler(limits(10, 10), Duration::ZERO);
        let gone = tokio::time::timeout(Duration::from_millis(5), b.submit((), vec![7], 1)).await;
        assert!(gone.is_err());
        assert_eq!(b.submit((), vec![1], 1).await.unwrap(), vec![2]);
        let log = log.lock().unwrap();
        assert_eq!(log.iter().map(|(_, r)| r.size).sum::<usize>(), 1, "{log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_replica_batches_what_queued_meanwhile() {
        // One slow batch runs; requests arriving meanwhile form the next batch.
        let (b, log) = doubler(limits(16, 0), Duration::from_millis(100));
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.submit((), vec![0], 1).await }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        let rest = futures_util::future::join_all((1..9).map(|i| b.submit((), vec![i], 1))).await;
        assert!(rest.iter().all(Result::is_ok));
        assert!(first.await.unwrap().is_ok());
        let sizes: Vec<usize> = log.lock().unwrap().iter().map(|(_, r)| r.size).collect();
        assert_eq!(sizes, vec![1, 8]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_only_ever_holds_one_model_id() {
        // Multiplexing: requests for three models, interleaved, while one slow
        // batch runs. Every batch holds one key, stays within the size bound,
        // and every request gets its own model's result.
        type Run = (String, Vec<u32>, Instant);
        let runs: Arc<Mutex<Vec<Run>>> = Arc::default();
        let seen = runs.clone();
        let b = Arc::new(Batcher::<_, _, _, String>::spawn(
            limits(4, 10),
            1024,
            move |key: String, items: Vec<u32>| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .unwrap()
                        .push((key.clone(), items.clone(), Instant::now()));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let offset = key.trim_start_matches('m').parse::<u32>().unwrap() * 1000;
                    Ok(items.into_iter().map(|x| x + offset).collect())
                }
            },
            |_| {},
        ));
        let start = Instant::now();
        let tasks: Vec<_> = (0..30u32)
            .map(|i| {
                let b = b.clone();
                let key = format!("m{}", [1, 2, 1, 3, 1, 2][i as usize % 6]);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(u64::from(i % 7))).await;
                    let out = b.submit(key.clone(), vec![i], 1).await.unwrap();
                    (key, i, out)
                })
            })
            .collect();
        for t in tasks {
            let (key, i, out) = t.await.unwrap();
            let offset = key[1..].parse::<u32>().unwrap() * 1000;
            assert_eq!(out, vec![i + offset], "request {i} for {key}");
        }
        let runs = runs.lock().unwrap();
        let total: usize = runs.iter().map(|(_, items, _)| items.len()).sum();
        assert_eq!(total, 30);
        for (key, items, at) in runs.iter() {
            assert!(items.len() <= 4, "{key}: {items:?}");
            for i in items {
                let want = format!("m{}", [1, 2, 1, 3, 1, 2][*i as usize % 6]);
                assert_eq!(&want, key, "request {i} ran in a batch of {key}");
            }
            // The first batch waited at most the timeout after the first arrival.
            assert!(*at - start <= Duration::from_secs(2));
        }
        let first = &runs[0];
        assert!(
            first.2 - start <= Duration::from_millis(10),
            "waited past the timeout"
        );
        assert!(runs.len() < 30, "requests shared batches");
    }
}
