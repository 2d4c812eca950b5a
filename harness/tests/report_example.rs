//! `reports/example/` is a real run against the reference server with two flaws on,
//! in every format. This test regenerates it and fails when the committed files are
//! stale, so the example never lies. `MAILTLS_UPDATE_EXAMPLE=1 cargo test --test
//! report_example` rewrites them.

mod report_support;

use mailtls::report::write::{write_report, Format};
use std::path::PathBuf;

const TARGET: &str = "embedded:flaws=starttls-injection,plaintext-auth";
const FORMATS: [Format; 5] = [
    Format::Json,
    Format::Junit,
    Format::Sarif,
    Format::Html,
    Format::Md,
];

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../reports/example")
}

#[tokio::test]
async fn committed_example_report_is_current() {
    let report = report_support::normalise(report_support::run_embedded(TARGET).await);
    assert!(report.summary.fail > 0, "the example should show failures");
    let update = std::env::var("MAILTLS_UPDATE_EXAMPLE").is_ok_and(|v| v == "1");
    if update {
        write_report(&report, &example_dir(), &FORMATS).expect("write the example");
        return;
    }
    let fresh = tempfile::tempdir().unwrap();
    write_report(&report, fresh.path(), &FORMATS).expect("render the example");
    let mut stale = Vec::new();
    for format in FORMATS {
        let name = format.file_name();
        let want = std::fs::read_to_string(fresh.path().join(name)).unwrap();
        let have = std::fs::read_to_string(example_dir().join(name)).unwrap_or_default();
        if want != have {
            let line = want
                .lines()
                .zip(have.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "length".to_string(), |i| format!("line {}", i + 1));
            stale.push(format!("{name} (first difference: {line})"));
        }
    }
    assert!(
        stale.is_empty(),
        "reports/example/ is stale: {}.\nRegenerate it with: MAILTLS_UPDATE_EXAMPLE=1 cargo test --test report_example",
        stale.join(", ")
    );
}

#[tokio::test]
async fn normalised_runs_are_identical() {
    let a = report_support::normalise(report_support::run_embedded(TARGET).await);
    let b = report_support::normalise(report_support::run_embedded(TARGET).await);
    assert_eq!(a, b);
}
