//! The RFC 6405 VoIP peering use cases, one scenario each: static direct
//! (§5.2), static direct with an assisting LUF/LRF (§5.3), static indirect
//! with an assisting LUF/LRF (§5.4), static indirect (§5.5) and on-demand,
//! direct and indirect (§5.6).
//!
//! Each assembles its own multi-SSP topology of reference SBEs and DNS
//! (`speermint_harness::peering`) on the run's network, with the embedded
//! stack's faults. The harness plays the O-SSP's UAC (its O-Proxy folded
//! in: it sends the number as a `tel:` URI to its O-SBE), the T-SSP's UAS
//! (the T-SBE's inside) and an outsider. A scenario passes when
//! - the call reaches the UAS through exactly the SBEs of its use case, in
//!   order (their Via entries), having asked the LUF the use case names;
//! - the ACK and BYE follow the Record-Route through the same SBEs, and the
//!   BYE is answered;
//! - the T-SSP refuses what the use case says it must: an SSP it has no
//!   pre-association with (static peering, RFC 6405 §5.2), the O-SSP
//!   sending directly when the two only peer through an I-SSP (§5.5.1), or
//!   an impostor claiming another SSP's SBE (on-demand, §5.6.2).
//!
//! The ladder in the evidence shows every element's messages: the roles'
//! as they sent and received them, each SBE's to other SBEs and the DNS
//! answers, from the elements' own records.

use speermint_harness::ctx::sip_hostport;
use speermint_harness::peering::{self, EnumTree, PUBLIC_ENUM, SspConfig, TopologyConfig};
use speermint_harness::role::{Received, Role};
use speermint_harness::{Capability, Check, Ctx, Level, Outcome, Ref};
use speermint_sbe::Fault;
use speermint_sip::{HeaderName, Message, MessageBuilder};
use std::net::SocketAddr;

/// What every use case needs: the topology is assembled by the harness,
/// and its elements and roles talk UDP whatever transport the run gives
/// the IUT, so over a stream the verdict would say nothing about it.
const NEEDS: &[Capability] = &[Capability::PeeringTopology, Capability::Udp];

const NUMBER: &str = "+19175550100";
const CALLER: &str = "+14085550101";
/// The O-SSP's own ENUM tree (its internal LUF).
const OWN_LUF: &str = "e164.example.com";
/// The assisting LUF/LRF provider's tree.
const ASSISTING_LUF: &str = "e164.lufprovider.example";

pub(crate) const STATIC_DIRECT: Check = Check {
    id: "rfc6405-static-direct",
    title: "static direct peering: a call crosses from the O-SBE to the T-SBE found by the O-SSP's own LUF and LRF; an SSP without pre-association is refused",
    covers: &[Ref::Rfc6405("5.2")],
    level: Level::Must,
    requirement: "Two SSPs with a pre-association peer directly: the O-SSP finds the T-SSP's SBE through its LUF (ENUM) and LRF (RFC 3263), the call and its dialog cross the two SBEs, and the T-SSP accepts traffic from the trusted peer only (RFC 6405 §5.2).",
    fails_under: &[Fault::AcceptStrangers],
    needs: NEEDS,
    scenario: |ctx| Box::pin(run(ctx, UseCase::StaticDirect)),
};

pub(crate) const STATIC_DIRECT_ASSISTED: Check = Check {
    id: "rfc6405-static-direct-assisted",
    title: "static direct peering with an assisting LUF/LRF: the O-SBE finds the T-SSP in the provider's ENUM tree, then calls it directly",
    covers: &[Ref::Rfc6405("5.3")],
    level: Level::Must,
    requirement: "An O-SSP using an assisting LUF/LRF provider gets the T-SSP's SED from the provider, and still reaches the T-SSP only over their pre-arranged peering (RFC 6405 §5.3).",
    fails_under: &[Fault::IgnoreAssistingLuf, Fault::AcceptStrangers],
    needs: NEEDS,
    scenario: |ctx| Box::pin(run(ctx, UseCase::StaticDirectAssisted)),
};

pub(crate) const STATIC_INDIRECT_ASSISTED: Check = Check {
    id: "rfc6405-static-indirect-assisted",
    title: "static indirect peering with an assisting LUF/LRF: the provider's ENUM leads to the I-SSP, whose SBE carries the call and its dialog to the T-SSP",
    covers: &[Ref::Rfc6405("5.4")],
    level: Level::Must,
    requirement: "With no direct Layer 5 connectivity, the O-SSP reaches the T-SSP through an I-SSP its assisting LUF/LRF provider points to; the I-SSP stays in the signalling path (RFC 6405 §5.4, §5.5.1).",
    fails_under: &[
        Fault::IgnoreAssistingLuf,
        Fault::NoRecordRoute,
        Fault::AcceptStrangers,
    ],
    needs: NEEDS,
    scenario: |ctx| Box::pin(run(ctx, UseCase::StaticIndirectAssisted)),
};

pub(crate) const STATIC_INDIRECT: Check = Check {
    id: "rfc6405-static-indirect",
    title: "static indirect peering: the O-SSP's own LUF routes through the I-SSP, which record-routes; the T-SSP refuses the O-SSP sending directly",
    covers: &[Ref::Rfc6405("5.5")],
    level: Level::Must,
    requirement: "The O-SSP's internal LUF/LRF sends the call to the I-SSP, which must record-route and stay in the signalling path; the T-SSP does not accept messages sent directly from the O-SSP (RFC 6405 §5.5.1).",
    fails_under: &[Fault::NoRecordRoute, Fault::AcceptStrangers],
    needs: NEEDS,
    scenario: |ctx| Box::pin(run(ctx, UseCase::StaticIndirect)),
};

pub(crate) const ON_DEMAND_DIRECT: Check = Check {
    id: "rfc6405-on-demand-direct",
    title: "on-demand direct peering: a T-SBE with no pre-association admits the O-SSP found through public ENUM once DNS ties the O-SBE's name to its address; an impostor is refused",
    covers: &[Ref::Rfc6405("5.6")],
    level: Level::Must,
    requirement: "Without a pre-arranged agreement the T-SSP accepts a call whose SED the O-SSP found in public data, and protects itself from untrusted O-SSPs (RFC 6405 §5.6, §5.6.2): here by admitting only a sender whose name leads to its address.",
    fails_under: &[Fault::UnverifiedOnDemand],
    needs: NEEDS,
    scenario: |ctx| Box::pin(run(ctx, UseCase::OnDemandDirect)),
};

pub(crate) const ON_DEMAND_INDIRECT: Check = Check {
    id: "rfc6405-on-demand-indirect",
    title: "on-demand indirect peering: the I-SSP carries the call to a T-SSP it has no pre-association with, which admits the I-SBE by its name in DNS",
    covers: &[Ref::Rfc6405("5.6")],
    level: Level::Must,
    requirement: "An I-SSP reaches a T-SSP on demand: the T-SSP accepts the I-SSP without a pre-arranged agreement once it can tell who it is, refuses an impostor, and the I-SSP stays in the path (RFC 6405 §5.6, §5.5.1).",
    fails_under: &[Fault::UnverifiedOnDemand, Fault::NoRecordRoute],
    needs: NEEDS,
    scenario: |ctx| Box::pin(run(ctx, UseCase::OnDemandIndirect)),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UseCase {
    StaticDirect,
    StaticDirectAssisted,
    StaticIndirectAssisted,
    StaticIndirect,
    OnDemandDirect,
    OnDemandIndirect,
}

/// Who the T-SSP must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outsider {
    /// An SSP it has no pre-association with, sending from its own SBE.
    Unassociated,
    /// The O-SSP sending straight to it (its O-SBE steered by a Route).
    DirectFromOrigin,
    /// Someone sending from another address under the name of the SBE
    /// the T-SSP admits on demand.
    Impostor,
}

impl UseCase {
    fn indirect(self) -> bool {
        matches!(
            self,
            UseCase::StaticIndirectAssisted | UseCase::StaticIndirect | UseCase::OnDemandIndirect
        )
    }

    fn on_demand(self) -> bool {
        matches!(self, UseCase::OnDemandDirect | UseCase::OnDemandIndirect)
    }

    /// The ENUM tree the O-SBE must ask.
    fn luf(self) -> &'static str {
        match self {
            UseCase::StaticDirect | UseCase::StaticIndirect => OWN_LUF,
            UseCase::StaticDirectAssisted | UseCase::StaticIndirectAssisted => ASSISTING_LUF,
            UseCase::OnDemandDirect | UseCase::OnDemandIndirect => PUBLIC_ENUM,
        }
    }

    fn outsider(self) -> Outsider {
        match self {
            UseCase::StaticDirect | UseCase::StaticDirectAssisted => Outsider::Unassociated,
            UseCase::StaticIndirectAssisted | UseCase::StaticIndirect => Outsider::DirectFromOrigin,
            UseCase::OnDemandDirect | UseCase::OnDemandIndirect => Outsider::Impostor,
        }
    }

    /// The SSPs the call crosses, in order.
    fn path(self) -> &'static [&'static str] {
        if self.indirect() {
            &["o-ssp", "i-ssp", "t-ssp"]
        } else {
            &["o-ssp", "t-ssp"]
        }
    }

    /// The topology, with the harness's UAC and UAS as the O-SSP's and
    /// the T-SSP's insides. Trees other than the one the use case names
    /// lead somewhere the call must not go, so that asking the wrong one
    /// shows.
    fn topology(self, uac: SocketAddr, uas: SocketAddr) -> TopologyConfig {
        let at = |ip: [u8; 4]| SocketAddr::from((ip, 0));
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let first_hop = if self.indirect() {
            "example.org"
        } else {
            "example.net"
        };
        let (o_peers, t_peers, i_peers): (&[&str], &[&str], &[&str]) = match self {
            UseCase::StaticDirect | UseCase::StaticDirectAssisted => (&["t-ssp"], &["o-ssp"], &[]),
            UseCase::StaticIndirectAssisted | UseCase::StaticIndirect => {
                (&["i-ssp"], &["i-ssp"], &["o-ssp"])
            }
            UseCase::OnDemandDirect => (&[], &[], &[]),
            UseCase::OnDemandIndirect => (&["i-ssp"], &[], &["o-ssp"]),
        };
        let mut ssps = vec![
            SspConfig {
                name: "o-ssp".into(),
                domain: "example.com".into(),
                sbe: at([127, 66, 10, 1]),
                inside: Some(uac),
                transit_to: None,
                peers: names(o_peers),
                on_demand: false,
                luf: self.luf().into(),
            },
            SspConfig {
                name: "t-ssp".into(),
                domain: "example.net".into(),
                sbe: at([127, 66, 30, 1]),
                inside: Some(uas),
                transit_to: None,
                peers: names(t_peers),
                on_demand: self.on_demand(),
                luf: PUBLIC_ENUM.into(),
            },
        ];
        if self.indirect() {
            ssps.push(SspConfig {
                name: "i-ssp".into(),
                domain: "example.org".into(),
                sbe: at([127, 66, 20, 1]),
                inside: None,
                transit_to: Some("t-ssp".into()),
                peers: names(i_peers),
                on_demand: false,
                luf: PUBLIC_ENUM.into(),
            });
        }
        // The use case's tree leads to the first hop; the others to a
        // domain nobody serves, except the O-SSP's own in the assisted
        // cases, which leads straight to the T-SSP: the route the O-SSP
        // would take if it ignored its provider.
        let entry = |apex: &str, operator: Option<&str>| {
            let domain = if apex == self.luf() {
                first_hop
            } else if operator.is_some() {
                "example.net"
            } else {
                "nowhere.example"
            };
            let numbers = if apex == OWN_LUF && self == UseCase::StaticDirectAssisted {
                Vec::new()
            } else {
                vec![(NUMBER.to_owned(), domain.to_owned())]
            };
            EnumTree {
                apex: apex.into(),
                operator: operator.map(str::to_owned),
                numbers,
            }
        };
        TopologyConfig {
            dns: [at([127, 66, 0, 53]), at([127, 66, 0, 54])],
            ssps,
            enum_trees: vec![
                entry(OWN_LUF, Some("o-ssp")),
                entry(ASSISTING_LUF, None),
                entry(PUBLIC_ENUM, None),
            ],
        }
    }
}

/// A role of the scenario on the run's network, logging to its evidence.
async fn role(ctx: &Ctx, name: &'static str, ip: [u8; 4]) -> Option<Role> {
    Role::bind(&ctx.net, name, SocketAddr::from((ip, 0)), ctx.log.clone())
        .await
        .ok()
}

async fn run(ctx: &mut Ctx, case: UseCase) -> Outcome {
    let Some(faults) = ctx.reference_faults else {
        return Outcome::inconclusive(
            "the run has no reference stack to assemble the topology from",
        );
    };
    let (Some(mut uac), Some(mut uas), Some(mut outsider)) = (
        role(ctx, "o-uac", [127, 66, 10, 2]).await,
        role(ctx, "t-uas", [127, 66, 30, 2]).await,
        role(ctx, "x-sbe", [127, 66, 40, 1]).await,
    ) else {
        return Outcome::inconclusive("the scenario's roles could not bind their addresses");
    };
    let cfg = case.topology(uac.addr(), uas.addr());
    let topo = match peering::start(&ctx.net, &cfg, faults).await {
        Ok(t) => t,
        Err(e) => return Outcome::inconclusive(format!("the topology did not start: {e}")),
    };
    let cast: Vec<String> = topo
        .lines()
        .into_iter()
        .chain([
            format!("o-uac udp:{} (the O-SSP's UAC and O-Proxy)", uac.addr()),
            format!("t-uas udp:{} (the T-SSP's T-Proxy and UAS)", uas.addr()),
            format!("x-sbe udp:{} (outside every agreement)", outsider.addr()),
        ])
        .collect();
    ctx.log.note("topology", cast.join("; "));
    topo.log_to(&ctx.log);
    let mut scene = Scene {
        ctx,
        topo: &topo,
        case,
    };
    let verdict = scene.call(&mut uac, &mut uas).await;
    let verdict = match verdict {
        Ok(call) => scene
            .refuse(&mut uac, &mut uas, &mut outsider)
            .await
            .map(|r| (call, r)),
        Err(e) => Err(e),
    };
    let answers = topo.add_dns_answers(&ctx.log);
    topo.stop().await;
    let (call, refusal) = match verdict {
        Ok(v) => v,
        Err(why) => return why,
    };
    // The O-SBE asked the LUF the use case names (RFC 6405 §4, peer
    // discovery): DNS answered a NAPTR under its apex. Only the O-SBE
    // looks numbers up here; the others route by name or next hop.
    let asked = |apex: &str| {
        answers
            .iter()
            .any(|line| line.contains(&format!(".{apex}. NAPTR")) && !line.contains("(0 records)"))
    };
    if !asked(case.luf()) {
        let other = [OWN_LUF, ASSISTING_LUF, PUBLIC_ENUM]
            .into_iter()
            .find(|a| asked(a))
            .map_or("none".to_owned(), str::to_owned);
        return Outcome::fail(format!(
            "the O-SBE did not find {NUMBER} in the LUF of this use case ({}); it asked: {other}",
            case.luf()
        ));
    }
    Outcome::pass(format!(
        "{call}; the O-SBE found {NUMBER} under {} (ENUM) and its SBE by RFC 3263; {refusal}",
        case.luf()
    ))
}

struct Scene<'a> {
    ctx: &'a mut Ctx,
    topo: &'a peering::RunningTopology,
    case: UseCase,
}

impl Scene<'_> {
    fn sbe(&self, name: &str) -> SocketAddr {
        self.topo
            .sbe(name)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9)))
    }

    /// The SBE names the Via of a request the UAS received shows, oldest
    /// hop first, without the UAC's own.
    fn crossed(msg: &Message<'_>) -> Vec<String> {
        let mut hosts: Vec<String> = msg
            .vias()
            .map(|v| v.host.to_string())
            .filter(|h| h.starts_with("sbe."))
            .collect();
        hosts.reverse();
        hosts
    }

    fn expected(&self) -> Vec<String> {
        self.case
            .path()
            .iter()
            .filter_map(|n| self.topo.config.ssp(n))
            .map(|s| format!("sbe.{}", s.domain))
            .collect()
    }

    /// Places the call, answers it, ACKs and hangs up: the dialog must
    /// cross the use case's SBEs each time.
    async fn call(&mut self, uac: &mut Role, uas: &mut Role) -> Result<String, Outcome> {
        let wait = self.ctx.timing.response;
        let o_sbe = self.sbe("o-ssp");
        let t_sbe = self.sbe("t-ssp");
        let t = self.ctx.token();
        let me = sip_hostport(uac.addr());
        let cid = format!("{t}@example.com");
        let ruri = format!("tel:{NUMBER}");
        let invite = MessageBuilder::request("INVITE", &ruri)
            .header("Via", format!("SIP/2.0/UDP {me};branch=z9hG4bK{t};rport"))
            .header("Max-Forwards", 70)
            .header("From", format!("<sip:{CALLER}@example.com>;tag=f{t}"))
            .header("To", format!("<{ruri}>"))
            .header("Call-ID", &cid)
            .header("CSeq", "1 INVITE")
            .header("Contact", format!("<sip:alice@{me}>"))
            .build();
        uac.send(o_sbe, &invite).await;
        let is = |method: &'static str, cid: String| {
            move |r: &Received| {
                r.msg().is_some_and(|m| {
                    m.is_request() && m.method() == method && m.core().call_id == cid
                })
            }
        };
        let final_for = |method: &'static str, cid: String| {
            move |r: &Received| {
                r.status().is_some_and(|s| s >= 200)
                    && r.msg()
                        .is_some_and(|m| m.core().call_id == cid && m.core().cseq.method == method)
            }
        };
        let Some(inv) = uas.recv_matching(wait, is("INVITE", cid.clone())).await else {
            let got = uac
                .recv_matching(wait, final_for("INVITE", cid.clone()))
                .await;
            let got = got.map_or("nothing".to_owned(), |r| r.summary());
            return Err(Outcome::fail(format!(
                "the call to {ruri} never reached the T-SSP's UAS; the UAC got {got}"
            )));
        };
        let Some(m) = inv.msg() else {
            return Err(Outcome::fail("the INVITE at the UAS did not parse"));
        };
        let crossed = Self::crossed(&m);
        let expected = self.expected();
        if inv.from != t_sbe || crossed != expected {
            return Err(Outcome::fail(format!(
                "the INVITE reached the UAS from {} having crossed [{}]; this use case crosses [{}]",
                self.topo
                    .element_at(inv.from)
                    .unwrap_or_else(|| inv.from.to_string()),
                crossed.join(", "),
                expected.join(", ")
            )));
        }
        // The UAS answers; the dialog's route set is what the SBEs
        // recorded (RFC 3261 §12.1.1).
        let ok = {
            let mut b = MessageBuilder::response_to(&m, 200, "OK", Some(&format!("t{t}")));
            for rr in m.values(HeaderName::RecordRoute) {
                b = b.header("Record-Route", rr);
            }
            b.header("Contact", format!("<sip:bob@{}>", sip_hostport(uas.addr())))
                .build()
        };
        uas.send(inv.from, &ok).await;
        let Some(answer) = uac
            .recv_matching(wait, final_for("INVITE", cid.clone()))
            .await
        else {
            return Err(Outcome::fail("the UAS's 200 OK never came back to the UAC"));
        };
        if answer.status() != Some(200) {
            return Err(Outcome::fail(format!(
                "the UAC got {} instead of the UAS's 200 OK",
                answer.summary()
            )));
        }
        let Some(ack) = in_dialog(&invite, &answer, "ACK", 1, uac.addr(), &self.ctx.token()) else {
            return Err(Outcome::fail("the 200 OK at the UAC did not parse"));
        };
        uac.send(o_sbe, &ack).await;
        let acked = uas.recv_matching(wait, is("ACK", cid.clone())).await;
        let Some(bye) = in_dialog(&invite, &answer, "BYE", 2, uac.addr(), &self.ctx.token()) else {
            return Err(Outcome::fail("the 200 OK at the UAC did not parse"));
        };
        uac.send(o_sbe, &bye).await;
        let Some(got_bye) = uas.recv_matching(wait, is("BYE", cid.clone())).await else {
            let got = uac.recv_matching(wait, final_for("BYE", cid.clone())).await;
            let got = got.map_or("nothing".to_owned(), |r| r.summary());
            return Err(Outcome::fail(format!(
                "the BYE never reached the UAS through the SBEs on the dialog's route ({}); the UAC got {got}",
                route_of(&answer)
            )));
        };
        if let Some(b) = got_bye.msg() {
            let resp = MessageBuilder::response_to(&b, 200, "OK", None).build();
            uas.send(got_bye.from, &resp).await;
        }
        let bye_crossed = got_bye.msg().map(|b| Self::crossed(&b)).unwrap_or_default();
        if got_bye.from != t_sbe || bye_crossed != expected {
            return Err(Outcome::fail(format!(
                "the BYE reached the UAS from {} having crossed [{}]: the dialog left the SBEs of the call [{}]",
                self.topo
                    .element_at(got_bye.from)
                    .unwrap_or_else(|| got_bye.from.to_string()),
                bye_crossed.join(", "),
                expected.join(", ")
            )));
        }
        let bye_ok = uac.recv_matching(wait, final_for("BYE", cid.clone())).await;
        if bye_ok.as_ref().and_then(Received::status) != Some(200) {
            return Err(Outcome::fail(format!(
                "the UAS's 200 to the BYE did not come back to the UAC ({})",
                bye_ok.map_or("nothing came".to_owned(), |r| r.summary())
            )));
        }
        if acked.is_none() {
            return Err(Outcome::fail(
                "the ACK for the 200 OK never reached the UAS",
            ));
        }
        Ok(format!(
            "the call to {NUMBER} crossed {}, and its ACK and BYE followed",
            self.case.path().join(" -> ")
        ))
    }

    /// What the T-SSP must refuse.
    async fn refuse(
        &mut self,
        uac: &mut Role,
        uas: &mut Role,
        outsider: &mut Role,
    ) -> Result<String, Outcome> {
        let wait = self.ctx.timing.response;
        let t_sbe = self.sbe("t-ssp");
        let t = self.ctx.token();
        let cid = format!("{t}@outside");
        let ruri = format!("sip:{NUMBER}@example.net");
        let base = |via: String, from_domain: &str| {
            MessageBuilder::request("INVITE", &ruri)
                .header("Via", via)
                .header("Max-Forwards", 70)
                .header("From", format!("<sip:{CALLER}@{from_domain}>;tag=x{t}"))
                .header("To", format!("<{ruri}>"))
                .header("Call-ID", &cid)
                .header("CSeq", "1 INVITE")
        };
        let out = outsider.addr();
        let (sender, what, sent, sent_to): (&mut Role, String, Vec<u8>, SocketAddr) =
            match self.case.outsider() {
                Outsider::Unassociated => {
                    let inv = base(
                        format!("SIP/2.0/UDP {};branch=z9hG4bKx{t};rport", sip_hostport(out)),
                        "example.info",
                    )
                    .header("Contact", format!("<sip:eve@{}>", sip_hostport(out)))
                    .build();
                    outsider.send(t_sbe, &inv).await;
                    (
                        outsider,
                        "an SSP it has no pre-association with".to_owned(),
                        inv,
                        t_sbe,
                    )
                }
                Outsider::Impostor => {
                    // The name of the SBE the T-SBE admits on demand, from
                    // another address.
                    let (ssp, domain) = if self.case.indirect() {
                        ("i-ssp", "example.org")
                    } else {
                        ("o-ssp", "example.com")
                    };
                    let port = self.sbe(ssp).port();
                    let inv = base(
                        format!("SIP/2.0/UDP sbe.{domain}:{port};branch=z9hG4bKx{t};rport"),
                        "example.com",
                    )
                    .header("Contact", format!("<sip:eve@{}>", sip_hostport(out)))
                    .build();
                    outsider.send(t_sbe, &inv).await;
                    (
                        outsider,
                        format!("a sender at {} claiming to be sbe.{domain}", out.ip()),
                        inv,
                        t_sbe,
                    )
                }
                Outsider::DirectFromOrigin => {
                    // The UAC steers its O-SBE straight at the T-SBE (loose
                    // routing, RFC 3261 §16.12): the O-SSP sending directly.
                    let me = sip_hostport(uac.addr());
                    let inv = base(
                        format!("SIP/2.0/UDP {me};branch=z9hG4bKx{t};rport"),
                        "example.com",
                    )
                    .header(
                        "Route",
                        format!("<sip:sbe.example.net:{};lr>", t_sbe.port()),
                    )
                    .header("Contact", format!("<sip:alice@{me}>"))
                    .build();
                    let o_sbe = self.sbe("o-ssp");
                    uac.send(o_sbe, &inv).await;
                    (
                        uac,
                        "the O-SSP sending directly, around the I-SSP".to_owned(),
                        inv,
                        o_sbe,
                    )
                }
            };
        let c = cid.clone();
        let answer = sender
            .recv_matching(wait, move |r| {
                r.status().is_some_and(|s| s >= 200)
                    && r.msg().is_some_and(|m| m.core().call_id == c)
            })
            .await;
        // A non-2xx final is acknowledged hop by hop (RFC 3261 §17.1.1.3),
        // or the T-SSP retransmits it.
        if let Some(ack) = answer.as_ref().and_then(|r| ack_failure(&sent, r)) {
            sender.send(sent_to, &ack).await;
        }
        let c = cid.clone();
        let reached = uas
            .recv_matching(self.ctx.timing.silence, move |r| {
                r.msg().is_some_and(|m| m.core().call_id == c)
            })
            .await;
        if let Some(r) = reached {
            if let Some(m) = r.msg() {
                let resp =
                    MessageBuilder::response_to(&m, 480, "Temporarily Unavailable", Some("x"))
                        .build();
                uas.send(r.from, &resp).await;
            }
            return Err(Outcome::fail(format!(
                "the T-SSP let through {what}: its INVITE reached the UAS from {}",
                self.topo
                    .element_at(r.from)
                    .unwrap_or_else(|| r.from.to_string())
            )));
        }
        match answer.as_ref().and_then(Received::status) {
            Some(403) => Ok(format!(
                "the T-SSP refused {what} ({})",
                answer.map(|r| r.summary()).unwrap_or_default()
            )),
            _ => Err(Outcome::fail(format!(
                "the T-SSP did not refuse {what} with 403; the sender got {}",
                answer.map_or("nothing".to_owned(), |r| r.summary())
            ))),
        }
    }
}

/// The ACK for a non-2xx final response to `invite`: same branch, its To
/// tag (RFC 3261 §17.1.1.3).
fn ack_failure(invite: &[u8], resp: &Received) -> Option<Vec<u8>> {
    let inv = Message::parse(invite).ok()?;
    let r = resp.msg()?;
    let mut b = MessageBuilder::request("ACK", inv.request_uri()?.raw())
        .header("Via", inv.core().via.raw)
        .header("Max-Forwards", 70)
        .header("From", inv.core().from.raw)
        .header("To", r.core().to.raw)
        .header("Call-ID", inv.core().call_id)
        .header("CSeq", format!("{} ACK", inv.core().cseq.seq));
    for route in inv.values(HeaderName::Route) {
        b = b.header("Route", route);
    }
    Some(b.build())
}

/// The route set a 200 OK gives the UAC, for reasons.
fn route_of(answer: &Received) -> String {
    let Some(m) = answer.msg() else {
        return String::new();
    };
    let rr: Vec<&str> = m.values(HeaderName::RecordRoute).collect();
    if rr.is_empty() {
        "no Record-Route: straight to the UAS's Contact".into()
    } else {
        format!("Record-Route {}", rr.join(", "))
    }
}

/// An in-dialog request from the UAC (RFC 3261 §12.2.1.1): to the remote
/// Contact, through the route set, the Record-Route in reverse.
fn in_dialog(
    invite: &[u8],
    answer: &Received,
    method: &str,
    seq: u32,
    me: SocketAddr,
    token: &str,
) -> Option<Vec<u8>> {
    let inv = Message::parse(invite).ok()?;
    let r = answer.msg()?;
    let target = r
        .name_addrs(HeaderName::Contact)
        .next()
        .map(|c| c.uri.raw().to_owned())?;
    let mut b = MessageBuilder::request(method, &target)
        .header(
            "Via",
            format!(
                "SIP/2.0/UDP {};branch=z9hG4bK{token}{method};rport",
                sip_hostport(me)
            ),
        )
        .header("Max-Forwards", 70)
        .header("From", inv.core().from.raw)
        .header("To", r.core().to.raw)
        .header("Call-ID", inv.core().call_id)
        .header("CSeq", format!("{seq} {method}"));
    let rr: Vec<&str> = r.values(HeaderName::RecordRoute).collect();
    for route in rr.iter().rev() {
        b = b.header("Route", route);
    }
    Some(b.build())
}
