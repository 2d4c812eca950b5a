//! Every check proven both ways: the suite against the reference server passes
//! clean, and each flaw alone makes exactly its own checks fail — no more, no fewer.

use mailtls::checks::Catalogue;
use mailtls::report::model::{Outcome, Report};
use mailtls::runner::{run, RunOptions};
use mailtls::server::{Flaw, Flaws};
use mailtls::target::TargetSpec;
use std::collections::BTreeSet;

async fn run_with(flaws: Flaws) -> Report {
    let catalogue = Catalogue::builtin()
        .expect("built-in scenarios parse")
        .sorted();
    run(
        &[TargetSpec::Embedded(flaws)],
        &catalogue,
        &RunOptions::default(),
    )
    .await
    .expect("the embedded server starts")
}

fn with_status(report: &Report, status: Outcome) -> BTreeSet<String> {
    report
        .targets
        .iter()
        .flat_map(|t| &t.results)
        .filter(|r| r.status == status)
        .map(|r| r.id.clone())
        .collect()
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The checks each flaw must fail, and nothing else.
fn expected_failures(flaw: Flaw) -> BTreeSet<String> {
    let per_protocol = |check: &str| -> BTreeSet<String> {
        ["smtp", "imap", "pop3"]
            .iter()
            .map(|p| format!("{p}.{check}"))
            .collect()
    };
    match flaw {
        Flaw::NoStarttls => per_protocol("starttls.offered"),
        Flaw::StarttlsInjection => per_protocol("starttls.injection"),
        Flaw::PlaintextAuth => per_protocol("auth.no-plaintext-before-tls"),
        Flaw::StaleCapabilities => per_protocol("starttls.capabilities-refreshed"),
        Flaw::StateNotReset => ids(&["smtp.starttls.state-reset"]),
        // The TLS checks run on every endpoint (smtp, imap, pop3 here) under one id.
        Flaw::ExpiredCert => ids(&["tls.cert.validity"]),
        Flaw::WrongHostCert => ids(&["tls.cert.hostname"]),
        Flaw::SelfSignedCert => ids(&["tls.cert.trusted"]),
        Flaw::WeakKeyCert => ids(&["tls.cert.key-strength"]),
        Flaw::Tls12Only => ids(&["tls.version.tls13"]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_server_passes_every_check() {
    let report = run_with(Flaws::default()).await;
    let results: Vec<_> = report.targets.iter().flat_map(|t| &t.results).collect();
    assert!(results.len() >= 16, "only {} results", results.len());
    let protocols: BTreeSet<_> = report.targets.iter().map(|t| t.protocol.as_str()).collect();
    assert_eq!(protocols, BTreeSet::from(["imap", "pop3", "smtp"]));
    // Only TLS 1.2 and 1.3 are spoken: there is no fallback to protect (RFC 8996).
    let may_skip = ["tls.downgrade.fallback-scsv"];
    let not_passed: Vec<_> = results
        .iter()
        .filter(|r| r.status != Outcome::Pass)
        .filter(|r| !(r.status == Outcome::Skip && may_skip.contains(&r.id.as_str())))
        .map(|r| format!("{} {} {}", r.id, r.status, r.detail))
        .collect();
    assert!(not_passed.is_empty(), "{not_passed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flaw_fails_exactly_its_checks() {
    for flaw in Flaw::ALL {
        let mut flaws = Flaws::default();
        flaws.insert(flaw);
        let report = run_with(flaws).await;
        let failed = with_status(&report, Outcome::Fail);
        let errors = with_status(&report, Outcome::Error);
        assert_eq!(
            failed,
            expected_failures(flaw),
            "flaw {}: {report:#?}",
            flaw.name()
        );
        assert!(
            errors.is_empty(),
            "flaw {} caused errors: {errors:?}",
            flaw.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_starttls_the_checks_that_need_it_skip_with_that_reason() {
    let mut flaws = Flaws::default();
    flaws.insert(Flaw::NoStarttls);
    let report = run_with(flaws).await;
    let skipped: Vec<_> = report
        .targets
        .iter()
        .flat_map(|t| &t.results)
        .filter(|r| r.status == Outcome::Skip)
        .collect();
    // 10 STARTTLS checks, and every TLS check on each of the three endpoints.
    let tls_checks = mailtls::checks::tls::all().len();
    assert_eq!(skipped.len(), 10 + 3 * tls_checks, "{skipped:#?}");
    assert!(skipped
        .iter()
        .all(|r| r.detail.contains("not offered, nothing to test")));
}
