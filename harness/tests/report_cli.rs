//! Baselines, `mailtls diff`, `--fail-on new`, `--verbose` and the five formats, as
//! users meet them through the binary; what people read is snapshotted (normalised).

mod report_support;

use report_support::stable;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn mailtls(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(args)
        .env_remove("MAILTLS_PASSWORD")
        .env("CI", "true")
        .output()
        .expect("run mailtls")
}

fn run_into(dir: &Path, target: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        target,
        "--report-dir",
        dir.to_str().unwrap(),
        "--format",
        "json,junit,sarif,html,md",
    ];
    args.extend_from_slice(extra);
    mailtls(&args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn writes_all_five_formats_and_nothing_but_the_summary_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_into(dir.path(), "embedded:flaws=starttls-injection", &[]);
    assert_eq!(out.status.code(), Some(1));
    for name in [
        "report.json",
        "junit.xml",
        "report.sarif",
        "report.html",
        "summary.md",
    ] {
        assert!(dir.path().join(name).is_file(), "{name}");
    }
    assert!(out.stderr.is_empty(), "no progress bars off a terminal");
    let json = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    assert!(!json.contains("\"baseline\""), "no baseline, no field");
}

#[test]
fn baseline_gates_only_new_failures_and_diff_says_the_same() {
    let old = tempfile::tempdir().unwrap();
    let same = tempfile::tempdir().unwrap();
    let more = tempfile::tempdir().unwrap();
    let baseline = old.path().join("report.json");
    let baseline = baseline.to_str().unwrap();
    assert_eq!(
        run_into(old.path(), "embedded:flaws=starttls-injection", &[])
            .status
            .code(),
        Some(1)
    );

    let unchanged = run_into(
        same.path(),
        "embedded:flaws=starttls-injection",
        &["--baseline", baseline, "--fail-on", "new"],
    );
    assert_eq!(unchanged.status.code(), Some(0), "{}", stdout(&unchanged));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(same.path().join("report.json")).unwrap())
            .unwrap();
    let marks: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["results"].as_array().unwrap())
        .map(|r| r["baseline"].as_str().unwrap())
        .collect();
    assert!(marks.iter().all(|m| *m == "unchanged"), "{marks:?}");

    let worse = run_into(
        more.path(),
        "embedded:flaws=starttls-injection,state-not-reset",
        &["--baseline", baseline, "--fail-on", "new"],
    );
    assert_eq!(worse.status.code(), Some(1));
    let text = stdout(&worse);
    let named: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("NEW FAILURE"))
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    // One flaw more, one check more: the MX port's state-reset (the submission
    // port refuses MAIL before TLS, so there it skips).
    assert_eq!(named, ["smtp.starttls.state-reset"]);
    insta::assert_snapshot!("run_with_baseline_new_flaw", stable(&text));
    let md = std::fs::read_to_string(more.path().join("summary.md")).unwrap();
    insta::assert_snapshot!("summary_md_with_baseline", stable(&md));

    let new_report = more.path().join("report.json");
    let diff = mailtls(&["diff", baseline, new_report.to_str().unwrap()]);
    assert_eq!(diff.status.code(), Some(1));
    insta::assert_snapshot!("diff_new_flaw", stable(&stdout(&diff)));
    let same_report = same.path().join("report.json");
    let diff = mailtls(&["diff", baseline, same_report.to_str().unwrap()]);
    assert_eq!(diff.status.code(), Some(0), "{}", stdout(&diff));
}

#[test]
fn malformed_baseline_is_exit_2_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("report.json");
    std::fs::write(
        &bad,
        "{\n  \"schema\": \"mailtls-report/1\",\n  \"tool\": oops\n}\n",
    )
    .unwrap();
    let out = mailtls(&[
        "run",
        "--baseline",
        bad.to_str().unwrap(),
        "--report-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr).replace(dir.path().to_str().unwrap(), "DIR");
    insta::assert_snapshot!("malformed_baseline", stderr);
    let out = mailtls(&["diff", bad.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn fail_on_new_needs_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let out = mailtls(&[
        "run",
        "--fail-on",
        "new",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fail-on new needs --baseline"));
}

#[test]
fn verbose_prints_the_transcripts_of_failures() {
    let dir = tempfile::tempdir().unwrap();
    let out = mailtls(&[
        "run",
        "embedded:flaws=starttls-injection",
        "--only",
        "smtp.*",
        "--verbose",
        "--format",
        "json",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("verbose_injection", stable(&stdout(&out)));
}

/// The runner reports every target and check to its observer, as progress bars need.
#[tokio::test]
async fn runner_tells_the_observer_about_every_check() {
    #[derive(Default)]
    struct Count {
        targets: AtomicUsize,
        checks: AtomicUsize,
        finished: AtomicUsize,
        announced: AtomicUsize,
    }
    impl mailtls::events::RunObserver for Count {
        fn target_started(&self, _: usize, _: &str, checks: usize) {
            self.targets.fetch_add(1, Ordering::SeqCst);
            self.announced.fetch_add(checks, Ordering::SeqCst);
        }
        fn check_finished(&self, _: usize, _: &mailtls::report::CheckResult) {
            self.checks.fetch_add(1, Ordering::SeqCst);
        }
        fn target_finished(&self, _: usize) {
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
    }
    let count = Arc::new(Count::default());
    let spec = mailtls::target::TargetSpec::parse("embedded").unwrap();
    let catalogue = mailtls::checks::Catalogue::builtin().unwrap();
    let report = mailtls::runner::run_observed(
        &[spec],
        &catalogue,
        &mailtls::runner::RunOptions::default(),
        count.clone(),
    )
    .await
    .unwrap();
    let total = report.summary.total();
    assert_eq!(count.targets.load(Ordering::SeqCst), report.targets.len());
    assert_eq!(count.finished.load(Ordering::SeqCst), report.targets.len());
    assert_eq!(count.announced.load(Ordering::SeqCst), total);
    assert_eq!(count.checks.load(Ordering::SeqCst), total);
    // The terminal's bars consume the same events without a terminal to draw on.
    let bars = mailtls::report::progress::Bars::to(indicatif::ProgressDrawTarget::hidden());
    let spec = mailtls::target::TargetSpec::parse("embedded").unwrap();
    mailtls::runner::run_observed(&[spec], &catalogue, &Default::default(), Arc::new(bars))
        .await
        .unwrap();
}
