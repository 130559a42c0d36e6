//! RTP data packets (RFC 3550 §5.1, §5.3.1) and RFC 8285 header-extension
//! elements.

use crate::bytes::{align4, u8_at, u16_at, u32_at};

/// Length of the fixed RTP header (RFC 3550 §5.1).
pub const FIXED_HEADER_LEN: usize = 12;
/// RFC 8285 §4.2 profile value of the one-byte header form.
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// RFC 8285 §4.3 profile value of the two-byte header form (low 4 bits:
/// "appbits").
pub const TWO_BYTE_PROFILE: u16 = 0x1000;

/// Why bytes are not an RTP packet. Every variant carries the byte offset
/// (from the start of the packet) where the fault was found; it never
/// exceeds the input length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// The field starting at `offset` needs `needed` bytes the input lacks.
    #[error("truncated at byte {offset}: field needs {needed} bytes")]
    Truncated {
        /// Where the missing field starts.
        offset: usize,
        /// Length of that field.
        needed: usize,
    },
    /// Version is not 2 (RFC 3550 §5.1).
    #[error("RTP version {version} at byte {offset}, expected 2")]
    BadVersion {
        /// Always 0.
        offset: usize,
        /// The two version bits.
        version: u8,
    },
    /// P is set but the last octet (the padding count) is zero.
    #[error("zero padding count at byte {offset}")]
    ZeroPadding {
        /// Offset of the count octet.
        offset: usize,
    },
    /// The padding count exceeds the bytes after the header (RFC 3550 §5.1).
    #[error(
        "padding count {count} at byte {offset} exceeds the {available} bytes after the header"
    )]
    PaddingTooLong {
        /// Offset of the count octet.
        offset: usize,
        /// The count.
        count: u8,
        /// Bytes between header end and packet end, the count octet included.
        available: usize,
    },
    /// An RFC 8285 element runs past the end of the header extension.
    #[error("header extension element at byte {offset} overruns the extension")]
    ExtensionElementOverrun {
        /// Offset of the element's first (ID) octet.
        offset: usize,
    },
}

impl RtpError {
    /// Byte offset where the fault was found.
    pub fn offset(&self) -> usize {
        match *self {
            Self::Truncated { offset, .. }
            | Self::BadVersion { offset, .. }
            | Self::ZeroPadding { offset }
            | Self::PaddingTooLong { offset, .. }
            | Self::ExtensionElementOverrun { offset } => offset,
        }
    }
}

/// Why an [`RtpHeader`] or [`RtpExtension`] cannot be serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// More than 15 CSRCs (the CC field has 4 bits).
    #[error("{count} CSRCs, at most 15")]
    TooManyCsrcs {
        /// Number given.
        count: usize,
    },
    /// Payload type above 127 (7 bits).
    #[error("payload type {pt} above 127")]
    PayloadType {
        /// Value given.
        pt: u8,
    },
    /// Extension data not a multiple of 4 bytes, or above 65535 words.
    #[error("header extension data of {len} bytes is not 4-aligned or too long")]
    ExtensionLength {
        /// Length given.
        len: usize,
    },
    /// An RFC 8285 element ID outside 1..=14 (one-byte) or 1..=255 (two-byte).
    #[error("extension element id {id} not allowed in this form")]
    ElementId {
        /// ID given.
        id: u8,
    },
    /// Element data outside 1..=16 (one-byte) or 0..=255 (two-byte) bytes.
    #[error("extension element {id}: {len} data bytes not allowed in this form")]
    ElementLength {
        /// Element ID.
        id: u8,
        /// Length given.
        len: usize,
    },
    /// Two-byte form appbits above 15.
    #[error("appbits {appbits} above 15")]
    AppBits {
        /// Value given.
        appbits: u8,
    },
    /// RTCP count field above 31 (5 bits).
    #[error("RTCP count {count} above 31")]
    RtcpCount {
        /// Value given.
        count: u8,
    },
    /// RTCP body plus padding not a multiple of 4 bytes, or too long.
    #[error("RTCP body plus padding of {len} bytes is not 4-aligned or too long")]
    RtcpLength {
        /// Body plus padding length.
        len: usize,
    },
}

/// Zero-copy view of one RTP packet (RFC 3550 §5.1), validated on
/// [`parse`](Self::parse): version 2, CSRC list, header extension and
/// padding all within the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    data: &'a [u8],
    first: u8,
    second: u8,
    sequence_number: u16,
    timestamp: u32,
    ssrc: u32,
    ext: Option<HeaderExtension<'a>>,
    header_len: usize,
    padding_len: usize,
}

/// Header length of an RTP packet, padding not checked: what SRTP needs,
/// since padding is encrypted (RFC 3711 §3.1).
pub(crate) fn header_len(data: &[u8]) -> Result<(usize, Option<HeaderExtension<'_>>), RtpError> {
    let first = u8_at(data, 0).ok_or(RtpError::Truncated {
        offset: 0,
        needed: FIXED_HEADER_LEN,
    })?;
    let version = first >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion { offset: 0, version });
    }
    if data.len() < FIXED_HEADER_LEN {
        return Err(RtpError::Truncated {
            offset: 0,
            needed: FIXED_HEADER_LEN,
        });
    }
    let cc = usize::from(first & 0x0f);
    let mut len = FIXED_HEADER_LEN + 4 * cc;
    if data.len() < len {
        return Err(RtpError::Truncated {
            offset: FIXED_HEADER_LEN,
            needed: 4 * cc,
        });
    }
    let mut ext = None;
    if first & 0x10 != 0 {
        let ext_off = len;
        let (Some(profile), Some(words)) = (u16_at(data, ext_off), u16_at(data, ext_off + 2))
        else {
            return Err(RtpError::Truncated {
                offset: ext_off,
                needed: 4,
            });
        };
        let ext_len = 4 * usize::from(words);
        let body = data
            .get(ext_off + 4..ext_off + 4 + ext_len)
            .ok_or(RtpError::Truncated {
                offset: ext_off + 4,
                needed: ext_len,
            })?;
        ext = Some(HeaderExtension {
            profile,
            data: body,
            offset: ext_off + 4,
        });
        len = ext_off + 4 + ext_len;
    }
    Ok((len, ext))
}

/// Validates the header of an RTP packet whose payload is opaque, as in
/// SRTP, where padding is encrypted (RFC 3711 §3.1): version 2, and the
/// CSRC list and header extension within the input (RFC 3550 Appendix
/// A.1, the checks a relay can make without the keys). Returns the header
/// length (fixed header, CSRCs and extension).
pub fn clear_header_len(data: &[u8]) -> Result<usize, RtpError> {
    header_len(data).map(|(len, _)| len)
}

impl<'a> RtpPacket<'a> {
    /// Parses and validates `data` as one RTP packet (RFC 3550 §5.1; the
    /// checks of Appendix A.1 that need no session state).
    pub fn parse(data: &'a [u8]) -> Result<Self, RtpError> {
        let (hlen, ext) = header_len(data)?;
        let (Some(first), Some(second), Some(seq), Some(ts), Some(ssrc)) = (
            u8_at(data, 0),
            u8_at(data, 1),
            u16_at(data, 2),
            u32_at(data, 4),
            u32_at(data, 8),
        ) else {
            return Err(RtpError::Truncated {
                offset: 0,
                needed: FIXED_HEADER_LEN,
            });
        };
        let mut padding_len = 0;
        if first & 0x20 != 0 {
            let last =
                data.len()
                    .checked_sub(1)
                    .filter(|&l| l >= hlen)
                    .ok_or(RtpError::Truncated {
                        offset: hlen,
                        needed: 1,
                    })?;
            let count = u8_at(data, last).unwrap_or(0);
            if count == 0 {
                return Err(RtpError::ZeroPadding { offset: last });
            }
            let available = data.len() - hlen;
            if usize::from(count) > available {
                return Err(RtpError::PaddingTooLong {
                    offset: last,
                    count,
                    available,
                });
            }
            padding_len = usize::from(count);
        }
        Ok(Self {
            data,
            first,
            second,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ext,
            header_len: hlen,
            padding_len,
        })
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.data
    }
    /// Version field: always 2 for a parsed packet.
    pub fn version(&self) -> u8 {
        self.first >> 6
    }
    /// Padding bit (P).
    pub fn has_padding(&self) -> bool {
        self.first & 0x20 != 0
    }
    /// Extension bit (X).
    pub fn has_extension(&self) -> bool {
        self.first & 0x10 != 0
    }
    /// CSRC count (CC).
    pub fn csrc_count(&self) -> u8 {
        self.first & 0x0f
    }
    /// Marker bit (M).
    pub fn marker(&self) -> bool {
        self.second & 0x80 != 0
    }
    /// Payload type (PT).
    pub fn payload_type(&self) -> u8 {
        self.second & 0x7f
    }
    /// Sequence number.
    pub fn sequence_number(&self) -> u16 {
        self.sequence_number
    }
    /// RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }
    /// Synchronization source.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }
    /// The contributing sources, in order.
    pub fn csrcs(&self) -> Csrcs<'a> {
        let end = FIXED_HEADER_LEN + 4 * usize::from(self.csrc_count());
        Csrcs(self.data.get(FIXED_HEADER_LEN..end).unwrap_or(&[]))
    }
    /// The header extension (RFC 3550 §5.3.1), when X is set.
    pub fn extension(&self) -> Option<HeaderExtension<'a>> {
        self.ext
    }
    /// Length of header, CSRC list and header extension.
    pub fn header_len(&self) -> usize {
        self.header_len
    }
    /// The payload, padding excluded.
    pub fn payload(&self) -> &'a [u8] {
        let end = self.data.len() - self.padding_len;
        self.data.get(self.header_len..end).unwrap_or(&[])
    }
    /// Number of padding octets, count octet included (0 without P).
    pub fn padding_len(&self) -> usize {
        self.padding_len
    }
    /// The padding octets as received, count octet last.
    pub fn padding(&self) -> &'a [u8] {
        let start = self.data.len() - self.padding_len;
        self.data.get(start..).unwrap_or(&[])
    }
    /// An owned copy of the header fields.
    pub fn to_header(&self) -> RtpHeader {
        RtpHeader {
            marker: self.marker(),
            payload_type: self.payload_type(),
            sequence_number: self.sequence_number,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            csrcs: self.csrcs().collect(),
            extension: self.ext.map(|e| RtpExtension {
                profile: e.profile,
                data: e.data.to_vec(),
            }),
        }
    }
    /// Re-serializes the packet from its parsed fields, payload and padding
    /// octets into `out`: byte-identical to the input.
    pub fn write(&self, out: &mut Vec<u8>) {
        self.to_header().emit(self.has_padding(), out);
        out.extend_from_slice(self.payload());
        out.extend_from_slice(self.padding());
    }
}

/// Iterator over a list of 32-bit source identifiers: the CSRC list of an
/// [`RtpPacket`], or the SSRCs of an RTCP BYE.
#[derive(Debug, Clone)]
pub struct Csrcs<'a>(&'a [u8]);

pub(crate) fn csrcs_of(list: &[u8]) -> Csrcs<'_> {
    Csrcs(list)
}

impl Iterator for Csrcs<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        let v = u32_at(self.0, 0)?;
        self.0 = self.0.get(4..).unwrap_or(&[]);
        Some(v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.0.len() / 4, Some(self.0.len() / 4))
    }
}

impl ExactSizeIterator for Csrcs<'_> {}

/// The header extension of an RTP packet (RFC 3550 §5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    profile: u16,
    data: &'a [u8],
    offset: usize,
}

/// Which RFC 8285 form a header extension uses, from its profile field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionForm {
    /// One-byte header form, profile 0xBEDE (RFC 8285 §4.2).
    OneByte,
    /// Two-byte header form, profile 0x100X (RFC 8285 §4.3).
    TwoByte {
        /// The low 4 bits of the profile.
        appbits: u8,
    },
    /// Some other profile-defined extension: opaque.
    Other,
}

impl<'a> HeaderExtension<'a> {
    /// The 16 "defined by profile" bits.
    pub fn profile(&self) -> u16 {
        self.profile
    }
    /// The extension data (length field times 4 bytes).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    /// Offset of [`data`](Self::data) within the packet.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// RFC 8285 form, from the profile.
    pub fn form(&self) -> ExtensionForm {
        if self.profile == ONE_BYTE_PROFILE {
            ExtensionForm::OneByte
        } else if self.profile & 0xfff0 == TWO_BYTE_PROFILE {
            ExtensionForm::TwoByte {
                appbits: (self.profile & 0x0f) as u8,
            }
        } else {
            ExtensionForm::Other
        }
    }
    /// RFC 8285 elements, padding octets skipped; empty for
    /// [`ExtensionForm::Other`]. In the one-byte form ID 15 ends parsing
    /// (§4.2). An element overrunning the data yields one error, then `None`.
    pub fn elements(&self) -> ExtensionElements<'a> {
        ExtensionElements {
            data: self.data,
            base: self.offset,
            pos: 0,
            form: self.form(),
        }
    }
}

/// One RFC 8285 header-extension element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionElement<'a> {
    /// Local identifier: 1..=14 (one-byte form) or 1..=255 (two-byte form).
    pub id: u8,
    /// Element data.
    pub data: &'a [u8],
}

/// Iterator over RFC 8285 elements; see [`HeaderExtension::elements`].
#[derive(Debug, Clone)]
pub struct ExtensionElements<'a> {
    data: &'a [u8],
    base: usize,
    pos: usize,
    form: ExtensionForm,
}

impl<'a> Iterator for ExtensionElements<'a> {
    type Item = Result<ExtensionElement<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let at = self.pos;
            let b = u8_at(self.data, at)?;
            // ID 0 is a one-octet padding in both forms (RFC 8285 §4.2, §4.3).
            if b == 0 || (matches!(self.form, ExtensionForm::OneByte) && b >> 4 == 0) {
                self.pos += 1;
                continue;
            }
            let (id, hdr, len) = match self.form {
                ExtensionForm::Other => return None,
                ExtensionForm::OneByte => {
                    if b >> 4 == 15 {
                        // Reserved: stop processing (RFC 8285 §4.2).
                        self.pos = self.data.len();
                        return None;
                    }
                    (b >> 4, 1, usize::from(b & 0x0f) + 1)
                }
                ExtensionForm::TwoByte { .. } => match u8_at(self.data, at + 1) {
                    Some(l) => (b, 2, usize::from(l)),
                    None => return self.fail(at),
                },
            };
            return match self.data.get(at + hdr..at + hdr + len) {
                Some(data) => {
                    self.pos = at + hdr + len;
                    Some(Ok(ExtensionElement { id, data }))
                }
                None => self.fail(at),
            };
        }
    }
}

impl<'a> ExtensionElements<'a> {
    fn fail(&mut self, at: usize) -> Option<Result<ExtensionElement<'a>, RtpError>> {
        self.pos = self.data.len();
        Some(Err(RtpError::ExtensionElementOverrun {
            offset: self.base + at,
        }))
    }
}

/// An owned header extension, for building packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpExtension {
    /// The 16 "defined by profile" bits.
    pub profile: u16,
    /// Extension data; must be a multiple of 4 bytes, at most 65535 words.
    pub data: Vec<u8>,
}

impl RtpExtension {
    /// RFC 8285 §4.2 one-byte form: IDs 1..=14, 1..=16 data bytes each,
    /// zero-padded to 32 bits.
    pub fn one_byte(elements: &[(u8, &[u8])]) -> Result<Self, BuildError> {
        let mut data = Vec::new();
        for &(id, value) in elements {
            if !(1..=14).contains(&id) {
                return Err(BuildError::ElementId { id });
            }
            if !(1..=16).contains(&value.len()) {
                return Err(BuildError::ElementLength {
                    id,
                    len: value.len(),
                });
            }
            data.push((id << 4) | (value.len() - 1) as u8);
            data.extend_from_slice(value);
        }
        Self::padded(ONE_BYTE_PROFILE, data)
    }

    /// RFC 8285 §4.3 two-byte form: IDs 1..=255, 0..=255 data bytes each,
    /// zero-padded to 32 bits; `appbits` fill the profile's low 4 bits.
    pub fn two_byte(appbits: u8, elements: &[(u8, &[u8])]) -> Result<Self, BuildError> {
        if appbits > 15 {
            return Err(BuildError::AppBits { appbits });
        }
        let mut data = Vec::new();
        for &(id, value) in elements {
            if id == 0 {
                return Err(BuildError::ElementId { id });
            }
            let len = u8::try_from(value.len()).map_err(|_| BuildError::ElementLength {
                id,
                len: value.len(),
            })?;
            data.push(id);
            data.push(len);
            data.extend_from_slice(value);
        }
        Self::padded(TWO_BYTE_PROFILE | u16::from(appbits), data)
    }

    fn padded(profile: u16, mut data: Vec<u8>) -> Result<Self, BuildError> {
        let len = align4(data.len()).ok_or(BuildError::ExtensionLength { len: data.len() })?;
        data.resize(len, 0);
        let ext = Self { profile, data };
        ext.check()?;
        Ok(ext)
    }

    fn check(&self) -> Result<(), BuildError> {
        let len = self.data.len();
        if len % 4 != 0 || len / 4 > usize::from(u16::MAX) {
            return Err(BuildError::ExtensionLength { len });
        }
        Ok(())
    }
}

/// Owned RTP header fields (RFC 3550 §5.1), serialized by
/// [`write_packet`](Self::write_packet). Version is always 2; P, X and CC
/// follow from the padding, `extension` and `csrcs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// Contributing sources, at most 15.
    pub csrcs: Vec<u32>,
    /// Header extension.
    pub extension: Option<RtpExtension>,
}

impl RtpHeader {
    /// A header without marker, CSRCs or extension.
    pub fn new(payload_type: u8, sequence_number: u16, timestamp: u32, ssrc: u32) -> Self {
        Self {
            marker: false,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            csrcs: Vec::new(),
            extension: None,
        }
    }

    /// Serialized header length, CSRCs and extension included.
    pub fn encoded_len(&self) -> usize {
        FIXED_HEADER_LEN
            + 4 * self.csrcs.len()
            + self.extension.as_ref().map_or(0, |e| 4 + e.data.len())
    }

    /// Checks the fields fit their wire widths.
    pub fn validate(&self) -> Result<(), BuildError> {
        if self.csrcs.len() > 15 {
            return Err(BuildError::TooManyCsrcs {
                count: self.csrcs.len(),
            });
        }
        if self.payload_type > 127 {
            return Err(BuildError::PayloadType {
                pt: self.payload_type,
            });
        }
        if let Some(ext) = &self.extension {
            ext.check()?;
        }
        Ok(())
    }

    /// Appends header, `payload` and `padding_len` padding octets (zeros,
    /// then the count; 0 means no padding and P clear) to `out`.
    pub fn write_packet(
        &self,
        payload: &[u8],
        padding_len: u8,
        out: &mut Vec<u8>,
    ) -> Result<(), BuildError> {
        self.validate()?;
        self.emit(padding_len != 0, out);
        out.extend_from_slice(payload);
        if padding_len != 0 {
            out.resize(out.len() + usize::from(padding_len) - 1, 0);
            out.push(padding_len);
        }
        Ok(())
    }

    /// [`write_packet`](Self::write_packet) into a new vector.
    pub fn to_bytes(&self, payload: &[u8], padding_len: u8) -> Result<Vec<u8>, BuildError> {
        let mut out = Vec::with_capacity(self.encoded_len() + payload.len() + 255);
        self.write_packet(payload, padding_len, &mut out)?;
        Ok(out)
    }

    /// Writes the header; fields must have passed [`validate`](Self::validate)
    /// (they are masked to their widths otherwise).
    fn emit(&self, padding: bool, out: &mut Vec<u8>) {
        let cc = (self.csrcs.len() & 0x0f) as u8;
        let first = 0x80
            | if padding { 0x20 } else { 0 }
            | if self.extension.is_some() { 0x10 } else { 0 }
            | cc;
        out.push(first);
        out.push(if self.marker { 0x80 } else { 0 } | (self.payload_type & 0x7f));
        out.extend_from_slice(&self.sequence_number.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        for c in self.csrcs.iter().take(15) {
            out.extend_from_slice(&c.to_be_bytes());
        }
        if let Some(ext) = &self.extension {
            let words = u16::try_from(ext.data.len() / 4).unwrap_or(u16::MAX);
            out.extend_from_slice(&ext.profile.to_be_bytes());
            out.extend_from_slice(&words.to_be_bytes());
            out.extend_from_slice(ext.data.get(..usize::from(words) * 4).unwrap_or(&ext.data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pcmu(seq: u16) -> RtpHeader {
        RtpHeader::new(0, seq, 160 * u32::from(seq), 0x1234_5678)
    }

    #[test]
    fn parses_minimal_pcmu() {
        let bytes = pcmu(7).to_bytes(&[0xff; 160], 0).unwrap();
        assert_eq!(bytes.len(), 172);
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.version(), 2);
        assert_eq!(p.payload_type(), 0);
        assert_eq!(p.sequence_number(), 7);
        assert_eq!(p.timestamp(), 1120);
        assert_eq!(p.ssrc(), 0x1234_5678);
        assert_eq!(p.csrcs().count(), 0);
        assert!(p.extension().is_none());
        assert_eq!(p.payload().len(), 160);
        assert_eq!(p.padding_len(), 0);
    }

    #[test]
    fn csrcs_marker_and_padding() {
        let mut h = pcmu(1);
        h.marker = true;
        h.csrcs = vec![1, 2, 3];
        let bytes = h.to_bytes(b"abcd", 4).unwrap();
        let p = RtpPacket::parse(&bytes).unwrap();
        assert!(p.marker() && p.has_padding());
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(p.payload(), b"abcd");
        assert_eq!(p.padding(), &[0, 0, 0, 4]);
        assert_eq!(p.header_len(), 24);
    }

    #[test]
    fn length_errors_carry_offsets() {
        assert_eq!(
            RtpPacket::parse(&[]),
            Err(RtpError::Truncated {
                offset: 0,
                needed: 12
            })
        );
        assert_eq!(
            RtpPacket::parse(&[0x40; 12]),
            Err(RtpError::BadVersion {
                offset: 0,
                version: 1
            })
        );
        let mut b = pcmu(1).to_bytes(&[], 0).unwrap();
        b[0] |= 0x02; // CC = 2, no CSRCs present
        assert_eq!(
            RtpPacket::parse(&b),
            Err(RtpError::Truncated {
                offset: 12,
                needed: 8
            })
        );
        let mut b = pcmu(1).to_bytes(&[], 0).unwrap();
        b[0] |= 0x10; // X without extension header
        assert_eq!(
            RtpPacket::parse(&b),
            Err(RtpError::Truncated {
                offset: 12,
                needed: 4
            })
        );
        b.extend_from_slice(&[0xbe, 0xde, 0, 2, 0x10, 0]);
        assert_eq!(
            RtpPacket::parse(&b),
            Err(RtpError::Truncated {
                offset: 16,
                needed: 8
            })
        );
    }

    #[test]
    fn padding_errors() {
        let mut b = pcmu(1).to_bytes(&[1, 2, 3], 0).unwrap();
        b[0] |= 0x20;
        let last = b.len() - 1;
        b[last] = 0;
        assert_eq!(
            RtpPacket::parse(&b),
            Err(RtpError::ZeroPadding { offset: last })
        );
        b[last] = 4;
        assert_eq!(
            RtpPacket::parse(&b),
            Err(RtpError::PaddingTooLong {
                offset: last,
                count: 4,
                available: 3
            })
        );
        b[last] = 3; // padding may take the whole payload
        assert_eq!(RtpPacket::parse(&b).unwrap().payload(), b"");
        let mut h = pcmu(1).to_bytes(&[], 0).unwrap();
        h[0] |= 0x20; // P but no octet for the count
        assert_eq!(
            RtpPacket::parse(&h),
            Err(RtpError::Truncated {
                offset: 12,
                needed: 1
            })
        );
    }

    #[test]
    fn one_byte_extension_elements() {
        let mut h = pcmu(1);
        h.extension = Some(RtpExtension::one_byte(&[(1, &[0x80]), (3, b"abc")]).unwrap());
        let bytes = h.to_bytes(b"x", 0).unwrap();
        let p = RtpPacket::parse(&bytes).unwrap();
        let ext = p.extension().unwrap();
        assert_eq!(ext.form(), ExtensionForm::OneByte);
        assert_eq!(ext.data().len(), 8);
        let els: Vec<_> = ext.elements().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            els,
            vec![
                ExtensionElement {
                    id: 1,
                    data: &[0x80]
                },
                ExtensionElement {
                    id: 3,
                    data: b"abc"
                }
            ]
        );
    }

    fn ext_view(profile: u16, data: &[u8]) -> HeaderExtension<'_> {
        HeaderExtension {
            profile,
            data,
            offset: 16,
        }
    }

    #[test]
    fn one_byte_padding_id15_and_overrun() {
        // padding, element 2 (len 1), padding, id 15 stops, junk after.
        let data = [0, 0x20, 0xaa, 0, 0xf0, 0x35, 1, 2];
        let els: Vec<_> = ext_view(ONE_BYTE_PROFILE, &data).elements().collect();
        assert_eq!(
            els,
            vec![Ok(ExtensionElement {
                id: 2,
                data: &[0xaa]
            })]
        );
        let data = [0x12, 1, 2, 3, 0x43, 1, 2, 3];
        let els: Vec<_> = ext_view(ONE_BYTE_PROFILE, &data).elements().collect();
        assert_eq!(els.len(), 2);
        assert_eq!(
            els[1],
            Err(RtpError::ExtensionElementOverrun { offset: 20 })
        );
    }

    #[test]
    fn two_byte_extension_elements() {
        let mut h = pcmu(1);
        h.extension = Some(RtpExtension::two_byte(5, &[(1, &[]), (200, &[7; 17])]).unwrap());
        let bytes = h.to_bytes(b"", 0).unwrap();
        let p = RtpPacket::parse(&bytes).unwrap();
        let ext = p.extension().unwrap();
        assert_eq!(ext.profile(), 0x1005);
        assert_eq!(ext.form(), ExtensionForm::TwoByte { appbits: 5 });
        let els: Vec<_> = ext.elements().collect::<Result<_, _>>().unwrap();
        assert_eq!(els.len(), 2);
        assert_eq!(els[0], ExtensionElement { id: 1, data: &[] });
        assert_eq!(els[1].id, 200);
        assert_eq!(els[1].data, &[7; 17]);
        // Overrun: length byte claims more than remains; missing length byte.
        let data = [0, 9, 7, 0, 0, 0, 0, 0];
        let els: Vec<_> = ext_view(0x1000, &data).elements().collect();
        assert_eq!(
            els,
            vec![Err(RtpError::ExtensionElementOverrun { offset: 17 })]
        );
        let els: Vec<_> = ext_view(0x1000, &[0, 0, 0, 9]).elements().collect();
        assert_eq!(
            els,
            vec![Err(RtpError::ExtensionElementOverrun { offset: 19 })]
        );
        assert_eq!(ext_view(0xABCD, &[1, 2, 3, 4]).elements().count(), 0);
    }

    #[test]
    fn build_errors() {
        let mut h = pcmu(1);
        h.csrcs = vec![0; 16];
        assert_eq!(
            h.to_bytes(&[], 0),
            Err(BuildError::TooManyCsrcs { count: 16 })
        );
        let h = RtpHeader::new(128, 0, 0, 0);
        assert_eq!(h.to_bytes(&[], 0), Err(BuildError::PayloadType { pt: 128 }));
        assert_eq!(
            RtpExtension::one_byte(&[(15, &[1])]),
            Err(BuildError::ElementId { id: 15 })
        );
        assert_eq!(
            RtpExtension::one_byte(&[(1, &[])]),
            Err(BuildError::ElementLength { id: 1, len: 0 })
        );
        assert_eq!(
            RtpExtension::two_byte(16, &[]),
            Err(BuildError::AppBits { appbits: 16 })
        );
        let mut h = pcmu(1);
        h.extension = Some(RtpExtension {
            profile: 1,
            data: vec![0; 3],
        });
        assert_eq!(
            h.to_bytes(&[], 0),
            Err(BuildError::ExtensionLength { len: 3 })
        );
    }

    fn arb_extension() -> impl Strategy<Value = Option<RtpExtension>> {
        prop_oneof![
            Just(None),
            // Opaque extensions: any profile but the RFC 8285 ones, whose
            // data the elements check below must be able to read.
            (
                any::<u16>().prop_filter("not an RFC 8285 profile", |p| {
                    *p != ONE_BYTE_PROFILE && p & 0xfff0 != TWO_BYTE_PROFILE
                }),
                prop::collection::vec(any::<[u8; 4]>(), 0..8)
            )
                .prop_map(|(p, w)| {
                    Some(RtpExtension {
                        profile: p,
                        data: w.concat(),
                    })
                }),
            prop::collection::vec((1u8..=14, prop::collection::vec(any::<u8>(), 1..=16)), 0..5)
                .prop_map(|els| {
                    let els: Vec<(u8, &[u8])> =
                        els.iter().map(|(i, d)| (*i, d.as_slice())).collect();
                    RtpExtension::one_byte(&els).ok()
                }),
            prop::collection::vec((1u8..=255, prop::collection::vec(any::<u8>(), 0..40)), 0..4)
                .prop_map(|els| {
                    let els: Vec<(u8, &[u8])> =
                        els.iter().map(|(i, d)| (*i, d.as_slice())).collect();
                    RtpExtension::two_byte(0, &els).ok()
                }),
        ]
    }

    prop_compose! {
        fn arb_header()(
            marker in any::<bool>(),
            payload_type in 0u8..=127,
            sequence_number in any::<u16>(),
            timestamp in any::<u32>(),
            ssrc in any::<u32>(),
            csrcs in prop::collection::vec(any::<u32>(), 0..=15),
            extension in arb_extension(),
        ) -> RtpHeader {
            RtpHeader { marker, payload_type, sequence_number, timestamp, ssrc, csrcs, extension }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn build_parse_equal(
            h in arb_header(),
            payload in prop::collection::vec(any::<u8>(), 0..200),
            padding in any::<u8>(),
        ) {
            let bytes = h.to_bytes(&payload, padding).unwrap();
            let p = RtpPacket::parse(&bytes).unwrap();
            prop_assert_eq!(p.to_header(), h.clone());
            prop_assert_eq!(p.payload(), payload.as_slice());
            prop_assert_eq!(p.padding_len(), usize::from(padding));
            prop_assert_eq!(p.header_len(), h.encoded_len());
            if let Some(ext) = &h.extension {
                // Builders' elements come back in order.
                if ext.profile == ONE_BYTE_PROFILE || ext.profile & 0xfff0 == TWO_BYTE_PROFILE {
                    prop_assert!(p.extension().unwrap().elements().all(|e| e.is_ok()));
                }
            }
            let mut again = Vec::new();
            p.write(&mut again);
            prop_assert_eq!(again, bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..64)) {
            crate::fuzzing::rtp_parse(&data);
        }
    }
}
