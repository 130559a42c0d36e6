//! The run as a capture: every datagram the roles sent and received, in a
//! pcapng file Wireshark and tshark open, with the time each was sent or
//! arrived and a comment naming the check on its first packet.
//!
//! The roles see payloads, not frames, so each datagram is given the IPv4
//! or IPv6 and UDP headers it travelled with (etherparse builds them) on a
//! raw-IP link (LINKTYPE_RAW). A datagram both sent and received by roles
//! appears twice, once per side, as a capture on each host would show.

use crate::report::Report;
use crate::role::Wire;
use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The IP and UDP packet for a datagram, or `None` when the two ends are of
/// different families (which no socket can produce).
fn packet(w: &Wire) -> Option<Vec<u8>> {
    let builder = match (w.from, w.to) {
        (SocketAddr::V4(a), SocketAddr::V4(b)) => {
            PacketBuilder::ipv4(a.ip().octets(), b.ip().octets(), 64).udp(a.port(), b.port())
        }
        (SocketAddr::V6(a), SocketAddr::V6(b)) => {
            PacketBuilder::ipv6(a.ip().octets(), b.ip().octets(), 64).udp(a.port(), b.port())
        }
        _ => return None,
    };
    let mut out = Vec::with_capacity(builder.size(w.bytes.len()));
    builder.write(&mut out, &w.bytes).ok()?;
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
    for check in &report.checks {
        let mut first = true;
        for e in &check.evidence {
            let Some(w) = &e.wire else { continue };
            let Some(data) = packet(w) else { continue };
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
            options.push(EnhancedPacketOption::Comment(Cow::Owned(format!(
                "{} {} by the {} role",
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
    report
        .checks
        .iter()
        .flat_map(|c| &c.evidence)
        .filter_map(|e| e.wire.as_ref())
        .filter(|w| packet(w).is_some())
        .count()
}
