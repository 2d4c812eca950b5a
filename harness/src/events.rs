//! What the runner tells an observer while it works: a target starts with so many
//! checks, a check finishes, a target is done. The terminal's progress bars are one
//! observer (`report::progress`); the runner knows nothing about terminals.

use crate::report::model::CheckResult;

/// Receives run events. Called from the runner's tasks, so it must be `Send + Sync`
/// and quick; every method does nothing by default.
pub trait RunObserver: Send + Sync {
    /// Target number `index` (in report order) starts with `checks` checks.
    fn target_started(&self, index: usize, target: &str, checks: usize) {
        let _ = (index, target, checks);
    }

    /// A check of target `index` finished.
    fn check_finished(&self, index: usize, result: &CheckResult) {
        let _ = (index, result);
    }

    /// Every check of target `index` finished.
    fn target_finished(&self, index: usize) {
        let _ = index;
    }
}

/// The observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl RunObserver for NoObserver {}

/// Keeps every finished result, so that a run cut short (Ctrl-C) can still report
/// what it judged; passes every event on to `inner` (the progress bars).
pub struct Gathered {
    inner: std::sync::Arc<dyn RunObserver>,
    targets: std::sync::Mutex<std::collections::BTreeMap<usize, GatheredTarget>>,
}

/// What one target has finished so far.
#[derive(Debug, Clone, Default)]
pub struct GatheredTarget {
    /// The target as the runner names it (its URL).
    pub target: String,
    /// The checks it has to run.
    pub checks: usize,
    /// The results of the checks that finished, in the order they finished.
    pub results: Vec<CheckResult>,
}

impl Gathered {
    /// Gathers results and tells `inner` everything.
    pub fn new(inner: std::sync::Arc<dyn RunObserver>) -> Gathered {
        Gathered {
            inner,
            targets: std::sync::Mutex::default(),
        }
    }

    /// Every target started so far, in report order.
    pub fn targets(&self) -> Vec<GatheredTarget> {
        self.targets
            .lock()
            .map(|targets| targets.values().cloned().collect())
            .unwrap_or_default()
    }
}

impl RunObserver for Gathered {
    fn target_started(&self, index: usize, target: &str, checks: usize) {
        if let Ok(mut targets) = self.targets.lock() {
            targets.insert(
                index,
                GatheredTarget {
                    target: target.to_string(),
                    checks,
                    results: Vec::new(),
                },
            );
        }
        self.inner.target_started(index, target, checks);
    }

    fn check_finished(&self, index: usize, result: &CheckResult) {
        if let Ok(mut targets) = self.targets.lock() {
            if let Some(target) = targets.get_mut(&index) {
                target.results.push(result.clone());
            }
        }
        self.inner.check_finished(index, result);
    }

    fn target_finished(&self, index: usize) {
        self.inner.target_finished(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Outcome, Severity};

    fn result(id: &str) -> CheckResult {
        CheckResult {
            id: id.into(),
            title: id.into(),
            status: Outcome::Pass,
            severity: Severity::Low,
            references: Vec::new(),
            duration_ms: 1,
            detail: String::new(),
            transcript: Vec::new(),
            baseline: None,
        }
    }

    #[test]
    fn gathered_keeps_finished_results_per_target_in_report_order() {
        let gathered = Gathered::new(std::sync::Arc::new(NoObserver));
        gathered.target_started(1, "imap://b", 2);
        gathered.target_started(0, "smtp://a", 3);
        gathered.check_finished(1, &result("imap.x"));
        gathered.check_finished(0, &result("smtp.y"));
        gathered.check_finished(0, &result("smtp.z"));
        let targets = gathered.targets();
        let summary: Vec<(&str, usize, usize)> = targets
            .iter()
            .map(|t| (t.target.as_str(), t.checks, t.results.len()))
            .collect();
        assert_eq!(summary, [("smtp://a", 3, 2), ("imap://b", 2, 1)]);
    }
}
