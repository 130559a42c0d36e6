//! RFC 2782 SRV ordering with injected randomness.

use crate::types::Srv;

/// Source of randomness for weighted SRV selection. Injected so that tests,
/// replays and stateless proxies (RFC 3263 §4.4 wants a deterministic
/// order there) control it; the crate never reads a clock or the OS RNG.
pub trait RandomSource {
    /// Next 64 random bits.
    fn next_u64(&mut self) -> u64;
}

/// SplitMix64: small, fast, and good enough for load spreading. Not for
/// cryptography.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeded generator; equal seeds give equal sequences.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
}

impl RandomSource for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Orders SRV records for trying (RFC 2782 "Usage rules"): by priority
/// ascending; within a priority, repeatedly pick a record with probability
/// proportional to its weight, weight-0 records first in the running sum
/// so they are chosen rarely when others have weight.
///
/// Records with target "." are dropped (the service is "decidedly not
/// available"). Before selecting, equal-priority records are sorted by
/// (weight == 0 first, target, port, weight), so the result depends only on
/// the record set and the random numbers, not on the answer order
/// (RFC 3263 §4.4).
pub fn order_srv(records: &[Srv], rng: &mut impl RandomSource) -> Vec<Srv> {
    let mut rest: Vec<Srv> = records
        .iter()
        .filter(|r| !matches!(r.target.as_str(), "." | ""))
        .cloned()
        .collect();
    rest.sort_by(|a, b| {
        (a.priority, a.weight != 0, &a.target, a.port, a.weight).cmp(&(
            b.priority,
            b.weight != 0,
            &b.target,
            b.port,
            b.weight,
        ))
    });
    let mut out = Vec::with_capacity(rest.len());
    while let Some(first) = rest.first() {
        let prio = first.priority;
        let end = rest.iter().take_while(|r| r.priority == prio).count();
        let mut group: Vec<Srv> = rest.drain(..end).collect();
        while !group.is_empty() {
            let sum: u64 = group.iter().map(|r| u64::from(r.weight)).sum();
            let pick = rng.next_u64() % (sum + 1);
            let mut running = 0u64;
            let idx = group
                .iter()
                .position(|r| {
                    running += u64::from(r.weight);
                    running >= pick
                })
                .unwrap_or(0);
            out.push(group.remove(idx));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_then_weight() {
        let recs = vec![
            Srv::new(10, 0, 5060, "low.example"),
            Srv::new(0, 1, 5060, "server1.example"),
            Srv::new(0, 2, 5060, "server2.example"),
            Srv::new(0, 0, 5060, "."),
        ];
        let mut rng = SplitMix64::new(1);
        let o = order_srv(&recs, &mut rng);
        assert_eq!(o.len(), 3);
        assert_eq!(o[2].target, "low.example");
        assert!(o[..2].iter().all(|r| r.priority == 0));
    }

    #[test]
    fn weights_are_respected_statistically() {
        let recs = vec![
            Srv::new(0, 1, 5060, "a.example"),
            Srv::new(0, 3, 5060, "b.example"),
            Srv::new(0, 0, 5060, "z.example"),
        ];
        let mut rng = SplitMix64::new(42);
        let mut first = std::collections::HashMap::new();
        for _ in 0..4000 {
            *first
                .entry(order_srv(&recs, &mut rng)[0].target.clone())
                .or_insert(0u32) += 1;
        }
        let a = first.get("a.example").copied().unwrap_or(0);
        let b = first.get("b.example").copied().unwrap_or(0);
        let z = first.get("z.example").copied().unwrap_or(0);
        // The draw is uniform over 0..=4: 0 selects the weight-0 record
        // (RFC 2782 puts it first), 1 selects a, 2..=4 select b.
        assert!((650..950).contains(&a), "a={a}");
        assert!((2200..2600).contains(&b), "b={b}");
        assert!((650..950).contains(&z), "z={z}");
    }
}
