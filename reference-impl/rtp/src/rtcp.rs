//! RTCP (RFC 3550 §6): compound-packet iteration with length validation and
//! typed zero-copy views of SR, RR, SDES, BYE and APP; other packet types
//! are kept raw.
//!
//! Parsing validates each packet fully (header, length, padding, and the
//! typed body of the five RFC 3550 types), so the view accessors below are
//! infallible. The §6.1 / Appendix A.2 compound rules are checked apart, by
//! [`validate_compound`].

use crate::BuildError;
use crate::bytes::{align4, u8_at, u16_at, u32_at, u64_at};

/// Sender report packet type (RFC 3550 §6.4.1).
pub const SR: u8 = 200;
/// Receiver report packet type (RFC 3550 §6.4.2).
pub const RR: u8 = 201;
/// Source description packet type (RFC 3550 §6.5).
pub const SDES: u8 = 202;
/// Goodbye packet type (RFC 3550 §6.6).
pub const BYE: u8 = 203;
/// Application-defined packet type (RFC 3550 §6.7).
pub const APP: u8 = 204;

const HEADER_LEN: usize = 4;
const SENDER_INFO_LEN: usize = 20;
const REPORT_BLOCK_LEN: usize = 24;

/// Why bytes are not a valid RTCP (compound) packet. Every variant carries
/// the byte offset from the start of the compound packet; it never exceeds
/// the input length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// The field starting at `offset` needs `needed` bytes the packet lacks.
    #[error("truncated at byte {offset}: field needs {needed} bytes")]
    Truncated {
        /// Where the missing field starts.
        offset: usize,
        /// Length of that field.
        needed: usize,
    },
    /// Version is not 2.
    #[error("RTCP version {version} at byte {offset}, expected 2")]
    BadVersion {
        /// Start of the packet.
        offset: usize,
        /// The two version bits.
        version: u8,
    },
    /// The length field ((words - 1), RFC 3550 §6.4.1) runs past the input.
    #[error("packet at byte {offset} declares {declared} bytes, {available} remain")]
    LengthOverrun {
        /// Start of the packet.
        offset: usize,
        /// `4 * (length + 1)`.
        declared: usize,
        /// Bytes from `offset` to the end of the input.
        available: usize,
    },
    /// P is set but the padding count is zero or exceeds the packet body.
    #[error("bad padding count {count} at byte {offset}")]
    BadPadding {
        /// Offset of the count octet.
        offset: usize,
        /// The count.
        count: u8,
    },
    /// The count field (RC or SC) needs more items than the packet holds.
    #[error("count {count} of packet at byte {offset} overruns its length")]
    CountOverrun {
        /// Start of the packet.
        offset: usize,
        /// The count field.
        count: u8,
    },
    /// An SDES item's length runs past the packet (RFC 3550 §6.5).
    #[error("SDES item at byte {offset} overruns the packet")]
    SdesItemOverrun {
        /// Offset of the item's type octet.
        offset: usize,
    },
    /// An SDES chunk has no END (null) item before the packet ends.
    #[error("SDES chunk at byte {offset} has no END item")]
    SdesMissingEnd {
        /// Start of the chunk.
        offset: usize,
    },
    /// Bytes left over after the last SDES chunk.
    #[error("trailing bytes at {offset} after the last SDES chunk")]
    TrailingBytes {
        /// First left-over byte.
        offset: usize,
    },
    /// The BYE reason length runs past the packet (RFC 3550 §6.6).
    #[error("BYE reason at byte {offset} overruns the packet")]
    ByeReasonOverrun {
        /// Offset of the reason length octet.
        offset: usize,
    },
    /// [`validate_compound`]: no packet at all.
    #[error("empty compound packet at byte {offset}")]
    EmptyCompound {
        /// Always 0.
        offset: usize,
    },
    /// [`validate_compound`]: the first packet is not SR or RR (§6.1).
    #[error("compound packet starts with type {packet_type} at byte {offset}, not SR or RR")]
    FirstNotReport {
        /// Always 0.
        offset: usize,
        /// The type found.
        packet_type: u8,
    },
    /// [`validate_compound`]: padding on a packet that is not the last
    /// (§6.4.1, Appendix A.2).
    #[error("padding on packet at byte {offset}, which is not the last")]
    PaddingNotLast {
        /// Start of the padded packet.
        offset: usize,
    },
}

impl RtcpError {
    /// Byte offset where the fault was found.
    pub fn offset(&self) -> usize {
        match *self {
            Self::Truncated { offset, .. }
            | Self::BadVersion { offset, .. }
            | Self::LengthOverrun { offset, .. }
            | Self::BadPadding { offset, .. }
            | Self::CountOverrun { offset, .. }
            | Self::SdesItemOverrun { offset }
            | Self::SdesMissingEnd { offset }
            | Self::TrailingBytes { offset }
            | Self::ByeReasonOverrun { offset }
            | Self::EmptyCompound { offset }
            | Self::FirstNotReport { offset, .. }
            | Self::PaddingNotLast { offset } => offset,
        }
    }
}

/// Common header of one RTCP packet (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpHeader {
    /// Padding bit (P).
    pub padding: bool,
    /// The 5-bit count field: RC, SC or APP subtype.
    pub count: u8,
    /// Packet type.
    pub packet_type: u8,
    /// Length field: packet length in 32-bit words minus one.
    pub length: u16,
}

/// The raw parts of one validated RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPacket<'a> {
    header: RtcpHeader,
    bytes: &'a [u8],
    body: &'a [u8],
    offset: usize,
}

impl<'a> RawPacket<'a> {
    /// The common header.
    pub fn header(&self) -> RtcpHeader {
        self.header
    }
    /// The whole packet: header, body and padding.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Everything after the 4-byte header, padding excluded.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
    /// Padding octets, count octet last (empty without P).
    pub fn padding(&self) -> &'a [u8] {
        self.bytes
            .get(HEADER_LEN + self.body.len()..)
            .unwrap_or(&[])
    }
    /// Offset of the packet within the compound packet.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// One RTCP packet of a compound, as a typed view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpPacket<'a> {
    /// SR, RFC 3550 §6.4.1.
    SenderReport(SenderReport<'a>),
    /// RR, RFC 3550 §6.4.2.
    ReceiverReport(ReceiverReport<'a>),
    /// SDES, RFC 3550 §6.5.
    SourceDescription(SourceDescription<'a>),
    /// BYE, RFC 3550 §6.6.
    Goodbye(Goodbye<'a>),
    /// APP, RFC 3550 §6.7.
    App(App<'a>),
    /// Any other packet type, kept raw (e.g. RTPFB/PSFB, XR).
    Unknown(RawPacket<'a>),
}

impl<'a> RtcpPacket<'a> {
    /// Parses the first RTCP packet of `data`; returns it and its length
    /// (`4 * (length + 1)`). Error offsets are relative to `data`.
    pub fn parse_prefix(data: &'a [u8]) -> Result<(Self, usize), RtcpError> {
        parse_at(data, 0)
    }

    /// The raw parts shared by every packet type.
    pub fn raw(&self) -> &RawPacket<'a> {
        match self {
            Self::SenderReport(p) => &p.raw,
            Self::ReceiverReport(p) => &p.raw,
            Self::SourceDescription(p) => &p.raw,
            Self::Goodbye(p) => &p.raw,
            Self::App(p) => &p.raw,
            Self::Unknown(raw) => raw,
        }
    }
    /// The common header.
    pub fn header(&self) -> RtcpHeader {
        self.raw().header
    }
    /// The packet type.
    pub fn packet_type(&self) -> u8 {
        self.raw().header.packet_type
    }
    /// The whole packet.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw().bytes
    }
}

/// Parses one packet starting at `off` of the compound `data`.
fn parse_at(data: &[u8], off: usize) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    let rest = data.get(off..).unwrap_or(&[]);
    let (Some(first), Some(packet_type), Some(length)) =
        (u8_at(rest, 0), u8_at(rest, 1), u16_at(rest, 2))
    else {
        return Err(RtcpError::Truncated {
            offset: off,
            needed: HEADER_LEN,
        });
    };
    let version = first >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion {
            offset: off,
            version,
        });
    }
    let total = 4 * (usize::from(length) + 1);
    let bytes = rest.get(..total).ok_or(RtcpError::LengthOverrun {
        offset: off,
        declared: total,
        available: rest.len(),
    })?;
    let padding = first & 0x20 != 0;
    let mut body_end = total;
    if padding {
        let count = u8_at(bytes, total - 1).unwrap_or(0);
        if count == 0 || usize::from(count) > total - HEADER_LEN {
            return Err(RtcpError::BadPadding {
                offset: off + total - 1,
                count,
            });
        }
        body_end = total - usize::from(count);
    }
    let raw = RawPacket {
        header: RtcpHeader {
            padding,
            count: first & 0x1f,
            packet_type,
            length,
        },
        bytes,
        body: bytes.get(HEADER_LEN..body_end).unwrap_or(&[]),
        offset: off,
    };
    let packet = match packet_type {
        SR => RtcpPacket::SenderReport(SenderReport::check(raw)?),
        RR => RtcpPacket::ReceiverReport(ReceiverReport::check(raw)?),
        SDES => RtcpPacket::SourceDescription(SourceDescription::check(raw)?),
        BYE => RtcpPacket::Goodbye(Goodbye::check(raw)?),
        APP => RtcpPacket::App(App::check(raw)?),
        _ => RtcpPacket::Unknown(raw),
    };
    Ok((packet, total))
}

/// Iterates the packets of a compound RTCP packet (RFC 3550 §6.1). Yields
/// each packet or the first error, then stops; when no error is yielded
/// the packets' lengths add up to exactly the input length.
pub fn compound(data: &[u8]) -> CompoundIter<'_> {
    CompoundIter {
        data,
        pos: 0,
        done: false,
    }
}

/// Iterator returned by [`compound`].
#[derive(Debug, Clone)]
pub struct CompoundIter<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl CompoundIter<'_> {
    /// Bytes consumed so far: the offset of the next packet.
    pub fn offset(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for CompoundIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        match parse_at(self.data, self.pos) {
            Ok((p, len)) => {
                self.pos += len;
                Some(Ok(p))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Checks a compound packet against RFC 3550 §6.1 and Appendix A.2: every
/// packet parses, lengths add up to the input, the first packet is SR or
/// RR, and only the last packet is padded. (Reduced-size RTCP, RFC 5506,
/// fails the SR/RR rule by design.)
pub fn validate_compound(data: &[u8]) -> Result<(), RtcpError> {
    let mut iter = compound(data);
    let mut first = true;
    while let Some(p) = iter.next() {
        let p = p?;
        if first && !matches!(p.packet_type(), SR | RR) {
            return Err(RtcpError::FirstNotReport {
                offset: 0,
                packet_type: p.packet_type(),
            });
        }
        first = false;
        if p.header().padding && iter.offset() < data.len() {
            return Err(RtcpError::PaddingNotLast {
                offset: p.raw().offset,
            });
        }
    }
    if first {
        return Err(RtcpError::EmptyCompound { offset: 0 });
    }
    Ok(())
}

/// Appends one RTCP packet: header (V=2, P when `padding_len` is non-zero,
/// the 5-bit `count`, `packet_type`, computed length), `body`, then
/// `padding_len` padding octets (zeros, the count last). `body` plus padding
/// must be a multiple of 4 bytes.
pub fn write_packet(
    count: u8,
    packet_type: u8,
    body: &[u8],
    padding_len: u8,
    out: &mut Vec<u8>,
) -> Result<(), BuildError> {
    let len = body.len() + usize::from(padding_len);
    if count > 31 {
        return Err(BuildError::RtcpCount { count });
    }
    let words = u16::try_from(len / 4)
        .ok()
        .filter(|_| len % 4 == 0)
        .ok_or(BuildError::RtcpLength { len })?;
    out.push(0x80 | if padding_len != 0 { 0x20 } else { 0 } | count);
    out.push(packet_type);
    out.extend_from_slice(&words.to_be_bytes());
    out.extend_from_slice(body);
    if padding_len != 0 {
        out.resize(out.len() + usize::from(padding_len) - 1, 0);
        out.push(padding_len);
    }
    Ok(())
}

/// One reception report block (RFC 3550 §6.4.1), 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// SSRC of the source reported on.
    pub ssrc: u32,
    /// Fraction lost, fixed point /256.
    pub fraction_lost: u8,
    /// Cumulative number of packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_sequence: u32,
    /// Interarrival jitter.
    pub jitter: u32,
    /// Last SR timestamp (LSR).
    pub last_sr: u32,
    /// Delay since last SR (DLSR), units of 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn read(b: &[u8]) -> Option<Self> {
        let lost = u32_at(b, 4)?;
        // Sign-extend the 24-bit cumulative loss.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        Some(Self {
            ssrc: u32_at(b, 0)?,
            fraction_lost: (lost >> 24) as u8,
            cumulative_lost,
            highest_sequence: u32_at(b, 8)?,
            jitter: u32_at(b, 12)?,
            last_sr: u32_at(b, 16)?,
            delay_since_last_sr: u32_at(b, 20)?,
        })
    }

    /// The 24 wire bytes (cumulative loss truncated to 24 bits).
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        let lost =
            (u32::from(self.fraction_lost) << 24) | (self.cumulative_lost as u32 & 0x00ff_ffff);
        for (i, v) in [
            self.ssrc,
            lost,
            self.highest_sequence,
            self.jitter,
            self.last_sr,
            self.delay_since_last_sr,
        ]
        .into_iter()
        .enumerate()
        {
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
        }
        b
    }
}

/// Iterator over report blocks.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a>(&'a [u8]);

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;
    fn next(&mut self) -> Option<ReportBlock> {
        let b = ReportBlock::read(self.0)?;
        self.0 = self.0.get(REPORT_BLOCK_LEN..).unwrap_or(&[]);
        Some(b)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.0.len() / REPORT_BLOCK_LEN;
        (n, Some(n))
    }
}

impl ExactSizeIterator for ReportBlocks<'_> {}

/// Checks `count` report blocks fit after `skip` body bytes; returns the
/// blocks and the profile-specific extension bytes after them.
fn report_blocks<'a>(raw: &RawPacket<'a>, skip: usize) -> Result<(&'a [u8], &'a [u8]), RtcpError> {
    let end = skip + REPORT_BLOCK_LEN * usize::from(raw.header.count);
    if raw.body.len() < skip {
        return Err(RtcpError::Truncated {
            offset: raw.offset + HEADER_LEN,
            needed: skip,
        });
    }
    match (raw.body.get(skip..end), raw.body.get(end..)) {
        (Some(blocks), Some(ext)) => Ok((blocks, ext)),
        _ => Err(RtcpError::CountOverrun {
            offset: raw.offset,
            count: raw.header.count,
        }),
    }
}

/// SR view (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    raw: RawPacket<'a>,
    blocks: &'a [u8],
    extension: &'a [u8],
}

impl<'a> SenderReport<'a> {
    fn check(raw: RawPacket<'a>) -> Result<Self, RtcpError> {
        let (blocks, extension) = report_blocks(&raw, 4 + SENDER_INFO_LEN)?;
        Ok(Self {
            raw,
            blocks,
            extension,
        })
    }
    /// Raw parts.
    pub fn raw(&self) -> &RawPacket<'a> {
        &self.raw
    }
    /// SSRC of sender.
    pub fn ssrc(&self) -> u32 {
        u32_at(self.raw.body, 0).unwrap_or(0)
    }
    /// 64-bit NTP timestamp.
    pub fn ntp_timestamp(&self) -> u64 {
        u64_at(self.raw.body, 4).unwrap_or(0)
    }
    /// RTP timestamp.
    pub fn rtp_timestamp(&self) -> u32 {
        u32_at(self.raw.body, 12).unwrap_or(0)
    }
    /// Sender's packet count.
    pub fn packet_count(&self) -> u32 {
        u32_at(self.raw.body, 16).unwrap_or(0)
    }
    /// Sender's octet count.
    pub fn octet_count(&self) -> u32 {
        u32_at(self.raw.body, 20).unwrap_or(0)
    }
    /// The RC report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks(self.blocks)
    }
    /// Profile-specific extension bytes after the report blocks.
    pub fn extension(&self) -> &'a [u8] {
        self.extension
    }
}

/// RR view (RFC 3550 §6.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    raw: RawPacket<'a>,
    blocks: &'a [u8],
    extension: &'a [u8],
}

impl<'a> ReceiverReport<'a> {
    fn check(raw: RawPacket<'a>) -> Result<Self, RtcpError> {
        let (blocks, extension) = report_blocks(&raw, 4)?;
        Ok(Self {
            raw,
            blocks,
            extension,
        })
    }
    /// Raw parts.
    pub fn raw(&self) -> &RawPacket<'a> {
        &self.raw
    }
    /// SSRC of packet sender.
    pub fn ssrc(&self) -> u32 {
        u32_at(self.raw.body, 0).unwrap_or(0)
    }
    /// The RC report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks(self.blocks)
    }
    /// Profile-specific extension bytes after the report blocks.
    pub fn extension(&self) -> &'a [u8] {
        self.extension
    }
}

/// SDES item types (RFC 3550 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdesItemKind {
    /// 1: canonical end-point identifier.
    Cname,
    /// 2: user name.
    Name,
    /// 3: e-mail address.
    Email,
    /// 4: phone number.
    Phone,
    /// 5: geographic location.
    Loc,
    /// 6: application or tool name.
    Tool,
    /// 7: notice/status.
    Note,
    /// 8: private extension.
    Priv,
    /// Any other non-zero type.
    Other(u8),
}

impl From<u8> for SdesItemKind {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::Cname,
            2 => Self::Name,
            3 => Self::Email,
            4 => Self::Phone,
            5 => Self::Loc,
            6 => Self::Tool,
            7 => Self::Note,
            8 => Self::Priv,
            other => Self::Other(other),
        }
    }
}

/// One SDES item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// The item type octet (never 0, which is END).
    pub item_type: u8,
    /// The item text (UTF-8 per RFC 3550, not checked).
    pub value: &'a [u8],
}

impl SdesItem<'_> {
    /// Typed item kind.
    pub fn kind(&self) -> SdesItemKind {
        self.item_type.into()
    }
}

/// Walks one chunk at `pos` of `body`: returns the end of its items (the
/// END octet) and the 32-bit aligned end of the chunk. `base` is the body's
/// offset within the compound, for errors.
fn walk_chunk(body: &[u8], pos: usize, base: usize) -> Result<(usize, usize), RtcpError> {
    if body.len() < pos + 4 {
        return Err(RtcpError::Truncated {
            offset: base + pos,
            needed: 4,
        });
    }
    let mut p = pos + 4;
    loop {
        let Some(t) = u8_at(body, p) else {
            return Err(RtcpError::SdesMissingEnd { offset: base + pos });
        };
        if t == 0 {
            let end = align4(p + 1).unwrap_or(usize::MAX);
            if end > body.len() {
                return Err(RtcpError::Truncated {
                    offset: base + p + 1,
                    needed: end - (p + 1),
                });
            }
            return Ok((p, end));
        }
        let len = u8_at(body, p + 1).ok_or(RtcpError::SdesItemOverrun { offset: base + p })?;
        let next = p + 2 + usize::from(len);
        if next > body.len() {
            return Err(RtcpError::SdesItemOverrun { offset: base + p });
        }
        p = next;
    }
}

/// SDES view (RFC 3550 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDescription<'a> {
    raw: RawPacket<'a>,
}

impl<'a> SourceDescription<'a> {
    fn check(raw: RawPacket<'a>) -> Result<Self, RtcpError> {
        let base = raw.offset + HEADER_LEN;
        let mut pos = 0;
        for _ in 0..raw.header.count {
            if pos >= raw.body.len() {
                return Err(RtcpError::CountOverrun {
                    offset: raw.offset,
                    count: raw.header.count,
                });
            }
            pos = walk_chunk(raw.body, pos, base)?.1;
        }
        if pos != raw.body.len() {
            return Err(RtcpError::TrailingBytes { offset: base + pos });
        }
        Ok(Self { raw })
    }
    /// Raw parts.
    pub fn raw(&self) -> &RawPacket<'a> {
        &self.raw
    }
    /// The SC chunks.
    pub fn chunks(&self) -> SdesChunks<'a> {
        SdesChunks {
            body: self.raw.body,
            pos: 0,
        }
    }
}

/// Iterator over SDES chunks.
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;
    fn next(&mut self) -> Option<SdesChunk<'a>> {
        let (items_end, end) = walk_chunk(self.body, self.pos, 0).ok()?;
        let chunk = SdesChunk {
            ssrc: u32_at(self.body, self.pos)?,
            items: self.body.get(self.pos + 4..items_end)?,
        };
        self.pos = end;
        Some(chunk)
    }
}

/// One SDES chunk: an SSRC/CSRC and its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The SSRC or CSRC described.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }
    /// The items, END excluded.
    pub fn items(&self) -> SdesItems<'a> {
        SdesItems(self.items)
    }
}

/// Iterator over the items of an SDES chunk.
#[derive(Debug, Clone)]
pub struct SdesItems<'a>(&'a [u8]);

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;
    fn next(&mut self) -> Option<SdesItem<'a>> {
        let item_type = u8_at(self.0, 0).filter(|&t| t != 0)?;
        let len = usize::from(u8_at(self.0, 1)?);
        let value = self.0.get(2..2 + len)?;
        self.0 = self.0.get(2 + len..).unwrap_or(&[]);
        Some(SdesItem { item_type, value })
    }
}

/// BYE view (RFC 3550 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Goodbye<'a> {
    raw: RawPacket<'a>,
    ssrcs: &'a [u8],
    reason: Option<&'a [u8]>,
}

impl<'a> Goodbye<'a> {
    fn check(raw: RawPacket<'a>) -> Result<Self, RtcpError> {
        let n = 4 * usize::from(raw.header.count);
        let ssrcs = raw.body.get(..n).ok_or(RtcpError::CountOverrun {
            offset: raw.offset,
            count: raw.header.count,
        })?;
        let rest = raw.body.get(n..).unwrap_or(&[]);
        let reason = match u8_at(rest, 0) {
            None => None,
            Some(len) => Some(rest.get(1..1 + usize::from(len)).ok_or(
                RtcpError::ByeReasonOverrun {
                    offset: raw.offset + HEADER_LEN + n,
                },
            )?),
        };
        Ok(Self { raw, ssrcs, reason })
    }
    /// Raw parts.
    pub fn raw(&self) -> &RawPacket<'a> {
        &self.raw
    }
    /// The SC SSRC/CSRC identifiers leaving.
    pub fn ssrcs(&self) -> crate::Csrcs<'a> {
        crate::rtp::csrcs_of(self.ssrcs)
    }
    /// The reason for leaving, when present.
    pub fn reason(&self) -> Option<&'a [u8]> {
        self.reason
    }
}

/// APP view (RFC 3550 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct App<'a> {
    raw: RawPacket<'a>,
}

impl<'a> App<'a> {
    fn check(raw: RawPacket<'a>) -> Result<Self, RtcpError> {
        if raw.body.len() < 8 {
            return Err(RtcpError::Truncated {
                offset: raw.offset + HEADER_LEN,
                needed: 8,
            });
        }
        Ok(Self { raw })
    }
    /// Raw parts.
    pub fn raw(&self) -> &RawPacket<'a> {
        &self.raw
    }
    /// The 5-bit subtype.
    pub fn subtype(&self) -> u8 {
        self.raw.header.count
    }
    /// SSRC/CSRC.
    pub fn ssrc(&self) -> u32 {
        u32_at(self.raw.body, 0).unwrap_or(0)
    }
    /// The four-octet name.
    pub fn name(&self) -> [u8; 4] {
        u32_at(self.raw.body, 4).unwrap_or(0).to_be_bytes()
    }
    /// Application-dependent data.
    pub fn data(&self) -> &'a [u8] {
        self.raw.body.get(8..).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(count: u8, pt: u8, body: &[u8], pad: u8) -> Vec<u8> {
        let mut out = Vec::new();
        write_packet(count, pt, body, pad, &mut out).unwrap();
        out
    }

    fn sr_body(blocks: &[ReportBlock]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0x1111_1111u32.to_be_bytes());
        b.extend_from_slice(&0xe000_0000_8000_0000u64.to_be_bytes());
        b.extend_from_slice(&1234u32.to_be_bytes());
        b.extend_from_slice(&10u32.to_be_bytes());
        b.extend_from_slice(&1600u32.to_be_bytes());
        for rb in blocks {
            b.extend_from_slice(&rb.to_bytes());
        }
        b
    }

    fn sdes_cname(ssrc: u32, cname: &[u8]) -> Vec<u8> {
        let mut b = ssrc.to_be_bytes().to_vec();
        b.push(1);
        b.push(cname.len() as u8);
        b.extend_from_slice(cname);
        b.push(0);
        while b.len() % 4 != 0 {
            b.push(0);
        }
        b
    }

    #[test]
    fn sr_sdes_bye_app_compound() {
        let rb = ReportBlock {
            ssrc: 0x2222_2222,
            fraction_lost: 25,
            cumulative_lost: -3,
            highest_sequence: 0x0001_0005,
            jitter: 17,
            last_sr: 0xdead_beef,
            delay_since_last_sr: 65536,
        };
        let mut c = pkt(1, SR, &sr_body(&[rb]), 0);
        c.extend(pkt(1, SDES, &sdes_cname(0x1111_1111, b"a@example.net"), 0));
        let mut bye = 0x1111_1111u32.to_be_bytes().to_vec();
        bye.extend_from_slice(&[4, b'd', b'o', b'n', b'e', 0, 0, 0]);
        c.extend(pkt(1, BYE, &bye, 0));
        let mut app = 0x1111_1111u32.to_be_bytes().to_vec();
        app.extend_from_slice(b"SPMT");
        app.extend_from_slice(&[1, 2, 3, 4]);
        c.extend(pkt(3, APP, &app, 4));
        c.extend(pkt(0, 205, &[9; 8], 0));
        assert!(validate_compound(&c).is_err()); // APP is padded but not last
        let packets: Vec<_> = compound(&c).collect::<Result<_, _>>().unwrap();
        assert_eq!(packets.len(), 5);
        let RtcpPacket::SenderReport(sr) = packets[0] else {
            panic!("not SR")
        };
        assert_eq!(sr.ssrc(), 0x1111_1111);
        assert_eq!(sr.ntp_timestamp(), 0xe000_0000_8000_0000);
        assert_eq!(sr.rtp_timestamp(), 1234);
        assert_eq!(sr.packet_count(), 10);
        assert_eq!(sr.octet_count(), 1600);
        assert_eq!(sr.report_blocks().collect::<Vec<_>>(), vec![rb]);
        assert!(sr.extension().is_empty());
        let RtcpPacket::SourceDescription(sdes) = packets[1] else {
            panic!("not SDES")
        };
        let chunks: Vec<_> = sdes.chunks().collect();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].ssrc(), 0x1111_1111);
        let items: Vec<_> = chunks[0].items().collect();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].kind(), SdesItemKind::Cname);
        assert_eq!(items[0].value, b"a@example.net");
        let RtcpPacket::Goodbye(bye) = packets[2] else {
            panic!("not BYE")
        };
        assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![0x1111_1111]);
        assert_eq!(bye.reason(), Some(&b"done"[..]));
        let RtcpPacket::App(app) = packets[3] else {
            panic!("not APP")
        };
        assert_eq!(app.subtype(), 3);
        assert_eq!(&app.name(), b"SPMT");
        assert_eq!(app.data(), &[1, 2, 3, 4]);
        assert_eq!(app.raw().padding(), &[0, 0, 0, 4]);
        let RtcpPacket::Unknown(raw) = packets[4] else {
            panic!("not raw")
        };
        assert_eq!(raw.header().packet_type, 205);
        assert_eq!(raw.body(), &[9; 8]);
        assert_eq!(raw.offset(), c.len() - 12);
    }

    #[test]
    fn compound_rules() {
        let rr = pkt(0, RR, &[0, 0, 0, 1], 0);
        assert_eq!(validate_compound(&rr), Ok(()));
        assert_eq!(
            validate_compound(&[]),
            Err(RtcpError::EmptyCompound { offset: 0 })
        );
        let bye = pkt(0, BYE, &[], 0);
        assert_eq!(
            validate_compound(&bye),
            Err(RtcpError::FirstNotReport {
                offset: 0,
                packet_type: BYE
            })
        );
        // A lone BYE still parses: the rule is not a parse failure.
        assert_eq!(compound(&bye).count(), 1);
        let mut c = pkt(0, RR, &[0, 0, 0, 1], 4);
        c.extend(&bye);
        assert_eq!(
            validate_compound(&c),
            Err(RtcpError::PaddingNotLast { offset: 0 })
        );
        let mut c = rr.clone();
        c.extend(pkt(0, BYE, &[], 4));
        assert_eq!(validate_compound(&c), Ok(()));
    }

    #[test]
    fn length_errors() {
        let rr = pkt(0, RR, &[0, 0, 0, 1], 0);
        let mut c = rr.clone();
        c.extend_from_slice(&[0x80, 201]);
        let r: Vec<_> = compound(&c).collect();
        assert_eq!(
            r[1],
            Err(RtcpError::Truncated {
                offset: 8,
                needed: 4
            })
        );
        let mut c = rr.clone();
        c[3] = 2; // declares 12 bytes, 8 present
        assert_eq!(
            compound(&c).next(),
            Some(Err(RtcpError::LengthOverrun {
                offset: 0,
                declared: 12,
                available: 8
            }))
        );
        let mut c = rr.clone();
        c[0] = 0x40;
        assert!(matches!(
            compound(&c).next(),
            Some(Err(RtcpError::BadVersion { offset: 0, .. }))
        ));
        let mut c = rr.clone();
        c[0] |= 0x01; // RC 1, no block
        assert_eq!(
            compound(&c).next(),
            Some(Err(RtcpError::CountOverrun {
                offset: 0,
                count: 1
            }))
        );
        let mut c = rr.clone();
        c[0] |= 0x20;
        c[7] = 0; // zero padding count
        assert_eq!(
            compound(&c).next(),
            Some(Err(RtcpError::BadPadding {
                offset: 7,
                count: 0
            }))
        );
        c[7] = 5; // more than the 4 body bytes
        assert!(matches!(
            compound(&c).next(),
            Some(Err(RtcpError::BadPadding { count: 5, .. }))
        ));
        // SR shorter than sender info.
        let sr = pkt(0, SR, &[0; 8], 0);
        assert_eq!(
            compound(&sr).next(),
            Some(Err(RtcpError::Truncated {
                offset: 4,
                needed: 24
            }))
        );
    }

    #[test]
    fn sdes_errors() {
        // Chunk without END.
        let s = pkt(1, SDES, &[0, 0, 0, 1, 1, 2, b'a', b'b'], 0);
        assert_eq!(
            compound(&s).next(),
            Some(Err(RtcpError::SdesMissingEnd { offset: 4 }))
        );
        // Item longer than the packet.
        let s = pkt(1, SDES, &[0, 0, 0, 1, 1, 9, b'a', b'b'], 0);
        assert_eq!(
            compound(&s).next(),
            Some(Err(RtcpError::SdesItemOverrun { offset: 8 }))
        );
        // SC 2, one chunk.
        let s = pkt(2, SDES, &sdes_cname(1, b"ab"), 0);
        assert!(matches!(
            compound(&s).next(),
            Some(Err(RtcpError::CountOverrun { count: 2, .. }))
        ));
        // SC 0 with a chunk: trailing bytes.
        let s = pkt(0, SDES, &sdes_cname(1, b"ab"), 0);
        assert_eq!(
            compound(&s).next(),
            Some(Err(RtcpError::TrailingBytes { offset: 4 }))
        );
        // Two chunks, the first with two items, the second empty.
        let mut body = 7u32.to_be_bytes().to_vec();
        body.extend_from_slice(&[1, 1, b'x', 6, 2, b't', b'x', 0]);
        body.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0]);
        let s = pkt(2, SDES, &body, 0);
        let Some(Ok(RtcpPacket::SourceDescription(d))) = compound(&s).next() else {
            panic!("SDES")
        };
        let chunks: Vec<_> = d.chunks().collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].items().count(), 2);
        assert_eq!(chunks[1].ssrc(), 8);
        assert_eq!(chunks[1].items().count(), 0);
    }

    #[test]
    fn bye_errors_and_app_short() {
        let b = pkt(2, BYE, &[0, 0, 0, 1], 0);
        assert!(matches!(
            compound(&b).next(),
            Some(Err(RtcpError::CountOverrun { count: 2, .. }))
        ));
        let b = pkt(1, BYE, &[0, 0, 0, 1, 9, b'x', 0, 0], 0);
        assert_eq!(
            compound(&b).next(),
            Some(Err(RtcpError::ByeReasonOverrun { offset: 8 }))
        );
        let a = pkt(0, APP, &[0, 0, 0, 1], 0);
        assert_eq!(
            compound(&a).next(),
            Some(Err(RtcpError::Truncated {
                offset: 4,
                needed: 8
            }))
        );
    }

    #[test]
    fn report_block_sign_extension() {
        let rb = ReportBlock {
            cumulative_lost: -8_388_608,
            ..ReportBlock::default()
        };
        assert_eq!(ReportBlock::read(&rb.to_bytes()), Some(rb));
        let rb = ReportBlock {
            cumulative_lost: 8_388_607,
            fraction_lost: 255,
            ..ReportBlock::default()
        };
        assert_eq!(ReportBlock::read(&rb.to_bytes()), Some(rb));
    }

    fn arb_packet() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        (
            0u8..=31,
            prop_oneof![
                Just(SR),
                Just(RR),
                Just(SDES),
                Just(BYE),
                Just(APP),
                any::<u8>()
            ],
            prop::collection::vec(any::<[u8; 4]>(), 0..12),
            prop_oneof![Just(0u8), Just(4), Just(8)],
        )
            .prop_map(|(count, pt, words, pad)| {
                let mut out = Vec::new();
                let _ = write_packet(count, pt, &words.concat(), pad, &mut out);
                out
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96)) {
            crate::fuzzing::rtcp_parse(&data);
        }

        #[test]
        fn mutated_compounds_keep_invariants(
            packets in proptest::collection::vec(arb_packet(), 1..4),
            flip in proptest::prelude::any::<(usize, u8)>(),
        ) {
            let mut data = packets.concat();
            crate::fuzzing::rtcp_parse(&data);
            let len = data.len();
            if let Some(b) = data.get_mut(flip.0 % len.max(1)) {
                *b ^= flip.1;
            }
            crate::fuzzing::rtcp_parse(&data);
        }
    }

    #[test]
    fn write_packet_errors() {
        let mut out = Vec::new();
        assert_eq!(
            write_packet(32, RR, &[], 0, &mut out),
            Err(BuildError::RtcpCount { count: 32 })
        );
        assert_eq!(
            write_packet(0, RR, &[1, 2], 0, &mut out),
            Err(BuildError::RtcpLength { len: 2 })
        );
        assert!(out.is_empty());
    }
}
