//! IMAP behaviour of the correct server and of each flaw.

use super::{clean_and_flawed, server, Client, PLAIN_BAD, PLAIN_OK};
use crate::server::{Flaw, RunningServer};

const GREETING: &str =
    "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] mailtls reference server ready";

/// Connects in plaintext and reads the greeting.
async fn plain(server: &RunningServer) -> (Client, String) {
    let mut client = Client::connect(server, "imap").await;
    let greeting = client.line().await;
    (client, greeting)
}

/// Connects and upgrades with STARTTLS.
async fn tls(server: &RunningServer) -> Client {
    let (mut client, _) = plain(server).await;
    assert_eq!(
        client.imap_cmd("t", "STARTTLS").await,
        ["t OK Begin TLS negotiation now"]
    );
    client.starttls().await;
    client
}

/// The `* CAPABILITY` line.
async fn capability(client: &mut Client) -> String {
    let lines = client.imap_cmd("c", "CAPABILITY").await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1], "c OK CAPABILITY completed");
    lines[0].clone()
}

#[tokio::test]
async fn greeting_and_capabilities() {
    let server = server("").await;
    let (mut client, greeting) = plain(&server).await;
    assert_eq!(greeting, GREETING);
    assert_eq!(
        capability(&mut client).await,
        "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED"
    );

    let mut client = tls(&server).await;
    assert_eq!(
        capability(&mut client).await,
        "* CAPABILITY IMAP4rev1 AUTH=PLAIN"
    );
    assert_eq!(
        client.imap_cmd("s", "STARTTLS").await,
        ["s BAD TLS already active"]
    );
}

#[tokio::test]
async fn implicit_tls_imaps() {
    let server = server("").await;
    let mut client = Client::connect(&server, "imaps").await;
    assert_eq!(
        client.line().await,
        "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] mailtls reference server ready"
    );
    assert_eq!(
        client.imap_cmd("a", "LOGIN mailtls mailtls-secret").await,
        ["a OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] LOGIN completed"]
    );
}

#[tokio::test]
async fn login_needs_tls() {
    let server = server("").await;
    let (mut client, _) = plain(&server).await;
    let reply = client.imap_cmd("a", "LOGIN mailtls mailtls-secret").await;
    assert!(reply[0].starts_with("a NO [PRIVACYREQUIRED]"), "{reply:?}");
    let reply = client
        .imap_cmd("b", &format!("AUTHENTICATE PLAIN {PLAIN_OK}"))
        .await;
    assert!(reply[0].starts_with("b NO [PRIVACYREQUIRED]"), "{reply:?}");
    assert_eq!(
        client.imap_cmd("c", "SELECT INBOX").await,
        ["c BAD Not authenticated"]
    );
}

#[tokio::test]
async fn login_select_logout_inside_tls() {
    let server = server("").await;
    let mut client = tls(&server).await;
    assert_eq!(
        client.imap_cmd("a", "LOGIN mailtls wrong").await,
        ["a NO [AUTHENTICATIONFAILED] Invalid credentials"]
    );
    assert_eq!(
        client.imap_cmd("b", "LOGIN mailtls").await,
        ["b BAD Syntax: LOGIN user password"]
    );
    assert_eq!(
        client
            .imap_cmd("c", "login \"mailtls\" \"mailtls-secret\"")
            .await,
        ["c OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] LOGIN completed"]
    );
    assert!(client.imap_cmd("d", "STARTTLS").await[0].starts_with("d BAD"));
    assert!(client.imap_cmd("e", "LOGIN mailtls mailtls-secret").await[0].starts_with("e BAD"));
    let select = client.imap_cmd("f", "SELECT inbox").await;
    assert!(select.contains(&"* 0 EXISTS".to_owned()), "{select:?}");
    assert!(
        select.iter().any(|l| l.starts_with("* FLAGS (")),
        "{select:?}"
    );
    assert_eq!(
        select.last().map(String::as_str),
        Some("f OK [READ-WRITE] SELECT completed")
    );
    let examine = client.imap_cmd("g", "EXAMINE INBOX").await;
    assert_eq!(
        examine.last().map(String::as_str),
        Some("g OK [READ-ONLY] EXAMINE completed")
    );
    assert!(client.imap_cmd("h", "SELECT Archive").await[0].starts_with("h NO [NONEXISTENT]"));
    assert_eq!(
        client.imap_cmd("i", "CLOSE").await,
        ["i BAD No mailbox selected"]
    );
    assert_eq!(
        client.imap_cmd("j", "LOGOUT").await,
        [
            "* BYE mailtls reference server logging out",
            "j OK LOGOUT completed"
        ]
    );
    assert!(client.closed().await);
}

#[tokio::test]
async fn authenticate_plain_inside_tls() {
    let server = server("").await;
    let mut client = tls(&server).await;
    client.send("a AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(client.line().await, "+ ");
    client.send("*\r\n").await;
    assert_eq!(client.line().await, "a BAD Authentication cancelled");
    client.send("b AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(client.line().await, "+ ");
    client.send(&format!("{PLAIN_BAD}\r\n")).await;
    assert_eq!(
        client.line().await,
        "b NO [AUTHENTICATIONFAILED] Invalid credentials"
    );
    assert!(client.imap_cmd("c", "AUTHENTICATE CRAM-MD5").await[0].starts_with("c NO"));
    client.send("d AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(client.line().await, "+ ");
    client.send(&format!("{PLAIN_OK}\r\n")).await;
    assert_eq!(
        client.line().await,
        "d OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] AUTHENTICATE completed"
    );

    // SASL-IR: the response on the command line, no continuation.
    let mut client = tls(&server).await;
    assert_eq!(
        client
            .imap_cmd("a", &format!("AUTHENTICATE PLAIN {PLAIN_OK}"))
            .await,
        ["a OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] AUTHENTICATE completed"]
    );
}

#[tokio::test]
async fn login_with_literals() {
    let server = server("").await;
    let mut client = tls(&server).await;
    client.send("a LOGIN {7}\r\n").await;
    assert!(client.line().await.starts_with("+ "));
    client.send("mailtls {14}\r\n").await;
    assert!(client.line().await.starts_with("+ "));
    client.send("mailtls-secret\r\n").await;
    assert_eq!(
        client.line().await,
        "a OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] LOGIN completed"
    );
    assert_eq!(
        client
            .imap_cmd("b", "SELECT {5+}\r\nINBOX")
            .await
            .last()
            .map(String::as_str),
        Some("b OK [READ-WRITE] SELECT completed")
    );
    assert_eq!(
        client.imap_cmd("c", "EXAMINE {999999}").await,
        ["c BAD Literal too large"]
    );
    assert_eq!(client.imap_cmd("d", "NOOP").await, ["d OK NOOP completed"]);
}

#[tokio::test]
async fn malformed_lines() {
    let server = server("").await;
    let (mut client, _) = plain(&server).await;
    client.send("\r\n").await;
    assert_eq!(client.line().await, "* BAD Empty command line");
    for bad_tag in ["+ NOOP", "* NOOP", "a{ NOOP", "\"x NOOP", " NOOP"] {
        client.send(&format!("{bad_tag}\r\n")).await;
        assert_eq!(client.line().await, "* BAD Invalid tag", "{bad_tag}");
    }
    client.send_bytes(b"\xff\xfe NOOP\r\n").await;
    assert_eq!(client.line().await, "* BAD Invalid tag");
    assert_eq!(client.imap_cmd("a", "").await, ["a BAD Missing command"]);
    assert_eq!(
        client.imap_cmd("b", "FROB").await,
        ["b BAD Unknown command"]
    );
    assert_eq!(
        client.imap_cmd("c", "NOOP extra").await,
        ["c BAD Unexpected arguments"]
    );
    assert_eq!(client.imap_cmd("d", "LOGIN \"unterminated").await.len(), 1);
    client.send_bytes(b"e LOGIN \xff \x00\r\n").await;
    assert!(client.imap_until("e").await[0].starts_with("e NO"));
    assert_eq!(client.imap_cmd("f", "NOOP").await, ["f OK NOOP completed"]);
}

#[tokio::test]
async fn pipelined_commands_answer_in_order() {
    let server = server("").await;
    let (mut client, _) = plain(&server).await;
    client.send("a NOOP\r\nb NOOP\r\nc CAPABILITY\r\n").await;
    assert_eq!(client.line().await, "a OK NOOP completed");
    assert_eq!(client.line().await, "b OK NOOP completed");
    assert_eq!(client.imap_until("c").await.len(), 2);
}

#[tokio::test]
async fn overlong_line_is_refused_and_closed() {
    let server = server("").await;
    let (mut client, _) = plain(&server).await;
    client
        .send(&format!("a NOOP {}\r\n", "x".repeat(5000)))
        .await;
    assert_eq!(client.line().await, "* BYE Command line too long");
    assert!(client.closed().await);
}

#[tokio::test]
async fn flaw_no_starttls() {
    for (flawed, server) in clean_and_flawed(Flaw::NoStarttls).await {
        let (mut client, greeting) = plain(&server).await;
        assert_eq!(greeting.contains("STARTTLS"), !flawed, "{greeting}");
        assert_eq!(capability(&mut client).await.contains("STARTTLS"), !flawed);
        let reply = client.imap_cmd("s", "STARTTLS").await;
        if flawed {
            assert_eq!(reply, ["s BAD Unknown command"]);
        } else {
            assert_eq!(reply, ["s OK Begin TLS negotiation now"]);
        }
    }
}

#[tokio::test]
async fn flaw_starttls_injection() {
    for (flawed, server) in clean_and_flawed(Flaw::StarttlsInjection).await {
        let (mut client, _) = plain(&server).await;
        client.send("s STARTTLS\r\nx NOOP\r\n").await;
        assert_eq!(client.line().await, "s OK Begin TLS negotiation now");
        client.starttls().await;
        if flawed {
            assert_eq!(
                client.line().await,
                "x OK NOOP completed",
                "injected NOOP answered"
            );
        } else {
            client.expect_silence().await;
        }
        assert_eq!(client.imap_cmd("y", "NOOP").await, ["y OK NOOP completed"]);
        client.expect_silence().await;
    }
}

#[tokio::test]
async fn flaw_plaintext_auth() {
    for (flawed, server) in clean_and_flawed(Flaw::PlaintextAuth).await {
        let (mut client, greeting) = plain(&server).await;
        let caps = capability(&mut client).await;
        if flawed {
            assert_eq!(caps, "* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN");
            assert!(!greeting.contains("LOGINDISABLED"), "{greeting}");
        } else {
            assert_eq!(caps, "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED");
        }
        let reply = client.imap_cmd("a", "LOGIN mailtls mailtls-secret").await;
        assert_eq!(reply[0].starts_with("a OK"), flawed, "{reply:?}");
        let mut client = plain(&server).await.0;
        let reply = client
            .imap_cmd("b", &format!("AUTHENTICATE PLAIN {PLAIN_OK}"))
            .await;
        assert_eq!(reply[0].starts_with("b OK"), flawed, "{reply:?}");
    }
}

#[tokio::test]
async fn flaw_stale_capabilities() {
    for (flawed, server) in clean_and_flawed(Flaw::StaleCapabilities).await {
        let mut client = tls(&server).await;
        assert_eq!(capability(&mut client).await.contains("STARTTLS"), flawed);
        let reply = client.imap_cmd("s", "STARTTLS").await;
        if flawed {
            assert_eq!(reply, ["s OK Begin TLS negotiation now"]);
            client.starttls().await;
            assert_eq!(client.imap_cmd("n", "NOOP").await, ["n OK NOOP completed"]);
        } else {
            assert_eq!(reply, ["s BAD TLS already active"]);
        }
    }
}

#[tokio::test]
async fn state_not_reset_is_smtp_only() {
    let server = server(Flaw::StateNotReset.name()).await;
    let (_, greeting) = plain(&server).await;
    assert_eq!(greeting, GREETING);
    let mut client = tls(&server).await;
    assert_eq!(
        capability(&mut client).await,
        "* CAPABILITY IMAP4rev1 AUTH=PLAIN"
    );
}
