//! Runs the catalogue against targets: first every target is prepared (the
//! embedded server started, a whole host's ports probed), then every check runs on
//! its own connection, checks of one endpoint concurrently up to `--jobs`
//! connections, endpoints side by side.
//!
//! The runner holds two budgets: every check's time (its sessions end by its
//! deadline; one that still overruns is stopped), and the transcript bytes of the
//! whole run (once spent, each transcript keeps only its head and tail), so that
//! neither a run's duration nor its report grows with what servers send.

use crate::checks::{check_budget, Catalogue, Check, CheckContext, CLIENT_NAME};
use crate::events::{NoObserver, RunObserver};
use crate::report::model::{CheckResult, Dir, Outcome, Report, TargetReport, TranscriptEntry};
use crate::server::ServerError;
use crate::session::conn::CheckDeadline;
use crate::session::governor::BUDGET_TIMEOUTS;
use crate::session::transcript::{entry_cost, keep_head_and_tail, Keep};
use crate::session::{Dial, SessionError, SessionOptions, Transcript};
use crate::target::container::{ContainerError, ContainerTarget};
use crate::target::embedded::EmbeddedTarget;
use crate::target::{Credentials, Endpoint, Policy, Scheme, TargetSpec};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Transcript bytes (text plus a little per entry) the results of one run keep
/// in all, every target together. A whole embedded run keeps about 0.3 MiB; past
/// this, every later result keeps only [`KEEP_WHEN_SPENT`], so the report (and
/// every format rendered from it) stays a few MiB whatever servers send.
pub const RUN_TRANSCRIPT_BUDGET: usize = 4 * 1024 * 1024;

/// What each transcript keeps once the run's budget is spent.
pub const KEEP_WHEN_SPENT: Keep = Keep {
    head: 2 * 1024,
    tail: 2 * 1024,
};

/// How long after its deadline a check that has not returned is stopped. Its
/// sessions end at the deadline by themselves; what may still run is an open
/// through the governor, whose back-offs are bounded by [`BUDGET_TIMEOUTS`]
/// read timeouts, and the check's own wrapping up: one timeout more.
fn grace(timeout: std::time::Duration) -> std::time::Duration {
    timeout * (BUDGET_TIMEOUTS + 1)
}

/// The transcript bytes a run has kept so far.
#[derive(Debug, Default)]
struct RunBudget {
    spent: AtomicUsize,
}

impl RunBudget {
    /// Charges `result`'s transcript to the run, cut to [`KEEP_WHEN_SPENT`]
    /// first when the run has spent its budget.
    fn charge(&self, result: &mut CheckResult) {
        if self.spent.load(Ordering::Relaxed) >= RUN_TRANSCRIPT_BUDGET {
            let whole = std::mem::take(&mut result.transcript);
            result.transcript = keep_head_and_tail(whole, KEEP_WHEN_SPENT);
        }
        let cost = result.transcript.iter().map(entry_cost).sum();
        self.spent.fetch_add(cost, Ordering::Relaxed);
    }
}

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
    /// A recipient every target accepts, for checks that send mail.
    pub rcpt: Option<String>,
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
            rcpt: None,
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
    /// A container target could not be started.
    #[error(transparent)]
    Container(Box<ContainerError>),
}

impl From<ContainerError> for RunError {
    fn from(error: ContainerError) -> Self {
        RunError::Container(Box::new(error))
    }
}

/// One endpoint ready to be judged.
#[derive(Debug, Clone)]
pub struct PreparedTarget {
    /// A stable name for the endpoint: its URL, or `embedded:smtp` and the like.
    pub label: String,
    /// What every check against it gets.
    pub ctx: CheckContext,
    /// Why nothing will be judged here (a closed port of a whole-host run).
    pub closed: Option<String>,
}

/// Targets ready to be judged, and the servers started for them.
pub struct Prepared {
    /// Every endpoint, in the order the targets were given.
    pub targets: Vec<PreparedTarget>,
    servers: Vec<EmbeddedTarget>,
    containers: Vec<ContainerTarget>,
    /// (index into `targets`, index into `containers`) for container endpoints.
    from_container: Vec<(usize, usize)>,
}

impl Prepared {
    /// Stops the servers and removes the containers started for the run.
    pub async fn shutdown(self) {
        for server in self.servers {
            server.shutdown().await;
        }
        for container in self.containers {
            container.shutdown().await;
        }
    }

    /// The container behind target number `index`, when it is one.
    pub fn container_of(&self, index: usize) -> Option<&ContainerTarget> {
        self.from_container
            .iter()
            .find(|(target, _)| *target == index)
            .and_then(|(_, container)| self.containers.get(*container))
    }

    /// Adds the container's log, as a note at the end of the transcript, to
    /// every failed or errored result of a container endpoint; `reports` are in
    /// target order.
    pub async fn attach_logs(&self, reports: &mut [TargetReport]) {
        for (index, report) in reports.iter_mut().enumerate() {
            let Some(container) = self.container_of(index) else {
                continue;
            };
            let failing = |r: &CheckResult| matches!(r.status, Outcome::Fail | Outcome::Error);
            if !report.results.iter().any(failing) {
                continue;
            }
            let note = format!(
                "container log ({}):\n{}",
                container.label(),
                container.log().await
            );
            for result in report.results.iter_mut().filter(|r| failing(r)) {
                result.transcript.push(TranscriptEntry {
                    dir: Dir::Note,
                    t_ms: result.duration_ms,
                    data: note.clone(),
                });
            }
        }
    }
}

/// Turns target specs into endpoints with their contexts: starts the embedded
/// server, and probes every standard port of a `host:` target in parallel.
pub async fn prepare(specs: &[TargetSpec], options: &RunOptions) -> Result<Prepared, RunError> {
    let mut prepared = Prepared {
        targets: Vec::new(),
        servers: Vec::new(),
        containers: Vec::new(),
        from_container: Vec::new(),
    };
    for spec in specs {
        match spec {
            TargetSpec::Endpoint(endpoint) => prepared.targets.push(PreparedTarget {
                label: endpoint.url(),
                ctx: context(endpoint.clone(), options, None, None),
                closed: None,
            }),
            TargetSpec::Embedded(spec) => {
                let server = EmbeddedTarget::start(*spec).await?;
                for endpoint in &server.endpoints {
                    prepared.targets.push(PreparedTarget {
                        label: format!("embedded:{}", endpoint.scheme),
                        // Its test CA is trusted for its own endpoints only.
                        ctx: context(
                            endpoint.clone(),
                            options,
                            Some(&server.rcpt),
                            Some(server.trust_anchor()),
                        ),
                        closed: None,
                    });
                }
                prepared.servers.push(server);
            }
            TargetSpec::Host(host) => prepared.targets.extend(whole_host(host, options).await),
            TargetSpec::Container(spec) => {
                let container = match ContainerTarget::start(spec).await {
                    Ok(container) => container,
                    Err(e) => {
                        prepared.shutdown().await;
                        return Err(e.into());
                    }
                };
                // The image's own certificate and host name, as its admin would
                // configure them: the TLS checks judge the chain against it.
                let anchor = container.certificate().await;
                for endpoint in &container.endpoints {
                    prepared
                        .from_container
                        .push((prepared.targets.len(), prepared.containers.len()));
                    // The image's test user is a default, like its recipient:
                    // --user/--password given on the command line win.
                    let mut endpoint = endpoint.clone();
                    if options.credentials.is_some() {
                        endpoint.credentials = None;
                    }
                    let mut ctx = context(endpoint, options, Some(&container.rcpt), anchor.clone());
                    ctx.session
                        .server_name
                        .get_or_insert_with(|| container.image.hostname.clone());
                    prepared.targets.push(PreparedTarget {
                        label: format!("{}:{}", container.label(), ctx.endpoint.scheme),
                        ctx,
                        closed: None,
                    });
                }
                prepared.containers.push(container);
            }
        }
    }
    Ok(prepared)
}

/// Every standard mail port of `host`, each with the policy its scheme implies;
/// a port that does not accept a connection is marked closed.
async fn whole_host(host: &str, options: &RunOptions) -> Vec<PreparedTarget> {
    let mut probes = JoinSet::new();
    for (index, scheme) in Scheme::ALL.into_iter().enumerate() {
        let endpoint = Endpoint {
            scheme,
            host: host.to_string(),
            port: scheme.default_port(),
            credentials: None,
        };
        // The context first: the probe spends from the governor its checks will
        // use, so the endpoint has one budget from its first connection on, and
        // that governor knows the port accepted one (a refusal from then on is
        // a sign of overload to ride out, not a closed port).
        let ctx = context(endpoint, options, None, None);
        probes.spawn(async move {
            let closed = closed_port(&ctx).await;
            (index, ctx, closed)
        });
    }
    let mut found = Vec::new();
    while let Some(Ok(probe)) = probes.join_next().await {
        found.push(probe);
    }
    found.sort_by_key(|(index, ..)| *index);
    found
        .into_iter()
        .map(|(_, ctx, closed)| PreparedTarget {
            label: ctx.endpoint.url(),
            ctx,
            closed,
        })
        .collect()
}

/// Why `ctx`'s port is closed, or `None` when it accepts a TCP connection: one
/// attempt through its governor, no TLS, nothing read. A scan reports what it
/// sees; patience with a busy server is for the checks that follow.
async fn closed_port(ctx: &CheckContext) -> Option<String> {
    let dial = Dial {
        host: &ctx.endpoint.host,
        port: ctx.endpoint.port,
        implicit_tls: false,
        greeting: None,
    };
    let port = ctx.endpoint.port;
    match ctx
        .governor
        .connect_once(&dial, &ctx.session, Transcript::new())
        .await
    {
        Ok(_) => None,
        Err((SessionError::Connect { source, .. }, _)) => {
            Some(format!("port {port} closed ({source})"))
        }
        Err((e, _)) if e.is_connect_failure() => Some(format!(
            "port {port} closed or filtered (no answer within {} ms)",
            ctx.session.timeout.as_millis()
        )),
        // Accepted, then a socket option failed: the port is open.
        Err(_) => None,
    }
}

fn context(
    endpoint: Endpoint,
    options: &RunOptions,
    default_rcpt: Option<&String>,
    extra_anchor: Option<Vec<u8>>,
) -> CheckContext {
    let mut anchors = options.trust_anchors.clone();
    anchors.extend(extra_anchor);
    CheckContext {
        credentials: endpoint
            .credentials
            .clone()
            .or_else(|| options.credentials.clone()),
        policy: options
            .policy
            .unwrap_or_else(|| Policy::for_scheme(endpoint.scheme)),
        rcpt: options.rcpt.clone().or_else(|| default_rcpt.cloned()),
        session: options.session.clone(),
        client_name: CLIENT_NAME.into(),
        tls: crate::tls::TlsOptions::new(anchors),
        governor: crate::session::Governor::new(options.jobs),
        endpoint,
    }
}

/// Runs `catalogue` against every target and assembles the report.
pub async fn run(
    specs: &[TargetSpec],
    catalogue: &Catalogue,
    options: &RunOptions,
) -> Result<Report, RunError> {
    run_observed(specs, catalogue, options, Arc::new(NoObserver)).await
}

/// [`run`], telling `observer` as targets start and checks finish.
pub async fn run_observed(
    specs: &[TargetSpec],
    catalogue: &Catalogue,
    options: &RunOptions,
    observer: Arc<dyn RunObserver>,
) -> Result<Report, RunError> {
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let clock = Instant::now();
    let prepared = prepare(specs, options).await?;
    let budget = Arc::new(RunBudget::default());
    let mut tasks = JoinSet::new();
    for (index, target) in prepared.targets.iter().cloned().enumerate() {
        let catalogue = catalogue.clone();
        let jobs = options.jobs;
        let observer = observer.clone();
        let budget = budget.clone();
        tasks.spawn(async move {
            let report =
                run_target_within(&catalogue, &target, jobs, index, &*observer, &budget).await;
            (index, report)
        });
    }
    let mut targets: Vec<(usize, TargetReport)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        // run_target catches its checks' panics, so a join error is a bug here.
        if let Ok(pair) = joined {
            targets.push(pair);
        }
    }
    targets.sort_by_key(|(index, _)| *index);
    let mut targets: Vec<TargetReport> = targets.into_iter().map(|(_, t)| t).collect();
    prepared.attach_logs(&mut targets).await;
    prepared.shutdown().await;
    Ok(Report::new(
        started_at,
        clock.elapsed().as_millis() as u64,
        targets,
    ))
}

/// Runs every check of the endpoint's protocol against one prepared target, at
/// most `jobs` at a time.
pub async fn run_target(
    catalogue: &Catalogue,
    target: &PreparedTarget,
    jobs: usize,
) -> TargetReport {
    run_target_observed(catalogue, target, jobs, 0, &NoObserver).await
}

/// [`run_target`] for target number `index`, telling `observer` as checks finish.
pub async fn run_target_observed(
    catalogue: &Catalogue,
    target: &PreparedTarget,
    jobs: usize,
    index: usize,
    observer: &dyn RunObserver,
) -> TargetReport {
    run_target_within(
        catalogue,
        target,
        jobs,
        index,
        observer,
        &RunBudget::default(),
    )
    .await
}

/// [`run_target_observed`], charging transcripts to the run's `budget`.
async fn run_target_within(
    catalogue: &Catalogue,
    target: &PreparedTarget,
    jobs: usize,
    index: usize,
    observer: &dyn RunObserver,
    budget: &RunBudget,
) -> TargetReport {
    let ctx = Arc::new(target.ctx.clone());
    let endpoint = &target.ctx.endpoint;
    let checks: Vec<_> = catalogue
        .for_protocol(endpoint.protocol())
        .cloned()
        .collect();
    let mut results: Vec<Option<CheckResult>> = vec![None; checks.len()];
    observer.target_started(index, &endpoint.url(), checks.len());
    if let Some(reason) = &target.closed {
        for (slot, check) in results.iter_mut().zip(&checks) {
            *slot = Some(not_run(check, Outcome::Skip, reason));
        }
    } else {
        let permits = Arc::new(Semaphore::new(jobs.max(1)));
        let mut tasks = JoinSet::new();
        for (slot, check) in checks.iter().cloned().enumerate() {
            let ctx = ctx.clone();
            let permits = permits.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                (slot, run_within_budget(&check, &ctx).await)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Ok((slot, mut result)) = joined {
                budget.charge(&mut result);
                observer.check_finished(index, &result);
                results[slot] = Some(result);
            }
        }
    }
    observer.target_finished(index);
    let results = results
        .into_iter()
        .zip(&checks)
        .map(|(result, check)| {
            result.unwrap_or_else(|| {
                not_run(
                    check,
                    Outcome::Error,
                    "internal error: the check's task panicked (a bug in mailtls, please report it)",
                )
            })
        })
        .collect();
    TargetReport {
        target: endpoint.url(),
        protocol: endpoint.protocol().name().into(),
        policy: ctx.policy,
        reachable: target.closed.is_none(),
        results,
    }
}

/// Runs `check` under its time budget, which starts now (its turn among
/// `--jobs` has come). Its sessions end by the deadline and it returns with its
/// transcript; one that has not returned [`grace`] later is stopped, and its
/// result is an `error` that names the budget.
async fn run_within_budget(check: &Check, ctx: &CheckContext) -> CheckResult {
    let timeout = ctx.session.timeout;
    let budget = check_budget(timeout);
    let started = tokio::time::Instant::now();
    let mut ctx = ctx.clone();
    ctx.session.deadline = Some(CheckDeadline {
        at: started + budget,
        budget,
    });
    let stop = started + budget + grace(timeout);
    match tokio::time::timeout_at(stop, check.run(&ctx)).await {
        Ok(result) => result,
        Err(_) => {
            let detail = format!(
                "the check's time budget of {} ms ({} x --timeout) ran out, and it was stopped {} ms later (what it had recorded was lost with it)",
                budget.as_millis(),
                crate::checks::CHECK_BUDGET_TIMEOUTS,
                grace(timeout).as_millis()
            );
            CheckResult {
                duration_ms: started.elapsed().as_millis() as u64,
                ..not_run(check, Outcome::Error, &detail)
            }
        }
    }
}

/// The result of a check that never ran.
fn not_run(check: &Check, status: Outcome, detail: &str) -> CheckResult {
    let meta = check.meta();
    CheckResult {
        id: meta.id.clone(),
        title: meta.title.clone(),
        status,
        severity: meta.severity,
        references: meta.references.clone(),
        duration_ms: 0,
        detail: detail.into(),
        transcript: Vec::new(),
        baseline: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_with(bytes: usize) -> CheckResult {
        CheckResult {
            id: "smtp.test".into(),
            title: String::new(),
            status: Outcome::Error,
            severity: crate::report::model::Severity::Low,
            references: Vec::new(),
            duration_ms: 0,
            detail: String::new(),
            transcript: (0..bytes / 1000)
                .map(|i| TranscriptEntry {
                    dir: Dir::Server,
                    t_ms: i as u64,
                    data: "s".repeat(1000 - crate::session::transcript::ENTRY_COST),
                })
                .collect(),
            baseline: None,
        }
    }

    fn cost(result: &CheckResult) -> usize {
        result.transcript.iter().map(entry_cost).sum()
    }

    #[test]
    fn a_run_keeps_whole_transcripts_until_its_budget_is_spent_then_less() {
        let budget = RunBudget::default();
        let per_result = 64 * 1000;
        let fits = RUN_TRANSCRIPT_BUDGET.div_ceil(per_result);
        for _ in 0..fits {
            let mut result = result_with(per_result);
            budget.charge(&mut result);
            assert_eq!(cost(&result), per_result, "cut before the budget was spent");
        }
        let mut late = result_with(per_result);
        budget.charge(&mut late);
        let kept: usize = late
            .transcript
            .iter()
            .filter(|e| e.dir != Dir::Note)
            .map(entry_cost)
            .sum();
        assert!(
            kept <= KEEP_WHEN_SPENT.head + KEEP_WHEN_SPENT.tail,
            "{kept}"
        );
        assert!(late.transcript.iter().any(|e| e.dir == Dir::Note));
        assert_eq!(late.transcript.last().unwrap().t_ms, 63);
    }
}
