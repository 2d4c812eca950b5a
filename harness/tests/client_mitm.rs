//! The MITM stripping a real server's STARTTLS in front of real clients: the
//! reference server is the upstream, Python's smtplib (STARTTLS only when offered)
//! gives its credentials away in cleartext, curl --ssl-reqd gives up.

use mailtls::mitm::{Attack, MitmConfig, RunningProxy};
use mailtls::server::{RunningServer, ServerConfig};
use mailtls::target::{Endpoint, Scheme};
use std::process::Command;
use std::time::Duration;

fn have(binary: &str) -> bool {
    let present = Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{binary} missing (.ci/run installs it)");
    }
    present
}

async fn proxy_in_front(server: &RunningServer, attack: Attack) -> RunningProxy {
    let upstream = server.endpoint("submission").unwrap();
    RunningProxy::start(MitmConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: Endpoint {
            scheme: Scheme::Submission,
            host: upstream.ip().to_string(),
            port: upstream.port(),
            credentials: None,
        },
        attack,
        allow_remote: false,
        idle: Duration::from_secs(3),
    })
    .await
    .unwrap()
}

const CARELESS_SMTPLIB: &str = r#"import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=5)
s.ehlo()
if s.has_extn("starttls"):
    s.starttls()
    s.ehlo()
if s.has_extn("auth"):
    s.login("mailtls", "mailtls-secret")
s.sendmail("alice@example.org", ["mailtls@mail.mailtls.test"], "Subject: x\r\n\r\nsecret mail\r\n")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripping_starttls_exposes_a_careless_clients_mail() {
    if !have("python3") {
        return;
    }
    let server = RunningServer::start(ServerConfig::default()).await.unwrap();
    let proxy = proxy_in_front(&server, Attack::Strip).await;
    let port = proxy.addr().port().to_string();
    let client = tokio::process::Command::new("python3")
        .args(["-c", CARELESS_SMTPLIB, &port])
        .kill_on_drop(true)
        .output();
    let _ = tokio::time::timeout(Duration::from_secs(10), client).await;
    let records = proxy.wait_for(1, Duration::from_secs(5)).await;
    let record = &records[0];
    // The reference server offers no AUTH before TLS, so the careless client goes
    // straight to sending its mail, in cleartext.
    assert!(
        record.exposed.first().is_some_and(|e| e
            .to_ascii_uppercase()
            .starts_with("MAIL FROM:<ALICE@EXAMPLE.ORG>")),
        "{}",
        record.summary()
    );
    assert!(record
        .actions
        .iter()
        .any(|a| a.contains("STARTTLS removed")));
    let shown = serde_json::to_string(record.transcript.entries()).unwrap();
    assert!(
        !shown.contains("mailtls-secret") && !shown.contains("AG1haWx0bHMAbWFpbHRscy1zZWNyZXQ=")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripping_starttls_stops_curl_with_ssl_reqd() {
    if !have("curl") {
        return;
    }
    let server = RunningServer::start(ServerConfig::default()).await.unwrap();
    let proxy = proxy_in_front(&server, Attack::Strip).await;
    let url = format!("smtp://127.0.0.1:{}", proxy.addr().port());
    let client = tokio::process::Command::new("curl")
        .args([
            "--silent",
            "--max-time",
            "8",
            "--ssl-reqd",
            "--user",
            "mailtls:mailtls-secret",
        ])
        .args([
            url.as_str(),
            "--mail-from",
            "a@example.org",
            "--mail-rcpt",
            "mailtls@mail.mailtls.test",
            "--upload-file",
            "/dev/null",
        ])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(10), client)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !output.status.success(),
        "curl must refuse to go on without TLS"
    );
    let records = proxy.wait_for(1, Duration::from_secs(5)).await;
    assert!(records[0].exposed.is_empty(), "{}", records[0].summary());
}

#[tokio::test]
async fn refuses_to_listen_beyond_loopback() {
    let server = RunningServer::start(ServerConfig::default()).await.unwrap();
    let upstream = server.endpoint("submission").unwrap();
    let result = RunningProxy::start(MitmConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        upstream: Endpoint {
            scheme: Scheme::Submission,
            host: upstream.ip().to_string(),
            port: upstream.port(),
            credentials: None,
        },
        attack: Attack::Strip,
        allow_remote: false,
        idle: Duration::from_secs(1),
    })
    .await;
    assert!(matches!(
        result,
        Err(mailtls::mitm::MitmError::NotLoopback(_))
    ));
}
