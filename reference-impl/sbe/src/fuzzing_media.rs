//! The `sbe_media` fuzz target: calls with arbitrary SDP through a sans-IO
//! [`Sbe`] that drives its DBE (`media.rs`), with media packets from the
//! endpoints, a stranger and the endpoints' hosts, and steps of virtual
//! time. `sbe_sequence` follows signalling without media; this model
//! follows what the SBE does to SDP and to the DBE's state. After every
//! step it asserts:
//!
//! - every RTP stream the SBE anchors goes out naming the DBE's address of
//!   the receiving side as its effective `c=` (media or session level) and
//!   a port of the DBE's range, or port 0 (refused); no transport address
//!   in the SDP that leaves (`c=`, `a=rtcp`, ICE candidates) names the
//!   sender's endpoint for an anchored stream (RFC 6271 #3);
//! - every other `a=` line leaves byte-identical and in order (RFC 6271
//!   #17), `a=rtcp` and ICE lines of anchored streams aside;
//! - an SDP that does not parse crosses byte-identical;
//! - media leaves the DBE only towards an address some SDP of the call
//!   named, with the bytes that came in, never to the stranger;
//! - a call that signalling ended (a BYE relayed, a failed initial INVITE
//!   answered upstream, the SBE's own 408) holds no relay, and the DBE
//!   stays within its bounds; at the end, after the timers have run, it
//!   holds nothing.
//!
//! Input is read through [`arbitrary::Unstructured`]; work per input is
//! bounded by fixed caps.

use crate::dbe::{DbeConfig, Event as DbeEvent, Sides};
use crate::{Event, Input, Node, Output, Path, Sbe, SbeConfig, Transport};
use arbitrary::Unstructured;
use speermint_sdp::Sdp;
use speermint_sip::{HeaderName, Message, MessageBuilder};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

type Gen<T> = arbitrary::Result<T>;

const SBE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 5060);
const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)), 5060);
const NEXT_HOP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), 5060);
const DBE_A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20));
const DBE_B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 20));
/// Four streams' worth of ports (each stream takes a pair per side).
const PORTS: std::ops::Range<u16> = 31_000..31_016;
/// The peer's media host, the inside's, and a stranger.
const PEER_MEDIA: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20));
const INSIDE_MEDIA: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 44));
const INSIDE_MEDIA_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 44));
const STRANGER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 66)), 40_000);
/// Most operations per input, and most calls the model follows.
const OPS: usize = 40;
const CALLS: usize = 4;

/// ICE attribute names the SBE removes from anchored streams.
const ICE: [&str; 8] = [
    "candidate",
    "remote-candidates",
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-mismatch",
    "end-of-candidates",
    "ice-lite",
];

/// One call the model follows.
#[derive(Debug)]
struct Call {
    call_id: String,
    /// Started by the peer (else by the inside).
    from_peer: bool,
    /// The INVITE as the callee received it (to answer it), once relayed.
    at_callee: Option<Vec<u8>>,
    /// The 2xx as the caller received it (for its in-dialog requests).
    at_caller: Option<Vec<u8>>,
    established: bool,
    ended: bool,
    cseq: u32,
}

/// What one [`sbe_media`] run did, for the seed definitions to check
/// that each seed reaches what it is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaSummary {
    /// SDP bodies that crossed with at least one stream anchored.
    pub anchored: usize,
    /// Of those, ones whose ICE lines the SBE removed.
    pub ice_removed: usize,
    /// Of those, ones where an anchored stream got a `c=` of its own
    /// because a stream the DBE does not carry kept the session's.
    pub mixed: usize,
    /// Calls established (a 2xx relayed to the caller).
    pub established: usize,
    /// Calls signalling ended (BYE relayed, failure, the SBE's 408).
    pub ended: usize,
    /// Media packets the DBE relayed.
    pub relayed: usize,
    /// SDP bodies that did not parse and crossed untouched.
    pub unparsed: usize,
}

struct Run {
    summary: MediaSummary,
    sbe: Sbe,
    now: Instant,
    calls: Vec<Call>,
    /// The streams the DBE holds, by call key, from its events.
    allocated: HashMap<String, HashSet<u16>>,
    /// Every media address some SDP of a call named, and the relay ports
    /// the SBE put in SDP. Ordered sets only where the model draws from
    /// them: an input must replay the same way in every process.
    named: BTreeSet<SocketAddr>,
    relay_ports: Vec<SocketAddr>,
    /// Media datagrams sent into the DBE in this step.
    media_in: Vec<Vec<u8>>,
    next: u32,
}

/// What the SDP generator chose, so the check knows what went in.
fn gen_sdp(u: &mut Unstructured<'_>, endpoint: IpAddr) -> Gen<Vec<u8>> {
    if u.ratio(1, 16)? {
        // Not SDP at all, or broken SDP.
        let n = u.int_in_range(0..=80)?;
        return u.bytes(n).map(<[u8]>::to_vec);
    }
    let v6 = u.ratio(1, 6)?;
    let ip = if v6 && endpoint == INSIDE_MEDIA {
        INSIDE_MEDIA_V6
    } else {
        endpoint
    };
    let fam = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let session_c = u.ratio(2, 3)?;
    let mut s = format!("v=0\r\no=- 7 7 IN {fam} {ip}\r\ns=-\r\n");
    if session_c {
        s.push_str(&format!("c=IN {fam} {ip}\r\n"));
    }
    s.push_str("t=0 0\r\n");
    if u.ratio(1, 4)? {
        s.push_str("a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n");
    }
    if u.ratio(1, 4)? {
        s.push_str("a=x-session:keep\r\n");
    }
    let streams: u16 = u.int_in_range(1..=3)?;
    for i in 0..streams {
        let port = 40_000 + 10 * i + if endpoint == PEER_MEDIA { 0 } else { 2000 };
        let kind = u.int_in_range(0..=4)?;
        s.push_str(&match kind {
            0 => format!("m=audio {port} RTP/AVP 0\r\n"),
            1 => format!("m=audio {port} RTP/SAVP 0\r\n"),
            2 => format!("m=message {port} TCP/MSRP *\r\n"),
            3 => "m=video 0 RTP/AVP 96\r\n".to_owned(),
            _ => format!("m=video {port} RTP/AVPF 96\r\n"),
        });
        // After m= (and any i=), before a= (RFC 4566 §5 order).
        if !session_c || u.ratio(1, 3)? {
            s.push_str(&format!("c=IN {fam} {ip}\r\n"));
        }
        if kind == 1 {
            s.push_str("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n");
        }
        if u.ratio(1, 3)? {
            s.push_str(&format!(
                "a=candidate:1 1 UDP 2130706431 {ip} {port} typ host\r\n"
            ));
        }
        if u.ratio(1, 4)? {
            s.push_str(&format!("a=rtcp:{} IN {fam} {ip}\r\n", port + 1));
        }
        if u.ratio(1, 4)? {
            s.push_str("a=rtcp-mux\r\n");
        }
        s.push_str("a=x-unknown:kept\r\n");
    }
    Ok(s.into_bytes())
}

/// The effective address of each `m=` line: its own `c=`, or the session's.
fn stream_addresses(sdp: &Sdp<'_>) -> Vec<(usize, String, u16, Option<IpAddr>)> {
    let session = sdp.session_connection().and_then(|c| c.ip);
    sdp.media()
        .map(|m| {
            let ip = m.connection().and_then(|c| c.ip).or(session);
            (m.index, m.proto.to_owned(), m.port, ip)
        })
        .collect()
}

/// `a=` lines of each media description (and the session, index `None`),
/// as text, leaving out the names in `skip`.
fn attribute_lines(sdp: &Sdp<'_>, skip: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = sdp
        .session_lines()
        .iter()
        .filter(|l| l.kind == b'a')
        .map(|l| String::from_utf8_lossy(l.raw).into_owned())
        .filter(|l| !skip.iter().any(|n| l.starts_with(&format!("a={n}"))))
        .collect();
    for m in sdp.media() {
        out.push(format!("m#{}", m.index));
        out.extend(
            m.attributes()
                .filter(|a| !skip.contains(&a.name))
                .map(|a| String::from_utf8_lossy(a.raw_line).into_owned()),
        );
    }
    out
}

impl Run {
    fn new(faults: crate::Faults) -> Self {
        let mut cfg = SbeConfig::new(SBE, vec![PEER.ip()], NEXT_HOP);
        cfg.faults = faults;
        cfg.media = Some(DbeConfig {
            addresses: Sides { a: DBE_A, b: DBE_B },
            ports: PORTS,
            max_calls: 3,
            max_streams_per_call: 2,
            faults,
            ..DbeConfig::default()
        });
        Run {
            summary: MediaSummary::default(),
            sbe: Sbe::new(cfg),
            now: Instant::now(),
            calls: Vec::new(),
            allocated: HashMap::new(),
            named: BTreeSet::new(),
            relay_ports: Vec::new(),
            media_in: Vec::new(),
            next: 0,
        }
    }

    fn id(&mut self) -> u32 {
        self.next += 1;
        self.next
    }

    /// Feeds one SIP datagram from `from` carrying `sdp` (if any) and
    /// checks what leaves. Returns the SIP messages sent, by destination.
    fn sip(
        &mut self,
        from: SocketAddr,
        bytes: &[u8],
        sdp: Option<&[u8]>,
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        self.sbe.handle_datagram(self.now, from, bytes);
        let sent = self.drain();
        if let Some(body) = sdp {
            for (to, msg) in &sent {
                let Ok(m) = Message::parse(msg) else { continue };
                if *to != from && !m.body().is_empty() && !msg.starts_with(b"SIP/2.0 100") {
                    self.check_sdp(from, *to, body, m.body());
                }
            }
        }
        sent
    }

    /// Sends a message from `src`, with `sdp` as its body if given.
    fn send_with_sdp(
        &mut self,
        src: SocketAddr,
        b: MessageBuilder,
        sdp: Option<Vec<u8>>,
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        let b = match &sdp {
            Some(body) => b.body("application/sdp", body),
            None => b,
        };
        self.sip(src, &b.build(), sdp.as_deref())
    }

    /// Drains outputs: SIP transmits are returned, media is checked, DBE
    /// events followed.
    fn drain(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut sip = Vec::new();
        while let Some(o) = self.sbe.poll_output() {
            match o {
                Output::Transmit(t) if t.path.local == SBE => sip.push((t.path.remote, t.bytes)),
                Output::Transmit(t) => {
                    self.check_media_out(t.path.local, t.path.remote, &t.bytes);
                    self.summary.relayed += 1;
                }
                Output::Event(Event::Media(e)) => match e {
                    DbeEvent::Allocated {
                        call,
                        stream,
                        ports,
                    } => {
                        self.allocated.entry(call).or_default().insert(stream);
                        self.relay_ports.extend([ports.a.rtp, ports.b.rtp]);
                        self.relay_ports.truncate(16);
                    }
                    DbeEvent::StreamEnded { call, stream, .. } => {
                        if let Some(set) = self.allocated.get_mut(&call) {
                            set.remove(&stream);
                            if set.is_empty() {
                                self.allocated.remove(&call);
                            }
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        self.media_in.clear();
        self.check_bounds();
        sip
    }

    fn check_media_out(&self, local: SocketAddr, remote: SocketAddr, bytes: &[u8]) {
        assert!(
            local.ip() == DBE_A || local.ip() == DBE_B,
            "a datagram left from {local}, neither SIP nor relay"
        );
        assert_ne!(remote, STRANGER, "media relayed to the stranger");
        assert!(
            self.named.contains(&remote)
                || self.named.contains(&SocketAddr::new(
                    remote.ip(),
                    remote.port().saturating_sub(1)
                )),
            "media to {remote}, which no SDP of any call named ({:?})",
            self.named
        );
        assert!(
            self.media_in.iter().any(|m| m == bytes),
            "relayed bytes differ from every packet that came in"
        );
    }

    fn check_bounds(&self) {
        let dbe = self.sbe.dbe().expect("media is on");
        assert!(
            dbe.stream_count() <= (PORTS.len() / 4),
            "streams past the port range"
        );
        assert!(dbe.call_count() <= 3, "calls past max_calls");
        for c in &self.calls {
            if c.ended {
                assert!(
                    !self.allocated.contains_key(&c.call_id),
                    "call {} ended, yet the DBE still relays for it",
                    c.call_id
                );
            }
        }
    }

    /// What an SDP body became on its way from `from` to `to`.
    fn check_sdp(&mut self, from: SocketAddr, to: SocketAddr, sent: &[u8], got: &[u8]) {
        let Ok(before) = Sdp::parse(sent) else {
            assert_eq!(sent, got, "an SDP that does not parse must cross untouched");
            self.summary.unparsed += 1;
            return;
        };
        let after = Sdp::parse(got).expect("the SBE sent SDP that does not parse");
        // The DBE's address on the receiving side.
        let relay = if to == PEER { DBE_A } else { DBE_B };
        debug_assert_ne!(from, to);
        for (_, _, port, ip) in stream_addresses(&before) {
            if let Some(ip) = ip {
                self.named.insert(SocketAddr::new(ip, port));
            }
        }
        let ins = stream_addresses(&before);
        let outs = stream_addresses(&after);
        assert_eq!(ins.len(), outs.len(), "m= lines added or lost");
        let mut anchored = false;
        for ((i, proto, port_in, _), (_, proto_out, port_out, ip_out)) in ins.iter().zip(&outs) {
            assert_eq!(proto, proto_out, "m={i} protocol changed");
            let rtp = proto.contains("RTP");
            if !rtp || *port_in == 0 {
                assert_eq!(
                    port_in, port_out,
                    "m={i} not the DBE's, yet its port changed"
                );
                continue;
            }
            if *port_out == 0 {
                continue; // refused: rejected, not sent around the DBE
            }
            anchored = true;
            assert_eq!(
                *ip_out,
                Some(relay),
                "anchored m={i} goes out naming {ip_out:?}, not the DBE's {relay}\n{}",
                String::from_utf8_lossy(got)
            );
            assert!(
                PORTS.contains(port_out),
                "m={i} port {port_out} outside the relay range"
            );
            let m = after.media_at(*i).expect("same index");
            for a in m.attributes() {
                assert!(
                    !ICE.contains(&a.name),
                    "ICE attribute a={} left on anchored m={i}",
                    a.name
                );
                if a.name == "rtcp" {
                    let v = a.value_str().unwrap_or("");
                    assert!(
                        v.ends_with(&relay.to_string()),
                        "a=rtcp of anchored m={i} names {v}"
                    );
                }
            }
        }
        if anchored {
            self.summary.anchored += 1;
            let ice = |sdp: &Sdp<'_>| sdp.attributes().filter(|a| ICE.contains(&a.name)).count();
            if ice(&after) < ice(&before) {
                self.summary.ice_removed += 1;
            }
            let own_c = |sdp: &Sdp<'_>| sdp.media().filter(|m| m.connection().is_some()).count();
            if own_c(&after) > own_c(&before) {
                self.summary.mixed += 1;
            }
        }
        // Every other a= line byte-identical, in order: all of them when
        // the DBE anchored nothing.
        let skip: Vec<&str> = if anchored {
            ["rtcp"].into_iter().chain(ICE).collect()
        } else {
            Vec::new()
        };
        assert_eq!(
            attribute_lines(&before, &skip),
            attribute_lines(&after, &skip),
            "a= lines changed"
        );
    }

    fn invite(&mut self, u: &mut Unstructured<'_>) -> Gen<()> {
        if self.calls.len() >= CALLS {
            return Ok(());
        }
        let from_peer = u.ratio(2, 3)?;
        let n = self.id();
        let call_id = format!("m{n}@fuzz");
        let (src, media, ruri) = if from_peer {
            (PEER, PEER_MEDIA, "sip:bob@192.0.2.1".to_owned())
        } else {
            (NEXT_HOP, INSIDE_MEDIA, format!("sip:alice@{PEER}"))
        };
        let body = gen_sdp(u, media)?;
        let bytes = MessageBuilder::request("INVITE", &ruri)
            .header("Via", format!("SIP/2.0/UDP {src};branch=z9hG4bKi{n}"))
            .header("Max-Forwards", 70)
            .header("From", format!("<sip:a@{}>;tag=f{n}", src.ip()))
            .header("To", "<sip:b@example.net>")
            .header("Call-ID", &call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", format!("<sip:a@{src}>"))
            .body("application/sdp", &body)
            .build();
        let sent = self.sip(src, &bytes, Some(&body));
        let callee = if from_peer { NEXT_HOP } else { PEER };
        let at_callee = sent
            .into_iter()
            .find(|(to, m)| *to == callee && m.starts_with(b"INVITE"));
        self.calls.push(Call {
            call_id,
            from_peer,
            at_callee: at_callee.map(|(_, m)| m),
            at_caller: None,
            established: false,
            ended: false,
            cseq: 1,
        });
        Ok(())
    }

    fn answer(&mut self, u: &mut Unstructured<'_>) -> Gen<()> {
        let Some(i) = self.pick(u)? else {
            return Ok(());
        };
        let Some(invite) = self.calls[i].at_callee.clone() else {
            return Ok(());
        };
        let code = *u.choose(&[180u16, 183, 200, 200, 486, 503])?;
        let from_peer = self.calls[i].from_peer;
        let (src, media, caller) = if from_peer {
            (NEXT_HOP, INSIDE_MEDIA, PEER)
        } else {
            (PEER, PEER_MEDIA, NEXT_HOP)
        };
        let Ok(req) = Message::parse(&invite) else {
            return Ok(());
        };
        let mut b = MessageBuilder::response_to(&req, code, "Fuzz", Some("t1"));
        for rr in req.values(HeaderName::RecordRoute) {
            b = b.header("Record-Route", rr);
        }
        b = b.header("Contact", format!("<sip:b@{src}>"));
        let body = if code < 300 && u.ratio(3, 4)? {
            Some(gen_sdp(u, media)?)
        } else {
            None
        };
        let sent = self.send_with_sdp(src, b, body);
        let relayed = sent
            .iter()
            .find(|(to, m)| *to == caller && m.starts_with(b"SIP/2.0 "));
        if let Some((_, m)) = relayed {
            let status = Message::parse(m).ok().and_then(|m| m.status()).unwrap_or(0);
            let c = &mut self.calls[i];
            if (200..300).contains(&status) {
                if !c.established {
                    self.summary.established += 1;
                }
                c.established = true;
                c.at_caller = Some(m.clone());
            } else if status >= 300 && !c.established {
                c.ended = true;
            }
        }
        self.check_bounds();
        Ok(())
    }

    /// A BYE (or re-INVITE) within an established call, from either end.
    fn in_dialog(&mut self, u: &mut Unstructured<'_>, method: &str) -> Gen<()> {
        let Some(i) = self.pick(u)? else {
            return Ok(());
        };
        let (Some(ok), Some(invite)) = (
            self.calls[i].at_caller.clone(),
            self.calls[i].at_callee.clone(),
        ) else {
            return Ok(());
        };
        if self.calls[i].ended {
            return Ok(());
        }
        let by_caller = u.ratio(1, 2)?;
        let from_peer = self.calls[i].from_peer == by_caller;
        let (src, media) = if from_peer {
            (PEER, PEER_MEDIA)
        } else {
            (NEXT_HOP, INSIDE_MEDIA)
        };
        // The caller routes by the 2xx's Record-Route (reversed), the
        // callee by the INVITE's; both reach the SBE first.
        let (Ok(ok_m), Ok(inv_m)) = (Message::parse(&ok), Message::parse(&invite)) else {
            return Ok(());
        };
        let routes: Vec<String> = if by_caller {
            let mut r: Vec<String> = ok_m
                .values(HeaderName::RecordRoute)
                .map(str::to_owned)
                .collect();
            r.reverse();
            r
        } else {
            inv_m
                .values(HeaderName::RecordRoute)
                .map(str::to_owned)
                .collect()
        };
        let target = if from_peer { NEXT_HOP } else { PEER };
        self.calls[i].cseq += 1;
        let c = &self.calls[i];
        let (from_tag, to_tag) = if by_caller { ("f", "t1") } else { ("t1", "f") };
        let n = c
            .call_id
            .trim_start_matches('m')
            .split('@')
            .next()
            .unwrap_or("0")
            .to_owned();
        let tag = |t: &str| {
            if t == "f" {
                format!("f{n}")
            } else {
                t.to_owned()
            }
        };
        let mut b = MessageBuilder::request(method, &format!("sip:x@{target}"))
            .header(
                "Via",
                format!("SIP/2.0/UDP {src};branch=z9hG4bKd{}", self.next + 1),
            )
            .header("Max-Forwards", 70)
            .header("From", format!("<sip:x@example.net>;tag={}", tag(from_tag)))
            .header("To", format!("<sip:y@example.net>;tag={}", tag(to_tag)))
            .header("Call-ID", &c.call_id)
            .header("CSeq", format!("{} {method}", c.cseq))
            .header("Contact", format!("<sip:x@{src}>"));
        for r in &routes {
            b = b.header("Route", r);
        }
        self.next += 1;
        let body = if method == "INVITE" {
            Some(gen_sdp(u, media)?)
        } else {
            None
        };
        let sent = self.send_with_sdp(src, b, body);
        let far = if from_peer { NEXT_HOP } else { PEER };
        let relayed = sent
            .iter()
            .any(|(to, m)| *to == far && m.starts_with(method.as_bytes()));
        if method == "BYE" && relayed {
            self.calls[i].ended = true;
            self.check_bounds();
        }
        Ok(())
    }

    fn media(&mut self, u: &mut Unstructured<'_>) -> Gen<()> {
        if self.relay_ports.is_empty() {
            return Ok(());
        }
        let to = *u.choose(&self.relay_ports)?;
        let to = if u.ratio(1, 4)? {
            SocketAddr::new(to.ip(), to.port() + 1)
        } else {
            to
        };
        let named: Vec<SocketAddr> = self.named.iter().copied().collect();
        let from = if !named.is_empty() && u.ratio(2, 3)? {
            *u.choose(&named)?
        } else {
            STRANGER
        };
        let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
        if u.ratio(1, 4)? {
            let n = u.int_in_range(0..=24)?;
            p = u.bytes(n)?.to_vec();
        } else {
            p.extend_from_slice(&[0xd5; 40]);
        }
        self.media_in.push(p.clone());
        let path = Path {
            local: to,
            remote: from,
            transport: Transport::Udp,
        };
        self.sbe
            .handle_input(self.now, Input::Datagram { path, bytes: &p });
        let relayed_before = self.summary.relayed;
        let sip = self.drain();
        if from == STRANGER {
            assert_eq!(
                self.summary.relayed, relayed_before,
                "the stranger's packet to {to} was relayed"
            );
        }
        assert!(sip.is_empty(), "a media packet made the SBE send SIP");
        Ok(())
    }

    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        for _ in 0..400 {
            match self.sbe.poll_timeout() {
                Some(at) if at <= until => {
                    self.now = at.max(self.now);
                    self.sbe.handle_timeout(self.now);
                    let sent = self.drain();
                    // The SBE's own 408 ends a call never established.
                    for (_, m) in sent {
                        let Ok(msg) = Message::parse(&m) else {
                            continue;
                        };
                        if msg.status().is_some_and(|s| s >= 300)
                            && msg.core().cseq.method == "INVITE"
                        {
                            let cid = msg.core().call_id.to_owned();
                            if let Some(c) = self.calls.iter_mut().find(|c| c.call_id == cid) {
                                if !c.established {
                                    c.ended = true;
                                }
                            }
                        }
                    }
                    self.check_bounds();
                }
                _ => break,
            }
        }
        self.now = until.max(self.now);
    }

    fn pick(&self, u: &mut Unstructured<'_>) -> Gen<Option<usize>> {
        if self.calls.is_empty() {
            return Ok(None);
        }
        Ok(Some(u.choose_index(self.calls.len())?))
    }
}

/// Drives one input; see the module docs.
pub fn sbe_media(data: &[u8]) {
    sbe_media_under(data, crate::Faults::NONE);
}

/// What [`sbe_media`] did with `data`.
pub fn sbe_media_summary(data: &[u8]) -> MediaSummary {
    sbe_media_under(data, crate::Faults::NONE)
}

/// [`sbe_media`] against an SBE (and DBE) with `faults`: the invariants
/// are the same, so a seed that reaches a fault's behaviour panics.
pub fn sbe_media_under(data: &[u8], faults: crate::Faults) -> MediaSummary {
    let mut u = Unstructured::new(data);
    let mut run = Run::new(faults);
    for _ in 0..OPS {
        if u.is_empty() {
            break;
        }
        let op = u.int_in_range(0..=7u8).unwrap_or(0);
        let r = match op {
            0 => run.invite(&mut u),
            1 => run.answer(&mut u),
            2 => run.in_dialog(&mut u, "BYE"),
            3 => run.in_dialog(&mut u, "INVITE"),
            4 | 5 => run.media(&mut u),
            6 => {
                let ms = u.int_in_range(0..=40_000u32).unwrap_or(0);
                run.advance(Duration::from_millis(u64::from(ms)));
                Ok(())
            }
            _ => run.invite(&mut u),
        };
        if r.is_err() {
            break;
        }
    }
    // Every timer run out: nothing may be left.
    run.advance(Duration::from_secs(3600));
    let dbe = run.sbe.dbe().expect("media is on");
    assert_eq!(dbe.stream_count(), 0, "streams outlived every timer");
    assert_eq!(dbe.call_count(), 0, "calls outlived every timer");
    let mut summary = run.summary;
    summary.ended = run.calls.iter().filter(|c| c.ended).count();
    summary
}
