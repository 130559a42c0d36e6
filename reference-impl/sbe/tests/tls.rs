//! TLS policy of the element: peers it requires TLS from (RFC 6404 §4.5).

use speermint_sbe::{
    Event, Fault, Faults, Input, Node, Output, Path, Sbe, SbeConfig, Transmit, Transport,
};
use speermint_sip::{Message, MessageBuilder};
use std::net::SocketAddr;
use std::time::Instant;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn options(branch: &str, via: &str) -> Vec<u8> {
    MessageBuilder::request("OPTIONS", "sip:x@ssp.example")
        .header("Via", format!("SIP/2.0/{via};branch={branch}"))
        .header("Max-Forwards", 70)
        .header("From", "<sip:p@peer.example>;tag=1")
        .header("To", "<sip:x@ssp.example>")
        .header("Call-ID", branch)
        .header("CSeq", "1 OPTIONS")
        .build()
}

fn outputs(s: &mut Sbe) -> (Vec<Transmit>, Vec<Event>) {
    let (mut tx, mut ev) = (Vec::new(), Vec::new());
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(t) => tx.push(t),
            Output::Event(e) => ev.push(e),
            _ => {}
        }
    }
    (tx, ev)
}

const UDP: &str = "127.0.0.1:5060";
const TLS: &str = "127.0.0.1:5061";
const NEXT: &str = "127.0.0.4:5060";

fn element(faults: Faults) -> Sbe {
    let mut cfg = SbeConfig::new(
        a(UDP),
        vec!["127.0.0.2".parse().unwrap(), "127.0.0.7".parse().unwrap()],
        a(NEXT),
    );
    cfg.tls_local = Some(a(TLS));
    cfg.tls_required = vec!["127.0.0.7".parse().unwrap()];
    cfg.faults = faults;
    Sbe::new(cfg)
}

/// What one request from `remote` over `transport` came to: the status
/// the element answered itself, and whether it was relayed.
fn send(s: &mut Sbe, remote: &str, transport: Transport, branch: &str) -> (Option<u16>, bool) {
    let local = if transport == Transport::Tls {
        a(TLS)
    } else {
        a(UDP)
    };
    let path = Path {
        local,
        remote: a(remote),
        transport,
    };
    let req = options(branch, &format!("{} {remote}", transport.via_token()));
    let now = Instant::now();
    match transport {
        Transport::Udp => s.handle_input(now, Input::Datagram { path, bytes: &req }),
        _ => s.handle_input(
            now,
            Input::StreamData {
                path,
                bytes: &req,
                closed: false,
            },
        ),
    }
    let (tx, _) = outputs(s);
    let relayed = tx.iter().any(|t| t.path.remote == a(NEXT));
    let answer = tx
        .iter()
        .filter(|t| t.path == path)
        .find_map(|t| Message::parse(&t.bytes).ok().and_then(|m| m.status()));
    (answer, relayed)
}

#[test]
fn a_peer_required_to_use_tls_is_refused_in_the_clear_and_relayed_over_tls() {
    let mut s = element(Faults::NONE);
    let tls_peer = "127.0.0.7:40000";
    assert_eq!(
        send(&mut s, tls_peer, Transport::Udp, "z9hG4bKu1"),
        (Some(403), false)
    );
    assert_eq!(
        send(&mut s, tls_peer, Transport::Tcp, "z9hG4bKt1"),
        (Some(403), false)
    );
    assert_eq!(
        send(&mut s, tls_peer, Transport::Tls, "z9hG4bKs1"),
        (None, true)
    );
    // A retransmission over UDP gets the same 403, not a second look.
    assert_eq!(
        send(&mut s, tls_peer, Transport::Udp, "z9hG4bKu1"),
        (Some(403), false)
    );
    // Other peers keep UDP.
    assert_eq!(
        send(&mut s, "127.0.0.2:5060", Transport::Udp, "z9hG4bKo1"),
        (None, true)
    );
}

#[test]
fn the_allow_plaintext_fault_relays_in_the_clear() {
    let mut s = element(Faults::only(Fault::AllowPlaintext));
    assert_eq!(
        send(&mut s, "127.0.0.7:40000", Transport::Udp, "z9hG4bKu1"),
        (None, true)
    );
}

// Outbound TLS (RFC 3261 §26.2.2, RFC 5922 §7.2, RFC 5923 §4).

use speermint_sbe::{Command, Hop, Resolved};

const INSIDE: &str = "127.0.0.4:5060";

fn resolving(outbound_tls: bool, faults: Faults) -> Sbe {
    let mut cfg = SbeConfig::new(a(UDP), vec!["127.0.0.2".parse().unwrap()], a(INSIDE));
    cfg.tls_local = Some(a(TLS));
    cfg.tcp_local = Some(a(UDP));
    cfg.resolve_names = true;
    cfg.outbound_tls = outbound_tls;
    cfg.faults = faults;
    Sbe::new(cfg)
}

fn invite(branch: &str, ruri: &str) -> Vec<u8> {
    MessageBuilder::request("INVITE", ruri)
        .header("Via", format!("SIP/2.0/UDP {INSIDE};branch={branch}"))
        .header("Max-Forwards", 70)
        .header("From", "<sip:carol@ssp.example>;tag=77")
        .header("To", format!("<{ruri}>"))
        .header("Call-ID", format!("{branch}@inside"))
        .header("CSeq", "1 INVITE")
        .build()
}

fn tls_hop(addr: &str) -> Hop {
    Hop {
        transport: Transport::Tls,
        addr: a(addr),
    }
}

/// Everything the element did: transmits, connections asked for, and
/// the final status sent back inside.
#[derive(Debug, Default)]
struct Seen {
    tx: Vec<Transmit>,
    connects: Vec<(Path, Option<String>)>,
    resolve: Vec<u64>,
}

fn seen(s: &mut Sbe) -> Seen {
    let mut v = Seen::default();
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(t) => v.tx.push(t),
            Output::Event(Event::Connect { path, server_name }) => {
                v.connects.push((path, server_name))
            }
            Output::Event(Event::Resolve { id, .. }) => v.resolve.push(id),
            _ => {}
        }
    }
    v
}

impl Seen {
    fn final_inside(&self) -> Option<(u16, String)> {
        self.tx
            .iter()
            .filter(|t| t.path.remote == a(INSIDE))
            .filter_map(|t| Message::parse(&t.bytes).ok())
            .filter_map(|m| {
                let s = m.status()?;
                let line = String::from_utf8_lossy(m.as_bytes())
                    .lines()
                    .next()?
                    .to_owned();
                (s >= 200).then_some((s, line))
            })
            .next()
    }
}

/// Sends a call for `ruri` from inside and answers its lookup with `hops`.
fn call(s: &mut Sbe, branch: &str, ruri: &str, target: &str, hops: Vec<Hop>) -> Seen {
    let now = Instant::now();
    s.handle_datagram(now, a(INSIDE), &invite(branch, ruri));
    let asked = seen(s);
    assert_eq!(asked.resolve.len(), 1);
    s.on_resolved(
        now,
        asked.resolve[0],
        Ok(Resolved {
            target_uri: target.into(),
            hops,
        }),
    );
    seen(s)
}

#[test]
fn a_sips_target_goes_over_a_tls_connection_checked_for_its_domain_and_reused() {
    let mut s = resolving(true, Faults::NONE);
    let hops = vec![Hop::udp(a("127.0.0.2:5060")), tls_hop("127.0.0.8:5061")];
    let v = call(
        &mut s,
        "z9hG4bKs1",
        "sips:bob@peer.example",
        "sips:bob@peer.example",
        hops.clone(),
    );
    let tls = Path {
        local: a(TLS),
        remote: a("127.0.0.8:5061"),
        transport: Transport::Tls,
    };
    assert_eq!(v.connects, [(tls, Some("peer.example".to_owned()))]);
    let out: Vec<_> = v.tx.iter().filter(|t| t.path.remote != a(INSIDE)).collect();
    assert_eq!(out.len(), 1, "{v:?}");
    assert_eq!(out[0].path, tls, "never the UDP hop");
    let fwd = Message::parse(&out[0].bytes).unwrap();
    assert!(
        fwd.vias()
            .next()
            .unwrap()
            .transport
            .eq_ignore_ascii_case("TLS")
    );
    // A second call to the same hop and domain rides the same connection.
    let v = call(
        &mut s,
        "z9hG4bKs2",
        "sips:ann@peer.example",
        "sips:ann@peer.example",
        hops,
    );
    assert!(v.connects.is_empty(), "reused: {:?}", v.connects);
    assert!(v.tx.iter().any(|t| t.path == tls));
}

#[test]
fn a_failed_tls_connection_fails_over_then_fails_upstream_never_in_the_clear() {
    let mut s = resolving(true, Faults::NONE);
    let hops = vec![
        tls_hop("127.0.0.8:5061"),
        Hop::udp(a("127.0.0.2:5060")),
        tls_hop("127.0.0.9:5061"),
    ];
    let v = call(
        &mut s,
        "z9hG4bKf1",
        "sips:bob@peer.example",
        "sips:bob@peer.example",
        hops,
    );
    assert_eq!(v.connects.len(), 1);
    let first = v.connects[0].0;
    let now = Instant::now();
    let reason = "invalid peer certificate: NotValidForName".to_owned();
    s.handle_input(
        now,
        Input::Command(Command::ConnectFailed {
            path: first,
            reason: reason.clone(),
        }),
    );
    let v = seen(&mut s);
    // RFC 3263 §4.3: the next TLS hop, not the UDP one.
    assert_eq!(v.connects.len(), 1);
    let second = v.connects[0].0;
    assert_eq!(second.remote, a("127.0.0.9:5061"));
    assert!(
        v.tx.iter()
            .all(|t| t.path.transport == Transport::Tls || t.path.remote == a(INSIDE))
    );
    s.handle_input(
        now,
        Input::Command(Command::ConnectFailed {
            path: second,
            reason,
        }),
    );
    let v = seen(&mut s);
    assert!(v.connects.is_empty());
    let (status, line) = v.final_inside().expect("a final response inside");
    assert_eq!(status, 502, "{line}");
    assert!(
        line.contains("TLS to peer.example") && line.contains("NotValidForName"),
        "{line}"
    );
    assert!(v.tx.iter().all(|t| t.path.remote == a(INSIDE)), "{v:?}");
}

#[test]
fn a_sip_target_whose_first_hop_is_tls_goes_over_tls_and_without_outbound_tls_sips_is_502() {
    let mut s = resolving(true, Faults::NONE);
    let hops = vec![tls_hop("127.0.0.8:5061"), Hop::udp(a("127.0.0.2:5060"))];
    let v = call(
        &mut s,
        "z9hG4bKp1",
        "sip:bob@peer.example",
        "sip:bob@peer.example",
        hops.clone(),
    );
    assert_eq!(v.connects.len(), 1);
    let mut s = resolving(false, Faults::NONE);
    let v = call(
        &mut s,
        "z9hG4bKp2",
        "sips:bob@peer.example",
        "sips:bob@peer.example",
        hops.clone(),
    );
    assert!(v.connects.is_empty());
    assert_eq!(v.final_inside().map(|f| f.0), Some(502));
    assert!(v.tx.iter().all(|t| t.path.remote == a(INSIDE)));
    // Without outbound TLS a sip: target takes its UDP hop, as before.
    let v = call(
        &mut s,
        "z9hG4bKp3",
        "sip:bob@peer.example",
        "sip:bob@peer.example",
        hops,
    );
    assert!(v.tx.iter().any(|t| t.path.remote == a("127.0.0.2:5060")));
}

#[test]
fn the_downgrade_sips_fault_resends_over_plain_tcp() {
    let mut s = resolving(true, Faults::only(Fault::DowngradeSips));
    let hops = vec![tls_hop("127.0.0.8:5061")];
    let v = call(
        &mut s,
        "z9hG4bKd1",
        "sips:bob@peer.example",
        "sips:bob@peer.example",
        hops,
    );
    let path = v.connects[0].0;
    let failed = Command::ConnectFailed {
        path,
        reason: "refused".into(),
    };
    s.handle_input(Instant::now(), Input::Command(failed));
    let v = seen(&mut s);
    assert_eq!(v.connects.len(), 1);
    assert_eq!(
        (v.connects[0].0.transport, v.connects[0].1.clone()),
        (Transport::Tcp, None)
    );
    assert!(v.tx.iter().any(|t| t.path.transport == Transport::Tcp));
}
