//! The node's backlog: what every deployment's queue and every request body
//! hold together, bounded node-wide.
//!
//! A deployment's `max_queued_requests` keeps Ray's meaning (`-1`, Ray's
//! default, is no bound); these bounds are the safety net under it, so no
//! setting and no client can turn overload into memory. Past either bound a
//! request gets 503 at once.

use std::sync::atomic::{AtomicU64, Ordering};

/// Node-wide bounds on queued requests and buffered request bytes, with
/// what they hold now and how often they refused.
#[derive(Debug)]
pub struct Backlog {
    max_queued: u64,
    queued: AtomicU64,
    max_bytes: u64,
    bytes: AtomicU64,
    refused_queued: AtomicU64,
    refused_bytes: AtomicU64,
}

/// Default node-wide bound on requests waiting for a replica (`--max-queued-requests`).
pub const DEFAULT_MAX_QUEUED: u64 = 8192;
/// Default node-wide bound on request bodies held in memory (`--max-buffered-mb`).
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024 * 1024;

impl Default for Backlog {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_QUEUED, DEFAULT_MAX_BYTES)
    }
}

/// What a [`Backlog`] holds and has refused (status and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogFigures {
    /// Requests queued now, over every deployment.
    pub queued: u64,
    /// The bound on `queued`.
    pub max_queued: u64,
    /// Request body bytes held now.
    pub bytes: u64,
    /// The bound on `bytes`.
    pub max_bytes: u64,
    /// Requests refused because the node's queue was full.
    pub refused_queued: u64,
    /// Requests refused because the node held too many body bytes.
    pub refused_bytes: u64,
}

impl Backlog {
    /// At most `max_queued` requests queued and `max_bytes` of request bodies
    /// held, node-wide.
    pub fn new(max_queued: u64, max_bytes: u64) -> Self {
        Self {
            max_queued,
            queued: AtomicU64::new(0),
            max_bytes,
            bytes: AtomicU64::new(0),
            refused_queued: AtomicU64::new(0),
            refused_bytes: AtomicU64::new(0),
        }
    }

    /// Takes a place in the node's queue, or says it is full (and counts the
    /// refusal). Each `true` is paired with one [`Backlog::dequeue`].
    pub(crate) fn enqueue(&self) -> bool {
        let took = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_queued).then_some(n + 1)
            })
            .is_ok();
        if !took {
            self.refused_queued.fetch_add(1, Ordering::Relaxed);
        }
        took
    }

    /// Gives back a place taken by [`Backlog::enqueue`].
    pub(crate) fn dequeue(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// The bound on queued requests.
    pub fn max_queued(&self) -> u64 {
        self.max_queued
    }

    /// The bound on body bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// A hold on no bytes yet, grown as a body arrives.
    pub fn hold(&self) -> HeldBytes<'_> {
        HeldBytes {
            backlog: self,
            held: 0,
        }
    }

    /// What is held and refused now.
    pub fn figures(&self) -> BacklogFigures {
        BacklogFigures {
            queued: self.queued.load(Ordering::Relaxed),
            max_queued: self.max_queued,
            bytes: self.bytes.load(Ordering::Relaxed),
            max_bytes: self.max_bytes,
            refused_queued: self.refused_queued.load(Ordering::Relaxed),
            refused_bytes: self.refused_bytes.load(Ordering::Relaxed),
        }
    }

    /// Appends the backlog's figures to a Prometheus text page.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let f = self.figures();
        let _ = write!(
            out,
            "# HELP rserve_node_queued_requests Requests waiting for a replica, over every deployment.\n\
             # TYPE rserve_node_queued_requests gauge\n\
             rserve_node_queued_requests {}\n\
             # HELP rserve_node_max_queued_requests The node's bound on queued requests (--max-queued-requests).\n\
             # TYPE rserve_node_max_queued_requests gauge\n\
             rserve_node_max_queued_requests {}\n\
             # HELP rserve_node_request_body_bytes Request body bytes held in memory.\n\
             # TYPE rserve_node_request_body_bytes gauge\n\
             rserve_node_request_body_bytes {}\n\
             # HELP rserve_node_overload_refusals_total Requests refused with 503 at a node-wide bound.\n\
             # TYPE rserve_node_overload_refusals_total counter\n\
             rserve_node_overload_refusals_total{{bound=\"queued_requests\"}} {}\n\
             rserve_node_overload_refusals_total{{bound=\"body_bytes\"}} {}\n",
            f.queued, f.max_queued, f.bytes, f.refused_queued, f.refused_bytes,
        );
    }
}

/// Request body bytes counted against the node's bound; given back when dropped.
#[derive(Debug)]
pub struct HeldBytes<'a> {
    backlog: &'a Backlog,
    held: u64,
}

impl HeldBytes<'_> {
    /// Counts `n` more bytes, or says the node holds too many already (and
    /// counts the refusal; what was held stays held until the drop).
    pub fn grow(&mut self, n: usize) -> bool {
        if n == 0 {
            return true;
        }
        let n = n as u64;
        let max = self.backlog.max_bytes;
        let took = self
            .backlog
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                b.checked_add(n).filter(|&total| total <= max)
            })
            .is_ok();
        if took {
            self.held += n;
        } else {
            self.backlog.refused_bytes.fetch_add(1, Ordering::Relaxed);
        }
        took
    }
}

impl Drop for HeldBytes<'_> {
    fn drop(&mut self) {
        if self.held > 0 {
            self.backlog.bytes.fetch_sub(self.held, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_bound_refuses_past_it_and_counts() {
        let b = Backlog::new(2, 0);
        assert!(b.enqueue());
        assert!(b.enqueue());
        assert!(!b.enqueue());
        b.dequeue();
        assert!(b.enqueue());
        let f = b.figures();
        assert_eq!((f.queued, f.refused_queued), (2, 1));
    }

    #[test]
    fn held_bytes_are_bounded_and_given_back_on_drop() {
        let b = Backlog::new(0, 100);
        let mut one = b.hold();
        assert!(one.grow(60));
        let mut two = b.hold();
        assert!(two.grow(0), "nothing to hold is always fine");
        assert!(!two.grow(41), "60 + 41 > 100");
        assert!(two.grow(40));
        assert_eq!(b.figures().bytes, 100);
        drop(one);
        assert_eq!(b.figures().bytes, 40);
        drop(two);
        let f = b.figures();
        assert_eq!((f.bytes, f.refused_bytes), (0, 1));
        assert!(!b.hold().grow(usize::MAX), "no overflow");
    }
}
