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
//!   (RFC 6271 Requirement #1), or one per querier when the topology
//!   lists per-source SBEs (a DNS view per peer, RFC 6271 #4).
//!
//! With TLS settings the replicas also serve DNS over TLS (RFC 7858), on
//! port 853 on the simulated network, requiring whatever client
//! certificate the settings ask for (RFC 6271 #15, #16).

use speermint_net::Network;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::{AuthServer, DnsError, Lookup, RunningAuth, Tamper, TlsSession, Zone};
use speermint_resolver::{
    Client, ClientConfig, ClientError, DnsTls, DnsTransport, Locator, LocatorConfig, RecordType,
    Transport, TrustAnchor,
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
    /// The peer domain's TLS SBE (`_sips._tcp`, SIPS+D2T, RFC 3263
    /// §4.1): a TLS role of the harness, when it has one; otherwise port
    /// 5061 of the peer role's address, where nothing listens.
    pub peer_tls: Option<SocketAddr>,
    /// Advertise a port where nothing listens for the IUT (the
    /// `stale-dns` switch).
    pub stale: bool,
    /// The IUT's own domain.
    pub iut_domain: String,
    /// The ingress SBE the IUT's domain advertises to queries from a
    /// given address, instead of `iut` (RFC 6271 #4: a view per peer).
    pub iut_per_source: Vec<(IpAddr, SocketAddr)>,
}

/// DNS over TLS at the replicas: the server settings (certificate, and
/// which client certificates are required), and where each replica
/// listens (port 0 picks one).
#[derive(Debug, Clone)]
pub struct DnsTlsServing {
    /// rustls server settings.
    pub config: Arc<rustls::ServerConfig>,
    /// Primary's and secondary's TLS addresses.
    pub addrs: [SocketAddr; 2],
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

const ALT_NAMES: usize = 10;

impl DnsRole {
    /// Signs the zones once, with fresh keys, and starts both replicas on
    /// `bind` (ephemeral ports).
    /// With `tls`, both also serve DNS over TLS with those settings.
    pub async fn start(
        net: &Network,
        bind: std::net::IpAddr,
        topo: Topology,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<Self, DnsError> {
        // On the simulated network every port is free, so the replicas sit
        // on port 53 (and 853 for TLS, RFC 7858 §3.1) of two addresses,
        // where a capture is read as DNS.
        let (addrs, tls_port) = if net.is_simulated() {
            (
                [
                    SocketAddr::new(bind, 53),
                    SocketAddr::from(([127, 0, 0, 53], 53)),
                ],
                853,
            )
        } else {
            ([SocketAddr::new(bind, 0); 2], 0)
        };
        let tls = tls.map(|config| DnsTlsServing {
            config,
            addrs: addrs.map(|a| SocketAddr::new(a.ip(), tls_port)),
        });
        Self::start_at(net, addrs, None, topo, tls).await
    }

    /// Starts the replicas at `addrs`, signing every zone with `key`
    /// (PKCS#8 DER) when given, so that an external element's trust
    /// anchors (see [`DnsRole::anchor_records`]) stay valid across runs.
    pub async fn start_at(
        net: &Network,
        addrs: [SocketAddr; 2],
        key: Option<&[u8]>,
        topo: Topology,
        tls: Option<DnsTlsServing>,
    ) -> Result<Self, DnsError> {
        let facts = DnsFacts {
            peer_domain: "peer.example".into(),
            ssp_domain: topo.iut_domain.clone(),
            number: "+441632960083".into(),
            number_uri: "sip:+441632960083@peer.example".into(),
            alt_names: ALT_NAMES,
        };
        let (signed, views) = signed_zones(&topo, key)?;
        let mut a = AuthServer::new();
        let mut b = AuthServer::new();
        for z in signed {
            a = a.zone(z.clone());
            b = b.zone(z);
        }
        for (sources, z) in views {
            a = a.view(sources.clone(), z.clone());
            b = b.view(sources, z);
        }
        if let Some(t) = tls {
            a = a.tls(t.addrs[0], t.config.clone());
            b = b.tls(t.addrs[1], t.config);
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
            peer_tls: None,
            stale: false,
            iut_domain: iut_domain.to_owned(),
            iut_per_source: Vec::new(),
        };
        let mut out = Vec::new();
        for zone in signed_zones(&topo, Some(key))?.0 {
            out.extend(zone.dnskey_record());
            out.extend(zone.ds_record().map(|ds| format!("; {ds}")));
        }
        Ok(out)
    }

    /// Both replicas' addresses, primary first.
    pub fn servers(&self) -> Vec<SocketAddr> {
        vec![self.primary.addr(), self.secondary.addr()]
    }

    /// Both replicas' DNS over TLS addresses, primary first; empty
    /// without TLS.
    pub fn tls_servers(&self) -> Vec<SocketAddr> {
        [self.primary.tls_addr(), self.secondary.tls_addr()]
            .into_iter()
            .flatten()
            .collect()
    }

    /// Whether an address is one of the replicas' (UDP, TCP or TLS).
    pub fn is_server(&self, a: SocketAddr) -> bool {
        self.servers().contains(&a) || self.tls_servers().contains(&a)
    }

    /// Both replicas present `config` to TLS clients until
    /// [`DnsRole::restore`]; open TLS connections are closed.
    pub fn present(&self, config: Arc<rustls::ServerConfig>) {
        self.primary.present(config.clone());
        self.secondary.present(config);
    }

    /// Both replicas close their open TLS connections, so that the next
    /// queries come with fresh handshakes.
    pub fn close_tls_connections(&self) {
        self.primary.close_tls_connections();
        self.secondary.close_tls_connections();
    }

    /// The queries both replicas received since the last call, in time
    /// order, with source and transport. (Shares its log with
    /// [`DnsRole::take_queries`].)
    pub fn take_lookups(&self) -> Vec<Lookup> {
        let mut all = self.primary.take_lookups();
        all.extend(self.secondary.take_lookups());
        all.sort_by_key(|l| l.at);
        all
    }

    /// The TLS handshakes at both replicas since the last call, in time
    /// order.
    pub fn take_tls_sessions(&self) -> Vec<TlsSession> {
        let mut all = self.primary.take_tls_sessions();
        all.extend(self.secondary.take_tls_sessions());
        all.sort_by_key(|s| s.at);
        all
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
        self.locator_for(validating, only_primary, vec![Transport::Udp])
            .await
    }

    /// [`DnsRole::locator`] for an element speaking `transports` (in order
    /// of preference, RFC 3263 §4.1).
    pub async fn locator_for(
        &self,
        validating: bool,
        only_primary: bool,
        transports: Vec<Transport>,
    ) -> Result<Locator, ClientError> {
        let mut servers = self.servers();
        if only_primary {
            servers.truncate(1);
        }
        let anchor = validating.then(|| self.trust_anchor());
        locator(&self.net, servers, anchor, transports).await
    }

    /// A LUF/LRF like [`DnsRole::locator`] whose queries go over DNS over
    /// TLS only, with `tls` (server name, roots, client certificate).
    pub async fn locator_over_tls(
        &self,
        validating: bool,
        only_primary: bool,
        tls: DnsTls,
    ) -> Result<Locator, ClientError> {
        self.locator_over_tls_for(validating, only_primary, tls, vec![Transport::Udp])
            .await
    }

    /// [`DnsRole::locator_over_tls`] for an element speaking `transports`
    /// (in order of preference, RFC 3263 §4.1).
    pub async fn locator_over_tls_for(
        &self,
        validating: bool,
        only_primary: bool,
        tls: DnsTls,
        transports: Vec<Transport>,
    ) -> Result<Locator, ClientError> {
        let mut servers = self.tls_servers();
        if only_primary {
            servers.truncate(1);
        }
        let mut cfg = client_config(&self.net, servers);
        cfg.trust_anchor = validating.then(|| self.trust_anchor());
        cfg.transport = DnsTransport::Tls;
        cfg.tls = Some(tls);
        from_client(cfg, transports).await
    }

    /// A validating LUF/LRF over both replicas (UDP) whose queries leave
    /// from `source`: how a peer at that address sees the world, views
    /// included (RFC 6271 #4).
    pub async fn locator_as(&self, source: IpAddr) -> Result<Locator, ClientError> {
        let mut cfg = client_config(&self.net, self.servers());
        cfg.trust_anchor = Some(self.trust_anchor());
        cfg.bind = Some(source);
        from_client(cfg, vec![Transport::Udp]).await
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

/// Two replicas (RFC 6404 §4.3) serving the same signed `zones` at
/// `addrs` on `net`, in the clear: a world other than the role's own (the
/// RFC 6405 multi-SSP topology publishes its SSPs' domains and ENUM
/// trees so).
pub async fn start_replicas(
    net: &Network,
    addrs: [SocketAddr; 2],
    zones: Vec<Zone>,
) -> Result<(RunningAuth, RunningAuth), DnsError> {
    let mut a = AuthServer::new();
    let mut b = AuthServer::new();
    for z in zones {
        a = a.zone(z.clone());
        b = b.zone(z);
    }
    let primary = a.start_on(net, addrs[0]).await?;
    let secondary = b.start_on(net, addrs[1]).await?;
    Ok((primary, secondary))
}

/// The role's zones for `topo`, signed with `key`, or fresh keys; and the
/// per-source variants of the IUT's zone, signed with the same key as it.
#[allow(clippy::type_complexity)]
fn signed_zones(
    topo: &Topology,
    key: Option<&[u8]>,
) -> Result<(Vec<Zone>, Vec<(Vec<IpAddr>, Zone)>), DnsError> {
    let sign = |label: &str, text: String, key: &[u8]| {
        Zone::from_text(&text, None, label)
            .and_then(|z| z.sign_with(key))
            .map_err(|e| DnsError::Zone(e.to_string()))
    };
    let fresh = |k: Option<&[u8]>| -> Result<Vec<u8>, DnsError> {
        match k {
            Some(k) => Ok(k.to_vec()),
            None => crate::generate_key().map_err(DnsError::Sign),
        }
    };
    let ssp_key = fresh(key)?;
    let zones = vec![
        sign("peer.zone", peer_zone(topo), &fresh(key)?)?,
        sign("enum.zone", ENUM_ZONE.to_owned(), &fresh(key)?)?,
        sign("ssp.zone", ssp_zone(topo, topo.iut), &ssp_key)?,
    ];
    // One view per advertised SBE, for every source given it.
    let mut views: Vec<(Vec<IpAddr>, SocketAddr)> = Vec::new();
    for (source, sbe) in &topo.iut_per_source {
        match views.iter_mut().find(|(_, s)| s == sbe) {
            Some((sources, _)) => sources.push(*source),
            None => views.push((vec![*source], *sbe)),
        }
    }
    let views = views
        .into_iter()
        .map(|(sources, sbe)| Ok((sources, sign("ssp.zone", ssp_zone(topo, sbe), &ssp_key)?)))
        .collect::<Result<Vec<_>, DnsError>>()?;
    Ok((zones, views))
}

/// A client over `servers` on `net`. Short timeouts: the servers are on
/// the same host.
fn client_config(net: &Network, servers: Vec<SocketAddr>) -> ClientConfig {
    let mut cfg = ClientConfig::new(servers);
    cfg.timeout = Duration::from_millis(500);
    cfg.attempts = 1;
    cfg.network = net.clone();
    cfg
}

async fn from_client(
    cfg: ClientConfig,
    transports: Vec<Transport>,
) -> Result<Locator, ClientError> {
    let client = Client::new(cfg).await?;
    let mut lc = LocatorConfig::default();
    // The order given is the element's preference: TLS first overrides
    // NAPTR order (RFC 6406 §6.1.2.1); otherwise the NAPTR order of the
    // target's domain decides among the transports it speaks (RFC 3263
    // §4.1), so that TLS is used where the domain ranks it first.
    lc.lrf.prefer_tls = transports.first() == Some(&Transport::Tls);
    lc.lrf.transports = transports;
    Ok(Locator::new(client, lc))
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
    let mut cfg = client_config(net, servers);
    cfg.trust_anchor = anchor;
    from_client(cfg, transports).await
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
_sips._tcp IN SRV 0 1 {tp} sbe-tls
sbe-a IN A {pa}
sbe-b IN A {sa}
sbe-tls IN A {ta}
",
        pp = t.peer.port(),
        sp = t.stranger.port(),
        pa = t.peer.ip(),
        sa = t.stranger.ip(),
        tp = t.peer_tls.map_or(5061, |a| a.port()),
        ta = t.peer_tls.map_or(t.peer.ip(), |a| a.ip()),
    );
    for i in 1..=ALT_NAMES {
        z.push_str(&format!(
            "alt{i} IN NAPTR 10 10 \"s\" \"SIP+D2U\" \"\" _sip._udp.alt{i}\n_sip._udp.alt{i} IN SRV 10 1 {} sbe-a\n",
            t.peer.port()
        ));
    }
    z
}

/// The IUT's zone advertising `sbe` as its ingress SBE.
fn ssp_zone(t: &Topology, sbe: SocketAddr) -> String {
    // Port 9 (discard) has no SIP listener: what a stale record leads to.
    let port = if t.stale { 9 } else { sbe.port() };
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
        ip = sbe.ip(),
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
