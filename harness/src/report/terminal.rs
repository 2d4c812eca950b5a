//! The compact terminal summary: one line per failed or errored check with its
//! detail, then the counts.

use super::model::{Outcome, Report, INTERRUPTED_NOTE};
use std::fmt::Write as _;

/// Renders the summary printed at the end of `mailtls run`.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    for target in &report.targets {
        for result in &target.results {
            let label = match result.status {
                Outcome::Fail => "FAIL ",
                Outcome::Error => "ERROR",
                Outcome::Pass | Outcome::Skip => continue,
            };
            let _ = writeln!(
                out,
                "{label} {:<44} {} [{}] {}",
                result.id, target.target, result.severity, result.detail
            );
        }
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "{} target(s), {} check(s): {} passed, {} failed, {} skipped, {} errors in {} ms",
        report.targets.len(),
        s.total(),
        s.pass,
        s.fail,
        s.skip,
        s.error,
        report.duration_ms
    );
    if report.interrupted {
        let _ = writeln!(out, "{INTERRUPTED_NOTE}");
    }
    out
}
