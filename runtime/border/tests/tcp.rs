//! The SBE's plain TCP listener (RFC 3261 §18): it shares the UDP port, a
//! request read from a connection is relayed, and its response comes back
//! over that connection (§18.2.2) even though the next hop answered over
//! UDP; a stream whose framing is lost is closed (§18.3).

use std::net::SocketAddr;
use std::time::Duration;

use speermint_border::RunningSbe;
use speermint_sbe::SbeConfig;
use speermint_sip::{Framing, Limits, Message, MessageBuilder, frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const WAIT: Duration = Duration::from_secs(5);

async fn sbe(next_hop: SocketAddr) -> RunningSbe {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    RunningSbe::start_streams(
        any,
        Some(any),
        None,
        move |local| SbeConfig::new(local, vec!["127.0.0.1".parse().unwrap()], next_hop),
        None,
    )
    .await
    .unwrap()
}

fn options(max_forwards: u32, branch: &str, me: SocketAddr) -> Vec<u8> {
    MessageBuilder::request("OPTIONS", "sip:bob@127.0.0.1")
        .header("Via", format!("SIP/2.0/TCP {me};branch={branch}"))
        .header("Max-Forwards", max_forwards)
        .header("From", "<sip:a@127.0.0.1>;tag=1")
        .header("To", "<sip:bob@127.0.0.1>")
        .header("Call-ID", format!("{branch}@tcp"))
        .header("CSeq", "1 OPTIONS")
        .build()
}

/// The next whole message on the connection.
async fn read_message(tcp: &mut TcpStream, got: &mut Vec<u8>) -> Vec<u8> {
    let limits = Limits::default();
    let mut buf = vec![0u8; 8192];
    loop {
        if let Ok(Framing::Complete { start, end }) = frame(got, &limits) {
            let m = got[start..end].to_vec();
            got.drain(..end);
            return m;
        }
        let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
            .await
            .expect("a message within 5 s")
            .unwrap();
        assert!(n > 0, "connection closed early");
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn a_request_over_tcp_is_relayed_and_answered_over_its_connection() {
    let next = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sbe = sbe(next.local_addr().unwrap()).await;
    // SIP servers listen on one port for both (RFC 3261 §18.2.1).
    assert_eq!(sbe.tcp_addr(), Some(sbe.addr()));
    let mut tcp = TcpStream::connect(sbe.tcp_addr().unwrap()).await.unwrap();
    let me = tcp.local_addr().unwrap();
    tcp.write_all(&options(70, "z9hG4bKtcp1", me))
        .await
        .unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, from) = tokio::time::timeout(WAIT, next.recv_from(&mut buf))
        .await
        .expect("relayed within 5 s")
        .unwrap();
    let fwd = Message::parse(&buf[..n]).unwrap();
    // The Via it adds names the transport it sent on (§18.1.1).
    assert!(fwd.core().via.raw.starts_with("SIP/2.0/UDP"), "{fwd:?}");
    let ok = MessageBuilder::response_to(&fwd, 200, "OK", Some("t")).build();
    next.send_to(&ok, from).await.unwrap();
    let mut got = Vec::new();
    let back = read_message(&mut tcp, &mut got).await;
    let back = Message::parse(&back).unwrap();
    assert_eq!(back.status(), Some(200));
    assert_eq!(back.vias().count(), 1, "its own Via is removed");
    sbe.stop().await;
}

#[tokio::test]
async fn a_tcp_stream_that_loses_its_framing_is_closed() {
    let sbe = sbe("127.0.0.1:9".parse().unwrap()).await;
    let mut tcp = TcpStream::connect(sbe.tcp_addr().unwrap()).await.unwrap();
    let me = tcp.local_addr().unwrap();
    let bad = String::from_utf8(options(0, "z9hG4bKtcp2", me))
        .unwrap()
        .replace("Content-Length: 0\r\n", "");
    tcp.write_all(bad.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
        .await
        .expect("closed within 5 s")
        .unwrap_or(0);
    assert_eq!(n, 0, "got {:?}", String::from_utf8_lossy(&buf[..n]));
    sbe.stop().await;
}
