//! The timer queue: every transaction and parked request with a deadline
//! has an entry, so finding the next deadline and the due ones costs
//! O(log n) instead of a scan of every transaction (at 10,000 calls/s the
//! RFC 3261 and RFC 6026 timers keep about a million transactions alive).
//!
//! Entries are never updated in place: a transaction whose deadline moves
//! gets a new entry, and the element drops an entry whose target no longer
//! holds that deadline when it reaches the top.

use crate::transaction::{ClientKey, ServerKey};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What a deadline belongs to.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Server(ServerKey),
    Client(ClientKey),
    Parked(u64),
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) at: Instant,
    pub(crate) target: Target,
}

// Ordered by deadline only, earliest first out of the max-heap.
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}

#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Entry>,
}

impl TimerQueue {
    pub(crate) fn push(&mut self, at: Instant, target: Target) {
        self.heap.push(Entry { at, target });
    }

    pub(crate) fn peek(&self) -> Option<&Entry> {
        self.heap.peek()
    }

    /// The earliest entry, if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        if self.heap.peek()?.at <= now {
            self.heap.pop()
        } else {
            None
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Entry> {
        self.heap.pop()
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// See `Sbe::shrink_when_idle`.
    pub(crate) fn shrink_when_idle(&mut self) {
        if self.heap.capacity() > 1024 && self.heap.len() < self.heap.capacity() / 4 {
            self.heap.shrink_to(self.heap.len() * 2);
        }
    }
}
