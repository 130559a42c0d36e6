//! Both networks behind one interface: the same exchange on each, then what
//! only the simulated one can do (virtual time, impairments, silence, tap).

use speermint_net::{Impairment, Network, SimNet, TapVerdict, Transport};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A ping over UDP and an echo over a stream, through `net`.
async fn ping_and_echo(net: &Network) {
    let a = net.bind_udp(addr("127.0.0.1:0")).await.unwrap();
    let b = net.bind_udp(addr("127.0.0.1:0")).await.unwrap();
    let b_addr = b.local_addr().unwrap();
    a.send_to(b"ping", b_addr).await.unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), b.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from, a.local_addr().unwrap());

    let mut l = net.listen_tcp(addr("127.0.0.1:0")).await.unwrap();
    let to = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut b = [0u8; 5];
        s.read_exact(&mut b).await.unwrap();
        s.write_all(&b).await.unwrap();
    });
    let mut c = net
        .connect_tcp(None, to, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(c.peer_addr().unwrap(), to);
    c.write_all(b"hello").await.unwrap();
    let mut back = [0u8; 5];
    c.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello");
    server.await.unwrap();
}

#[tokio::test]
async fn sockets_carry_datagrams_and_streams() {
    ping_and_echo(&Network::Sockets).await;
}

#[test]
fn the_simulated_network_carries_the_same_exchange_and_taps_it() {
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let sim = SimNet::new(1);
        ping_and_echo(&Network::Sim(sim.clone())).await;
        let tap = sim.tap();
        assert_eq!(tap[0].bytes, b"ping");
        assert_eq!(tap[0].transport, Transport::Udp);
        assert_eq!(tap[0].verdict, TapVerdict::Delivered(Duration::ZERO));
        let stream: Vec<u8> = tap
            .iter()
            .filter(|r| r.transport == Transport::Tcp)
            .flat_map(|r| r.bytes.clone())
            .collect();
        assert_eq!(stream, b"hellohello");
    });
}

#[test]
fn virtual_time_passes_a_timer_b_and_stamps_the_tap() {
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let sim = SimNet::new(7);
        let net = Network::Sim(sim.clone());
        let a = net.bind_udp(addr("127.0.0.2:5060")).await.unwrap();
        let b = net.bind_udp(addr("127.0.0.3:5060")).await.unwrap();
        let t0 = net.now();
        // Timer B: 64 * T1 (RFC 3261 §17.1.1.2).
        tokio::time::sleep(Duration::from_secs(32)).await;
        a.send_to(b"late", b.local_addr().unwrap()).await.unwrap();
        assert_eq!(net.now() - t0, Duration::from_secs(32));
        assert_eq!(sim.tap()[0].at, Duration::from_secs(32));
    });
}

/// Sends 200 numbered datagrams over an impaired link and returns the tap
/// and the order they arrived in.
fn impaired_run(seed: u64, how: Impairment) -> (Vec<(Duration, TapVerdict)>, Vec<u8>) {
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let sim = SimNet::new(seed);
        let net = Network::Sim(sim.clone());
        let a = net.bind_udp(addr("127.0.0.2:0")).await.unwrap();
        let b = net.bind_udp(addr("127.0.0.3:0")).await.unwrap();
        sim.impair(Some(a.local_addr().unwrap().ip()), None, how);
        for i in 0..200u8 {
            a.send_to(&[i], b.local_addr().unwrap()).await.unwrap();
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 4];
        while let Ok(Ok((_, _))) =
            tokio::time::timeout(Duration::from_secs(1), b.recv_from(&mut buf)).await
        {
            got.push(buf[0]);
        }
        let tap = sim.tap().iter().map(|r| (r.at, r.verdict)).collect();
        (tap, got)
    })
}

#[test]
fn loss_duplication_and_reordering_follow_the_seed() {
    let how = Impairment {
        loss: 0.2,
        duplicate: 0.1,
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(50),
    };
    let (tap, got) = impaired_run(42, how);
    let lost = tap.iter().filter(|(_, v)| *v == TapVerdict::Lost).count();
    let dups = tap
        .iter()
        .filter(|(_, v)| matches!(v, TapVerdict::Duplicated(_)))
        .count();
    assert!((20..=60).contains(&lost), "lost {lost} of 200 at p=0.2");
    assert!(dups > 0, "no duplicate at p=0.1");
    assert_eq!(got.len(), 200 - lost + dups);
    assert!(
        got.windows(2).any(|w| w[0] > w[1]),
        "jitter reordered nothing"
    );
    // Deterministic: the same seed gives the same run, another seed another.
    assert_eq!(impaired_run(42, how), (tap.clone(), got.clone()));
    assert_ne!(impaired_run(43, how).0, tap);
}

#[test]
fn a_silent_node_neither_hears_nor_speaks() {
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let sim = SimNet::new(3);
        let net = Network::Sim(sim.clone());
        let a = net.bind_udp(addr("127.0.0.2:0")).await.unwrap();
        let b = net.bind_udp(addr("127.0.0.3:0")).await.unwrap();
        let l = net.listen_tcp(addr("127.0.0.3:0")).await.unwrap();
        sim.set_silent(SocketAddr::new(b.local_addr().unwrap().ip(), 0), true);
        a.send_to(b"x", b.local_addr().unwrap()).await.unwrap();
        b.send_to(b"y", a.local_addr().unwrap()).await.unwrap();
        let mut buf = [0u8; 4];
        assert!(
            tokio::time::timeout(Duration::from_secs(30), b.recv_from(&mut buf))
                .await
                .is_err()
        );
        assert!(a.try_recv_from(&mut buf).is_err());
        let e = net
            .connect_tcp(None, l.local_addr().unwrap(), Duration::from_secs(3))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(sim.tap().iter().all(|r| r.verdict == TapVerdict::Silenced));
        // Awake again, it hears.
        sim.set_silent(SocketAddr::new(b.local_addr().unwrap().ip(), 0), false);
        a.send_to(b"z", b.local_addr().unwrap()).await.unwrap();
        assert_eq!(b.recv_from(&mut buf).await.unwrap().0, 1);
    });
}

#[test]
fn nothing_listening_and_full_queues_are_recorded() {
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let sim = SimNet::new(5);
        let net = Network::Sim(sim.clone());
        let a = net.bind_udp(addr("127.0.0.2:0")).await.unwrap();
        let b = net.bind_udp(addr("127.0.0.3:0")).await.unwrap();
        a.send_to(b"nobody", addr("127.0.0.9:9")).await.unwrap();
        for _ in 0..5000 {
            a.send_to(b"flood", b.local_addr().unwrap()).await.unwrap();
        }
        let tap = sim.tap();
        assert_eq!(tap[0].verdict, TapVerdict::NoListener);
        assert!(tap.iter().any(|r| r.verdict == TapVerdict::Overflow));
        let e = net
            .connect_tcp(None, addr("127.0.0.9:5061"), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        // Ports bind once.
        assert!(net.bind_udp(b.local_addr().unwrap()).await.is_err());
    });
}
