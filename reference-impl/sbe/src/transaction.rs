//! The RFC 3261 §17 transaction layer the proxy sits on: typed keys, the
//! states of server and client transactions, and their timers.

use speermint_node::Path;
use speermint_sip::Message;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A method as transactions match it: INVITE, ACK and CANCEL matter to the
/// state machines; any other method keeps its name. Keys are cloned into
/// the timer queue, so names are shared, not copied.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Method {
    Invite,
    Ack,
    Cancel,
    Other(Arc<str>),
}

impl Method {
    pub(crate) fn of(name: &str) -> Self {
        match name {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "CANCEL" => Method::Cancel,
            m => Method::Other(m.into()),
        }
    }
}

/// Which server transaction a request belongs to (RFC 3261 §17.2.3): the
/// branch and sent-by of its top Via for RFC 3261 branches, the RFC 2543
/// fields otherwise; and the method, ACK counting as its INVITE's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    /// Shared: the timer queue holds a clone of every key with a timer.
    id: Arc<ServerId>,
    method: Method,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ServerId {
    Rfc3261 {
        branch: Box<str>,
        sent_by: Box<str>,
        port: u16,
    },
    /// Request-URI, From tag, Call-ID, CSeq number, top Via as received.
    Rfc2543(Box<[Box<str>; 4]>, u32),
}

impl ServerKey {
    pub(crate) fn of(req: &Message<'_>) -> Self {
        let c = req.core();
        let via = c.via;
        let id = if via.is_rfc3261_branch() {
            ServerId::Rfc3261 {
                branch: via.branch().unwrap_or_default().into(),
                sent_by: via.host.to_string().into(),
                port: via.port.unwrap_or(5060),
            }
        } else {
            let ruri = req.request_uri().map(|u| u.raw()).unwrap_or_default();
            ServerId::Rfc2543(
                Box::new([
                    ruri.into(),
                    c.from.tag().unwrap_or_default().into(),
                    c.call_id.into(),
                    via.raw.into(),
                ]),
                c.cseq.seq,
            )
        };
        Self {
            id: Arc::new(id),
            method: Method::of(req.method()),
        }
    }

    /// The key of the INVITE transaction an ACK or CANCEL refers to.
    pub(crate) fn invite(&self) -> Self {
        Self {
            id: self.id.clone(),
            method: Method::Invite,
        }
    }
}

/// Which client transaction a response belongs to (§17.1.3): the branch
/// the element put in its Via, and the CSeq method (an ACK's is its
/// INVITE's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub(crate) branch: Arc<str>,
    method: Method,
}

impl ClientKey {
    pub(crate) fn new(branch: &str, method: &str) -> Self {
        let method = match Method::of(method) {
            Method::Ack => Method::Invite,
            m => m,
        };
        Self {
            branch: branch.into(),
            method,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Request sent / received, no response yet (Calling, Trying).
    Trying,
    /// A provisional response has passed.
    Proceeding,
    /// A final non-2xx (or any final, non-INVITE) has passed.
    Completed,
    /// ACK received for a non-2xx final (server INVITE only).
    Confirmed,
    /// A 2xx to INVITE has passed (RFC 6026 §7).
    Accepted,
}

/// A timer: when it fires, and the interval for the next retransmission.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retransmit {
    pub(crate) at: Instant,
    pub(crate) interval: Duration,
}

impl Retransmit {
    /// The first retransmission, T1 from now, over an unreliable transport
    /// only: TCP and TLS retransmit by themselves (RFC 3261 §17.1.1.2,
    /// §17.1.2.2, §17.2.1).
    pub(crate) fn start(path: &Path, now: Instant, t1: Duration) -> Option<Self> {
        (!path.transport.is_reliable()).then_some(Self {
            at: now + t1,
            interval: t1,
        })
    }
}

#[derive(Debug)]
pub(crate) struct ServerTx {
    pub(crate) invite: bool,
    /// Where the request came from, and how: responses go back that way
    /// (RFC 3261 §18.2.2).
    pub(crate) source: Path,
    pub(crate) request: Vec<u8>,
    pub(crate) state: State,
    pub(crate) last_response: Option<Vec<u8>>,
    pub(crate) client: Option<Box<str>>,
    /// Timer G (INVITE final response retransmission).
    pub(crate) retransmit: Option<Retransmit>,
    /// Timers H, I, J, L: the transaction ends.
    pub(crate) end_at: Option<Instant>,
    /// Next hops not tried yet, in RFC 3263 order, for failover on 503 or
    /// timeout (§4.3), and the Request-URI they are sent with.
    pub(crate) alternates: Vec<Path>,
    pub(crate) rewrite: Option<String>,
    /// The domain the alternates' TLS servers must prove (RFC 5922 §7.2).
    pub(crate) tls_name: Option<Box<str>>,
    /// The deadline the timer queue holds for this transaction.
    pub(crate) scheduled: Option<Instant>,
    /// What topology hiding must undo or hide on its responses.
    pub(crate) hidden: Option<Box<crate::topology::HiddenTx>>,
}

impl ServerTx {
    /// When this transaction next needs the clock: Timer G while there is
    /// a response to resend, Timers H, I, J, L once it is no longer
    /// waiting for a response from downstream.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let g = self
            .retransmit
            .filter(|_| self.last_response.is_some())
            .map(|r| r.at);
        let end = self.end_at.filter(|_| self.state != State::Proceeding);
        g.into_iter().chain(end).min()
    }

    /// A final response has gone upstream: from here on the transaction
    /// only absorbs retransmissions (RFC 3261 §17.2.1, §17.2.2), so the
    /// request and the failover plan go. In Accepted (RFC 6026 §7.1) the
    /// 2xx goes too: a retransmitted INVITE is absorbed, not answered, and
    /// 2xx retransmissions come from downstream.
    pub(crate) fn compact(&mut self) {
        self.request = Vec::new();
        self.alternates = Vec::new();
        self.rewrite = None;
        self.tls_name = None;
        if self.state == State::Accepted {
            self.last_response = None;
        }
    }
    /// A transaction for `req` from `source`, in `state`, nothing sent yet.
    pub(crate) fn new(req: &Message<'_>, source: Path, state: State) -> Self {
        Self {
            invite: req.method() == "INVITE",
            source,
            request: req.as_bytes().to_vec(),
            state,
            last_response: None,
            client: None,
            retransmit: None,
            end_at: None,
            alternates: Vec::new(),
            rewrite: None,
            tls_name: None,
            scheduled: None,
            hidden: None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct ClientTx {
    pub(crate) invite: bool,
    /// Where the request went, and how.
    pub(crate) dest: Path,
    pub(crate) request: Vec<u8>,
    pub(crate) state: State,
    pub(crate) server: Option<ServerKey>,
    /// Timers A and E.
    pub(crate) retransmit: Option<Retransmit>,
    /// Timers B and F: no final response in time.
    pub(crate) timeout_at: Option<Instant>,
    /// Timers D, K, M: the transaction ends.
    pub(crate) end_at: Option<Instant>,
    /// A CANCEL arrived before any provisional response (RFC 3261 §9.1).
    pub(crate) cancel_pending: bool,
    /// The ACK sent for a non-2xx final, resent on its retransmission.
    pub(crate) ack: Option<Vec<u8>>,
    /// A CANCEL went downstream for this INVITE (the peer's, or Timer C's):
    /// never a second one (§9.1, §16.8).
    pub(crate) cancelled: bool,
    /// The deadline the timer queue holds for this transaction.
    pub(crate) scheduled: Option<Instant>,
}

impl ClientTx {
    /// When this transaction next needs the clock: Timers A, B, C, D, E,
    /// F, K, M.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [self.retransmit.map(|r| r.at), self.timeout_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// A final response arrived: the request is never sent again (the
    /// ACK for a non-2xx is built already), so it goes.
    pub(crate) fn compact(&mut self) {
        self.request = Vec::new();
    }
    /// A client transaction just sent: Timer A or E over UDP, Timer B or F.
    pub(crate) fn sent(
        invite: bool,
        dest: Path,
        request: Vec<u8>,
        server: Option<ServerKey>,
        now: Instant,
        timers: &crate::Timers,
    ) -> Self {
        Self {
            invite,
            retransmit: Retransmit::start(&dest, now, timers.t1),
            timeout_at: Some(now + timers.transaction()),
            dest,
            request,
            state: State::Trying,
            server,
            end_at: None,
            cancel_pending: false,
            ack: None,
            cancelled: false,
            scheduled: None,
        }
    }
}
