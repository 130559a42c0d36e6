//! SRTP and SRTCP (RFC 3711) with the pre-defined transforms: AES-128 in
//! counter mode (§4.1.1), HMAC-SHA1 (§4.2.1) truncated to 80 or 32 bits,
//! and the AES-CM key derivation PRF (§4.3) with key_derivation_rate 0.
//!
//! One [`SrtpContext`] holds the session keys derived from one master key
//! and salt, plus per-SSRC state for each direction: for sending, the ROC,
//! highest sequence number and SRTCP index; for receiving, the ROC, highest
//! sequence number (§3.3.1) and the SRTP and SRTCP replay lists (§3.3.2).
//! Receive state is created or changed only by packets that authenticate.

use std::collections::HashMap;

use aes::Aes128;
use aes::cipher::{InnerIvInit, KeyInit, KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::RtpError;
use crate::bytes::u32_at;
use crate::rtp::header_len;

type Aes128Ctr = ctr::Ctr128BE<Aes128>;
type HmacSha1 = Hmac<Sha1>;

/// Master key length of the AES-128 transforms.
pub const MASTER_KEY_LEN: usize = 16;
/// Master (and session) salt length, 112 bits (§4.3).
pub const MASTER_SALT_LEN: usize = 14;
/// Session authentication key length for HMAC-SHA1, n_a = 160 bits (§4.2.1).
pub const AUTH_KEY_LEN: usize = 20;
/// SRTCP authentication tag length: always 80 bits (RFC 4568 §6.2.1).
pub const SRTCP_TAG_LEN: usize = 10;
/// Default replay window (§3.3.2 minimum).
pub const DEFAULT_REPLAY_WINDOW: usize = 64;
/// Largest replay window accepted: 2^15, the reach of the index estimate.
pub const MAX_REPLAY_WINDOW: usize = 1 << 15;
const MAX_INDEX: u64 = (1 << 48) - 1;
const MAX_SRTCP_INDEX: u32 = (1 << 31) - 1;

/// Key derivation labels (§4.3.1, §4.3.2).
pub mod label {
    /// SRTP encryption key.
    pub const RTP_ENCRYPTION: u8 = 0x00;
    /// SRTP authentication key.
    pub const RTP_AUTH: u8 = 0x01;
    /// SRTP salting key.
    pub const RTP_SALT: u8 = 0x02;
    /// SRTCP encryption key.
    pub const RTCP_ENCRYPTION: u8 = 0x03;
    /// SRTCP authentication key.
    pub const RTCP_AUTH: u8 = 0x04;
    /// SRTCP salting key.
    pub const RTCP_SALT: u8 = 0x05;
}

/// Crypto suite (RFC 4568 §6.2.1 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SrtpProfile {
    /// AES_CM_128_HMAC_SHA1_80: 80-bit SRTP and SRTCP tags.
    Aes128CmHmacSha1_80,
    /// AES_CM_128_HMAC_SHA1_32: 32-bit SRTP tag, 80-bit SRTCP tag.
    Aes128CmHmacSha1_32,
}

impl SrtpProfile {
    /// SRTP authentication tag length in bytes.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            Self::Aes128CmHmacSha1_80 => 10,
            Self::Aes128CmHmacSha1_32 => 4,
        }
    }
    /// SRTCP authentication tag length in bytes.
    pub fn rtcp_tag_len(self) -> usize {
        SRTCP_TAG_LEN
    }
}

/// Why a packet could not be protected or unprotected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    /// Shorter than header, MKI and tag (or SRTCP trailer) need.
    #[error("packet of {len} bytes is too short, need at least {min}")]
    TooShort {
        /// Packet length.
        len: usize,
        /// Least length acceptable.
        min: usize,
    },
    /// The RTP header (in clear in SRTP) is malformed.
    #[error("malformed RTP header: {0}")]
    Rtp(#[from] RtpError),
    /// The authentication tag does not verify (§3.3 step 5).
    #[error("authentication failed")]
    AuthFailed,
    /// Replay-list rejection (§3.3.2).
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The MKI field differs from the configured one.
    #[error("MKI does not match the context")]
    MkiMismatch,
    /// The estimated index falls before ROC 0 or past 2^48 - 1 (§3.3.1).
    #[error("packet index out of range")]
    IndexOutOfRange,
    /// 2^31 SRTCP packets sent: re-keying required (§3.4, §9.2).
    #[error("SRTCP index exhausted")]
    SrtcpIndexExhausted,
    /// Replay window outside `DEFAULT_REPLAY_WINDOW..=MAX_REPLAY_WINDOW`.
    #[error("replay window {size} outside 64..=32768")]
    InvalidReplayWindow {
        /// The size configured.
        size: usize,
    },
}

/// Replay-list verdicts (RFC 3711 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// Index already received within the window.
    #[error("replayed packet index {index}")]
    Duplicate {
        /// The packet index.
        index: u64,
    },
    /// Index lags the highest received by the window size or more.
    #[error("packet index {index} is behind the replay window (highest {highest})")]
    TooOld {
        /// The packet index.
        index: u64,
        /// Highest index received.
        highest: u64,
    },
}

/// Sliding-window replay list (RFC 3711 §3.3.2, the RFC 2401 bitmap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    size: usize,
    highest: Option<u64>,
    /// Bit `k` set: index `highest - k` received.
    bits: Vec<u64>,
}

impl ReplayWindow {
    /// An empty window of `size` packets (at least 1).
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        Self {
            size,
            highest: None,
            bits: vec![0; size.div_ceil(64)],
        }
    }
    /// Window size in packets.
    pub fn size(&self) -> usize {
        self.size
    }
    /// Highest index accepted so far.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    fn bit(&self, k: u64) -> bool {
        let k = usize::try_from(k).unwrap_or(usize::MAX);
        self.bits
            .get(k / 64)
            .is_some_and(|w| w & (1u64 << (k % 64)) != 0)
    }

    /// Whether `index` may be accepted: ahead of the window, or inside it
    /// and not yet received.
    pub fn check(&self, index: u64) -> Result<(), ReplayError> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if index > highest {
            return Ok(());
        }
        let delta = highest - index;
        if delta >= self.size as u64 {
            return Err(ReplayError::TooOld { index, highest });
        }
        if self.bit(delta) {
            return Err(ReplayError::Duplicate { index });
        }
        Ok(())
    }

    /// Records `index` as received, moving the window ahead if needed. Call
    /// only after [`check`](Self::check) and authentication succeeded.
    pub fn accept(&mut self, index: u64) {
        let Some(highest) = self.highest else {
            self.highest = Some(index);
            self.bits.iter_mut().for_each(|w| *w = 0);
            self.set(0);
            return;
        };
        if index > highest {
            self.shift(index - highest);
            self.highest = Some(index);
            self.set(0);
        } else if highest - index < self.size as u64 {
            self.set(highest - index);
        }
    }

    fn set(&mut self, k: u64) {
        let Ok(k) = usize::try_from(k) else { return };
        if let Some(w) = self.bits.get_mut(k / 64) {
            *w |= 1u64 << (k % 64);
        }
    }

    /// Moves every bit `n` places towards older indices.
    fn shift(&mut self, n: u64) {
        let words = self.bits.len();
        if n >= self.size as u64 {
            self.bits.iter_mut().for_each(|w| *w = 0);
            return;
        }
        let n = n as usize; // < size, which is a usize
        let (ws, bs) = (n / 64, n % 64);
        for i in (0..words).rev() {
            let hi = i.checked_sub(ws).and_then(|j| self.bits.get(j)).copied();
            let lo = i
                .checked_sub(ws + 1)
                .and_then(|j| self.bits.get(j))
                .copied();
            let v = match (hi, bs) {
                (None, _) => 0,
                (Some(h), 0) => h,
                (Some(h), _) => (h << bs) | lo.map_or(0, |l| l >> (64 - bs)),
            };
            if let Some(w) = self.bits.get_mut(i) {
                *w = v;
            }
        }
        // Clear bits past the window so a later shift cannot bring them back.
        let extra = words * 64 - self.size;
        if extra > 0
            && let Some(w) = self.bits.last_mut()
        {
            *w &= u64::MAX >> extra;
        }
    }
}

/// AES-CM keystream (§4.1.1): AES-128 in counter mode from the 128-bit
/// counter `iv`, written over `out`.
pub fn aes_cm_keystream(key: &[u8; 16], iv: &[u8; 16], out: &mut [u8]) {
    out.iter_mut().for_each(|b| *b = 0);
    Aes128Ctr::new(key.into(), iv.into()).apply_keystream(out);
}

/// The AES-CM PRF key derivation of §4.3.1 and §4.3.3: fills `out` with
/// PRF_n(master_key, (label || r) XOR master_salt), where `r` is
/// `index DIV key_derivation_rate` (48 bits, right-aligned).
pub fn derive_session_key(
    master_key: &[u8; MASTER_KEY_LEN],
    master_salt: &[u8; MASTER_SALT_LEN],
    label: u8,
    r: u64,
    out: &mut [u8],
) {
    let mut iv = [0u8; 16];
    iv[..MASTER_SALT_LEN].copy_from_slice(master_salt);
    iv[7] ^= label;
    for (d, s) in iv[8..14].iter_mut().zip(&r.to_be_bytes()[2..]) {
        *d ^= s;
    }
    aes_cm_keystream(master_key, &iv, out);
}

/// HMAC-SHA1 keyed with `key`. RFC 2104 zero-pads keys shorter than the
/// 64-byte block, so padding here gives the same MAC without a fallible
/// variable-length constructor.
fn hmac_sha1(key: &[u8; AUTH_KEY_LEN]) -> HmacSha1 {
    let mut block = [0u8; 64];
    block[..AUTH_KEY_LEN].copy_from_slice(key);
    <HmacSha1 as KeyInit>::new(&block.into())
}

/// Session keys for one of SRTP or SRTCP.
#[derive(Clone)]
struct SessionKeys {
    cipher: Aes128,
    salt: [u8; MASTER_SALT_LEN],
    mac: HmacSha1,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys").finish_non_exhaustive()
    }
}

impl SessionKeys {
    fn derive(key: &[u8; MASTER_KEY_LEN], salt: &[u8; MASTER_SALT_LEN], labels: [u8; 3]) -> Self {
        let [enc_label, auth_label, salt_label] = labels;
        let mut enc = [0u8; 16];
        derive_session_key(key, salt, enc_label, 0, &mut enc);
        let mut auth = [0u8; AUTH_KEY_LEN];
        derive_session_key(key, salt, auth_label, 0, &mut auth);
        let mut session_salt = [0u8; MASTER_SALT_LEN];
        derive_session_key(key, salt, salt_label, 0, &mut session_salt);
        Self {
            cipher: Aes128::new(&enc.into()),
            salt: session_salt,
            mac: hmac_sha1(&auth),
        }
    }

    /// XORs the AES-CM keystream for (ssrc, index) over `buf` (§4.1.1):
    /// IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16).
    fn crypt(&self, ssrc: u32, index: u64, buf: &mut [u8]) {
        let mut iv = [0u8; 16];
        iv[..MASTER_SALT_LEN].copy_from_slice(&self.salt);
        for (d, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *d ^= s;
        }
        for (d, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *d ^= s;
        }
        let core = ctr::CtrCore::inner_iv_init(self.cipher.clone(), &iv.into());
        Aes128Ctr::from_core(core).apply_keystream(buf);
    }

    /// HMAC-SHA1 over `parts`, the full 20 bytes (§4.2.1).
    fn tag(&self, parts: &[&[u8]]) -> [u8; 20] {
        let mut mac = self.mac.clone();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

/// What a context is keyed with.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpConfig {
    profile: SrtpProfile,
    master_key: [u8; MASTER_KEY_LEN],
    master_salt: [u8; MASTER_SALT_LEN],
    replay_window: usize,
    mki: Vec<u8>,
}

impl std::fmt::Debug for SrtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpConfig")
            .field("profile", &self.profile)
            .field("replay_window", &self.replay_window)
            .field("mki", &self.mki)
            .finish_non_exhaustive()
    }
}

impl SrtpConfig {
    /// A configuration with the default replay window and no MKI.
    pub fn new(
        profile: SrtpProfile,
        master_key: [u8; MASTER_KEY_LEN],
        master_salt: [u8; MASTER_SALT_LEN],
    ) -> Self {
        Self {
            profile,
            master_key,
            master_salt,
            replay_window: DEFAULT_REPLAY_WINDOW,
            mki: Vec::new(),
        }
    }
    /// Replay window size, 64..=32768 packets (§3.3.2: at least 64).
    pub fn with_replay_window(mut self, size: usize) -> Self {
        self.replay_window = size;
        self
    }
    /// A Master Key Identifier to send and require (§3.1); empty for none.
    pub fn with_mki(mut self, mki: &[u8]) -> Self {
        self.mki = mki.to_vec();
        self
    }
    /// The crypto suite.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Sequence {
    roc: u32,
    s_l: Option<u16>,
}

impl Sequence {
    /// Index estimate (§3.3.1, Appendix A) and the `v - ROC` used.
    fn estimate(&self, seq: u16) -> Result<(u64, i8), SrtpError> {
        let delta = self.s_l.map_or(0, |s_l| roc_delta(s_l, seq));
        let v = i64::from(self.roc) + i64::from(delta);
        let index = (v << 16) | i64::from(seq);
        let index = u64::try_from(index)
            .ok()
            .filter(|&i| i <= MAX_INDEX)
            .ok_or(SrtpError::IndexOutOfRange)?;
        Ok((index, delta))
    }

    /// The §3.3.1 update after a packet with index `index` was processed.
    fn update(&mut self, index: u64, delta: i8) {
        let seq = (index & 0xffff) as u16;
        let v = (index >> 16) as u32;
        match (delta, self.s_l) {
            (1, _) | (_, None) => {
                self.roc = v;
                self.s_l = Some(seq);
            }
            (0, Some(s_l)) if seq > s_l => self.s_l = Some(seq),
            _ => {}
        }
    }
}

/// Appendix A: whether SEQ belongs to ROC-1 (-1), ROC (0) or ROC+1 (1),
/// given the highest sequence number `s_l`.
fn roc_delta(s_l: u16, seq: u16) -> i8 {
    let (s_l, seq) = (i32::from(s_l), i32::from(seq));
    if s_l < 32_768 {
        if seq - s_l > 32_768 { -1 } else { 0 }
    } else if s_l - 32_768 > seq {
        1
    } else {
        0
    }
}

/// The RFC 3711 Appendix A index estimate: `SEQ + v * 2^16` with `v` in
/// {ROC-1, ROC, ROC+1} closest to `ROC * 2^16 + s_l`; `None` when `v`
/// would leave 0..2^32.
pub fn estimate_index(roc: u32, s_l: u16, seq: u16) -> Option<u64> {
    Sequence {
        roc,
        s_l: Some(s_l),
    }
    .estimate(seq)
    .ok()
    .map(|(i, _)| i)
}

#[derive(Debug, Clone, Default)]
struct TxState {
    seq: Sequence,
    srtcp_index: u32,
}

#[derive(Debug, Clone)]
struct RxState {
    seq: Sequence,
    rtp_replay: ReplayWindow,
    rtcp_replay: ReplayWindow,
}

/// An SRTP/SRTCP cryptographic context (RFC 3711 §3.2) for one master key:
/// protects outgoing and unprotects incoming packets of any SSRC.
#[derive(Debug, Clone)]
pub struct SrtpContext {
    profile: SrtpProfile,
    rtp: SessionKeys,
    rtcp: SessionKeys,
    mki: Vec<u8>,
    window: usize,
    tx: HashMap<u32, TxState>,
    rx: HashMap<u32, RxState>,
}

impl SrtpContext {
    /// Derives the SRTP and SRTCP session keys (§4.3, kdr 0).
    pub fn new(config: SrtpConfig) -> Result<Self, SrtpError> {
        if !(DEFAULT_REPLAY_WINDOW..=MAX_REPLAY_WINDOW).contains(&config.replay_window) {
            return Err(SrtpError::InvalidReplayWindow {
                size: config.replay_window,
            });
        }
        use label::*;
        let (k, s) = (&config.master_key, &config.master_salt);
        Ok(Self {
            profile: config.profile,
            rtp: SessionKeys::derive(k, s, [RTP_ENCRYPTION, RTP_AUTH, RTP_SALT]),
            rtcp: SessionKeys::derive(k, s, [RTCP_ENCRYPTION, RTCP_AUTH, RTCP_SALT]),
            mki: config.mki,
            window: config.replay_window,
            tx: HashMap::new(),
            rx: HashMap::new(),
        })
    }

    /// The crypto suite.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    fn new_rx(&self) -> RxState {
        RxState {
            seq: Sequence::default(),
            rtp_replay: ReplayWindow::new(self.window),
            rtcp_replay: ReplayWindow::new(self.window),
        }
    }

    /// Sets the sending ROC of `ssrc` (§3.3.1: ROC is never reset).
    pub fn set_tx_roc(&mut self, ssrc: u32, roc: u32) {
        self.tx.entry(ssrc).or_default().seq.roc = roc;
    }
    /// Sets the receiving ROC of `ssrc`, as signalled out of band to a
    /// receiver joining an ongoing session (§3.3.1).
    pub fn set_rx_roc(&mut self, ssrc: u32, roc: u32) {
        let fresh = self.new_rx();
        self.rx.entry(ssrc).or_insert(fresh).seq.roc = roc;
    }
    /// The sending ROC of `ssrc`, once known.
    pub fn tx_roc(&self, ssrc: u32) -> Option<u32> {
        self.tx.get(&ssrc).map(|s| s.seq.roc)
    }
    /// The receiving ROC of `ssrc`, once known.
    pub fn rx_roc(&self, ssrc: u32) -> Option<u32> {
        self.rx.get(&ssrc).map(|s| s.seq.roc)
    }
    /// Sets the next SRTCP index sent for `ssrc` (masked to 31 bits).
    pub fn set_srtcp_index(&mut self, ssrc: u32, index: u32) {
        self.tx.entry(ssrc).or_default().srtcp_index = index & MAX_SRTCP_INDEX;
    }

    /// RTP to SRTP (§3.3): encrypts the payload (padding included), appends
    /// the MKI, if any, and the tag over header, encrypted payload and ROC.
    /// Only the header must parse; the payload is not inspected.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let (hlen, _) = header_len(packet)?;
        let (seq, ssrc) = rtp_ids(packet)?;
        let state = self.tx.entry(ssrc).or_default();
        let (index, delta) = state.seq.estimate(seq)?;
        let tag_len = self.profile.rtp_tag_len();
        let mut out = Vec::with_capacity(packet.len() + self.mki.len() + tag_len);
        out.extend_from_slice(packet);
        if let Some(payload) = out.get_mut(hlen..) {
            self.rtp.crypt(ssrc, index, payload);
        }
        let roc = ((index >> 16) as u32).to_be_bytes();
        let tag = self.rtp.tag(&[&out, &roc]);
        out.extend_from_slice(&self.mki);
        out.extend_from_slice(tag.get(..tag_len).unwrap_or(&tag));
        state.seq.update(index, delta);
        Ok(out)
    }

    /// SRTP to RTP (§3.3): index estimate, replay check, tag check, then
    /// decryption; state changes only on success.
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let tag_len = self.profile.rtp_tag_len();
        let (hlen, _) = header_len(packet)?;
        let min = hlen + self.mki.len() + tag_len;
        if packet.len() < min {
            return Err(SrtpError::TooShort {
                len: packet.len(),
                min,
            });
        }
        let (seq, ssrc) = rtp_ids(packet)?;
        let mut state = match self.rx.get(&ssrc) {
            Some(s) => s.clone(),
            None => self.new_rx(),
        };
        let (index, delta) = state.seq.estimate(seq)?;
        state.rtp_replay.check(index)?;
        let auth_end = packet.len() - tag_len - self.mki.len();
        let (authenticated, trailer) = packet.split_at(auth_end);
        let (mki, tag) = trailer.split_at(self.mki.len());
        if !bool::from(mki.ct_eq(&self.mki)) {
            return Err(SrtpError::MkiMismatch);
        }
        let roc = ((index >> 16) as u32).to_be_bytes();
        let expected = self.rtp.tag(&[authenticated, &roc]);
        if !bool::from(expected.get(..tag_len).unwrap_or(&[]).ct_eq(tag)) {
            return Err(SrtpError::AuthFailed);
        }
        let mut out = authenticated.to_vec();
        if let Some(payload) = out.get_mut(hlen..) {
            self.rtp.crypt(ssrc, index, payload);
        }
        state.seq.update(index, delta);
        state.rtp_replay.accept(index);
        self.rx.insert(ssrc, state);
        Ok(out)
    }

    /// RTCP to SRTCP (§3.4): encrypts from the ninth octet on, appends
    /// E=1 || SRTCP index, the MKI if any, and the 80-bit tag. Only the
    /// length (at least 8 bytes) is checked; the compound is not parsed.
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let ssrc = u32_at(packet, 4).ok_or(SrtpError::TooShort {
            len: packet.len(),
            min: 8,
        })?;
        let state = self.tx.entry(ssrc).or_default();
        let index = state.srtcp_index;
        if index > MAX_SRTCP_INDEX {
            return Err(SrtpError::SrtcpIndexExhausted);
        }
        let mut out = Vec::with_capacity(packet.len() + 4 + self.mki.len() + SRTCP_TAG_LEN);
        out.extend_from_slice(packet);
        if let Some(body) = out.get_mut(8..) {
            self.rtcp.crypt(ssrc, u64::from(index), body);
        }
        out.extend_from_slice(&(0x8000_0000 | index).to_be_bytes());
        let tag = self.rtcp.tag(&[&out]);
        out.extend_from_slice(&self.mki);
        out.extend_from_slice(&tag[..SRTCP_TAG_LEN]);
        state.srtcp_index = index + 1;
        Ok(out)
    }

    /// SRTCP to RTCP (§3.4): replay check on the explicit index, tag check,
    /// then decryption when E is set.
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let min = 8 + 4 + self.mki.len() + SRTCP_TAG_LEN;
        if packet.len() < min {
            return Err(SrtpError::TooShort {
                len: packet.len(),
                min,
            });
        }
        let auth_end = packet.len() - SRTCP_TAG_LEN - self.mki.len();
        let (authenticated, trailer) = packet.split_at(auth_end);
        let (mki, tag) = trailer.split_at(self.mki.len());
        let rtcp_end = auth_end - 4;
        let (Some(ssrc), Some(e_index)) = (u32_at(packet, 4), u32_at(packet, rtcp_end)) else {
            return Err(SrtpError::TooShort {
                len: packet.len(),
                min,
            });
        };
        let index = e_index & MAX_SRTCP_INDEX;
        let encrypted = e_index & 0x8000_0000 != 0;
        let mut state = match self.rx.get(&ssrc) {
            Some(s) => s.clone(),
            None => self.new_rx(),
        };
        state.rtcp_replay.check(u64::from(index))?;
        if !bool::from(mki.ct_eq(&self.mki)) {
            return Err(SrtpError::MkiMismatch);
        }
        let expected = self.rtcp.tag(&[authenticated]);
        if !bool::from(expected[..SRTCP_TAG_LEN].ct_eq(tag)) {
            return Err(SrtpError::AuthFailed);
        }
        let mut out = packet.get(..rtcp_end).unwrap_or(&[]).to_vec();
        if encrypted && let Some(body) = out.get_mut(8..) {
            self.rtcp.crypt(ssrc, u64::from(index), body);
        }
        state.rtcp_replay.accept(u64::from(index));
        self.rx.insert(ssrc, state);
        Ok(out)
    }
}

fn rtp_ids(packet: &[u8]) -> Result<(u16, u32), SrtpError> {
    match (crate::bytes::u16_at(packet, 2), u32_at(packet, 8)) {
        (Some(seq), Some(ssrc)) => Ok((seq, ssrc)),
        _ => Err(RtpError::Truncated {
            offset: 0,
            needed: 12,
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RtpHeader;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn arr<const N: usize>(s: &str) -> [u8; N] {
        hex(s).try_into().unwrap()
    }

    /// RFC 3711 Appendix B.2: AES-CM keystream, 65282 blocks.
    #[test]
    fn rfc3711_b2_aes_cm_keystream() {
        let key = arr::<16>("2B7E151628AED2A6ABF7158809CF4F3C");
        // Session salt F0F1...FD, ROC 0, SEQ 0, SSRC 0: IV = salt * 2^16.
        let iv = arr::<16>("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000");
        let mut ks = vec![0u8; 1_044_512];
        aes_cm_keystream(&key, &iv, &mut ks);
        let block = |n: usize| &ks[16 * n..16 * n + 16];
        assert_eq!(block(0), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
        assert_eq!(block(1), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
        assert_eq!(block(2), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
        assert_eq!(block(0xFEFF), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
        assert_eq!(block(0xFF00), hex("362B7C3C6773516318A077D7FC5073AE"));
        assert_eq!(block(0xFF01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
        assert_eq!(ks.len() / 16, 65282);
        // The same keystream through the SRTP IV formation (§4.1.1).
        let keys = SessionKeys {
            cipher: Aes128::new(&key.into()),
            salt: arr::<14>("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"),
            mac: hmac_sha1(&[0u8; 20]),
        };
        let mut buf = vec![0u8; 48];
        keys.crypt(0, 0, &mut buf);
        assert_eq!(buf, ks[..48]);
    }

    const B3_KEY: &str = "E1F97A0D3E018BE0D64FA32C06DE4139";
    const B3_SALT: &str = "0EC675AD498AFEEBB6960B3AABE6";

    /// RFC 3711 Appendix B.3: key derivation.
    #[test]
    fn rfc3711_b3_key_derivation() {
        let key = arr::<16>(B3_KEY);
        let salt = arr::<14>(B3_SALT);
        let mut cipher_key = [0u8; 16];
        derive_session_key(&key, &salt, label::RTP_ENCRYPTION, 0, &mut cipher_key);
        assert_eq!(cipher_key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut cipher_salt = [0u8; 14];
        derive_session_key(&key, &salt, label::RTP_SALT, 0, &mut cipher_salt);
        assert_eq!(cipher_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        let mut auth_key = [0u8; 94];
        derive_session_key(&key, &salt, label::RTP_AUTH, 0, &mut auth_key);
        assert_eq!(
            auth_key.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A15
                 6D38BAA48F0A0ACF3C34E2359E6CDBCE
                 E049646C43D9327AD175578EF7227098
                 6371C10C9A369AC2F94A8C5FBCDDDC25
                 6D6E919A48B610EF17C2041E47403576
                 6B68642C59BBFC2F34DB60DBDFB2")
        );
    }

    /// Interop known answers: the reference packets of libSRTP's
    /// `srtp_validate()`, keyed with the B.3 master key and salt (SSRC
    /// 0xcafebabe, SEQ 0x1234, ROC 0; SRTCP index 1).
    #[test]
    fn libsrtp_validate_known_answers() {
        let rtp_plain = hex("800f1234decafbadcafebabe abababababababababababababababab");
        let srtp_80 = hex("800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402
                           b78d6acc99ea179b8dbb");
        for (profile, expected) in [
            (SrtpProfile::Aes128CmHmacSha1_80, &srtp_80[..]),
            (SrtpProfile::Aes128CmHmacSha1_32, &srtp_80[..32]),
        ] {
            let mut tx = SrtpContext::new(config(profile)).unwrap();
            assert_eq!(tx.protect_rtp(&rtp_plain).unwrap(), expected);
            let mut rx = SrtpContext::new(config(profile)).unwrap();
            assert_eq!(rx.unprotect_rtp(expected).unwrap(), rtp_plain);
        }
        let rtcp_plain = hex("81c8000bcafebabe abababababababababababababababab");
        let srtcp = hex("81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8
                         80000001 993e08cd54d6c1230798");
        let mut tx = SrtpContext::new(config(SrtpProfile::Aes128CmHmacSha1_80)).unwrap();
        tx.set_srtcp_index(0xcafe_babe, 1);
        assert_eq!(tx.protect_rtcp(&rtcp_plain).unwrap(), srtcp);
        let mut rx = SrtpContext::new(config(SrtpProfile::Aes128CmHmacSha1_32)).unwrap();
        assert_eq!(rx.unprotect_rtcp(&srtcp).unwrap(), rtcp_plain);
    }

    #[test]
    fn index_estimate_appendix_a() {
        assert_eq!(estimate_index(0, 100, 101), Some(101));
        assert_eq!(estimate_index(1, 65_530, 3), Some((2 << 16) | 3));
        assert_eq!(estimate_index(2, 3, 65_530), Some((1 << 16) | 65_530));
        assert_eq!(estimate_index(0, 3, 65_530), None);
        assert_eq!(estimate_index(5, 40_000, 7_233), Some((5 << 16) | 7_233));
        assert_eq!(estimate_index(5, 40_000, 7_231), Some((6 << 16) | 7_231));
        assert_eq!(estimate_index(u32::MAX, 65_000, 1), None);
    }

    #[test]
    fn replay_window_bitmap() {
        let mut w = ReplayWindow::new(128);
        w.accept(1000);
        assert_eq!(w.check(1000), Err(ReplayError::Duplicate { index: 1000 }));
        assert_eq!(w.check(999), Ok(()));
        w.accept(999);
        w.accept(1070); // shift by 70 crosses a word
        assert_eq!(w.check(1000), Err(ReplayError::Duplicate { index: 1000 }));
        assert_eq!(w.check(999), Err(ReplayError::Duplicate { index: 999 }));
        assert_eq!(w.check(998), Ok(()));
        assert_eq!(
            w.check(942),
            Err(ReplayError::TooOld {
                index: 942,
                highest: 1070
            })
        );
        assert_eq!(w.check(943), Ok(()));
        w.accept(1127); // 999 is now 128 behind: too old; 1000 still in.
        assert_eq!(w.check(1000), Err(ReplayError::Duplicate { index: 1000 }));
        assert!(matches!(w.check(999), Err(ReplayError::TooOld { .. })));
        w.accept(5000);
        assert_eq!(w.check(4999), Ok(()));
        assert_eq!(w.check(5000), Err(ReplayError::Duplicate { index: 5000 }));
        // Odd sizes do not resurrect bits beyond the window.
        let mut w = ReplayWindow::new(70);
        for i in 0..70 {
            w.accept(i);
        }
        w.accept(75);
        for i in 6..70 {
            assert_eq!(w.check(i), Err(ReplayError::Duplicate { index: i }));
        }
        for i in 70..75 {
            assert_eq!(w.check(i), Ok(()));
        }
    }

    fn config(profile: SrtpProfile) -> SrtpConfig {
        SrtpConfig::new(profile, arr(B3_KEY), arr(B3_SALT))
    }

    fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
        RtpHeader::new(0, seq, u32::from(seq) * 160, 0xcafe_f00d)
            .to_bytes(payload, 0)
            .unwrap()
    }

    #[test]
    fn srtp_round_trip_tamper_replay() {
        for profile in [
            SrtpProfile::Aes128CmHmacSha1_80,
            SrtpProfile::Aes128CmHmacSha1_32,
        ] {
            let mut tx = SrtpContext::new(config(profile)).unwrap();
            let mut rx = SrtpContext::new(config(profile)).unwrap();
            let plain = rtp(1, b"hello, border element");
            let srtp = tx.protect_rtp(&plain).unwrap();
            assert_eq!(srtp.len(), plain.len() + profile.rtp_tag_len());
            assert_eq!(srtp[..12], plain[..12], "header stays in clear");
            assert_ne!(srtp[12..plain.len()], plain[12..], "payload encrypted");
            for bit in [12 * 8, (srtp.len() - 1) * 8 + 7, 8 * 3] {
                let mut bad = srtp.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(rx.unprotect_rtp(&bad), Err(SrtpError::AuthFailed));
            }
            assert_eq!(rx.unprotect_rtp(&srtp).unwrap(), plain);
            assert_eq!(
                rx.unprotect_rtp(&srtp),
                Err(SrtpError::Replay(ReplayError::Duplicate { index: 1 }))
            );
            // 100 more packets; packet 1 then falls out of the 64 window.
            let mut saved = Vec::new();
            for seq in 2..=101 {
                let p = tx.protect_rtp(&rtp(seq, &[seq as u8; 20])).unwrap();
                if seq == 37 || seq == 38 {
                    saved.push(p); // held back: delivered late
                    continue;
                }
                assert_eq!(rx.unprotect_rtp(&p).unwrap(), rtp(seq, &[seq as u8; 20]));
            }
            // 101 - 37 = 64: outside the window; 38 just inside.
            assert_eq!(
                rx.unprotect_rtp(&saved[0]),
                Err(SrtpError::Replay(ReplayError::TooOld {
                    index: 37,
                    highest: 101
                }))
            );
            assert_eq!(rx.unprotect_rtp(&saved[1]).unwrap(), rtp(38, &[38; 20]));
            assert!(matches!(
                rx.unprotect_rtp(&srtp),
                Err(SrtpError::Replay(ReplayError::TooOld { .. }))
            ));
            assert_eq!(
                rx.unprotect_rtp(&srtp[..12 + profile.rtp_tag_len() - 1]),
                Err(SrtpError::TooShort {
                    len: 11 + profile.rtp_tag_len(),
                    min: 12 + profile.rtp_tag_len()
                })
            );
        }
    }

    #[test]
    fn srtp_roc_rollover_and_late_packet() {
        let cfg = config(SrtpProfile::Aes128CmHmacSha1_80);
        let mut tx = SrtpContext::new(cfg.clone()).unwrap();
        let mut rx = SrtpContext::new(cfg).unwrap();
        let mut late = None;
        for seq in (65_530u16..=65_535).chain(0..5) {
            let p = tx.protect_rtp(&rtp(seq, b"x")).unwrap();
            if seq == 65_534 {
                late = Some(p);
                continue;
            }
            assert_eq!(rx.unprotect_rtp(&p).unwrap(), rtp(seq, b"x"));
        }
        assert_eq!(tx.tx_roc(0xcafe_f00d), Some(1));
        assert_eq!(rx.rx_roc(0xcafe_f00d), Some(1));
        // A packet of the previous ROC arriving late (v = ROC - 1).
        assert_eq!(rx.unprotect_rtp(&late.unwrap()).unwrap(), rtp(65_534, b"x"));
        assert_eq!(rx.rx_roc(0xcafe_f00d), Some(1));
        // A receiver that thinks ROC is 0 cannot authenticate ROC 1 packets.
        let mut tx2 = SrtpContext::new(config(SrtpProfile::Aes128CmHmacSha1_80)).unwrap();
        tx2.set_tx_roc(0xcafe_f00d, 7);
        let p = tx2.protect_rtp(&rtp(9, b"y")).unwrap();
        let mut rx2 = SrtpContext::new(config(SrtpProfile::Aes128CmHmacSha1_80)).unwrap();
        assert_eq!(rx2.unprotect_rtp(&p), Err(SrtpError::AuthFailed));
        rx2.set_rx_roc(0xcafe_f00d, 7);
        assert_eq!(rx2.unprotect_rtp(&p).unwrap(), rtp(9, b"y"));
    }

    #[test]
    fn srtp_with_mki_extension_and_padding() {
        let cfg = config(SrtpProfile::Aes128CmHmacSha1_80).with_mki(&[0, 0, 0, 1]);
        let mut tx = SrtpContext::new(cfg.clone()).unwrap();
        let mut rx = SrtpContext::new(cfg).unwrap();
        let mut h = RtpHeader::new(96, 1, 2, 3);
        h.csrcs = vec![4, 5];
        h.extension = Some(crate::RtpExtension::one_byte(&[(1, &[9])]).unwrap());
        let plain = h.to_bytes(b"payload", 5).unwrap();
        let srtp = tx.protect_rtp(&plain).unwrap();
        assert_eq!(srtp.len(), plain.len() + 4 + 10);
        assert_eq!(&srtp[plain.len()..plain.len() + 4], &[0, 0, 0, 1]);
        let mut wrong = srtp.clone();
        wrong[plain.len() + 3] = 2;
        assert_eq!(rx.unprotect_rtp(&wrong), Err(SrtpError::MkiMismatch));
        assert_eq!(rx.unprotect_rtp(&srtp).unwrap(), plain);
    }

    fn rr(ssrc: u32) -> Vec<u8> {
        let mut v = Vec::new();
        crate::rtcp::write_packet(0, crate::rtcp::RR, &ssrc.to_be_bytes(), 0, &mut v).unwrap();
        crate::rtcp::write_packet(0, crate::rtcp::BYE, &[], 0, &mut v).unwrap();
        v
    }

    #[test]
    fn srtcp_round_trip_tamper_replay() {
        let cfg = config(SrtpProfile::Aes128CmHmacSha1_32);
        let mut tx = SrtpContext::new(cfg.clone()).unwrap();
        let mut rx = SrtpContext::new(cfg).unwrap();
        let plain = rr(0x0102_0304);
        let srtcp = tx.protect_rtcp(&plain).unwrap();
        assert_eq!(srtcp.len(), plain.len() + 4 + 10);
        assert_eq!(srtcp[..8], plain[..8]);
        assert_ne!(srtcp[8..plain.len()], plain[8..]);
        assert_eq!(&srtcp[plain.len()..plain.len() + 4], &[0x80, 0, 0, 0]);
        for byte in [9, plain.len() + 2, srtcp.len() - 1] {
            let mut bad = srtcp.clone();
            bad[byte] ^= 0x10;
            assert_eq!(rx.unprotect_rtcp(&bad), Err(SrtpError::AuthFailed));
        }
        assert_eq!(rx.unprotect_rtcp(&srtcp).unwrap(), plain);
        assert_eq!(
            rx.unprotect_rtcp(&srtcp),
            Err(SrtpError::Replay(ReplayError::Duplicate { index: 0 }))
        );
        let mut old = Vec::new();
        for i in 1..=70u32 {
            let p = tx.protect_rtcp(&plain).unwrap();
            assert_eq!(
                &p[plain.len()..plain.len() + 4],
                &(0x8000_0000 | i).to_be_bytes()
            );
            if i == 3 {
                old = p;
            } else {
                rx.unprotect_rtcp(&p).unwrap();
            }
        }
        assert!(matches!(
            rx.unprotect_rtcp(&old),
            Err(SrtpError::Replay(ReplayError::TooOld { index: 3, .. }))
        ));
        assert!(matches!(
            rx.unprotect_rtcp(&srtcp[..21]),
            Err(SrtpError::TooShort { min: 22, .. })
        ));
        tx.set_srtcp_index(0x0102_0304, MAX_SRTCP_INDEX);
        tx.protect_rtcp(&plain).unwrap();
        assert_eq!(tx.protect_rtcp(&plain), Err(SrtpError::SrtcpIndexExhausted));
    }

    #[test]
    fn srtcp_unencrypted_e_bit_zero() {
        // A sender that leaves the packet in clear (E = 0, §3.4).
        let cfg = config(SrtpProfile::Aes128CmHmacSha1_80);
        let keys = SrtpContext::new(cfg.clone()).unwrap().rtcp;
        let plain = rr(9);
        let mut p = plain.clone();
        p.extend_from_slice(&5u32.to_be_bytes());
        let tag = keys.tag(&[&p]);
        p.extend_from_slice(&tag[..10]);
        let mut rx = SrtpContext::new(cfg).unwrap();
        assert_eq!(rx.unprotect_rtcp(&p).unwrap(), plain);
    }

    #[test]
    fn larger_replay_window() {
        let cfg = config(SrtpProfile::Aes128CmHmacSha1_80).with_replay_window(128);
        let mut tx = SrtpContext::new(cfg.clone()).unwrap();
        let mut rx = SrtpContext::new(cfg).unwrap();
        let early = tx.protect_rtp(&rtp(1, b"a")).unwrap();
        for seq in 2..=120 {
            rx.unprotect_rtp(&tx.protect_rtp(&rtp(seq, b"b")).unwrap())
                .unwrap();
        }
        // 119 behind: outside a 64 window, inside 128.
        assert_eq!(rx.unprotect_rtp(&early).unwrap(), rtp(1, b"a"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn protect_unprotect_any_sequence(
            start in proptest::prelude::any::<u16>(),
            steps in proptest::collection::vec(1u16..600, 1..20),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let cfg = config(SrtpProfile::Aes128CmHmacSha1_80);
            let mut tx = SrtpContext::new(cfg.clone()).unwrap();
            let mut rx = SrtpContext::new(cfg).unwrap();
            let mut seq = start;
            for step in steps {
                let plain = rtp(seq, &payload);
                let srtp = tx.protect_rtp(&plain).unwrap();
                proptest::prop_assert_eq!(rx.unprotect_rtp(&srtp).unwrap(), plain);
                proptest::prop_assert_eq!(tx.tx_roc(0xcafe_f00d), rx.rx_roc(0xcafe_f00d));
                seq = seq.wrapping_add(step);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            crate::fuzzing::srtp_unprotect(&data);
        }
    }

    #[test]
    fn config_errors() {
        let c = config(SrtpProfile::Aes128CmHmacSha1_80);
        assert_eq!(
            SrtpContext::new(c.clone().with_replay_window(63)).err(),
            Some(SrtpError::InvalidReplayWindow { size: 63 })
        );
        assert!(SrtpContext::new(c.clone().with_replay_window(1024)).is_ok());
        assert!(!format!("{c:?}").contains("225"), "keys not printed");
    }
}
