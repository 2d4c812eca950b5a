//! Every bundled client profile against every client scenario, with the real
//! clients from Debian's packages and Python's standard library: the verdict
//! matrix is a snapshot (docs/client-mode-and-mitm.md shows it), and the two promises are
//! asserted on their own. Under `CI=true` a missing client binary fails the test
//! (`.ci/run` installs them); elsewhere it is skipped with a message.

use mailtls::client::run::{run, ClientTestOptions};
use mailtls::client::{builtin_scenarios, matrix, profile};
use mailtls::report::model::{Outcome, Report};
use std::process::Command;
use std::time::Duration;

const BINARIES: [&str; 5] = ["curl", "msmtp", "fetchmail", "s-nail", "python3"];

/// Whether every client is installed; under CI a missing one is a failure.
fn clients_present() -> bool {
    let missing: Vec<&str> = BINARIES
        .into_iter()
        .filter(|b| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "client binaries missing: {} (.ci/run installs them)",
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("skipping: {message}");
    false
}

fn status(report: &Report, profile: &str, id: &str) -> Outcome {
    report
        .targets
        .iter()
        .find(|t| t.target == format!("client:{profile}"))
        .and_then(|t| t.results.iter().find(|r| r.id == id))
        .unwrap_or_else(|| panic!("no result for {profile} {id}"))
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_profile_runs_every_client_scenario() {
    if !clients_present() {
        return;
    }
    let scenarios = builtin_scenarios().unwrap();
    let profiles = profile::builtin();
    let options = ClientTestOptions {
        idle: Duration::from_secs(3),
        deadline: Duration::from_secs(15),
        jobs: 12,
    };
    let report = run(&profiles, &scenarios, &options).await.unwrap();
    let errors: Vec<String> = report
        .targets
        .iter()
        .flat_map(|t| t.results.iter().map(move |r| (t, r)))
        .filter(|(_, r)| r.status == Outcome::Error)
        .map(|(t, r)| format!("{} {}: {}", t.target, r.id, r.detail))
        .collect();
    assert!(errors.is_empty(), "unjudged: {errors:#?}");
    for target in &report.targets {
        let expected = scenarios
            .iter()
            .filter(|s| Some(s.meta.protocol.unwrap().name()) == Some(target.protocol.as_str()))
            .count();
        assert_eq!(target.results.len(), expected, "{}", target.target);
    }
    // The promises: curl --ssl-reqd passes the stripping scenarios, a
    // careless smtplib (STARTTLS only when offered) fails them.
    for id in [
        "client.smtp.starttls-missing",
        "client.smtp.starttls-refused",
        "client.smtp.capabilities-hidden",
    ] {
        assert_eq!(status(&report, "curl-smtp", id), Outcome::Pass, "{id}");
    }
    assert_eq!(
        status(
            &report,
            "python-smtplib-opportunistic",
            "client.smtp.starttls-missing"
        ),
        Outcome::Fail
    );
    // No transcript shows the profiles' password, in any encoding.
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(profile::PASSWORD));
    insta::assert_snapshot!("client_verdict_matrix", matrix::render(&report));
}

#[test]
fn client_test_command_writes_every_report_format_and_exits_by_verdict() {
    if !clients_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let careless = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args([
            "client-test",
            "--profile",
            "python-smtplib-opportunistic",
            "--only",
            "client.smtp.starttls-*",
        ])
        .args(["--format", "json,junit,sarif,html,md", "--report-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        careless.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&careless.stdout)
    );
    for file in [
        "report.json",
        "junit.xml",
        "report.sarif",
        "report.html",
        "summary.md",
    ] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    let careful = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args([
            "client-test",
            "--profile",
            "curl-smtp",
            "--only",
            "client.smtp.starttls-*",
            "--quiet",
            "--report-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(careful.status.code(), Some(0));
    let custom = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(["client-test", "--quiet", "--report-dir"])
        .arg(dir.path())
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(
        custom.status.code(),
        Some(2),
        "a command without --protocol is a usage error"
    );
}
