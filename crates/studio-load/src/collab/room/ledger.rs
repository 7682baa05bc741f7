//! What senders and receivers of one room run share: when each (sender, seq) was sent, and, in
//! throughput runs, how far each receiver has got with each sender (the in-flight window).
//!
//! Invariant of the send log: a slot is only overwritten once every receiver that will look it
//! up has done so. Relay runs size it for every update of the run (the schedule is fixed), so
//! it never wraps; throughput runs use it as a ring of `window + 1` slots, and a sender never
//! gets more than `window` updates ahead of the slowest live receiver, which looks the send
//! time up before it advances.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;
use tokio::time::Instant;

/// Send instants of one sender, as nanoseconds since the run's epoch, plus one (0 = unknown).
#[derive(Debug)]
pub struct SendLog {
    slots: Box<[AtomicU64]>,
}

impl SendLog {
    /// A log with `capacity` slots (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: (0..capacity.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn slot(&self, seq: u64) -> &AtomicU64 {
        // The modulo is below `slots.len()`, a `usize`.
        let index = usize::try_from(seq % self.slots.len() as u64).unwrap_or_default();
        &self.slots[index]
    }

    /// Records that update `seq` was sent `nanos` after the epoch.
    pub fn record(&self, seq: u64, nanos: u64) {
        self.slot(seq).store(nanos + 1, Ordering::Release);
    }

    /// When update `seq` was sent, in nanoseconds after the epoch.
    pub fn sent_at(&self, seq: u64) -> Option<u64> {
        match self.slot(seq).load(Ordering::Acquire) {
            0 => None,
            stored => Some(stored - 1),
        }
    }
}

/// Nanoseconds from `epoch` to `at` (0 if `at` is earlier).
pub fn nanos_since(epoch: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

/// The in-flight window of a throughput run: a sender may have at most `limit` updates that
/// some live receiver has not seen yet.
#[derive(Debug)]
pub struct Window {
    limit: u64,
    clients: usize,
    /// `seen[receiver * clients + sender]`: highest seq of `sender` seen by `receiver`, plus one.
    seen: Box<[AtomicU64]>,
    /// Receivers that count: synced and still connected.
    live: Box<[AtomicBool]>,
    /// One per sender, woken when a receiver advances or leaves.
    wake: Box<[Notify]>,
}

impl Window {
    /// A window of `limit` updates for `clients` clients, none of them live yet.
    pub fn new(limit: u64, clients: usize) -> Self {
        Self {
            limit: limit.max(1),
            clients,
            seen: (0..clients * clients).map(|_| AtomicU64::new(0)).collect(),
            live: (0..clients).map(|_| AtomicBool::new(false)).collect(),
            wake: (0..clients).map(|_| Notify::new()).collect(),
        }
    }

    /// Marks `client` as a live receiver, or no longer one; senders re-check their window.
    pub fn set_live(&self, client: usize, live: bool) {
        self.live[client].store(live, Ordering::Release);
        if !live {
            self.wake.iter().for_each(Notify::notify_one);
        }
    }

    /// `receiver` has now seen `sender`'s updates up to `seq`.
    pub fn advance(&self, receiver: usize, sender: usize, seq: u64) {
        self.seen[receiver * self.clients + sender].fetch_max(seq + 1, Ordering::Release);
        self.wake[sender].notify_one();
    }

    /// Whether `sender`, having sent `sent` updates, may send another. False when no other
    /// receiver is live: nobody would see it.
    pub fn open(&self, sender: usize, sent: u64) -> bool {
        let slowest = (0..self.clients)
            .filter(|&receiver| receiver != sender && self.live[receiver].load(Ordering::Acquire))
            .map(|receiver| self.seen[receiver * self.clients + sender].load(Ordering::Acquire))
            .min();
        slowest.is_some_and(|seen| sent.saturating_sub(seen) < self.limit)
    }

    /// Resolves when `sender`'s window may have opened.
    pub async fn changed(&self, sender: usize) {
        self.wake[sender].notified().await;
    }

    /// Send-log slots a throughput run needs per sender.
    pub fn log_capacity(&self) -> usize {
        usize::try_from(self.limit)
            .unwrap_or(usize::MAX - 1)
            .saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_log_ring() {
        let log = SendLog::new(3);
        assert_eq!(log.sent_at(0), None);
        log.record(0, 0);
        log.record(1, 10);
        assert_eq!(log.sent_at(0), Some(0));
        assert_eq!(log.sent_at(1), Some(10));
        log.record(3, 30);
        assert_eq!(log.sent_at(3), Some(30));
    }

    #[test]
    fn window_follows_the_slowest_live_receiver() {
        let window = Window::new(2, 3);
        assert!(!window.open(0, 0), "nobody to send to");
        window.set_live(1, true);
        window.set_live(2, true);
        assert!(window.open(0, 0));
        assert!(window.open(0, 1));
        assert!(!window.open(0, 2));
        window.advance(1, 0, 1);
        assert!(!window.open(0, 2), "receiver 2 has seen nothing");
        window.advance(2, 0, 0);
        assert!(window.open(0, 2));
        window.set_live(2, false);
        assert!(
            window.open(0, 3),
            "a gone receiver no longer holds senders back"
        );
        assert_eq!(window.log_capacity(), 3);
    }
}
