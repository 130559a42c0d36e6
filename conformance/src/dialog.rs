//! In-dialog requests a UAC role sends after a final response: the ACK
//! (RFC 3261 §13.2.2.4, §17.1.1.3) and the BYE that ends a call, so that
//! every scenario leaves the IUT without live state.

use speermint_harness::ctx::sip_hostport;
use speermint_harness::role::Received;
use speermint_harness::{Ctx, RoleId};
use speermint_sip::{HeaderName, Message, MessageBuilder};

/// Builds a request inside the dialog established by `invite` and `resp`.
/// For an ACK to a non-2xx final, pass `same_branch = true` (same transaction).
pub(crate) fn in_dialog(
    ctx: &mut Ctx,
    invite: &[u8],
    resp: &Received,
    method: &str,
    same_branch: bool,
) -> Option<Vec<u8>> {
    in_dialog_from(ctx, RoleId::Peer, invite, resp, method, same_branch)
}

/// [`in_dialog`] for a call placed by role `from`.
pub(crate) fn in_dialog_from(
    ctx: &mut Ctx,
    from: RoleId,
    invite: &[u8],
    resp: &Received,
    method: &str,
    same_branch: bool,
) -> Option<Vec<u8>> {
    let inv = Message::parse(invite).ok()?;
    let r = resp.msg()?;
    let code = r.status()?;
    let t = ctx.token();
    let host = sip_hostport(ctx.role(from).addr());
    let via = if same_branch {
        inv.core().via.raw.to_string()
    } else {
        format!("SIP/2.0/UDP {host};branch=z9hG4bK{t};rport")
    };
    // Target: the remote Contact of a 2xx, else the original Request-URI.
    let target = if (200..300).contains(&code) {
        r.name_addrs(HeaderName::Contact)
            .next()
            .map(|c| c.uri.raw().to_string())
    } else {
        None
    }
    .unwrap_or_else(|| {
        inv.request_uri()
            .map(|u| u.raw().to_string())
            .unwrap_or_default()
    });
    let seq = if method == "ACK" {
        inv.core().cseq.seq
    } else {
        inv.core().cseq.seq + 1
    };
    let mut b = MessageBuilder::request(method, &target)
        .header("Via", via)
        .header("Max-Forwards", 70)
        .header("From", inv.core().from.raw)
        .header("To", r.core().to.raw)
        .header("Call-ID", inv.core().call_id)
        .header("CSeq", format!("{seq} {method}"));
    if (200..300).contains(&code) {
        // The UAC's route set is the Record-Route list in reverse (§12.1.2).
        let rr: Vec<&str> = r.values(HeaderName::RecordRoute).collect();
        for route in rr.iter().rev() {
            b = b.header("Route", route);
        }
    }
    Some(b.build())
}

/// ACKs a 2xx and tears the call down with BYE; best effort, evidence only.
pub(crate) async fn hang_up(ctx: &mut Ctx, invite: &[u8], ok: &Received) {
    if let Some(ack) = in_dialog(ctx, invite, ok, "ACK", false) {
        ctx.send_to_iut(RoleId::Peer, &ack).await;
    }
    let Some(bye) = in_dialog(ctx, invite, ok, "BYE", false) else {
        return;
    };
    let call_id = Message::parse(&bye)
        .map(|m| m.core().call_id.to_string())
        .unwrap_or_default();
    ctx.send_to_iut(RoleId::Peer, &bye).await;
    if let Some(req) = ctx
        .expect_request(RoleId::Terminating, "BYE", &call_id)
        .await
    {
        ctx.answer(RoleId::Terminating, &req, 200, "OK", None).await;
        ctx.expect_final(RoleId::Peer, &call_id, "BYE").await;
    }
}

/// ACKs a non-2xx final response (hop by hop, same branch).
pub(crate) async fn ack_failure(ctx: &mut Ctx, invite: &[u8], resp: &Received) {
    if let Some(ack) = in_dialog(ctx, invite, resp, "ACK", true) {
        ctx.send_to_iut(RoleId::Peer, &ack).await;
    }
}

/// The Call-ID of a message we built. Some are deliberately malformed
/// elsewhere (a hostile Request-URI), so the header line is read
/// directly when the message does not parse.
pub(crate) fn call_id(bytes: &[u8]) -> String {
    if let Ok(m) = Message::parse(bytes) {
        return m.core().call_id.to_string();
    }
    String::from_utf8_lossy(bytes)
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID:").map(|v| v.trim().to_string()))
        .unwrap_or_default()
}
