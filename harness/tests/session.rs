//! The session layer against hand-written peers: exact segments, early plaintext
//! surfaced at the STARTTLS upgrade, deadlines on every read.

use mailtls::server::self_signed_tls_config;
use mailtls::session::{Connection, SessionError, SessionOptions, Transcript, Waited};
use mailtls::wire::smtp::Reply;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A connection to a loopback peer that must succeed.
async fn connect(port: u16, implicit_tls: bool, ms: u64) -> Connection {
    Connection::connect(
        "127.0.0.1",
        port,
        implicit_tls,
        options(ms),
        Transcript::new(),
    )
    .await
    .map_err(|(e, _)| e)
    .unwrap()
}

fn options(ms: u64) -> SessionOptions {
    SessionOptions {
        timeout: Duration::from_millis(ms),
        ..SessionOptions::default()
    }
}

#[tokio::test]
async fn early_plaintext_after_the_go_ahead_is_surfaced_not_dropped() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        tcp.write_all(b"220 hi\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let n = tcp.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"STARTTLS\r\nNOOP\r\n", "one send, one segment");
        // The go-ahead and an answer to the pipelined NOOP, in cleartext, in one write.
        tcp.write_all(b"220 go ahead\r\n250 early\r\n")
            .await
            .unwrap();
        let acceptor =
            tokio_rustls::TlsAcceptor::from(self_signed_tls_config("localhost").unwrap());
        let mut tls = acceptor.accept(tcp).await.unwrap();
        tls.write_all(b"250 inside\r\n").await.unwrap();
        tls.flush().await.unwrap();
        let _ = tls.read(&mut buf).await;
    });
    let mut conn = connect(port, false, 2000).await;
    conn.read_decoded(Reply::decode, "greeting").await.unwrap();
    conn.send_segment(b"STARTTLS\r\nNOOP\r\n").await.unwrap();
    let go = conn.read_decoded(Reply::decode, "go-ahead").await.unwrap();
    assert_eq!(go.value.code, 220);
    let upgrade = conn.start_tls().await;
    assert_eq!(upgrade.early_plaintext, b"250 early\r\n");
    upgrade.handshake.unwrap();
    assert_eq!(conn.tls().unwrap().peer_certificates.len(), 1);
    let inside = conn.read_decoded(Reply::decode, "reply").await.unwrap();
    assert_eq!(inside.value.lines, ["inside"]);
    let notes: Vec<_> = conn
        .transcript()
        .entries()
        .iter()
        .filter(|e| e.data.contains("plaintext arrived") || e.data.starts_with("TLS established"))
        .collect();
    assert_eq!(notes.len(), 2, "{:#?}", conn.transcript().entries());
    drop(conn);
    server.await.unwrap();
}

#[tokio::test]
async fn every_read_has_a_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(tcp);
    });
    let mut conn = connect(port, false, 200).await;
    let started = Instant::now();
    let err = conn
        .read_decoded(Reply::decode, "the greeting")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SessionError::Timeout { ms: 200, .. }),
        "{err}"
    );
    assert!(err.is_harness_trouble());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        conn.wait_for_bytes(Duration::from_millis(50))
            .await
            .unwrap(),
        Waited::Quiet
    );
}

#[tokio::test]
async fn waiting_until_readable_leaves_the_reply_for_the_next_read() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        tcp.write_all(b"220 hi\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let _ = tcp.read(&mut buf).await.unwrap();
        // Half a reply, then the rest: the wait ends at the first byte.
        tcp.write_all(b"250 ").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        tcp.write_all(b"queued\r\n").await.unwrap();
    });
    let mut conn = connect(port, false, 2000).await;
    assert_eq!(
        conn.wait_readable(Duration::from_secs(2)).await.unwrap(),
        Waited::Spoke(b"220 hi\r\n".to_vec()),
        "what is already there counts"
    );
    assert_eq!(
        conn.read_decoded(Reply::decode, "the greeting")
            .await
            .unwrap()
            .value
            .code,
        220,
        "the wait consumed nothing"
    );
    assert_eq!(
        conn.wait_readable(Duration::from_millis(50)).await.unwrap(),
        Waited::Quiet
    );
    conn.send_segment(b"body\n.\n").await.unwrap();
    assert_eq!(
        conn.wait_readable(Duration::from_secs(2)).await.unwrap(),
        Waited::Spoke(b"250 ".to_vec())
    );
    let reply = conn
        .read_decoded(Reply::decode, "the early reply")
        .await
        .unwrap();
    assert_eq!((reply.value.code, reply.consumed), (250, 12));
    assert_eq!(
        conn.wait_readable(Duration::from_secs(2)).await.unwrap(),
        Waited::Closed
    );
}

#[tokio::test]
async fn an_endless_line_is_cut_off_at_the_cap() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let junk = vec![b'2'; 64 * 1024];
        while tcp.write_all(&junk).await.is_ok() {}
    });
    let mut conn = connect(port, false, 2000).await;
    let err = conn
        .read_decoded(Reply::decode, "the greeting")
        .await
        .unwrap_err();
    assert!(matches!(err, SessionError::Decode(_)), "{err}");
    assert!(
        !err.is_harness_trouble(),
        "a server flooding us is the server's doing"
    );
}

#[tokio::test]
async fn refused_connection_is_harness_trouble() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (err, transcript) =
        Connection::connect("127.0.0.1", port, false, options(500), Transcript::new())
            .await
            .err()
            .unwrap();
    assert!(err.is_harness_trouble());
    assert!(transcript.entries()[0].data.contains("could not connect"));
}

#[tokio::test]
async fn implicit_tls_handshakes_at_connect() {
    use mailtls::server::{Flaws, RunningServer, ServerConfig};
    let server = RunningServer::start(ServerConfig {
        flaws: Flaws::default(),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let addr = server.endpoint("smtps").unwrap();
    let mut conn = connect(addr.port(), true, 2000).await;
    let tls = conn.tls().expect("TLS before the first byte").clone();
    assert!(tls.version == "TLSv1.3" || tls.version == "TLSv1.2");
    assert_eq!(tls.peer_certificates[0].as_ref(), server.certificate_der());
    let greeting = conn.read_decoded(Reply::decode, "greeting").await.unwrap();
    assert_eq!(greeting.value.code, 220);
}

#[tokio::test]
async fn a_slow_multi_line_greeting_renews_the_idle_deadline_up_to_a_ceiling() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        // Like postscreen: greet in parts, each within the idle deadline.
        let (mut tcp, _) = listener.accept().await.unwrap();
        for part in ["220-mx\r\n", "220-checking\r\n", "220 ready\r\n"] {
            tokio::time::sleep(Duration::from_millis(120)).await;
            tcp.write_all(part.as_bytes()).await.unwrap();
        }
        // And a drip that never ends a reply.
        let (mut tcp, _) = listener.accept().await.unwrap();
        tcp.write_all(b"220-").await.unwrap();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if tcp.write_all(b"x").await.is_err() {
                break;
            }
        }
    });
    let mut conn = connect(port, false, 200).await;
    let greeting = conn.read_decoded(Reply::decode, "greeting").await.unwrap();
    assert_eq!(greeting.value.lines.len(), 3);

    let mut conn = connect(port, false, 200).await;
    let started = Instant::now();
    let err = conn
        .read_decoded(Reply::decode, "greeting")
        .await
        .unwrap_err();
    assert!(matches!(err, SessionError::Timeout { .. }), "{err}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(550) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[tokio::test]
async fn preamble_reaches_the_start_of_tls_on_every_protocol() {
    use mailtls::server::{Flaw, Flaws, RunningServer, ServerConfig};
    use mailtls::session::{open_to_tls_start, PreambleError};
    use mailtls::target::{Endpoint, Scheme};
    for flaws in [Flaws::default(), Flaws::from(Flaw::NoStarttls)] {
        let server = RunningServer::start(ServerConfig {
            flaws,
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        for scheme in [Scheme::Smtp, Scheme::Imap, Scheme::Pop3, Scheme::Smtps] {
            let addr = server.endpoint(scheme.name()).unwrap();
            let endpoint = Endpoint {
                scheme,
                host: "127.0.0.1".into(),
                port: addr.port(),
                credentials: None,
            };
            let opened = open_to_tls_start(
                &mailtls::session::Governor::new(2),
                &endpoint,
                "mailtls.invalid",
                options(2000),
                Transcript::new(),
            )
            .await;
            if flaws.is_empty() || scheme == Scheme::Smtps {
                let plain = opened.map_err(|(e, _)| e).unwrap();
                let connector =
                    tokio_rustls::TlsConnector::from(mailtls::tls::client::permissive_config());
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                connector
                    .connect(name, plain.tcp)
                    .await
                    .expect("TLS starts right here");
            } else {
                assert!(
                    matches!(opened, Err((PreambleError::NotOffered, _))),
                    "{scheme}"
                );
            }
        }
    }
}
