//! The SBE's driver with its DBE's relay sockets, on the simulated
//! network: the INVITE's SDP names the relay, RTP sent to it reaches the
//! endpoint the other SDP named, from the relay's other side.

use speermint_border::{RunningSbe, bind_media};
use speermint_net::{Network, SimNet};
use speermint_sbe::SbeConfig;
use speermint_sbe::dbe::{DbeConfig, Sides};
use speermint_sip::{HeaderName, Message, MessageBuilder};
use std::net::SocketAddr;
use std::time::Duration;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn sdp(host: &str, port: u16) -> Vec<u8> {
    format!("v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n")
        .into_bytes()
}

/// The `c=` address and `m=` port of a one-stream SDP.
fn relay_of(body: &[u8]) -> SocketAddr {
    let text = String::from_utf8_lossy(body);
    let ip = text
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .unwrap();
    a(&format!("{ip}:{port}"))
}

#[test]
fn media_crosses_the_relay_sockets() {
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let net = Network::Sim(SimNet::new(7));
        let peer = net.bind_udp(a("127.0.0.2:5060")).await.unwrap();
        let inside = net.bind_udp(a("127.0.0.4:5060")).await.unwrap();
        let peer_rtp = net.bind_udp(a("127.0.0.2:49170")).await.unwrap();
        let inside_rtp = net.bind_udp(a("127.0.0.4:50000")).await.unwrap();
        let dbe = DbeConfig {
            addresses: Sides {
                a: "127.0.0.20".parse().unwrap(),
                b: "127.0.0.21".parse().unwrap(),
            },
            ports: 30_000..30_008,
            ..DbeConfig::default()
        };
        let media = bind_media(&net, &dbe).await.unwrap();
        assert_eq!(media.len(), 16);
        let udp = net.bind_udp(a("127.0.0.1:5060")).await.unwrap();
        let sbe = RunningSbe::start_bound_with_media(
            udp,
            None,
            None,
            media,
            move |local| {
                let mut cfg =
                    SbeConfig::new(local, vec![a("127.0.0.2:1").ip()], a("127.0.0.4:5060"));
                cfg.media = Some(dbe);
                cfg
            },
            None,
        )
        .unwrap();
        let mut buf = vec![0u8; 65_535];
        let invite = MessageBuilder::request("INVITE", "sip:bob@127.0.0.1")
            .header("Via", "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKb1")
            .header("Max-Forwards", 70)
            .header("From", "<sip:alice@peer.example>;tag=a1")
            .header("To", "<sip:bob@ssp.example>")
            .header("Call-ID", "border-media@peer.example")
            .header("CSeq", "1 INVITE")
            .body("application/sdp", &sdp("127.0.0.2", 49170))
            .build();
        peer.send_to(&invite, sbe.addr()).await.unwrap();
        let (n, _) = inside.recv_from(&mut buf).await.unwrap();
        let fwd = buf[..n].to_vec();
        let fwd = Message::parse(&fwd).unwrap();
        let relay_b = relay_of(fwd.body());
        assert_eq!(relay_b.ip(), a("127.0.0.21:0").ip());
        let mut ok = MessageBuilder::response_to(&fwd, 200, "OK", Some("b1"));
        for rr in fwd.values(HeaderName::RecordRoute) {
            ok = ok.header("Record-Route", rr);
        }
        let ok = ok.body("application/sdp", &sdp("127.0.0.4", 50000)).build();
        inside.send_to(&ok, sbe.addr()).await.unwrap();
        let answer = loop {
            let (n, _) = peer.recv_from(&mut buf).await.unwrap();
            if buf[..n].starts_with(b"SIP/2.0 200") {
                break buf[..n].to_vec();
            }
        };
        let relay_a = relay_of(Message::parse(&answer).unwrap().body());
        assert_eq!(relay_a.ip(), a("127.0.0.20:0").ip());

        let mut rtp = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
        rtp.extend_from_slice(&[0xd5; 160]);
        peer_rtp.send_to(&rtp, relay_a).await.unwrap();
        let (n, from) =
            tokio::time::timeout(Duration::from_secs(5), inside_rtp.recv_from(&mut buf))
                .await
                .expect("relayed")
                .unwrap();
        assert_eq!((&buf[..n], from), (&rtp[..], relay_b));
        inside_rtp.send_to(&rtp, relay_b).await.unwrap();
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), peer_rtp.recv_from(&mut buf))
            .await
            .expect("relayed back")
            .unwrap();
        assert_eq!((&buf[..n], from), (&rtp[..], relay_a));
        sbe.stop().await;
    });
}
