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
use std::time::{Duration, Instant};

const ROUNDS: usize = 50;

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<40} n={:<4} min {:>7.2} ms  median {:>7.2} ms  p90 {:>7.2} ms  max {:>7.2} ms",
        samples.len(),
        ms(samples[0]),
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(samples[samples.len() - 1])
    );
}

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
        let mut checks = 0;
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
            checks = report.summary.total();
        }
        stats(
            &format!("embedded run (server start + {checks} results)"),
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
        let with_rcpt = RunOptions {
            rcpt: Some(target.rcpt.clone()),
            credentials: target.endpoints[0].credentials.clone(),
            ..RunOptions::default()
        };
        let mut checks_only = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let report = run(&specs, &catalogue, &with_rcpt).await.expect("run");
            checks_only.push(started.elapsed());
            assert_eq!(report.summary.fail + report.summary.error, 0);
        }
        stats(
            &format!("{checks} results against a running server"),
            checks_only,
        );
        target.shutdown().await;
    });
}
