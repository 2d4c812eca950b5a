//! The `fail` branch of the client scenarios that no bundled real client takes:
//! a deliberately careless hand-written client (goes on after a refused STARTTLS,
//! keeps plaintext read before the handshake and believes it inside TLS, skips
//! EHLO inside TLS) played against each script. The `pass` branches are the real
//! clients of `client_matrix.rs`.

use mailtls::client::certs::TestPki;
use mailtls::client::play::{play, PlayOptions};
use mailtls::client::{builtin_scenarios, script::CertKind, ClientScenario};
use mailtls::report::model::Outcome;
use mailtls::session::Transcript;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;

/// One step of the careless client.
#[derive(Clone, Copy)]
enum Step {
    /// Send this line (CRLF added).
    Send(&'static str),
    /// Read until this text has been seen, consuming through the end of its line;
    /// bytes already buffered count, also across the TLS upgrade (the bug).
    Until(&'static str),
    /// Start TLS without discarding what was buffered.
    Tls,
}
use Step::*;

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Gone,
}

async fn careless(addr: std::net::SocketAddr, steps: &'static [Step]) {
    let mut stream = Stream::Plain(TcpStream::connect(addr).await.unwrap());
    let mut buf: Vec<u8> = Vec::new();
    for step in steps {
        match *step {
            Send(line) => {
                let bytes = format!("{line}\r\n");
                let _ = match &mut stream {
                    Stream::Plain(s) => s.write_all(bytes.as_bytes()).await,
                    Stream::Tls(s) => s.write_all(bytes.as_bytes()).await,
                    Stream::Gone => return,
                };
            }
            Until(text) => loop {
                let seen = String::from_utf8_lossy(&buf).to_string();
                if let Some(at) = seen.find(text) {
                    let end = seen[at..].find('\n').map_or(buf.len(), |e| at + e + 1);
                    buf.drain(..end);
                    break;
                }
                let mut chunk = [0u8; 4096];
                let n = match &mut stream {
                    Stream::Plain(s) => s.read(&mut chunk).await.unwrap_or(0),
                    Stream::Tls(s) => s.read(&mut chunk).await.unwrap_or(0),
                    Stream::Gone => 0,
                };
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
            },
            Tls => {
                let Stream::Plain(tcp) = std::mem::replace(&mut stream, Stream::Gone) else {
                    return;
                };
                let connector =
                    tokio_rustls::TlsConnector::from(mailtls::tls::client::permissive_config());
                let name = mailtls::tls::client::server_name("localhost").unwrap();
                match connector.connect(name, tcp).await {
                    Ok(tls) => stream = Stream::Tls(Box::new(tls)),
                    Err(_) => return,
                }
            }
        }
    }
    // Stay connected until the harness has judged and closes.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

fn scenario(id: &str) -> ClientScenario {
    builtin_scenarios()
        .unwrap()
        .into_iter()
        .find(|s| s.meta.id == id)
        .unwrap_or_else(|| panic!("no client scenario {id}"))
}

async fn judge(id: &str, steps: &'static [Step]) -> (Outcome, String) {
    let scenario = scenario(id);
    assert_eq!(scenario.certificate, CertKind::Trusted);
    let pki = TestPki::generate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(careless(addr, steps));
    let (tcp, _) = listener.accept().await.unwrap();
    let options = PlayOptions {
        host: "mail.mailtls.test".into(),
        idle: Duration::from_secs(2),
        tls: pki.config(CertKind::Trusted),
    };
    let mut transcript = Transcript::new();
    let verdict = play(&scenario, tcp, &options, &mut transcript).await;
    client.abort();
    (verdict.outcome, verdict.detail)
}

async fn assert_fails(id: &str, steps: &'static [Step], needle: &str) {
    let (outcome, detail) = judge(id, steps).await;
    assert_eq!(outcome, Outcome::Fail, "{id}: {detail}");
    assert!(detail.contains(needle), "{id}: {detail}");
}

#[tokio::test]
async fn smtp_scenarios_fail_a_careless_client() {
    assert_fails(
        "client.smtp.starttls-refused",
        &[
            Until("220 "),
            Send("EHLO c"),
            Until("250 "),
            Send("STARTTLS"),
            Until("454"),
            Send("AUTH PLAIN AGEAYg=="),
        ],
        "`AUTH PLAIN AGEAYg==` in cleartext",
    )
    .await;
    assert_fails(
        "client.smtp.capabilities-hidden",
        &[
            Until("220 "),
            Send("EHLO c"),
            Until("502"),
            Send("HELO c"),
            Until("250 "),
            Send("MAIL FROM:<a@b>"),
        ],
        "MAIL FROM",
    )
    .await;
    assert_fails(
        "client.smtp.starttls-response-injection",
        &[
            Until("220 "),
            Send("EHLO c"),
            Until("250 "),
            Send("STARTTLS"),
            Until("220 2.0.0"),
            Tls,
            Send("EHLO c"),
            Until("250 AUTH"),
            Send("AUTH PLAIN AGEAYg=="),
        ],
        "believed the reply injected before TLS",
    )
    .await;
    assert_fails(
        "client.smtp.capabilities-refreshed",
        &[
            Until("220 "),
            Send("EHLO c"),
            Until("250 "),
            Send("STARTTLS"),
            Until("220 2.0.0"),
            Tls,
            Send("MAIL FROM:<a@b>"),
        ],
        "without asking for the capabilities again",
    )
    .await;
}

#[tokio::test]
async fn imap_scenarios_fail_a_careless_client() {
    assert_fails(
        "client.imap.starttls-refused",
        &[
            Until("* OK"),
            Send("a1 CAPABILITY"),
            Until("a1 OK"),
            Send("a2 STARTTLS"),
            Until("a2 NO"),
            Send("a3 LOGIN u p"),
        ],
        "a3 LOGIN",
    )
    .await;
    assert_fails(
        "client.imap.capabilities-hidden",
        &[
            Until("* OK"),
            Send("a1 CAPABILITY"),
            Until("a1 BAD"),
            Send("a2 SELECT INBOX"),
        ],
        "a2 SELECT",
    )
    .await;
    assert_fails(
        "client.imap.starttls-response-injection",
        &[
            Until("* OK"),
            Send("a1 CAPABILITY"),
            Until("a1 OK"),
            Send("a2 STARTTLS"),
            Until("a2 OK"),
            Tls,
            Send("a3 CAPABILITY"),
            Until("a3 OK"),
            Send("a4 LOGIN u p"),
        ],
        "believed the reply injected before TLS",
    )
    .await;
}

#[tokio::test]
async fn pop3_scenarios_fail_a_careless_client() {
    assert_fails(
        "client.pop3.starttls-refused",
        &[
            Until("+OK"),
            Send("CAPA"),
            Until("."),
            Send("STLS"),
            Until("-ERR"),
            Send("USER u"),
        ],
        "USER u",
    )
    .await;
    assert_fails(
        "client.pop3.starttls-response-injection",
        &[
            Until("+OK"),
            Send("CAPA"),
            Until("."),
            Send("STLS"),
            Until("+OK Begin"),
            Tls,
            Send("CAPA"),
            Until("."),
            Send("USER u"),
        ],
        "believed the reply injected before TLS",
    )
    .await;
}

#[tokio::test]
async fn a_client_that_leaves_is_never_a_fail() {
    // Closing where a command is expected with `else fail` is `error`: leaving is safe.
    let (outcome, detail) = judge(
        "client.smtp.capabilities-refreshed",
        &[
            Until("220 "),
            Send("EHLO c"),
            Until("250 "),
            Send("STARTTLS"),
            Until("220 2.0.0"),
            Tls,
        ],
    )
    .await;
    assert_ne!(outcome, Outcome::Fail, "{detail}");
    // Quitting when STARTTLS is stripped passes.
    let (outcome, detail) = judge(
        "client.smtp.starttls-missing",
        &[
            Until("220 "),
            Send("EHLO c"),
            Until("250 "),
            Send("QUIT"),
            Until("221"),
        ],
    )
    .await;
    assert_eq!(outcome, Outcome::Pass, "{detail}");
}
