//! Facts every human-facing format shows at the top, read off the report: the worst
//! severity among failures and the baseline counts. Nothing here judges anything.

use super::model::{BaselineMark, CheckResult, Outcome, Report, Severity, TargetReport};

/// The most severe failed check, or `None` when nothing failed.
pub fn worst_failure(report: &Report) -> Option<Severity> {
    results(report)
        .filter(|(_, r)| r.status == Outcome::Fail)
        .map(|(_, r)| r.severity)
        .max()
}

/// Every result with its target, in report order.
pub fn results(report: &Report) -> impl Iterator<Item = (&TargetReport, &CheckResult)> {
    report
        .targets
        .iter()
        .flat_map(|t| t.results.iter().map(move |r| (t, r)))
}

/// Counts of baseline marks; all zero when the run had no baseline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BaselineCounts {
    /// Failures the baseline did not have.
    pub new: usize,
    /// Baseline failures that pass now.
    pub fixed: usize,
    /// Everything else that was compared.
    pub unchanged: usize,
}

impl BaselineCounts {
    /// Counts the marks in the report; `None` when no result carries one.
    pub fn of(report: &Report) -> Option<BaselineCounts> {
        let mut counts = BaselineCounts::default();
        let mut any = false;
        for (_, result) in results(report) {
            match result.baseline {
                Some(BaselineMark::New) => counts.new += 1,
                Some(BaselineMark::Fixed) => counts.fixed += 1,
                Some(BaselineMark::Unchanged) => counts.unchanged += 1,
                None => continue,
            }
            any = true;
        }
        any.then_some(counts)
    }
}
