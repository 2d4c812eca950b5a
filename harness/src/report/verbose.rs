//! `--verbose` on the terminal: the transcript of every failed or errored check,
//! printed before the summary.

use super::model::{Outcome, Report};
use crate::session::transcript::render;
use std::fmt::Write as _;

/// One block per failed or errored check: a header line, then the transcript with times.
pub fn failures(report: &Report) -> String {
    let mut out = String::new();
    for target in &report.targets {
        for result in &target.results {
            if !matches!(result.status, Outcome::Fail | Outcome::Error) {
                continue;
            }
            let _ = writeln!(
                out,
                "── {} {} on {} [{}]: {}",
                result.status.to_string().to_uppercase(),
                result.id,
                target.target,
                result.severity,
                result.detail
            );
            for line in render(&result.transcript, true).lines() {
                let _ = writeln!(out, "   {}", printable(line));
            }
            out.push('\n');
        }
    }
    out
}

/// The terminal must not obey the server: escape sequences and other control
/// characters left in a line are shown as `\u{..}`.
fn printable(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escape_sequences_do_not_reach_the_terminal() {
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    }
}
