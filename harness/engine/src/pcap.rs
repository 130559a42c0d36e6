//! The run as a capture: every datagram the roles sent and received, in a
//! pcapng file Wireshark and tshark open, with the time each was sent or
//! arrived and a comment naming the check on its first packet.
//!
//! The roles see payloads, not frames, so each datagram is given the IPv4
//! or IPv6 and UDP headers it travelled with (etherparse builds them) on a
//! raw-IP link (LINKTYPE_RAW). A datagram both sent and received by roles
//! appears twice, once per side, as a capture on each host would show.
//!
//! A message of a TCP or TLS connection becomes one TCP segment (PSH,
//! ACK) whose sequence numbers run on per direction, so Wireshark follows
//! the stream; there is no handshake, and a TLS message is kept as the
//! plaintext the role read or wrote, as if the capture were decrypted.

use crate::report::Report;
use crate::role::Wire;
use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use speermint_net::Transport;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Sequence numbers of each direction of each connection seen so far.
#[derive(Default)]
struct Sequences(HashMap<(SocketAddr, SocketAddr), u32>);

impl Sequences {
    /// This segment's sequence number and what it acknowledges; moves the
    /// direction's number past it.
    fn next(&mut self, w: &Wire) -> (u32, u32) {
        let ack = self.0.get(&(w.to, w.from)).copied().unwrap_or(1);
        let seq = self.0.entry((w.from, w.to)).or_insert(1);
        let now = *seq;
        *seq = seq.wrapping_add(u32::try_from(w.bytes.len()).unwrap_or(u32::MAX));
        (now, ack)
    }
}

/// The IP and UDP packet for a datagram, or the IP and TCP segment for a
/// message of a connection; `None` when the two ends are of different
/// families (which no socket can produce).
fn packet(w: &Wire, seqs: &mut Sequences) -> Option<Vec<u8>> {
    let ip = match (w.from, w.to) {
        (SocketAddr::V4(a), SocketAddr::V4(b)) => {
            PacketBuilder::ipv4(a.ip().octets(), b.ip().octets(), 64)
        }
        (SocketAddr::V6(a), SocketAddr::V6(b)) => {
            PacketBuilder::ipv6(a.ip().octets(), b.ip().octets(), 64)
        }
        _ => return None,
    };
    let (sport, dport) = (w.from.port(), w.to.port());
    let mut out = Vec::new();
    match w.transport {
        Transport::Udp => {
            let builder = ip.udp(sport, dport);
            out.reserve(builder.size(w.bytes.len()));
            builder.write(&mut out, &w.bytes).ok()?;
        }
        Transport::Tcp | Transport::Tls => {
            let (seq, ack) = seqs.next(w);
            let builder = ip.tcp(sport, dport, seq, u16::MAX).psh().ack(ack);
            out.reserve(builder.size(w.bytes.len()));
            builder.write(&mut out, &w.bytes).ok()?;
        }
    }
    Some(out)
}

/// The report's datagrams as pcapng bytes; `started` is when the run began
/// (wall clock), to which each datagram's run time is added.
pub fn capture(report: &Report, started: SystemTime) -> Result<Vec<u8>, String> {
    let base = started.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut writer = PcapNgWriter::new(Vec::new()).map_err(|e| e.to_string())?;
    // pcap-file writes packet times in nanoseconds; the interface must say
    // so (if_tsresol 9), or readers take them for the default microseconds
    // and stretch the run a thousandfold.
    let mut interface = InterfaceDescriptionBlock::new(DataLink::RAW, 0);
    interface
        .options
        .push(InterfaceDescriptionOption::IfTsResol(9));
    writer
        .write_pcapng_block(interface)
        .map_err(|e| e.to_string())?;
    let mut seqs = Sequences::default();
    for check in &report.checks {
        let mut first = true;
        for e in &check.evidence {
            let Some(w) = &e.wire else { continue };
            let Some(data) = packet(w, &mut seqs) else {
                continue;
            };
            let mut options = Vec::new();
            if first {
                options.push(EnhancedPacketOption::Comment(Cow::Owned(format!(
                    "check {}: {} - {}",
                    check.id,
                    check.verdict.as_str(),
                    check.reason
                ))));
                first = false;
            }
            let over = match w.transport {
                Transport::Udp => "",
                Transport::Tcp => " over tcp",
                Transport::Tls => " over tls (plaintext as the role saw it)",
            };
            options.push(EnhancedPacketOption::Comment(Cow::Owned(format!(
                "{} {} by the {} role{over}",
                check.id, e.direction, e.role
            ))));
            let block = EnhancedPacketBlock {
                interface_id: 0,
                timestamp: base + w.at,
                original_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
                data: Cow::Owned(data),
                options,
            };
            writer
                .write_pcapng_block(block)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(writer.into_inner())
}

/// How many packets [`capture`] writes for the report.
pub fn packet_count(report: &Report) -> usize {
    let mut seqs = Sequences::default();
    report
        .checks
        .iter()
        .flat_map(|c| &c.evidence)
        .filter_map(|e| e.wire.as_ref())
        .filter(|w| packet(w, &mut seqs).is_some())
        .count()
}
