//! Progress bars on the terminal, one per target, while checks run: an observer of
//! the runner's events. Shown only when stderr is a terminal and not under `CI=true`.

use crate::events::RunObserver;
use crate::report::model::{CheckResult, Outcome};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::Mutex;

/// Whether progress bars belong on this terminal: stderr is a terminal and the
/// `CI` variable is not `true` (or `1`).
pub fn wanted() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    std::io::stderr().is_terminal() && !ci
}

/// One bar per target on stderr; failures counted in the bar's message.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<usize, (ProgressBar, usize)>>,
}

impl Bars {
    /// Bars drawn to stderr.
    pub fn new() -> Bars {
        Bars::to(ProgressDrawTarget::stderr())
    }

    /// Bars drawn to `target` (hidden in tests).
    pub fn to(target: ProgressDrawTarget) -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn style() -> ProgressStyle {
        ProgressStyle::with_template("{prefix:<32} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
    }

    /// Removes every bar, leaving the terminal clean for the summary.
    pub fn clear(&self) {
        let _ = self.multi.clear();
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl RunObserver for Bars {
    fn target_started(&self, index: usize, target: &str, checks: usize) {
        let bar = self.multi.add(ProgressBar::new(checks as u64));
        bar.set_style(Bars::style());
        bar.set_prefix(target.to_string());
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(index, (bar, 0));
        }
    }

    fn check_finished(&self, index: usize, result: &CheckResult) {
        if let Ok(mut bars) = self.bars.lock() {
            if let Some((bar, failed)) = bars.get_mut(&index) {
                if result.status == Outcome::Fail {
                    *failed += 1;
                    bar.set_message(format!("{failed} failed"));
                }
                bar.inc(1);
            }
        }
    }

    fn target_finished(&self, index: usize) {
        if let Ok(bars) = self.bars.lock() {
            if let Some((bar, _)) = bars.get(&index) {
                bar.finish();
            }
        }
    }
}
