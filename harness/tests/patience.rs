//! Patience proven both ways, through the CLI as users run it: against a reference
//! server that defends itself the way real ones do — a small listen backlog with
//! slow accepts, a per-client connection cap, 421 when busy, a tarpit,
//! greylisting, dropping read-ahead — every check reaches the verdict it reaches
//! against the plain server, with no `error`; and each flaw combined with each
//! behaviour still fails exactly the checks it fails alone.

use mailtls::server::{Behaviour, Flaw};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// (endpoint scheme, check id) -> (status, detail).
type Outcomes = BTreeMap<(String, String), (String, String)>;

/// Runs `mailtls run TARGET [--only ID...]` with default flags; the exit code,
/// the outcomes and how long it took.
fn run(target: &str, only: &[String]) -> (Option<i32>, Outcomes, Duration) {
    run_with(target, only, &[])
}

/// [`run`] with more flags.
fn run_with(target: &str, only: &[String], flags: &[&str]) -> (Option<i32>, Outcomes, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailtls"));
    command.args(["run", target, "--format", "json", "--report-dir"]);
    command.arg(dir.path());
    command.args(flags);
    for id in only {
        command.args(["--only", id]);
    }
    let out = command.output().expect("run mailtls");
    let took = started.elapsed();
    (out.status.code(), outcomes(dir.path()), took)
}

fn outcomes(dir: &Path) -> Outcomes {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut outcomes = Outcomes::new();
    for target in report["targets"].as_array().unwrap() {
        // `smtp://127.0.0.1:40123` -> `smtp`: ports differ from run to run.
        let url = target["target"].as_str().unwrap();
        let scheme = url.split(':').next().unwrap().to_string();
        for result in target["results"].as_array().unwrap() {
            let field = |k: &str| result[k].as_str().unwrap().to_string();
            outcomes.insert(
                (scheme.clone(), field("id")),
                (field("status"), field("detail")),
            );
        }
    }
    outcomes
}

/// Every result whose status differs between the two runs, with both details.
fn differences(expected: &Outcomes, got: &Outcomes) -> Vec<String> {
    let mut keys: Vec<_> = expected.keys().chain(got.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let want = expected.get(key).map(|(s, _)| s.as_str());
            let have = got.get(key).map(|(s, _)| s.as_str());
            (want != have).then(|| {
                format!(
                    "{} {}: expected {} ({}), got {} ({})",
                    key.0,
                    key.1,
                    want.unwrap_or("nothing"),
                    expected.get(key).map_or("", |(_, d)| d.as_str()),
                    have.unwrap_or("nothing"),
                    got.get(key).map_or("", |(_, d)| d.as_str()),
                )
            })
        })
        .collect()
}

fn errors(outcomes: &Outcomes) -> Vec<String> {
    outcomes
        .iter()
        .filter(|(_, (status, _))| status == "error")
        .map(|((scheme, id), (_, detail))| format!("{scheme} {id}: {detail}"))
        .collect()
}

/// Runs `jobs` closures a few at a time: the runs mostly wait (tarpits, back-offs).
fn in_parallel<T: Send>(jobs: Vec<Box<dyn FnOnce() -> T + Send + '_>>) -> Vec<T> {
    const AT_ONCE: usize = 3;
    let mut results = Vec::new();
    let mut jobs = jobs.into_iter();
    loop {
        let batch: Vec<_> = jobs.by_ref().take(AT_ONCE).collect();
        if batch.is_empty() {
            return results;
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = batch.into_iter().map(|job| scope.spawn(job)).collect();
            results.extend(handles.into_iter().map(|h| h.join().expect("run thread")));
        });
    }
}

#[test]
fn every_behaviour_reaches_the_plain_servers_verdicts_without_error() {
    let (_, plain, _) = run("embedded", &[]);
    assert!(plain.len() >= 100, "only {} results", plain.len());
    assert!(errors(&plain).is_empty(), "{:#?}", errors(&plain));
    let mut targets: Vec<String> = Behaviour::ALL
        .iter()
        .map(|b| format!("embedded:behaviours={}", b.name()))
        .collect();
    targets.push("embedded:behaviours=small-backlog,conn-cap,busy,tarpit,greylist".into());
    let runs = in_parallel(
        targets
            .iter()
            .map(|target| {
                Box::new(move || (target.clone(), run(target, &[])))
                    as Box<dyn FnOnce() -> _ + Send>
            })
            .collect(),
    );
    for (target, (code, got, _)) in runs {
        let differ = differences(&plain, &got);
        assert!(differ.is_empty(), "{target}: {differ:#?}");
        assert!(errors(&got).is_empty(), "{target}: {:#?}", errors(&got));
        assert_eq!(code, Some(0), "{target}");
    }
}

#[test]
fn each_flaw_with_each_behaviour_fails_exactly_its_checks() {
    let flaws: Vec<Flaw> = Flaw::ALL
        .into_iter()
        .filter(|f| *f != Flaw::PostStarttlsCrash)
        .collect();
    // What each flaw does alone, and which checks it fails.
    let alone: Vec<Outcomes> = in_parallel(
        flaws
            .iter()
            .map(|flaw| {
                Box::new(move || run(&format!("embedded:flaws={}", flaw.name()), &[]).1)
                    as Box<dyn FnOnce() -> _ + Send>
            })
            .collect(),
    );
    let mut combos = Vec::new();
    for (flaw, outcomes) in flaws.iter().zip(&alone) {
        let mut failing: Vec<String> = outcomes
            .iter()
            .filter(|(_, (status, _))| status == "fail")
            .map(|((_, id), _)| id.clone())
            .collect();
        failing.sort();
        failing.dedup();
        assert!(!failing.is_empty(), "flaw {} fails nothing", flaw.name());
        let expected: Outcomes = outcomes
            .iter()
            .filter(|((_, id), _)| failing.contains(id))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for behaviour in Behaviour::ALL {
            combos.push((*flaw, behaviour, failing.clone(), expected.clone()));
        }
    }
    let runs = in_parallel(
        combos
            .iter()
            .map(|(flaw, behaviour, failing, _)| {
                Box::new(move || {
                    let target = format!(
                        "embedded:flaws={}:behaviours={}",
                        flaw.name(),
                        behaviour.name()
                    );
                    run(&target, failing).1
                }) as Box<dyn FnOnce() -> _ + Send>
            })
            .collect(),
    );
    let mut wrong = Vec::new();
    for ((flaw, behaviour, _, expected), got) in combos.iter().zip(runs) {
        for difference in differences(expected, &got) {
            wrong.push(format!(
                "{} + {}: {difference}",
                flaw.name(),
                behaviour.name()
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn a_tarpit_slower_than_the_timeout_is_waited_out() {
    // The tarpit greets after 600 ms; with a 500 ms timeout every first greeting
    // times out, and the governor learns to wait longer.
    let (_, plain, _) = run("embedded", &[]);
    let (code, got, _) = run_with("embedded:behaviours=tarpit", &[], &["--timeout", "500"]);
    let differ = differences(&plain, &got);
    assert!(differ.is_empty(), "{differ:#?}");
    assert!(errors(&got).is_empty(), "{:#?}", errors(&got));
    assert_eq!(code, Some(0));
}

#[test]
fn a_server_capped_at_two_connections_per_client_is_judged_in_time() {
    let (code, got, took) = run("embedded:behaviours=conn-cap", &[]);
    assert!(errors(&got).is_empty(), "{:#?}", errors(&got));
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoint_ever_sees_more_connections_than_jobs() {
    use mailtls::checks::Catalogue;
    use mailtls::runner::{prepare, run_target, RunOptions};
    use mailtls::target::TargetSpec;
    let catalogue = Catalogue::builtin().unwrap();
    for jobs in [2, RunOptions::default().jobs] {
        let options = RunOptions {
            jobs,
            ..RunOptions::default()
        };
        let spec = TargetSpec::parse("embedded:behaviours=conn-cap").unwrap();
        let prepared = prepare(&[spec], &options).await.unwrap();
        for target in &prepared.targets {
            let report = run_target(&catalogue, target, jobs).await;
            let errors: Vec<_> = report
                .results
                .iter()
                .filter(|r| r.status == mailtls::report::model::Outcome::Error)
                .map(|r| format!("{}: {}", r.id, r.detail))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:#?}", target.label);
            let peak = target.ctx.governor.peak();
            assert!(
                (1..=jobs).contains(&peak),
                "{}: {peak} connections at once with --jobs {jobs}",
                target.label
            );
        }
        prepared.shutdown().await;
    }
}
