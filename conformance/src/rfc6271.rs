//! RFC 6271 requirements checked on the wire.

use crate::dialog::{call_id, hang_up};
use crate::sdp_fixtures::{ANSWER, OFFER};
use speermint_harness::ctx::sip_hostport;
use speermint_harness::{Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_sbe::Fault;
use speermint_sdp::Sdp;

/// RFC 6271 #17: media security attributes and unknown SDP attributes cross
/// the SBE untouched, in both directions.
pub(crate) const SDP_PASSTHROUGH: Check = Check {
    id: "sdp-attributes-untouched",
    title: "a=crypto, a=fingerprint, a=setup and unknown a= lines reach the far side byte-identical and in order",
    covers: &[Ref::Rfc6271(17)],
    level: Level::Must,
    requirement: "An SBE must not remove or alter the media security attributes of SDP, and must pass attributes it does not understand (RFC 6271 #17).",
    fails_under: &[Fault::StripUnknownSdp],
    needs: &[],
    scenario: |ctx| Box::pin(sdp_passthrough(ctx)),
};

/// The a= lines of an SDP body, raw and in order; `None` if it is not SDP.
fn attribute_lines(body: &[u8]) -> Option<Vec<Vec<u8>>> {
    let sdp = Sdp::parse(body).ok()?;
    Some(sdp.attributes().map(|a| a.raw_line.to_vec()).collect())
}

/// Compares the a= lines; describes the first difference.
fn compare(direction: &str, sent: &[u8], got: &[u8]) -> Result<(), String> {
    let want = attribute_lines(sent).unwrap_or_default();
    let Some(have) = attribute_lines(got) else {
        return Err(format!(
            "{direction}: the relayed body is no longer valid SDP"
        ));
    };
    for (i, w) in want.iter().enumerate() {
        let w_text = String::from_utf8_lossy(w).trim_end().to_string();
        match have.get(i) {
            Some(h) if h == w => {}
            Some(h) => {
                let h_text = String::from_utf8_lossy(h).trim_end().to_string();
                return Err(match have.iter().position(|x| x == w) {
                    Some(_) => format!(
                        "{direction}: attribute order changed at {w_text:?} (found {h_text:?})"
                    ),
                    None => format!(
                        "{direction}: {w_text:?} was removed or altered (found {h_text:?} in its place)"
                    ),
                });
            }
            None => return Err(format!("{direction}: {w_text:?} is missing")),
        }
    }
    if have.len() > want.len() {
        let extra = String::from_utf8_lossy(&have[want.len()])
            .trim_end()
            .to_string();
        return Err(format!("{direction}: unexpected attribute {extra:?} added"));
    }
    Ok(())
}

async fn sdp_passthrough(ctx: &mut Ctx) -> Outcome {
    let ruri = format!("sip:+15105550100@{}", sip_hostport(ctx.terminating.addr()));
    let invite = ctx
        .request(RoleId::Peer, "INVITE", &ruri)
        .body("application/sdp", OFFER)
        .build();
    let cid = call_id(&invite);
    ctx.send_to_iut(RoleId::Peer, &invite).await;
    let Some(fwd) = ctx
        .expect_request(RoleId::Terminating, "INVITE", &cid)
        .await
    else {
        return Outcome::inconclusive(format!(
            "the IUT did not relay the INVITE to its next hop, so SDP handling could not be observed; the peer got {}",
            ctx.what_came(RoleId::Peer, &cid)
        ));
    };
    let offer_seen = fwd.msg().map(|m| m.body().to_vec()).unwrap_or_default();
    let offer_result = compare("offer (peer to next hop)", OFFER, &offer_seen);
    ctx.answer(
        RoleId::Terminating,
        &fwd,
        200,
        "OK",
        Some(("application/sdp", ANSWER)),
    )
    .await;
    let Some(resp) = ctx.expect_final(RoleId::Peer, &cid, "INVITE").await else {
        return match offer_result {
            Err(e) => Outcome::fail(e),
            Ok(()) => Outcome::inconclusive(format!(
                "the offer crossed intact, but the 200 OK with the answer never came back to the peer ({})",
                ctx.what_came(RoleId::Peer, &cid)
            )),
        };
    };
    if !resp.status().is_some_and(|s| (200..300).contains(&s)) {
        // The next hop said 200; anything else reaching the peer is the
        // IUT's own doing, and the answer's SDP never crossed.
        return match offer_result {
            Err(e) => Outcome::fail(e),
            Ok(()) => Outcome::fail(format!(
                "the next hop answered 200 OK with SDP, but the peer got {} instead",
                resp.summary()
            )),
        };
    }
    let answer_seen = resp.msg().map(|m| m.body().to_vec()).unwrap_or_default();
    let answer_result = compare("answer (next hop to peer)", ANSWER, &answer_seen);
    hang_up(ctx, &invite, &resp).await;
    match (offer_result, answer_result) {
        (Ok(()), Ok(())) => Outcome::pass(
            "every a= line of the offer and the answer crossed byte-identical and in order",
        ),
        (Err(e), _) | (_, Err(e)) => Outcome::fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_names_the_altered_line() {
        assert_eq!(compare("x", OFFER, OFFER), Ok(()));
        let stripped: Vec<u8> = String::from_utf8_lossy(OFFER)
            .replace("a=setup:actpass\r\n", "")
            .into_bytes();
        let e = compare("x", OFFER, &stripped).unwrap_err();
        assert!(e.contains("a=setup:actpass"), "{e}");
        let text = String::from_utf8_lossy(OFFER);
        let c1 = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32\r\n";
        let c2 = "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32\r\n";
        let swapped = text.replace(&format!("{c1}{c2}"), &format!("{c2}{c1}"));
        assert_ne!(swapped, text);
        let e = compare("x", OFFER, swapped.as_bytes()).unwrap_err();
        assert!(e.contains("order changed"), "{e}");
        assert!(
            compare("x", OFFER, b"garbage")
                .unwrap_err()
                .contains("no longer valid SDP")
        );
    }
}
