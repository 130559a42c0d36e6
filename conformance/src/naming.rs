//! RFC 6271 #7: the host part of the SIP URIs an SSP puts on the wire
//! SHOULD be a fully qualified domain name, not an IP address, so that the
//! domain can key the peering policy and the element can move.

use crate::dialog::{call_id, in_dialog_from};
use speermint_harness::ctx::sip_hostport;
use speermint_harness::{Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_sbe::Fault;
use speermint_sip::{HeaderName, Host, Message, Uri};

pub(crate) const OWN_URIS_BY_NAME: Check = Check {
    id: "own-uris-by-name",
    title: "the IUT names itself by domain name, not IP address, in the Via, Record-Route and Contact it adds",
    covers: &[Ref::Rfc6271(7)],
    level: Level::Should,
    requirement: "The host part of SIP URIs should be a fully qualified domain name rather than a numeric IPv4 or IPv6 address (RFC 6271 #7).",
    fails_under: &[Fault::AddressInHeaders],
    needs: &[],
    scenario: |ctx| Box::pin(own_uris_by_name(ctx)),
};

/// The header values the IUT added: those the relayed request has and
/// the sent one had not.
fn added<'a>(sent: &Message<'_>, got: &Message<'a>, name: HeaderName) -> Vec<&'a str> {
    let before: Vec<&str> = sent.values(name).collect();
    got.values(name).filter(|v| !before.contains(v)).collect()
}

async fn own_uris_by_name(ctx: &mut Ctx) -> Outcome {
    let ruri = format!("sip:+15105550180@{}", sip_hostport(ctx.terminating.addr()));
    let inv = ctx.request(RoleId::Peer, "INVITE", &ruri).build();
    let cid = call_id(&inv);
    ctx.send_to_iut(RoleId::Peer, &inv).await;
    let Some(req) = ctx
        .expect_request(RoleId::Terminating, "INVITE", &cid)
        .await
    else {
        return Outcome::inconclusive(format!(
            "the INVITE was not relayed, so the IUT's headers could not be seen; the peer got {}",
            ctx.what_came(RoleId::Peer, &cid)
        ));
    };
    // Refuse the call so that nothing stays up.
    ctx.answer(RoleId::Terminating, &req, 486, "Busy Here", None)
        .await;
    if let Some(fin) = ctx.expect_final(RoleId::Peer, &cid, "INVITE").await {
        if let Some(ack) = in_dialog_from(ctx, RoleId::Peer, &inv, &fin, "ACK", true) {
            ctx.send_to_iut(RoleId::Peer, &ack).await;
        }
    }
    let (Ok(sent), Some(got)) = (Message::parse(&inv), req.msg()) else {
        return Outcome::inconclusive("the relayed INVITE did not parse");
    };
    let mut by_address = Vec::new();
    let mut by_name = Vec::new();
    // The IUT's own Via is the top one (RFC 3261 §16.6 step 8).
    let via = got.core().via;
    let via_text = format!("Via {}", via.raw.trim());
    if matches!(via.host, Host::Domain(_)) {
        by_name.push(via_text);
    } else {
        by_address.push(via_text);
    }
    for name in [HeaderName::RecordRoute, HeaderName::Contact] {
        for v in added(&sent, &got, name) {
            let text = format!("{} {v}", name.canonical());
            let host = speermint_sip::NameAddr::parse(v)
                .ok()
                .and_then(|na| match na.uri {
                    Uri::Sip(s) => Some(matches!(s.host, Host::Domain(_))),
                    _ => None,
                });
            match host {
                Some(true) => by_name.push(text),
                Some(false) => by_address.push(text),
                None => {}
            }
        }
    }
    if by_address.is_empty() {
        Outcome::pass(format!(
            "the IUT named itself by domain name: {}",
            by_name.join("; ")
        ))
    } else {
        Outcome::warn(format!(
            "the IUT named itself by address, where RFC 6271 #7 asks for a domain name: {}",
            by_address.join("; ")
        ))
    }
}
