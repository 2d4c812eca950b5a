//! The TLS verdicts no real stack on this machine can provoke any more — SSL 2.0,
//! SSL 3.0, EXPORT suites, TLS compression, missing renegotiation_info, an ignored
//! TLS_FALLBACK_SCSV, a TLS 1.3 server without the downgrade sentinel — proven
//! against a small hand-written peer that answers each ClientHello with the
//! ServerHello such a server sends (and closes: the checks judge the ServerHello).

use mailtls::checks::Catalogue;
use mailtls::report::model::{CheckResult, Outcome};
use mailtls::runner::{run, RunOptions};
use mailtls::target::TargetSpec;
use tls_parser::{
    parse_tls_client_hello_extensions, parse_tls_plaintext, TlsExtension, TlsMessage,
    TlsMessageHandshake,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the peer behaves.
#[derive(Clone, Default)]
struct Toy {
    /// Versions it accepts below TLS 1.3 (wire numbers).
    versions: Vec<u16>,
    /// Suites it takes, when offered.
    suites: Vec<u16>,
    /// Speaks SSL 2.0.
    ssl2: bool,
    /// Answers a TLS 1.3 hello with a TLS 1.3 ServerHello.
    tls13: bool,
    /// Sets the RFC 8446 downgrade sentinel when negotiating below TLS 1.3.
    sentinel: bool,
    /// Takes DEFLATE when offered.
    compression: bool,
    /// Sends renegotiation_info.
    renegotiation_info: bool,
    /// Refuses a fallback hello with inappropriate_fallback.
    honours_scsv: bool,
}

fn alert(description: u8) -> Vec<u8> {
    vec![21, 3, 1, 0, 2, 2, description]
}

fn server_hello(
    version: u16,
    random: [u8; 32],
    suite: u16,
    compression: u8,
    ext: &[u8],
) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&random);
    body.push(0);
    body.extend_from_slice(&suite.to_be_bytes());
    body.push(compression);
    if !ext.is_empty() {
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(ext);
    }
    let mut handshake = vec![2];
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![22, 3, 3];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

impl Toy {
    fn answer(&self, bytes: &[u8]) -> Vec<u8> {
        if bytes[0] & 0x80 != 0 {
            if !self.ssl2 {
                return Vec::new();
            }
            // SERVER-HELLO: no session hit, X.509, SSL 2.0, no certificate, RC4-128-MD5.
            let mut body = vec![4, 0, 1, 0, 2, 0, 0, 0, 3, 0, 16, 1, 0, 0x80];
            body.extend_from_slice(&[0x11; 16]);
            let mut out = vec![0x80, body.len() as u8];
            out.extend_from_slice(&body);
            return out;
        }
        let Ok((_, record)) = parse_tls_plaintext(bytes) else {
            return alert(50);
        };
        let Some(TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello))) =
            record.msg.first()
        else {
            return alert(10);
        };
        let extensions = hello
            .ext
            .and_then(|e| parse_tls_client_hello_extensions(e).ok())
            .map(|(_, e)| e)
            .unwrap_or_default();
        let offers_tls13 = extensions.iter().any(
            |e| matches!(e, TlsExtension::SupportedVersions(v) if v.iter().any(|v| v.0 == 0x0304)),
        );
        let ciphers: Vec<u16> = hello.ciphers.iter().map(|c| c.0).collect();
        let mut random = [0x42u8; 32];
        if offers_tls13 {
            if !self.tls13 {
                return alert(70);
            }
            // supported_versions: TLS 1.3; the probe reads no further.
            return server_hello(0x0303, random, 0x1301, 0, &[0, 43, 0, 2, 3, 4]);
        }
        let version = hello.version.0;
        if !self.versions.contains(&version) {
            return alert(70);
        }
        let highest = self.versions.iter().max().copied().unwrap_or(version);
        if self.honours_scsv && ciphers.contains(&0x5600) && (version < highest || self.tls13) {
            return alert(86);
        }
        let Some(suite) = ciphers.iter().find(|c| self.suites.contains(c)).copied() else {
            return alert(40);
        };
        if self.sentinel && self.tls13 {
            random[24..].copy_from_slice(if version == 0x0303 {
                b"DOWNGRD\x01"
            } else {
                b"DOWNGRD\x00"
            });
        }
        let compression = u8::from(self.compression && hello.comp.iter().any(|c| c.0 == 1));
        let ext: &[u8] = if self.renegotiation_info {
            &[0xff, 0x01, 0, 1, 0]
        } else {
            &[]
        };
        server_hello(version, random, suite, compression, ext)
    }
}

/// Starts the peer on a loopback port: it reads one hello, answers, closes.
async fn start(toy: Toy) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let toy = toy.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let complete = match buf.first() {
                        Some(b) if b & 0x80 != 0 && buf.len() >= 2 => {
                            buf.len() >= 2 + (usize::from(buf[0] & 0x7f) << 8 | usize::from(buf[1]))
                        }
                        Some(_) if buf.len() >= 5 => {
                            buf.len() >= 5 + usize::from(u16::from_be_bytes([buf[3], buf[4]]))
                        }
                        _ => false,
                    };
                    if complete {
                        break;
                    }
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tcp.write_all(&toy.answer(&buf)).await;
            });
        }
    });
    port
}

async fn judge(toy: Toy) -> Vec<CheckResult> {
    let port = start(toy).await;
    let catalogue = Catalogue::builtin()
        .unwrap()
        .only(&[glob::Pattern::new("tls.*").unwrap()]);
    let spec = TargetSpec::parse(&format!("smtps://127.0.0.1:{port}")).unwrap();
    let report = run(&[spec], &catalogue, &RunOptions::default())
        .await
        .unwrap();
    report.targets.into_iter().flat_map(|t| t.results).collect()
}

fn result<'a>(results: &'a [CheckResult], id: &str) -> (Outcome, &'a str) {
    let r = results.iter().find(|r| r.id == id).unwrap();
    (r.status, r.detail.as_str())
}

const ECDHE_RSA_AES128_GCM: u16 = 0xc02f;

#[tokio::test]
async fn ssl2_server_fails_sslv2_refused() {
    let results = judge(Toy {
        ssl2: true,
        versions: vec![0x0303],
        suites: vec![ECDHE_RSA_AES128_GCM],
        renegotiation_info: true,
        ..Toy::default()
    })
    .await;
    let (status, detail) = result(&results, "tls.version.sslv2-refused");
    assert_eq!(status, Outcome::Fail, "{detail}");
    assert!(detail.contains("SSL 2.0 SERVER-HELLO"), "{detail}");
    assert_eq!(
        result(&results, "tls.version.sslv3-refused").0,
        Outcome::Pass
    );
}

#[tokio::test]
async fn ssl3_server_with_export_suites_fails_sslv3_and_export() {
    let results = judge(Toy {
        versions: vec![0x0300, 0x0303],
        // TLS_RSA_EXPORT_WITH_RC4_40_MD5, TLS_RSA_EXPORT_WITH_DES40_CBC_SHA, and a modern suite.
        suites: vec![0x0003, 0x0008, ECDHE_RSA_AES128_GCM],
        renegotiation_info: true,
        honours_scsv: true,
        ..Toy::default()
    })
    .await;
    let (status, detail) = result(&results, "tls.version.sslv3-refused");
    assert_eq!(status, Outcome::Fail, "{detail}");
    assert!(detail.contains("ServerHello: SSL 3.0"), "{detail}");
    let (status, detail) = result(&results, "tls.cipher.export-refused");
    assert_eq!(status, Outcome::Fail, "{detail}");
    assert!(
        detail.contains(
            "at SSL 3.0: TLS_RSA_EXPORT_WITH_RC4_40_MD5, TLS_RSA_EXPORT_WITH_DES40_CBC_SHA"
        ),
        "{detail}"
    );
    assert_eq!(
        result(&results, "tls.downgrade.fallback-scsv").0,
        Outcome::Pass
    );
}

#[tokio::test]
async fn compressing_server_without_renegotiation_info_ignoring_scsv_fails_those_checks() {
    let results = judge(Toy {
        versions: vec![0x0301, 0x0303],
        suites: vec![ECDHE_RSA_AES128_GCM, 0xc013],
        compression: true,
        ..Toy::default()
    })
    .await;
    for id in [
        "tls.compression-refused",
        "tls.renegotiation.secure",
        "tls.downgrade.fallback-scsv",
    ] {
        let (status, detail) = result(&results, id);
        assert_eq!(status, Outcome::Fail, "{id}: {detail}");
    }
    assert!(result(&results, "tls.compression-refused")
        .1
        .contains("compression method 1"));
}

#[tokio::test]
async fn tls13_server_without_the_downgrade_sentinel_fails_it_and_with_it_passes() {
    let toy = Toy {
        versions: vec![0x0303],
        suites: vec![ECDHE_RSA_AES128_GCM],
        tls13: true,
        renegotiation_info: true,
        ..Toy::default()
    };
    let results = judge(toy.clone()).await;
    let (status, detail) = result(&results, "tls.downgrade.sentinel");
    assert_eq!(status, Outcome::Fail, "{detail}");
    assert!(
        detail.contains("TLS 1.2: ServerHello.random ends in 4242424242424242"),
        "{detail}"
    );
    let results = judge(Toy {
        sentinel: true,
        ..toy
    })
    .await;
    assert_eq!(result(&results, "tls.downgrade.sentinel").0, Outcome::Pass);
}

/// RC4 and 3DES: GnuTLS still offers them, but `gnutls-serv` cannot be bound to
/// loopback and tests may listen nowhere else, so the failing side is proven here
/// against a peer that takes them (the passing side runs against real OpenSSL in
/// `tls_peers.rs`).
#[tokio::test]
async fn rc4_and_3des_server_fails_those_checks_and_forward_secrecy() {
    let results = judge(Toy {
        versions: vec![0x0303],
        // TLS_RSA_WITH_RC4_128_SHA, TLS_RSA_WITH_3DES_EDE_CBC_SHA, and a modern suite.
        suites: vec![0x0005, 0x000a, ECDHE_RSA_AES128_GCM],
        renegotiation_info: true,
        ..Toy::default()
    })
    .await;
    for (id, suite) in [
        ("tls.cipher.rc4-refused", "TLS_RSA_WITH_RC4_128_SHA"),
        ("tls.cipher.des-refused", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        ("tls.cipher.forward-secrecy", "TLS_RSA_WITH_RC4_128_SHA"),
    ] {
        let (status, detail) = result(&results, id);
        assert_eq!(status, Outcome::Fail, "{id}: {detail}");
        assert!(detail.contains(suite), "{id}: {detail}");
    }
    assert_eq!(result(&results, "tls.cipher.null-refused").0, Outcome::Pass);
}

#[tokio::test]
async fn server_speaking_only_tls10_fails_modern() {
    let results = judge(Toy {
        versions: vec![0x0301],
        suites: vec![0xc013],
        renegotiation_info: true,
        ..Toy::default()
    })
    .await;
    let (status, detail) = result(&results, "tls.version.modern");
    assert_eq!(status, Outcome::Fail, "{detail}");
    assert!(detail.contains("neither TLS 1.2 nor TLS 1.3"), "{detail}");
    // The evidence: what the server answered the modern hellos.
    assert!(
        detail.contains("TLS 1.2 hello: fatal alert: protocol_version"),
        "{detail}"
    );
    assert_eq!(
        result(&results, "tls.version.tls10-refused").0,
        Outcome::Fail
    );
}
