//! POP3 behaviour of the correct server and of each flaw.

use super::{clean_and_flawed, server, Client, PLAIN_BAD, PLAIN_OK};
use crate::server::{Flaw, RunningServer};

const GREETING: &str = "+OK mailtls reference server ready";

/// Connects in plaintext and reads the greeting.
async fn plain(server: &RunningServer) -> Client {
    let mut client = Client::connect(server, "pop3").await;
    assert_eq!(client.line().await, GREETING);
    client
}

/// Connects and upgrades with STLS.
async fn tls(server: &RunningServer) -> Client {
    let mut client = plain(server).await;
    assert_eq!(cmd(&mut client, "STLS").await, "+OK Begin TLS negotiation");
    client.starttls().await;
    client
}

async fn cmd(client: &mut Client, command: &str) -> String {
    client.send(&format!("{command}\r\n")).await;
    client.line().await
}

async fn capa(client: &mut Client) -> Vec<String> {
    client.send("CAPA\r\n").await;
    let lines = client.pop_multi().await;
    assert_eq!(lines[0], "+OK Capability list follows");
    lines[1..].to_vec()
}

fn has(capa: &[String], name: &str) -> bool {
    capa.iter().any(|l| l == name)
}

#[tokio::test]
async fn greeting_and_capabilities() {
    let server = server("").await;
    let mut client = plain(&server).await;
    let before = capa(&mut client).await;
    for name in ["STLS", "TOP", "UIDL", "PIPELINING"] {
        assert!(has(&before, name), "{name} missing from {before:?}");
    }
    assert!(!has(&before, "USER"), "{before:?}");
    assert!(!before.iter().any(|l| l.starts_with("SASL")), "{before:?}");

    let mut client = tls(&server).await;
    let after = capa(&mut client).await;
    assert!(
        has(&after, "USER") && has(&after, "SASL PLAIN"),
        "{after:?}"
    );
    assert!(!has(&after, "STLS"), "{after:?}");
    assert_eq!(cmd(&mut client, "STLS").await, "-ERR TLS already active");
}

#[tokio::test]
async fn implicit_tls_pop3s() {
    let server = server("").await;
    let mut client = Client::connect(&server, "pop3s").await;
    assert_eq!(client.line().await, GREETING);
    let caps = capa(&mut client).await;
    assert!(has(&caps, "USER") && !has(&caps, "STLS"), "{caps:?}");
    assert_eq!(cmd(&mut client, "USER mailtls").await, "+OK");
    assert_eq!(
        cmd(&mut client, "PASS mailtls-secret").await,
        "+OK Logged in"
    );
}

#[tokio::test]
async fn authentication_needs_tls() {
    let server = server("").await;
    let mut client = plain(&server).await;
    for command in [
        "USER mailtls",
        "PASS mailtls-secret",
        &format!("AUTH PLAIN {PLAIN_OK}"),
    ] {
        assert_eq!(
            cmd(&mut client, command).await,
            "-ERR TLS required for authentication"
        );
    }
    assert_eq!(cmd(&mut client, "STAT").await, "-ERR Not authenticated");
}

#[tokio::test]
async fn login_and_transaction_inside_tls() {
    let server = server("").await;
    let mut client = tls(&server).await;
    assert_eq!(cmd(&mut client, "STAT").await, "-ERR Not authenticated");
    assert_eq!(
        cmd(&mut client, "PASS mailtls-secret").await,
        "-ERR USER first"
    );
    assert_eq!(cmd(&mut client, "USER mailtls").await, "+OK");
    assert_eq!(
        cmd(&mut client, "PASS wrong").await,
        "-ERR [AUTH] Authentication failed"
    );
    // A failed PASS forgets the user.
    assert_eq!(
        cmd(&mut client, "PASS mailtls-secret").await,
        "-ERR USER first"
    );
    assert_eq!(cmd(&mut client, "USER mailtls").await, "+OK");
    assert_eq!(
        cmd(&mut client, "PASS mailtls-secret").await,
        "+OK Logged in"
    );
    assert_eq!(cmd(&mut client, "STAT").await, "+OK 0 0");
    client.send("LIST\r\n").await;
    assert_eq!(client.pop_multi().await, ["+OK 0 messages (0 octets)"]);
    client.send("UIDL\r\n").await;
    assert_eq!(client.pop_multi().await, ["+OK"]);
    assert_eq!(cmd(&mut client, "RETR 1").await, "-ERR No such message");
    assert_eq!(cmd(&mut client, "NOOP").await, "+OK");
    assert_eq!(cmd(&mut client, "RSET").await, "+OK");
    assert!(cmd(&mut client, "STLS").await.starts_with("-ERR"));
    assert!(cmd(&mut client, "USER mailtls").await.starts_with("-ERR"));
    assert_eq!(cmd(&mut client, "FROB").await, "-ERR Unknown command");
    assert_eq!(
        cmd(&mut client, "QUIT").await,
        "+OK mailtls reference server signing off"
    );
    assert!(client.closed().await);
}

#[tokio::test]
async fn auth_plain_inside_tls() {
    let server = server("").await;
    let mut client = tls(&server).await;
    assert_eq!(cmd(&mut client, "AUTH PLAIN").await, "+ ");
    assert_eq!(cmd(&mut client, "*").await, "-ERR Authentication cancelled");
    assert_eq!(cmd(&mut client, "AUTH PLAIN").await, "+ ");
    assert_eq!(
        cmd(&mut client, PLAIN_BAD).await,
        "-ERR [AUTH] Authentication failed"
    );
    assert!(cmd(&mut client, "AUTH CRAM-MD5").await.starts_with("-ERR"));
    assert_eq!(
        cmd(&mut client, "AUTH PLAIN !!").await,
        "-ERR Invalid base64"
    );
    assert_eq!(
        cmd(&mut client, &format!("AUTH PLAIN {PLAIN_OK}")).await,
        "+OK Logged in"
    );
    assert_eq!(cmd(&mut client, "STAT").await, "+OK 0 0");
}

#[tokio::test]
async fn pipelined_commands_answer_in_order() {
    let server = server("").await;
    let mut client = plain(&server).await;
    client.send("NOOP\r\nNOOP\r\nCAPA\r\n").await;
    assert_eq!(client.line().await, "+OK");
    assert_eq!(client.line().await, "+OK");
    assert_eq!(client.pop_multi().await[0], "+OK Capability list follows");
}

#[tokio::test]
async fn overlong_line_is_refused_and_closed() {
    let server = server("").await;
    let mut client = plain(&server).await;
    client.send(&format!("USER {}\r\n", "x".repeat(5000))).await;
    assert_eq!(client.line().await, "-ERR Line too long");
    assert!(client.closed().await);
}

#[tokio::test]
async fn flaw_no_starttls() {
    for (flawed, server) in clean_and_flawed(Flaw::NoStarttls).await {
        let mut client = plain(&server).await;
        assert_eq!(has(&capa(&mut client).await, "STLS"), !flawed);
        let reply = cmd(&mut client, "STLS").await;
        if flawed {
            assert_eq!(reply, "-ERR Unknown command");
        } else {
            assert_eq!(reply, "+OK Begin TLS negotiation");
        }
    }
}

#[tokio::test]
async fn flaw_starttls_injection() {
    for (flawed, server) in clean_and_flawed(Flaw::StarttlsInjection).await {
        let mut client = plain(&server).await;
        client.send("STLS\r\nUSER mailtls\r\n").await;
        assert_eq!(client.line().await, "+OK Begin TLS negotiation");
        client.starttls().await;
        if flawed {
            assert_eq!(client.line().await, "+OK", "injected USER answered");
            // The injected USER counts: PASS alone now logs in.
            assert_eq!(
                cmd(&mut client, "PASS mailtls-secret").await,
                "+OK Logged in"
            );
        } else {
            client.expect_silence().await;
            assert_eq!(
                cmd(&mut client, "PASS mailtls-secret").await,
                "-ERR USER first"
            );
        }
        client.expect_silence().await;
    }
}

#[tokio::test]
async fn flaw_plaintext_auth() {
    for (flawed, server) in clean_and_flawed(Flaw::PlaintextAuth).await {
        let mut client = plain(&server).await;
        let caps = capa(&mut client).await;
        assert_eq!(has(&caps, "USER"), flawed, "{caps:?}");
        assert_eq!(has(&caps, "SASL PLAIN"), flawed, "{caps:?}");
        assert!(has(&caps, "STLS"));
        if flawed {
            assert_eq!(cmd(&mut client, "USER mailtls").await, "+OK");
            assert_eq!(
                cmd(&mut client, "PASS mailtls-secret").await,
                "+OK Logged in"
            );
            let mut client = plain(&server).await;
            assert_eq!(
                cmd(&mut client, &format!("AUTH PLAIN {PLAIN_OK}")).await,
                "+OK Logged in"
            );
        } else {
            assert!(cmd(&mut client, "USER mailtls").await.starts_with("-ERR"));
        }
    }
}

#[tokio::test]
async fn flaw_stale_capabilities() {
    for (flawed, server) in clean_and_flawed(Flaw::StaleCapabilities).await {
        let mut client = tls(&server).await;
        assert_eq!(has(&capa(&mut client).await, "STLS"), flawed);
        let reply = cmd(&mut client, "STLS").await;
        if flawed {
            assert_eq!(reply, "+OK Begin TLS negotiation");
            client.starttls().await;
            assert_eq!(cmd(&mut client, "NOOP").await, "+OK");
        } else {
            assert_eq!(reply, "-ERR TLS already active");
        }
    }
}
