//! Is the IUT there? Asked before the first check, so that an unreachable
//! or silent target is a setup fault (exit 3) and not a row of FAILs, and
//! after every check, so that the check after which the IUT stopped
//! answering is the one blamed and the rest are not judged on silence.
//!
//! The probe is an OPTIONS from the peer role with Max-Forwards 0, which a
//! proxy answers itself (483, RFC 3261 §16.3 step 3) and a UA answers too
//! (§11): any response proves the element is alive. An element that relays
//! it anyway finds the terminating role answering 200, so a
//! Max-Forwards fault is left to the check that looks for it.

use crate::ctx::{Ctx, RoleId, sip_hostport};
use crate::role::Received;
use speermint_sip::MessageBuilder;

/// How many probes before the IUT counts as silent.
pub const PROBES: usize = 3;

/// Why the IUT did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Silence {
    /// The role could not even send (no route, address not usable from
    /// the role's source address): a lab fault.
    CannotSend(String),
    /// Nothing came back to any of the probes.
    NoAnswer,
}

impl Silence {
    /// One line for the terminal and the report.
    pub fn describe(&self, ctx: &Ctx) -> String {
        match self {
            Silence::CannotSend(e) => format!(
                "cannot send to the target {} from the peer role {}: {e}",
                ctx.iut,
                ctx.peer.addr()
            ),
            Silence::NoAnswer => format!(
                "target {} not answering OPTIONS after {PROBES} tries",
                ctx.iut
            ),
        }
    }
}

/// Probes the IUT up to [`PROBES`] times; the first answer ends it. The
/// exchange is not kept in the evidence of any check.
pub async fn probe(ctx: &mut Ctx) -> Result<u16, Silence> {
    let mut outcome = Err(Silence::NoAnswer);
    for _ in 0..PROBES {
        match ask(ctx, false).await.answer {
            Ok(status) => {
                outcome = Ok(status);
                break;
            }
            Err(e @ Silence::CannotSend(_)) => {
                outcome = Err(e);
                break;
            }
            Err(Silence::NoAnswer) => {}
        }
    }
    ctx.reset().await;
    outcome
}

/// One probe, sent and waited for.
#[derive(Debug)]
pub struct Asked {
    /// Its Call-ID, so that a check can tell its traffic from the IUT's
    /// answer to something else.
    pub call_id: String,
    /// The status that came back, or why none did.
    pub answer: Result<u16, Silence>,
}

/// Sends one probe and waits [`crate::ctx::Timing::response`] for an
/// answer: any response, or with `final_only` a final one (a provisional
/// alone then counts as no answer). Kept in the running check's evidence.
pub async fn ask(ctx: &mut Ctx, final_only: bool) -> Asked {
    let t = ctx.token();
    let me = sip_hostport(ctx.peer.addr());
    let target = format!("sip:{}", sip_hostport(ctx.iut));
    let cid = format!("probe{t}@{me}");
    let options = MessageBuilder::request("OPTIONS", &target)
        .header(
            "Via",
            format!("SIP/2.0/UDP {me};branch=z9hG4bKprobe{t};rport"),
        )
        .header("Max-Forwards", 0)
        .header("From", format!("<sip:speermint@{me}>;tag=p{t}"))
        .header("To", format!("<{target}>"))
        .header("Call-ID", &cid)
        .header("CSeq", "1 OPTIONS")
        .build();
    let iut = ctx.iut;
    let answer = match ctx.peer.try_send(iut, &options).await {
        Ok(()) => wait_for_answer(ctx, &cid, final_only).await,
        Err(e) => Err(Silence::CannotSend(e.to_string())),
    };
    Asked {
        call_id: cid,
        answer,
    }
}

async fn wait_for_answer(ctx: &mut Ctx, cid: &str, final_only: bool) -> Result<u16, Silence> {
    let wait = ctx.timing.response;
    let deadline = tokio::time::Instant::now() + wait;
    let least = if final_only { 200 } else { 100 };
    let is_answer = |c: String| {
        move |r: &Received| {
            r.status().is_some_and(|s| s >= least) && crate::ctx::mentions_call(&r.bytes, &c)
        }
    };
    let is_relayed = |c: String| {
        move |r: &Received| {
            r.msg()
                .is_some_and(|m| m.is_request() && m.core().call_id == c)
        }
    };
    while tokio::time::Instant::now() < deadline {
        let left = deadline - tokio::time::Instant::now();
        let (peer, terminating) = (&mut ctx.peer, &mut ctx.terminating);
        tokio::select! {
            Some(r) = peer.recv_matching(left, is_answer(cid.to_owned())) => {
                return r.status().ok_or(Silence::NoAnswer);
            }
            Some(r) = terminating.recv_matching(left, is_relayed(cid.to_owned())) => {
                // Relayed despite Max-Forwards 0: answer as the far end would.
                ctx.answer(RoleId::Terminating, &r, 200, "OK", None).await;
            }
            else => break,
        }
    }
    Err(Silence::NoAnswer)
}
