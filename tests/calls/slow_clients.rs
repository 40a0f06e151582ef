//! Slow and greedy clients over real sockets: a trickled body or head is cut
//! off at its deadline with a clear status, and one address cannot pin more
//! than its share of sockets that never carried a valid Twilio request —
//! while signed Twilio traffic keeps being served.

use std::time::Duration;

use crate::bad_input::voice_params;
use crate::common::*;
use frontdesk::simulate::SIM_AUTH_TOKEN;
use frontdesk::twilio::signature::{compute, Algorithm};
use frontdesk_sim::model::ModelScript;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(rig: &Rig) -> String {
    rig.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the socket (or `within` passes) and
/// returns what it said.
async fn read_until_closed(sock: &mut TcpStream, within: Duration) -> String {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(within, sock.read_to_end(&mut got)).await;
    String::from_utf8_lossy(&got).into_owned()
}

/// A signed `/twilio/voice` request on an open socket; returns the status line.
async fn signed_voice(sock: &mut TcpStream, rig: &Rig) -> String {
    let url = format!("{}/twilio/voice", rig.base);
    let form = voice_params();
    let sig = compute(SIM_AUTH_TOKEN, &url, &form, Algorithm::HmacSha1);
    let body = serde_urlencoded::to_string(&form).unwrap();
    let req = format!(
        "POST /twilio/voice HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {sig}\r\nContent-Length: {}\r\n\r\n{body}",
        addr(rig),
        body.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Trickles `piece` every 50 ms; the server must answer 408 and close at its
/// configured 300 ms deadline (well before actix-web's default of 5 s).
async fn assert_cut_off_with_408(sock: &mut TcpStream, piece: &[u8]) {
    let started = tokio::time::Instant::now();
    let trickle = async {
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if sock.write_all(piece).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(600), trickle).await;
    let said = read_until_closed(sock, Duration::from_secs(5)).await;
    assert!(said.starts_with("HTTP/1.1 408"), "{said:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "socket held {:?}",
        started.elapsed()
    );
}

#[actix_rt::test]
async fn a_trickled_body_is_cut_off_with_408() {
    let rig = rig(ModelScript::default(), |c| c.server.body_timeout_ms = 300).await;
    let mut sock = TcpStream::connect(addr(&rig)).await.unwrap();
    let head = format!(
        "POST /twilio/voice HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nCallSid=CA",
        addr(&rig)
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    // One body byte every 50 ms: never enough to finish before the deadline.
    assert_cut_off_with_408(&mut sock, b"0").await;

    // Honest traffic is served meanwhile.
    let mut ok = TcpStream::connect(addr(&rig)).await.unwrap();
    assert!(signed_voice(&mut ok, &rig)
        .await
        .starts_with("HTTP/1.1 200"));
}

#[actix_rt::test]
async fn a_trickled_head_is_cut_off() {
    let rig = rig(ModelScript::default(), |c| c.server.header_timeout_ms = 300).await;
    let mut sock = TcpStream::connect(addr(&rig)).await.unwrap();
    sock.write_all(b"POST /twilio/voice HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // One header line every 50 ms.
    assert_cut_off_with_408(&mut sock, b"X-Slow: 1\r\n").await;
}

#[actix_rt::test]
async fn one_address_cannot_pin_more_than_its_share_of_sockets() {
    let rig = rig(ModelScript::default(), |c| {
        c.server.max_unproven_connections_per_peer = 4;
        c.server.header_timeout_ms = 30_000;
        // One worker takes connections in the order they were made.
        c.server.workers = 1;
    })
    .await;
    // A connection that carried a valid Twilio request no longer counts.
    let mut twilio = TcpStream::connect(addr(&rig)).await.unwrap();
    assert!(signed_voice(&mut twilio, &rig)
        .await
        .starts_with("HTTP/1.1 200"));

    // Four idle sockets fill the share of this address…
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr(&rig)).await.unwrap());
    }
    // …so a fifth is refused with 503 and closed.
    let mut fifth = TcpStream::connect(addr(&rig)).await.unwrap();
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", addr(&rig));
    fifth.write_all(req.as_bytes()).await.unwrap();
    let said = read_until_closed(&mut fifth, Duration::from_secs(5)).await;
    assert!(said.starts_with("HTTP/1.1 503"), "{said:?}");

    // A signed webhook on a new connection is still served: a burst of calls
    // through one balancer address must not be turned away.
    let mut burst = TcpStream::connect(addr(&rig)).await.unwrap();
    let said = signed_voice(&mut burst, &rig).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said:?}");
    // But a signature header buys a trickler no time: over its share, the
    // address's body must come within a second, not `body_timeout_ms`.
    let mut trickler = TcpStream::connect(addr(&rig)).await.unwrap();
    let head = format!(
        "POST /twilio/voice HTTP/1.1\r\nHost: {}\r\nX-Twilio-Signature: forged\r\nContent-Length: 1000\r\n\r\n",
        addr(&rig)
    );
    trickler.write_all(head.as_bytes()).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut said = String::new();
    for _ in 0..100 {
        if trickler.write_all(b"a").await.is_err() {
            break;
        }
        let mut buf = [0u8; 256];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(50), trickler.read(&mut buf)).await
        {
            said = String::from_utf8_lossy(&buf[..n]).into_owned();
            break;
        }
    }
    assert!(said.starts_with("HTTP/1.1 408"), "{said:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // The proven connection is still served.
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", addr(&rig));
    twilio.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), twilio.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    // Once the idle sockets go, the address may connect again.
    drop(idle);
    let mut again = None;
    for _ in 0..50 {
        let mut sock = TcpStream::connect(addr(&rig)).await.unwrap();
        sock.write_all(req.as_bytes()).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let line = String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        if line.starts_with("HTTP/1.1 200") {
            again = Some(line);
            break;
        }
        // The server notices the closed sockets on its next read of them.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "the address stayed locked out");
}
