//! The media role: RTP and SRTP endpoints that stand beside the SIP roles
//! (the peer's and the inside's), and an attacker's socket for the
//! stranger. What the media checks of RFC 6271 #3 and RFC 6404 §4.13 need
//! from an endpoint, and no more.
//!
//! The endpoint is sans-IO ([`Endpoint`], a [`Node`]): it describes its
//! media in SDP with its own SRTP master key (RFC 4568 §6.1, one key per
//! direction, the offerer's and the answerer's), keys its receiver from
//! the `a=crypto` the far side's SDP carried *as it arrived*, writes the
//! packets it is told to send, and says of each packet that arrives
//! whether it authenticated. [`MediaRole`] drives it on a socket of the
//! run's network, on the role's own address, so the same role works on the
//! simulated network and over loopback sockets against an external IUT.

use speermint_net::{Network, UdpSock};
use speermint_node::{Input, Node, Output, Path, Transmit, Transport};
use speermint_rtp::{SrtpConfig, SrtpContext, SrtpProfile};
use speermint_sdp::Sdp;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How an endpoint describes its media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// RTP/SAVP keyed with `a=crypto` (RFC 4568) instead of RTP/AVP.
    pub srtp: bool,
    /// ICE credentials and host candidates for RTP and RTCP (RFC 8839 §5),
    /// as most endpoints send: each names the endpoint's own address.
    pub ice: bool,
}

/// What an endpoint is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send `count` packets of its stream to `to`, the next sequence
    /// numbers, protected when it offered SRTP.
    Send {
        /// Where the far side's SDP says to send.
        to: SocketAddr,
        /// How many.
        count: u16,
    },
    /// Send these bytes to `to` as they are: a forged or malformed packet.
    Raw {
        /// Where.
        to: SocketAddr,
        /// The datagram.
        bytes: Vec<u8>,
    },
}

/// What became of one packet that arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// Its sender.
    pub from: SocketAddr,
    /// The RTP sequence number, if the header has one.
    pub seq: Option<u16>,
    /// The SSRC, when the packet has a full RTP version 2 header (RFC 3550
    /// §5.1); `None` for anything else, such as the STUN checks an
    /// ICE-speaking DBE sends (RFC 8445 §7.2.4), whose first two bits are
    /// zero (RFC 5389 §6).
    pub ssrc: Option<u32>,
    /// Whether it authenticated under the far side's SRTP key; `None` for
    /// an endpoint receiving plain RTP.
    pub authentic: Option<bool>,
    /// Its length.
    pub len: usize,
}

/// A test endpoint for one stream of a call.
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    ssrc: u32,
    seq: u16,
    /// SRTP master key and salt this endpoint sends with (its `a=crypto`).
    key: Option<([u8; 16], [u8; 14])>,
    tx: Option<SrtpContext>,
    rx: Option<SrtpContext>,
    out: VecDeque<Output<Arrival>>,
}

/// An SDP body's first `a=crypto` with the suite the endpoint speaks,
/// decoded (RFC 4568 §6.1: `inline:` base64 of 16 bytes of key and 14 of
/// salt, optional `|lifetime|MKI` after it).
pub fn crypto_key(body: &[u8]) -> Option<([u8; 16], [u8; 14])> {
    let sdp = Sdp::parse(body).ok()?;
    let value = sdp
        .attributes()
        .filter(|a| a.name == "crypto")
        .filter_map(|a| a.value_str())
        .find(|v| v.split_ascii_whitespace().nth(1) == Some("AES_CM_128_HMAC_SHA1_80"))?;
    let params = value.split_ascii_whitespace().nth(2)?;
    let inline = params.strip_prefix("inline:")?;
    let b64 = inline.split('|').next()?;
    let material = data_encoding::BASE64.decode(b64.as_bytes()).ok()?;
    let key: [u8; 16] = material.get(..16)?.try_into().ok()?;
    let salt: [u8; 14] = material.get(16..30)?.try_into().ok()?;
    Some((key, salt))
}

/// The address the first stream of an SDP body names (its `c=`, media or
/// session level, and its `m=` port).
pub fn media_address(body: &[u8]) -> Option<SocketAddr> {
    let sdp = Sdp::parse(body).ok()?;
    let m = sdp.media().next()?;
    let ip = m
        .connection()
        .or_else(|| sdp.session_connection())
        .and_then(|c| c.ip)?;
    Some(SocketAddr::new(ip, m.port))
}

/// Every IP address an SDP body gives as a transport address, with where:
/// `c=` lines, the address of an `a=rtcp` (RFC 3605 §2.1), and each ICE
/// candidate's address and related address (RFC 8839 §5.1). The `o=` line
/// names the session's creator, not where media goes, and is left out.
pub fn transport_ips(body: &[u8]) -> Vec<(IpAddr, &'static str)> {
    let Ok(sdp) = Sdp::parse(body) else {
        return Vec::new();
    };
    let mut ips = Vec::new();
    if let Some(ip) = sdp.session_connection().and_then(|c| c.ip) {
        ips.push((ip, "c="));
    }
    for m in sdp.media() {
        if let Some(ip) = m.connection().and_then(|c| c.ip) {
            ips.push((ip, "c="));
        }
    }
    for a in sdp.attributes() {
        let Some(v) = a.value_str() else { continue };
        let fields: Vec<&str> = v.split_ascii_whitespace().collect();
        let parsed = |i: usize| fields.get(i).and_then(|f| f.parse::<IpAddr>().ok());
        match a.name {
            "rtcp" => ips.extend(parsed(3).map(|ip| (ip, "a=rtcp"))),
            "candidate" => {
                ips.extend(parsed(4).map(|ip| (ip, "a=candidate")));
                let raddr = fields.iter().position(|f| *f == "raddr");
                ips.extend(
                    raddr
                        .and_then(|i| parsed(i + 1))
                        .map(|ip| (ip, "a=candidate raddr")),
                );
            }
            _ => {}
        }
    }
    ips
}

/// Where an SDP body names `ip` as a transport address ("c=, a=candidate"),
/// or `None`.
pub fn names_ip(body: &[u8], ip: IpAddr) -> Option<String> {
    let mut wheres: Vec<&str> = transport_ips(body)
        .into_iter()
        .filter(|(i, _)| *i == ip)
        .map(|(_, w)| w)
        .collect();
    wheres.dedup();
    (!wheres.is_empty()).then(|| wheres.join(", "))
}

/// A minimal RTP packet (RFC 3550 §5.1): version 2, PCMU, 20 ms of
/// payload.
pub fn rtp_packet(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

impl Endpoint {
    /// An endpoint at `addr` sending as `ssrc`. Its SRTP key, when it
    /// offers SRTP, is derived from the SSRC: distinct per endpoint and
    /// the same in every run, so evidence can be compared between runs.
    pub fn new(addr: SocketAddr, ssrc: u32, offer: Offer) -> Self {
        let key = offer.srtp.then(|| {
            let mut key = [0u8; 16];
            let mut salt = [0u8; 14];
            for (i, b) in key.iter_mut().chain(salt.iter_mut()).enumerate() {
                *b = (ssrc.rotate_left(i as u32 * 5) as u8) ^ (i as u8).wrapping_mul(37);
            }
            (key, salt)
        });
        let tx = key.and_then(|(k, s)| {
            SrtpContext::new(SrtpConfig::new(SrtpProfile::Aes128CmHmacSha1_80, k, s)).ok()
        });
        Endpoint {
            addr,
            ssrc,
            seq: 0,
            key,
            tx,
            rx: None,
            out: VecDeque::new(),
        }
    }

    /// Its transport address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The SDP describing its stream: its address in `c=` and `m=`, its key
    /// in `a=crypto`, ICE lines when `offer.ice`.
    pub fn sdp(&self, offer: Offer) -> Vec<u8> {
        let ip = self.addr.ip();
        let port = self.addr.port();
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        let proto = if self.key.is_some() {
            "RTP/SAVP"
        } else {
            "RTP/AVP"
        };
        let mut s = format!(
            "v=0\r\no=- 1 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {port} {proto} 0\r\na=rtpmap:0 PCMU/8000\r\n"
        );
        if let Some((key, salt)) = self.key {
            let mut material = key.to_vec();
            material.extend_from_slice(&salt);
            s.push_str(&format!(
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
                data_encoding::BASE64.encode(&material)
            ));
        }
        if offer.ice {
            s.push_str(&format!(
                "a=ice-ufrag:spmt\r\na=ice-pwd:speermint0media0ice0pwd0\r\n\
                 a=candidate:1 1 UDP 2130706431 {ip} {port} typ host\r\n\
                 a=candidate:1 2 UDP 2130706430 {ip} {} typ host\r\n",
                port.saturating_add(1)
            ));
        }
        s.into_bytes()
    }

    /// Keys the receiver from the far side's SDP as it arrived here.
    /// Returns false when it carries no key this endpoint can use.
    pub fn key_receiver_from(&mut self, far_sdp: &[u8]) -> bool {
        self.rx = crypto_key(far_sdp).and_then(|(k, s)| {
            SrtpContext::new(SrtpConfig::new(SrtpProfile::Aes128CmHmacSha1_80, k, s)).ok()
        });
        self.rx.is_some()
    }

    fn transmit(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.out.push_back(Output::Transmit(Transmit {
            path: Path {
                local: self.addr,
                remote: to,
                transport: Transport::Udp,
            },
            bytes,
        }));
    }
}

impl Node for Endpoint {
    type Command = Command;
    type Event = Arrival;

    fn handle_input(&mut self, _now: Instant, input: Input<'_, Command>) {
        match input {
            Input::Command(Command::Send { to, count }) => {
                for _ in 0..count {
                    self.seq = self.seq.wrapping_add(1);
                    let clear = rtp_packet(self.seq, self.ssrc);
                    let bytes = match &mut self.tx {
                        Some(tx) => match tx.protect_rtp(&clear) {
                            Ok(p) => p,
                            Err(_) => continue,
                        },
                        None => clear,
                    };
                    self.transmit(to, bytes);
                }
            }
            Input::Command(Command::Raw { to, bytes }) => self.transmit(to, bytes),
            Input::Datagram { path, bytes } => {
                let seq = bytes.get(2..4).map(|s| u16::from_be_bytes([s[0], s[1]]));
                let ssrc = bytes
                    .get(8..12)
                    .filter(|_| bytes[0] >> 6 == 2)
                    .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
                let authentic = self.key.map(|_| {
                    self.rx
                        .as_mut()
                        .is_some_and(|rx| rx.unprotect_rtp(bytes).is_ok())
                });
                self.out.push_back(Output::Event(Arrival {
                    from: path.remote,
                    seq,
                    ssrc,
                    authentic,
                    len: bytes.len(),
                }));
            }
            _ => {}
        }
    }

    fn poll_output(&mut self) -> Option<Output<Arrival>> {
        self.out.pop_front()
    }
}

/// An [`Endpoint`] on a UDP socket of the run's network: it sends what the
/// endpoint writes and reads what arrives until the line goes quiet.
#[derive(Debug)]
pub struct MediaRole {
    sock: UdpSock,
    endpoint: Endpoint,
}

impl MediaRole {
    /// Binds an endpoint on `ip` (port chosen by the network).
    pub async fn bind(net: &Network, ip: IpAddr, ssrc: u32, offer: Offer) -> std::io::Result<Self> {
        let sock = net.bind_udp(SocketAddr::new(ip, 0)).await?;
        let addr = sock.local_addr()?;
        Ok(MediaRole {
            sock,
            endpoint: Endpoint::new(addr, ssrc, offer),
        })
    }

    /// The endpoint.
    pub fn endpoint(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.endpoint.addr
    }

    /// Carries out `command`: every packet it makes goes on the wire.
    pub async fn run(&mut self, command: Command) {
        self.endpoint
            .handle_input(Instant::now(), Input::Command(command));
        while let Some(o) = self.endpoint.poll_output() {
            if let Output::Transmit(t) = o {
                let _ = self.sock.send_to(&t.bytes, t.path.remote).await;
            }
        }
    }

    /// Sends `count` packets of the stream to `to`.
    pub async fn send(&mut self, to: SocketAddr, count: u16) {
        self.run(Command::Send { to, count }).await;
    }

    /// Sends one datagram as it is.
    pub async fn send_raw(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.run(Command::Raw { to, bytes }).await;
    }

    /// What arrives until nothing has for `quiet` (at most `max` packets).
    pub async fn collect(&mut self, quiet: Duration, max: usize) -> Vec<Arrival> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_535];
        while got.len() < max {
            let Ok(Ok((n, from))) =
                tokio::time::timeout(quiet, self.sock.recv_from(&mut buf)).await
            else {
                break;
            };
            let path = Path {
                local: self.endpoint.addr,
                remote: from,
                transport: Transport::Udp,
            };
            let bytes = &buf[..n];
            self.endpoint
                .handle_input(Instant::now(), Input::Datagram { path, bytes });
            while let Some(o) = self.endpoint.poll_output() {
                if let Output::Event(a) = o {
                    got.push(a);
                }
            }
        }
        got
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn srtp_keyed_from_the_far_sdp_authenticates_and_a_forgery_does_not() {
        let srtp = Offer {
            srtp: true,
            ice: false,
        };
        let mut alice = Endpoint::new(at("192.0.2.1:4000"), 0x1111, srtp);
        let mut bob = Endpoint::new(at("192.0.2.2:5000"), 0x2222, srtp);
        assert_ne!(crypto_key(&alice.sdp(srtp)), crypto_key(&bob.sdp(srtp)));
        assert!(bob.key_receiver_from(&alice.sdp(srtp)));
        let now = Instant::now();
        alice.handle_input(
            now,
            Input::Command(Command::Send {
                to: bob.addr(),
                count: 3,
            }),
        );
        let mut packets = Vec::new();
        while let Some(Output::Transmit(t)) = alice.poll_output() {
            packets.push(t.bytes);
        }
        assert_eq!(packets.len(), 3);
        let mut forged = rtp_packet(4, 0x1111);
        forged.extend_from_slice(&[0; 10]);
        packets.push(forged);
        for p in &packets {
            let path = Path {
                local: bob.addr(),
                remote: alice.addr(),
                transport: Transport::Udp,
            };
            bob.handle_input(now, Input::Datagram { path, bytes: p });
        }
        let verdicts: Vec<Option<bool>> = std::iter::from_fn(|| bob.poll_output())
            .filter_map(|o| match o {
                Output::Event(a) => Some(a.authentic),
                _ => None,
            })
            .collect();
        assert_eq!(verdicts, [Some(true), Some(true), Some(true), Some(false)]);
    }

    #[test]
    fn an_arrival_has_an_ssrc_only_when_it_is_rtp() {
        let mut bob = Endpoint::new(
            at("192.0.2.2:5000"),
            0x2222,
            Offer {
                srtp: false,
                ice: false,
            },
        );
        let path = Path {
            local: bob.addr(),
            remote: at("192.0.2.30:4000"),
            transport: Transport::Udp,
        };
        // A STUN Binding Request (RFC 5389 §6): type 0x0001, magic cookie.
        let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        stun.extend_from_slice(&[7; 12]);
        let now = Instant::now();
        for bytes in [&rtp_packet(1, 0x1111)[..], &stun[..], &[0x80, 0, 0, 1][..]] {
            bob.handle_input(now, Input::Datagram { path, bytes });
        }
        let ssrcs: Vec<Option<u32>> = std::iter::from_fn(|| bob.poll_output())
            .filter_map(|o| match o {
                Output::Event(a) => Some(a.ssrc),
                _ => None,
            })
            .collect();
        assert_eq!(ssrcs, [Some(0x1111), None, None]);
    }

    #[test]
    fn transport_addresses_include_candidates_but_not_the_origin() {
        let ice = Offer {
            srtp: false,
            ice: true,
        };
        let e = Endpoint::new(at("192.0.2.1:4000"), 1, ice);
        let mut sdp = String::from_utf8(e.sdp(ice)).unwrap();
        sdp = sdp.replace("c=IN IP4 192.0.2.1", "c=IN IP4 198.51.100.9");
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(names_ip(sdp.as_bytes(), ip).as_deref(), Some("a=candidate"));
        let relay: IpAddr = "198.51.100.9".parse().unwrap();
        assert_eq!(names_ip(sdp.as_bytes(), relay).as_deref(), Some("c="));
        assert_eq!(media_address(sdp.as_bytes()), Some(at("198.51.100.9:4000")));
    }
}
