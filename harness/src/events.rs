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
