//! The check catalogue: every check with its stable id, built-in scripts first, then
//! any the user adds. A check is a scenario script; checks a script cannot express
//! join as Rust code through the same [`Check`] type, with the same ids, outcomes and
//! transcripts.

pub mod auth_plaintext;
pub mod context;
mod dialog;
pub mod native;
pub mod smuggling;
pub mod tls;

pub use context::{skip_reason, CheckContext, Verdict, CHECK_ATTEMPTS, CONFIRMATIONS};
pub use native::NativeCheck;

use crate::report::model::{CheckResult, Outcome};
use crate::scenario::{self, Meta, Scenario, ScenarioError};
use crate::session::conn::CheckDeadline;
use crate::target::Protocol;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_scenarios.rs"));
}

/// The least wait before a check the server interrupted runs again, times the
/// attempts so far.
const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// After this many tries the least wait grows no more.
const BUSY_PAUSE_GROWTH: u32 = 3;

/// The time budget of one check, in read timeouts (`--timeout`), from when it
/// starts (after waiting for its turn among `--jobs`) to its verdict. It must not
/// cut a check that a slow but honest server keeps busy, so it covers the worst
/// legitimate path with room: the busy-server retries start within
/// [`RETRY_BUDGET_TIMEOUTS`](crate::session::governor::RETRY_BUDGET_TIMEOUTS) (12),
/// and the last attempt may need a connection through the governor's back-offs
/// ([`BUDGET_TIMEOUTS`](crate::session::governor::BUDGET_TIMEOUTS), 4),
/// greylisting waited out (3), and the longest check, `smtp.data.smuggling`, 11
/// probes four at a time with a patient retry each, that is about 40 answers in a
/// row on its critical path against a tarpit that delays every one by most of a
/// timeout. 12 + 4 + 3 + 40 rounds up to 60: five minutes with the default
/// `--timeout` of 5 s. Hostile servers end far sooner, at the per-answer bounds.
pub const CHECK_BUDGET_TIMEOUTS: u32 = 60;

/// A check's time budget under read timeout `timeout`.
pub fn check_budget(timeout: std::time::Duration) -> std::time::Duration {
    timeout * CHECK_BUDGET_TIMEOUTS
}

/// The EHLO name the harness gives itself (`.invalid` is reserved, RFC 2606).
pub const CLIENT_NAME: &str = "mailtls.invalid";

/// One check of the catalogue.
#[derive(Debug)]
pub enum Check {
    /// A scenario script.
    Script(Scenario),
    /// A check written in Rust.
    Native(Box<dyn NativeCheck>),
}

impl Check {
    /// Id, title, protocol, severity, references, needs, policies.
    pub fn meta(&self) -> &Meta {
        match self {
            Check::Script(scenario) => &scenario.meta,
            Check::Native(check) => check.meta(),
        }
    }

    /// Runs the check on its own connection(s) and returns its result; a check that
    /// does not apply to the endpoint, policy or user is `skip` without connecting.
    /// A check the server interrupted by saying it is busy runs again after the
    /// governor's back-off, a few times within a few `--timeout`s; the transcript
    /// keeps every attempt. Every session of the check ends by the check's
    /// deadline (from `ctx`, or [`check_budget`] from now when it has none), so
    /// the check returns its transcript even when a server would hold it longer;
    /// the runner stops a check that still overruns.
    pub async fn run(&self, ctx: &CheckContext) -> CheckResult {
        let started = Instant::now();
        let mut own;
        let ctx = match ctx.session.deadline {
            Some(_) => ctx,
            None => {
                own = ctx.clone();
                let budget = check_budget(ctx.session.timeout);
                own.session.deadline = Some(CheckDeadline {
                    at: tokio::time::Instant::from_std(started) + budget,
                    budget,
                });
                &own
            }
        };
        let meta = self.meta();
        let mut transcript = ctx.new_transcript();
        if let Some(reason) = skip_reason(meta, ctx) {
            return result_of(
                meta,
                Verdict::new(Outcome::Skip, reason),
                started,
                transcript,
            );
        }
        let budget = ctx.session.timeout * crate::session::governor::RETRY_BUDGET_TIMEOUTS;
        let mut attempt = 1;
        // Runs in a row that reached the same verdict to confirm.
        let mut confirmed: Option<(Outcome, u32)> = None;
        loop {
            let generation = ctx.governor.generation();
            let (mut verdict, mut done) = match self {
                Check::Script(scenario) => scenario::run::run(scenario, ctx, transcript).await,
                Check::Native(check) => check.run(ctx, transcript).await,
            };
            let time_left = ctx
                .session
                .deadline
                .is_none_or(|deadline| tokio::time::Instant::now() < deadline.at);
            if verdict.to_confirm {
                let runs = match confirmed {
                    Some((outcome, runs)) if outcome == verdict.outcome => runs + 1,
                    _ => 1,
                };
                confirmed = Some((verdict.outcome, runs));
                if runs >= CONFIRMATIONS {
                    verdict.to_confirm = false;
                    verdict.detail = format!("{} (the same in {runs} runs)", verdict.detail);
                }
            } else {
                confirmed = None;
            }
            let again = verdict.server_busy || verdict.to_confirm;
            if again && attempt < CHECK_ATTEMPTS && started.elapsed() < budget && time_left {
                // The governor's back-off, and at least a second more per try:
                // a busy or greylisting server wants time, not a quick return.
                let backoff = ctx.governor.overloaded_since(generation);
                let pause = backoff.max(BUSY_PAUSE * attempt.min(BUSY_PAUSE_GROWTH));
                tokio::time::sleep(pause - backoff).await;
                attempt += 1;
                let why = if verdict.server_busy {
                    "the server was busy"
                } else {
                    "a sign an overloaded server gives too"
                };
                done.note(format!(
                    "{why}: running the check again (attempt {attempt} of at most {CHECK_ATTEMPTS}) after at least {} ms",
                    pause.as_millis()
                ));
                transcript = done;
                continue;
            }
            if verdict.to_confirm {
                // Out of attempts or time before the sign repeated enough.
                let runs = confirmed.map_or(1, |(_, runs)| runs);
                verdict = Verdict::new(
                    Outcome::Error,
                    format!(
                        "{} — seen in {runs} run(s) in a row, fewer than the {CONFIRMATIONS} that make it the server's answer rather than its load",
                        verdict.detail
                    ),
                );
            }
            return result_of(meta, verdict, started, done);
        }
    }
}

/// The result of a check (or a client scenario) that started at `started`.
pub fn result_of(
    meta: &Meta,
    verdict: Verdict,
    started: Instant,
    transcript: crate::session::Transcript,
) -> CheckResult {
    CheckResult {
        id: meta.id.clone(),
        title: meta.title.clone(),
        status: verdict.outcome,
        severity: verdict.severity.unwrap_or(meta.severity),
        references: meta.references.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
        // A detail may quote the server, which may echo the password.
        detail: transcript.redact(&verdict.detail),
        transcript: transcript.into_entries(),
        baseline: None,
    }
}

/// Why the catalogue could not be assembled. All are input errors (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// A script does not parse.
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// A script or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Two scripts claim one id.
    #[error("check id `{id}` is defined twice: in {first} and in {second}")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where it was first defined.
        first: String,
        /// The second definition.
        second: String,
    },
}

/// The ordered set of checks.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    checks: Vec<Arc<Check>>,
}

impl Catalogue {
    /// The built-in checks: every script under `scenarios/`, embedded at build time,
    /// and the TLS layer's native checks.
    pub fn builtin() -> Result<Catalogue, CatalogueError> {
        let mut catalogue = Catalogue::default();
        for (path, text) in builtin::BUILTIN {
            catalogue.add(Check::Script(scenario::parse(path, text)?))?;
        }
        for check in native_checks() {
            catalogue.add(Check::Native(check))?;
        }
        Ok(catalogue)
    }

    /// Adds every `*.mts` script under `dir` (recursively, in path order).
    pub fn load_dir(&mut self, dir: &Path) -> Result<(), CatalogueError> {
        let mut files = Vec::new();
        collect_scripts(dir, &mut files)?;
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| CatalogueError::Io {
                path: file.clone(),
                source,
            })?;
            self.add(Check::Script(scenario::parse(
                &file.display().to_string(),
                &text,
            )?))?;
        }
        Ok(())
    }

    /// Adds one check; ids are unique.
    pub fn add(&mut self, check: Check) -> Result<(), CatalogueError> {
        if let Some(existing) = self.checks.iter().find(|c| c.meta().id == check.meta().id) {
            return Err(CatalogueError::DuplicateId {
                id: check.meta().id.clone(),
                first: source_of(existing),
                second: source_of(&check),
            });
        }
        self.checks.push(Arc::new(check));
        Ok(())
    }

    /// Every check, in catalogue order.
    pub fn checks(&self) -> &[Arc<Check>] {
        &self.checks
    }

    /// The checks for one protocol.
    pub fn for_protocol(&self, protocol: Protocol) -> impl Iterator<Item = &Arc<Check>> {
        self.checks
            .iter()
            .filter(move |c| c.meta().protocol.is_none_or(|p| p == protocol))
    }

    /// Only the checks whose id matches one of `patterns` (all, when there are none).
    pub fn only(&self, patterns: &[glob::Pattern]) -> Catalogue {
        Catalogue {
            checks: self
                .checks
                .iter()
                .filter(|c| patterns.is_empty() || patterns.iter().any(|p| p.matches(&c.meta().id)))
                .cloned()
                .collect(),
        }
    }

    /// Sorted by protocol, then id: the order of `mailtls list` and of reports.
    pub fn sorted(mut self) -> Catalogue {
        // Protocol checks first, in protocol order; the TLS layer's after them.
        self.checks.sort_by_cached_key(|c| {
            let meta = c.meta();
            (
                meta.protocol.map_or(Protocol::ALL.len(), |p| p as usize),
                meta.id.clone(),
            )
        });
        self
    }
}

/// The checks written in Rust.
fn native_checks() -> Vec<Box<dyn NativeCheck>> {
    let mut checks: Vec<Box<dyn NativeCheck>> = Vec::new();
    for protocol in Protocol::ALL {
        checks.push(Box::new(auth_plaintext::PlaintextAuthRejected::new(
            protocol,
        )));
    }
    checks.push(Box::new(smuggling::Smuggling::default()));
    checks.extend(tls::all());
    checks
}

fn source_of(check: &Check) -> String {
    match check {
        Check::Script(s) => s.source.clone(),
        Check::Native(_) => "the built-in Rust checks".into(),
    }
}

fn collect_scripts(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CatalogueError> {
    let io = |source| CatalogueError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_scripts(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "mts") {
            out.push(path);
        }
    }
    Ok(())
}
