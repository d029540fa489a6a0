//! Request counters of one deployment on this node's ingress: a few atomic
//! increments per request, read (as [`RequestFigures`]) when observed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Latency bucket bounds in milliseconds: Ray's `DEFAULT_LATENCY_BUCKET_MS`.
pub const LATENCY_BUCKETS_MS: [f64; 19] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 1000.0, 2000.0, 5000.0,
    10000.0, 60000.0, 120000.0, 300000.0, 600000.0,
];

/// Request counters of one deployment (on this node's ingress), striped:
/// each thread counts in its own cache line, so the tokio workers answering
/// requests on different cores do not fight over one.
#[derive(Debug, Default)]
pub struct RequestStats {
    stripes: [Stripe; STRIPES],
}

/// Stripes per [`RequestStats`]: at least the cores of a small node.
const STRIPES: usize = 4;

/// One thread's counters, alone in its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe {
    /// By status class: 1xx .. 5xx.
    by_class: [AtomicU64; 5],
    /// Non-cumulative counts per latency bucket; the last one is +Inf.
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    sum_us: AtomicU64,
}

/// This thread's stripe: threads take them in turn as they first count.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

/// The counters of [`RequestStats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFigures {
    /// Requests answered by status class: index 0 is 1xx … index 4 is 5xx.
    pub by_class: [u64; 5],
    /// Non-cumulative counts per bucket of [`LATENCY_BUCKETS_MS`]; the last
    /// one is +Inf.
    pub buckets: [u64; LATENCY_BUCKETS_MS.len() + 1],
    /// Total time to the response head, in microseconds.
    pub sum_us: u64,
}

impl RequestFigures {
    /// What was counted since `base` (a replica new since then: everything).
    pub fn since(&self, base: Option<&Self>) -> Self {
        let Some(base) = base else {
            return self.clone();
        };
        let mut out = self.clone();
        for (o, b) in out.by_class.iter_mut().zip(&base.by_class) {
            *o = o.saturating_sub(*b);
        }
        for (o, b) in out.buckets.iter_mut().zip(&base.buckets) {
            *o = o.saturating_sub(*b);
        }
        out.sum_us = out.sum_us.saturating_sub(base.sum_us);
        out
    }
}

impl RequestStats {
    /// Counts one answered request: its status and time to the response head.
    pub fn record(&self, status: u16, elapsed: Duration) {
        let stripe = &self.stripes[stripe()];
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        stripe.by_class[class].fetch_add(1, Ordering::Relaxed);
        let ms = elapsed.as_secs_f64() * 1000.0;
        let bucket = LATENCY_BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        stripe.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        stripe
            .sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// The counters now (the sum of the stripes).
    pub fn figures(&self) -> RequestFigures {
        let mut figures = RequestFigures::default();
        for stripe in &self.stripes {
            for (sum, n) in figures.by_class.iter_mut().zip(&stripe.by_class) {
                *sum += n.load(Ordering::Relaxed);
            }
            for (sum, n) in figures.buckets.iter_mut().zip(&stripe.buckets) {
                *sum += n.load(Ordering::Relaxed);
            }
            figures.sum_us += stripe.sum_us.load(Ordering::Relaxed);
        }
        figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_lands_in_the_right_bucket() {
        let stats = RequestStats::default();
        stats.record(200, Duration::from_micros(500));
        stats.record(200, Duration::from_millis(7));
        stats.record(503, Duration::from_secs(1000));
        stats.record(404, Duration::from_millis(1));
        let figures = stats.figures();
        assert_eq!(figures.by_class[1], 2);
        assert_eq!(figures.by_class[3], 1);
        assert_eq!(figures.by_class[4], 1);
        assert_eq!(figures.buckets[0], 2, "<= 1 ms");
        assert_eq!(figures.buckets[3], 1, "<= 10 ms");
        assert_eq!(figures.buckets[19], 1, "+Inf");
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let stats = RequestStats::default();
        std::thread::scope(|scope| {
            for t in 0..(2 * STRIPES as u64 + 1) {
                let stats = &stats;
                scope.spawn(move || {
                    for _ in 0..1000 {
                        stats.record(200, Duration::from_micros(t));
                    }
                });
            }
        });
        let figures = stats.figures();
        let threads = 2 * STRIPES as u64 + 1;
        assert_eq!(figures.by_class[1], 1000 * threads);
        assert_eq!(figures.buckets[0], 1000 * threads);
        assert_eq!(figures.sum_us, 1000 * (0..threads).sum::<u64>());
    }
}
