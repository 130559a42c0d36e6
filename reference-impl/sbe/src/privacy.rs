//! Cross-domain privacy at the border (RFC 6404 §4.4): the element is the
//! edge of its SSP's trust domain for asserted identity (RFC 3325) and a
//! privacy service for the `id` level (RFC 3323 §5).
//!
//! - An identity asserted by a peer outside the trust domain is not
//!   believed: its P-Asserted-Identity is removed (RFC 3325 §5).
//! - Towards such a peer, `Privacy: id` removes every P-Asserted-Identity
//!   (RFC 3325 §7), and the `id` value is taken out of Privacy once done
//!   (RFC 3323 §5); `Privacy: none` leaves both alone.
//! - P-Preferred-Identity never leaves the element (RFC 3325 §6).
//! - `header`, `session` and `user` need a B2BUA; asked for as `critical`
//!   towards an untrusted peer, the request fails with 500 naming them
//!   (RFC 3323 §5), instead of leaving with less privacy than asked.

use crate::SbeConfig;
use speermint_fault::Fault;
use speermint_sip::{Editor, HeaderName, Message};
use std::net::IpAddr;

/// The priv-values of a message's Privacy fields, lower-cased.
fn priv_values(msg: &Message<'_>) -> Vec<String> {
    msg.values(HeaderName::Privacy)
        .flat_map(|v| v.split(';'))
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect()
}

impl SbeConfig {
    /// Whether `ip` is outside this element's trust domain: a peer not
    /// listed in `trusted_peers` (the inside, the next hop, is trusted).
    pub(crate) fn untrusted(&self, ip: IpAddr) -> bool {
        ip != self.next_hop.ip() && !self.trusted_peers.contains(&ip)
    }

    /// The levels a request asks for as critical that this element cannot
    /// give on its way to `dest`; empty when it may go.
    pub(crate) fn privacy_unavailable(&self, req: &Message<'_>, dest: IpAddr) -> Vec<String> {
        if !self.untrusted(dest) || self.faults.contains(Fault::IgnoreCriticalPrivacy) {
            return Vec::new();
        }
        let values = priv_values(req);
        if !values.iter().any(|v| v == "critical") {
            return Vec::new();
        }
        // Header privacy is what topology hiding does (RFC 3323 §5.1).
        let header_given = self.hide_topology;
        values
            .into_iter()
            .filter(|v| !matches!(v.as_str(), "id" | "none" | "critical"))
            .filter(|v| !(header_given && v == "header"))
            .collect()
    }

    /// Whether topology hiding applies to this request: always when on,
    /// except that the `ignore-critical-privacy` fault relays a request
    /// asking for critical header privacy without giving it.
    pub(crate) fn hides(&self, req: &Message<'_>) -> bool {
        if !self.hide_topology {
            return false;
        }
        if !self.faults.contains(Fault::IgnoreCriticalPrivacy) {
            return true;
        }
        let values = priv_values(req);
        !(values.iter().any(|v| v == "critical") && values.iter().any(|v| v == "header"))
    }

    /// Applies the identity rules to a message crossing from `from` to
    /// `to` (requests; responses follow the same rules in reverse).
    pub(crate) fn apply_privacy(
        &self,
        msg: &Message<'_>,
        ed: &mut Editor<'_, '_>,
        from: IpAddr,
        to: IpAddr,
    ) {
        ed.remove_named("P-Preferred-Identity");
        let has_pai = msg.header(HeaderName::PAssertedIdentity).is_some();
        if has_pai && self.untrusted(from) && !self.faults.contains(Fault::TrustPeerIdentity) {
            ed.remove_all(HeaderName::PAssertedIdentity);
            return;
        }
        if !self.untrusted(to) {
            return;
        }
        let values = priv_values(msg);
        if values.iter().any(|v| v == "none") {
            if self.faults.contains(Fault::StripAssertedIdentity) {
                ed.remove_all(HeaderName::PAssertedIdentity);
            }
            return;
        }
        if !values.iter().any(|v| v == "id") {
            // No request for privacy: RFC 3325 §7 recommends keeping it.
            if self.faults.contains(Fault::StripAssertedIdentity) {
                ed.remove_all(HeaderName::PAssertedIdentity);
            }
            return;
        }
        if self.faults.contains(Fault::LeakAssertedIdentity) {
            return;
        }
        ed.remove_all(HeaderName::PAssertedIdentity);
        // RFC 3323 §5: the level done is taken out; with nothing left but
        // `critical`, the whole field goes.
        let rest: Vec<&String> = values
            .iter()
            .filter(|v| v.as_str() != "id" && v.as_str() != "critical")
            .collect();
        if rest.is_empty() {
            ed.remove_all(HeaderName::Privacy);
        } else {
            let keep: Vec<&str> = values
                .iter()
                .filter(|v| v.as_str() != "id")
                .map(String::as_str)
                .collect();
            ed.set(HeaderName::Privacy, &keep.join(";"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Fault, SbeConfig};
    use speermint_sip::{Editor, Message};
    use std::net::IpAddr;

    fn crossed(cfg: &SbeConfig, headers: &str, from: &str, to: &str) -> String {
        let text = format!(
            "INVITE sip:b@192.0.2.7 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:a@ssp.example>;tag=1\r\nTo: <sip:b@peer.example>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n{headers}Content-Length: 0\r\n\r\n"
        );
        let msg = Message::parse(text.as_bytes()).unwrap();
        let mut ed = Editor::new(&msg);
        let (from, to): (IpAddr, IpAddr) = (from.parse().unwrap(), to.parse().unwrap());
        cfg.apply_privacy(&msg, &mut ed, from, to);
        String::from_utf8(ed.finish()).unwrap()
    }

    #[test]
    fn identity_crosses_the_trust_boundary_as_rfc_3325_says() {
        let inside = "10.0.0.4";
        let (peer, trusted) = ("192.0.2.7", "192.0.2.8");
        let mut cfg = SbeConfig::new(
            "10.0.0.1:5060".parse().unwrap(),
            vec![peer.parse().unwrap(), trusted.parse().unwrap()],
            format!("{inside}:5060").parse().unwrap(),
        );
        cfg.trusted_peers = vec![trusted.parse().unwrap()];
        let pai = "P-Asserted-Identity: <sip:+441632960001@ssp.example>\r\n";
        // Privacy: id towards an untrusted peer: PAI and the id value go,
        // the other levels stay.
        let out = crossed(&cfg, &format!("{pai}Privacy: id; header\r\n"), inside, peer);
        assert!(!out.contains("P-Asserted-Identity"), "{out}");
        assert!(out.contains("Privacy: header\r\n"), "{out}");
        // With only id (and critical) the Privacy field goes too.
        let out = crossed(
            &cfg,
            &format!("{pai}Privacy: id;critical\r\n"),
            inside,
            peer,
        );
        assert!(
            !out.contains("Privacy") && !out.contains("P-Asserted"),
            "{out}"
        );
        // A trusted peer gets it whatever Privacy says.
        let out = crossed(&cfg, &format!("{pai}Privacy: id\r\n"), inside, trusted);
        assert!(
            out.contains(pai) && out.contains("Privacy: id\r\n"),
            "{out}"
        );
        // Without Privacy it is kept (RFC 3325 §7 recommends so).
        assert!(crossed(&cfg, pai, inside, peer).contains(pai));
        // P-Preferred-Identity never crosses, any direction.
        let ppi = "P-Preferred-Identity: <sip:alice@ssp.example>\r\n";
        assert!(!crossed(&cfg, ppi, inside, trusted).contains("Preferred"));
        // An untrusted peer's assertion stops here; a trusted one's crosses.
        assert!(!crossed(&cfg, pai, peer, inside).contains("P-Asserted"));
        assert!(crossed(&cfg, pai, trusted, inside).contains(pai));
        // Critical levels a proxy cannot give, only towards the untrusted.
        let msg_text = "OPTIONS sip:b@192.0.2.7 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bK2\r\nFrom: <sip:a@ssp.example>;tag=1\r\nTo: <sip:b@peer.example>\r\nCall-ID: c2\r\nCSeq: 1 OPTIONS\r\nPrivacy: header;id;critical\r\nContent-Length: 0\r\n\r\n";
        let msg = Message::parse(msg_text.as_bytes()).unwrap();
        assert_eq!(
            cfg.privacy_unavailable(&msg, peer.parse().unwrap()),
            ["header"]
        );
        assert!(
            cfg.privacy_unavailable(&msg, trusted.parse().unwrap())
                .is_empty()
        );
        cfg.faults.insert(Fault::IgnoreCriticalPrivacy);
        assert!(
            cfg.privacy_unavailable(&msg, peer.parse().unwrap())
                .is_empty()
        );
    }
}
