//! Topology hiding at the border (RFC 6404 §4.10, RFC 5853 §3.1).
//!
//! With [`crate::SbeConfig::hide_topology`] on, nothing that leaves towards
//! a peer names the inside: the element acts as a B2BUA for the dialog
//! identifiers while staying a transaction-stateful proxy for the rest.
//!
//! Towards a peer (a request from the inside, or a response to a peer's
//! request):
//! - every Via but the element's own is removed and kept with the server
//!   transaction, to be put back on the responses (RFC 5853 §3.1.3,
//!   Figure 5);
//! - Record-Route entries the inside added are removed and kept as the
//!   dialog's inside route set, so that later requests from the peer still
//!   cross the inside's proxies;
//! - the Contact is replaced by one naming the element, whose user part is
//!   the dialog's token; a request from the peer to that URI goes to the
//!   inside Contact it stands for;
//! - the Call-ID of a dialog the inside starts is replaced by a fresh one
//!   (RFC 5853 §3.1.1: "even changing Call-IDs"), mapped back on the way in;
//! - the SDP `o=` line names the element instead of the inside host
//!   (RFC 4566 §5.2); every other SDP line stays byte-identical
//!   (RFC 6271 #17). `c=` and `m=` belong to the Media Function.
//!
//! Tags and CSeq are left alone: they name no host, and keeping them lets
//! CANCEL, ACK and RFC 8224 signatures (which do not cover Call-ID or
//! Contact, RFC 8224 §12.1) work unchanged on both legs.
//!
//! The dialog table is bounded ([`crate::SbeConfig::max_hidden_dialogs`]);
//! entries go when the dialog ends (a 2xx to BYE, a failed INVITE), or
//! after a day without use once the table is full. A new dialog that does
//! not fit is refused with 503, never sent out unhidden.

use crate::Fault;
use crate::Sbe;
use crate::policy::Side;
use speermint_node::{Path, Transport};
use speermint_sip::{Editor, HeaderName, Message};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long an unused dialog keeps its mapping once the table is full.
pub(crate) const DIALOG_IDLE: Duration = Duration::from_secs(24 * 3600);

/// The user part prefix of the Contact the element gives out for a dialog.
const TOKEN_PREFIX: &str = "th";

/// One hidden dialog: what its outside names stand for inside.
#[derive(Debug)]
pub(crate) struct Dialog {
    inside_call_id: Box<str>,
    outside_call_id: Box<str>,
    /// The inside user agent's Contact URI: the Request-URI of requests
    /// from the peer.
    inside_target: Option<Box<str>>,
    /// Route entries towards the inside after this element, in order.
    inside_route: Vec<Box<str>>,
    last_used: Instant,
}

/// The hidden dialogs, found by token (the peer's requests), by inside
/// Call-ID (the inside's requests) and by outside Call-ID.
#[derive(Debug, Default)]
pub(crate) struct Dialogs {
    by_token: HashMap<u64, Dialog>,
    by_inside: HashMap<Box<str>, u64>,
    by_outside: HashMap<Box<str>, u64>,
}

impl Dialogs {
    pub(crate) fn len(&self) -> usize {
        self.by_token.len()
    }

    fn remove(&mut self, token: u64) {
        if let Some(d) = self.by_token.remove(&token) {
            self.by_inside.remove(&d.inside_call_id);
            self.by_outside.remove(&d.outside_call_id);
        }
    }

    /// Room for one more, after dropping the idle ones if full.
    fn has_room(&mut self, now: Instant, max: usize) -> bool {
        if self.by_token.len() < max {
            return true;
        }
        let idle: Vec<u64> = self
            .by_token
            .iter()
            .filter(|(_, d)| now.saturating_duration_since(d.last_used) >= DIALOG_IDLE)
            .map(|(t, _)| *t)
            .collect();
        for t in idle {
            self.remove(t);
        }
        self.by_token.len() < max
    }

    fn insert(&mut self, token: u64, d: Dialog) {
        self.by_inside.insert(d.inside_call_id.clone(), token);
        self.by_outside.insert(d.outside_call_id.clone(), token);
        self.by_token.insert(token, d);
    }
}

/// What a server transaction must undo or hide on the responses it relays.
#[derive(Debug, Clone)]
pub(crate) enum HiddenTx {
    /// The request came from the inside and left towards a peer.
    Outbound {
        /// The Via field values it arrived with, top first.
        vias: Box<str>,
        inside_call_id: Box<str>,
        /// Record-Route entries the inside added, to follow the peer's own
        /// on the dialog-creating responses.
        inside_rr: Vec<Box<str>>,
        token: Option<u64>,
        forming: bool,
    },
    /// The request came from a peer and went inside.
    Inbound {
        outside_call_id: Box<str>,
        token: Option<u64>,
        forming: bool,
    },
}

/// A request that cannot be hidden: refuse it with this status.
pub(crate) struct Refuse(pub(crate) u16, pub(crate) &'static str);

fn creates_dialog(req: &Message<'_>) -> bool {
    matches!(req.method(), "INVITE" | "SUBSCRIBE" | "REFER") && req.core().to.tag().is_none()
}

/// The values of every field `name`, as one list, top first.
fn list(msg: &Message<'_>, name: HeaderName) -> Vec<Box<str>> {
    msg.name_addrs(name).map(|na| na.raw.into()).collect()
}

fn set_list(ed: &mut Editor<'_, '_>, name: HeaderName, values: &[Box<str>]) {
    ed.remove_all(name);
    if !values.is_empty() {
        let joined: Vec<&str> = values.iter().map(|v| &**v).collect();
        ed.set(name, &joined.join(", "));
    }
}

impl Sbe {
    /// Whether a message going from `from` to `to` leaves the inside
    /// towards a peer.
    pub(crate) fn towards_peer(&self, from: SocketAddr, to: SocketAddr) -> bool {
        self.cfg.side(from) != Side::Peer && self.cfg.side(to) == Side::Peer
    }

    /// The Contact the element gives a peer for a dialog.
    fn our_contact(&self, local: SocketAddr, transport: Transport, token: Option<u64>) -> String {
        let me = self.cfg.me_at(local);
        let user = token.map_or(String::new(), |t| format!("{TOKEN_PREFIX}{t:016x}@"));
        match transport {
            Transport::Udp => format!("<sip:{user}{me}>"),
            t => format!("<sip:{user}{me};transport={}>", t.as_str()),
        }
    }

    /// The dialog token a peer's Request-URI names, if it is one of ours.
    fn token_in(&self, req: &Message<'_>) -> Option<u64> {
        let uri = req.request_uri()?;
        let sip = uri.as_sip()?;
        if !self.cfg.is_me(uri) {
            return None;
        }
        let hex = sip.user?.strip_prefix(TOKEN_PREFIX)?;
        (hex.len() == 16)
            .then(|| u64::from_str_radix(hex, 16).ok())
            .flatten()
    }

    /// Hides a request crossing the border, or maps a peer's request back
    /// to the inside. Returns what its responses need.
    pub(crate) fn hide_request(
        &mut self,
        now: Instant,
        from: Path,
        dest: Path,
        req: &Message<'_>,
        ed: &mut Editor<'_, '_>,
    ) -> Result<Option<HiddenTx>, Refuse> {
        let faults = self.cfg.faults;
        if self.cfg.side(from.remote) == Side::Peer {
            return self.map_inbound(now, req, ed).map(Some);
        }
        if self.cfg.side(dest.remote) != Side::Peer {
            return Ok(None);
        }
        let inside_call_id: Box<str> = req.core().call_id.into();
        let forming = creates_dialog(req);
        let inside_rr = list(req, HeaderName::RecordRoute);
        let contact = req
            .name_addrs(HeaderName::Contact)
            .next()
            .map(|na| Box::<str>::from(na.uri.raw()));
        let mut token = self.dialogs.by_inside.get(&inside_call_id).copied();
        if token.is_none() && forming {
            if !self.dialogs.has_room(now, self.cfg.max_hidden_dialogs) {
                return Err(Refuse(503, "Service Unavailable - Too Many Dialogs"));
            }
            let t = self.next_id();
            let outside_call_id: Box<str> = if faults.contains(Fault::LeakCallId) {
                inside_call_id.clone()
            } else {
                format!("{:016x}{:08x}", self.next_id(), t & 0xffff_ffff).into()
            };
            self.dialogs.insert(
                t,
                Dialog {
                    inside_call_id: inside_call_id.clone(),
                    outside_call_id,
                    inside_target: None,
                    inside_route: inside_rr.clone(),
                    last_used: now,
                },
            );
            token = Some(t);
        }
        let outside_call_id: Box<str> = match token.and_then(|t| self.dialogs.by_token.get_mut(&t))
        {
            Some(d) => {
                d.last_used = now;
                if contact.is_some() {
                    d.inside_target.clone_from(&contact);
                }
                d.outside_call_id.clone()
            }
            // Outside any dialog (OPTIONS, MESSAGE): a Call-ID for this
            // transaction only.
            None if faults.contains(Fault::LeakCallId) => inside_call_id.clone(),
            None => format!("{:016x}", self.next_id()).into(),
        };
        ed.set(HeaderName::CallId, &outside_call_id);
        if !faults.contains(Fault::LeakVia) {
            ed.remove_all(HeaderName::Via);
        }
        if !faults.contains(Fault::LeakRecordRoute) {
            ed.remove_all(HeaderName::RecordRoute);
        }
        if contact.is_some() && !faults.contains(Fault::LeakContact) {
            ed.remove_all(HeaderName::Contact);
            let ours = self.our_contact(dest.local, dest.transport, token);
            ed.set(HeaderName::Contact, &ours);
        }
        let vias: Vec<&str> = req.values(HeaderName::Via).collect();
        Ok(Some(HiddenTx::Outbound {
            vias: vias.join(", ").into(),
            inside_call_id,
            inside_rr,
            token,
            forming,
        }))
    }

    /// A peer's request on its way in: a Request-URI naming one of our
    /// dialog tokens goes to the inside Contact it stands for, along the
    /// inside's route set, with the inside's Call-ID.
    fn map_inbound(
        &mut self,
        now: Instant,
        req: &Message<'_>,
        ed: &mut Editor<'_, '_>,
    ) -> Result<HiddenTx, Refuse> {
        let outside_call_id: Box<str> = req.core().call_id.into();
        let forming = creates_dialog(req);
        let mut token = self.token_in(req);
        if token.is_some_and(|t| !self.dialogs.by_token.contains_key(&t)) {
            return Err(Refuse(481, "Call/Transaction Does Not Exist"));
        }
        if token.is_none() {
            token = self.dialogs.by_outside.get(&outside_call_id).copied();
        }
        if token.is_none() && forming {
            if !self.dialogs.has_room(now, self.cfg.max_hidden_dialogs) {
                return Err(Refuse(503, "Service Unavailable - Too Many Dialogs"));
            }
            let t = self.next_id();
            self.dialogs.insert(
                t,
                Dialog {
                    inside_call_id: outside_call_id.clone(),
                    outside_call_id: outside_call_id.clone(),
                    inside_target: None,
                    inside_route: Vec::new(),
                    last_used: now,
                },
            );
            token = Some(t);
        }
        if let Some(d) = token.and_then(|t| self.dialogs.by_token.get_mut(&t)) {
            d.last_used = now;
            if req.core().to.tag().is_some() {
                if let Some(target) = &d.inside_target {
                    ed.start_line(&format!("{} {target} SIP/2.0", req.method()));
                }
                // The inside's route set first, then whatever the peer's
                // own set holds beyond this element.
                let mut route: Vec<Box<str>> = d.inside_route.clone();
                let mut rest = list(req, HeaderName::Route);
                if req
                    .name_addrs(HeaderName::Route)
                    .next()
                    .is_some_and(|na| self.cfg.is_me(&na.uri))
                {
                    rest.remove(0);
                }
                route.extend(rest);
                set_list(ed, HeaderName::Route, &route);
            }
            if *d.inside_call_id != *outside_call_id {
                ed.set(HeaderName::CallId, &d.inside_call_id);
            }
        }
        Ok(HiddenTx::Inbound {
            outside_call_id,
            token,
            forming,
        })
    }

    /// The response to a hidden transaction, on its way back: restored for
    /// the inside, or hidden from the peer.
    pub(crate) fn hide_response(
        &mut self,
        hidden: &HiddenTx,
        towards: Path,
        resp: &Message<'_>,
        ed: &mut Editor<'_, '_>,
    ) {
        let code = resp.status().unwrap_or(0);
        let method = resp.core().cseq.method;
        let faults = self.cfg.faults;
        let token = match hidden {
            HiddenTx::Outbound {
                vias,
                inside_call_id,
                inside_rr,
                token,
                forming,
            } => {
                ed.remove_all(HeaderName::Via);
                ed.set(HeaderName::Via, vias);
                ed.set(HeaderName::CallId, inside_call_id);
                if *forming && (101..300).contains(&code) && !inside_rr.is_empty() {
                    let mut rr = list(resp, HeaderName::RecordRoute);
                    rr.extend(inside_rr.iter().cloned());
                    set_list(ed, HeaderName::RecordRoute, &rr);
                }
                *token
            }
            HiddenTx::Inbound {
                outside_call_id,
                token,
                forming,
            } => {
                let contact = resp
                    .name_addrs(HeaderName::Contact)
                    .next()
                    .map(|na| Box::<str>::from(na.uri.raw()));
                // Record-Route entries above ours were added inside.
                let rr = list(resp, HeaderName::RecordRoute);
                let ours = resp
                    .name_addrs(HeaderName::RecordRoute)
                    .position(|na| self.cfg.is_me(&na.uri));
                let inside: Vec<Box<str>> = ours.map_or(Vec::new(), |i| rr[..i].to_vec());
                if let Some(d) = token.and_then(|t| self.dialogs.by_token.get_mut(&t)) {
                    if (101..300).contains(&code) {
                        if contact.is_some() {
                            d.inside_target.clone_from(&contact);
                        }
                        if *forming {
                            d.inside_route = inside.iter().rev().cloned().collect();
                        }
                    }
                }
                if !faults.contains(Fault::LeakRecordRoute) && !inside.is_empty() {
                    set_list(ed, HeaderName::RecordRoute, &rr[inside.len()..]);
                }
                if contact.is_some() && !faults.contains(Fault::LeakContact) {
                    ed.remove_all(HeaderName::Contact);
                    let ours = self.our_contact(towards.local, towards.transport, *token);
                    ed.set(HeaderName::Contact, &ours);
                }
                if resp.core().call_id != &**outside_call_id {
                    ed.set(HeaderName::CallId, outside_call_id);
                }
                *token
            }
        };
        let forming = matches!(
            hidden,
            HiddenTx::Outbound { forming: true, .. } | HiddenTx::Inbound { forming: true, .. }
        );
        let ended = (forming && code >= 300) || (method == "BYE" && (200..300).contains(&code));
        if let (true, Some(t)) = (ended, token) {
            self.dialogs.remove(t);
        }
    }

    /// An SDP body leaving towards a peer names the element as its origin
    /// (RFC 4566 §5.2); `None` when there is nothing to change.
    pub(crate) fn hide_sdp_origin(
        &self,
        local: SocketAddr,
        msg: &Message<'_>,
        body: &[u8],
    ) -> Option<Vec<u8>> {
        if self.cfg.faults.contains(Fault::LeakSdpOrigin)
            || !msg.core().content_type.is_some_and(|c| c.is_sdp())
        {
            return None;
        }
        let sdp = speermint_sdp::Sdp::parse(body).ok()?;
        let mut ed = sdp.editor();
        ed.set_origin("-", local.ip()).then(|| ed.to_bytes())
    }
}
