//! The `dns` role: two authoritative replicas (RFC 6404 §4.3) serving the
//! signed zones of the embedded topology (RFC 6404 §4.2), which the
//! checks forge answers in and silence replicas of.
//!
//! The zones describe the world around the IUT:
//! - `peer.example`, the terminating SSP: NAPTR to `_sip._udp` (order 10)
//!   and `_sips._tcp` (order 20); `_sip._udp` SRV lists the peer role at
//!   priority 10 and the stranger role at priority 20, so a wrong choice
//!   shows up at an address the harness watches (RFC 3263 §4.4). `altN`
//!   subdomains are fresh names for checks that need answers no resolver
//!   has cached yet.
//! - the ENUM branch of `+441632960083` (RFC 6116 §3.2, a number from the
//!   Ofcom drama range) pointing at `sip:+441632960083@peer.example`.
//! - the IUT's own domain (`ssp.example` unless the profile names it),
//!   advertising its ingress SBE
//!   (RFC 6271 Requirement #1).

use speermint_net::Network;
use std::net::SocketAddr;
use std::time::Duration;

use crate::{AuthServer, DnsError, RunningAuth, Tamper, Zone};
use speermint_resolver::{
    Client, ClientConfig, ClientError, Locator, LocatorConfig, RecordType, Transport, TrustAnchor,
};

/// Names and numbers the zones define, for checks to use.
#[derive(Debug, Clone)]
pub struct DnsFacts {
    /// The terminating SSP's domain.
    pub peer_domain: String,
    /// The IUT's own domain.
    pub ssp_domain: String,
    /// An E.164 number in ENUM.
    pub number: String,
    /// Its ENUM target URI.
    pub number_uri: String,
    /// How many `altN.peer.example` names exist (1-based).
    pub alt_names: usize,
}

/// Where the zones point: the role addresses and the IUT.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The peer role: the terminating SSP's preferred SBE.
    pub peer: SocketAddr,
    /// The stranger role: the lower-priority SBE, and the attacker's
    /// address in forged answers.
    pub stranger: SocketAddr,
    /// The IUT's SIP address, advertised in its own domain.
    pub iut: SocketAddr,
    /// The IUT's TLS address, advertised first (SIPS+D2T, RFC 3263 §4.1).
    pub iut_tls: Option<SocketAddr>,
    /// Advertise a port where nothing listens for the IUT (the
    /// `stale-dns` switch).
    pub stale: bool,
    /// The IUT's own domain.
    pub iut_domain: String,
}

/// The running role.
#[derive(Debug)]
pub struct DnsRole {
    /// First replica.
    pub primary: RunningAuth,
    /// Second replica, same zones, same keys.
    pub secondary: RunningAuth,
    /// DNSKEY trust anchors of the signed zones, in zone-file syntax.
    pub anchors: Vec<String>,
    /// What the zones define.
    pub facts: DnsFacts,
    /// The network the replicas serve on; locators made here use it too.
    pub net: Network,
}

const ALT_NAMES: usize = 6;

impl DnsRole {
    /// Signs the zones once, with fresh keys, and starts both replicas on
    /// `bind` (ephemeral ports).
    pub async fn start(
        net: &Network,
        bind: std::net::IpAddr,
        topo: Topology,
    ) -> Result<Self, DnsError> {
        // On the simulated network every port is free, so the replicas sit
        // on port 53 of two addresses, where a capture is read as DNS.
        let addrs = if net.is_simulated() {
            [
                SocketAddr::new(bind, 53),
                SocketAddr::from(([127, 0, 0, 53], 53)),
            ]
        } else {
            [SocketAddr::new(bind, 0); 2]
        };
        Self::start_at(net, addrs, None, topo).await
    }

    /// Starts the replicas at `addrs`, signing every zone with `key`
    /// (PKCS#8 DER) when given, so that an external element's trust
    /// anchors (see [`DnsRole::anchor_records`]) stay valid across runs.
    pub async fn start_at(
        net: &Network,
        addrs: [SocketAddr; 2],
        key: Option<&[u8]>,
        topo: Topology,
    ) -> Result<Self, DnsError> {
        let facts = DnsFacts {
            peer_domain: "peer.example".into(),
            ssp_domain: topo.iut_domain.clone(),
            number: "+441632960083".into(),
            number_uri: "sip:+441632960083@peer.example".into(),
            alt_names: ALT_NAMES,
        };
        let signed = signed_zones(&topo, key)?;
        let mut a = AuthServer::new();
        let mut b = AuthServer::new();
        for z in signed {
            a = a.zone(z.clone());
            b = b.zone(z);
        }
        let primary = a.start_on(net, addrs[0]).await?;
        let secondary = b.start_on(net, addrs[1]).await?;
        let anchors = primary.trust_anchor_records();
        Ok(Self {
            primary,
            secondary,
            anchors,
            facts,
            net: net.clone(),
        })
    }

    /// The DNSKEY and DS records of every zone of the role when signed
    /// with `key`: what an external element is configured to trust.
    pub fn anchor_records(key: &[u8], iut_domain: &str) -> Result<Vec<String>, DnsError> {
        let topo = Topology {
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
            stranger: SocketAddr::from(([127, 0, 0, 1], 0)),
            iut: SocketAddr::from(([127, 0, 0, 1], 0)),
            iut_tls: None,
            stale: false,
            iut_domain: iut_domain.to_owned(),
        };
        let mut out = Vec::new();
        for zone in signed_zones(&topo, Some(key))? {
            out.extend(zone.dnskey_record());
            out.extend(zone.ds_record().map(|ds| format!("; {ds}")));
        }
        Ok(out)
    }

    /// Both replicas' addresses, primary first.
    pub fn servers(&self) -> Vec<SocketAddr> {
        vec![self.primary.addr(), self.secondary.addr()]
    }

    /// The trust anchors, parsed.
    pub fn trust_anchor(&self) -> TrustAnchor {
        // The records come from our own signer, so they parse.
        TrustAnchor::from_records(&self.anchors).unwrap_or_default()
    }

    /// Forges the same RRSet on both replicas.
    pub async fn tamper(&self, name: &str, rtype: RecordType, how: Tamper) -> Result<(), DnsError> {
        self.primary.tamper(name, rtype, how.clone()).await?;
        self.secondary.tamper(name, rtype, how).await
    }

    /// Queries both replicas received since the last call, tagged with
    /// the replica, for the evidence log.
    pub fn take_queries(&self) -> Vec<String> {
        let a = self
            .primary
            .take_queries()
            .into_iter()
            .map(|q| format!("dns-1: {q}"));
        let b = self
            .secondary
            .take_queries()
            .into_iter()
            .map(|q| format!("dns-2: {q}"));
        a.chain(b).collect()
    }

    /// The UDP datagrams both replicas received and sent since the last
    /// call, in time order, and how many were not kept.
    pub fn take_datagrams(&self) -> (Vec<crate::server::Datagram>, usize) {
        let (mut all, a) = self.primary.take_datagrams();
        let (b_kept, b) = self.secondary.take_datagrams();
        all.extend(b_kept);
        all.sort_by_key(|d| d.at);
        (all, a + b)
    }

    /// Undoes every forgery and wakes both replicas.
    pub async fn restore(&self) {
        self.primary.restore().await;
        self.secondary.restore().await;
        self.primary.set_silent(false);
        self.secondary.set_silent(false);
    }

    /// A LUF/LRF over this role for a UDP-only element: what the reference
    /// SBE uses, and what the harness uses to reach the IUT over UDP.
    /// `validating` adds the anchors; with `only_primary` the secondary is
    /// not asked.
    pub async fn locator(
        &self,
        validating: bool,
        only_primary: bool,
    ) -> Result<Locator, ClientError> {
        let mut servers = self.servers();
        if only_primary {
            servers.truncate(1);
        }
        let anchor = validating.then(|| self.trust_anchor());
        locator(&self.net, servers, anchor, vec![Transport::Udp]).await
    }

    /// A validating LUF/LRF over both replicas for UDP, TCP and TLS, with
    /// TLS preferred (RFC 6406 §6.1.2.1).
    pub async fn tls_locator(&self) -> Result<Locator, ClientError> {
        let anchor = Some(self.trust_anchor());
        locator(
            &self.net,
            self.servers(),
            anchor,
            vec![Transport::Tls, Transport::Tcp, Transport::Udp],
        )
        .await
    }
}

/// The role's zones for `topo`, signed with `key`, or fresh keys.
fn signed_zones(topo: &Topology, key: Option<&[u8]>) -> Result<Vec<Zone>, DnsError> {
    [
        ("peer.zone", peer_zone(topo)),
        ("enum.zone", ENUM_ZONE.to_owned()),
        ("ssp.zone", ssp_zone(topo)),
    ]
    .into_iter()
    .map(|(label, text)| {
        Zone::from_text(&text, None, label)
            .and_then(|z| match key {
                Some(k) => z.sign_with(k),
                None => z.sign(),
            })
            .map_err(|e| DnsError::Zone(e.to_string()))
    })
    .collect()
}

/// A LUF/LRF over `servers` for an element speaking `transports` (RFC
/// 3263 §4.1: only those), validating against `anchor` when given. Short
/// timeouts: the servers are on the same host.
pub async fn locator(
    net: &Network,
    servers: Vec<SocketAddr>,
    anchor: Option<TrustAnchor>,
    transports: Vec<Transport>,
) -> Result<Locator, ClientError> {
    let mut cfg = ClientConfig::new(servers);
    cfg.timeout = Duration::from_millis(500);
    cfg.attempts = 1;
    cfg.trust_anchor = anchor;
    cfg.network = net.clone();
    let client = Client::new(cfg).await?;
    let mut lc = LocatorConfig::default();
    lc.lrf.transports = transports;
    Ok(Locator::new(client, lc))
}

const ENUM_ZONE: &str = "$ORIGIN 4.4.e164.arpa.
$TTL 300
@ IN SOA ns.peer.example. hostmaster.peer.example. 1 3600 600 86400 60
@ IN NS ns.peer.example.
3.8.0.0.6.9.2.3.6.1 IN NAPTR 100 10 \"u\" \"E2U+sip\" \"!^\\\\+(.*)$!sip:+\\\\1@peer.example!\" .
";

fn peer_zone(t: &Topology) -> String {
    let mut z = format!(
        "$ORIGIN peer.example.
$TTL 300
@ IN SOA ns hostmaster 1 3600 600 86400 60
@ IN NS ns
ns IN A 127.0.0.1
@ IN NAPTR 10 10 \"s\" \"SIP+D2U\" \"\" _sip._udp
@ IN NAPTR 20 10 \"s\" \"SIPS+D2T\" \"\" _sips._tcp
_sip._udp IN SRV 10 1 {pp} sbe-a
_sip._udp IN SRV 20 1 {sp} sbe-b
_sips._tcp IN SRV 0 1 5061 sbe-a
sbe-a IN A {pa}
sbe-b IN A {sa}
",
        pp = t.peer.port(),
        sp = t.stranger.port(),
        pa = t.peer.ip(),
        sa = t.stranger.ip(),
    );
    for i in 1..=ALT_NAMES {
        z.push_str(&format!(
            "alt{i} IN NAPTR 10 10 \"s\" \"SIP+D2U\" \"\" _sip._udp.alt{i}\n_sip._udp.alt{i} IN SRV 10 1 {} sbe-a\n",
            t.peer.port()
        ));
    }
    z
}

fn ssp_zone(t: &Topology) -> String {
    // Port 9 (discard) has no SIP listener: what a stale record leads to.
    let port = if t.stale { 9 } else { t.iut.port() };
    let mut z = format!(
        "$ORIGIN {domain}.
$TTL 300
@ IN SOA ns hostmaster 1 3600 600 86400 60
@ IN NS ns
ns IN A 127.0.0.1
@ IN NAPTR 10 10 \"s\" \"SIP+D2U\" \"\" _sip._udp
_sip._udp IN SRV 0 1 {port} sbe
sbe IN A {ip}
",
        ip = t.iut.ip(),
        domain = t.iut_domain.trim_end_matches('.'),
    );
    if let Some(tls) = t.iut_tls {
        // TLS first: RFC 6406 §6.1.2.1 prefers it, and so does the order.
        z.push_str(&format!(
            "@ IN NAPTR 5 10 \"s\" \"SIPS+D2T\" \"\" _sips._tcp\n_sips._tcp IN SRV 0 1 {} sbe-tls\nsbe-tls IN A {}\n",
            tls.port(),
            tls.ip()
        ));
    }
    z
}
