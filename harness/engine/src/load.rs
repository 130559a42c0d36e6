//! The IUT throughput benchmark (`speermint load`): the peer role places
//! calls through the IUT to the terminating role, as SIPp's `uac` and `uas`
//! scenarios do (INVITE, 200, ACK, BYE, 200), at a call rate that steps up
//! until a step fails. A step passes with no failed call and at most 0.1 %
//! of the messages sent being retransmissions; the result is the highest
//! rate that passed, with its transactions per second and INVITE response
//! times.
//!
//! [`LoadGen`] is the sans-IO node (both roles, their timers, the
//! measurements); [`run`] drives it over two sockets and the real clock.
//! UAC and UAS follow RFC 3261: Timer A and E retransmissions over UDP
//! (§17.1.1.2, §17.1.2.2), the UAS resending its 2xx until the ACK
//! (§13.3.1.4), ACK and BYE sent along the Record-Route set (§12.1.2,
//! §12.2.1.1). A call that is not over within the call timeout fails.

use serde::Serialize;
use speermint_net::{Network, UdpSock};
use speermint_node::{Input, Node, Output, Path, Transmit, Transport};
use speermint_sip::{HeaderName, Message, MessageBuilder};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The IUT.
    pub target: SocketAddr,
    /// Call rates to try, in calls per second, in order; stepping stops at
    /// the first that fails.
    pub rates: Vec<u32>,
    /// How long calls are started at each rate.
    pub step: Duration,
    /// A call not over by then fails (RFC 3261's 32 s Timer B would make
    /// every step last half a minute).
    pub call_timeout: Duration,
    /// T1 of the UAC and UAS retransmissions.
    pub t1: Duration,
}

/// The verdict rule of a step: no failed call, and at most this share of
/// the messages sent retransmitted.
pub const MAX_RETRANSMISSION_SHARE: f64 = 0.001;

/// One step's measurements.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepReport {
    /// Calls per second asked for.
    pub rate: u32,
    /// Calls started.
    pub calls: u64,
    /// Calls whose BYE got its 200.
    pub succeeded: u64,
    /// Calls that got a final non-2xx, or were not over in time.
    pub failed: u64,
    /// Requests and 2xx sent again by a timer (UAC and UAS).
    pub retransmissions: u64,
    /// Messages sent by both roles, retransmissions included.
    pub messages_sent: u64,
    /// Completed INVITE and BYE transactions per second of the step.
    pub transactions_per_s: f64,
    /// INVITE sent to 200 received, in milliseconds: p50, p90, p99, max.
    pub response_ms: [f64; 4],
    /// Whether the step passed (see [`MAX_RETRANSMISSION_SHARE`]).
    pub passed: bool,
    /// Why not, when it did not.
    pub why: String,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Tool and version.
    pub tool: String,
    /// The IUT.
    pub target: String,
    /// Highest rate that passed, if any did.
    pub max_clean_rate: Option<u32>,
    /// Whether the IUT answered anything at all (when not, the run says
    /// nothing of its throughput: a set-up fault).
    pub iut_answered: bool,
    /// Every step run.
    pub steps: Vec<StepReport>,
}

impl LoadReport {
    /// The report as Markdown: the result, then a row per step.
    pub fn to_markdown(&self) -> String {
        let mut md = format!(
            "# Throughput of {}\n\n{}\n\nA step passes with 0 failed calls and at most {:.1} % of the messages sent being retransmissions.\n\n",
            self.target,
            match self.max_clean_rate {
                Some(r) => format!("**Highest clean rate: {r} calls/s.**"),
                None => "**No rate passed.**".to_string(),
            },
            MAX_RETRANSMISSION_SHARE * 100.0
        );
        md.push_str("| calls/s | calls | ok | failed | retransmissions | transactions/s | INVITE→200 p50 / p90 / p99 / max (ms) | verdict |\n");
        md.push_str("|---|---|---|---|---|---|---|---|\n");
        for s in &self.steps {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} of {} | {:.0} | {:.1} / {:.1} / {:.1} / {:.1} | {} |\n",
                s.rate,
                s.calls,
                s.succeeded,
                s.failed,
                s.retransmissions,
                s.messages_sent,
                s.transactions_per_s,
                s.response_ms[0],
                s.response_ms[1],
                s.response_ms[2],
                s.response_ms[3],
                if s.passed {
                    "pass".to_string()
                } else {
                    format!("fail: {}", s.why)
                }
            ));
        }
        md
    }
}

/// What the node reports.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadEvent {
    /// A step ended.
    Step(StepReport),
    /// Every step has run (or one failed).
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// INVITE sent, no response yet: Timer A runs.
    Inviting,
    /// A provisional came: waiting for the final response.
    Ringing,
    /// BYE sent: Timer E runs.
    Hanging,
}

#[derive(Debug)]
struct Call {
    step: usize,
    phase: Phase,
    started: Instant,
    /// The request the UAC retransmits (INVITE or BYE) and its interval.
    request: Vec<u8>,
    interval: Duration,
    retransmit_at: Option<Instant>,
    /// The ACK and where it goes, resent on a retransmitted 2xx.
    ack: Option<Addressed>,
    /// UAS side: the 2xx it resends until the ACK (§13.3.1.4).
    uas_ok: Option<Vec<u8>>,
    uas_interval: Duration,
    uas_retransmit_at: Option<Instant>,
    uas_from: Option<SocketAddr>,
}

#[derive(Debug, Default)]
struct StepTally {
    rate: u32,
    calls: u64,
    succeeded: u64,
    failed: u64,
    retransmissions: u64,
    sent: u64,
    response_us: Vec<u64>,
    open: u64,
}

/// The load generator: the peer (UAC) and terminating (UAS) roles.
#[derive(Debug)]
pub struct LoadGen {
    plan: LoadPlan,
    uac: SocketAddr,
    uas: SocketAddr,
    token: String,
    calls: HashMap<u64, Call>,
    /// Deadlines by call (lazy: checked against the call when due).
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    next_call: u64,
    step: usize,
    step_first_call: u64,
    step_began: Option<Instant>,
    tallies: Vec<StepTally>,
    out: VecDeque<Output<LoadEvent>>,
    /// The current step's start window has passed (no wake-up for it).
    window_over: bool,
    done: bool,
    answered: bool,
}

const SDP: &[u8] = b"v=0\r\no=load 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

impl LoadGen {
    /// A generator whose UAC sends from `uac` and whose UAS answers on
    /// `uas`; `token` makes its Call-IDs unique to the run.
    pub fn new(plan: LoadPlan, uac: SocketAddr, uas: SocketAddr, token: &str) -> Self {
        Self {
            plan,
            uac,
            uas,
            token: token.to_owned(),
            calls: HashMap::new(),
            timers: BinaryHeap::new(),
            next_call: 0,
            step: 0,
            step_first_call: 0,
            step_began: None,
            tallies: Vec::new(),
            out: VecDeque::new(),
            window_over: false,
            done: false,
            answered: false,
        }
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>, step: usize, again: bool) {
        if let Some(t) = self.tallies.get_mut(step) {
            t.sent += 1;
            t.retransmissions += u64::from(again);
        }
        self.out.push_back(Output::Transmit(Transmit {
            path: Path {
                local: from,
                remote: to,
                transport: Transport::Udp,
            },
            bytes,
        }));
    }

    fn call_id(&self, n: u64) -> String {
        format!("ld{n}-{}@{}", self.token, self.uac)
    }

    /// The call a message belongs to, from its Call-ID.
    fn call_of(&self, msg: &Message<'_>) -> Option<u64> {
        let id = msg.core().call_id;
        let rest = id.strip_prefix("ld")?;
        let (n, tail) = rest.split_once('-')?;
        tail.starts_with(self.token.as_str())
            .then(|| n.parse().ok())
            .flatten()
    }

    fn start_call(&mut self, now: Instant) {
        let n = self.next_call;
        self.next_call += 1;
        let (uac, target) = (self.uac, self.plan.target);
        let invite = MessageBuilder::request("INVITE", &format!("sip:load@{target}"))
            .header(
                "Via",
                format!("SIP/2.0/UDP {uac};branch=z9hG4bK-ld{n}i;rport"),
            )
            .header("Max-Forwards", 70)
            .header("From", format!("<sip:load@{uac}>;tag=ld{n}"))
            .header("To", format!("<sip:load@{target}>"))
            .header("Call-ID", self.call_id(n))
            .header("CSeq", "1 INVITE")
            .header("Contact", format!("<sip:load@{uac}>"))
            .body("application/sdp", SDP)
            .build();
        let step = self.step;
        if let Some(t) = self.tallies.get_mut(step) {
            t.calls += 1;
            t.open += 1;
        }
        let t1 = self.plan.t1;
        self.calls.insert(
            n,
            Call {
                step,
                phase: Phase::Inviting,
                started: now,
                request: invite.clone(),
                interval: t1,
                retransmit_at: Some(now + t1),
                ack: None,
                uas_ok: None,
                uas_interval: t1,
                uas_retransmit_at: None,
                uas_from: None,
            },
        );
        self.timers.push(Reverse((now + t1, n)));
        self.timers.push(Reverse((now + self.plan.call_timeout, n)));
        self.send(uac, target, invite, step, false);
    }

    fn finish(&mut self, n: u64, ok: bool, why: &str) {
        // The UAS state goes with the call: a late retransmission finds no
        // call and is ignored.
        let Some(c) = self.calls.remove(&n) else {
            return;
        };
        if let Some(t) = self.tallies.get_mut(c.step) {
            t.open = t.open.saturating_sub(1);
            if ok {
                t.succeeded += 1;
            } else {
                t.failed += 1;
                tracing::debug!("call {n} failed: {why}");
            }
        }
    }

    /// A request or response the UAC (on `self.uac`) received.
    fn uac_input(&mut self, now: Instant, msg: &Message<'_>) {
        self.answered = true;
        let Some(n) = self.call_of(msg) else { return };
        let Some(code) = msg.status() else { return };
        let method = msg.core().cseq.method;
        let Some(c) = self.calls.get_mut(&n) else {
            return;
        };
        let step = c.step;
        match (c.phase, method) {
            (Phase::Inviting | Phase::Ringing, "INVITE") if code < 200 => {
                c.phase = Phase::Ringing;
                c.retransmit_at = None; // Timer A stops on a provisional.
            }
            (Phase::Inviting | Phase::Ringing, "INVITE") if code < 300 => {
                let us = now.saturating_duration_since(c.started).as_micros() as u64;
                let Some((ack, bye)) = dialog_requests(msg, self.uac) else {
                    self.finish(n, false, "2xx without a usable Contact");
                    return;
                };
                let t1 = self.plan.t1;
                let c = self.calls.get_mut(&n).expect("looked up above");
                c.phase = Phase::Hanging;
                c.ack = Some(ack.clone());
                c.request = bye.1.clone();
                c.interval = t1;
                c.retransmit_at = Some(now + t1);
                self.timers.push(Reverse((now + t1, n)));
                if let Some(t) = self.tallies.get_mut(step) {
                    t.response_us.push(us);
                }
                self.send(self.uac, ack.0, ack.1, step, false);
                self.send(self.uac, bye.0, bye.1, step, false);
            }
            (Phase::Inviting | Phase::Ringing, "INVITE") => {
                self.finish(n, false, "INVITE refused");
            }
            (Phase::Hanging, "INVITE") if (200..300).contains(&code) => {
                // A retransmitted 2xx: the ACK again.
                if let Some((to, ack)) = c.ack.clone() {
                    self.send(self.uac, to, ack, step, false);
                }
            }
            (Phase::Hanging, "BYE") if code >= 200 => self.finish(n, code < 300, "BYE refused"),
            (Phase::Hanging, "BYE") => {
                // A provisional to the BYE: Timer E goes to T2 (4 s).
                c.interval = Duration::from_secs(4);
            }
            _ => {}
        }
    }

    /// A request the UAS (on `self.uas`) received from `from`.
    fn uas_input(&mut self, now: Instant, from: SocketAddr, msg: &Message<'_>) {
        if !msg.is_request() {
            return;
        }
        let Some(n) = self.call_of(msg) else { return };
        let method = msg.method().to_owned();
        let uas = self.uas;
        let Some(c) = self.calls.get_mut(&n) else {
            // A call already over: a BYE retransmission still gets its 200.
            if method == "BYE" {
                let ok = MessageBuilder::response_to(msg, 200, "OK", Some("uas")).build();
                self.send(uas, from, ok, usize::MAX, false);
            }
            return;
        };
        let step = c.step;
        match method.as_str() {
            "INVITE" => {
                let ok = match &c.uas_ok {
                    Some(ok) => ok.clone(),
                    None => {
                        let mut b =
                            MessageBuilder::response_to(msg, 200, "OK", Some(&format!("u{n}")));
                        for rr in msg.values(HeaderName::RecordRoute) {
                            b = b.header("Record-Route", rr);
                        }
                        let ok = b
                            .header("Contact", format!("<sip:load@{uas}>"))
                            .body("application/sdp", SDP)
                            .build();
                        let t1 = self.plan.t1;
                        c.uas_ok = Some(ok.clone());
                        c.uas_from = Some(from);
                        c.uas_interval = t1;
                        c.uas_retransmit_at = Some(now + t1);
                        self.timers.push(Reverse((now + t1, n)));
                        ok
                    }
                };
                self.send(uas, from, ok, step, false);
            }
            "ACK" => c.uas_retransmit_at = None,
            "BYE" => {
                c.uas_retransmit_at = None;
                let ok = MessageBuilder::response_to(msg, 200, "OK", None).build();
                self.send(uas, from, ok, step, false);
            }
            _ => {
                let ok = MessageBuilder::response_to(msg, 200, "OK", None).build();
                self.send(uas, from, ok, step, false);
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        // New calls due at the step's rate.
        while self.next_call_at().is_some_and(|at| at <= now) {
            self.start_call(now);
        }
        while let Some(Reverse((at, n))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.call_timer(now, n);
        }
        self.maybe_end_step(now);
    }

    fn call_timer(&mut self, now: Instant, n: u64) {
        let timeout = self.plan.call_timeout;
        let Some(c) = self.calls.get_mut(&n) else {
            return;
        };
        if now.saturating_duration_since(c.started) >= timeout {
            self.finish(n, false, "not over within the call timeout");
            return;
        }
        let (step, target, uac, uas) = (c.step, self.plan.target, self.uac, self.uas);
        let mut sends = Vec::new();
        if c.retransmit_at.is_some_and(|at| at <= now) {
            sends.push((uac, target, c.request.clone()));
            c.interval = if c.phase == Phase::Inviting {
                c.interval * 2
            } else {
                (c.interval * 2).min(Duration::from_secs(4))
            };
            c.retransmit_at = Some(now + c.interval);
            self.timers.push(Reverse((now + c.interval, n)));
        }
        if let (Some(at), Some(ok), Some(to)) = (c.uas_retransmit_at, &c.uas_ok, c.uas_from) {
            if at <= now {
                sends.push((uas, to, ok.clone()));
                c.uas_interval = (c.uas_interval * 2).min(Duration::from_secs(4));
                c.uas_retransmit_at = Some(now + c.uas_interval);
                self.timers.push(Reverse((now + c.uas_interval, n)));
            }
        }
        for (from, to, bytes) in sends {
            self.send(from, to, bytes, step, true);
        }
    }

    /// A step ends once its calls are all started and all over.
    fn maybe_end_step(&mut self, now: Instant) {
        let Some(began) = self.step_began else { return };
        if now.saturating_duration_since(began) < self.plan.step {
            return;
        }
        self.window_over = true;
        let tally = &self.tallies[self.step];
        if tally.open > 0 {
            return;
        }
        let report = step_report(tally, self.plan.step);
        let passed = report.passed;
        self.out.push_back(Output::Event(LoadEvent::Step(report)));
        self.step += 1;
        if !passed || self.step >= self.plan.rates.len() {
            self.step_began = None;
            self.done = true;
            self.out.push_back(Output::Event(LoadEvent::Done));
        } else {
            self.begin_step(now);
        }
    }

    fn begin_step(&mut self, now: Instant) {
        self.step_began = Some(now);
        self.window_over = false;
        self.step_first_call = self.next_call;
        self.tallies.push(StepTally {
            rate: self.plan.rates[self.step],
            ..StepTally::default()
        });
    }

    /// When the next call of the step starts: call k (from 0) at k/rate
    /// after the step began, for as many calls as the window holds.
    fn next_call_at(&self) -> Option<Instant> {
        let began = self.step_began?;
        let rate = self.plan.rates[self.step].max(1);
        let k = self.next_call - self.step_first_call;
        let window_calls = (self.plan.step.as_secs_f64() * f64::from(rate)).round() as u64;
        (k < window_calls).then(|| began + Duration::from_secs_f64(k as f64 / f64::from(rate)))
    }

    /// When the node next needs the clock.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        // The next call to start, or the end of the start window.
        let window_end = self
            .step_began
            .filter(|_| !self.window_over)
            .map(|b| b + self.plan.step);
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        [self.next_call_at(), window_end, timer]
            .into_iter()
            .flatten()
            .min()
    }

    /// Starts the first step.
    pub fn start(&mut self, now: Instant) {
        if self.plan.rates.is_empty() {
            self.done = true;
            self.out.push_back(Output::Event(LoadEvent::Done));
            return;
        }
        self.begin_step(now);
    }
}

/// A request and where it goes.
type Addressed = (SocketAddr, Vec<u8>);

/// The ACK and the BYE of a call whose INVITE got `ok`, each with where it
/// goes: the first Record-Route entry (the route set of a UAC is the
/// Record-Route list reversed, §12.1.2, so its first hop is the last
/// entry), or the Contact when there is none.
fn dialog_requests(ok: &Message<'_>, uac: SocketAddr) -> Option<(Addressed, Addressed)> {
    let contact = ok
        .name_addrs(HeaderName::Contact)
        .next()?
        .uri
        .raw()
        .to_owned();
    let rr: Vec<String> = ok
        .values(HeaderName::RecordRoute)
        .flat_map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let route: Vec<&String> = rr.iter().rev().collect();
    let first_hop = route
        .first()
        .and_then(|r| hostport_of(r))
        .or_else(|| hostport_of(&contact))?;
    let c = ok.core();
    let build = |method: &str, seq: u32| {
        let mut b = MessageBuilder::request(method, &contact)
            .header(
                "Via",
                format!(
                    "SIP/2.0/UDP {uac};branch=z9hG4bK-{}{};rport",
                    method.to_ascii_lowercase(),
                    c.call_id.split('@').next().unwrap_or_default()
                ),
            )
            .header("Max-Forwards", 70)
            .header("From", c.from.raw)
            .header("To", c.to.raw)
            .header("Call-ID", c.call_id)
            .header("CSeq", format!("{seq} {method}"));
        for r in &route {
            b = b.header("Route", r);
        }
        b.build()
    };
    Some(((first_hop, build("ACK", 1)), (first_hop, build("BYE", 2))))
}

/// The IP address and port of a SIP URI (`<sip:host:port;lr>` or bare),
/// when the host is an address: the load roles do not resolve names.
fn hostport_of(uri: &str) -> Option<SocketAddr> {
    let s = uri.trim().trim_start_matches('<');
    let s = s.strip_prefix("sip:")?;
    let s = s.split(['>', ';']).next()?;
    let s = s.rsplit('@').next()?;
    s.parse()
        .ok()
        .or_else(|| format!("{s}:5060").parse().ok())
        .or_else(|| {
            s.parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 5060))
        })
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

fn step_report(t: &StepTally, step: Duration) -> StepReport {
    let mut rt = t.response_us.clone();
    rt.sort_unstable();
    let share = if t.sent == 0 {
        0.0
    } else {
        t.retransmissions as f64 / t.sent as f64
    };
    let why = if t.failed > 0 {
        format!("{} of {} calls failed", t.failed, t.calls)
    } else if share > MAX_RETRANSMISSION_SHARE {
        format!(
            "{:.2} % of the messages sent were retransmissions",
            share * 100.0
        )
    } else {
        String::new()
    };
    StepReport {
        rate: t.rate,
        calls: t.calls,
        succeeded: t.succeeded,
        failed: t.failed,
        retransmissions: t.retransmissions,
        messages_sent: t.sent,
        transactions_per_s: (2 * t.succeeded) as f64 / step.as_secs_f64(),
        response_ms: [
            percentile(&rt, 0.5),
            percentile(&rt, 0.9),
            percentile(&rt, 0.99),
            rt.last().map_or(0.0, |m| *m as f64 / 1000.0),
        ],
        passed: why.is_empty(),
        why,
    }
}

impl Node for LoadGen {
    type Command = std::convert::Infallible;
    type Event = LoadEvent;

    fn handle_input(&mut self, now: Instant, input: Input<'_, Self::Command>) {
        match input {
            Input::Datagram { path, bytes } => {
                if let Ok(msg) = Message::parse(bytes) {
                    if path.local == self.uac {
                        self.uac_input(now, &msg);
                    } else if path.local == self.uas {
                        self.uas_input(now, path.remote, &msg);
                    }
                }
                self.maybe_end_step(now);
            }
            Input::Timeout => self.on_timeout(now),
            Input::StreamData { .. } | Input::Command(_) => {}
        }
    }

    fn poll_output(&mut self) -> Option<Output<LoadEvent>> {
        self.out.pop_front()
    }
}

/// The generator's two sockets, bound before the run so that an IUT can be
/// pointed at the answering side's address (port 0 picks one) with no
/// window in which another process could take it.
#[derive(Debug)]
pub struct LoadSockets {
    uac: UdpSock,
    uas: UdpSock,
}

impl LoadSockets {
    /// Binds the calling side at `uac` and the answering side at `uas`.
    pub async fn bind(uac: SocketAddr, uas: SocketAddr) -> std::io::Result<Self> {
        let net = Network::Sockets;
        Ok(Self {
            uac: net.bind_udp_shared(uac, 1).await?.remove(0),
            uas: net.bind_udp_shared(uas, 1).await?.remove(0),
        })
    }

    /// Where the answering side listens: where the IUT must relay the calls.
    pub fn uas_addr(&self) -> std::io::Result<SocketAddr> {
        self.uas.local_addr()
    }
}

/// Runs the plan from `sockets` against the IUT, printing each step
/// through `progress`; the IUT must send what it relays from the calling
/// side to [`LoadSockets::uas_addr`].
pub async fn run(
    plan: LoadPlan,
    sockets: LoadSockets,
    mut progress: impl FnMut(&StepReport),
) -> std::io::Result<LoadReport> {
    let LoadSockets { uac, uas } = sockets;
    let (uac_addr, uas_addr) = (uac.local_addr()?, uas.local_addr()?);
    let token = format!("{:x}", std::process::id() ^ (now_nanos() as u32));
    let target = plan.target;
    let mut node = LoadGen::new(plan, uac_addr, uas_addr, &token);
    node.start(Instant::now());
    let mut steps = Vec::new();
    let (mut a, mut b) = (vec![0u8; 65_535], vec![0u8; 65_535]);
    loop {
        let mut finished = false;
        while let Some(o) = node.poll_output() {
            match o {
                Output::Transmit(t) => {
                    let sock: &UdpSock = if t.path.local == uac_addr { &uac } else { &uas };
                    if let Err(e) = sock.send_to(&t.bytes, t.path.remote).await {
                        tracing::debug!("send to {}: {e}", t.path.remote);
                    }
                }
                Output::Event(LoadEvent::Step(s)) => {
                    progress(&s);
                    steps.push(s);
                }
                Output::Event(LoadEvent::Done) => finished = true,
                Output::Timeout(_) | Output::Close(_) => {}
            }
        }
        if finished {
            break;
        }
        let deadline = node.poll_timeout();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = uac.recv_from(&mut a) => if let Ok((n, from)) = r {
                let path = Path { local: uac_addr, remote: from, transport: Transport::Udp };
                node.handle_input(Instant::now(), Input::Datagram { path, bytes: &a[..n] });
            },
            r = uas.recv_from(&mut b) => if let Ok((n, from)) = r {
                let path = Path { local: uas_addr, remote: from, transport: Transport::Udp };
                node.handle_input(Instant::now(), Input::Datagram { path, bytes: &b[..n] });
            },
            () = sleep => node.handle_input(Instant::now(), Input::Timeout),
        }
    }
    let max_clean_rate = steps.iter().filter(|s| s.passed).map(|s| s.rate).max();
    Ok(LoadReport {
        tool: format!("speermint {}", env!("CARGO_PKG_VERSION")),
        target: format!("udp:{target}"),
        max_clean_rate,
        iut_answered: node.answered,
        steps,
    })
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "127.0.0.1:5060";
    const UAC: &str = "127.0.0.2:5061";
    const UAS: &str = "127.0.0.4:5070";

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Runs the generator against an IUT that relays between the roles on a
    /// virtual clock; `iut` says what becomes of the n-th datagram it gets
    /// (`None`: lost). Returns the step reports.
    fn run_against(
        rates: &[u32],
        mut iut: impl FnMut(u64, &[u8]) -> Option<Vec<u8>>,
    ) -> Vec<StepReport> {
        let plan = LoadPlan {
            target: a(TARGET),
            rates: rates.to_vec(),
            step: Duration::from_secs(1),
            call_timeout: Duration::from_secs(4),
            t1: Duration::from_millis(500),
        };
        let mut node = LoadGen::new(plan, a(UAC), a(UAS), "t");
        let mut now = Instant::now();
        node.start(now);
        let (mut steps, mut seen) = (Vec::new(), 0u64);
        for _ in 0..1_000_000 {
            let mut inputs = Vec::new();
            while let Some(o) = node.poll_output() {
                match o {
                    Output::Transmit(t) => {
                        // To the IUT: relayed to the other role. Between the
                        // roles directly (ACK, BYE to the Contact): delivered.
                        let (to, from) = if t.path.remote == a(TARGET) {
                            seen += 1;
                            let to = if t.path.local == a(UAC) {
                                a(UAS)
                            } else {
                                a(UAC)
                            };
                            match iut(seen, &t.bytes) {
                                // The IUT's own answer goes back to the sender.
                                Some(b)
                                    if b.starts_with(b"SIP/2.0")
                                        && !t.bytes.starts_with(b"SIP/2.0") =>
                                {
                                    inputs.push((t.path.local, a(TARGET), b))
                                }
                                Some(b) => inputs.push((to, a(TARGET), b)),
                                None => continue,
                            }
                            continue;
                        } else {
                            (t.path.remote, t.path.local)
                        };
                        inputs.push((to, from, t.bytes));
                    }
                    Output::Event(LoadEvent::Step(s)) => steps.push(s),
                    Output::Event(LoadEvent::Done) => return steps,
                    _ => {}
                }
            }
            if inputs.is_empty() {
                now = node
                    .poll_timeout()
                    .expect("a deadline while running")
                    .max(now);
                node.handle_input(now, Input::Timeout);
            }
            for (to, from, bytes) in inputs {
                let path = Path {
                    local: to,
                    remote: from,
                    transport: Transport::Udp,
                };
                node.handle_input(
                    now,
                    Input::Datagram {
                        path,
                        bytes: &bytes,
                    },
                );
            }
        }
        panic!("the run did not end");
    }

    #[test]
    fn a_faultless_relay_passes_every_step() {
        let steps = run_against(&[100, 300], |_, b| Some(b.to_vec()));
        assert_eq!(steps.len(), 2);
        for s in &steps {
            assert!(s.passed, "{s:?}");
            assert_eq!(
                (s.calls, s.succeeded, s.failed, s.retransmissions),
                (u64::from(s.rate), u64::from(s.rate), 0, 0)
            );
            assert_eq!(s.transactions_per_s, 2.0 * f64::from(s.rate));
        }
    }

    #[test]
    fn lost_datagrams_show_as_retransmissions_and_stop_the_stepping() {
        // Every 100th datagram through the IUT is lost: the calls recover
        // by retransmission, but 1 % is over the 0.1 % a step allows.
        let steps = run_against(&[100, 300], |n, b| (n % 100 != 0).then(|| b.to_vec()));
        assert_eq!(steps.len(), 1, "stepping stops at the failed step");
        let s = &steps[0];
        assert_eq!((s.failed, s.succeeded), (0, 100));
        assert!(s.retransmissions > 0 && !s.passed, "{s:?}");
        assert!(s.why.contains("retransmissions"), "{}", s.why);
        // A lost INVITE costs T1 before its retransmission: the tail shows it.
        assert!(s.response_ms[3] >= 500.0, "{s:?}");
    }

    #[test]
    fn refused_calls_fail_the_step() {
        // The IUT answers every tenth INVITE with 503 instead of relaying.
        let mut invites = 0;
        let steps = run_against(&[50], |_, b| {
            if b.starts_with(b"INVITE") {
                invites += 1;
                if invites % 10 == 0 {
                    let req = Message::parse(b).ok()?;
                    return Some(MessageBuilder::response_to(&req, 503, "Busy", Some("x")).build());
                }
            }
            Some(b.to_vec())
        });
        let s = &steps[0];
        assert_eq!((s.calls, s.failed), (50, 5), "{s:?}");
        assert!(
            !s.passed && s.why.contains("5 of 50 calls failed"),
            "{}",
            s.why
        );
    }
}
