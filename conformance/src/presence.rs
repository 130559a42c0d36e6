//! Presence and instant messaging between peers (RFC 5344 §2, as RFC 6271
//! #10, #11, #13 and #14 ask of the border): subscription dialogs
//! (RFC 6665) and what their NOTIFYs carry (PIDF, RFC 3863; resource
//! lists, RFC 4662), page-mode IM (RFC 3428) and MSRP session offers
//! (RFC 4975). The peer and the terminating role (the IUT's inside) take
//! turns as watcher and presentity; every dialog is ended before the
//! scenario returns, so the IUT keeps no subscription.
//!
//! Each check also names the RFC 5344 §2 use case it plays, so that a
//! report (and `speermint matrix --report`) reads by use case too: §2.1
//! (a watcher subscribes to a presentity of the other network) is played
//! by the subscription and PIDF checks, §2.2 (list-based subscription) by
//! the resource-list check, §2.4 and §2.5 (pager-mode and session IM) by
//! the IM check. §2.3, §2.6 and §2.7 are accounted for in `uncovered()`.
//!
//! RFC 6271 says SHOULD for each, so a check warns when the IUT refuses a
//! method with a response (RFC 6271 #11 lets an SSP restrict methods by
//! policy), and fails when it breaks what it relays: a dialog that leaves
//! the border out of its route set (RFC 6665 §4.3), a request swallowed
//! without an answer, a body that no longer means what was sent (RFC 3261
//! §16.6 step 1).

use crate::dialog::hang_up;
use crate::presence_docs::{Pidf, bare_id, content_type_param, multipart, rlmi};
use speermint_harness::ctx::sip_hostport;
use speermint_harness::role::Received;
use speermint_harness::{Capability, Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_sbe::Fault;
use speermint_sdp::Sdp;
use speermint_sip::{HeaderName, Message, MessageBuilder};

pub(crate) const PRESENCE_SUBSCRIPTION: Check = Check {
    id: "presence-subscription-across-peers",
    title: "a peer's presence SUBSCRIBE reaches the inside, and its NOTIFYs, refresh and end keep to one dialog through the IUT",
    covers: &[Ref::Rfc6271(10), Ref::Rfc5344("2.1")],
    level: Level::Should,
    requirement: "A watcher at the peer can subscribe to a presentity of the SSP: the SUBSCRIBE crosses, the IUT Record-Routes it and every NOTIFY so that the subscription's route set keeps the border in its path (RFC 6665 §4.3), NOTIFYs arrive inside the dialog (Request-URI, tags, CSeq), a refresh and an unsubscribe cross, and the final NOTIFY with Subscription-State: terminated comes back (RFC 6271 #10, RFC 5344 §2.1).",
    fails_under: &[Fault::DropSubscribe, Fault::NotifyOutsideDialog],
    needs: &[],
    scenario: |ctx| Box::pin(presence_subscription(ctx)),
};

pub(crate) const INSTANT_MESSAGES: Check = Check {
    id: "instant-messages-across-peers",
    title: "MESSAGE crosses both ways, and an MSRP session offer crosses with its a=path and a=accept-types untouched",
    covers: &[Ref::Rfc6271(11), Ref::Rfc5344("2.4"), Ref::Rfc5344("2.5")],
    level: Level::Should,
    requirement: "Users of the two SSPs can exchange page-mode instant messages (RFC 3428) in both directions, and set up an MSRP session (RFC 4975): the m=message line and its a=path and a=accept-types cross byte for byte in the offer and the answer (RFC 6271 #11, RFC 5344 §2.4-2.5).",
    fails_under: &[
        Fault::DropMessage,
        Fault::StripMsrpPath,
        Fault::StripUnknownSdp,
    ],
    needs: &[],
    scenario: |ctx| Box::pin(instant_messages(ctx)),
};

pub(crate) const RESOURCE_LIST: Check = Check {
    id: "resource-list-subscription",
    title: "a resource-list SUBSCRIBE (Require: eventlist) crosses, and its multipart/related NOTIFY with the RLMI document and PIDF parts arrives intact",
    covers: &[Ref::Rfc6271(13), Ref::Rfc5344("2.2")],
    level: Level::Should,
    requirement: "One subscription delivers the presence of a list of presentities to the peer's watcher (RFC 6271 #13, RFC 5344 §2.2): the list SUBSCRIBE keeps Require and Supported: eventlist, and the NOTIFY's multipart/related body (RFC 4662 §5), its RLMI root and each PIDF part, cross as sent.",
    fails_under: &[Fault::FlattenMultipart],
    needs: &[Capability::ResourceLists],
    scenario: |ctx| Box::pin(resource_list(ctx)),
};

pub(crate) const PIDF_INTACT: Check = Check {
    id: "pidf-crosses-intact",
    title: "PIDF documents cross both ways still valid, with the same tuples, status and contacts",
    covers: &[Ref::Rfc6271(14), Ref::Rfc5344("2.1")],
    level: Level::Should,
    requirement: "A presence document crossing the border stays standard PIDF (RFC 3863 §4) and keeps its meaning: the same entity, tuples, basic status, contacts and priorities, notes, timestamps and extensions (RFC 6271 #14).",
    fails_under: &[Fault::ManglePidf],
    needs: &[],
    scenario: |ctx| Box::pin(pidf_intact(ctx)),
};

/// Bob, inside the SSP, available on his phone, busy in a meeting on his
/// desktop client (RPID, RFC 4480).
const PIDF_INSIDE: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf"
    xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"
    xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
    entity="pres:bob@ssp.example">
  <tuple id="bob-phone">
    <status><basic>open</basic></status>
    <contact priority="0.8">sip:bob@ssp.example;gr=phone</contact>
    <note xml:lang="en">Call me</note>
    <timestamp>2011-06-01T10:00:00Z</timestamp>
  </tuple>
  <tuple id="bob-desktop">
    <status><basic>closed</basic></status>
    <contact priority="0.2">sip:bob@ssp.example;gr=desktop</contact>
  </tuple>
  <dm:person id="bob">
    <rpid:activities><rpid:meeting/></rpid:activities>
  </dm:person>
  <note xml:lang="en">In a meeting until noon</note>
</presence>
"#;

/// The same presentity later: the phone away too.
const PIDF_INSIDE_LATER: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:bob@ssp.example">
  <tuple id="bob-phone"><status><basic>closed</basic></status></tuple>
</presence>
"#;

/// Alice, at the peer, with one device.
const PIDF_PEER: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:alice@peer.example">
  <tuple id="a1">
    <status><basic>open</basic></status>
    <contact priority="1.0">sip:alice@peer.example</contact>
    <note xml:lang="fr">Disponible</note>
  </tuple>
</presence>
"#;

/// The watcher or the presentity, in a reason.
fn who(role: RoleId) -> &'static str {
    match role {
        RoleId::Peer => "the peer",
        RoleId::Terminating => "the inside",
        RoleId::Stranger => "the stranger",
        RoleId::SecondPeer => "the second peer",
    }
}

/// A URI for `user` at a role's own address.
fn uri_at(ctx: &mut Ctx, user: &str, role: RoleId) -> String {
    format!("sip:{user}@{}", sip_hostport(ctx.role(role).addr()))
}

/// Answers `req` from role `at` with extra header fields and a body,
/// copying its Record-Route (RFC 3261 §12.1.1).
async fn respond(
    ctx: &mut Ctx,
    at: RoleId,
    req: &Received,
    code: u16,
    reason: &str,
    tag: Option<&str>,
    extra: &[(&str, String)],
) {
    let Some(msg) = req.msg() else {
        return;
    };
    let mut b = MessageBuilder::response_to(&msg, code, reason, tag);
    for rr in msg.values(HeaderName::RecordRoute) {
        b = b.header("Record-Route", rr);
    }
    for (n, v) in extra {
        b = b.header(n, v);
    }
    let bytes = b.build();
    ctx.role(at).send(req.from, &bytes).await;
}

/// When `method` from `from` did not reach `to`: a warning if the IUT
/// refused it with a response (policy), a failure if it swallowed it
/// while other requests on the same path cross, else inconclusive.
async fn not_crossed(
    ctx: &mut Ctx,
    from: RoleId,
    to: RoleId,
    method: &str,
    call_id: &str,
    what_for: &str,
) -> Outcome {
    if let Some(r) = ctx.expect_final(from, call_id, method).await {
        return Outcome::warn(format!(
            "the IUT refused the {method} from {} with {}: {what_for} does not cross the border",
            who(from),
            r.summary()
        ));
    }
    if crosses_at_all(ctx, from, to).await {
        Outcome::fail(format!(
            "the {method} from {} was neither relayed to {} nor answered, while an OPTIONS on the same path crossed: {what_for} is lost at the border without a word",
            who(from),
            who(to)
        ))
    } else {
        Outcome::inconclusive(format!(
            "neither the {method} nor an OPTIONS from {} reached {}; the IUT relays nothing on that path, so {what_for} could not be judged",
            who(from),
            who(to)
        ))
    }
}

/// Whether an OPTIONS from `from` reaches `to` through the IUT.
async fn crosses_at_all(ctx: &mut Ctx, from: RoleId, to: RoleId) -> bool {
    let ruri = uri_at(ctx, "probe", to);
    let opt = ctx.request(from, "OPTIONS", &ruri).build();
    let cid = crate::dialog::call_id(&opt);
    ctx.send_to_iut(from, &opt).await;
    let Some(req) = ctx.expect_request(to, "OPTIONS", &cid).await else {
        return false;
    };
    ctx.answer(to, &req, 200, "OK", None).await;
    ctx.expect_final(from, &cid, "OPTIONS").await;
    true
}

/// Each Route/Record-Route entry of `msg` as the hop it names, `host:port`.
fn hops(msg: &Message<'_>, name: HeaderName) -> Vec<String> {
    msg.name_addrs(name)
        .map(|na| match na.uri.as_sip() {
            Some(s) => format!(
                "{}:{}",
                s.host.to_string().to_ascii_lowercase(),
                s.port.unwrap_or(5060)
            ),
            None => na.uri.raw().to_string(),
        })
        .collect()
}

/// The value of a header field (by name, any spelling), trimmed.
fn field(msg: &Message<'_>, name: &str) -> Option<String> {
    msg.header_by_name(name)
        .and_then(|h| h.value_str())
        .map(|v| v.trim().to_string())
}

/// The event package of an Event field: its token before parameters.
fn package(msg: &Message<'_>) -> String {
    field(msg, "Event")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// One subscription dialog (RFC 6665) as its two ends see it.
struct Subscription {
    watcher: RoleId,
    notifier: RoleId,
    call_id: String,
    /// The initial SUBSCRIBE as it reached the notifier: the NOTIFYs'
    /// From, To and Request-URI come from it (RFC 6665 §4.2.2, §12.1.1).
    at_notifier: Received,
    /// From (with its tag) and Contact as the watcher wrote them.
    watcher_from: String,
    watcher_tag: String,
    watcher_contact: String,
    /// The 2xx as it reached the watcher: its To (with the notifier's
    /// tag) and Contact are what refreshes use (§12.1.2).
    notifier_to: String,
    notifier_tag: String,
    /// The Contact the notifier gave, and the one the watcher got.
    notifier_contact: String,
    notifier_target: String,
    /// The notifier's route set: Record-Route as it received them (§12.1.1).
    notifier_routes: Vec<String>,
    /// The watcher's route set: the 2xx's Record-Route reversed (§12.1.2).
    watcher_routes: Vec<String>,
    watcher_hops: Vec<String>,
    watcher_cseq: u32,
    notifier_cseq: u32,
    /// Header fields every request of the watcher carries (Accept, ...).
    extra: Vec<(String, String)>,
    /// Notifications that reached the watcher.
    notifies: usize,
    /// What broke the dialog, in words.
    findings: Vec<String>,
}

/// Sends the initial SUBSCRIBE from `watcher` to `ruri` at `notifier`,
/// answers it 200 there and brings the 200 back; `Err` with the verdict
/// when the subscription could not start.
async fn subscribe(
    ctx: &mut Ctx,
    watcher: RoleId,
    notifier: RoleId,
    ruri: &str,
    extra: &[(&str, &str)],
    what_for: &str,
) -> Result<Subscription, Outcome> {
    let mut b = ctx
        .request(watcher, "SUBSCRIBE", ruri)
        .header("Event", "presence")
        .header("Expires", 600);
    for (n, v) in extra {
        b = b.header(n, v);
    }
    let sub = b.build();
    let m = Message::parse(&sub).map_err(|e| Outcome::inconclusive(e.to_string()))?;
    let call_id = m.core().call_id.to_string();
    let watcher_from = m.core().from.raw.to_string();
    let watcher_tag = m.core().from.tag().unwrap_or_default().to_string();
    let watcher_contact = m
        .name_addrs(HeaderName::Contact)
        .next()
        .map(|c| c.uri.raw().to_string())
        .unwrap_or_default();
    ctx.send_to_iut(watcher, &sub).await;
    let Some(at_notifier) = ctx.expect_request(notifier, "SUBSCRIBE", &call_id).await else {
        return Err(not_crossed(ctx, watcher, notifier, "SUBSCRIBE", &call_id, what_for).await);
    };
    let got = at_notifier
        .msg()
        .ok_or_else(|| Outcome::fail("the SUBSCRIBE reached the far side unparseable"))?;
    let notifier_routes: Vec<String> = got
        .values(HeaderName::RecordRoute)
        .map(str::to_string)
        .collect();
    let notifier_tag = format!("n{}", ctx.token());
    let notifier_contact = uri_at(ctx, "presentity", notifier);
    respond(
        ctx,
        notifier,
        &at_notifier,
        200,
        "OK",
        Some(&notifier_tag),
        &[
            ("Contact", format!("<{notifier_contact}>")),
            ("Expires", "600".into()),
        ],
    )
    .await;
    let Some(ok) = ctx.expect_final(watcher, &call_id, "SUBSCRIBE").await else {
        return Err(Outcome::fail(format!(
            "the SUBSCRIBE crossed, but the 200 that {} sent never reached {}; it got {}",
            who(notifier),
            who(watcher),
            ctx.what_came(watcher, &call_id)
        )));
    };
    let okm = ok
        .msg()
        .filter(|r| r.status().is_some_and(|s| (200..300).contains(&s)));
    let Some(okm) = okm else {
        return Err(Outcome::fail(format!(
            "{} answered the SUBSCRIBE with 200, but {} got {}",
            who(notifier),
            who(watcher),
            ok.summary()
        )));
    };
    let mut findings = Vec::new();
    let mut watcher_routes: Vec<String> = okm
        .values(HeaderName::RecordRoute)
        .map(str::to_string)
        .collect();
    watcher_routes.reverse();
    let mut watcher_hops = hops(&okm, HeaderName::RecordRoute);
    watcher_hops.reverse();
    if watcher_routes.is_empty() {
        findings.push(format!(
            "the 200 to the SUBSCRIBE reached {} without a Record-Route: the subscription's route set leaves the IUT out, so its refreshes and NOTIFYs would bypass the border (RFC 6665 §4.3)",
            who(watcher)
        ));
    }
    if okm.core().to.tag() != Some(notifier_tag.as_str()) {
        findings.push(format!(
            "the 200 reached {} with the To tag {:?}, not the notifier's {notifier_tag:?}",
            who(watcher),
            okm.core().to.tag().unwrap_or("")
        ));
    }
    let notifier_target = okm
        .name_addrs(HeaderName::Contact)
        .next()
        .map(|c| c.uri.raw().to_string())
        .unwrap_or_else(|| notifier_contact.clone());
    Ok(Subscription {
        watcher,
        notifier,
        call_id,
        notifier_to: okm.core().to.raw.to_string(),
        at_notifier: at_notifier.clone(),
        watcher_from,
        watcher_tag,
        watcher_contact,
        notifier_tag,
        notifier_contact,
        notifier_target,
        notifier_routes,
        watcher_routes,
        watcher_hops,
        watcher_cseq: 1,
        notifier_cseq: 0,
        extra: extra
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        notifies: 0,
        findings,
    })
}

impl Subscription {
    /// Sends a NOTIFY from the notifier inside the dialog and checks that
    /// it reaches the watcher inside it too; the watcher answers 200.
    /// `Err` when it never arrives: the dialog is broken.
    async fn notify(
        &mut self,
        ctx: &mut Ctx,
        state: &str,
        body: Option<(&str, &[u8])>,
        extra: &[(&str, &str)],
    ) -> Result<Received, Outcome> {
        self.notifier_cseq += 1;
        let cseq = self.notifier_cseq;
        let Some(sub) = self.at_notifier.msg() else {
            return Err(Outcome::inconclusive("the SUBSCRIBE no longer parses"));
        };
        let target = sub
            .name_addrs(HeaderName::Contact)
            .next()
            .map(|c| c.uri.raw().to_string())
            .unwrap_or_default();
        let t = ctx.token();
        let host = sip_hostport(ctx.role(self.notifier).addr());
        let mut b = MessageBuilder::request("NOTIFY", &target)
            .header("Via", format!("SIP/2.0/UDP {host};branch=z9hG4bK{t};rport"))
            .header("Max-Forwards", 70);
        for r in &self.notifier_routes {
            b = b.header("Route", r);
        }
        b = b
            .header(
                "From",
                format!("{};tag={}", sub.core().to.raw, self.notifier_tag),
            )
            .header("To", sub.core().from.raw)
            .header("Call-ID", &self.call_id)
            .header("CSeq", format!("{cseq} NOTIFY"))
            .header("Event", "presence")
            .header("Subscription-State", state)
            .header("Contact", format!("<{}>", self.notifier_contact));
        for (n, v) in extra {
            b = b.header(n, v);
        }
        if let Some((ct, bytes)) = body {
            b = b.body(ct, bytes);
        }
        let notify = b.build();
        ctx.send_to_iut(self.notifier, &notify).await;
        let Some(got) = ctx
            .expect_request(self.watcher, "NOTIFY", &self.call_id)
            .await
        else {
            return Err(Outcome::fail(format!(
                "the NOTIFY ({state}) that {} sent inside the subscription never reached {}, which got {}",
                who(self.notifier),
                who(self.watcher),
                ctx.what_came(self.watcher, &self.call_id)
            )));
        };
        self.notifies += 1;
        if let Some(m) = got.msg() {
            self.check_notify(&m, cseq, state);
        }
        respond(ctx, self.watcher, &got, 200, "OK", None, &[]).await;
        if ctx
            .expect_final(self.notifier, &self.call_id, "NOTIFY")
            .await
            .is_none()
        {
            self.findings.push(format!(
                "the 200 {} sent to the NOTIFY ({state}) never reached {}",
                who(self.watcher),
                who(self.notifier)
            ));
        }
        Ok(got)
    }

    /// What a NOTIFY must look like when it reaches the watcher: inside
    /// its dialog, the IUT's Route entries consumed, and a Record-Route
    /// that gives the same route set as the 2xx did (RFC 6665 §4.3,
    /// §4.1.2.4).
    fn check_notify(&mut self, m: &Message<'_>, cseq: u32, state: &str) {
        let mut found = Vec::new();
        let mut wrong = |s: String| found.push(format!("the NOTIFY ({state}) {s}"));
        let ruri = m
            .request_uri()
            .map(|u| u.raw().to_string())
            .unwrap_or_default();
        if ruri != self.watcher_contact {
            wrong(format!(
                "arrived for {ruri}, not the subscriber's Contact {}",
                self.watcher_contact
            ));
        }
        if m.core().call_id != self.call_id
            || m.core().from.tag() != Some(self.notifier_tag.as_str())
            || m.core().to.tag() != Some(self.watcher_tag.as_str())
        {
            wrong(format!(
                "arrived outside the dialog: Call-ID {}, From tag {:?}, To tag {:?}",
                m.core().call_id,
                m.core().from.tag().unwrap_or(""),
                m.core().to.tag().unwrap_or("")
            ));
        }
        if m.core().cseq.seq != cseq || m.core().cseq.method != "NOTIFY" {
            wrong(format!(
                "arrived with CSeq {} {}, sent as {cseq} NOTIFY",
                m.core().cseq.seq,
                m.core().cseq.method
            ));
        }
        if package(m) != "presence" {
            wrong(format!(
                "arrived with Event {:?}, sent as presence",
                field(m, "Event").unwrap_or_default()
            ));
        }
        let sent_state = state.split(';').next().unwrap_or("");
        let got_state = field(m, "Subscription-State").unwrap_or_default();
        if got_state.split(';').next().unwrap_or("").trim() != sent_state {
            wrong(format!(
                "arrived with Subscription-State {got_state:?}, sent as {state:?}"
            ));
        }
        let routes: Vec<String> = m.values(HeaderName::Route).map(str::to_string).collect();
        if !routes.is_empty() {
            wrong(format!(
                "still carried Route: {} (the IUT's own entries are to be removed, RFC 3261 §16.4)",
                routes.join(", ")
            ));
        }
        let notify_hops = hops(m, HeaderName::RecordRoute);
        if !self.watcher_hops.is_empty() && notify_hops != self.watcher_hops {
            wrong(format!(
                "carried Record-Route hops {notify_hops:?}, where the 200 gave {:?}: a subscriber that got this NOTIFY first would build another route set (RFC 6665 §4.3, §4.1.2.4)",
                self.watcher_hops
            ));
        }
        self.findings.extend(found);
    }

    /// Refreshes (or, with 0, ends) the subscription from the watcher
    /// inside the dialog; the notifier answers 200.
    async fn refresh(&mut self, ctx: &mut Ctx, expires: u32) -> Result<(), Outcome> {
        self.watcher_cseq += 1;
        let cseq = self.watcher_cseq;
        let t = ctx.token();
        let host = sip_hostport(ctx.role(self.watcher).addr());
        let mut b = MessageBuilder::request("SUBSCRIBE", &self.notifier_target)
            .header("Via", format!("SIP/2.0/UDP {host};branch=z9hG4bK{t};rport"))
            .header("Max-Forwards", 70);
        for r in &self.watcher_routes {
            b = b.header("Route", r);
        }
        b = b
            .header("From", &self.watcher_from)
            .header("To", &self.notifier_to)
            .header("Call-ID", &self.call_id)
            .header("CSeq", format!("{cseq} SUBSCRIBE"))
            .header("Event", "presence")
            .header("Expires", expires)
            .header("Contact", format!("<{}>", self.watcher_contact));
        for (n, v) in &self.extra {
            b = b.header(n, v);
        }
        let what = if expires == 0 {
            "the unsubscribe (Expires: 0)".to_string()
        } else {
            format!("the refresh (Expires: {expires})")
        };
        ctx.send_to_iut(self.watcher, &b.build()).await;
        let Some(got) = ctx
            .expect_request(self.notifier, "SUBSCRIBE", &self.call_id)
            .await
        else {
            return Err(Outcome::fail(format!(
                "{what} that {} sent inside the subscription never reached {}; {} got {}",
                who(self.watcher),
                who(self.notifier),
                who(self.watcher),
                ctx.what_came(self.watcher, &self.call_id)
            )));
        };
        if let Some(m) = got.msg() {
            let ruri = m
                .request_uri()
                .map(|u| u.raw().to_string())
                .unwrap_or_default();
            if ruri != self.notifier_contact {
                self.findings.push(format!(
                    "{what} arrived for {ruri}, not the notifier's Contact {}",
                    self.notifier_contact
                ));
            }
            if m.core().to.tag() != Some(self.notifier_tag.as_str())
                || m.core().from.tag() != Some(self.watcher_tag.as_str())
                || m.core().cseq.seq != cseq
            {
                self.findings.push(format!(
                    "{what} arrived outside the dialog: To tag {:?}, From tag {:?}, CSeq {}",
                    m.core().to.tag().unwrap_or(""),
                    m.core().from.tag().unwrap_or(""),
                    m.core().cseq.seq
                ));
            }
            let routes: Vec<&str> = m.values(HeaderName::Route).collect();
            if !routes.is_empty() {
                self.findings.push(format!(
                    "{what} still carried Route: {} (RFC 3261 §16.4)",
                    routes.join(", ")
                ));
            }
        }
        respond(
            ctx,
            self.notifier,
            &got,
            200,
            "OK",
            None,
            &[
                ("Expires", expires.to_string()),
                ("Contact", format!("<{}>", self.notifier_contact)),
            ],
        )
        .await;
        match ctx
            .expect_final(self.watcher, &self.call_id, "SUBSCRIBE")
            .await
        {
            Some(r) if r.status().is_some_and(|s| (200..300).contains(&s)) => Ok(()),
            Some(r) => Err(Outcome::fail(format!(
                "{} answered {what} with 200, but {} got {}",
                who(self.notifier),
                who(self.watcher),
                r.summary()
            ))),
            None => Err(Outcome::fail(format!(
                "the 200 to {what} never reached {}",
                who(self.watcher)
            ))),
        }
    }

    /// Unsubscribes and brings the final NOTIFY across: no state is left.
    async fn end(&mut self, ctx: &mut Ctx, extra: &[(&str, &str)]) -> Result<Received, Outcome> {
        self.refresh(ctx, 0).await?;
        self.notify(ctx, "terminated;reason=timeout", None, extra)
            .await
    }
}

async fn presence_subscription(ctx: &mut Ctx) -> Outcome {
    let bob = uri_at(ctx, "bob", RoleId::Terminating);
    let accept = [("Accept", "application/pidf+xml")];
    let mut s = match subscribe(
        ctx,
        RoleId::Peer,
        RoleId::Terminating,
        &bob,
        &accept,
        "a presence subscription",
    )
    .await
    {
        Ok(s) => s,
        Err(o) => return o,
    };
    let pidf = Some(("application/pidf+xml", PIDF_INSIDE));
    let later = Some(("application/pidf+xml", PIDF_INSIDE_LATER));
    let steps = async {
        let first = s.notify(ctx, "active;expires=600", pidf, &[]).await?;
        let carried_pidf = first.msg().is_some_and(|m| {
            m.header(HeaderName::ContentType)
                .and_then(|h| h.value_str())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/pidf+xml"))
                && !m.body().is_empty()
        });
        if !carried_pidf {
            s.findings
                .push("the first NOTIFY reached the peer without its PIDF body".into());
        }
        s.refresh(ctx, 600).await?;
        s.notify(ctx, "active;expires=600", later, &[]).await?;
        s.end(ctx, &[]).await?;
        Ok::<(), Outcome>(())
    };
    if let Err(o) = steps.await {
        return with_findings(o, &s.findings);
    }
    if !s.findings.is_empty() {
        return Outcome::fail(s.findings.join("; "));
    }
    Outcome::pass(format!(
        "the SUBSCRIBE, its 200, {} NOTIFYs (active, active, terminated), a refresh and the unsubscribe all crossed inside one dialog; the route set keeps the IUT in the path ({} hop{}: {}), and tags and CSeq were kept",
        s.notifies,
        s.watcher_hops.len(),
        if s.watcher_hops.len() == 1 { "" } else { "s" },
        s.watcher_hops.join(", ")
    ))
}

/// A verdict that also names what had gone wrong before.
fn with_findings(o: Outcome, findings: &[String]) -> Outcome {
    if findings.is_empty() {
        return o;
    }
    Outcome {
        verdict: o.verdict,
        reason: format!("{}; before that: {}", o.reason, findings.join("; ")),
    }
}

/// An MSRP offer from the peer's user (RFC 4975 §8): page-mode text and
/// CPIM, the path to her endpoint.
const MSRP_OFFER: &[u8] = b"v=0\r
o=alice 2890844526 2890844527 IN IP4 127.0.0.2\r
s=-\r
c=IN IP4 127.0.0.2\r
t=0 0\r
m=message 7654 TCP/MSRP *\r
a=accept-types:message/cpim text/plain text/html\r
a=accept-wrapped-types:text/plain image/jpeg\r
a=path:msrp://127.0.0.2:7654/jshA7weztas;tcp\r
a=max-size:131072\r
";

/// The answer from inside.
const MSRP_ANSWER: &[u8] = b"v=0\r
o=bob 2890844612 2890844616 IN IP4 127.0.0.4\r
s=-\r
c=IN IP4 127.0.0.4\r
t=0 0\r
m=message 8888 TCP/MSRP *\r
a=accept-types:message/cpim text/plain\r
a=path:msrp://127.0.0.4:8888/9di4eae923wzd;tcp\r
";

/// The m= and a= lines of an SDP body, raw, in order; `None` if it is not SDP.
fn msrp_lines(body: &[u8]) -> Option<Vec<Vec<u8>>> {
    let sdp = Sdp::parse(body).ok()?;
    Some(
        sdp.lines()
            .iter()
            .filter(|l| matches!(l.kind, b'm' | b'a'))
            .map(|l| l.raw.to_vec())
            .collect(),
    )
}

/// Compares the m= and a= lines of an MSRP SDP; the first difference.
fn compare_msrp(direction: &str, sent: &[u8], got: &[u8]) -> Result<(), String> {
    let want = msrp_lines(sent).unwrap_or_default();
    let Some(have) = msrp_lines(got) else {
        return Err(format!("{direction}: the body is no longer valid SDP"));
    };
    let show = |l: &[u8]| String::from_utf8_lossy(l).trim_end().to_string();
    for (i, w) in want.iter().enumerate() {
        match have.get(i) {
            Some(h) if h == w => {}
            Some(h) => {
                return Err(format!(
                    "{direction}: {:?} was removed or altered ({:?} in its place)",
                    show(w),
                    show(h)
                ));
            }
            None => return Err(format!("{direction}: {:?} is missing", show(w))),
        }
    }
    if let Some(extra) = have.get(want.len()) {
        return Err(format!("{direction}: {:?} was added", show(extra)));
    }
    Ok(())
}

/// Sends a MESSAGE from `from` to `to` and brings its answer back.
async fn page(
    ctx: &mut Ctx,
    from: RoleId,
    to: RoleId,
    text: &[u8],
    answer: u16,
) -> Result<String, Outcome> {
    let user = if to == RoleId::Peer { "alice" } else { "bob" };
    let ruri = uri_at(ctx, user, to);
    let msg = ctx
        .request(from, "MESSAGE", &ruri)
        .body("text/plain;charset=UTF-8", text)
        .build();
    let cid = crate::dialog::call_id(&msg);
    ctx.send_to_iut(from, &msg).await;
    let Some(got) = ctx.expect_request(to, "MESSAGE", &cid).await else {
        return Err(not_crossed(ctx, from, to, "MESSAGE", &cid, "page-mode IM").await);
    };
    let mut wrong = Vec::new();
    if let Some(m) = got.msg() {
        if m.body() != text {
            wrong.push(format!(
                "the MESSAGE from {} reached {} with the text {:?}, sent as {:?}",
                who(from),
                who(to),
                String::from_utf8_lossy(m.body()),
                String::from_utf8_lossy(text)
            ));
        }
        if m.header(HeaderName::RecordRoute).is_some() {
            // Not a failure: RFC 3428 forms no dialog, a Record-Route is moot.
            ctx.log.note(
                "harness",
                "the IUT Record-Routed a MESSAGE, which forms no dialog (RFC 3428)",
            );
        }
    }
    let reason = if answer == 202 { "Accepted" } else { "OK" };
    let tag = ctx.token();
    respond(ctx, to, &got, answer, reason, Some(&tag), &[]).await;
    match ctx.expect_final(from, &cid, "MESSAGE").await {
        Some(r) if r.status() == Some(answer) => {}
        Some(r) => wrong.push(format!(
            "{} answered the MESSAGE {answer}, but {} got {}",
            who(to),
            who(from),
            r.summary()
        )),
        None => wrong.push(format!(
            "the {answer} to the MESSAGE never reached {}",
            who(from)
        )),
    }
    if wrong.is_empty() {
        Ok(format!("{} to {}: {answer}", who(from), who(to)))
    } else {
        Err(Outcome::fail(wrong.join("; ")))
    }
}

async fn instant_messages(ctx: &mut Ctx) -> Outcome {
    let mut seen = Vec::new();
    for (from, to, text, answer) in [
        (
            RoleId::Peer,
            RoleId::Terminating,
            "Hello Bob, are you joining the call? \u{2013} Alice".as_bytes(),
            200,
        ),
        (
            RoleId::Terminating,
            RoleId::Peer,
            "Yes, in five minutes. \u{1F44D}".as_bytes(),
            202,
        ),
    ] {
        match page(ctx, from, to, text, answer).await {
            Ok(s) => seen.push(s),
            Err(o) => return o,
        }
    }
    // An MSRP session (RFC 4975): the offer from the peer, the answer from inside.
    let bob = uri_at(ctx, "bob", RoleId::Terminating);
    let invite = ctx
        .request(RoleId::Peer, "INVITE", &bob)
        .body("application/sdp", MSRP_OFFER)
        .build();
    let cid = crate::dialog::call_id(&invite);
    ctx.send_to_iut(RoleId::Peer, &invite).await;
    let Some(fwd) = ctx
        .expect_request(RoleId::Terminating, "INVITE", &cid)
        .await
    else {
        return Outcome::fail(format!(
            "messages crossed, but the INVITE offering an MSRP session never reached the inside; the peer got {}",
            ctx.what_came(RoleId::Peer, &cid)
        ));
    };
    let offer = fwd.msg().map(|m| m.body().to_vec()).unwrap_or_default();
    let offer_result = compare_msrp("the MSRP offer (peer to inside)", MSRP_OFFER, &offer);
    ctx.answer(
        RoleId::Terminating,
        &fwd,
        200,
        "OK",
        Some(("application/sdp", MSRP_ANSWER)),
    )
    .await;
    let answered = ctx.expect_final(RoleId::Peer, &cid, "INVITE").await;
    let Some(ok) = answered.filter(|r| r.status().is_some_and(|s| (200..300).contains(&s))) else {
        return match offer_result {
            Err(e) => Outcome::fail(e),
            Ok(()) => Outcome::fail(format!(
                "the inside accepted the MSRP session with 200, but the peer got {}",
                ctx.what_came(RoleId::Peer, &cid)
            )),
        };
    };
    let answer = ok.msg().map(|m| m.body().to_vec()).unwrap_or_default();
    let answer_result = compare_msrp("the MSRP answer (inside to peer)", MSRP_ANSWER, &answer);
    hang_up(ctx, &invite, &ok).await;
    match (offer_result, answer_result) {
        (Ok(()), Ok(())) => Outcome::pass(format!(
            "MESSAGE crossed both ways ({}) with the text as sent; the MSRP offer and answer crossed with their m=message, a=path and a=accept-types lines byte for byte",
            seen.join(", ")
        )),
        (Err(e), _) | (_, Err(e)) => Outcome::fail(e),
    }
}

/// One way across: `watcher` subscribes to `presentity`, which notifies
/// `doc`; the document that arrives is judged, then the subscription ends.
async fn pidf_across(
    ctx: &mut Ctx,
    watcher: RoleId,
    presentity: RoleId,
    doc: &[u8],
) -> Result<String, Outcome> {
    let user = if presentity == RoleId::Peer {
        "alice"
    } else {
        "bob"
    };
    let ruri = uri_at(ctx, user, presentity);
    let accept = [("Accept", "application/pidf+xml")];
    let mut s = subscribe(
        ctx,
        watcher,
        presentity,
        &ruri,
        &accept,
        "a presence subscription",
    )
    .await
    .map_err(|o| {
        Outcome::inconclusive(format!(
            "no subscription from {} to {} to carry PIDF: {}",
            who(watcher),
            who(presentity),
            o.reason
        ))
    })?;
    let got = s
        .notify(
            ctx,
            "active;expires=600",
            Some(("application/pidf+xml", doc)),
            &[],
        )
        .await
        .map_err(|o| Outcome::inconclusive(format!("no NOTIFY to carry PIDF: {}", o.reason)))?;
    let sent = Pidf::parse(doc).map_err(|e| Outcome::inconclusive(format!("our own PIDF: {e}")))?;
    let body = got.msg().map(|m| m.body().to_vec()).unwrap_or_default();
    let verdict = match Pidf::parse(&body) {
        Err(e) => Err(Outcome::fail(format!(
            "the PIDF that reached {} is no longer valid PIDF: {e}",
            who(watcher)
        ))),
        Ok(arrived) => {
            let d = sent.differences(&arrived);
            if d.is_empty() {
                Ok(format!(
                    "{} got {} as {} sent it",
                    who(watcher),
                    arrived.summary(),
                    who(presentity)
                ))
            } else {
                Err(Outcome::fail(format!(
                    "the PIDF that reached {} does not mean what {} sent: {}",
                    who(watcher),
                    who(presentity),
                    d.join("; ")
                )))
            }
        }
    };
    // Leave nothing behind, whatever the verdict.
    let _ = s.end(ctx, &[]).await;
    verdict
}

async fn pidf_intact(ctx: &mut Ctx) -> Outcome {
    let mut seen = Vec::new();
    for (watcher, presentity, doc) in [
        (RoleId::Peer, RoleId::Terminating, PIDF_INSIDE),
        (RoleId::Terminating, RoleId::Peer, PIDF_PEER),
    ] {
        match pidf_across(ctx, watcher, presentity, doc).await {
            Ok(s) => seen.push(s),
            Err(o) => return o,
        }
    }
    Outcome::pass(format!(
        "both PIDF documents arrived valid and with the same meaning: {}",
        seen.join("; ")
    ))
}

const RLS_BOUNDARY: &str = "50UBfW7LSCVLtggUPe5z";

/// The full-state notification of the list `friends` (RFC 4662 §5): the
/// RLMI root and one PIDF part per active resource.
fn list_notification() -> (String, Vec<u8>) {
    let ct = format!(
        "multipart/related;type=\"application/rlmi+xml\";start=\"<nXYxAE@ssp.example>\";boundary=\"{RLS_BOUNDARY}\""
    );
    let rlmi = r#"<?xml version="1.0" encoding="UTF-8"?>
<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:friends@ssp.example" version="1" fullState="true">
  <name xml:lang="en">Friends</name>
  <resource uri="sip:bob@ssp.example"><name>Bob</name><instance id="juwigmtboe" state="active" cid="bZr6Zyhr@ssp.example"/></resource>
  <resource uri="sip:carol@ssp.example"><name>Carol</name><instance id="hqzsuxtfyq" state="active" cid="ZvSvkz@ssp.example"/></resource>
  <resource uri="sip:dave@ssp.example"><name>Dave</name><instance id="oqhrgbvwmx" state="pending"/></resource>
</list>"#;
    let carol = r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:carol@ssp.example">
  <tuple id="c1"><status><basic>closed</basic></status></tuple>
</presence>"#;
    let bob = String::from_utf8_lossy(PIDF_INSIDE_LATER);
    let mut body = String::new();
    for (ct, id, doc) in [
        (
            "application/rlmi+xml;charset=\"UTF-8\"",
            "nXYxAE@ssp.example",
            rlmi,
        ),
        (
            "application/pidf+xml;charset=\"UTF-8\"",
            "bZr6Zyhr@ssp.example",
            bob.trim_end(),
        ),
        (
            "application/pidf+xml;charset=\"UTF-8\"",
            "ZvSvkz@ssp.example",
            carol,
        ),
    ] {
        body.push_str(&format!(
            "--{RLS_BOUNDARY}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{id}>\r\nContent-Type: {ct}\r\n\r\n{doc}\r\n"
        ));
    }
    body.push_str(&format!("--{RLS_BOUNDARY}--\r\n"));
    (ct, body.into_bytes())
}

/// Whether the list notification that arrived means what was sent: each
/// part there with its type and Content-ID, the RLMI root valid and the
/// same, each PIDF part valid and the same.
fn judge_list(sent_ct: &str, sent: &[u8], got_ct: &str, got: &[u8]) -> Result<String, String> {
    let want = multipart(sent_ct, sent).map_err(|e| format!("our own body: {e}"))?;
    let got_media = got_ct.split(';').next().unwrap_or("").trim();
    if !got_media.eq_ignore_ascii_case("multipart/related") {
        return Err(format!(
            "the list NOTIFY reached the peer as {got_media}, no longer multipart/related: the presence documents of the list were lost on the way"
        ));
    }
    let have = multipart(got_ct, got)
        .map_err(|e| format!("the list NOTIFY's multipart/related body arrived broken: {e}"))?;
    if have.len() != want.len() {
        return Err(format!(
            "the list notification arrived with {} parts, sent with {}",
            have.len(),
            want.len()
        ));
    }
    let ids: Vec<&str> = have
        .iter()
        .filter_map(|p| p.content_id.as_deref())
        .map(bare_id)
        .collect();
    let start = content_type_param(got_ct, "start");
    for (w, h) in want.iter().zip(&have) {
        let id = w.content_id.as_deref().unwrap_or("");
        if w.content_id != h.content_id || w.content_type != h.content_type {
            return Err(format!(
                "part {id} arrived as {:?} {:?}, sent as {:?} {:?}",
                h.content_id.as_deref().unwrap_or(""),
                h.content_type,
                id,
                w.content_type
            ));
        }
        let media = w.content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/rlmi+xml" => {
                let a = rlmi(&w.body, &ids).map_err(|e| format!("our own RLMI: {e}"))?;
                let b =
                    rlmi(&h.body, &ids).map_err(|e| format!("the RLMI root that arrived: {e}"))?;
                if a != b {
                    return Err(
                        "the RLMI document arrived with other resources or states than sent".into(),
                    );
                }
            }
            "application/pidf+xml" => {
                let a = Pidf::parse(&w.body).map_err(|e| format!("our own PIDF: {e}"))?;
                let b = Pidf::parse(&h.body)
                    .map_err(|e| format!("the PIDF part {id} that arrived: {e}"))?;
                let d = a.differences(&b);
                if !d.is_empty() {
                    return Err(format!("the PIDF part {id}: {}", d.join("; ")));
                }
            }
            _ if w.body != h.body => return Err(format!("part {id} was altered")),
            _ => {}
        }
    }
    if start != content_type_param(sent_ct, "start") {
        return Err(format!(
            "the root part named by start= became {:?}",
            start.unwrap_or_default()
        ));
    }
    Ok(format!(
        "the RLMI root and {} PIDF parts crossed with their meaning",
        want.len() - 1
    ))
}

async fn resource_list(ctx: &mut Ctx) -> Outcome {
    let list = uri_at(ctx, "friends", RoleId::Terminating);
    let ask = [
        (
            "Accept",
            "application/pidf+xml, application/rlmi+xml, multipart/related",
        ),
        ("Require", "eventlist"),
        ("Supported", "eventlist"),
    ];
    let mut s = match subscribe(
        ctx,
        RoleId::Peer,
        RoleId::Terminating,
        &list,
        &ask,
        "a resource-list subscription",
    )
    .await
    {
        Ok(s) => s,
        Err(o) => return o,
    };
    // The RLS needs to see the watcher asks for a list (RFC 4662 §4).
    if let Some(m) = s.at_notifier.msg() {
        for name in ["Require", "Supported"] {
            let has = m
                .headers()
                .iter()
                .filter(|h| h.name_raw.eq_ignore_ascii_case(name))
                .filter_map(|h| h.value_str())
                .any(|v| {
                    v.split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("eventlist"))
                });
            if !has {
                s.findings.push(format!(
                    "the list SUBSCRIBE reached the inside without eventlist in {name}"
                ));
            }
        }
    }
    let (ct, body) = list_notification();
    let require = [("Require", "eventlist")];
    let got = match s
        .notify(ctx, "active;expires=600", Some((&ct, &body)), &require)
        .await
    {
        Ok(r) => r,
        Err(o) => return with_findings(o, &s.findings),
    };
    let mut verdict = match got.msg() {
        Some(m) => {
            let got_ct = field(&m, "Content-Type").unwrap_or_default();
            if m.body() == body.as_slice() && got_ct == ct {
                Ok("the multipart/related body crossed byte for byte".to_string())
            } else {
                judge_list(&ct, &body, &got_ct, m.body())
            }
        }
        None => Err("the list NOTIFY arrived unparseable".into()),
    };
    if let Some(m) = got.msg() {
        let required = field(&m, "Require").is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("eventlist"))
        });
        if !required && verdict.is_ok() {
            verdict = Err("the list NOTIFY arrived without Require: eventlist".into());
        }
    }
    if let Err(o) = s.end(ctx, &require).await {
        return with_findings(o, &s.findings);
    }
    match verdict {
        Ok(how) if s.findings.is_empty() => Outcome::pass(format!(
            "the list SUBSCRIBE crossed with Require and Supported: eventlist, and {how} ({} NOTIFYs in the dialog, the last terminated)",
            s.notifies
        )),
        Ok(_) => Outcome::fail(s.findings.join("; ")),
        Err(e) => Outcome::fail(
            std::iter::once(e)
                .chain(s.findings.iter().cloned())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_are_what_they_claim() {
        for doc in [PIDF_INSIDE, PIDF_INSIDE_LATER, PIDF_PEER] {
            Pidf::parse(doc).unwrap();
        }
        assert_eq!(
            Pidf::parse(PIDF_INSIDE).unwrap().summary(),
            "2 tuples (bob-phone open, bob-desktop closed)"
        );
        assert_eq!(compare_msrp("x", MSRP_OFFER, MSRP_OFFER), Ok(()));
        let stripped = String::from_utf8_lossy(MSRP_OFFER)
            .replace("a=path:msrp://127.0.0.2:7654/jshA7weztas;tcp\r\n", "");
        let e = compare_msrp("x", MSRP_OFFER, stripped.as_bytes()).unwrap_err();
        assert!(e.contains("a=path"), "{e}");
        let (ct, body) = list_notification();
        assert_eq!(
            judge_list(&ct, &body, &ct, &body).unwrap(),
            "the RLMI root and 2 PIDF parts crossed with their meaning"
        );
        // Flattened to its root part, the list is judged lost.
        let parts = multipart(&ct, &body).unwrap();
        let e = judge_list(&ct, &body, "application/rlmi+xml", &parts[0].body).unwrap_err();
        assert!(e.contains("no longer multipart/related"), "{e}");
    }
}
