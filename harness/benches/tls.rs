//! Benchmark of the whole TLS probe set against one endpoint: `cargo bench --bench tls`.
//!
//! The 21 `tls.*` checks (one shared scan: version probes, cipher-class chains,
//! certificate chain) against the reference server's implicit-TLS endpoint and its
//! STARTTLS endpoint (every probe redoes the SMTP STARTTLS exchange), and, when
//! `openssl` is installed, against an `openssl s_server` that accepts TLS 1.0 to
//! 1.3 and every suite it still has (so the class chains run long).

use mailtls::checks::Catalogue;
use mailtls::report::model::Report;
use mailtls::runner::{run, RunOptions};
use mailtls::server::{Flaws, RunningServer, ServerConfig};
use mailtls::target::TargetSpec;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::stats;

const ROUNDS: usize = 30;

async fn rounds(name: &str, target: &str, catalogue: &Catalogue, options: &RunOptions) {
    let spec = TargetSpec::parse(target).expect("target");
    let mut samples = Vec::with_capacity(ROUNDS);
    let mut last: Option<Report> = None;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let report = run(std::slice::from_ref(&spec), catalogue, options)
            .await
            .expect("run");
        samples.push(started.elapsed());
        last = Some(report);
    }
    let summary = &last.expect("a round").summary;
    assert_eq!(summary.error, 0, "{summary:#?}");
    stats(
        &format!(
            "{name} ({} pass, {} fail, {} skip)",
            summary.pass, summary.fail, summary.skip
        ),
        samples,
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let catalogue = Catalogue::builtin()
        .expect("catalogue")
        .only(&[glob::Pattern::new("tls.*").expect("glob")]);
    runtime.block_on(async {
        let server = RunningServer::start(ServerConfig {
            flaws: Flaws::default(),
            ..ServerConfig::default()
        })
        .await
        .expect("server");
        let options = RunOptions {
            trust_anchors: vec![server.trust_anchor_der().to_vec()],
            ..RunOptions::default()
        };
        let smtps = server.endpoint("smtps").expect("smtps");
        let smtp = server.endpoint("smtp").expect("smtp");
        rounds(
            "reference server, smtps:// (implicit TLS)",
            &format!("smtps://{smtps}"),
            &catalogue,
            &options,
        )
        .await;
        rounds(
            "reference server, smtp:// (STARTTLS per probe)",
            &format!("smtp://{smtp}"),
            &catalogue,
            &options,
        )
        .await;
        server.shutdown().await;

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let dir = tempfile::tempdir().expect("tempdir");
        let made = Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-keyout",
                "k.pem",
                "-out",
                "c.pem",
                "-subj",
                "/CN=localhost",
            ])
            .stderr(Stdio::null())
            .status();
        if !made.is_ok_and(|s| s.success()) {
            println!("openssl not installed: the legacy-peer benchmark is left out");
            return;
        }
        let mut child = Command::new("openssl")
            .current_dir(dir.path())
            .args(["s_server", "-quiet", "-cert", "c.pem", "-key", "k.pem"])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .args([
                "-min_protocol",
                "TLSv1",
                "-cipher",
                "ALL:COMPLEMENTOFALL:@SECLEVEL=0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s_server");
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        rounds(
            "openssl s_server, TLS 1.0-1.3, every suite",
            &format!("smtps://127.0.0.1:{port}"),
            &catalogue,
            &RunOptions::default(),
        )
        .await;
        let _ = child.kill();
        let _ = child.wait();
    });
}
