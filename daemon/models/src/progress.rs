//! How far a model load has got, in steps (reading the file, each layer, the
//! embeddings and head), read from another thread for status and progress bars.

use std::sync::atomic::{AtomicU64, Ordering};

/// A load's progress: `done` of `total` steps. Written by the loading thread,
/// read by anyone; `total` is 0 until the load knows its size.
#[derive(Debug, Default)]
pub struct LoadProgress {
    done: AtomicU64,
    total: AtomicU64,
}

impl LoadProgress {
    /// A load of `total` steps begins (or begins again).
    pub fn begin(&self, total: u64) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// One more step is done.
    pub fn step(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets a load (before the next attempt).
    pub fn clear(&self) {
        self.begin(0);
    }

    /// `(done, total)` once the load knows its size; `done` never passes `total`.
    pub fn get(&self) -> Option<(u64, u64)> {
        let total = self.total.load(Ordering::Relaxed);
        (total > 0).then(|| (self.done.load(Ordering::Relaxed).min(total), total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_steps_up_to_the_total_and_starts_again() {
        let p = LoadProgress::default();
        assert_eq!(p.get(), None, "no size yet");
        p.begin(3);
        p.step();
        assert_eq!(p.get(), Some((1, 3)));
        for _ in 0..5 {
            p.step();
        }
        assert_eq!(p.get(), Some((3, 3)), "never past the total");
        p.begin(2);
        assert_eq!(p.get(), Some((0, 2)));
        p.clear();
        assert_eq!(p.get(), None);
    }
}
