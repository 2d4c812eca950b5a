//! Benchmark of the full embedded run: `cargo bench --bench suite`.
//!
//! Measures wall time of what `mailtls run` does with no target: start the reference
//! server, run the whole catalogue against its MX, submission, IMAP and POP3
//! endpoints, stop it; then the catalogue alone against a server already running,
//! and the checks other than the TLS layer's alone. A benchmark, not a timed test:
//! it prints figures and asserts only that the verdicts are the clean server's.

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

/// The clean server fails nothing and leaves nothing unjudged (checks that do
/// not apply to an endpoint skip).
fn assert_clean(report: &Report) {
    assert_eq!(
        report.summary.fail + report.summary.error,
        0,
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
        let mut results = 0;
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let report = run(
                &[TargetSpec::Embedded(Flaws::default().into())],
                &catalogue,
                &options,
            )
            .await
            .expect("run");
            whole.push(started.elapsed());
            assert_clean(&report);
            results = report.summary.total();
        }
        stats(
            &format!("embedded run (server start + {results} results)"),
            whole,
        );

        let target = EmbeddedTarget::start(Flaws::default().into())
            .await
            .expect("server");
        let specs: Vec<_> = target
            .endpoints
            .iter()
            .cloned()
            .map(TargetSpec::Endpoint)
            .collect();
        // Its endpoints named by URL: give them what the embedded target gives.
        let options = RunOptions {
            trust_anchors: vec![target.trust_anchor()],
            rcpt: Some(target.rcpt.clone()),
            ..options.clone()
        };
        let mut checks_only = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let report = run(&specs, &catalogue, &options).await.expect("run");
            checks_only.push(started.elapsed());
            assert_clean(&report);
        }
        stats(
            &format!("{results} results against a running server"),
            checks_only,
        );
        let protocol_checks = catalogue.only(&[glob::Pattern::new("[!t]*").expect("glob")]);
        let mut protocol_only = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let report = run(&specs, &protocol_checks, &options).await.expect("run");
            protocol_only.push(started.elapsed());
            assert_clean(&report);
        }
        stats(
            &format!(
                "{} protocol checks (no tls.*) only",
                protocol_checks.checks().len()
            ),
            protocol_only,
        );
        target.shutdown().await;
    });
}
