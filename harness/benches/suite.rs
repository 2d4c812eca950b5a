//! Benchmark of the full embedded run: `cargo bench --bench suite`.
//!
//! Measures wall time of what `mailtls run` does with no target: start the reference
//! server, run the whole catalogue against its SMTP, IMAP and POP3 endpoints, stop it;
//! and, separately, the catalogue alone against a server already running.
//! A benchmark, not a timed test: it prints figures and asserts only that the verdicts
//! are the clean server's.

use mailtls::checks::Catalogue;
use mailtls::report::model::Report;
use mailtls::runner::{run, RunOptions};
use mailtls::server::Flaws;
use mailtls::target::embedded::EmbeddedTarget;
use mailtls::target::TargetSpec;
use std::time::Instant;

mod common;

use common::stats;

const ROUNDS: usize = 50;

fn assert_clean(report: &Report) {
    // Skips allowed: tls.downgrade.fallback-scsv has nothing to judge on a TLS 1.2+ server.
    assert_eq!(
        report.summary.pass + report.summary.skip,
        report.summary.total(),
        "{:#?}",
        report.summary
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let catalogue = Catalogue::builtin().expect("catalogue").sorted();
    let options = RunOptions::default();
    runtime.block_on(async {
        let mut whole = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let report = run(
                &[TargetSpec::Embedded(Flaws::default())],
                &catalogue,
                &options,
            )
            .await
            .expect("run");
            whole.push(started.elapsed());
            assert_clean(&report);
        }
        let per_target = catalogue.checks().len();
        stats(
            &format!("embedded run (server start + {per_target} checks)"),
            whole,
        );

        let target = EmbeddedTarget::start(Flaws::default())
            .await
            .expect("server");
        let specs: Vec<_> = target
            .endpoints
            .iter()
            .cloned()
            .map(TargetSpec::Endpoint)
            .collect();
        // Its endpoints named by URL: trust its test CA as the embedded target does.
        let options = RunOptions {
            trust_anchors: vec![target.trust_anchor()],
            ..options.clone()
        };
        let mut checks_only = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let report = run(&specs, &catalogue, &options).await.expect("run");
            checks_only.push(started.elapsed());
            assert_eq!(report.summary.fail + report.summary.error, 0);
        }
        stats(
            &format!("{per_target} checks against a running server"),
            checks_only,
        );
        // The scripted checks alone: the whole catalogue before the TLS checks came.
        let scripts = catalogue.only(&[glob::Pattern::new("[!t]*").expect("glob")]);
        let mut scripts_only = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let report = run(&specs, &scripts, &options).await.expect("run");
            scripts_only.push(started.elapsed());
            assert_eq!(report.summary.fail + report.summary.error, 0);
        }
        stats(
            &format!("{} scripted checks only", scripts.checks().len()),
            scripts_only,
        );
        target.shutdown().await;
    });
}
