//! Verdicts on the branches the reference server does not take: real servers that
//! refuse instead of complying, played by small hand-written SMTP peers.

use mailtls::checks::{Catalogue, CheckContext};
use mailtls::report::model::{CheckResult, Outcome};
use mailtls::session::SessionOptions;
use mailtls::target::{Endpoint, Scheme};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A plaintext SMTP peer: greets, then answers each line with `answer(line)`;
/// `None` closes the connection.
async fn fake_smtp(answer: fn(&str) -> Option<&'static str>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = tcp.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
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
            scheme: Scheme::Smtp,
            host: "127.0.0.1".into(),
            port,
            credentials: None,
        })
    };
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
