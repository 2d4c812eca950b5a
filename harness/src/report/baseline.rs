//! Baselines: an earlier `report.json` against which each result is marked `new`
//! (fails now, did not fail then), `fixed` (failed then, passes now) or `unchanged`.
//! `mailtls run --baseline` writes the marks into the report; `mailtls diff` prints
//! the same comparison. Results are matched by check id and target; a target whose
//! URL is not in the baseline is matched to one that differs only in the port (the
//! embedded server's ports change on every run).

use super::model::{BaselineMark, CheckResult, Outcome, Report, Severity, SCHEMA};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Why a baseline report could not be read. An input error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read baseline {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a mailtls report.
    #[error("{path}:{line}:{column}: not a mailtls report: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// serde_json's explanation, without its position.
        message: String,
    },
    /// A report of another schema version.
    #[error("{path}: schema `{found}` is not `{SCHEMA}`")]
    Schema {
        /// The file.
        path: PathBuf,
        /// The schema it declares.
        found: String,
    },
}

/// Reads a `report.json`.
pub fn load(path: &Path) -> Result<Report, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let report: Report = serde_json::from_str(&text).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        LoadError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
        }
    })?;
    if report.schema != SCHEMA {
        return Err(LoadError::Schema {
            path: path.to_path_buf(),
            found: report.schema,
        });
    }
    Ok(report)
}

/// The mark a result earns, given its outcome in the baseline (if it was there).
pub fn mark(before: Option<Outcome>, after: Outcome) -> BaselineMark {
    match (before, after) {
        (before, Outcome::Fail) if before != Some(Outcome::Fail) => BaselineMark::New,
        (Some(Outcome::Fail), Outcome::Pass) => BaselineMark::Fixed,
        _ => BaselineMark::Unchanged,
    }
}

/// One check on one target, before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The check id.
    pub id: String,
    /// The target as in the newer report (the older one's when the check is gone).
    pub target: String,
    /// Severity as last reported.
    pub severity: Severity,
    /// Outcome in the baseline; `None` when the check was not run then.
    pub before: Option<Outcome>,
    /// Outcome now; `None` when the check is no longer run.
    pub after: Option<Outcome>,
    /// The latest detail.
    pub detail: String,
}

impl Change {
    /// The mark of the newer result; `None` when the check is gone.
    pub fn mark(&self) -> Option<BaselineMark> {
        self.after.map(|after| mark(self.before, after))
    }
}

/// Every result of both reports, paired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// In the newer report's order, then the checks that are gone.
    pub changes: Vec<Change>,
}

impl Comparison {
    /// Pairs the results of `old` and `new`.
    pub fn of(old: &Report, new: &Report) -> Comparison {
        let pairs = pair_targets(old, new);
        let mut changes = Vec::new();
        let mut used: Vec<Vec<bool>> = old
            .targets
            .iter()
            .map(|t| vec![false; t.results.len()])
            .collect();
        for (n, target) in new.targets.iter().enumerate() {
            let old_target = pairs.get(&n).map(|&o| (o, &old.targets[o]));
            for result in &target.results {
                let before = old_target.and_then(|(o, t)| {
                    let i = t.results.iter().position(|r| r.id == result.id)?;
                    used[o][i] = true;
                    Some(t.results[i].status)
                });
                changes.push(change(&target.target, result, before, Some(result.status)));
            }
        }
        for (o, target) in old.targets.iter().enumerate() {
            for (i, result) in target.results.iter().enumerate() {
                if !used[o][i] {
                    changes.push(change(&target.target, result, Some(result.status), None));
                }
            }
        }
        Comparison { changes }
    }

    /// Changes with this mark.
    pub fn marked(&self, mark: BaselineMark) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.mark() == Some(mark))
    }

    /// Failures in the baseline whose check is no longer run.
    pub fn gone_failures(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.after.is_none() && c.before == Some(Outcome::Fail))
    }
}

fn change(
    target: &str,
    result: &CheckResult,
    before: Option<Outcome>,
    after: Option<Outcome>,
) -> Change {
    Change {
        id: result.id.clone(),
        target: target.to_string(),
        severity: result.severity,
        before,
        after,
        detail: result.detail.clone(),
    }
}

/// Writes the marks of `baseline` into `report`'s results.
pub fn apply(report: &mut Report, baseline: &Report) {
    let comparison = Comparison::of(baseline, report);
    let mut marks = comparison.changes.iter().filter_map(Change::mark);
    for result in report.targets.iter_mut().flat_map(|t| &mut t.results) {
        result.baseline = marks.next();
    }
}

/// Index of the new report's targets to the old report's: the same URL first, then
/// the same URL but for the port, in order.
fn pair_targets(old: &Report, new: &Report) -> HashMap<usize, usize> {
    let mut pairs = HashMap::new();
    let mut taken = vec![false; old.targets.len()];
    for (n, target) in new.targets.iter().enumerate() {
        if let Some(o) =
            (0..old.targets.len()).find(|&o| !taken[o] && old.targets[o].target == target.target)
        {
            taken[o] = true;
            pairs.insert(n, o);
        }
    }
    for (n, target) in new.targets.iter().enumerate() {
        if pairs.contains_key(&n) {
            continue;
        }
        let key = without_port(&target.target);
        if let Some(o) = (0..old.targets.len())
            .find(|&o| !taken[o] && without_port(&old.targets[o].target) == key)
        {
            taken[o] = true;
            pairs.insert(n, o);
        }
    }
    pairs
}

/// `smtp://127.0.0.1:2525/x` → `smtp://127.0.0.1/x`; `[::1]:25` keeps its brackets.
fn without_port(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    format!("{scheme}://{host}{path}")
}

/// How much of the comparison to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// New failures, fixes and other changes of outcome (after `mailtls run`).
    Changes,
    /// Also every check that still fails (`mailtls diff`).
    WithStillFailing,
}

/// The comparison for a person: one line per change, then the counts.
pub fn render(comparison: &Comparison, detail: Detail) -> String {
    let mut out = String::new();
    let mut counts = [0usize; 4];
    for c in &comparison.changes {
        let label = match (c.before, c.after) {
            (_, Some(after)) => match mark(c.before, after) {
                BaselineMark::New => {
                    counts[0] += 1;
                    "NEW FAILURE"
                }
                BaselineMark::Fixed => {
                    counts[1] += 1;
                    "FIXED"
                }
                BaselineMark::Unchanged if after == Outcome::Fail => {
                    counts[2] += 1;
                    if detail == Detail::Changes {
                        continue;
                    }
                    "STILL FAILS"
                }
                BaselineMark::Unchanged if c.before.is_some_and(|b| b != after) => "CHANGED",
                BaselineMark::Unchanged => {
                    counts[3] += 1;
                    continue;
                }
            },
            (Some(Outcome::Fail), None) => "GONE",
            (_, None) => continue,
        };
        let _ = writeln!(
            out,
            "{label:<11} {:<44} {} [{}] {} — {}",
            c.id,
            c.target,
            c.severity,
            transition(c.before, c.after),
            c.detail
        );
    }
    let _ = writeln!(
        out,
        "against the baseline: {} new failure(s), {} fixed, {} still failing, {} unchanged otherwise",
        counts[0], counts[1], counts[2], counts[3]
    );
    out
}

fn transition(before: Option<Outcome>, after: Option<Outcome>) -> String {
    let name = |o: Option<Outcome>| o.map_or("absent".to_string(), |o| o.to_string());
    format!("{} → {}", name(before), name(after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_new_fixed_and_unchanged() {
        use Outcome::*;
        assert_eq!(mark(None, Fail), BaselineMark::New);
        assert_eq!(mark(Some(Pass), Fail), BaselineMark::New);
        assert_eq!(mark(Some(Error), Fail), BaselineMark::New);
        assert_eq!(mark(Some(Fail), Fail), BaselineMark::Unchanged);
        assert_eq!(mark(Some(Fail), Pass), BaselineMark::Fixed);
        assert_eq!(mark(Some(Fail), Error), BaselineMark::Unchanged);
        assert_eq!(mark(Some(Pass), Pass), BaselineMark::Unchanged);
    }

    #[test]
    fn strips_only_a_numeric_port() {
        assert_eq!(without_port("smtp://127.0.0.1:2525"), "smtp://127.0.0.1");
        assert_eq!(without_port("smtp://[::1]:25/x"), "smtp://[::1]/x");
        assert_eq!(without_port("smtp://[::1]"), "smtp://[::1]");
        assert_eq!(without_port("embedded"), "embedded");
    }
}
