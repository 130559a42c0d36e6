//! The Media Function under the SBE's control (RFC 6406 §5.3, §6.3): the
//! SBE allocates a relay in its DBE for every stream an SDP offer or
//! answer crossing the border names, writes the relay into the SDP it
//! sends on, tells the DBE where each side's endpoint is, and releases the
//! relay when the call ends.
//!
//! Side [`MediaSide::A`] of every stream faces the peers, side
//! [`MediaSide::B`] the inside (the next hop). The SDP sent *to* a side
//! names that side's relay ports ([`speermint_dbe::Event::Allocated`]).
//!
//! What the SDP going out says, per media description with a non-zero
//! port:
//! - every `c=` names the DBE's address on the receiving side, the `m=`
//!   port its RTP port there (RFC 6271 #3: the peer sees the DBE, never the
//!   endpoint);
//! - an `a=rtcp` (RFC 3605) names the DBE's RTCP port and address on that
//!   side. It is the one `a=` line that changes: it is a transport address
//!   like `c=`/`m=` (RFC 3605 §2.1), and left alone it would send the far
//!   side's RTCP straight to the endpoint, around the DBE, and leak the
//!   endpoint's address. ICE candidates, transport addresses too, are
//!   removed (below). Every other `a=` line (crypto keys, fingerprints,
//!   codecs, `a=rtcp-mux`, unknown ones) stays byte-identical (RFC 6271
//!   #17);
//! - a stream the DBE refuses (no ports left, too many streams) goes out
//!   with port 0, rejected (RFC 3264 §6), rather than with the endpoint's
//!   address.
//!
//! The DBE is a sub-node the SBE owns, driven through its own
//! [`speermint_dbe::Command`]/[`speermint_dbe::Event`] interface, not an
//! Event/Command round trip through the driver like the LUF/LRF: the SDP
//! must carry the relay ports before the message leaves, so a round trip
//! would park every SDP-bearing message (and its retransmissions) the way
//! `resolve.rs` parks requests, for an answer a DBE in the same process
//! gives at once. The SBE hands the DBE a command and reads its events
//! before it goes on; the command set stays the boundary, so a DBE on
//! another host would take a driver that parks, not a different DBE.
//! The DBE's transmits and timeouts come out of the SBE's
//! [`crate::Node::poll_output`] with its own, and its events as
//! [`crate::Event::Media`].
//!
//! Only RTP media (`RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, ...) is
//! relayed; other `m=` lines (MSRP over TCP, RFC 4975) cross untouched,
//! and so does a session-level `c=` they rely on: an RTP stream without a
//! `c=` of its own in such a mixed SDP then gets one naming the relay.
//!
//! `a=rtcp-mux` (RFC 5761): when the answer carries it, the answerer's
//! side and then the offerer's are taken as multiplexed (§5.1.1).
//!
//! ICE (RFC 8839): a stream the DBE anchors goes out without the
//! endpoint's candidates and ICE credentials, which would name the
//! endpoint and let ICE route media around the relay; both ends then use
//! the relay's `c=`/`m=`. The DBE is no ICE agent, so endpoints that
//! require ICE (WebRTC) are not served. An SDP that does not parse crosses
//! untouched (the DBE relays nothing for it).

use crate::policy::Side;
use crate::{Event, Fault, Sbe};
use speermint_dbe::{
    Command, Dbe, DbeConfig, Event as DbeEvent, Output as DbeOutput, Protection, Remote,
    Side as MediaSide, Sides,
};
use speermint_node::{Input, Node, Path};
use speermint_rtp::SrtpProfile;
use speermint_sdp::Sdp;
use speermint_sip::Message;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// The SBE's DBE and what it knows of each call's media.
#[derive(Debug)]
pub(crate) struct Media {
    dbe: Dbe,
    /// Calls with live streams. Entries come with an allocation and go
    /// with the call's last stream, so the DBE's bounds are this table's.
    calls: HashMap<String, CallMedia>,
    /// The DBE's next deadline, as it last reported it.
    deadline: Option<Instant>,
    /// Calls signalling ended lately, oldest first, with when. A 2xx to
    /// the INVITE may still come (retransmitted until the ACK, RFC 3261
    /// §13.3.1.4; relayed for 64*T1, RFC 6026 §7.1): its SDP must not
    /// take a relay for a call that is over. Bounded.
    ended: std::collections::VecDeque<(Instant, String)>,
    /// The same calls by key, with when each last ended: the lookup every
    /// SDP-bearing message makes, without a scan of `ended`.
    ended_at: HashMap<String, Instant>,
}

/// How many ended calls [`Media`] remembers, and for how long: the time a
/// 2xx to the INVITE is still relayed (64*T1 at the default T1).
const ENDED_KEPT: usize = 4096;
const ENDED_FOR: std::time::Duration = std::time::Duration::from_secs(32);

#[derive(Debug, Default)]
struct CallMedia {
    /// Whether an INVITE of the call has been answered 2xx: from then on a
    /// failed re-INVITE keeps the media.
    established: bool,
    /// Each live stream and what each side's SDP named for it.
    streams: HashMap<u16, Sides<Option<Remote>>>,
}

impl Media {
    pub(crate) fn new(cfg: DbeConfig) -> Self {
        Media {
            dbe: Dbe::new(cfg),
            calls: HashMap::new(),
            deadline: None,
            ended: std::collections::VecDeque::new(),
            ended_at: HashMap::new(),
        }
    }

    /// The DBE node.
    pub(crate) fn dbe(&self) -> &Dbe {
        &self.dbe
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Notes that signalling ended `call` at `now`.
    fn remember_ended(&mut self, now: Instant, call: String) {
        if self.ended.len() >= ENDED_KEPT {
            self.forget_oldest();
        }
        self.ended_at.insert(call.clone(), now);
        self.ended.push_back((now, call));
    }

    /// Drops the oldest entry; its key goes too unless it ended again
    /// since.
    fn forget_oldest(&mut self) {
        if let Some((at, call)) = self.ended.pop_front() {
            if self.ended_at.get(&call) == Some(&at) {
                self.ended_at.remove(&call);
            }
        }
    }

    /// Whether signalling ended `call` within [`ENDED_FOR`] of `now`;
    /// forgets older entries.
    fn ended_lately(&mut self, now: Instant, call: &str) -> bool {
        while self
            .ended
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > ENDED_FOR)
        {
            self.forget_oldest();
        }
        self.ended_at.contains_key(call)
    }

    /// Whether a datagram to `local` is media: one of the DBE's addresses
    /// on a port of its range.
    pub(crate) fn owns(&self, local: SocketAddr) -> bool {
        let cfg = self.dbe.config();
        (local.ip() == cfg.addresses.a || local.ip() == cfg.addresses.b)
            && cfg.ports.contains(&local.port())
    }
}

impl Sbe {
    /// Feeds the DBE one input and moves what it says to the SBE's output.
    /// Returns the ports of an allocation it answered.
    fn feed_dbe(
        &mut self,
        now: Instant,
        input: Input<'_, Command>,
    ) -> Option<Sides<speermint_dbe::RelayPorts>> {
        let media = self.media.as_mut()?;
        media.dbe.handle_input(now, input);
        let mut allocated = None;
        while let Some(o) = media.dbe.poll_output() {
            match o {
                DbeOutput::Transmit(t) => self.out.push_back(crate::Output::Transmit(t)),
                DbeOutput::Close(p) => self.out.push_back(crate::Output::Close(p)),
                DbeOutput::Timeout(at) => media.deadline = Some(at),
                DbeOutput::Event(e) => {
                    match &e {
                        DbeEvent::Allocated {
                            call,
                            stream,
                            ports,
                        } => {
                            allocated = Some(*ports);
                            media
                                .calls
                                .entry(call.clone())
                                .or_default()
                                .streams
                                .entry(*stream)
                                .or_default();
                        }
                        DbeEvent::StreamEnded { call, stream, .. } => {
                            if let Some(c) = media.calls.get_mut(call) {
                                c.streams.remove(stream);
                                if c.streams.is_empty() {
                                    media.calls.remove(call);
                                }
                            }
                        }
                        DbeEvent::Refused { .. } | DbeEvent::Counters { .. } => {}
                    }
                    self.out.push_back(crate::Output::Event(Event::Media(e)));
                }
            }
        }
        allocated
    }

    /// A media datagram for the DBE.
    pub(crate) fn media_datagram(&mut self, now: Instant, path: Path, bytes: &[u8]) {
        self.feed_dbe(now, Input::Datagram { path, bytes });
    }

    /// The DBE's timers, when due.
    pub(crate) fn media_timeout(&mut self, now: Instant) {
        let due = self
            .media
            .as_ref()
            .and_then(Media::deadline)
            .is_some_and(|at| at <= now);
        if due {
            if let Some(m) = self.media.as_mut() {
                m.deadline = None;
            }
            self.feed_dbe(now, Input::Timeout);
        }
    }

    /// The key the DBE knows a call by: its Call-ID on the inside, the same
    /// on both legs whether or not the topology is hidden.
    fn media_key(&self, from: SocketAddr, call_id: &str) -> String {
        if self.cfg.side(from) == Side::Peer {
            if let Some(inside) = self.dialogs.inside_call_id(call_id) {
                return inside.to_owned();
            }
        }
        call_id.to_owned()
    }

    /// Which media side a SIP message from `from` to `to` goes from and
    /// to, when it crosses the border.
    fn media_sides(&self, from: SocketAddr, to: SocketAddr) -> Option<(MediaSide, MediaSide)> {
        let from_peer = self.cfg.side(from) == Side::Peer;
        let to_peer = self.cfg.side(to) == Side::Peer;
        match (from_peer, to_peer) {
            (true, false) => Some((MediaSide::A, MediaSide::B)),
            (false, true) => Some((MediaSide::B, MediaSide::A)),
            _ => None,
        }
    }

    /// The SDP of a message crossing from `from` to `to`, with the DBE in
    /// its media path; `None` when there is nothing to change (no relay,
    /// no SDP, not crossing the border). `answer` says whether it answers
    /// an offer (a response, or an ACK).
    pub(crate) fn relay_media(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        body: &[u8],
        from: SocketAddr,
        to: SocketAddr,
    ) -> Option<Vec<u8>> {
        self.media.as_ref()?;
        if !msg.core().content_type.is_some_and(|c| c.is_sdp()) {
            return None;
        }
        let (arrival, departure) = self.media_sides(from, to)?;
        let answer = !msg.is_request() || msg.method() == "ACK";
        let call = self.media_key(from, msg.core().call_id);
        // A late 2xx (or anything) for a call that is over gets no relay:
        // its streams go out rejected, never around the DBE.
        let over = self
            .media
            .as_mut()
            .is_some_and(|m| m.ended_lately(now, &call));
        let sdp = Sdp::parse(body).ok()?;
        let session_ip = sdp.session_connection().and_then(|c| c.ip);
        let bypass = self.cfg.faults.contains(Fault::MediaBypass);
        let keep_ice = self.cfg.faults.contains(Fault::KeepIceCandidates);
        // The session-level c= stands for every stream without its own:
        // it names the relay unless a stream the DBE does not carry (MSRP,
        // say) relies on it.
        let others_rely = sdp
            .media()
            .any(|m| m.port != 0 && !m.proto.contains("RTP") && m.connection().is_none());
        let mut ed = sdp.editor();
        let mut relay_ip: Option<IpAddr> = None;
        for m in sdp.media() {
            let Ok(index) = u16::try_from(m.index) else {
                break;
            };
            if m.port == 0 {
                self.feed_dbe(
                    now,
                    Input::Command(Command::ReleaseStream {
                        call: call.clone(),
                        stream: index,
                    }),
                );
                continue;
            }
            if !m.proto.contains("RTP") {
                // Not RTP (MSRP over TCP, say): not the DBE's to relay.
                continue;
            }
            if over {
                let _ = ed.set_media_port(m.index, 0);
                continue;
            }
            let protection = protection_of(m.proto, m.attributes());
            let ports = self.feed_dbe(
                now,
                Input::Command(Command::Allocate {
                    call: call.clone(),
                    stream: index,
                    protection,
                }),
            );
            let Some(ports) = ports else {
                // Refused: rejected rather than sent around the DBE.
                let _ = ed.set_media_port(m.index, 0);
                continue;
            };
            let ip = m.connection().and_then(|c| c.ip).or(session_ip);
            let muxed = m.attributes().any(|a| a.name == "rtcp-mux");
            if let Some(ip) = ip {
                let rtp = SocketAddr::new(ip, m.port);
                let rtcp = m
                    .attributes()
                    .find(|a| a.name == "rtcp")
                    .and_then(|a| a.value_str())
                    .and_then(|v| parse_rtcp(v, ip));
                let remote = match (answer && muxed, rtcp) {
                    (true, _) => Remote::muxed(rtp),
                    (false, Some(rtcp)) => Remote { rtp, rtcp },
                    (false, None) => Remote::pair(rtp),
                };
                self.negotiate(now, &call, index, arrival, remote);
                // The answer agrees to multiplex: so does the offerer now
                // (RFC 5761 §5.1.1).
                if answer && muxed {
                    let offered = self
                        .media
                        .as_ref()
                        .and_then(|md| md.calls.get(&call))
                        .and_then(|c| c.streams.get(&index))
                        .and_then(|s| s[departure]);
                    if let Some(o) = offered.filter(|o| !o.is_muxed()) {
                        self.negotiate(now, &call, index, departure, Remote::muxed(o.rtp));
                    }
                }
            }
            if bypass {
                continue;
            }
            let to_side = ports[departure];
            relay_ip = Some(to_side.rtp.ip());
            let _ = ed.set_media_port(m.index, to_side.rtp.port());
            if others_rely {
                // The session c= stays the endpoint's for the stream
                // that relies on it: this one gets a c= of its own.
                let _ = ed.ensure_media_connection_address(m.index, to_side.rtp.ip());
            } else {
                let _ = ed.set_media_connection_address(m.index, to_side.rtp.ip());
            }
            let _ = ed.set_media_rtcp(m.index, to_side.rtcp);
            if !keep_ice {
                let _ = ed.remove_media_attributes(m.index, is_ice_media_attribute);
            }
        }
        if relay_ip.is_some() && !keep_ice {
            ed.remove_session_attributes(is_ice_session_attribute);
        }
        if let (Some(ip), false) = (relay_ip, others_rely) {
            ed.set_session_connection_address(ip);
        }
        Some(ed.to_bytes())
    }

    fn negotiate(&mut self, now: Instant, call: &str, index: u16, side: MediaSide, remote: Remote) {
        if let Some(s) = self
            .media
            .as_mut()
            .and_then(|m| m.calls.get_mut(call))
            .and_then(|c| c.streams.get_mut(&index))
        {
            s[side] = Some(remote);
        }
        self.feed_dbe(
            now,
            Input::Command(Command::Negotiated {
                call: call.to_owned(),
                stream: index,
                side,
                remote,
            }),
        );
    }

    /// Notes a 2xx to an INVITE, and ends the call's media when signalling
    /// ends the call: a BYE either
    /// way, or a failed INVITE of a call never established (a failed
    /// re-INVITE leaves the call as it was, RFC 3261 §14.1).
    pub(crate) fn media_call_over(&mut self, now: Instant, from: SocketAddr, msg: &Message<'_>) {
        let call = self.media_key(from, msg.core().call_id);
        if msg.is_request() && msg.method() == "BYE" {
            // Remembered even when it holds no relay now: a late 2xx with
            // SDP must not give it one.
            if let Some(m) = self.media.as_mut() {
                if !m.ended_lately(now, &call) {
                    m.remember_ended(now, call.clone());
                }
            }
        }
        let Some(state) = self.media.as_mut().and_then(|m| m.calls.get_mut(&call)) else {
            return;
        };
        let code = msg.status().unwrap_or(0);
        let invite_final = !msg.is_request() && msg.core().cseq.method == "INVITE";
        if invite_final && (200..300).contains(&code) {
            state.established = true;
        }
        let over = if msg.is_request() {
            msg.method() == "BYE"
        } else {
            invite_final && code >= 300 && !state.established
        };
        if over {
            if let Some(m) = self.media.as_mut().filter(|_| !msg.is_request()) {
                m.remember_ended(now, call.clone());
            }
            self.feed_dbe(now, Input::Command(Command::Release { call }));
        }
    }
}

/// ICE attributes of a media description (RFC 8839 §5): candidates name
/// the endpoint's own addresses and would let ICE route media around the
/// relay, so a stream the DBE anchors goes out without them and both ends
/// fall back to the `c=`/`m=` address, the relay: without candidates and
/// credentials the far end does not use ICE. The DBE does not answer ICE
/// connectivity checks itself (no ICE-lite), so WebRTC endpoints, which
/// require ICE, are not served.
fn is_ice_media_attribute(name: &str) -> bool {
    matches!(
        name,
        "candidate"
            | "remote-candidates"
            | "ice-ufrag"
            | "ice-pwd"
            | "ice-options"
            | "ice-mismatch"
            | "end-of-candidates"
    )
}

/// ICE attributes at session level (RFC 8839 §5): they mean nothing once
/// no stream carries candidates.
fn is_ice_session_attribute(name: &str) -> bool {
    matches!(
        name,
        "ice-lite" | "ice-ufrag" | "ice-pwd" | "ice-options" | "ice-pacing"
    )
}

/// RTP or SRTP, from the `m=` protocol and the first `a=crypto` suite
/// (RFC 4568 §6.2); another suite than the two the DBE knows is taken as
/// the 80-bit one, the suite every SRTP endpoint supports (RFC 4568 §6.2.1).
fn protection_of<'a>(
    proto: &str,
    mut attributes: impl Iterator<Item = speermint_sdp::Attribute<'a>>,
) -> Protection {
    if !proto.contains("SAVP") {
        return Protection::Rtp;
    }
    let suite = attributes
        .find(|a| a.name == "crypto")
        .and_then(|a| a.value_str())
        .and_then(|v| v.split_ascii_whitespace().nth(1));
    Protection::Srtp(match suite {
        Some("AES_CM_128_HMAC_SHA1_32") => SrtpProfile::Aes128CmHmacSha1_32,
        _ => SrtpProfile::Aes128CmHmacSha1_80,
    })
}

/// An `a=rtcp` value (RFC 3605 §2.1): `<port> [IN IP4|IP6 <address>]`;
/// without an address, the media's own.
fn parse_rtcp(value: &str, media_ip: IpAddr) -> Option<SocketAddr> {
    let mut tokens = value.split_ascii_whitespace();
    let port: u16 = tokens.next()?.parse().ok()?;
    let ip = match (tokens.next(), tokens.next(), tokens.next()) {
        (Some("IN"), Some(_), Some(addr)) => addr.parse().ok()?,
        _ => media_ip,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtcp_attribute_with_and_without_address() {
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        assert_eq!(
            parse_rtcp("53020", ip),
            Some("203.0.113.1:53020".parse().unwrap())
        );
        assert_eq!(
            parse_rtcp("53020 IN IP4 198.51.100.2", ip),
            Some("198.51.100.2:53020".parse().unwrap())
        );
        assert_eq!(parse_rtcp("x", ip), None);
    }
}
