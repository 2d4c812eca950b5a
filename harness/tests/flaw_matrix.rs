//! Every check proven both ways, through the CLI as users run it: the suite
//! against the reference server passes clean, and each flaw alone makes exactly
//! its own checks fail — no more, no fewer — and nothing error.

use mailtls::server::Flaw;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Runs `mailtls run TARGET` and returns the exit code and (id, status) pairs.
fn run(target: &str, dir: &Path) -> (Option<i32>, Vec<(String, String, String)>) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(["run", target, "--format", "json", "--report-dir"])
        .arg(dir)
        .output()
        .expect("run mailtls");
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let results = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["results"].as_array().unwrap())
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap().to_string();
            (field("id"), field("status"), field("detail"))
        })
        .collect();
    (out.status.code(), results)
}

fn with_status(results: &[(String, String, String)], status: &str) -> BTreeSet<String> {
    results
        .iter()
        .filter(|(_, s, _)| s == status)
        .map(|(id, _, _)| id.clone())
        .collect()
}

fn each_protocol(check: &str) -> BTreeSet<String> {
    ["smtp", "imap", "pop3"]
        .iter()
        .map(|p| format!("{p}.{check}"))
        .collect()
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The checks each flaw must fail, and nothing else.
fn expected_failures(flaw: Flaw) -> BTreeSet<String> {
    match flaw {
        Flaw::NoStarttls => each_protocol("starttls.offered"),
        Flaw::StarttlsInjection => {
            &each_protocol("starttls.injection") | &each_protocol("starttls.injection-partial-line")
        }
        Flaw::PlaintextAuth => {
            &(&each_protocol("auth.no-plaintext-before-tls")
                | &each_protocol("auth.plaintext-rejected-before-tls"))
                | &ids(&["imap.tls.required", "pop3.tls.required"])
        }
        Flaw::StaleCapabilities => each_protocol("starttls.capabilities-refreshed"),
        Flaw::StateNotReset => ids(&["smtp.starttls.state-reset"]),
        Flaw::LateInjection => each_protocol("starttls.injection-split"),
        Flaw::LoginDespiteLogindisabled => ids(&[
            "imap.auth.plaintext-rejected-before-tls",
            "imap.tls.required",
        ]),
        Flaw::SessionFixation => ids(&[
            "imap.starttls.no-session-fixation",
            "pop3.starttls.no-session-fixation",
            "imap.auth.plaintext-rejected-before-tls",
            "pop3.auth.plaintext-rejected-before-tls",
            "imap.tls.required",
            "pop3.tls.required",
        ]),
        Flaw::BareLfData => ids(&["smtp.data.smuggling"]),
        Flaw::NoTlsRequired => ids(&["smtp.tls.required"]),
        // The TLS checks run on every endpoint under one id.
        Flaw::ExpiredCert => ids(&["tls.cert.validity"]),
        Flaw::WrongHostCert => ids(&["tls.cert.hostname"]),
        Flaw::SelfSignedCert => ids(&["tls.cert.trusted"]),
        Flaw::WeakKeyCert => ids(&["tls.cert.key-strength"]),
        Flaw::Tls12Only => ids(&["tls.version.tls13"]),
        // A crash only the fuzzer reaches (tests/fuzz_network.rs): no check sends
        // an authzid that long, so every check passes.
        Flaw::PostStarttlsCrash => BTreeSet::new(),
    }
}

#[test]
fn clean_server_passes_every_check_that_applies() {
    let dir = tempfile::tempdir().unwrap();
    let (code, results) = run("embedded", dir.path());
    assert_eq!(code, Some(0));
    assert!(results.len() >= 40, "only {} results", results.len());
    let not_passed: Vec<_> = results.iter().filter(|(_, s, _)| s != "pass").collect();
    // What may skip on the clean server, and why: MX does not require TLS; the
    // submission port refuses MAIL before TLS, so no state can cross the upgrade;
    // nothing below TLS 1.2 is accepted, so fallback SCSV is moot (RFC 8996).
    let expected_skips = ids(&[
        "smtp.tls.required",
        "smtp.starttls.state-reset",
        "tls.downgrade.fallback-scsv",
    ]);
    assert_eq!(
        with_status(&results, "skip"),
        expected_skips,
        "{not_passed:#?}"
    );
    assert!(
        with_status(&results, "fail").is_empty() && with_status(&results, "error").is_empty(),
        "{not_passed:#?}"
    );
}

#[test]
fn each_flaw_fails_exactly_its_checks() {
    for flaw in Flaw::ALL {
        let dir = tempfile::tempdir().unwrap();
        let (code, results) = run(&format!("embedded:flaws={}", flaw.name()), dir.path());
        let failed = with_status(&results, "fail");
        let errors: Vec<_> = results.iter().filter(|(_, s, _)| s == "error").collect();
        assert_eq!(failed, expected_failures(flaw), "flaw {}", flaw.name());
        assert!(
            errors.is_empty(),
            "flaw {} caused errors: {errors:#?}",
            flaw.name()
        );
        let expected_code = if expected_failures(flaw).is_empty() {
            0
        } else {
            1
        };
        assert_eq!(code, Some(expected_code), "flaw {}", flaw.name());
    }
}

#[test]
fn without_starttls_the_checks_that_need_it_skip_with_that_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (_, results) = run("embedded:flaws=no-starttls", dir.path());
    let starttls_skips: Vec<_> = results
        .iter()
        .filter(|(id, s, _)| s == "skip" && id.contains(".starttls."))
        .collect();
    assert!(starttls_skips.len() >= 15, "{starttls_skips:#?}");
    assert!(starttls_skips.iter().all(|(_, _, detail)| detail
        .contains("not offered, nothing to test")
        || detail.contains("no login to carry")));
}
