//! Report sinks. `model` is the one result model (`report.json`); every other format
//! is derived from it here and computes nothing of its own.

pub mod junit;
pub mod model;
pub mod terminal;
pub mod write;

pub use model::{CheckResult, Outcome, Report, Severity, TargetReport};
