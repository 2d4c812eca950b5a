//! The one result model. `report.json` is this, serialized; every other format
//! (JUnit, the terminal summary) is derived from it and computes nothing of its own.

use crate::target::Policy;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The schema tag written into every report; bump it when the shape changes.
pub const SCHEMA: &str = "mailtls-report/1";

/// What a check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The server behaved correctly.
    Pass,
    /// The server misbehaved.
    Fail,
    /// The check does not apply; the detail says why.
    Skip,
    /// The harness could not judge (timeout, refused connection, broken peer framing).
    Error,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
            Outcome::Error => "error",
        })
    }
}

/// How much a failure of the check matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Recorded for information; a failure is not a weakness on its own.
    Info,
    /// A weakness with little practical impact.
    Low,
    /// A weakness an attacker in a good position can use.
    Medium,
    /// Exposes credentials or mail, or lets an attacker inject into the session.
    High,
    /// Exploitable by anyone on the path without effort.
    Critical,
}

impl Severity {
    /// Every severity, from least to most severe.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lower-case name used in scripts and reports.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who a transcript entry is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dir {
    /// Bytes the harness (the client) sent.
    #[serde(rename = "c")]
    Client,
    /// Bytes the server sent.
    #[serde(rename = "s")]
    Server,
    /// A remark of the harness: TLS established, plaintext buffered, a timeout.
    #[serde(rename = "note")]
    Note,
}

/// One entry of a session transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    /// Direction.
    pub dir: Dir,
    /// Milliseconds since the check started.
    pub t_ms: u64,
    /// The bytes (non-text bytes escaped as `\xNN`), or the note's text.
    pub data: String,
}

/// The verdict of one check against one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Stable dotted id, e.g. `smtp.starttls.injection`.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// The verdict.
    pub status: Outcome,
    /// How much a failure matters.
    pub severity: Severity,
    /// RFC sections and CVEs.
    pub references: Vec<String>,
    /// Wall time of the check.
    pub duration_ms: u64,
    /// One line: why this verdict.
    pub detail: String,
    /// Every byte of the session(s) the check used, and the harness's notes.
    pub transcript: Vec<TranscriptEntry>,
    /// Compared with a baseline report (`--baseline`); absent when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineMark>,
}

/// How a result compares with the same check on the same target in a baseline report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineMark {
    /// Fails now and did not fail in the baseline (or was not in it).
    New,
    /// Failed in the baseline and passes now.
    Fixed,
    /// Anything else: still failing, still passing, skipped or not judged.
    Unchanged,
}

impl BaselineMark {
    /// The lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            BaselineMark::New => "new",
            BaselineMark::Fixed => "fixed",
            BaselineMark::Unchanged => "unchanged",
        }
    }
}

/// Every result for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The target URL as run (`smtp://127.0.0.1:2525`).
    pub target: String,
    /// `smtp`, `imap` or `pop3`.
    pub protocol: String,
    /// The TLS policy the target was judged under.
    pub policy: Policy,
    /// False when nothing could be judged because the port did not answer (a
    /// closed port of a whole-host run); absent from JSON when true.
    #[serde(default = "reachable_default", skip_serializing_if = "Clone::clone")]
    pub reachable: bool,
    /// Results in catalogue order.
    pub results: Vec<CheckResult>,
}

fn reachable_default() -> bool {
    true
}

/// Counts by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Checks passed.
    pub pass: usize,
    /// Checks failed.
    pub fail: usize,
    /// Checks skipped.
    pub skip: usize,
    /// Checks the harness could not judge.
    pub error: usize,
}

impl Summary {
    /// Counts the outcomes of every result of every target.
    pub fn of(targets: &[TargetReport]) -> Summary {
        let mut summary = Summary::default();
        for result in targets.iter().flat_map(|t| &t.results) {
            match result.status {
                Outcome::Pass => summary.pass += 1,
                Outcome::Fail => summary.fail += 1,
                Outcome::Skip => summary.skip += 1,
                Outcome::Error => summary.error += 1,
            }
        }
        summary
    }

    /// Total number of results.
    pub fn total(&self) -> usize {
        self.pass + self.fail + self.skip + self.error
    }
}

/// The tool that wrote the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `mailtls`.
    pub name: String,
    /// The crate version.
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: "mailtls".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// A whole run: the contents of `report.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: String,
    /// The tool and its version.
    pub tool: Tool,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// Wall time of the run.
    pub duration_ms: u64,
    /// One entry per target, in the order given.
    pub targets: Vec<TargetReport>,
    /// Counts by outcome over every target.
    pub summary: Summary,
    /// True when the run was interrupted (Ctrl-C) and the report holds only the
    /// checks that had finished; absent from JSON otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

/// What every human-readable format says of an interrupted report.
pub const INTERRUPTED_NOTE: &str =
    "interrupted (Ctrl-C): only the checks that finished before it are in this report";

impl Report {
    /// Builds a report, computing the summary from the results.
    pub fn new(started_at: String, duration_ms: u64, targets: Vec<TargetReport>) -> Report {
        let summary = Summary::of(&targets);
        Report {
            schema: SCHEMA.into(),
            tool: Tool::default(),
            started_at,
            duration_ms,
            targets,
            summary,
            interrupted: false,
        }
    }

    /// Marks the report as cut short by Ctrl-C: it holds only the checks that finished.
    pub fn interrupted(mut self) -> Report {
        self.interrupted = true;
        self
    }
}
