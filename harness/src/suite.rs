//! The catalogue from Rust code, for people who write their own tests:
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), mailtls::SuiteError> {
//! let outcome = mailtls::Suite::new("embedded")?   // or "submission://127.0.0.1:2587"
//!     .only("smtp.starttls.*")?
//!     .run()
//!     .await?;
//! outcome.assert_passed();                        // panics with details and transcripts
//! assert!(outcome.results("smtp.starttls.injection").iter().all(|r| r.status == mailtls::report::Outcome::Pass));
//! # Ok(()) }
//! ```

use crate::checks::{Catalogue, CatalogueError};
use crate::report::model::{CheckResult, Outcome, Report, TargetReport};
use crate::report::terminal;
use crate::runner::{self, RunError, RunOptions};
use crate::session::transcript::render;
use crate::target::{Credentials, Policy, TargetError, TargetSpec};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Why a suite could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// A target that is not a target.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A bad `only` pattern.
    #[error("`{pattern}` is not a glob: {reason}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A scenario script that does not parse.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// The run could not start.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// A set of checks against a set of targets, ready to run.
#[derive(Debug, Clone)]
pub struct Suite {
    targets: Vec<TargetSpec>,
    only: Vec<glob::Pattern>,
    scenario_dirs: Vec<PathBuf>,
    options: RunOptions,
}

impl Suite {
    /// Every check against `target` (a URL, `embedded[:flaws=...][:behaviours=...]` or `host:NAME`).
    pub fn new(target: &str) -> Result<Suite, SuiteError> {
        Ok(Suite {
            targets: vec![TargetSpec::parse(target)?],
            only: Vec::new(),
            scenario_dirs: Vec::new(),
            options: RunOptions::default(),
        })
    }

    /// Adds another target.
    pub fn target(mut self, target: &str) -> Result<Suite, SuiteError> {
        self.targets.push(TargetSpec::parse(target)?);
        Ok(self)
    }

    /// Keeps only the checks whose id matches `glob` (repeatable: any may match).
    pub fn only(mut self, glob: &str) -> Result<Suite, SuiteError> {
        let pattern = glob::Pattern::new(glob).map_err(|e| SuiteError::Glob {
            pattern: glob.into(),
            reason: e.to_string(),
        })?;
        self.only.push(pattern);
        Ok(self)
    }

    /// Credentials for targets whose URL has none.
    pub fn credentials(mut self, user: &str, password: &str) -> Suite {
        self.options.credentials = Some(Credentials {
            user: user.into(),
            password: password.into(),
        });
        self
    }

    /// A recipient the servers accept, for checks that send mail.
    pub fn rcpt(mut self, rcpt: &str) -> Suite {
        self.options.rcpt = Some(rcpt.into());
        self
    }

    /// Judges every target under `policy` instead of the one its scheme implies.
    pub fn policy(mut self, policy: Policy) -> Suite {
        self.options.policy = Some(policy);
        self
    }

    /// The deadline for connecting, handshakes and each silence of the server.
    pub fn timeout(mut self, timeout: Duration) -> Suite {
        self.options.session.timeout = timeout;
        self
    }

    /// Also runs the scenario scripts under `dir`.
    pub fn scenarios(mut self, dir: impl Into<PathBuf>) -> Suite {
        self.scenario_dirs.push(dir.into());
        self
    }

    /// Runs the checks and returns what they found.
    pub async fn run(self) -> Result<SuiteReport, SuiteError> {
        let mut catalogue = Catalogue::builtin()?;
        for dir in &self.scenario_dirs {
            catalogue.load_dir(dir)?;
        }
        let catalogue = catalogue.only(&self.only).sorted();
        let report = runner::run(&self.targets, &catalogue, &self.options).await?;
        Ok(SuiteReport { report })
    }
}

/// What a suite found: the report, with ways to assert on it.
#[derive(Debug, Clone)]
pub struct SuiteReport {
    /// The full report, as `report.json` would hold it.
    pub report: Report,
}

impl SuiteReport {
    /// Every result that failed or could not be judged, with its target.
    pub fn failures(&self) -> impl Iterator<Item = (&TargetReport, &CheckResult)> {
        self.report.targets.iter().flat_map(|t| {
            t.results
                .iter()
                .filter(|r| matches!(r.status, Outcome::Fail | Outcome::Error))
                .map(move |r| (t, r))
        })
    }

    /// The results of one check, one per endpoint it ran on.
    pub fn results(&self, id: &str) -> Vec<&CheckResult> {
        self.report
            .targets
            .iter()
            .flat_map(|t| &t.results)
            .filter(|r| r.id == id)
            .collect()
    }

    /// Whether nothing failed and everything could be judged.
    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// Panics, naming every failed or unjudged check with its detail and
    /// transcript, unless everything passed or was skipped.
    pub fn assert_passed(&self) {
        if self.passed() {
            return;
        }
        let mut message = String::new();
        for (target, result) in self.failures() {
            message.push_str(&format!(
                "{} {} on {}: {}\n{}\n",
                result.status.to_string().to_uppercase(),
                result.id,
                target.target,
                result.detail,
                render(&result.transcript, true)
            ));
        }
        panic!("mailtls checks did not pass:\n{message}");
    }
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&terminal::summary(&self.report))
    }
}
