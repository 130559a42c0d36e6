//! From configured anchors to the keys the validator trusts.
//!
//! Most signed zones split keys (RFC 6781 §3.1): the anchor (or the DS
//! the parent holds) names the key-signing key, and answers are signed by
//! a zone-signing key that only the DNSKEY RRset vouches for. RFC 4035
//! §5 lets an anchored key authenticate that RRset directly. hickory 0.26
//! instead asks for a DS first whenever the RRset holds a key that is not
//! an anchor, and a zone served alone answers NODATA, so a KSK anchor
//! makes every answer bogus. This module does the RFC 4035 step itself at
//! start-up: fetch the DNSKEY RRset with its RRSIGs, verify an RRSIG made
//! by the anchored key over it, and only then trust every zone key in it.
//! Trusting the RRset without that signature check would repeat
//! RUSTSEC-2025-0006.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::Verifier;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use speermint_net::Network;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{ClientConfig, DnsTls, DnsTransport};

/// The keys of `zone` the validator may trust, given the anchor `anchor`
/// (a key, or a DS to find the key by): every zone key of the DNSKEY
/// RRset when a valid RRSIG by the anchored key covers it; otherwise the
/// anchored key alone (a configured key stays trusted, and answers it
/// does not sign will fail validation with their own cause). Errors only
/// when no key can be named: a DS matching nothing, or no answer.
pub(crate) async fn zone_keys(
    config: &ClientConfig,
    zone: &Name,
    anchor: AnchorRef<'_>,
) -> Result<Vec<DNSKEY>, String> {
    let mut last = String::from("no server answered");
    for &server in &config.servers {
        match dnskey_rrset(config, server, zone).await {
            Ok((keys, sigs)) => return verify_rrset(zone, &keys, &sigs, anchor),
            Err(e) => last = format!("{server}: {e}"),
        }
    }
    Err(format!("DNSKEY of {zone}: {last}"))
}

/// What the configuration says to trust.
#[derive(Clone, Copy)]
pub(crate) enum AnchorRef<'a> {
    /// This key.
    Key(&'a DNSKEY),
    /// The key with this digest.
    Digest(&'a DS),
}

fn verify_rrset(
    zone: &Name,
    keys: &[Record],
    sigs: &[RRSIG],
    anchor: AnchorRef<'_>,
) -> Result<Vec<DNSKEY>, String> {
    let dnskeys: Vec<&DNSKEY> = keys
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k),
            _ => None,
        })
        .collect();
    let anchored: DNSKEY = match anchor {
        AnchorRef::Key(k) => match dnskeys.iter().find(|d| d.public_key() == k.public_key()) {
            Some(d) => (*d).clone(),
            // Not in the zone's RRset: trusted as configured, and nothing
            // it could vouch for.
            None => return Ok(vec![k.clone()]),
        },
        AnchorRef::Digest(ds) => dnskeys
            .iter()
            .find(|d| ds.covers(zone, d).unwrap_or(false))
            .map(|d| (*d).clone())
            .ok_or_else(|| {
                format!(
                    "no DNSKEY of {zone} matches the DS anchor with key tag {}",
                    ds.key_tag()
                )
            })?,
    };
    if rrset_signed_by(zone, keys, sigs, &anchored) {
        Ok(dnskeys
            .into_iter()
            .filter(|k| k.zone_key() && !k.revoke())
            .cloned()
            .collect())
    } else {
        Ok(vec![anchored])
    }
}

/// Whether an RRSIG by `key`, inside its validity window, verifies over
/// the DNSKEY RRset (RFC 4035 §5.2-5.3).
fn rrset_signed_by(zone: &Name, keys: &[Record], sigs: &[RRSIG], key: &DNSKEY) -> bool {
    let Ok(tag) = key.calculate_key_tag() else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    sigs.iter().any(|sig| {
        let input = sig.input();
        // Serial arithmetic is not needed before 2106.
        let (from, until) = (
            u64::from(input.sig_inception.get()),
            u64::from(input.sig_expiration.get()),
        );
        input.key_tag == tag
            && input.algorithm == key.algorithm()
            && (from..=until).contains(&now)
            && key
                .verify_rrsig(zone, DNSClass::IN, sig, keys.iter())
                .is_ok()
    })
}

/// Asks `server` for the DNSKEY RRset of `zone` with DO set (RFC 3225),
/// over UDP and then TCP if truncated, or over TLS alone when the client
/// is configured for it: the start-up fetch leaks no more than a lookup.
async fn dnskey_rrset(
    config: &ClientConfig,
    server: SocketAddr,
    zone: &Name,
) -> Result<(Vec<Record>, Vec<RRSIG>), String> {
    let (net, timeout, bind) = (&config.network, config.timeout, config.bind);
    let mut msg = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(zone.clone(), RecordType::DNSKEY));
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true).set_max_payload(1232);
    msg.set_edns(edns);
    let query = msg.to_vec().map_err(|e| e.to_string())?;
    let resp = match (config.transport, &config.tls) {
        (DnsTransport::Tls, Some(settings)) => {
            tokio::time::timeout(timeout, tls(net, server, bind, settings, &query))
                .await
                .map_err(|_| "timed out over TLS".to_string())??
        }
        (DnsTransport::Tls, None) => return Err("DNS over TLS without TLS settings".into()),
        (DnsTransport::Tcp, _) => tokio::time::timeout(timeout, tcp(net, server, bind, &query))
            .await
            .map_err(|_| "timed out over TCP".to_string())??,
        (DnsTransport::UdpThenTcp, _) => {
            let resp = tokio::time::timeout(timeout, udp(net, server, bind, &query))
                .await
                .map_err(|_| "timed out over UDP".to_string())??;
            if resp.metadata.truncation {
                tokio::time::timeout(timeout, tcp(net, server, bind, &query))
                    .await
                    .map_err(|_| "timed out over TCP".to_string())??
            } else {
                resp
            }
        }
    };
    if resp.metadata.id != msg.metadata.id {
        return Err("answer with another id".into());
    }
    let keys: Vec<Record> = resp
        .answers
        .iter()
        .filter(|r| r.name == *zone && r.record_type() == RecordType::DNSKEY)
        .cloned()
        .collect();
    let sigs: Vec<RRSIG> = resp
        .answers
        .iter()
        .filter(|r| r.name == *zone)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(s))
                if s.input().type_covered == RecordType::DNSKEY =>
            {
                Some(s.clone())
            }
            _ => None,
        })
        .collect();
    if keys.is_empty() {
        return Err(format!(
            "no DNSKEY records ({})",
            resp.metadata.response_code
        ));
    }
    Ok((keys, sigs))
}

async fn udp(
    net: &Network,
    server: SocketAddr,
    bind: Option<IpAddr>,
    query: &[u8],
) -> Result<Message, String> {
    let bind: SocketAddr = match bind {
        Some(ip) => SocketAddr::new(ip, 0),
        None if server.is_ipv4() => "0.0.0.0:0".parse().expect("literal"),
        None => "[::]:0".parse().expect("literal"),
    };
    let sock = net.bind_udp(bind).await.map_err(|e| e.to_string())?;
    sock.send_to(query, server)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_535];
    // Only the server's answer counts (RFC 5452 §9.1); anything else
    // arriving on the port is ignored.
    loop {
        let (n, from) = sock.recv_from(&mut buf).await.map_err(|e| e.to_string())?;
        if from == server {
            return Message::from_vec(&buf[..n]).map_err(|e| e.to_string());
        }
    }
}

async fn tcp(
    net: &Network,
    server: SocketAddr,
    bind: Option<IpAddr>,
    query: &[u8],
) -> Result<Message, String> {
    let mut s = net
        .connect_tcp(
            bind.map(|ip| SocketAddr::new(ip, 0)),
            server,
            Duration::from_secs(5),
        )
        .await
        .map_err(|e| e.to_string())?;
    exchange(&mut s, query).await
}

/// One query over DNS over TLS (RFC 7858 §3.3: TCP framing inside TLS),
/// the server authenticated as configured.
async fn tls(
    net: &Network,
    server: SocketAddr,
    bind: Option<IpAddr>,
    settings: &DnsTls,
    query: &[u8],
) -> Result<Message, String> {
    let name = rustls::pki_types::ServerName::try_from(settings.server_name.clone())
        .map_err(|e| format!("{:?} is not a server name: {e}", settings.server_name))?;
    let tcp = net
        .connect_tcp(
            bind.map(|ip| SocketAddr::new(ip, 0)),
            server,
            Duration::from_secs(5),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut s = tokio_rustls::TlsConnector::from(settings.config.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {server} as {}: {e}", settings.server_name))?;
    let answer = exchange(&mut s, query).await;
    // A clean close (close_notify) so the server sees no truncation.
    let _ = s.shutdown().await;
    answer
}

/// Writes one length-prefixed query and reads one answer (RFC 1035
/// §4.2.2).
async fn exchange<S>(s: &mut S, query: &[u8]) -> Result<Message, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let len = u16::try_from(query.len()).map_err(|_| "query too long")?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    s.write_all(&framed).await.map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    Message::from_vec(&buf).map_err(|e| e.to_string())
}

/// A query id that differs per call and per process: std's `RandomState`
/// is seeded from the OS (RFC 5452 §4.3 asks for unpredictable ids).
fn rand_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() & 0xffff) as u16
}
