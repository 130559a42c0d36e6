//! Which worker a datagram belongs to when several SBE cores share one
//! address (SO_REUSEPORT): all messages of a call carry its Call-ID
//! (RFC 3261 §8.1.1.4; the responses, the ACK, a CANCEL and the BYE
//! alike), so a hash of it sends every transaction and its retransmissions
//! to the one core that holds its state, whichever socket the kernel
//! delivered the datagram to.
//!
//! Read by hand from the raw bytes, before any parse: the receiving
//! worker pays one header scan, the owner the full parse.

/// The worker, of `workers`, that owns the message; `None` when it has no
/// Call-ID (it is malformed, and any worker answers it statelessly).
pub fn shard(bytes: &[u8], workers: usize) -> Option<usize> {
    if workers <= 1 {
        return Some(0);
    }
    let id = call_id(bytes)?;
    // FNV-1a: stable across processes and runs, so that workers agree.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Some((h % workers as u64) as usize)
}

/// The Call-ID value (long or compact form, RFC 3261 §7.3.3), trimmed.
fn call_id(bytes: &[u8]) -> Option<&[u8]> {
    // The header lines only: a body may hold anything.
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .skip(1)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty());
    lines.find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = line[..colon].trim_ascii();
        let is_call_id = name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i");
        is_call_id.then(|| line[colon + 1..].trim_ascii())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_and_its_responses_share_a_worker() {
        let invite = b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nCall-ID: abc@h\r\n\r\n";
        let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\ni:  abc@h \r\n\r\n";
        for n in 2..8 {
            assert_eq!(shard(invite, n), shard(ok, n));
            assert!(shard(invite, n).unwrap() < n);
        }
        assert_eq!(shard(b"garbage", 2), None);
        assert_eq!(shard(b"garbage", 1), Some(0));
        // Spread: distinct calls do not all land on one worker.
        let spread: std::collections::HashSet<_> = (0..64)
            .map(|i| {
                shard(
                    format!("BYE x SIP/2.0\r\nCall-ID: c{i}\r\n\r\n").as_bytes(),
                    2,
                )
            })
            .collect();
        assert_eq!(spread.len(), 2);
    }
}
