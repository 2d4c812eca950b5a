//! JUnit XML (`junit.xml`) for CI systems: one testsuite per target, one testcase
//! per check; a fail is a `failure`, an error an `error`, a skip `skipped`; the
//! detail is the message and the transcript goes to system-out.

use super::model::{Outcome, Report, INTERRUPTED_NOTE};
use crate::session::transcript::render;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// Renders the report as JUnit XML.
pub fn to_junit(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let mut junit = quick_junit::Report::new("mailtls");
    junit.set_time(Duration::from_millis(report.duration_ms));
    for target in &report.targets {
        let mut suite = TestSuite::new(target.target.as_str());
        if report.interrupted {
            // Checks that never finished have no test case; say why they are missing.
            suite.add_property(quick_junit::Property::new("interrupted", "true"));
            suite.set_system_err(INTERRUPTED_NOTE);
        }
        for result in &target.results {
            let status = match result.status {
                Outcome::Pass => TestCaseStatus::success(),
                Outcome::Skip => {
                    let mut status = TestCaseStatus::skipped();
                    status.set_message(result.detail.as_str());
                    status
                }
                Outcome::Fail | Outcome::Error => {
                    let kind = if result.status == Outcome::Fail {
                        NonSuccessKind::Failure
                    } else {
                        NonSuccessKind::Error
                    };
                    let mut status = TestCaseStatus::non_success(kind);
                    status.set_message(result.detail.as_str());
                    status.set_type(format!("{} severity", result.severity));
                    status
                }
            };
            let mut case = TestCase::new(result.id.as_str(), status);
            case.set_classname(format!("{}.{}", target.protocol, target.target));
            case.set_time(Duration::from_millis(result.duration_ms));
            case.set_system_out(render(&result.transcript, true));
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit.to_string()
}
