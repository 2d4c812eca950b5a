//! Runs the catalogue against targets: every check on its own connection, checks of
//! one target concurrently up to `--jobs` connections, targets side by side.

use crate::checks::{Catalogue, CheckContext, CLIENT_NAME};
use crate::report::model::{CheckResult, Outcome, Report, TargetReport};
use crate::server::ServerError;
use crate::session::SessionOptions;
use crate::target::embedded::EmbeddedTarget;
use crate::target::{Credentials, Endpoint, Policy, TargetSpec};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Most concurrent connections per target.
    pub jobs: usize,
    /// Deadlines and caps of every session.
    pub session: SessionOptions,
    /// Credentials for targets whose URL carries none.
    pub credentials: Option<Credentials>,
    /// A policy for every target, instead of the one each scheme implies.
    pub policy: Option<Policy>,
    /// DER certificates trusted besides the system roots (`--ca`).
    pub trust_anchors: Vec<Vec<u8>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 8,
            session: SessionOptions::default(),
            credentials: None,
            policy: None,
            trust_anchors: Vec::new(),
        }
    }
}

/// Why a run could not start. Nothing was judged (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The embedded reference server did not start.
    #[error("could not start the embedded reference server: {0}")]
    Embedded(#[from] ServerError),
}

/// Runs `catalogue` against every target and assembles the report.
pub async fn run(
    specs: &[TargetSpec],
    catalogue: &Catalogue,
    options: &RunOptions,
) -> Result<Report, RunError> {
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let clock = Instant::now();
    let mut servers = Vec::new();
    let mut endpoints = Vec::new();
    // The embedded server's test CA, trusted for its own endpoints only.
    let mut anchors = std::collections::HashMap::new();
    for spec in specs {
        match spec {
            TargetSpec::Endpoint(endpoint) => endpoints.push(endpoint.clone()),
            TargetSpec::Embedded(flaws) => {
                let server = EmbeddedTarget::start(*flaws).await?;
                endpoints.extend(server.endpoints.iter().cloned());
                anchors.extend(
                    server
                        .endpoints
                        .iter()
                        .map(|e| (e.url(), server.trust_anchor())),
                );
                servers.push(server);
            }
        }
    }
    let mut tasks = JoinSet::new();
    for (index, endpoint) in endpoints.into_iter().enumerate() {
        let catalogue = catalogue.clone();
        let mut options = options.clone();
        options
            .trust_anchors
            .extend(anchors.remove(&endpoint.url()));
        tasks.spawn(async move { (index, run_endpoint(&catalogue, endpoint, &options).await) });
    }
    let mut targets: Vec<(usize, TargetReport)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        // run_endpoint catches its checks' panics, so a join error is a bug here.
        if let Ok(pair) = joined {
            targets.push(pair);
        }
    }
    targets.sort_by_key(|(index, _)| *index);
    for server in servers {
        server.shutdown().await;
    }
    Ok(Report::new(
        started_at,
        clock.elapsed().as_millis() as u64,
        targets.into_iter().map(|(_, t)| t).collect(),
    ))
}

/// Runs every check of the endpoint's protocol against it.
pub async fn run_endpoint(
    catalogue: &Catalogue,
    endpoint: Endpoint,
    options: &RunOptions,
) -> TargetReport {
    let ctx = Arc::new(CheckContext {
        credentials: endpoint
            .credentials
            .clone()
            .or_else(|| options.credentials.clone()),
        policy: options
            .policy
            .unwrap_or_else(|| Policy::for_scheme(endpoint.scheme)),
        session: options.session.clone(),
        client_name: CLIENT_NAME.into(),
        tls: crate::tls::TlsOptions::new(options.trust_anchors.clone(), options.jobs),
        endpoint: endpoint.clone(),
    });
    let permits = Arc::new(Semaphore::new(options.jobs.max(1)));
    let mut tasks = JoinSet::new();
    let checks: Vec<_> = catalogue
        .for_protocol(endpoint.protocol())
        .cloned()
        .collect();
    for (index, check) in checks.iter().cloned().enumerate() {
        let ctx = ctx.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (index, check.run(&ctx).await)
        });
    }
    let mut results: Vec<Option<CheckResult>> = vec![None; checks.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, result)) = joined {
            results[index] = Some(result);
        }
    }
    let results = results
        .into_iter()
        .zip(&checks)
        .map(|(result, check)| {
            result.unwrap_or_else(|| {
                let meta = check.meta();
                CheckResult {
                    id: meta.id.clone(),
                    title: meta.title.clone(),
                    status: Outcome::Error,
                    severity: meta.severity,
                    references: meta.references.clone(),
                    duration_ms: 0,
                    detail: "internal error: the check's task panicked (a bug in mailtls, please report it)".into(),
                    transcript: Vec::new(),
                }
            })
        })
        .collect();
    TargetReport {
        target: endpoint.url(),
        protocol: endpoint.protocol().name().into(),
        policy: ctx.policy,
        results,
    }
}
