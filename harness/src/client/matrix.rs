//! The client verdict matrix: for each protocol, one row per client scenario and
//! one column per client profile, read off a `client-test` report (it judges
//! nothing of its own).

use crate::report::model::{Outcome, Report};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Renders the matrix as Markdown tables, one per protocol in report order.
pub fn render(report: &Report) -> String {
    let mut protocols: Vec<&str> = Vec::new();
    for target in &report.targets {
        if !protocols.contains(&target.protocol.as_str()) {
            protocols.push(&target.protocol);
        }
    }
    let mut out = String::new();
    for protocol in protocols {
        let columns: Vec<_> = report
            .targets
            .iter()
            .filter(|t| t.protocol == protocol)
            .collect();
        let mut rows: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (c, target) in columns.iter().enumerate() {
            for result in &target.results {
                let row = rows
                    .entry(result.id.as_str())
                    .or_insert_with(|| vec!["—"; columns.len()]);
                row[c] = match result.status {
                    Outcome::Pass => "pass",
                    Outcome::Fail => "**FAIL**",
                    Outcome::Skip => "skip",
                    Outcome::Error => "error",
                };
            }
        }
        let names: Vec<&str> = columns
            .iter()
            .map(|t| t.target.trim_start_matches("client:"))
            .collect();
        let _ = writeln!(out, "| {protocol} scenario | {} |", names.join(" | "));
        let _ = writeln!(out, "|---|{}", "---|".repeat(names.len()));
        for (id, cells) in rows {
            let _ = writeln!(out, "| `{id}` | {} |", cells.join(" | "));
        }
        out.push('\n');
    }
    out
}
