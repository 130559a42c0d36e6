//! `speermint-dbe`: the reference Data Border Element, the Media Function
//! of RFC 6406 §6.3 (RFC 5486 §3.3), as a sans-IO node. It relays each
//! call's RTP and RTCP between the two networks it borders, on ports it
//! hands out to the controlling SBE, which writes them into the SDP.
//!
//! It is a [`Node`]: the driver hands it datagrams and timeouts with the
//! time, and the SBE's [`Command`]s; it answers with transmits, timeouts
//! and [`Event`]s. It never reads a clock or owns a socket.
//!
//! Policy, each rule with its source:
//! - a datagram arriving on one side's port is relayed only when it comes
//!   from exactly the address that side's SDP negotiated ([`Remote`]), and
//!   goes out from the other side's port to the other side's negotiated
//!   address; anything else is dropped and counted. Nothing is learnt from
//!   the packets themselves: latching to the first source that sends is
//!   the "RTP Bleed" hole (a stranger who guesses the port takes the
//!   stream; RFC 6404 §2.4.1, §2.4.2). Symmetric-RTP learning for
//!   endpoints behind NAT is left out on purpose: a peering DBE faces the
//!   other SSP's border in one address space (RFC 6406 §7), and even a
//!   "same IP, any port" rule lets anyone behind the same carrier-grade
//!   NAT address hijack a plain-RTP stream;
//! - relayed bytes are the bytes received: SRTP and SRTCP are never
//!   decrypted, so their authentication tags still verify at the far end
//!   (RFC 3711 §3.1, RFC 6404 §4.13), and the DBE holds no keys;
//! - packets that fail the RFC 3550 Appendix A.1/A.2 checks (for SRTP and
//!   SRTCP, the checks on their clear header) are dropped and counted, and
//!   the relay carries on (RFC 6404 §2.4.3, §4.11);
//! - each side of each stream has a packet and a byte rate limit (RFC 6404
//!   §4.9), applied after the source check, so a stranger's flood spends
//!   no genuine budget;
//! - a stream with no valid packet from a negotiated source for the
//!   inactivity timeout ends and frees its ports; an RTCP BYE ends nothing
//!   (anyone can forge one, RFC 6404 §2.4.2): only the SBE's release does;
//! - calls, streams per call, call-key length and the port range bound the
//!   state, whatever arrives.
//!
//! The [`Fault`]s of [`Layer::Dbe`](speermint_fault::Layer::Dbe) turn
//! these rules off one at a time, so that each media check can be shown
//! to fail against a DBE that breaks its rule.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod control;
pub mod fuzzing;
mod limit;
mod ports;
mod validate;

pub use config::{DbeConfig, MediaLimits};
pub use control::{
    Command, Counters, EndReason, Event, Protection, Refusal, RelayPorts, Remote, Side, Sides,
};
pub use speermint_fault::{Fault, Faults};
pub use speermint_node::{Input, Node, Output, Path, Transmit, Transport};

use limit::Bucket;
use ports::{Channel, Ports};
use speermint_rtp::{RtcpPacket, compound, is_rtcp};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;
use validate::{Kind, is_valid};

/// Counters of the whole node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Every stream's counters added up, ended streams included.
    pub media: Counters,
    /// Datagrams to a port no stream owns (or on another transport than
    /// UDP, or to the wrong side's address).
    pub no_stream: u64,
    /// Streams ended by the inactivity or set-up timeout.
    pub timed_out: u64,
}

/// One relayed media stream (an `m=` line of a call).
#[derive(Debug)]
struct Stream {
    call: String,
    index: u16,
    protection: Protection,
    /// Each side's local RTP port; RTCP is the next.
    rtp_port: Sides<u16>,
    remote: Sides<Option<Remote>>,
    buckets: Sides<Bucket>,
    counters: Sides<Counters>,
    /// The last valid packet from a negotiated source, or command.
    last_activity: Instant,
    /// Tells this stream's timer entries from those of the slot's earlier
    /// tenants.
    generation: u64,
    /// The deadline of the one timer entry that speaks for it.
    queued: Option<Instant>,
}

/// The reference Data Border Element.
#[derive(Debug)]
pub struct Dbe {
    cfg: DbeConfig,
    ports: Ports,
    /// Streams by slot; a slot is reused once its stream ended.
    streams: Vec<Option<Stream>>,
    free_slots: Vec<u32>,
    /// Each call's streams: `m=` index and slot.
    calls: HashMap<String, Vec<(u16, u32)>>,
    /// Deadlines, earliest first. An entry whose stream has gone or has
    /// queued another deadline is dropped when it reaches the top; the
    /// heap is rebuilt when such entries outnumber the live ones.
    timers: BinaryHeap<Reverse<(Instant, u32, u64)>>,
    next_generation: u64,
    out: VecDeque<Output<Event>>,
    reported_timeout: Option<Instant>,
    totals: Totals,
}

impl Dbe {
    /// A DBE with no stream.
    pub fn new(cfg: DbeConfig) -> Self {
        Dbe {
            ports: Ports::new(&cfg.ports),
            cfg,
            streams: Vec::new(),
            free_slots: Vec::new(),
            calls: HashMap::new(),
            timers: BinaryHeap::new(),
            next_generation: 0,
            out: VecDeque::new(),
            reported_timeout: None,
            totals: Totals::default(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &DbeConfig {
        &self.cfg
    }

    /// Counters of the whole node since it started.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Live streams.
    pub fn stream_count(&self) -> usize {
        self.streams.len() - self.free_slots.len()
    }

    /// Calls with at least one live stream.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Port pairs not in use (a stream takes two).
    pub fn free_port_pairs(&self) -> usize {
        self.ports.free()
    }

    /// Entries in the timer queue, stale ones included: at most twice the
    /// live streams plus a constant (the fuzz model checks it).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// Slots of the stream table, free ones included: never more than the
    /// most streams the port range holds at once.
    pub fn stream_slots(&self) -> usize {
        self.streams.len()
    }

    fn has(&self, f: Fault) -> bool {
        self.cfg.faults.contains(f)
    }

    fn stream(&self, call: &str, index: u16) -> Option<u32> {
        self.calls
            .get(call)?
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, slot)| *slot)
    }

    fn stream_mut(&mut self, slot: u32) -> Option<&mut Stream> {
        self.streams.get_mut(slot as usize)?.as_mut()
    }

    fn relay_ports(&self, s: &Stream) -> Sides<RelayPorts> {
        Sides::from_fn(|side| {
            let ip = self.cfg.addresses[side];
            let port = s.rtp_port[side];
            RelayPorts {
                rtp: SocketAddr::new(ip, port),
                rtcp: SocketAddr::new(ip, port + 1),
            }
        })
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn refuse(&mut self, call: String, stream: u16, reason: Refusal) {
        self.event(Event::Refused {
            call,
            stream,
            reason,
        });
    }

    fn command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Allocate {
                call,
                stream,
                protection,
            } => self.allocate(now, call, stream, protection),
            Command::Negotiated {
                call,
                stream,
                side,
                remote,
            } => self.negotiated(now, call, stream, side, remote),
            Command::ReleaseStream { call, stream } => {
                if let Some(slot) = self.stream(&call, stream) {
                    self.end(slot, EndReason::Released);
                }
            }
            Command::Release { call } => {
                let slots: Vec<u32> = self
                    .calls
                    .get(&call)
                    .map(|s| s.iter().map(|(_, slot)| *slot).collect())
                    .unwrap_or_default();
                for slot in slots {
                    self.end(slot, EndReason::Released);
                }
            }
            Command::Report { call } => {
                let slots = self.calls.get(&call).cloned().unwrap_or_default();
                for (_, slot) in slots {
                    if let Some(s) = self.streams.get(slot as usize).and_then(Option::as_ref) {
                        let e = Event::Counters {
                            call: s.call.clone(),
                            stream: s.index,
                            counters: s.counters,
                        };
                        self.event(e);
                    }
                }
            }
        }
    }

    fn allocate(&mut self, now: Instant, call: String, index: u16, protection: Protection) {
        if let Some(slot) = self.stream(&call, index) {
            if let Some(s) = self.stream_mut(slot) {
                s.protection = protection;
                s.last_activity = s.last_activity.max(now);
            }
            if let Some(s) = self.streams.get(slot as usize).and_then(Option::as_ref) {
                let ports = self.relay_ports(s);
                self.event(Event::Allocated {
                    call,
                    stream: index,
                    ports,
                });
            }
            return;
        }
        let streams_of_call = self.calls.get(&call).map_or(0, Vec::len);
        let refusal = if call.len() > self.cfg.max_call_len {
            Some(Refusal::CallKeyTooLong)
        } else if streams_of_call >= self.cfg.max_streams_per_call {
            Some(Refusal::TooManyStreams)
        } else if streams_of_call == 0 && self.calls.len() >= self.cfg.max_calls {
            Some(Refusal::TooManyCalls)
        } else {
            None
        };
        if let Some(reason) = refusal {
            return self.refuse(call, index, reason);
        }
        let slot = match self.free_slots.last() {
            Some(&slot) => slot,
            None => match u32::try_from(self.streams.len()) {
                Ok(slot) => slot,
                Err(_) => return self.refuse(call, index, Refusal::NoPorts),
            },
        };
        let Some((a, b)) = self.ports.take(slot) else {
            return self.refuse(call, index, Refusal::NoPorts);
        };
        if self.free_slots.pop().is_none() {
            self.streams.push(None);
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let limits = self.cfg.limits;
        let stream = Stream {
            call: call.clone(),
            index,
            protection,
            rtp_port: Sides { a, b },
            remote: Sides::default(),
            buckets: Sides::from_fn(|_| Bucket::full(&limits, now)),
            counters: Sides::default(),
            last_activity: now,
            generation,
            queued: None,
        };
        let ports = self.relay_ports(&stream);
        self.streams[slot as usize] = Some(stream);
        self.calls
            .entry(call.clone())
            .or_default()
            .push((index, slot));
        self.requeue(slot);
        self.event(Event::Allocated {
            call,
            stream: index,
            ports,
        });
    }

    fn negotiated(&mut self, now: Instant, call: String, index: u16, side: Side, remote: Remote) {
        let Some(slot) = self.stream(&call, index) else {
            return self.refuse(call, index, Refusal::UnknownStream);
        };
        let local = self.cfg.addresses[side];
        let unusable = |a: SocketAddr| {
            a.ip().is_unspecified() || a.port() == 0 || a.is_ipv4() != local.is_ipv4()
        };
        if unusable(remote.rtp) || unusable(remote.rtcp) {
            return self.refuse(call, index, Refusal::UnusableAddress);
        }
        let own = |a: SocketAddr| {
            (a.ip() == self.cfg.addresses.a || a.ip() == self.cfg.addresses.b)
                && self.ports.contains(a.port())
        };
        if own(remote.rtp) || own(remote.rtcp) {
            return self.refuse(call, index, Refusal::OwnAddress);
        }
        if let Some(s) = self.stream_mut(slot) {
            s.remote[side] = Some(remote);
            s.last_activity = s.last_activity.max(now);
        }
        self.requeue(slot);
    }

    /// Ends the stream in `slot`: ports back, timer entries left to go
    /// stale, the final counters reported.
    fn end(&mut self, slot: u32, reason: EndReason) {
        let Some(s) = self.streams.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        self.ports.give_back(s.rtp_port.a);
        self.ports.give_back(s.rtp_port.b);
        self.free_slots.push(slot);
        if let Some(streams) = self.calls.get_mut(&s.call) {
            streams.retain(|(_, sl)| *sl != slot);
            if streams.is_empty() {
                self.calls.remove(&s.call);
            }
        }
        if reason == EndReason::Timeout {
            self.totals.timed_out += 1;
        }
        self.event(Event::StreamEnded {
            call: s.call,
            stream: s.index,
            reason,
            counters: s.counters,
        });
    }

    /// When the stream in `slot` ends unless something happens.
    fn deadline(&self, s: &Stream) -> Option<Instant> {
        let wait = if s.remote.a.is_some() && s.remote.b.is_some() {
            self.cfg.inactivity_timeout
        } else {
            self.cfg.setup_timeout
        };
        s.last_activity.checked_add(wait)
    }

    /// Queues the stream's deadline if it is earlier than the one queued
    /// (a later one is found when the earlier entry comes due).
    fn requeue(&mut self, slot: u32) {
        let Some(s) = self.streams.get(slot as usize).and_then(Option::as_ref) else {
            return;
        };
        let Some(at) = self.deadline(s) else {
            return;
        };
        if s.queued.is_some_and(|q| q <= at) {
            return;
        }
        let generation = s.generation;
        if let Some(s) = self.stream_mut(slot) {
            s.queued = Some(at);
        }
        self.timers.push(Reverse((at, slot, generation)));
        self.compact_timers();
    }

    /// Whether a timer entry still speaks for a live stream.
    fn entry_live(&self, (at, slot, generation): (Instant, u32, u64)) -> bool {
        self.streams
            .get(slot as usize)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.generation == generation && s.queued == Some(at))
    }

    fn compact_timers(&mut self) {
        if self.timers.len() > 2 * self.stream_count() + 64 {
            let entries = std::mem::take(&mut self.timers).into_vec();
            self.timers = entries
                .into_iter()
                .filter(|Reverse(e)| self.entry_live(*e))
                .collect();
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        while let Some(&Reverse(entry)) = self.timers.peek() {
            if entry.0 > now {
                break;
            }
            self.timers.pop();
            if !self.entry_live(entry) {
                continue;
            }
            let slot = entry.1;
            let next = self
                .streams
                .get(slot as usize)
                .and_then(Option::as_ref)
                .and_then(|s| self.deadline(s));
            match next {
                Some(at) if at <= now => self.end(slot, EndReason::Timeout),
                // Later (activity since), or never (a timeout too long to
                // add to an instant).
                _ => {
                    if let Some(s) = self.stream_mut(slot) {
                        s.queued = None;
                    }
                    self.requeue(slot);
                }
            }
        }
    }

    fn report_timeout(&mut self) {
        while let Some(&Reverse(entry)) = self.timers.peek() {
            if self.entry_live(entry) {
                break;
            }
            self.timers.pop();
        }
        let next = self.timers.peek().map(|Reverse((at, _, _))| *at);
        if next.is_some() && next != self.reported_timeout {
            self.reported_timeout = next;
            if let Some(at) = next {
                self.out.push_back(Output::Timeout(at));
            }
        }
    }

    /// One datagram: the relay path.
    fn datagram(&mut self, now: Instant, path: Path, bytes: &[u8]) {
        let found = match path.transport {
            Transport::Udp => self.ports.owner(path.local.port()),
            _ => None,
        };
        let Some((owner, channel)) =
            found.filter(|(o, _)| path.local.ip() == self.cfg.addresses[o.side])
        else {
            self.totals.no_stream += 1;
            return;
        };
        let slot = owner.slot;
        let side = owner.side;
        if self.has(Fault::AcceptUnauthenticatedRtcp) && carries_rtcp_bye(bytes) {
            return self.end(slot, EndReason::RtcpBye);
        }
        let latch_any = self.has(Fault::LatchAnySource);
        let check_validity = !self.has(Fault::RelayMalformedRtp);
        let limit = !self.has(Fault::NoMediaRateLimit);
        let strip_tags = self.has(Fault::DecryptSrtp);
        let tap = self
            .has(Fault::MediaToThirdAddress)
            .then_some(self.cfg.eavesdropper);
        let limits = self.cfg.limits;
        let Some(s) = self.streams.get_mut(slot as usize).and_then(Option::as_mut) else {
            self.totals.no_stream += 1;
            return;
        };
        let count = &mut s.counters[side];
        let total = &mut self.totals.media;

        // The source: exactly what this side's SDP named for that port.
        let expected = s.remote[side].map(|r| match channel {
            Channel::Rtp => r.rtp,
            Channel::Rtcp => r.rtcp,
        });
        if expected != Some(path.remote) {
            if !latch_any {
                count.stranger += 1;
                total.stranger += 1;
                return;
            }
            // The fault: take whoever sent as that side from now on.
            let r = s.remote[side].get_or_insert(Remote::muxed(path.remote));
            match channel {
                Channel::Rtp => r.rtp = path.remote,
                Channel::Rtcp => r.rtcp = path.remote,
            }
        }
        let muxed = s.remote[side].is_some_and(|r| r.is_muxed());

        // What it is, and whether it is well formed.
        let kind = match channel {
            Channel::Rtcp => Kind::Rtcp,
            Channel::Rtp if is_rtcp(bytes) => Kind::Rtcp,
            Channel::Rtp => Kind::Rtp,
        };
        // RTCP on a port that does not multiplex: as RTP, its payload type
        // is SR or RR, which Appendix A.1 rules out (and RFC 5761 §4 keeps
        // 64-95 off muxed RTP).
        let misplaced = channel == Channel::Rtp && kind == Kind::Rtcp && !muxed;
        if check_validity && (misplaced || !is_valid(bytes, kind, s.protection)) {
            count.malformed += 1;
            total.malformed += 1;
            return;
        }
        s.last_activity = s.last_activity.max(now);

        if limit && !s.buckets[side].admit(&limits, now, bytes.len()) {
            count.over_rate += 1;
            total.over_rate += 1;
            return;
        }

        // Where it goes: the other side's negotiated address, from the
        // other side's port.
        let to = side.other();
        let Some(dest) = s.remote[to] else {
            count.unrouted += 1;
            total.unrouted += 1;
            return;
        };
        let (remote, local_port) = match kind {
            Kind::Rtp => (dest.rtp, s.rtp_port[to]),
            Kind::Rtcp if dest.is_muxed() => (dest.rtcp, s.rtp_port[to]),
            Kind::Rtcp => (dest.rtcp, s.rtp_port[to] + 1),
        };
        count.relayed += 1;
        count.relayed_bytes += bytes.len() as u64;
        total.relayed += 1;
        total.relayed_bytes += bytes.len() as u64;
        let mut payload = bytes.to_vec();
        if let (true, Protection::Srtp(profile)) = (strip_tags, s.protection) {
            // What a DBE that terminates SRTP passes on: no tag of the
            // endpoints' keys (it would need its own, in its own SDP).
            let tag = match kind {
                Kind::Rtp => profile.rtp_tag_len(),
                Kind::Rtcp => profile.rtcp_tag_len(),
            };
            payload.truncate(payload.len().saturating_sub(tag));
        }
        let local = SocketAddr::new(self.cfg.addresses[to], local_port);
        if let Some(eavesdropper) = tap {
            self.out.push_back(Output::Transmit(Transmit {
                path: Path {
                    local,
                    remote: eavesdropper,
                    transport: Transport::Udp,
                },
                bytes: payload.clone(),
            }));
        }
        self.out.push_back(Output::Transmit(Transmit {
            path: Path {
                local,
                remote,
                transport: Transport::Udp,
            },
            bytes: payload,
        }));
    }
}

/// Whether `bytes`, read as plain RTCP, holds a BYE: what the
/// `accept-unauthenticated-rtcp` fault acts on.
fn carries_rtcp_bye(bytes: &[u8]) -> bool {
    is_rtcp(bytes)
        && compound(bytes)
            .map_while(Result::ok)
            .any(|p| matches!(p, RtcpPacket::Goodbye(_)))
}

impl Node for Dbe {
    type Command = Command;
    type Event = Event;

    fn handle_input(&mut self, now: Instant, input: Input<'_, Command>) {
        match input {
            Input::Datagram { path, bytes } => self.datagram(now, path, bytes),
            // Media is datagrams; a stream transport has nothing to relay.
            Input::StreamData { path, .. } => {
                self.totals.no_stream += 1;
                self.out.push_back(Output::Close(path));
            }
            Input::Timeout => self.on_timeout(now),
            Input::Command(c) => self.command(now, c),
        }
        self.report_timeout();
    }

    fn poll_output(&mut self) -> Option<Output<Event>> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests;
