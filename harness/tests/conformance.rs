//! `cargo test` against any server: every check × endpoint is its own test,
//! named `<check id>@<target>`, so cargo's filters work as everywhere else:
//!
//! ```sh
//! MAILTLS_TARGET=submission://user:pass@127.0.0.1:587 cargo test --test conformance -- smtp.starttls
//! ```
//!
//! Environment: `MAILTLS_TARGET` (comma-separated targets; default `embedded`, the
//! reference server), `MAILTLS_USER`/`MAILTLS_PASSWORD`, `MAILTLS_RCPT`,
//! `MAILTLS_POLICY`, `MAILTLS_TIMEOUT` (ms), `MAILTLS_SCENARIOS` (a folder of
//! extra scripts). A failing test prints the detail and the transcript; a check
//! that could not judge fails too (it says why); a check that does not apply is
//! reported as ignored, with the reason.

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use mailtls::checks::Catalogue;
use mailtls::report::model::Outcome;
use mailtls::runner::{prepare, RunOptions};
use mailtls::session::transcript::render;
use mailtls::target::{Credentials, TargetSpec};
use std::sync::Arc;
use std::time::Duration;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Set-up trouble ends the run with a failure: a suite that silently ran nothing
/// would look green.
fn die(what: impl std::fmt::Display) -> ! {
    eprintln!("conformance: {what}");
    std::process::exit(101);
}

fn options() -> RunOptions {
    let mut options = RunOptions::default();
    if let (Some(user), Some(password)) = (env("MAILTLS_USER"), env("MAILTLS_PASSWORD")) {
        options.credentials = Some(Credentials { user, password });
    }
    options.rcpt = env("MAILTLS_RCPT");
    if let Some(policy) = env("MAILTLS_POLICY") {
        options.policy = Some(
            policy
                .parse()
                .unwrap_or_else(|e| die(format!("MAILTLS_POLICY: {e}"))),
        );
    }
    if let Some(ms) = env("MAILTLS_TIMEOUT") {
        let ms: u64 = ms
            .parse()
            .unwrap_or_else(|e| die(format!("MAILTLS_TIMEOUT `{ms}`: {e}")));
        options.session.timeout = Duration::from_millis(ms);
    }
    options
}

fn main() {
    let args = Arguments::from_args();
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| die(e)),
    );
    let specs: Vec<TargetSpec> = env("MAILTLS_TARGET")
        .unwrap_or_else(|| "embedded".into())
        .split(',')
        .map(|t| {
            TargetSpec::parse(t.trim()).unwrap_or_else(|e| die(format!("MAILTLS_TARGET: {e}")))
        })
        .collect();
    let mut catalogue = Catalogue::builtin().unwrap_or_else(|e| die(e));
    if let Some(dir) = env("MAILTLS_SCENARIOS") {
        catalogue.load_dir(dir.as_ref()).unwrap_or_else(|e| die(e));
    }
    let catalogue = catalogue.sorted();
    let options = options();
    let prepared = runtime
        .block_on(prepare(&specs, &options))
        .unwrap_or_else(|e| die(e));

    let mut trials = Vec::new();
    for target in &prepared.targets {
        let protocol = target.ctx.endpoint.protocol();
        for check in catalogue.for_protocol(protocol) {
            let name = format!("{}@{}", check.meta().id, target.label);
            let (check, ctx, closed, runtime) = (
                check.clone(),
                target.ctx.clone(),
                target.closed.clone(),
                runtime.clone(),
            );
            let trial = Trial::ignorable_test(name, move || {
                if let Some(reason) = closed {
                    return Ok(Completion::ignored_with(reason));
                }
                let result = runtime.block_on(check.run(&ctx));
                match result.status {
                    Outcome::Pass => Ok(Completion::Completed),
                    Outcome::Skip => Ok(Completion::ignored_with(result.detail)),
                    Outcome::Fail | Outcome::Error => Err(Failed::from(format!(
                        "{}: {}\n\n{}",
                        if result.status == Outcome::Fail {
                            "FAIL"
                        } else {
                            "could not judge"
                        },
                        result.detail,
                        render(&result.transcript, true)
                    ))),
                }
            })
            .with_kind(protocol.name());
            trials.push(trial);
        }
    }
    if trials.is_empty() {
        die("no check applies to the targets given");
    }
    let conclusion = libtest_mimic::run(&args, trials);
    runtime.block_on(prepared.shutdown());
    conclusion.exit();
}
