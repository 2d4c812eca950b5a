//! The TLS checks proven against real TLS stacks that really accept the weak
//! things: Debian's `openssl s_server` (TLS 1.0/1.1, NULL, anonymous, static-RSA
//! suites, RSA-1024 and SHA-1 certificates), on a loopback port speaking implicit
//! TLS. A missing binary fails the test with the package to install (`.ci/run`
//! installs it); nothing here is skipped quietly.
//!
//! What no stack here can offer on loopback — SSL 2.0, SSL 3.0, EXPORT suites,
//! TLS compression, RC4 and 3DES (OpenSSL 3 dropped them; GnuTLS's `gnutls-serv`
//! has them but cannot be bound to loopback) — is proven against hand-written
//! peers in `tls_verdicts.rs`.

use mailtls::checks::Catalogue;
use mailtls::report::model::{CheckResult, Outcome};
use mailtls::runner::{run, RunOptions};
use mailtls::target::TargetSpec;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A TLS server process on a loopback port, killed (by its own handle) on drop.
struct Peer {
    child: Child,
    port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require(binary: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{binary}` is not installed: these tests need real TLS peers (apt-get install -y {package}; .ci/run does it)"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(program: &str, args: &[String], port: u16) -> Peer {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let peer = Peer { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{program} did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    peer
}

/// Certificates made once per test binary with the openssl CLI.
struct Certs {
    dir: PathBuf,
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        require("openssl", "openssl");
        let dir = tempfile::tempdir().unwrap().keep();
        let make = |name: &str, key: &str, digest: &str| {
            let status = Command::new("openssl")
                .current_dir(&dir)
                .args([
                    "req", "-x509", "-newkey", key, "-nodes", digest, "-days", "30",
                ])
                .args([
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.pem"),
                ])
                .args(["-subj", "/CN=localhost"])
                .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
                .args(["-addext", "basicConstraints=critical,CA:FALSE"])
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "openssl req for {name}");
        };
        make("good", "rsa:2048", "-sha256");
        make("weak", "rsa:1024", "-sha1");
        Certs { dir }
    })
}

impl Certs {
    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn der(&self, name: &str) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        let path: &Path = &self.dir.join(format!("{name}.pem"));
        rustls::pki_types::CertificateDer::from_pem_file(path)
            .unwrap()
            .to_vec()
    }
}

fn openssl(cert: &str, extra: &[&str]) -> Peer {
    let certs = certs();
    let port = free_port();
    let mut args: Vec<String> = ["s_server", "-quiet", "-accept"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("127.0.0.1:{port}"));
    args.extend(["-cert".into(), certs.path(&format!("{cert}.pem"))]);
    args.extend(["-key".into(), certs.path(&format!("{cert}.key"))]);
    args.extend(extra.iter().map(|s| s.to_string()));
    start("openssl", &args, port)
}

/// Runs every `tls.*` check against `smtps://127.0.0.1:port`, trusting `anchor`.
async fn judge(port: u16, anchor: Vec<u8>) -> Vec<CheckResult> {
    let catalogue = Catalogue::builtin()
        .unwrap()
        .only(&[glob::Pattern::new("tls.*").unwrap()])
        .sorted();
    let spec = TargetSpec::parse(&format!("smtps://127.0.0.1:{port}")).unwrap();
    let options = RunOptions {
        trust_anchors: vec![anchor],
        ..RunOptions::default()
    };
    let report = run(&[spec], &catalogue, &options).await.unwrap();
    report.targets.into_iter().flat_map(|t| t.results).collect()
}

fn with(results: &[CheckResult], status: Outcome) -> BTreeSet<&str> {
    results
        .iter()
        .filter(|r| r.status == status)
        .map(|r| r.id.as_str())
        .collect()
}

fn detail<'a>(results: &'a [CheckResult], id: &str) -> &'a str {
    &results.iter().find(|r| r.id == id).unwrap().detail
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_accepting_legacy_versions_null_and_anon_fails_exactly_those_checks() {
    let peer = openssl(
        "good",
        &[
            "-min_protocol",
            "TLSv1",
            "-cipher",
            "ALL:COMPLEMENTOFALL:@SECLEVEL=0",
        ],
    );
    let results = judge(peer.port, certs().der("good")).await;
    assert_eq!(
        with(&results, Outcome::Fail),
        BTreeSet::from([
            "tls.cipher.anon-refused",
            "tls.cipher.forward-secrecy",
            "tls.cipher.null-refused",
            "tls.version.tls10-refused",
            "tls.version.tls11-refused",
        ]),
        "{results:#?}"
    );
    assert!(with(&results, Outcome::Error).is_empty(), "{results:#?}");
    let null = detail(&results, "tls.cipher.null-refused");
    assert!(null.contains("at TLS 1.0: TLS_RSA_WITH_NULL_MD5"), "{null}");
    assert!(
        detail(&results, "tls.cipher.anon-refused").contains("TLS_DH_anon_WITH_AES_128_CBC_SHA")
    );
    assert!(
        detail(&results, "tls.cipher.forward-secrecy").contains("TLS_RSA_WITH_AES_128_GCM_SHA256")
    );
    assert!(detail(&results, "tls.version.tls10-refused").contains("ServerHello: TLS 1.0"));
    // A real RFC 7507 implementation, and a real RFC 8446 sentinel.
    assert!(detail(&results, "tls.downgrade.fallback-scsv").contains("inappropriate_fallback"));
    assert!(detail(&results, "tls.downgrade.sentinel").contains("TLS 1.0, TLS 1.1, TLS 1.2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_openssl_passes_every_version_and_cipher_check() {
    let peer = openssl("good", &["-cipher", "ECDHE+AESGCM:ECDHE+CHACHA20"]);
    let results = judge(peer.port, certs().der("good")).await;
    let not_passed: Vec<_> = results
        .iter()
        .filter(|r| r.status != Outcome::Pass)
        .map(|r| (r.id.as_str(), r.status, r.detail.as_str()))
        .collect();
    assert_eq!(
        not_passed,
        [(
            "tls.downgrade.fallback-scsv",
            Outcome::Skip,
            "nothing below TLS 1.2 is accepted, so there is no fallback to detect (RFC 8996)"
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_without_tls13_fails_tls13_and_skips_the_sentinel() {
    let peer = openssl("good", &["-no_tls1_3", "-cipher", "ECDHE+AESGCM"]);
    let results = judge(peer.port, certs().der("good")).await;
    assert_eq!(
        with(&results, Outcome::Fail),
        BTreeSet::from(["tls.version.tls13"])
    );
    assert!(with(&results, Outcome::Skip).contains("tls.downgrade.sentinel"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa1024_sha1_certificate_fails_key_strength_signature_and_trust() {
    // ring will not verify an RSA-1024 handshake signature, so the chain comes from
    // the cleartext TLS 1.2 flight; webpki will not build a path through SHA-1 or
    // RSA-1024 either, hence `trusted` fails too, with its reason.
    let peer = openssl(
        "weak",
        &[
            "-min_protocol",
            "TLSv1.2",
            "-cipher",
            "ECDHE+AESGCM:@SECLEVEL=0",
        ],
    );
    let results = judge(peer.port, certs().der("weak")).await;
    assert_eq!(
        with(&results, Outcome::Fail),
        BTreeSet::from([
            "tls.cert.key-strength",
            "tls.cert.signature",
            "tls.cert.trusted",
        ]),
        "{results:#?}"
    );
    assert!(detail(&results, "tls.cert.key-strength").contains("RSA 1024 bits"));
    assert!(detail(&results, "tls.cert.signature").contains("sha1WithRSAEncryption"));
}

/// Sends `hello` to the peer and reads until the parser has an answer.
fn exchange(port: u16, hello: &[u8]) -> mailtls::tls::response::Response {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(hello).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(answer) = mailtls::tls::response::parse(&buf, true, false).unwrap() {
            return answer;
        }
        let n = tcp.read(&mut chunk).unwrap();
        if n == 0 {
            return mailtls::tls::response::parse(&buf, true, true)
                .unwrap()
                .expect("an answer before the close");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn known_answers_from_real_openssl_handshakes() {
    use mailtls::tls::hello::{ClientHello, Version};
    use mailtls::tls::response::Response;
    // TLS_RSA_WITH_AES_128_CBC_SHA at TLS 1.0: a ServerHello, the certificate, the
    // renegotiation_info extension and the TLS 1.3 server's downgrade sentinel.
    let peer = openssl(
        "good",
        &[
            "-min_protocol",
            "TLSv1",
            "-cipher",
            "AES128-SHA:@SECLEVEL=0",
        ],
    );
    let hello = ClientHello::new(Version::Tls10, vec![0x002f], None).encode();
    let Response::Hello(server_hello) = exchange(peer.port, &hello) else {
        panic!("no ServerHello")
    };
    assert_eq!(server_hello.version, 0x0301);
    assert_eq!(server_hello.cipher, 0x002f);
    assert_eq!(server_hello.compression, 0);
    assert!(server_hello.secure_renegotiation());
    assert_eq!(&server_hello.random_tail(), b"DOWNGRD\x00");
    assert_eq!(server_hello.certificates, vec![certs().der("good")]);
    drop(peer);
    // The same hello to Debian's default TLS 1.2+ server: OpenSSL 3.0 answers
    // internal_error (it has no cipher left for TLS 1.0), not protocol_version.
    let peer = openssl("good", &[]);
    assert_eq!(
        exchange(peer.port, &hello),
        Response::Alert {
            level: 2,
            description: 80
        }
    );
}
