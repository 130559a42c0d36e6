//! The per-side token buckets of a stream (RFC 6404 §4.9).

use crate::config::MediaLimits;
use std::time::Instant;

/// A packet bucket and a byte bucket, refilled by the time elapsed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    packets: f64,
    bytes: f64,
    last: Instant,
}

impl Bucket {
    /// Full: a stream may start with a burst.
    pub(crate) fn full(limits: &MediaLimits, now: Instant) -> Self {
        Bucket {
            packets: limits.packet_burst,
            bytes: limits.byte_burst,
            last: now,
        }
    }

    /// Whether a packet of `len` bytes fits at `now`; takes its tokens if so.
    /// Time that runs backwards refills nothing.
    pub(crate) fn admit(&mut self, limits: &MediaLimits, now: Instant, len: usize) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        if now > self.last {
            self.last = now;
        }
        self.packets = (self.packets + dt * limits.packets_per_sec).min(limits.packet_burst);
        self.bytes = (self.bytes + dt * limits.bytes_per_sec).min(limits.byte_burst);
        let len = len as f64;
        if self.packets >= 1.0 && self.bytes >= len {
            self.packets -= 1.0;
            self.bytes -= len;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate_in_packets_and_bytes() {
        let limits = MediaLimits {
            packets_per_sec: 10.0,
            packet_burst: 3.0,
            bytes_per_sec: 1000.0,
            byte_burst: 1000.0,
        };
        let t0 = Instant::now();
        let mut b = Bucket::full(&limits, t0);
        assert!((0..3).all(|_| b.admit(&limits, t0, 10)));
        assert!(!b.admit(&limits, t0, 10), "burst spent");
        assert!(b.admit(&limits, t0 + Duration::from_millis(100), 10));
        assert!(!b.admit(&limits, t0 + Duration::from_millis(100), 10));
        // A second later the packet bucket is full again, but 1,000 bytes
        // hold one 600-byte packet, not two.
        let t1 = t0 + Duration::from_millis(1100);
        assert!(b.admit(&limits, t1, 600));
        assert!(!b.admit(&limits, t1, 600));
        assert!(
            !b.admit(&limits, t0, 600),
            "going back in time refills nothing"
        );
    }
}
