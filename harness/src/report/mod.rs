//! Report sinks. `model` is the one result model (`report.json`); every other format
//! is derived from it here and computes nothing of its own.

pub mod baseline;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod overview;
pub mod progress;
pub mod references;
pub mod sarif;
pub mod terminal;
pub mod verbose;
pub mod write;

pub use model::{CheckResult, Outcome, Report, Severity, TargetReport};
