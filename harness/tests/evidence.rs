//! No verdict without evidence, proven against small hand-written peers that speak
//! STARTTLS and then misbehave inside TLS the ways real servers do: a check fails
//! only on the answer that shows the flaw (and its detail quotes that answer); a
//! 421, a close, an over-long or unexpected answer is `error` naming what happened,
//! never the script's `else fail` (or `else pass`) message.

use mailtls::checks::{Catalogue, Check, CheckContext, Verdict};
use mailtls::report::model::Outcome;
use mailtls::scenario::run::run;
use mailtls::server::self_signed_tls_config;
use mailtls::session::{SessionOptions, Transcript};
use mailtls::target::{Endpoint, Scheme};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the peer does with one command line.
enum Reply {
    /// Sends these bytes and reads on.
    Say(String),
    /// Sends the go-ahead, then does the TLS handshake.
    StartTls(String),
    /// Sends these bytes and closes the connection.
    SayAndClose(String),
    /// Closes the connection without a word.
    Close,
    /// Sends the go-ahead, then closes instead of doing the TLS handshake.
    DropTls(String),
}

/// A peer: how it answers each line before and inside TLS, and whether it keeps
/// the plaintext that came with STARTTLS to read inside TLS (the CVE-2011-0411 flaw).
#[derive(Clone, Copy)]
struct Peer {
    greeting: &'static str,
    plain: fn(&str) -> Reply,
    tls: fn(&str) -> Reply,
    keeps_plaintext: bool,
}

/// No peer session outlives this, whatever the harness does.
const PEER_LIFETIME: Duration = Duration::from_secs(10);

/// The harness's read deadline: generous, since no test here waits it out.
const TIMEOUT: Duration = Duration::from_secs(3);

/// An over-long answer: a status, then far past the 8 KiB a line may have.
fn over_long(status: &str) -> Reply {
    Reply::Say(format!("{status} {}\r\n", "a".repeat(20_000)))
}

fn say(text: &str) -> Reply {
    Reply::Say(text.to_string())
}

impl Peer {
    /// Listens on a loopback port and serves each connection.
    async fn start(self) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(tokio::time::timeout(PEER_LIFETIME, self.serve(tcp)));
            }
        });
        port
    }

    async fn serve(self, mut tcp: TcpStream) {
        let mut pending = Vec::new();
        if tcp.write_all(self.greeting.as_bytes()).await.is_err() {
            return;
        }
        let go_ahead = loop {
            let Some(line) = read_line(&mut tcp, &mut pending).await else {
                return;
            };
            match (self.plain)(&line) {
                Reply::Say(text) => {
                    if tcp.write_all(text.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Reply::StartTls(go_ahead) => break go_ahead,
                Reply::DropTls(go_ahead) => {
                    let _ = tcp.write_all(go_ahead.as_bytes()).await;
                    return;
                }
                Reply::SayAndClose(text) => {
                    let _ = tcp.write_all(text.as_bytes()).await;
                    return;
                }
                Reply::Close => return,
            }
        };
        if !self.keeps_plaintext {
            pending.clear();
        }
        if tcp.write_all(go_ahead.as_bytes()).await.is_err() {
            return;
        }
        let acceptor =
            tokio_rustls::TlsAcceptor::from(self_signed_tls_config("localhost").unwrap());
        let Ok(mut tls) = acceptor.accept(tcp).await else {
            return;
        };
        while let Some(line) = read_line(&mut tls, &mut pending).await {
            match (self.tls)(&line) {
                Reply::Say(text) => {
                    if tls.write_all(text.as_bytes()).await.is_err() {
                        return;
                    }
                    let _ = tls.flush().await;
                }
                Reply::SayAndClose(text) => {
                    let _ = tls.write_all(text.as_bytes()).await;
                    let _ = tls.shutdown().await;
                    return;
                }
                Reply::StartTls(_) | Reply::DropTls(_) | Reply::Close => return,
            }
        }
    }
}

/// One CRLF-terminated line; `pending` holds what was read beyond it. `None` when
/// the client is gone.
async fn read_line<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    pending: &mut Vec<u8>,
) -> Option<String> {
    loop {
        if let Some(end) = pending.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = pending.drain(..end + 2).collect();
            return Some(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(n @ 1..) => pending.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

/// Runs one scenario check once (no busy retries) against the peer.
async fn verdict(id: &str, scheme: Scheme, port: u16) -> Verdict {
    let catalogue = Catalogue::builtin().unwrap();
    let check = catalogue.checks().iter().find(|c| c.meta().id == id);
    let Some(Check::Script(scenario)) = check.map(|c| c.as_ref()) else {
        panic!("no scenario {id}");
    };
    let ctx = CheckContext {
        session: SessionOptions {
            timeout: TIMEOUT,
            ..SessionOptions::default()
        },
        ..CheckContext::new(Endpoint {
            scheme,
            host: "127.0.0.1".into(),
            port,
            credentials: None,
        })
    };
    let (verdict, transcript) = run(scenario, &ctx, Transcript::new()).await;
    eprintln!("{id}: {} — {}", verdict.outcome, verdict.detail);
    for entry in transcript.entries() {
        eprintln!("  {:?}", entry.data);
    }
    verdict
}

fn assert_verdict(verdict: &Verdict, outcome: Outcome, quoted: &[&str], absent: &[&str]) {
    assert_eq!(verdict.outcome, outcome, "{}", verdict.detail);
    for text in quoted {
        assert!(
            verdict.detail.contains(text),
            "want {text:?} in {}",
            verdict.detail
        );
    }
    for text in absent {
        assert!(
            !verdict.detail.contains(text),
            "no {text:?} in {}",
            verdict.detail
        );
    }
}

// ---- SMTP ----------------------------------------------------------------

fn smtp_plain(line: &str) -> Reply {
    match line.split(' ').next().unwrap_or("") {
        "EHLO" => say("250-peer\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
        "STARTTLS" => Reply::StartTls("220 2.0.0 Ready to start TLS\r\n".into()),
        "MAIL" => say("250 2.1.0 Ok\r\n"),
        "QUIT" => say("221 2.0.0 Bye\r\n"),
        _ => say("500 5.5.2 Error: command not recognized\r\n"),
    }
}

/// A server's answers inside TLS: NOOP (with or without an argument) 250, QUIT 221.
fn smtp_inside(line: &str) -> Reply {
    match line.split(' ').next().unwrap_or("") {
        "NOOP" => say("250 2.0.0 Ok\r\n"),
        "QUIT" => say("221 2.0.0 Bye\r\n"),
        "EHLO" => say("250-peer\r\n250 AUTH PLAIN\r\n"),
        _ => say("500 5.5.2 Error: command not recognized\r\n"),
    }
}

fn smtp(tls: fn(&str) -> Reply, keeps_plaintext: bool) -> Peer {
    Peer {
        greeting: "220 peer ESMTP\r\n",
        plain: smtp_plain,
        tls,
        keeps_plaintext,
    }
}

#[tokio::test]
async fn smtp_injection_passes_on_a_clean_server() {
    let port = smtp(smtp_inside, false).start().await;
    for id in [
        "smtp.starttls.injection",
        "smtp.starttls.injection-partial-line",
    ] {
        let v = verdict(id, Scheme::Smtp, port).await;
        assert_verdict(&v, Outcome::Pass, &[], &[]);
    }
}

#[tokio::test]
async fn smtp_injection_fails_on_the_injected_commands_answer_and_quotes_it() {
    // The peer keeps the plaintext behind STARTTLS and reads it inside TLS.
    let port = smtp(smtp_inside, true).start().await;
    let v = verdict("smtp.starttls.injection", Scheme::Smtp, port).await;
    assert_verdict(
        &v,
        Outcome::Fail,
        &["injected NOOP inside TLS", "`250 2.0.0 Ok`"],
        &[],
    );
    // `NOOP ` kept and joined to QUIT: `NOOP QUIT`, a NOOP with an argument.
    let v = verdict("smtp.starttls.injection-partial-line", Scheme::Smtp, port).await;
    assert_verdict(
        &v,
        Outcome::Fail,
        &["joined the partial line", "`250 2.0.0 Ok`"],
        &[],
    );
}

#[tokio::test]
async fn smtp_injection_is_an_error_when_the_server_says_421_inside_tls() {
    let port = smtp(|_| say("421 4.3.2 Service shutting down\r\n"), false)
        .start()
        .await;
    for id in [
        "smtp.starttls.injection",
        "smtp.starttls.injection-partial-line",
    ] {
        let v = verdict(id, Scheme::Smtp, port).await;
        assert_verdict(&v, Outcome::Error, &["421 4.3.2"], &["injected", "joined"]);
        assert!(v.server_busy, "a 421 is the server's load: {}", v.detail);
    }
}

#[tokio::test]
async fn smtp_injection_is_an_error_when_the_server_closes_inside_tls() {
    let port = smtp(|_| Reply::Close, false).start().await;
    let v = verdict("smtp.starttls.injection", Scheme::Smtp, port).await;
    assert_verdict(
        &v,
        Outcome::Error,
        &["closed the connection", "expecting `221`"],
        &["injected"],
    );
}

#[tokio::test]
async fn smtp_injection_is_an_error_on_an_over_long_reply_inside_tls() {
    let port = smtp(|_| over_long("250"), false).start().await;
    let v = verdict("smtp.starttls.injection", Scheme::Smtp, port).await;
    assert_verdict(
        &v,
        Outcome::Error,
        &["unreadable reply", "longer than 8192 bytes"],
        &["injected"],
    );
}

#[tokio::test]
async fn smtp_injection_is_an_error_on_an_answer_that_is_neither() {
    let port = smtp(|_| say("502 5.5.1 Not now\r\n"), false).start().await;
    let v = verdict("smtp.starttls.injection", Scheme::Smtp, port).await;
    assert_verdict(
        &v,
        Outcome::Error,
        &["expected `221`", "`250`", "`502 5.5.1 Not now`"],
        &["injected NOOP inside TLS"],
    );
}

#[tokio::test]
async fn smtp_injection_passes_on_a_refused_starttls_and_errs_on_a_close_instead() {
    let refuses = Peer {
        plain: |line| match line {
            "STARTTLS" => say("554 5.5.0 SMTP synchronization error\r\n"),
            _ => smtp_plain(line),
        },
        ..smtp(smtp_inside, false)
    };
    let v = verdict(
        "smtp.starttls.injection",
        Scheme::Smtp,
        refuses.start().await,
    )
    .await;
    assert_verdict(
        &v,
        Outcome::Pass,
        &["`554 5.5.0 SMTP synchronization error`"],
        &[],
    );

    let hangs_up = Peer {
        plain: |line| match line {
            "STARTTLS" => Reply::Close,
            _ => smtp_plain(line),
        },
        ..smtp(smtp_inside, false)
    };
    let v = verdict(
        "smtp.starttls.injection",
        Scheme::Smtp,
        hangs_up.start().await,
    )
    .await;
    assert_verdict(&v, Outcome::Error, &["closed the connection"], &["refused"]);
}

/// A server that lets TLS begin and then closes without a word: a server that
/// cannot do TLS does that, and so does an overloaded one.
fn smtp_plain_dropping_tls(line: &str) -> Reply {
    match smtp_plain(line) {
        Reply::StartTls(go_ahead) => Reply::DropTls(go_ahead),
        other => other,
    }
}

#[tokio::test]
async fn a_handshake_dropped_without_an_alert_is_a_verdict_only_to_confirm() {
    let port = Peer {
        plain: smtp_plain_dropping_tls,
        ..smtp(smtp_inside, false)
    }
    .start()
    .await;
    for (id, outcome) in [
        ("smtp.starttls.handshake", Outcome::Fail),
        ("smtp.starttls.injection", Outcome::Pass),
    ] {
        let verdict = verdict(id, Scheme::Smtp, port).await;
        assert_verdict(&verdict, outcome, &["without an alert"], &[]);
        assert!(verdict.to_confirm, "{id}: stands only if it repeats");
    }
}

/// Runs a check as the runner does: a verdict to confirm is run again.
async fn checked(id: &str, scheme: Scheme, port: u16) -> mailtls::report::model::CheckResult {
    let catalogue = Catalogue::builtin().unwrap();
    let check = catalogue
        .checks()
        .iter()
        .find(|c| c.meta().id == id)
        .unwrap();
    let ctx = CheckContext {
        session: SessionOptions {
            timeout: TIMEOUT,
            ..SessionOptions::default()
        },
        ..CheckContext::new(Endpoint {
            scheme,
            host: "127.0.0.1".into(),
            port,
            credentials: None,
        })
    };
    check.run(&ctx).await
}

#[tokio::test]
async fn a_handshake_dropped_every_time_is_judged_and_once_is_not() {
    let always = Peer {
        plain: smtp_plain_dropping_tls,
        ..smtp(smtp_inside, false)
    }
    .start()
    .await;
    let result = checked("smtp.starttls.handshake", Scheme::Smtp, always).await;
    assert_eq!(result.status, Outcome::Fail, "{}", result.detail);
    assert!(
        result.detail.contains("the same in 3 runs"),
        "{}",
        result.detail
    );

    // Drops the first handshake only, as a server under load may.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (dropping, clean) = (
            Peer {
                plain: smtp_plain_dropping_tls,
                ..smtp(smtp_inside, false)
            },
            smtp(smtp_inside, false),
        );
        tokio::spawn(async move {
            let mut first = true;
            while let Ok((tcp, _)) = listener.accept().await {
                let peer = if std::mem::take(&mut first) {
                    dropping
                } else {
                    clean
                };
                tokio::spawn(tokio::time::timeout(PEER_LIFETIME, peer.serve(tcp)));
            }
        });
        port
    };
    let result = checked("smtp.starttls.handshake", Scheme::Smtp, port).await;
    assert_eq!(result.status, Outcome::Pass, "{}", result.detail);
}

#[tokio::test]
async fn smtp_tls_required_fails_only_on_an_accepted_mail_from() {
    let accepts = smtp(smtp_inside, false).start().await;
    let v = verdict("smtp.tls.required", Scheme::Submission, accepts).await;
    assert_verdict(&v, Outcome::Fail, &["`250 2.1.0 Ok`"], &[]);

    let closes = Peer {
        plain: |line| match line.split(' ').next() {
            Some("MAIL") => Reply::Close,
            _ => smtp_plain(line),
        },
        ..smtp(smtp_inside, false)
    };
    let v = verdict(
        "smtp.tls.required",
        Scheme::Submission,
        closes.start().await,
    )
    .await;
    assert_verdict(&v, Outcome::Error, &["closed the connection"], &["accepts"]);
}

// ---- IMAP ----------------------------------------------------------------

/// `(tag, rest)` of an IMAP command line.
fn imap_split(line: &str) -> (&str, &str) {
    line.split_once(' ').unwrap_or((line, ""))
}

fn imap_plain(line: &str) -> Reply {
    match imap_split(line) {
        (tag, "CAPABILITY") => Reply::Say(format!(
            "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n{tag} OK done\r\n"
        )),
        (tag, "STARTTLS") => Reply::StartTls(format!("{tag} OK Begin TLS\r\n")),
        (tag, _) => Reply::Say(format!("{tag} BAD what\r\n")),
    }
}

fn imap_inside(line: &str) -> Reply {
    match imap_split(line) {
        (tag, "NOOP") => Reply::Say(format!("{tag} OK NOOP completed\r\n")),
        (tag, "LOGOUT") => Reply::Say(format!("* BYE\r\n{tag} OK bye\r\n")),
        (tag, _) => Reply::Say(format!("{tag} BAD Unknown command\r\n")),
    }
}

fn imap(tls: fn(&str) -> Reply, keeps_plaintext: bool) -> Peer {
    Peer {
        greeting: "* OK peer IMAP ready\r\n",
        plain: imap_plain,
        tls,
        keeps_plaintext,
    }
}

#[tokio::test]
async fn imap_injection_fails_only_on_the_injected_tags_answer() {
    let clean = imap(imap_inside, false).start().await;
    let v = verdict("imap.starttls.injection", Scheme::Imap, clean).await;
    assert_verdict(&v, Outcome::Pass, &[], &[]);

    let vulnerable = imap(imap_inside, true).start().await;
    let v = verdict("imap.starttls.injection", Scheme::Imap, vulnerable).await;
    assert_verdict(&v, Outcome::Fail, &["9 OK NOOP completed`"], &["${tag}"]);

    // `* BYE` and a close inside TLS: nothing executed, nothing shown.
    let bye = imap(|_| Reply::SayAndClose("* BYE going away\r\n".into()), false)
        .start()
        .await;
    let v = verdict("imap.starttls.injection", Scheme::Imap, bye).await;
    assert_verdict(
        &v,
        Outcome::Error,
        &["closed the connection"],
        &["injected", "${tag}"],
    );

    // A tagged answer to our own NOOP that is not OK: not the injected tag's.
    let refuses = imap(
        |line| Reply::Say(format!("{} NO not now\r\n", imap_split(line).0)),
        false,
    )
    .start()
    .await;
    let v = verdict("imap.starttls.injection", Scheme::Imap, refuses).await;
    assert_verdict(
        &v,
        Outcome::Error,
        &["3 NO not now`"],
        &["injected", "${tag}"],
    );
}

#[tokio::test]
async fn imap_details_show_the_tag_that_was_sent() {
    // Closes at the first CAPABILITY: the detail names the awaited tag as sent.
    let port = Peer {
        plain: |_| Reply::Close,
        ..imap(imap_inside, false)
    }
    .start()
    .await;
    let v = verdict("imap.starttls.offered", Scheme::Imap, port).await;
    assert_verdict(
        &v,
        Outcome::Error,
        &["closed the connection", "1 OK`"],
        &["${tag}", "refused"],
    );
}

#[tokio::test]
async fn imap_an_overflowing_capability_is_an_error_not_a_refusal() {
    let port = Peer {
        plain: |line| match imap_split(line) {
            (tag, "CAPABILITY") => Reply::Say(format!(
                "* CAPABILITY IMAP4rev1 STARTTLS {}\r\n{tag} OK done\r\n",
                "X-FILLER ".repeat(3000)
            )),
            _ => imap_plain(line),
        },
        ..imap(imap_inside, false)
    }
    .start()
    .await;
    let v = verdict("imap.starttls.offered", Scheme::Imap, port).await;
    assert_verdict(
        &v,
        Outcome::Error,
        &["unreadable reply", "longer than", "1 OK`"],
        &["refused", "${tag}"],
    );
}

// ---- POP3 ----------------------------------------------------------------

fn pop3_plain(line: &str) -> Reply {
    match line {
        "CAPA" => say("+OK\r\nTOP\r\nUIDL\r\nSTLS\r\n.\r\n"),
        "STLS" => Reply::StartTls("+OK Begin TLS\r\n".into()),
        "QUIT" => say("+OK bye\r\n"),
        _ => say("-ERR Unknown command\r\n"),
    }
}

fn pop3_inside(line: &str) -> Reply {
    match line {
        "QUIT" => say("+OK bye\r\n"),
        "CAPA" => say("+OK Capability list follows\r\nTOP\r\nUSER\r\n.\r\n"),
        _ => say("-ERR Unknown command\r\n"),
    }
}

fn pop3(tls: fn(&str) -> Reply, keeps_plaintext: bool) -> Peer {
    Peer {
        greeting: "+OK peer POP3 ready\r\n",
        plain: pop3_plain,
        tls,
        keeps_plaintext,
    }
}

#[tokio::test]
async fn pop3_injection_fails_only_on_the_injected_commands_answer() {
    for id in [
        "pop3.starttls.injection",
        "pop3.starttls.injection-partial-line",
    ] {
        let clean = pop3(pop3_inside, false).start().await;
        assert_verdict(
            &verdict(id, Scheme::Pop3, clean).await,
            Outcome::Pass,
            &[],
            &[],
        );

        let vulnerable = pop3(pop3_inside, true).start().await;
        let v = verdict(id, Scheme::Pop3, vulnerable).await;
        assert_verdict(&v, Outcome::Fail, &["`+OK Capability list follows`"], &[]);

        // Answers everything inside TLS with `-ERR busy` and hangs up, as a
        // server under load may: nothing shows an injected command ran.
        let busy = pop3(|_| Reply::SayAndClose("-ERR busy\r\n".into()), false)
            .start()
            .await;
        let v = verdict(id, Scheme::Pop3, busy).await;
        assert_ne!(v.outcome, Outcome::Fail, "{}", v.detail);

        let closes = pop3(|_| Reply::Close, false).start().await;
        let v = verdict(id, Scheme::Pop3, closes).await;
        assert_verdict(
            &v,
            Outcome::Error,
            &["closed the connection"],
            &["injected", "joined"],
        );

        let rambles = pop3(|_| over_long("+OK"), false).start().await;
        let v = verdict(id, Scheme::Pop3, rambles).await;
        assert_verdict(
            &v,
            Outcome::Error,
            &["unreadable reply"],
            &["injected", "joined"],
        );
    }
}

#[tokio::test]
async fn pop3_an_overflowing_capa_is_an_error_not_a_refusal() {
    let port = Peer {
        plain: |line| match line {
            "CAPA" => Reply::Say(format!("+OK\r\n{}.\r\n", "X-FILLER\r\n".repeat(5000))),
            _ => pop3_plain(line),
        },
        ..pop3(pop3_inside, false)
    }
    .start()
    .await;
    let v = verdict("pop3.starttls.offered", Scheme::Pop3, port).await;
    assert_verdict(&v, Outcome::Error, &["unreadable reply"], &["refused"]);

    let refuses = Peer {
        plain: |line| match line {
            "CAPA" => say("-ERR no CAPA here\r\n"),
            _ => pop3_plain(line),
        },
        ..pop3(pop3_inside, false)
    }
    .start()
    .await;
    let v = verdict("pop3.starttls.offered", Scheme::Pop3, refuses).await;
    assert_verdict(
        &v,
        Outcome::Fail,
        &["CAPA is refused", "`-ERR no CAPA here`"],
        &[],
    );
}
