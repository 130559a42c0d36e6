//! The relay port range: even/odd pairs handed out and taken back, and
//! the table from a local port to the stream side that owns it.

use crate::control::Side;
use std::collections::VecDeque;
use std::ops::Range;

/// Which port of a pair a datagram came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// The even port: RTP, and RTCP when multiplexed.
    Rtp,
    /// The odd port: RTCP.
    Rtcp,
}

/// Who owns a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) slot: u32,
    pub(crate) side: Side,
}

/// The pairs of the range: free ones in a queue (released pairs go to the
/// back, so a port rests as long as possible before its next call and late
/// packets of the old call meet no new one), and an owner per pair.
#[derive(Debug)]
pub(crate) struct Ports {
    /// First (even) port.
    start: u16,
    owners: Vec<Option<Owner>>,
    free: VecDeque<u16>,
}

impl Ports {
    pub(crate) fn new(range: &Range<u16>) -> Self {
        // Port 0 is no port; an odd start moves up to the next pair.
        let start = range.start.max(2).saturating_add(1) & !1;
        let end = range.end & !1;
        let pairs = usize::from(end.saturating_sub(start) / 2);
        Ports {
            start,
            owners: vec![None; pairs],
            free: (0..pairs).filter_map(|p| u16::try_from(p).ok()).collect(),
        }
    }

    /// Free pairs.
    pub(crate) fn free(&self) -> usize {
        self.free.len()
    }

    /// Takes two pairs for `slot`, one per side; their RTP ports.
    pub(crate) fn take(&mut self, slot: u32) -> Option<(u16, u16)> {
        if self.free.len() < 2 {
            return None;
        }
        let a = self.free.pop_front()?;
        let b = self.free.pop_front()?;
        self.owners[usize::from(a)] = Some(Owner {
            slot,
            side: Side::A,
        });
        self.owners[usize::from(b)] = Some(Owner {
            slot,
            side: Side::B,
        });
        Some((self.port(a), self.port(b)))
    }

    /// Gives back the pair whose RTP port is `rtp`.
    pub(crate) fn give_back(&mut self, rtp: u16) {
        if let Some(pair) = self.pair(rtp)
            && self.owners[usize::from(pair)].take().is_some()
        {
            self.free.push_back(pair);
        }
    }

    /// The owner of local port `port`, and which of its pair it is.
    pub(crate) fn owner(&self, port: u16) -> Option<(Owner, Channel)> {
        let pair = self.pair(port)?;
        let owner = (*self.owners.get(usize::from(pair))?)?;
        let channel = if port & 1 == 0 {
            Channel::Rtp
        } else {
            Channel::Rtcp
        };
        Some((owner, channel))
    }

    /// Whether `port` is in the relay range (owned or not).
    pub(crate) fn contains(&self, port: u16) -> bool {
        self.pair(port).is_some()
    }

    fn pair(&self, port: u16) -> Option<u16> {
        let pair = port.checked_sub(self.start)? / 2;
        (usize::from(pair) < self.owners.len()).then_some(pair)
    }

    fn port(&self, pair: u16) -> u16 {
        self.start + 2 * pair
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_odd_and_come_back_last() {
        let mut p = Ports::new(&(30_001..30_010));
        assert_eq!(p.free(), 4, "30002..30010: four pairs");
        assert_eq!(p.take(7), Some((30_002, 30_004)));
        assert_eq!(
            p.owner(30_003),
            Some((
                Owner {
                    slot: 7,
                    side: Side::A
                },
                Channel::Rtcp
            ))
        );
        assert_eq!(
            p.owner(30_004).map(|(o, c)| (o.side, c)),
            Some((Side::B, Channel::Rtp))
        );
        assert_eq!(p.owner(30_006), None, "free");
        assert_eq!(p.owner(30_010), None, "past the range");
        assert_eq!(p.owner(30_001), None, "before the range");
        p.give_back(30_002);
        p.give_back(30_002);
        assert_eq!(p.free(), 3, "a pair given back twice counts once");
        assert_eq!(p.take(8), Some((30_006, 30_008)));
        assert_eq!(p.take(9), None, "one pair left, a stream needs two");
    }

    #[test]
    fn degenerate_ranges_have_no_pairs() {
        let reversed = Range {
            start: 40_000,
            end: 30_000,
        };
        for r in [0..0, 0..2, 65_535..65_535, reversed, 65_534..65_535] {
            assert_eq!(Ports::new(&r).free(), 0, "{r:?}");
        }
        assert_eq!(Ports::new(&(0..6)).free(), 2, "port 0 is skipped: 2..6");
    }
}
