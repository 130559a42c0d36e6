//! `speermint-fault`: the misbehaviour switches of the reference stack,
//! declared once.
//!
//! Each [`Fault`] breaks one rule a conformance check looks for; a check
//! lists the faults it must fail under, and the suite runs it under each.
//! Its CLI name, what it breaks and which part of the stack carries it out
//! are all here; no other place spells a fault's name.
//!
//! The list has a crate of its own because two nodes carry faults out, the
//! SBE (`speermint-sbe`) and the DBE (`speermint-dbe`), and neither should
//! depend on the other for it; the suite still sees one list.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;

/// Which part of the embedded reference stack carries a fault out. Most
/// live in the SBE core; the media ones in the DBE core; a few are about
/// how the stack is assembled (its resolver, its certificate, what it
/// publishes in DNS), and the embedded target's set-up applies those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The SBE node (`speermint_sbe::Sbe`).
    Sbe,
    /// The DBE node (`speermint_dbe::Dbe`), the Media Function.
    Dbe,
    /// The reference stack's resolver configuration.
    Resolver,
    /// What the reference SSP publishes about itself in DNS.
    Publishing,
    /// The certificate the reference SBE presents.
    Certificate,
}

macro_rules! faults {
    ($($variant:ident = $name:literal, $layer:ident, $breaks:literal;)+) => {
        /// One misbehaviour of the reference stack.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Fault {
            $(
                #[doc = $breaks]
                $variant,
            )+
        }

        impl Fault {
            /// Every fault, in declaration order.
            pub const ALL: &'static [Fault] = &[$(Fault::$variant),+];

            /// The kebab-case name (`--misbehave NAME`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Fault::$variant => $name,)+
                }
            }

            /// The rule it breaks, with its source.
            pub fn breaks(self) -> &'static str {
                match self {
                    $(Fault::$variant => $breaks,)+
                }
            }

            /// Where it is carried out.
            pub fn layer(self) -> Layer {
                match self {
                    $(Fault::$variant => Layer::$layer,)+
                }
            }
        }
    };
}

faults! {
    ForwardMalformed = "forward-malformed", Sbe,
        "Relays malformed requests as received instead of answering 400 (RFC 6404 §4.11).";
    AcceptStrangers = "accept-strangers", Sbe,
        "Treats every source as an authorised peer (RFC 6404 §4.6, RFC 6406 §6.2.2).";
    RelayForgedResponses = "relay-forged-responses", Sbe,
        "Accepts a response for a live client transaction from any source (RFC 6404 §4.6).";
    StripUnknownSdp = "strip-unknown-sdp", Sbe,
        "Removes a= lines it does not know from relayed SDP (RFC 6271 #17).";
    AcceptRegister = "accept-register", Sbe,
        "Relays REGISTER from peers (RFC 6404 §2.3.2.1).";
    IgnoreMaxForwards = "ignore-max-forwards", Sbe,
        "Neither checks nor decrements Max-Forwards (RFC 3261 §16.3 step 3, §16.6 step 3).";
    DieOnMalformed = "die-on-malformed", Sbe,
        "Stops processing anything after the first malformed request, as a crash would (RFC 6404 §4.11).";
    IgnoreSrvPriority = "ignore-srv-priority", Sbe,
        "Sends to the last resolved next hop instead of the first: NAPTR order and SRV priority ignored (RFC 3263 §4.4, RFC 2782).";
    KeepTelUri = "keep-tel-uri", Sbe,
        "Routes by the ENUM result but leaves the tel: Request-URI as it came (RFC 6116 §3.3, RFC 3261 §16.5).";
    IgnoreDnssec = "ignore-dnssec", Resolver,
        "Resolves without the DNSSEC trust anchors (RFC 6404 §4.2).";
    SingleDnsServer = "single-dns-server", Resolver,
        "Asks only the first configured DNS server (RFC 6404 §4.3).";
    StaleDns = "stale-dns", Publishing,
        "Publishes a stale SRV record for its own domain, naming a port nothing listens on (RFC 6271 #1).";
    PreferUdp = "prefer-udp", Sbe,
        "Resolves a sips: target as sip: and sends it over UDP: a transport downgrade (RFC 3261 §26.2.2, RFC 6271 #6).";
    WrongCertificate = "wrong-certificate", Certificate,
        "Presents a TLS certificate for another domain than its own (RFC 5922 §7).";
    NoFailover = "no-failover", Sbe,
        "Never tries the next resolved hop after a 503 or a timeout (RFC 3263 §4.3, RFC 6404 §4.8).";
    KnownUsersOnly = "known-users-only", Sbe,
        "Routes outbound requests only to provisioned users, 404 for others: per-user knowledge of the peer (RFC 6271 #8).";
    NoRateLimit = "no-rate-limit", Sbe,
        "Relays every request from a peer however fast it comes: no per-peer limit (RFC 6404 §4.9).";
    NoSessionLimit = "no-session-limit", Sbe,
        "Lets a peer set up any number of calls at once: no concurrent-session limit (RFC 6404 §4.9).";
    SharedRateLimit = "shared-rate-limit", Sbe,
        "Keeps one request budget for all peers, so one peer's flood refuses the others (RFC 6404 §4.9, §2.3.3).";
    LeakAssertedIdentity = "leak-asserted-identity", Sbe,
        "Sends P-Asserted-Identity to an untrusted peer although Privacy asks for id (RFC 3325 §7, RFC 6404 §4.4).";
    TrustPeerIdentity = "trust-peer-identity", Sbe,
        "Relays a P-Asserted-Identity asserted by an untrusted peer into its own domain (RFC 3325 §5).";
    StripAssertedIdentity = "strip-asserted-identity", Sbe,
        "Removes P-Asserted-Identity towards every untrusted peer, even under Privacy: none (RFC 3325 §7, RFC 3323 §5).";
    IgnoreCriticalPrivacy = "ignore-critical-privacy", Sbe,
        "Relays a request that asks for header privacy as critical without giving it, instead of failing it with 500 (RFC 3323 §5).";
    AddressInHeaders = "address-in-headers", Sbe,
        "Names itself by IP address in Via and Record-Route although it has a domain name (RFC 6271 #7).";
    UndeclaredEgress = "undeclared-egress", Publishing,
        "Declares an egress SBE address its calls do not leave from (RFC 6271 #2).";
    AcceptBadIdentity = "accept-bad-identity", Sbe,
        "Relays peers' INVITEs without checking their Identity: missing, forged, stale or for another domain (RFC 8224 §6.2, RFC 6404 §4.7).";
    UnsignedEgress = "unsigned-egress", Sbe,
        "Sends its own INVITEs to peers without an Identity header (RFC 8224 §5, RFC 6404 §4.7).";
    AcceptAnyClientCert = "accept-any-client-cert", Certificate,
        "Asks TLS clients for no certificate, so any client, peer or not, gets a session (RFC 6404 §4.5).";
    RawEnumQuery = "raw-enum-query", Sbe,
        "Asks DNS for the ENUM domain built from the raw tel: text, one label per character, before the real lookup (RFC 6404 §4.1).";
    LeakVia = "leak-via", Sbe,
        "Hides its topology but lets the inside's Via entries out to peers (RFC 5853 §3.1.3, RFC 6404 §4.10).";
    LeakRecordRoute = "leak-record-route", Sbe,
        "Hides its topology but lets the inside's Record-Route entries out to peers (RFC 5853 §3.1.3, RFC 6404 §4.10).";
    LeakContact = "leak-contact", Sbe,
        "Hides its topology but leaves the inside user agent's Contact in what goes to peers (RFC 5853 §3.1.1, RFC 6404 §4.10).";
    LeakCallId = "leak-call-id", Sbe,
        "Hides its topology but keeps the inside's Call-ID, host part and all, towards peers (RFC 5853 §3.1.1, RFC 6404 §4.10).";
    LeakSdpOrigin = "leak-sdp-origin", Sbe,
        "Hides its topology but leaves the inside's username and address in the SDP o= line (RFC 4566 §5.2, RFC 6404 §4.10).";
    PlaintextDns = "plaintext-dns", Resolver,
        "Queries its LUF/LRF servers over UDP and TCP in the clear instead of DNS over TLS (RFC 6271 #16, RFC 7858).";
    DnsNoClientCert = "dns-no-client-cert", Resolver,
        "Opens DNS over TLS to its LUF/LRF servers without a client certificate, so they cannot authenticate it (RFC 6271 #15).";
    AcceptAnyDnsServerCert = "accept-any-dns-server-cert", Resolver,
        "Takes any certificate from its LUF/LRF servers over TLS, whatever its issuer or name (RFC 6271 #15, RFC 8310 §8.1).";
    SameSbeForAllPeers = "same-sbe-for-all-peers", Publishing,
        "Advertises the same ingress SBE to every peer although its SSP gives each peer its own (RFC 6271 #4).";
    DropSubscribe = "drop-subscribe", Sbe,
        "Drops every SUBSCRIBE, neither relaying nor answering it, so no presence subscription crosses the border (RFC 6271 #10, RFC 6665).";
    NotifyOutsideDialog = "notify-outside-dialog", Sbe,
        "Adds no Record-Route to SUBSCRIBE or NOTIFY, so the subscription's route set leaves the border out and its refreshes and NOTIFYs would bypass it (RFC 6665 §4.3).";
    ManglePidf = "mangle-pidf", Sbe,
        "Keeps only the first tuple of a PIDF body it relays, as a gateway that knows one status per presentity would (RFC 3863 §4, RFC 6271 #14, RFC 3261 §16.6 step 1).";
    StripMsrpPath = "strip-msrp-path", Sbe,
        "Removes a=path from relayed SDP, so the MSRP endpoints of an IM session cannot find each other (RFC 4975 §8, RFC 6271 #11).";
    DropMessage = "drop-message", Sbe,
        "Drops every MESSAGE, neither relaying nor answering it, so no page-mode IM crosses the border (RFC 3428, RFC 6271 #11).";
    FlattenMultipart = "flatten-multipart", Sbe,
        "Relays only the root part of a multipart body, so a resource list's NOTIFY loses its presence documents (RFC 4662, RFC 6271 #13, RFC 3261 §16.6 step 1).";
    MediaBypass = "media-bypass", Sbe,
        "Allocates a DBE relay for each stream but leaves the endpoints' c= and m= in the SDP it relays, so media goes around the border and each side sees the other's address (RFC 6271 #3, RFC 6406 §5.3).";
    KeepIceCandidates = "keep-ice-candidates", Sbe,
        "Rewrites c= and m= to the DBE but passes the endpoints' ICE candidates (a=candidate, RFC 8839 §5.1) through, so each side learns the other's addresses and ICE can route media around the border (RFC 6271 #3, RFC 6406 §5.3).";
    LatchAnySource = "latch-any-source", Dbe,
        "Relays media from any source and latches each side to whoever sent last, so a stranger injects media and takes the reply stream (\"RTP Bleed\"; RFC 6404 §2.4.2, §4.13).";
    RelayMalformedRtp = "relay-malformed-rtp", Dbe,
        "Relays RTP and RTCP that fail the RFC 3550 Appendix A.1/A.2 validity checks instead of dropping them (RFC 6404 §2.4.3, §4.11).";
    NoMediaRateLimit = "no-media-rate-limit", Dbe,
        "Relays every packet of a stream however fast it comes: no per-stream rate limit (RFC 6404 §2.4.3, §4.9).";
    DecryptSrtp = "decrypt-srtp", Dbe,
        "Terminates SRTP instead of relaying it: packets go on without their authentication tag, so end-to-end authentication fails (RFC 3711 §3.1, RFC 6404 §4.13).";
    AcceptUnauthenticatedRtcp = "accept-unauthenticated-rtcp", Dbe,
        "Ends a stream on an RTCP BYE from anyone, unauthenticated (RFC 6404 §2.4.2 media session teardown, §4.13).";
    MediaToThirdAddress = "media-to-third-address", Dbe,
        "Sends a copy of every relayed packet to an address neither SDP named: eavesdropping (RFC 6404 §2.4.1, §4.13).";
    NoRecordRoute = "no-record-route", Sbe,
        "Does not record-route, so the dialog's later requests go around it (RFC 3261 §16.6 step 4; RFC 6405 §5.5.1: the I-SSP must stay in the signalling path).";
    UnverifiedOnDemand = "unverified-on-demand", Sbe,
        "Peering on demand, accepts any source without asking DNS whether the name its sender goes by leads there (RFC 6405 §5.6.2, RFC 6404 §4.6).";
    IgnoreAssistingLuf = "ignore-assisting-luf", Resolver,
        "Looks numbers up in its own SSP's ENUM tree instead of the assisting LUF/LRF provider's it is set up to use (RFC 6405 §5.3, §5.4).";
    AllowPlaintext = "allow-plaintext", Sbe,
        "Relays requests that a peer it requires TLS from sends over UDP or plain TCP (RFC 6404 §4.5).";
    AcceptAnyServerCert = "accept-any-server-cert", Certificate,
        "Opens TLS to a sips: target's next hop taking any server certificate, whatever its issuer or the domain it names (RFC 5922 §7.2, RFC 3261 §26.2.2).";
    DowngradeSips = "downgrade-sips", Sbe,
        "When the TLS connection for a sips: request fails, sends it to the same hop over plain TCP instead of failing it (RFC 3261 §26.2.2, RFC 5630 §3.1.3).";
    TlsNoClientCert = "tls-no-client-cert", Certificate,
        "Opens TLS to a peer's SBE without presenting its own certificate, so the peer cannot authenticate it (RFC 6404 §4.5, RFC 3261 §26.3.2.2).";
}

impl Fault {
    /// The fault named `name`.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.iter().copied().find(|f| f.name() == name)
    }

    fn bit(self) -> u128 {
        1 << (self as u8)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of faults. Empty is the correct stack.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Faults(u128);

impl Faults {
    /// No fault.
    pub const NONE: Faults = Faults(0);

    /// Just `f`.
    pub fn only(f: Fault) -> Self {
        Faults(f.bit())
    }

    /// Whether `f` is on.
    pub fn contains(self, f: Fault) -> bool {
        self.0 & f.bit() != 0
    }

    /// Turns `f` on.
    pub fn insert(&mut self, f: Fault) {
        self.0 |= f.bit();
    }

    /// Whether none is on.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The faults that are on, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Fault> {
        Fault::ALL
            .iter()
            .copied()
            .filter(move |f| self.contains(*f))
    }
}

impl FromIterator<Fault> for Faults {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        let mut s = Faults::NONE;
        for f in iter {
            s.insert(f);
        }
        s
    }
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Fault::name)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_has_a_unique_name_and_round_trips() {
        let mut names = std::collections::HashSet::new();
        for &f in Fault::ALL {
            assert!(names.insert(f.name()), "{} twice", f.name());
            assert_eq!(Fault::from_name(f.name()), Some(f));
            assert!(f.breaks().contains("RFC"), "{f}: cite the rule");
            let set = Faults::only(f);
            assert!(set.contains(f) && set.iter().eq([f]));
        }
        assert!(Fault::ALL.len() <= 128, "Faults is a u128 bitset");
        assert_eq!(Fault::from_name("no-such-fault"), None);
    }
}
