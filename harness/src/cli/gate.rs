//! The exit code of a finished run under `--fail-on`.

use super::args::FailOn;
use super::exit;
use crate::report::model::{BaselineMark, Report};
use crate::report::overview;

/// `--fail-on any`: [`exit::for_report`]. `--fail-on new`: 1 only when a result is
/// marked new against the baseline; otherwise 3 when something could not be judged,
/// else 0.
pub fn exit_code(report: &Report, fail_on: FailOn) -> u8 {
    match fail_on {
        FailOn::Any => exit::for_report(report),
        FailOn::New => {
            let new = overview::results(report).any(|(_, r)| r.baseline == Some(BaselineMark::New));
            if new {
                exit::FAILED
            } else if report.summary.error > 0 || exit::nothing_answered(report) {
                exit::UNREACHABLE
            } else {
                exit::OK
            }
        }
    }
}
