//! `mailtls fuzz replay FILE`: runs a saved finding's session again, against the
//! target it was found on (a fresh embedded server with the same flaws) or another
//! one, and shows the transcript and whether the same misbehaviour came back.

use super::campaign::monitor_signature;
use super::exec::execute;
use super::finding::Finding;
use super::oracle::{judge, Kind, MonitorEvent, Verdict};
use super::target::{FuzzTarget, FuzzTargetError};
use crate::session::transcript::render;
use crate::session::{Governor, SessionOptions};
use crate::target::{Scheme, TargetError, TargetSpec};
use std::fmt::Write;
use std::time::{Duration, Instant};

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The target in the file (or given) is not a target.
    #[error(transparent)]
    Spec(#[from] TargetError),
    /// The target could not be started.
    #[error(transparent)]
    Target(#[from] FuzzTargetError),
    /// The target has no endpoint for the finding's scheme.
    #[error("the target has no `{0}` endpoint to replay on")]
    NoEndpoint(String),
}

/// What a replay found.
#[derive(Debug)]
pub struct Replay {
    /// The verdict, when the server misbehaved again.
    pub verdict: Option<Verdict>,
    /// Whether it is the finding's own signature.
    pub reproduced: bool,
    /// The report for people: the finding, the transcript, the verdict.
    pub text: String,
}

/// Replays `finding` on `target` (default: the one recorded in it).
pub async fn replay(
    finding: &Finding,
    target: Option<&str>,
    options: &SessionOptions,
) -> Result<Replay, ReplayError> {
    let spec_text = target.unwrap_or(&finding.target);
    let spec = TargetSpec::parse(spec_text)?;
    let mut target = FuzzTarget::start(&spec, spec_text).await?;
    let scheme = finding
        .scheme
        .parse::<Scheme>()
        .ok()
        .and_then(|s| target.endpoint(s))
        .or_else(|| match &target {
            FuzzTarget::External { endpoint } => Some(endpoint.clone()),
            FuzzTarget::Embedded { .. } | FuzzTarget::Container { .. } => None,
        });
    let Some(endpoint) = scheme else {
        target.shutdown().await;
        return Err(ReplayError::NoEndpoint(finding.scheme.clone()));
    };
    // One session, then at most one liveness probe: one connection at a time.
    let governor = Governor::new(1);
    let run = execute(&finding.case, &endpoint, &governor, options).await;
    let mut verdict = judge(&finding.case, &run, &endpoint, &governor, options).await;
    if target.monitored() {
        // What the container's log or state says outweighs what the socket saw.
        if let Some(event) = watch(&mut target).await {
            verdict = Some(Verdict {
                kind: Kind::Crash,
                detail: format!("the container log says: {}", event.line),
                signature: monitor_signature(&event),
            });
        }
    }
    target.shutdown().await;
    let reproduced = verdict
        .as_ref()
        .is_some_and(|v| v.signature == finding.signature);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "finding: {} ({})",
        finding.signature,
        finding.kind.name()
    );
    let _ = writeln!(text, "found: {}", finding.detail);
    let _ = writeln!(
        text,
        "session: {} step(s){}, on {} ({})",
        finding.case.steps.len(),
        if finding.minimized { ", minimized" } else { "" },
        spec_text,
        finding.scheme
    );
    let _ = writeln!(text);
    text.push_str(&render(run.transcript.entries(), false));
    let _ = writeln!(text);
    let _ = match (&verdict, reproduced) {
        (Some(v), true) => writeln!(text, "reproduced: {} — {}", v.kind.name(), v.detail),
        (Some(v), false) => writeln!(
            text,
            "not reproduced; instead {}: {}",
            v.signature, v.detail
        ),
        (None, _) => writeln!(text, "not reproduced: the server behaved"),
    };
    Ok(Replay {
        verdict,
        reproduced,
        text,
    })
}

/// The first event the target's monitor reports within a second and a half of
/// the session (the log is read with a delay, and lines are coalesced).
async fn watch(target: &mut FuzzTarget) -> Option<MonitorEvent> {
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        if let Some(event) = target.events().into_iter().next() {
            return Some(event);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
