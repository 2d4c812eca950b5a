//! SMTP behaviour of the correct server and of each flaw.

use std::time::Duration;

use super::{clean_and_flawed, server, Client, PLAIN_BAD, PLAIN_OK};
use crate::server::{Flaw, RunningServer, ServerConfig};

const GREETING: &str = "220 mail.mailtls.test ESMTP mailtls reference server";

/// Connects in plaintext, reads the greeting and sends EHLO.
async fn ehlo_plain(server: &RunningServer) -> (Client, Vec<String>) {
    let mut client = Client::connect(server, "smtp").await;
    assert_eq!(client.line().await, GREETING);
    client.send("EHLO client.test\r\n").await;
    let ehlo = client.smtp().await;
    (client, ehlo)
}

/// Connects, upgrades with STARTTLS and sends EHLO inside TLS.
async fn ehlo_tls(server: &RunningServer) -> (Client, Vec<String>) {
    let (mut client, _) = ehlo_plain(server).await;
    assert_eq!(
        client.smtp_cmd("STARTTLS").await,
        "220 2.0.0 Ready to start TLS"
    );
    client.starttls().await;
    client.send("EHLO client.test\r\n").await;
    let ehlo = client.smtp().await;
    (client, ehlo)
}

fn has(ehlo: &[String], keyword: &str) -> bool {
    ehlo.iter().any(|l| l.get(4..) == Some(keyword))
}

#[tokio::test]
async fn greeting_and_plaintext_ehlo() {
    let server = server("").await;
    let (_, ehlo) = ehlo_plain(&server).await;
    assert_eq!(ehlo[0], "250-mail.mailtls.test");
    for keyword in [
        "PIPELINING",
        "SIZE 10240000",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
    ] {
        assert!(has(&ehlo, keyword), "{keyword} missing from {ehlo:?}");
    }
    assert!(!ehlo.iter().any(|l| l.contains("AUTH")), "{ehlo:?}");
    let last = ehlo.last().expect("reply");
    assert!(last.starts_with("250 "), "{ehlo:?}");
    assert!(ehlo[..ehlo.len() - 1].iter().all(|l| l.starts_with("250-")));
}

#[tokio::test]
async fn ehlo_inside_tls_offers_auth_not_starttls() {
    let server = server("").await;
    let (mut client, ehlo) = ehlo_tls(&server).await;
    assert!(has(&ehlo, "AUTH PLAIN LOGIN"), "{ehlo:?}");
    assert!(!has(&ehlo, "STARTTLS"), "{ehlo:?}");
    assert!(client.smtp_cmd("STARTTLS").await.starts_with("503 5.5.1"));
    // The session is still usable after the refusal.
    assert_eq!(client.smtp_cmd("NOOP").await, "250 2.0.0 Ok");
}

#[tokio::test]
async fn implicit_tls_smtps() {
    let server = server("").await;
    let mut client = Client::connect(&server, "smtps").await;
    assert_eq!(client.line().await, GREETING);
    client.send("EHLO client.test\r\n").await;
    let ehlo = client.smtp().await;
    assert!(has(&ehlo, "AUTH PLAIN LOGIN"), "{ehlo:?}");
    assert!(!has(&ehlo, "STARTTLS"), "{ehlo:?}");
    assert_eq!(
        client.smtp_cmd(&format!("AUTH PLAIN {PLAIN_OK}")).await,
        "235 2.7.0 Authentication successful"
    );
}

#[tokio::test]
async fn auth_needs_tls() {
    let server = server("").await;
    let (mut client, _) = ehlo_plain(&server).await;
    for command in [format!("AUTH PLAIN {PLAIN_OK}"), "AUTH LOGIN".to_owned()] {
        assert_eq!(
            client.smtp_cmd(&command).await,
            "530 5.7.0 Must issue a STARTTLS command first"
        );
    }
}

#[tokio::test]
async fn auth_plain_and_login_inside_tls() {
    let server = server("").await;

    let (mut client, _) = ehlo_tls(&server).await;
    assert_eq!(
        client.smtp_cmd(&format!("AUTH PLAIN {PLAIN_BAD}")).await,
        "535 5.7.8 Error: authentication failed"
    );
    assert_eq!(
        client.smtp_cmd(&format!("AUTH PLAIN {PLAIN_OK}")).await,
        "235 2.7.0 Authentication successful"
    );
    assert!(client
        .smtp_cmd(&format!("AUTH PLAIN {PLAIN_OK}"))
        .await
        .starts_with("503"));

    let (mut client, _) = ehlo_tls(&server).await;
    assert_eq!(client.smtp_cmd("AUTH PLAIN").await, "334 ");
    assert_eq!(
        client.smtp_cmd("*").await,
        "501 5.7.0 Authentication aborted"
    );
    assert_eq!(client.smtp_cmd("AUTH PLAIN").await, "334 ");
    assert_eq!(
        client.smtp_cmd("not base64!").await,
        "501 5.5.2 Cannot decode response"
    );
    assert_eq!(client.smtp_cmd("AUTH PLAIN").await, "334 ");
    assert_eq!(
        client.smtp_cmd(PLAIN_OK).await,
        "235 2.7.0 Authentication successful"
    );

    let (mut client, _) = ehlo_tls(&server).await;
    assert_eq!(client.smtp_cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6");
    assert_eq!(client.smtp_cmd("bWFpbHRscw==").await, "334 UGFzc3dvcmQ6");
    assert_eq!(
        client.smtp_cmd("d3Jvbmc=").await,
        "535 5.7.8 Error: authentication failed"
    );
    assert_eq!(
        client.smtp_cmd("AUTH LOGIN bWFpbHRscw==").await,
        "334 UGFzc3dvcmQ6"
    );
    assert_eq!(
        client.smtp_cmd("bWFpbHRscy1zZWNyZXQ=").await,
        "235 2.7.0 Authentication successful"
    );

    let (mut client, _) = ehlo_tls(&server).await;
    assert!(client.smtp_cmd("AUTH CRAM-MD5").await.starts_with("504"));
}

#[tokio::test]
async fn command_sequencing_and_delivery() {
    let server = server("").await;
    let mut client = Client::connect(&server, "smtp").await;
    client.line().await;
    assert!(client
        .smtp_cmd("MAIL FROM:<a@b.test>")
        .await
        .starts_with("503 5.5.1"));
    assert_eq!(
        client.smtp_cmd("HELO client.test").await,
        "250 mail.mailtls.test"
    );
    assert_eq!(
        client.smtp_cmd("RCPT TO:<mailtls@x.test>").await,
        "503 5.5.1 Error: need MAIL command"
    );
    assert!(client.smtp_cmd("DATA").await.starts_with("503"));
    assert_eq!(
        client
            .smtp_cmd("MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME")
            .await,
        "250 2.1.0 Ok"
    );
    assert!(client
        .smtp_cmd("MAIL FROM:<a@b.test>")
        .await
        .starts_with("503"));
    assert!(client.smtp_cmd("DATA").await.starts_with("503"));
    assert!(client
        .smtp_cmd("RCPT TO:<nobody@x.test>")
        .await
        .starts_with("550 5.1.1"));
    assert!(client
        .smtp_cmd("RCPT TO:mailtls@x.test")
        .await
        .starts_with("501"));
    assert_eq!(
        client.smtp_cmd("RCPT TO:<mailtls@x.test>").await,
        "250 2.1.5 Ok"
    );
    assert_eq!(
        client.smtp_cmd("rcpt to:<Postmaster>").await,
        "250 2.1.5 Ok"
    );
    assert!(client.smtp_cmd("DATA now").await.starts_with("501"));
    assert!(client.smtp_cmd("DATA").await.starts_with("354"));
    // Only CRLF.CRLF ends the data; a bare LF.LF is content. Leading dots are unstuffed.
    client
        .send("Subject: t\r\n\r\n..dot\r\nbare\n.\nstill data\r\n.\r\n")
        .await;
    assert_eq!(client.smtp().await, ["250 2.0.0 Ok: queued"]);
    assert_eq!(
        server.last_message().as_deref(),
        Some(&b"Subject: t\r\n\r\n.dot\r\nbare\n.\nstill data\r\n"[..])
    );
    // The transaction is over: a new MAIL is needed.
    assert!(client
        .smtp_cmd("RCPT TO:<mailtls@x.test>")
        .await
        .starts_with("503"));
    assert!(client
        .smtp_cmd("MAIL FROM:<a@b.test> SIZE=99999999")
        .await
        .starts_with("552"));
    assert_eq!(client.smtp_cmd("MAIL FROM:<>").await, "250 2.1.0 Ok");
    assert_eq!(client.smtp_cmd("RSET").await, "250 2.0.0 Ok");
    assert!(client
        .smtp_cmd("RCPT TO:<mailtls@x.test>")
        .await
        .starts_with("503"));
    assert!(client.smtp_cmd("VRFY mailtls").await.starts_with("252"));
    assert!(client.smtp_cmd("HELP").await.starts_with("214"));
    assert_eq!(
        client.smtp_cmd("FROB").await,
        "500 5.5.2 Error: command not recognized"
    );
    assert_eq!(client.smtp_cmd("QUIT").await, "221 2.0.0 Bye");
    assert!(client.closed().await);
}

#[tokio::test]
async fn pipelined_commands_answer_in_order() {
    let server = server("").await;
    let (mut client, _) = ehlo_plain(&server).await;
    client.send("NOOP\r\nNOOP\r\n").await;
    assert_eq!(client.smtp().await, ["250 2.0.0 Ok"]);
    assert_eq!(client.smtp().await, ["250 2.0.0 Ok"]);
    client
        .send("MAIL FROM:<a@b.test>\r\nRCPT TO:<nobody@x.test>\r\nRCPT TO:<mailtls@x.test>\r\nDATA\r\n")
        .await;
    assert!(client.smtp().await[0].starts_with("250"));
    assert!(client.smtp().await[0].starts_with("550"));
    assert!(client.smtp().await[0].starts_with("250"));
    assert!(client.smtp().await[0].starts_with("354"));
    client.send("hi\r\n.\r\nQUIT\r\n").await;
    assert!(client.smtp().await[0].starts_with("250"));
    assert!(client.smtp().await[0].starts_with("221"));
    assert!(client.closed().await);
}

#[tokio::test]
async fn overlong_line_is_refused_and_closed() {
    let server = server("").await;
    for ending in ["\r\n", ""] {
        let mut client = Client::connect(&server, "smtp").await;
        client.line().await;
        client
            .send(&format!("NOOP {}{ending}", "x".repeat(5000)))
            .await;
        assert_eq!(client.line().await, "500 5.5.2 Line too long");
        assert!(client.closed().await);
    }
    // A line of exactly the limit is still fine.
    let mut client = Client::connect(&server, "smtp").await;
    client.line().await;
    client.send(&format!("NOOP {}\r\n", "x".repeat(4091))).await;
    assert_eq!(client.line().await, "250 2.0.0 Ok");
}

#[tokio::test]
async fn idle_session_times_out() {
    let server =
        RunningServer::start_with_idle(ServerConfig::default(), Duration::from_millis(200))
            .await
            .expect("server starts");
    let mut client = Client::connect(&server, "smtp").await;
    client.line().await;
    assert!(client.line().await.starts_with("421 4.4.2"));
    assert!(client.closed().await);
}

#[tokio::test]
async fn hostile_input_does_not_kill_the_session() {
    let server = server("").await;
    let (mut client, _) = ehlo_tls(&server).await;
    let hostile: [&[u8]; 14] = [
        b"\0\xff\xfe\r\n",
        b"\r\n",
        b"MAIL\r\n",
        b"MAIL FROM:\r\n",
        b"MAIL FROM:<a@b> SIZE=-1\r\n",
        b"MAIL FROM:<a@b> SIZE=99999999999999999999999\r\n",
        b"RCPT TO:<\xff@x>\r\n",
        b"AUTH\r\n",
        b"AUTH PLAIN ====\r\n",
        b"AUTH PLAIN AAAA\r\n",
        b"EHLO\r\n",
        b"\xc3\x28 \xe2\x82\r\n",
        b"NOOP\nNOOP\r\n",
        b"AUTH LOGIN \xff\xff\r\n",
    ];
    for input in hostile {
        client.send_bytes(input).await;
        let reply = client.smtp().await;
        assert!(reply[0].starts_with('5'), "{input:?} -> {reply:?}");
    }
    assert_eq!(client.smtp_cmd("NOOP").await, "250 2.0.0 Ok");
}

#[tokio::test]
async fn tls12_and_tls13_both_work() {
    let server = server("").await;
    for (versions, expected) in [
        (
            vec![&rustls::version::TLS12],
            rustls::ProtocolVersion::TLSv1_2,
        ),
        (
            vec![&rustls::version::TLS13],
            rustls::ProtocolVersion::TLSv1_3,
        ),
    ] {
        let client = Client::connect_with(&server, "smtps", versions).await;
        assert_eq!(client.version, Some(expected));
    }
}

#[tokio::test]
async fn flaw_no_starttls() {
    for (flawed, server) in clean_and_flawed(Flaw::NoStarttls).await {
        let (mut client, ehlo) = ehlo_plain(&server).await;
        assert_eq!(has(&ehlo, "STARTTLS"), !flawed, "{ehlo:?}");
        let reply = client.smtp_cmd("STARTTLS").await;
        if flawed {
            assert_eq!(reply, "502 5.5.1 Error: command not implemented");
        } else {
            assert_eq!(reply, "220 2.0.0 Ready to start TLS");
        }
    }
}

#[tokio::test]
async fn flaw_starttls_injection() {
    for (flawed, server) in clean_and_flawed(Flaw::StarttlsInjection).await {
        let (mut client, _) = ehlo_plain(&server).await;
        client.send("STARTTLS\r\nNOOP\r\n").await;
        assert_eq!(client.smtp().await, ["220 2.0.0 Ready to start TLS"]);
        client.starttls().await;
        if flawed {
            assert_eq!(
                client.line().await,
                "250 2.0.0 Ok",
                "injected NOOP answered"
            );
        } else {
            client.expect_silence().await;
        }
        assert_eq!(client.smtp_cmd("NOOP").await, "250 2.0.0 Ok");
        client.expect_silence().await;
    }
}

#[tokio::test]
async fn flaw_plaintext_auth() {
    for (flawed, server) in clean_and_flawed(Flaw::PlaintextAuth).await {
        let (mut client, ehlo) = ehlo_plain(&server).await;
        assert_eq!(has(&ehlo, "AUTH PLAIN LOGIN"), flawed, "{ehlo:?}");
        assert!(has(&ehlo, "STARTTLS"));
        let reply = client.smtp_cmd(&format!("AUTH PLAIN {PLAIN_OK}")).await;
        if flawed {
            assert_eq!(reply, "235 2.7.0 Authentication successful");
        } else {
            assert!(reply.starts_with("530 5.7.0"), "{reply}");
        }
    }
}

#[tokio::test]
async fn flaw_stale_capabilities() {
    for (flawed, server) in clean_and_flawed(Flaw::StaleCapabilities).await {
        let (mut client, ehlo) = ehlo_tls(&server).await;
        assert_eq!(has(&ehlo, "STARTTLS"), flawed, "{ehlo:?}");
        let reply = client.smtp_cmd("STARTTLS").await;
        if flawed {
            assert_eq!(reply, "220 2.0.0 Ready to start TLS");
            // It really does try a second handshake, inside the first.
            client.starttls().await;
            assert_eq!(client.smtp_cmd("NOOP").await, "250 2.0.0 Ok");
        } else {
            assert_eq!(reply, "503 5.5.1 Error: TLS already active");
        }
    }
}

#[tokio::test]
async fn flaw_state_not_reset() {
    for (flawed, server) in clean_and_flawed(Flaw::StateNotReset).await {
        let (mut client, _) = ehlo_plain(&server).await;
        assert_eq!(
            client.smtp_cmd("MAIL FROM:<a@b.test>").await,
            "250 2.1.0 Ok"
        );
        assert!(client.smtp_cmd("STARTTLS").await.starts_with("220"));
        client.starttls().await;
        let reply = client.smtp_cmd("RCPT TO:<mailtls@x.test>").await;
        if flawed {
            assert_eq!(reply, "250 2.1.5 Ok");
        } else {
            assert_eq!(reply, "503 5.5.1 Error: need MAIL command");
            assert!(client
                .smtp_cmd("MAIL FROM:<a@b.test>")
                .await
                .starts_with("503 5.5.1"));
        }
    }
}
