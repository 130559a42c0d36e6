//! The context a scenario runs in: the IUT's address, the roles, timing,
//! and helpers that build well-formed SIP traffic for each role.

use crate::role::{EvidenceLog, Received, Role};
use speermint_net::Network;
use speermint_sip::{Message, MessageBuilder};
use std::net::SocketAddr;
use std::time::Duration;

/// Which role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleId {
    /// The authorised peer SSP's SBE.
    Peer,
    /// A host outside every trust relationship.
    Stranger,
    /// The SBE of the domain the IUT routes towards (its next hop).
    Terminating,
    /// A second authorised peer SSP: what one peer's misbehaviour must not
    /// take from the others (RFC 6404 §4.9).
    SecondPeer,
}

/// TLS client settings towards an IUT that authenticates peers: as the
/// peer (a certificate for its domain), with no certificate, and with a
/// valid certificate for another domain, all trusting the IUT's issuer.
#[derive(Debug, Clone)]
pub struct MutualTlsLab {
    /// The peer's domain.
    pub peer_domain: String,
    /// With the peer's certificate.
    pub as_peer: std::sync::Arc<rustls::ClientConfig>,
    /// Without a client certificate.
    pub anonymous: std::sync::Arc<rustls::ClientConfig>,
    /// With a certificate for `elsewhere.example`.
    pub elsewhere: std::sync::Arc<rustls::ClientConfig>,
}

/// A peer the IUT requires TLS from (RFC 6404 §4.5): its address, the
/// peer's certificate (in [`MutualTlsLab::as_peer`]), and where the IUT
/// listens in the clear.
#[derive(Debug, Clone)]
pub struct TlsRequiredLab {
    /// The peer's address: the IUT lists it as a peer that must use TLS.
    pub peer: std::net::IpAddr,
    /// The IUT's UDP address.
    pub udp: SocketAddr,
    /// The IUT's plain TCP listener, when it has one.
    pub tcp: Option<SocketAddr>,
}

/// The peer domain's TLS SBE, played by the harness, which the IUT
/// reaches for `sips:` targets (RFC 3261 §26.2.2), with the certificates
/// it can present.
#[derive(Debug, Clone)]
pub struct TlsEgressLab {
    /// The role.
    pub role: std::sync::Arc<crate::tls_role::TlsRole>,
    /// The peer's domain, which `good` names.
    pub peer_domain: String,
    /// The IUT's domain, which its client certificate must name.
    pub iut_domain: String,
    /// A certificate for the peer's domain, from an issuer the IUT trusts.
    pub good: std::sync::Arc<rustls::ServerConfig>,
    /// A certificate from the same issuer for another domain.
    pub wrong: std::sync::Arc<rustls::ServerConfig>,
}

/// DNS over TLS between the IUT's LUF/LRF and the DNS role (RFC 7858,
/// RFC 6271 #15, #16): what the IUT must see and show.
#[derive(Debug, Clone)]
pub struct DnsTlsLab {
    /// The name the DNS role's certificate carries, which the IUT checks.
    pub server_name: String,
    /// The domain the IUT's client certificate must name.
    pub client_domain: String,
    /// Server settings with a valid certificate, from an issuer the IUT
    /// trusts, for another name than `server_name`; `None` when the
    /// harness holds no such issuer's key (an external IUT's roots).
    pub wrong_name: Option<std::sync::Arc<rustls::ServerConfig>>,
}

/// The ingress SBE an SSP advertises to each peer (RFC 6271 #4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIngress {
    /// The SBE the peer role is given.
    pub peer: SocketAddr,
    /// The SBE the second peer role is given.
    pub second_peer: SocketAddr,
    /// The roles whose SBE refuses the other peer's calls.
    pub exclusive: Vec<RoleId>,
}

/// RFC 8224 material for a run: keys the peer signs with (one whose
/// certificate names the peer's domain, one whose certificate names
/// another), what verifies the IUT's own signatures, and the wall clock
/// both sides share (virtual on the simulated network).
#[derive(Debug)]
pub struct IdentityLab {
    /// The peer's domain, which its certificate names.
    pub peer_domain: String,
    /// The peer's signing key.
    pub peer: speermint_identity::SigningKey,
    /// A key whose certificate is for `elsewhere.example`, trusted by the IUT.
    pub elsewhere: speermint_identity::SigningKey,
    /// What verifies the IUT's signatures.
    pub iut: speermint_identity::Credentials,
    /// UNIX seconds at an instant of the run's clock.
    pub clock: (tokio::time::Instant, u64),
}

impl IdentityLab {
    /// UNIX seconds now, on the run's clock.
    pub fn unix_now(&self) -> u64 {
        let (at, secs) = self.clock;
        secs + tokio::time::Instant::now()
            .saturating_duration_since(at)
            .as_secs()
    }
}

/// How long to wait.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// For an expected message.
    pub response: Duration,
    /// For a message that must *not* arrive.
    pub silence: Duration,
    /// The IUT's INVITE transaction timeout, 64·T1 (RFC 3261 §17.1.1.2):
    /// how long a check waits for it to give up on a silent server.
    pub timer_b: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            response: Duration::from_secs(2),
            silence: Duration::from_millis(300),
            timer_b: Duration::from_secs(32),
        }
    }
}

/// Everything a scenario needs.
#[derive(Debug)]
pub struct Ctx {
    /// The implementation under test.
    pub iut: SocketAddr,
    /// Authorised peer.
    pub peer: Role,
    /// Non-peer.
    pub stranger: Role,
    /// The IUT's next hop.
    pub terminating: Role,
    /// Another authorised peer.
    pub second_peer: Role,
    /// The most requests per second the IUT lets one peer start, as the
    /// profile declares it (RFC 6404 §4.9); `None` when it declares none.
    pub peer_rate: Option<u32>,
    /// The most calls the IUT lets one peer have at once, as declared.
    pub peer_sessions: Option<u32>,
    /// The IUT's TLS listener and its SIP domain, when known.
    pub iut_tls: Option<(SocketAddr, String)>,
    /// Client settings for mutual TLS with the IUT, when the run has them.
    pub mutual_tls: Option<MutualTlsLab>,
    /// The peer domain's TLS SBE, when the run has one.
    pub tls_egress: Option<TlsEgressLab>,
    /// A peer the IUT requires TLS from, when the run has one.
    pub tls_required: Option<TlsRequiredLab>,
    /// The harness's identity credentials towards the IUT (RFC 8224),
    /// when the run has them.
    pub identity: Option<IdentityLab>,
    /// The addresses the IUT's SSP declares its calls leave from
    /// (RFC 6271 #2), when it declares them.
    pub egress: Option<Vec<std::net::IpAddr>>,
    /// The addresses the IUT's DBE names in the SDP it sends peers
    /// (RFC 6271 #3), when its SSP declares them.
    pub media_relay: Option<Vec<std::net::IpAddr>>,
    /// DNS over TLS with the DNS role, when the IUT must use it.
    pub dns_tls: Option<DnsTlsLab>,
    /// The ingress SBE advertised to each peer, when the SSP varies it.
    pub peer_ingress: Option<PeerIngress>,
    /// Waits.
    pub timing: Timing,
    /// The evidence of the running check.
    pub log: EvidenceLog,
    /// The DNS role, when the plan has one (the embedded topology).
    pub dns: Option<speermint_dns_role::DnsRole>,
    /// TLS client settings trusting the IUT's certificate issuer, when known.
    pub tls_client: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The network the roles are on (simulated, or sockets).
    pub net: Network,
    /// What the IUT offers (`None`: everything, the embedded stack).
    pub offers: Option<Vec<crate::check::Capability>>,
    /// The embedded stack's misbehaviour switches, when the IUT is it:
    /// checks that assemble reference elements of their own (the RFC 6405
    /// topologies) give them the same.
    pub reference_faults: Option<speermint_sbe::Faults>,
    /// What the roles reach the IUT over (RFC 3261 §18).
    pub transport: speermint_net::Transport,
    seq: u64,
    /// The From tag of each request [`Ctx::request_as`] built, by Call-ID:
    /// an IUT that hides its topology gives a call a new Call-ID at the
    /// border (RFC 5853 §3.1.1), and the far side finds it by its tag.
    tags: std::collections::HashMap<String, String>,
}

impl Ctx {
    /// Assembles a context from bound roles.
    pub fn new(net: Network, iut: SocketAddr, roles: [Role; 4], log: EvidenceLog) -> Self {
        let [peer, stranger, terminating, second_peer] = roles;
        Self {
            iut,
            peer,
            stranger,
            terminating,
            second_peer,
            peer_rate: None,
            peer_sessions: None,
            egress: None,
            media_relay: None,
            dns_tls: None,
            peer_ingress: None,
            identity: None,
            iut_tls: None,
            mutual_tls: None,
            tls_required: None,
            tls_egress: None,
            timing: Timing::default(),
            log,
            dns: None,
            tls_client: None,
            net,
            offers: None,
            reference_faults: None,
            transport: speermint_net::Transport::Udp,
            seq: 0,
            tags: std::collections::HashMap::new(),
        }
    }

    /// The role.
    pub fn role(&mut self, id: RoleId) -> &mut Role {
        match id {
            RoleId::Peer => &mut self.peer,
            RoleId::Stranger => &mut self.stranger,
            RoleId::Terminating => &mut self.terminating,
            RoleId::SecondPeer => &mut self.second_peer,
        }
    }

    /// A fresh token, unique within the run.
    pub fn token(&mut self) -> String {
        self.seq += 1;
        format!("sm{}x{:04}", std::process::id(), self.seq)
    }

    /// A new request from `from` with every mandatory header, a fresh
    /// branch, tag and Call-ID. Add headers and a body, then `build()`.
    pub fn request(&mut self, from: RoleId, method: &str, ruri: &str) -> MessageBuilder {
        let host = sip_hostport(self.role(from).addr());
        self.request_as(from, method, ruri, &format!("sip:speermint@{host}"))
    }

    /// [`Ctx::request`] from the identity `from_uri` (the From header's
    /// URI), for checks about who a request claims to be from.
    pub fn request_as(
        &mut self,
        from: RoleId,
        method: &str,
        ruri: &str,
        from_uri: &str,
    ) -> MessageBuilder {
        let t = self.token();
        let addr = self.role(from).addr();
        let host = sip_hostport(addr);
        self.tags.insert(format!("{t}@{host}"), format!("f{t}"));
        MessageBuilder::request(method, ruri)
            .header("Via", format!("SIP/2.0/UDP {host};branch=z9hG4bK{t};rport"))
            .header("Max-Forwards", 70)
            .header("From", format!("<{from_uri}>;tag=f{t}"))
            .header("To", format!("<{ruri}>"))
            .header("Call-ID", format!("{t}@{host}"))
            .header("CSeq", format!("1 {method}"))
            .header("Contact", format!("<sip:speermint@{host}>"))
            .header("User-Agent", "speermint")
    }

    /// Sends bytes from a role to the IUT.
    pub async fn send_to_iut(&mut self, from: RoleId, bytes: &[u8]) {
        let iut = self.iut;
        self.role(from).send(iut, bytes).await;
    }

    /// Waits for a request with this Call-ID at the role, or, for a
    /// request this context built, with its From tag under another Call-ID
    /// (an IUT that hides its topology renames calls at the border).
    pub async fn expect_request(
        &mut self,
        at: RoleId,
        method: &str,
        call_id: &str,
    ) -> Option<Received> {
        let wait = self.timing.response;
        let is_it = self.request_of(method, call_id);
        self.role(at).recv_matching(wait, is_it).await
    }

    /// Whether a received message is the `method` request of the call
    /// `call_id`: by Call-ID, or by the From tag of a request this context
    /// built, which an IUT that renames calls at the border keeps.
    pub fn request_of(
        &self,
        method: &str,
        call_id: &str,
    ) -> impl Fn(&Received) -> bool + Send + Sync + Clone + 'static + use<> {
        let (m, c) = (method.to_string(), call_id.to_string());
        let tag = self.tags.get(call_id).cloned();
        move |r: &Received| {
            r.msg().is_some_and(|msg| {
                msg.is_request()
                    && msg.method() == m
                    && (msg.core().call_id == c
                        || tag.is_some() && msg.core().from.tag() == tag.as_deref())
            })
        }
    }

    /// Waits for a final response (>= 200) with this Call-ID and CSeq method
    /// at the role; provisional responses are skipped.
    pub async fn expect_final(
        &mut self,
        at: RoleId,
        call_id: &str,
        method: &str,
    ) -> Option<Received> {
        let wait = self.timing.response;
        let (m, c) = (method.to_string(), call_id.to_string());
        self.role(at)
            .recv_matching(wait, move |r| {
                r.status().is_some_and(|s| s >= 200)
                    && mentions_call(&r.bytes, &c)
                    && r.msg().is_none_or(|msg| msg.core().cseq.method == m)
            })
            .await
    }

    /// True when the role receives nothing mentioning `call_id` within the silence window.
    pub async fn nothing_for(&mut self, at: RoleId, call_id: &str) -> Option<Received> {
        let wait = self.timing.silence;
        let c = call_id.to_string();
        self.role(at)
            .recv_matching(wait, move |r| mentions_call(&r.bytes, &c))
            .await
    }

    /// Answers a request received by a role (as a UAS would), back to its source.
    pub async fn answer(
        &mut self,
        at: RoleId,
        req: &Received,
        code: u16,
        reason: &str,
        body: Option<(&str, &[u8])>,
    ) -> Vec<u8> {
        let Some(msg) = req.msg() else {
            return Vec::new();
        };
        let t = self.token();
        let host = sip_hostport(self.role(at).addr());
        let mut b = MessageBuilder::response_to(&msg, code, reason, Some(&format!("t{t}")));
        for rr in msg.values(speermint_sip::HeaderName::RecordRoute) {
            b = b.header("Record-Route", rr);
        }
        if (200..300).contains(&code) {
            b = b.header("Contact", format!("<sip:speermint@{host}>"));
        }
        if let Some((ct, bytes)) = body {
            b = b.body(ct, bytes);
        }
        let bytes = b.build();
        self.role(at).send(req.from, &bytes).await;
        bytes
    }

    /// What the role received for this Call-ID and nobody consumed, as a
    /// phrase for a reason: "nothing came back", or "it sent only: SIP/2.0
    /// 100 Trying (x50)". A reason never says "no answer" beside evidence
    /// that shows one.
    pub fn what_came(&mut self, at: RoleId, call_id: &str) -> String {
        let c = call_id.to_string();
        let seen = self.role(at).unread(move |r| mentions_call(&r.bytes, &c));
        if seen.is_empty() {
            return "nothing came back".into();
        }
        let mut counted: Vec<(String, usize)> = Vec::new();
        for s in seen {
            match counted.iter_mut().find(|(t, _)| *t == s) {
                Some((_, n)) => *n += 1,
                None => counted.push((s, 1)),
            }
        }
        let parts: Vec<String> = counted
            .into_iter()
            .map(|(s, n)| if n > 1 { format!("{s} (x{n})") } else { s })
            .collect();
        format!("it sent only: {}", parts.join(", "))
    }

    /// Clears every role's pending datagrams and the log: called between checks.
    pub async fn reset(&mut self) {
        self.peer.clear().await;
        self.stranger.clear().await;
        self.terminating.clear().await;
        self.second_peer.clear().await;
        self.log.reset();
        self.tags.clear();
    }
}

/// `host:port` for a URI or Via, IPv6 in brackets.
pub fn sip_hostport(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => v.to_string(),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

/// True when the Call-ID appears in the datagram (works on malformed ones too).
pub fn mentions_call(bytes: &[u8], call_id: &str) -> bool {
    match Message::parse(bytes) {
        Ok(m) => m.core().call_id == call_id,
        Err(_) => bytes
            .windows(call_id.len().max(1))
            .any(|w| w == call_id.as_bytes()),
    }
}
