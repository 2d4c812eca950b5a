//! End-to-end tests: a raw TCP/TLS client talking to a running server, with
//! every flaw shown present when switched on and absent when not.

mod api;
mod behaviours;
mod imap;
mod pop3;
mod smtp;

use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ProtocolVersion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use super::conn::Io;
use super::{Flaw, Flaws, RunningServer, ServerConfig};

/// How long a reply that must come may take.
const WAIT: Duration = Duration::from_secs(5);

/// How long to listen to be satisfied that a reply is not coming.
const QUIET: Duration = Duration::from_millis(300);

/// Base64 of the PLAIN message for the default test account.
const PLAIN_OK: &str = "AG1haWx0bHMAbWFpbHRscy1zZWNyZXQ=";

/// Base64 of a PLAIN message with the wrong password.
const PLAIN_BAD: &str = "AG1haWx0bHMAd3Jvbmc=";

/// Starts a server with the given flaws (`""` for the correct one).
async fn server(flaws: &str) -> RunningServer {
    let config = ServerConfig {
        flaws: flaws.parse().expect("valid flaw list"),
        ..ServerConfig::default()
    };
    RunningServer::start(config).await.expect("server starts")
}

/// The correct server and the server with only `flaw`, for tests that prove a
/// behaviour both ways; the flag says whether the flaw is on.
async fn clean_and_flawed(flaw: Flaw) -> [(bool, RunningServer); 2] {
    [(false, server("").await), (true, server(flaw.name()).await)]
}

/// A line-oriented test client over plain TCP or (nested) TLS.
struct Client {
    io: Option<Box<dyn Io>>,
    buf: Vec<u8>,
    /// The DER certificate the server presented in the latest handshake.
    seen: Option<Vec<u8>>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    /// The TLS version of the latest handshake.
    version: Option<ProtocolVersion>,
}

impl Client {
    /// Connects to `scheme` on `server`; schemes ending in `s` get implicit TLS.
    async fn connect(server: &RunningServer, scheme: &str) -> Client {
        let versions = vec![&rustls::version::TLS13, &rustls::version::TLS12];
        Client::connect_with(server, scheme, versions).await
    }

    /// Like [`Client::connect`], offering only the given TLS versions.
    async fn connect_with(
        server: &RunningServer,
        scheme: &str,
        versions: Vec<&'static rustls::SupportedProtocolVersion>,
    ) -> Client {
        let addr = server.endpoint(scheme).expect("known scheme");
        let mut client = Client::connect_addr(addr).await;
        client.versions = versions;
        if scheme.ends_with('s') {
            client.starttls().await;
        }
        client
    }

    /// Connects in plaintext to `addr`.
    async fn connect_addr(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Client {
            io: Some(Box::new(tcp)),
            buf: Vec::new(),
            seen: None,
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            version: None,
        }
    }

    /// Runs a TLS handshake over the current stream (which may be TLS already).
    async fn starttls(&mut self) {
        assert!(
            self.buf.is_empty(),
            "server sent bytes before the handshake: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let connector =
            TlsConnector::from(crate::tls::client::permissive_config_for(&self.versions));
        let io = self.io.take().expect("connection open");
        let name = ServerName::try_from("localhost").expect("server name");
        let tls = timeout(WAIT, connector.connect(name, io))
            .await
            .expect("handshake in time")
            .expect("handshake");
        self.version = tls.get_ref().1.protocol_version();
        self.seen = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.to_vec());
        self.io = Some(Box::new(tls));
    }

    /// The DER certificate the server presented in the latest handshake.
    fn seen_certificate(&self) -> Option<Vec<u8>> {
        self.seen.clone()
    }

    async fn send(&mut self, data: &str) {
        self.send_bytes(data.as_bytes()).await;
    }

    async fn send_bytes(&mut self, data: &[u8]) {
        let io = self.io.as_mut().expect("connection open");
        io.write_all(data).await.expect("write");
        io.flush().await.expect("flush");
    }

    /// The next line, or `None` if none arrives within `wait`; panics at EOF.
    async fn try_line(&mut self, wait: Duration) -> Option<String> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                return Some(String::from_utf8_lossy(&line[..pos]).into_owned());
            }
            let io = self.io.as_mut().expect("connection open");
            match timeout(wait, io.read_buf(&mut self.buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) => panic!("connection closed; unread {:?}", self.buf),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("read failed: {e}"),
            }
        }
    }

    /// The next line, which must arrive.
    async fn line(&mut self) -> String {
        self.try_line(WAIT).await.expect("a reply line")
    }

    /// Asserts that nothing at all is sent within [`QUIET`].
    async fn expect_silence(&mut self) {
        if let Some(line) = self.try_line(QUIET).await {
            panic!("unexpected reply {line:?}");
        }
    }

    /// Whether the server closes the connection (after any remaining lines).
    async fn closed(&mut self) -> bool {
        let Some(io) = self.io.as_mut() else {
            return true;
        };
        let mut scratch = [0u8; 1024];
        loop {
            match timeout(WAIT, io.read(&mut scratch)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// A complete SMTP reply (all lines up to the one with a space after the code).
    async fn smtp(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines;
            }
        }
    }

    /// Sends an SMTP command and returns the first line of the reply.
    async fn smtp_cmd(&mut self, command: &str) -> String {
        self.send(&format!("{command}\r\n")).await;
        self.smtp().await.remove(0)
    }

    /// Sends an IMAP command tagged `tag` and returns every line up to and
    /// including the tagged one.
    async fn imap_cmd(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(&format!("{tag} {command}\r\n")).await;
        self.imap_until(tag).await
    }

    /// Lines up to and including the one tagged `tag`.
    async fn imap_until(&mut self, tag: &str) -> Vec<String> {
        let prefix = format!("{tag} ");
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let done = line.starts_with(&prefix);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// A POP3 multi-line response, status line first, without the final dot.
    async fn pop_multi(&mut self) -> Vec<String> {
        let mut lines = vec![self.line().await];
        if !lines[0].starts_with("+OK") {
            return lines;
        }
        loop {
            let line = self.line().await;
            if line == "." {
                return lines;
            }
            lines.push(line);
        }
    }
}

#[test]
fn flaws_helper_parses() {
    assert_eq!(
        "state-not-reset".parse::<Flaws>(),
        Ok(Flaws::from(Flaw::StateNotReset))
    );
}

/// Deterministic pseudo-random bytes, so a failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A line of up to 300 arbitrary bytes without CR, LF or `{` (so no line
    /// ends early and no IMAP literal is announced).
    fn garbage(&mut self) -> Vec<u8> {
        let len = (self.next() % 300) as usize;
        (0..len)
            .map(|_| (self.next() & 0xff) as u8)
            .filter(|b| !matches!(b, b'\r' | b'\n' | b'{'))
            .collect()
    }
}

#[tokio::test]
async fn random_input_never_kills_a_session() {
    let server = server("").await;
    let cases: [(&str, &[&str], &str, &str); 3] = [
        (
            "smtps",
            &[
                "EHLO ",
                "MAIL FROM:",
                "MAIL FROM:<a@b> ",
                "RCPT TO:",
                "AUTH PLAIN ",
                "AUTH LOGIN ",
                "AUTH ",
                "VRFY ",
                "",
            ],
            "*\r\nNOOP\r\n",
            "250 2.0.0 Ok",
        ),
        (
            "imaps",
            &[
                "a LOGIN ",
                "a AUTHENTICATE PLAIN ",
                "a AUTHENTICATE ",
                "a SELECT ",
                "a ",
                "",
            ],
            "*\r\nz NOOP\r\n",
            "z OK NOOP completed",
        ),
        (
            "pop3s",
            &["USER ", "PASS ", "AUTH PLAIN ", "AUTH ", "LIST ", ""],
            "*\r\nNOOP\r\n",
            "+OK",
        ),
    ];
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for (scheme, prefixes, probe, expected) in cases {
        let mut client = Client::connect(&server, scheme).await;
        client.line().await;
        for i in 0..300 {
            let mut line = prefixes[i % prefixes.len()].as_bytes().to_vec();
            line.extend(rng.garbage());
            line.extend_from_slice(b"\r\n");
            client.send_bytes(&line).await;
        }
        client.send(probe).await;
        // Every garbage line gets some answer; the probe's comes last.
        while client.line().await != expected {}
    }
}
