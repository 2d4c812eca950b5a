//! Verdicts on the branches the reference server does not take: real servers that
//! refuse instead of complying, played by small hand-written SMTP peers.

use mailtls::checks::{Catalogue, CheckContext};
use mailtls::report::model::{CheckResult, Outcome};
use mailtls::session::SessionOptions;
use mailtls::target::{Credentials, Endpoint, Scheme};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A plaintext SMTP peer: greets, then answers each line with `answer(line)`;
/// `None` closes the connection.
async fn fake_smtp(answer: fn(&str) -> Option<&'static str>) -> u16 {
    fake("220 fake ESMTP\r\n", answer).await
}

/// A plaintext line-by-line peer of any protocol.
async fn fake(greeting: &'static str, answer: fn(&str) -> Option<&'static str>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = tcp.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(greeting.as_bytes()).await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    match answer(&line) {
                        Some(reply) => write.write_all(reply.as_bytes()).await.unwrap(),
                        None => return,
                    }
                }
            });
        }
    });
    port
}

async fn run_check(id: &str, port: u16) -> CheckResult {
    run_check_on(id, Scheme::Smtp, port, |_| {}).await
}

async fn run_check_on(
    id: &str,
    scheme: Scheme,
    port: u16,
    adjust: fn(&mut CheckContext),
) -> CheckResult {
    let catalogue = Catalogue::builtin().unwrap();
    let check = catalogue
        .checks()
        .iter()
        .find(|c| c.meta().id == id)
        .unwrap();
    let ctx = CheckContext {
        session: SessionOptions {
            timeout: Duration::from_millis(1000),
            ..SessionOptions::default()
        },
        ..CheckContext::new(Endpoint {
            scheme,
            host: "127.0.0.1".into(),
            port,
            credentials: None,
        })
    };
    let mut ctx = ctx;
    adjust(&mut ctx);
    check.run(&ctx).await
}

fn ehlo(line: &str) -> Option<&'static str> {
    line.starts_with("EHLO")
        .then_some("250-fake\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
}

#[tokio::test]
async fn injection_passes_when_the_server_refuses_pipelined_starttls_and_closes() {
    // Exim's answer to input pipelined behind STARTTLS: a synchronization error.
    let port = fake_smtp(|line| {
        ehlo(line).or(match line {
            "STARTTLS" => Some("554 SMTP synchronization error\r\n"),
            _ => None,
        })
    })
    .await;
    let result = run_check("smtp.starttls.injection", port).await;
    assert_eq!(result.status, Outcome::Pass, "{}", result.detail);
    assert!(
        result.detail.contains("554 SMTP synchronization error"),
        "{}",
        result.detail
    );
}

#[tokio::test]
async fn state_reset_passes_when_starttls_is_refused_inside_a_transaction() {
    // Postfix refuses STARTTLS while a MAIL transaction is open.
    let port = fake_smtp(|line| {
        ehlo(line).or(match line {
            "MAIL FROM:<>" => Some("250 2.1.0 Ok\r\n"),
            "STARTTLS" => Some("503 5.5.1 Error: MAIL transaction in progress\r\n"),
            _ => Some("500 5.5.2 Error: command not recognized\r\n"),
        })
    })
    .await;
    let result = run_check("smtp.starttls.state-reset", port).await;
    assert_eq!(result.status, Outcome::Pass, "{}", result.detail);
    assert!(result.detail.contains("refused inside a mail transaction"));
}

#[tokio::test]
async fn handshake_fails_when_advertised_starttls_is_refused() {
    let port = fake_smtp(|line| {
        ehlo(line).or(match line {
            "STARTTLS" => Some("454 4.7.0 TLS not available due to local problem\r\n"),
            _ => Some("500 5.5.2 Error\r\n"),
        })
    })
    .await;
    let result = run_check("smtp.starttls.handshake", port).await;
    assert_eq!(result.status, Outcome::Fail, "{}", result.detail);
    assert!(result.detail.contains("advertised but refused"));
}

#[tokio::test]
async fn handshake_fails_when_the_server_answers_starttls_but_speaks_no_tls() {
    let port = fake_smtp(|line| {
        ehlo(line).or(match line {
            "STARTTLS" => Some("220 go ahead\r\n"),
            _ => Some("500 what\r\n"),
        })
    })
    .await;
    // The ClientHello arrives as a "line" of garbage, answered in plaintext.
    let result = run_check("smtp.starttls.handshake", port).await;
    assert_eq!(result.status, Outcome::Fail, "{}", result.detail);
    assert!(
        result
            .detail
            .contains("TLS handshake after STARTTLS failed"),
        "{}",
        result.detail
    );
}

#[tokio::test]
async fn plaintext_auth_fails_when_smtp_checks_the_password_before_tls() {
    let port = fake_smtp(|line| {
        ehlo(line).or(if line.starts_with("AUTH PLAIN") {
            Some("535 5.7.8 Authentication credentials invalid\r\n")
        } else {
            Some("500 5.5.2 Error\r\n")
        })
    })
    .await;
    let result = run_check("smtp.auth.plaintext-rejected-before-tls", port).await;
    assert_eq!(result.status, Outcome::Fail, "{}", result.detail);
    assert!(
        result
            .detail
            .contains("checked AUTH PLAIN credentials before TLS"),
        "{}",
        result.detail
    );
}

#[tokio::test]
async fn plaintext_auth_passes_when_smtp_refuses_auth_it_never_offered() {
    // Postfix with smtpd_tls_auth_only: AUTH is not offered before TLS at all.
    let port = fake_smtp(|line| {
        ehlo(line).or(if line.starts_with("AUTH") {
            Some("503 5.5.1 Error: authentication not enabled\r\n")
        } else {
            Some("221 2.0.0 Bye\r\n")
        })
    })
    .await;
    let result = run_check("smtp.auth.plaintext-rejected-before-tls", port).await;
    assert_eq!(result.status, Outcome::Pass, "{}", result.detail);
    assert!(result.detail.contains("(503, 503)"), "{}", result.detail);
}

#[tokio::test]
async fn plaintext_auth_fails_when_imap_judges_login_without_logindisabled() {
    let port = fake("* OK fake IMAP\r\n", |line| match line.split(' ').nth(1) {
        Some("CAPABILITY") => Some("* CAPABILITY IMAP4rev1 STARTTLS\r\nm1 OK done\r\n"),
        Some("LOGIN") => Some("m2 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"),
        _ => None,
    })
    .await;
    let result = run_check_on(
        "imap.auth.plaintext-rejected-before-tls",
        Scheme::Imap,
        port,
        |_| {},
    )
    .await;
    assert_eq!(result.status, Outcome::Fail, "{}", result.detail);
    assert!(
        result.detail.contains("judged in cleartext"),
        "{}",
        result.detail
    );
}

#[tokio::test]
async fn plaintext_auth_on_pop3_with_throwaway_credentials_judges_only_what_it_can() {
    let silent_refusal = fake("+OK fake POP3\r\n", |line| {
        Some(if line.starts_with("USER") {
            "+OK\r\n"
        } else {
            "-ERR invalid login\r\n"
        })
    })
    .await;
    let result = run_check_on(
        "pop3.auth.plaintext-rejected-before-tls",
        Scheme::Pop3,
        silent_refusal,
        |_| {},
    )
    .await;
    assert_eq!(result.status, Outcome::Skip, "{}", result.detail);
    assert!(
        result.detail.contains("give --user/--password"),
        "{}",
        result.detail
    );

    let tls_refusal = fake("+OK fake POP3\r\n", |line| {
        Some(if line.starts_with("USER") {
            "+OK\r\n"
        } else {
            "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n"
        })
    })
    .await;
    let result = run_check_on(
        "pop3.auth.plaintext-rejected-before-tls",
        Scheme::Pop3,
        tls_refusal,
        |_| {},
    )
    .await;
    assert_eq!(result.status, Outcome::Pass, "{}", result.detail);
}

#[tokio::test]
async fn plaintext_auth_on_pop3_fails_when_the_password_was_accepted_but_the_login_delayed() {
    // Cyrus with Debian's `popminpoll: 1`: the second login within a minute is
    // refused after the password was checked, which is no refusal for lack of TLS.
    let login_delay = fake("+OK fake POP3\r\n", |line| {
        Some(if line.starts_with("USER") {
            "+OK\r\n"
        } else {
            "-ERR [LOGIN-DELAY] Logins must be at least 1 minute apart\r\n"
        })
    })
    .await;
    let result = run_check_on(
        "pop3.auth.plaintext-rejected-before-tls",
        Scheme::Pop3,
        login_delay,
        |ctx| {
            ctx.credentials = Some(Credentials {
                user: "alice".into(),
                password: "secret".into(),
            })
        },
    )
    .await;
    assert_eq!(result.status, Outcome::Fail, "{}", result.detail);
    assert!(
        result.detail.contains("only for [LOGIN-DELAY]"),
        "{}",
        result.detail
    );
}

/// An SMTP peer that takes a message and answers its end of data the way a
/// hardened server does: `521` and close at the first bare LF, `250` at CRLF.CRLF.
async fn strict_data_smtp() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                tcp.write_all(b"220 strict ESMTP\r\n").await.unwrap();
                let mut buf = Vec::new();
                let mut in_data = false;
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n @ 1..) = tcp.read(&mut chunk).await else {
                        return;
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    if in_data {
                        let bare_lf = buf.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r')
                            || buf.first() == Some(&b'\n');
                        if bare_lf {
                            let _ = tcp
                                .write_all(b"521 5.5.2 Error: bare <LF> received\r\n")
                                .await;
                            return;
                        }
                        if let Some(end) = buf.windows(5).position(|w| w == b"\r\n.\r\n") {
                            buf.drain(..end + 5);
                            in_data = false;
                            tcp.write_all(b"250 2.0.0 Ok: queued\r\n").await.unwrap();
                        } else {
                            continue;
                        }
                    }
                    while let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
                        let line: Vec<u8> = buf.drain(..end + 2).collect();
                        let reply: &[u8] = match &line[..4.min(line.len())] {
                            b"EHLO" => b"250-strict\r\n250 PIPELINING\r\n",
                            b"DATA" => {
                                in_data = true;
                                b"354 go ahead\r\n"
                            }
                            b"QUIT" => b"221 bye\r\n",
                            _ => b"250 ok\r\n",
                        };
                        tcp.write_all(reply).await.unwrap();
                        if in_data {
                            break;
                        }
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn smuggling_passes_when_bare_sequences_are_rejected_and_skips_without_a_recipient() {
    let port = strict_data_smtp().await;
    let result = run_check_on("smtp.data.smuggling", Scheme::Smtp, port, |ctx| {
        ctx.rcpt = Some("postmaster@example.org".into())
    })
    .await;
    assert_eq!(result.status, Outcome::Pass, "{}", result.detail);
    assert!(
        result.detail.contains("rejected outright"),
        "{}",
        result.detail
    );

    let result = run_check_on("smtp.data.smuggling", Scheme::Smtp, port, |_| {}).await;
    assert_eq!(result.status, Outcome::Skip);
    assert!(result.detail.contains("--rcpt"));
}

#[tokio::test]
async fn injection_passes_when_the_server_feeds_the_pipelined_bytes_to_tls_and_hangs_up() {
    // Dovecot's way: the bytes behind STARTTLS go to the TLS library as if they
    // were the ClientHello ("wrong version number"), and the connection ends.
    let port = fake_smtp(|line| {
        ehlo(line).or(match line {
            "STARTTLS" => Some("220 2.0.0 Begin TLS negotiation now\r\n"),
            _ => None,
        })
    })
    .await;
    let result = run_check("smtp.starttls.injection", port).await;
    assert_eq!(result.status, Outcome::Pass, "{}", result.detail);
    assert!(
        result.detail.contains("nothing was carried into TLS"),
        "{}",
        result.detail
    );
}

/// A bare `-ERR` to the configured credentials before TLS passes only once they
/// are shown to work inside TLS; a server that cannot show it (here: STLS refused
/// on the second connection) leaves the check unjudged rather than passed, since a
/// wrong --password is refused just the same.
#[tokio::test]
async fn plaintext_auth_on_pop3_confirms_a_bare_refusal_inside_tls() {
    let bare_refusal = fake("+OK fake POP3\r\n", |line| {
        Some(if line.starts_with("USER") {
            "+OK\r\n"
        } else if line.starts_with("STLS") {
            "-ERR not now\r\n"
        } else {
            "-ERR [AUTH] Authentication failed.\r\n"
        })
    })
    .await;
    let result = run_check_on(
        "pop3.auth.plaintext-rejected-before-tls",
        Scheme::Pop3,
        bare_refusal,
        |ctx| {
            ctx.credentials = Some(Credentials {
                user: "alice".into(),
                password: "secret".into(),
            })
        },
    )
    .await;
    assert_eq!(result.status, Outcome::Error, "{}", result.detail);
    assert!(
        result
            .detail
            .contains("could not confirm the credentials inside TLS"),
        "{}",
        result.detail
    );
}
