//! A campaign: sessions generated or mutated from the queue, run `jobs` at a time,
//! judged, kept when they reach new server states, and findings saved, minimized
//! and de-duplicated. After a crash, dispatch pauses, the sessions in flight finish,
//! the target is restarted and each session that ended abnormally is run again
//! alone: only those that bring the server down again are findings (a crash kills
//! every session in flight, not only the one that caused it).
//!
//! A target with a monitor (a container) also reports crashes its sockets do not
//! show — a child killed by a signal and restarted by the server's master, the
//! container's exit. Such an event names no session, so it is attributed by
//! time: every session in flight within [`LAG`] before the monitor saw it is a
//! candidate, and each is replayed alone (abnormal endings and the nearest
//! first) while the monitor watches for the same signature. The one that brings
//! it back is the finding, minimized the same way; when none does, the finding
//! is saved anyway, marked unconfirmed, with the nearest session as its case and
//! all of them in its window: the attribution is then only approximate.
//!
//! Everything of value is on disk as soon as it exists (queue entries, findings,
//! the stats file every second), so stopping at any moment — Ctrl-C included —
//! loses nothing, and `--corpus DIR` resumes. Memory stays flat: the queue and the
//! state set are capped, transcripts are dropped when a session has been judged.

use super::case::Case;
use super::exec::{execute, Event};
use super::finding::{self, Finding, FindingError, Store};
use super::governors::Governors;
use super::grammar;
use super::minimize::minimize;
use super::mutate::mutate;
use super::oracle::{judge, Kind, MonitorEvent, Verdict};
use super::target::{FuzzTarget, FuzzTargetError};
use crate::session::SessionOptions;
use crate::target::{Endpoint, Protocol, Scheme};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Most queue entries kept in memory per protocol.
const MAX_QUEUE: usize = 2048;
/// Most distinct states remembered (a bound on memory, far above what is reached).
const MAX_STATES: usize = 1 << 20;
/// Most sessions re-run alone after one crash.
const MAX_CANDIDATES: usize = 64;
/// How long before a monitor event a session may have ended and still be a
/// candidate: the log is read, and the state polled, with a delay.
pub const LAG: Duration = Duration::from_secs(2);
/// How long a replay waits, after the session, for the monitor to report.
const GRACE: Duration = Duration::from_millis(1000);

/// How long a campaign may go on after its `--duration` (or Ctrl-C) to finish
/// what it has in flight: sessions waiting out a silence, a minimization, a
/// restart. Then it is cut; what it found is on disk already. Without this cap a
/// campaign of hangs overran a 3 s duration by more than a minute, minimizing.
pub const WIND_DOWN: Duration = Duration::from_secs(1);
/// Most sessions kept in a finding's window.
const MAX_WINDOW: usize = 64;
/// Most minimization runs of a finding a monitor saw (each waits for the log).
const MONITOR_MINIMIZE_BUDGET: usize = 60;
/// Most monitor events explained in one triage (replays may cause more).
const MAX_EVENTS_PER_TRIAGE: usize = 16;

/// Which share of the work this process does: shard `index` of `count` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This process's shard, 1..=count.
    pub index: u64,
    /// How many processes share the campaign.
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 1, count: 1 }
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s.split_once('/').ok_or("expected K/N, e.g. 2/4")?;
        let (index, count) = (k.trim().parse::<u64>(), n.trim().parse::<u64>());
        match (index, count) {
            (Ok(index), Ok(count)) if (1..=count).contains(&index) => Ok(Shard { index, count }),
            _ => Err(format!("`{s}`: expected K/N with 1 <= K <= N")),
        }
    }
}

/// How a campaign runs.
#[derive(Debug, Clone)]
pub struct CampaignOptions {
    /// Stop after this long.
    pub duration: Duration,
    /// Stop after this many sessions (this shard's), if set.
    pub max_sessions: Option<u64>,
    /// Stop once this many new findings are saved, if set.
    pub max_findings: Option<usize>,
    /// The seed every session's randomness derives from.
    pub seed: u64,
    /// The corpus folder: `queue/`, `findings/`, `stats.json`.
    pub corpus: PathBuf,
    /// This process's share.
    pub shard: Shard,
    /// Sessions in flight at once.
    pub jobs: usize,
    /// Deadlines and caps of every connection.
    pub session: SessionOptions,
    /// Most candidate sessions tried when minimizing one finding.
    pub minimize_budget: usize,
    /// Draw the live status line on stderr.
    pub status_line: bool,
    /// Most sessions of its window replayed alone to explain one monitor event
    /// (each waits up to a second for the log).
    pub monitor_replays: usize,
}

impl Default for CampaignOptions {
    fn default() -> Self {
        CampaignOptions {
            duration: Duration::from_secs(60),
            max_sessions: None,
            max_findings: None,
            seed: 0,
            corpus: PathBuf::from("fuzz-corpus"),
            shard: Shard::default(),
            jobs: 64,
            session: SessionOptions {
                timeout: Duration::from_millis(1000),
                ..SessionOptions::default()
            },
            minimize_budget: 400,
            status_line: false,
            monitor_replays: 32,
        }
    }
}

/// Why a campaign stopped before its time.
#[derive(Debug, thiserror::Error)]
pub enum FuzzError {
    /// The target could not be started or did not come back.
    #[error(transparent)]
    Target(#[from] FuzzTargetError),
    /// A finding, queue entry or the stats file could not be written.
    #[error(transparent)]
    Finding(#[from] FindingError),
}

/// The periodically written `stats.json`, and what a campaign returns.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CampaignSummary {
    /// Sessions run by this process.
    pub sessions: u64,
    /// Seconds since the start.
    pub elapsed_s: f64,
    /// Sessions per second overall.
    pub sessions_per_s: f64,
    /// Distinct findings in the corpus (including earlier runs').
    pub findings: usize,
    /// Findings saved by this run, as paths.
    pub new_findings: Vec<PathBuf>,
    /// Distinct server states seen (phase, command, answer status).
    pub states: usize,
    /// Sessions by the phase they ended in: `pre-tls`, `tls`, `logged-in`.
    pub phases: BTreeMap<String, u64>,
    /// Sessions in the queue (all protocols).
    pub queue: usize,
    /// Target restarts after crashes.
    pub restarts: u64,
    /// `K/N`.
    pub shard: String,
    /// The seed.
    pub seed: u64,
}

/// One session's result, as the dispatcher needs it (no transcript: memory stays flat).
struct Done {
    index: u64,
    case: Case,
    scheme: Scheme,
    event: Event,
    states: Vec<u64>,
    verdict: Option<Verdict>,
    phase: &'static str,
}

/// A session of a monitored campaign, remembered for attribution while in flight
/// and for [`LAG`] after.
#[derive(Debug, Clone)]
struct Flight {
    index: u64,
    case: Case,
    scheme: Scheme,
    started: Instant,
    ended: Option<Instant>,
    abnormal: bool,
}

/// A monitor event waiting for triage, with the sessions that may have caused it.
struct Suspect {
    event: MonitorEvent,
    window: Vec<Flight>,
}

/// A running campaign.
pub struct Campaign {
    target: FuzzTarget,
    options: CampaignOptions,
    /// One governor per endpoint, allowing `jobs`: every connection goes through it.
    governors: Governors,
    store: Store,
    queue_dir: PathBuf,
    queue: HashMap<Protocol, Vec<Case>>,
    states: HashSet<u64>,
    summary: CampaignSummary,
    /// Monitored targets only: sessions in flight, by index.
    flights: HashMap<u64, Flight>,
    /// Monitored targets only: sessions ended lately, oldest first.
    recent: VecDeque<Flight>,
    /// Monitor events not yet triaged.
    suspects: Vec<Suspect>,
    /// Set when the caller's stop future (Ctrl-C) fires. A flag, not the future,
    /// so that triage and minimization, which run between polls of the main loop,
    /// can see it too and cut their replays short.
    stop_requested: Arc<AtomicBool>,
    /// When [`Campaign::run`] started; the duration counts from here.
    started: Instant,
}

impl Campaign {
    /// Opens the corpus folder (loading its queue and findings) for `target`.
    pub fn new(target: FuzzTarget, options: CampaignOptions) -> Result<Campaign, FuzzError> {
        let store = Store::open(options.corpus.join("findings"))?;
        let queue_dir = options.corpus.join("queue");
        std::fs::create_dir_all(&queue_dir).map_err(|source| FindingError::Io {
            path: queue_dir.clone(),
            source,
        })?;
        let mut queue: HashMap<Protocol, Vec<Case>> = HashMap::new();
        if let Ok(entries) = std::fs::read_dir(&queue_dir) {
            for entry in entries.flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                if let Ok(case) = serde_json::from_str::<Case>(&text) {
                    let list = queue.entry(case.protocol).or_default();
                    if list.len() < MAX_QUEUE {
                        list.push(case);
                    }
                }
            }
        }
        let summary = CampaignSummary {
            shard: format!("{}/{}", options.shard.index, options.shard.count),
            seed: options.seed,
            ..CampaignSummary::default()
        };
        Ok(Campaign {
            target,
            governors: Governors::new(options.jobs),
            options,
            store,
            queue_dir,
            queue,
            states: HashSet::new(),
            summary,
            flights: HashMap::new(),
            recent: VecDeque::new(),
            suspects: Vec::new(),
            stop_requested: Arc::new(AtomicBool::new(false)),
            started: Instant::now(),
        })
    }

    /// Runs until the duration, the session or finding limit, or `stop` (Ctrl-C);
    /// then (and on an error too) stops the target.
    pub async fn run(
        mut self,
        stop: impl Future<Output = ()>,
    ) -> Result<CampaignSummary, FuzzError> {
        self.started = Instant::now();
        let deadline = self.deadline();
        let stop_requested = self.stop_requested.clone();
        let (result, cut) = {
            let mut drive = std::pin::pin!(self.drive());
            let mut stop = std::pin::pin!(stop);
            let time_up = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let ended = tokio::select! {
                result = &mut drive => Some(result),
                () = &mut stop => {
                    stop_requested.store(true, Ordering::SeqCst);
                    None
                }
                () = time_up => None,
            };
            match ended {
                Some(result) => (result, false),
                // Let the campaign wind down (what it minimizes is saved as far as
                // it got), but only for so long. Files are written synchronously,
                // so dropping it between polls never leaves one half-written.
                None => match tokio::time::timeout(WIND_DOWN, &mut drive).await {
                    Ok(result) => (result, false),
                    Err(_) => (Ok(()), true),
                },
            }
        };
        if cut {
            self.update_summary(self.started);
            let _ = self.write_stats();
            if self.options.status_line {
                self.draw_status();
                eprintln!();
            }
        }
        self.target.shutdown().await;
        if cut && crate::containers::reaper::any_started() {
            // A container restart cut half-way is one the target does not know of.
            if let Ok(docker) = crate::containers::docker::engine().await {
                let _ = crate::containers::reaper::remove_this_process(&docker).await;
            }
        }
        result.map(|()| self.summary)
    }

    /// When the duration is up (`None`: too far away to say).
    fn deadline(&self) -> Option<Instant> {
        self.started.checked_add(self.options.duration)
    }

    /// Whether Ctrl-C (the caller's stop) has come or the duration is up: triage
    /// and minimization then stop replaying.
    fn stopping(&self) -> bool {
        self.stop_requested.load(Ordering::SeqCst)
            || self.deadline().is_some_and(|at| Instant::now() >= at)
    }

    async fn drive(&mut self) -> Result<(), FuzzError> {
        let started = self.started;
        let monitored = self.target.monitored();
        let mut tasks: JoinSet<Done> = JoinSet::new();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last_stats = Instant::now();
        let (mut stopping, mut crashed) = (false, false);
        let mut candidates: Vec<(u64, Case, Scheme)> = Vec::new();
        let mut index = self.options.shard.index - 1;
        let mut dispatched = 0u64;
        loop {
            let limit_reached = started.elapsed() >= self.options.duration
                || self.options.max_sessions.is_some_and(|m| dispatched >= m)
                || self
                    .options
                    .max_findings
                    .is_some_and(|m| self.summary.new_findings.len() >= m);
            stopping |= limit_reached || self.stopping();
            while !stopping && !crashed && tasks.len() < self.options.jobs.max(1) {
                let (case, endpoint) = self.next_case(index);
                if monitored {
                    self.flights.insert(
                        index,
                        Flight {
                            index,
                            case: case.clone(),
                            scheme: endpoint.scheme,
                            started: Instant::now(),
                            ended: None,
                            abnormal: false,
                        },
                    );
                }
                let options = self.options.session.clone();
                let governor = self.governors.governor(&endpoint);
                tasks.spawn(async move {
                    let run = execute(&case, &endpoint, &governor, &options).await;
                    let verdict = judge(&case, &run, &endpoint, &governor, &options).await;
                    Done {
                        index,
                        case,
                        scheme: endpoint.scheme,
                        event: run.event,
                        states: run.states,
                        verdict,
                        phase: run.phase,
                    }
                });
                index += self.options.shard.count;
                dispatched += 1;
            }
            if tasks.is_empty() {
                if crashed {
                    self.triage(std::mem::take(&mut candidates)).await?;
                    crashed = false;
                    continue;
                }
                break;
            }
            tokio::select! {
                Some(done) = tasks.join_next() => {
                    let Ok(done) = done else { continue };
                    self.summary.sessions += 1;
                    *self.summary.phases.entry(done.phase.to_string()).or_default() += 1;
                    if self.learn(&done) {
                        self.enqueue(done.case.clone());
                    }
                    let abnormal = !matches!(done.event, Event::Completed | Event::Refused(_));
                    if monitored {
                        self.landed(done.index, abnormal);
                    }
                    match &done.verdict {
                        Some(v) if v.kind == Kind::Crash => {
                            crashed = true;
                            candidates.push((done.index, done.case, done.scheme));
                        }
                        _ if crashed && abnormal => candidates.push((done.index, done.case, done.scheme)),
                        Some(v) => {
                            let v = v.clone();
                            self.confirm(v, done.index, done.case, done.scheme).await?;
                        }
                        None => {}
                    }
                }
                _ = tick.tick() => {
                    if monitored && self.watch() {
                        crashed = true;
                    }
                    self.update_summary(started);
                    if self.options.status_line {
                        self.draw_status();
                    }
                    if last_stats.elapsed() >= Duration::from_secs(1) {
                        self.write_stats()?;
                        last_stats = Instant::now();
                    }
                }
            }
        }
        self.update_summary(started);
        self.write_stats()?;
        if self.options.status_line {
            self.draw_status();
            eprintln!();
        }
        Ok(())
    }

    /// A monitored session ended: from in flight to recent, which keeps what
    /// attribution may still need.
    fn landed(&mut self, index: u64, abnormal: bool) {
        let now = Instant::now();
        if let Some(mut flight) = self.flights.remove(&index) {
            flight.ended = Some(now);
            flight.abnormal = abnormal;
            self.recent.push_back(flight);
        }
        while self.recent.len() > 4096
            || self
                .recent
                .front()
                .and_then(|f| f.ended)
                .is_some_and(|e| now.duration_since(e) > LAG * 4)
        {
            self.recent.pop_front();
        }
    }

    /// Collects the monitor's events; those with new signatures become suspects
    /// with their window of sessions. True when the campaign must pause for
    /// triage (a new crash, or the container stopped).
    fn watch(&mut self) -> bool {
        let mut pause = false;
        for event in self.target.events() {
            pause |= event.exited;
            if self.store.knows(&monitor_signature(&event)) {
                continue;
            }
            let window = self.window(event.at);
            self.suspects.push(Suspect { event, window });
            pause = true;
        }
        pause
    }

    /// The sessions that may have caused what a monitor saw at `at`: those that
    /// started before it and had not ended [`LAG`] before it, abnormal endings
    /// first, then the nearest.
    fn window(&self, at: Instant) -> Vec<Flight> {
        let from = at.checked_sub(LAG).unwrap_or(at);
        let mut window: Vec<Flight> = self
            .flights
            .values()
            .chain(self.recent.iter())
            .filter(|f| f.started <= at && f.ended.is_none_or(|e| e >= from))
            .cloned()
            .collect();
        let distance = |f: &Flight| {
            f.ended.map_or(Duration::ZERO, |e| {
                e.saturating_duration_since(at) + at.saturating_duration_since(e)
            })
        };
        window.sort_by_key(|f| (!f.abnormal, distance(f), f.index));
        window.truncate(MAX_WINDOW);
        window
    }

    /// The case and endpoint of session `index`: its randomness derives from the
    /// seed and the index alone, so shards split the sessions deterministically.
    fn next_case(&self, index: u64) -> (Case, Endpoint) {
        let mut rng =
            StdRng::seed_from_u64(self.options.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let endpoints = self.target.endpoints();
        let endpoint = endpoints
            .choose(&mut rng)
            .cloned()
            .unwrap_or_else(|| Endpoint {
                scheme: Scheme::Smtp,
                host: "127.0.0.1".into(),
                port: 0,
                credentials: None,
            });
        let protocol = endpoint.scheme.protocol();
        let queue = self
            .queue
            .get(&protocol)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let case = match queue.choose(&mut rng) {
            Some(parent) if rng.gen_bool(0.6) => mutate(parent, queue.choose(&mut rng), &mut rng),
            _ => grammar::generate(protocol, &mut rng),
        };
        (case, endpoint)
    }

    /// Records the states a session reached; true when any was new.
    fn learn(&mut self, done: &Done) -> bool {
        let mut new = false;
        for state in &done.states {
            if self.states.len() < MAX_STATES && self.states.insert(*state) {
                new = true;
            }
        }
        new
    }

    /// Keeps a case that reached new states, in memory and in `queue/`.
    fn enqueue(&mut self, case: Case) {
        let queue_file = |case: &Case| self.queue_dir.join(format!("{:016x}.json", case.hash()));
        let path = queue_file(&case);
        if let Ok(tmp) = finding::write_temp(&self.queue_dir, &case) {
            let _ = std::fs::rename(tmp, &path);
        }
        let list = self.queue.entry(case.protocol).or_default();
        if list.len() < MAX_QUEUE {
            list.push(case);
        } else {
            let i = rand::random::<usize>() % list.len();
            let evicted = std::mem::replace(&mut list[i], case);
            // The folder mirrors the in-memory queue, so that an overnight run's
            // disk use (and the next resume's load) stays bounded too.
            let evicted_path = queue_file(&evicted);
            if evicted_path != path {
                let _ = std::fs::remove_file(evicted_path);
            }
        }
    }

    /// A hang or grammar verdict: run the session once more alone, and save it
    /// if the same signature comes back (grammar verdicts are read off bytes and
    /// need no confirmation).
    async fn confirm(
        &mut self,
        verdict: Verdict,
        index: u64,
        case: Case,
        scheme: Scheme,
    ) -> Result<(), FuzzError> {
        if self.store.knows(&verdict.signature) {
            return Ok(());
        }
        if verdict.kind == Kind::Hang {
            let again = self.reproduce(&case, scheme).await;
            if again.map(|v| v.signature) != Some(verdict.signature.clone()) {
                return Ok(());
            }
        }
        self.save(verdict, index, case, scheme, Evidence::default())
            .await
            .map(|_| ())
    }

    /// After a crash: restart, then run each candidate alone; those that crash the
    /// server again are findings. Then the monitor's suspects (see the module
    /// documentation).
    async fn triage(&mut self, mut candidates: Vec<(u64, Case, Scheme)>) -> Result<(), FuzzError> {
        let patience = self.options.session.timeout * 30;
        let was_down = self
            .target
            .restart(&self.governors, &self.options.session, patience)
            .await?;
        if !was_down && self.suspects.is_empty() {
            // A container that greets on every endpoint once the sessions have
            // drained, without a restart and with nothing in its log, was busy
            // (greetings late under load), not dead: its monitor sees real crashes.
            candidates.clear();
        }
        let mut seen = HashSet::new();
        candidates.retain(|(_, case, _)| seen.insert(case.hash()));
        candidates.truncate(MAX_CANDIDATES);
        let mut confirmed = Vec::new();
        for (index, case, scheme) in candidates {
            if self.stopping() {
                break;
            }
            if let Some(verdict) = self.reproduce(&case, scheme).await {
                if verdict.kind == Kind::Crash && !self.store.knows(&verdict.signature) {
                    if let Some(path) = self
                        .save(verdict, index, case.clone(), scheme, Evidence::default())
                        .await?
                    {
                        confirmed.push((path, index, case, scheme));
                    }
                }
            }
        }
        if self.target.monitored() {
            self.explain(confirmed).await?;
        }
        Ok(())
    }

    /// Triages the monitor's suspects: replays, alone, first the sessions this
    /// triage already confirmed as socket crashes (the log then is their
    /// evidence, not another finding), then each suspect's window.
    async fn explain(
        &mut self,
        confirmed: Vec<(PathBuf, u64, Case, Scheme)>,
    ) -> Result<(), FuzzError> {
        self.watch();
        let mut handled = 0;
        while let Some(suspect) = self.suspects.pop() {
            if handled == MAX_EVENTS_PER_TRIAGE {
                self.suspects.clear();
                break;
            }
            handled += 1;
            let signature = monitor_signature(&suspect.event);
            if self.store.knows(&signature) {
                continue;
            }
            let mut window = suspect.window;
            if window.is_empty() {
                // Seen only after the restart (an exit found by the restart
                // itself): the sessions of the last moments are the suspects.
                window = self.window(Instant::now());
            }
            let mut explained = false;
            for (path, _, case, scheme) in &confirmed {
                if self.replay_watched(case, *scheme, &signature).await {
                    let mut finding = finding::load(path)?;
                    finding.attribution = Some(format!(
                        "the container log showed `{}` when this session crashed the server, and again when it was replayed alone",
                        suspect.event.line
                    ));
                    finding.log = suspect.event.log.clone();
                    self.store.update(path, &finding)?;
                    self.store.remember(&signature);
                    explained = true;
                    break;
                }
            }
            if explained {
                continue;
            }
            let verdict = Verdict {
                kind: Kind::Crash,
                detail: format!("the container log says: {}", suspect.event.line),
                signature: signature.clone(),
            };
            let mut culprit = None;
            for flight in window.iter().take(self.options.monitor_replays) {
                if self.stopping() {
                    break;
                }
                if self
                    .replay_watched(&flight.case, flight.scheme, &signature)
                    .await
                {
                    culprit = Some(flight.clone());
                    break;
                }
            }
            let cases: Vec<Case> = window.iter().map(|f| f.case.clone()).collect();
            let tried = window.len().min(self.options.monitor_replays);
            let (flight, attribution, minimize) = match culprit {
                Some(flight) => (
                    Some(flight),
                    format!("reproduced by replaying this session alone ({} session(s) were in flight within {} s before the monitor saw it)", window.len(), LAG.as_secs()),
                    true,
                ),
                None => (
                    window.first().cloned(),
                    format!("unconfirmed: none of the {tried} session(s) in flight within {} s before the monitor saw it brought it back when replayed alone (a race, a crash that needs concurrency or earlier damage, or not the fuzzer's doing); `case` is the nearest, `window` holds all {}", LAG.as_secs(), window.len()),
                    false,
                ),
            };
            let (index, case, scheme) = match flight {
                Some(f) => (f.index, f.case, f.scheme),
                None => (
                    0,
                    Case {
                        protocol: crate::target::Protocol::Smtp,
                        steps: Vec::new(),
                    },
                    Scheme::Smtp,
                ),
            };
            let evidence = Evidence {
                attribution: Some(attribution),
                log: suspect.event.log,
                window: if minimize { Vec::new() } else { cases },
                watched: minimize,
            };
            self.save(verdict, index, case, scheme, evidence).await?;
        }
        Ok(())
    }

    /// Replays `case` alone while the monitor watches; true when `signature`
    /// comes back. Other new crashes seen meanwhile become suspects, with this
    /// session (which ran alone) as their window.
    async fn replay_watched(&mut self, case: &Case, scheme: Scheme, signature: &str) -> bool {
        self.watch();
        let (again, others) = replay_watched(
            &mut self.target,
            &self.governors,
            case,
            scheme,
            &self.options.session,
            signature,
        )
        .await;
        for event in others {
            if !self.store.knows(&monitor_signature(&event))
                && !self
                    .suspects
                    .iter()
                    .any(|s| s.event.signature == event.signature)
            {
                let now = Instant::now();
                let window = vec![Flight {
                    index: 0,
                    case: case.clone(),
                    scheme,
                    started: now,
                    ended: Some(now),
                    abnormal: true,
                }];
                self.suspects.push(Suspect { event, window });
            }
        }
        again
    }

    /// Runs `case` alone against the target's current `scheme` endpoint; restarts
    /// the target if it crashed.
    async fn reproduce(&mut self, case: &Case, scheme: Scheme) -> Option<Verdict> {
        reproduce(
            &mut self.target,
            &self.governors,
            case,
            scheme,
            &self.options.session,
        )
        .await
    }

    /// Saves a finding at once, then (unless it is an unconfirmed monitor
    /// finding) minimizes it and saves it again. Returns its path when new.
    async fn save(
        &mut self,
        verdict: Verdict,
        index: u64,
        case: Case,
        scheme: Scheme,
        evidence: Evidence,
    ) -> Result<Option<PathBuf>, FuzzError> {
        let mut finding = Finding::new(
            &verdict,
            case.clone(),
            self.target.describe(),
            scheme.name(),
            self.options.seed,
            index,
        );
        let monitored = evidence.attribution.is_some();
        let watched = evidence.watched;
        finding.attribution = evidence.attribution;
        finding.log = evidence.log;
        finding.window = evidence.window;
        let Some(path) = self.store.save_new(&finding)? else {
            return Ok(None);
        };
        self.summary.new_findings.push(path.clone());
        if monitored && !watched {
            return Ok(Some(path));
        }
        let deadline = self.deadline();
        let (target, governors, session) =
            (&mut self.target, &self.governors, &self.options.session);
        let stop_requested = self.stop_requested.clone();
        let signature = verdict.signature.clone();
        let mut last = None;
        let budget = if watched {
            self.options.minimize_budget.min(MONITOR_MINIMIZE_BUDGET)
        } else {
            self.options.minimize_budget
        };
        let (small, _) = minimize(case.clone(), budget, async |c: &Case| {
            if stop_requested.load(Ordering::SeqCst)
                || deadline.is_some_and(|at| Instant::now() >= at)
            {
                // Ctrl-C or time up: no more replays; what is smallest so far is saved.
                return false;
            }
            if watched {
                // The log, not the socket, says whether it came back.
                return replay_watched(target, governors, c, scheme, session, &signature)
                    .await
                    .0;
            }
            let again = reproduce(target, governors, c, scheme, session).await;
            let same = again.as_ref().is_some_and(|v| v.signature == signature);
            if same {
                // Every accepted candidate reproduced; the last one is the result.
                last = again;
            }
            same
        })
        .await;
        if let Some(last) = last {
            finding.detail = last.detail;
        }
        finding.minimized = true;
        finding.original = Some(case);
        finding.case = small;
        self.store.update(&path, &finding)?;
        Ok(Some(path))
    }

    fn update_summary(&mut self, started: Instant) {
        let s = &mut self.summary;
        s.elapsed_s = started.elapsed().as_secs_f64();
        s.sessions_per_s = if s.elapsed_s > 0.0 {
            s.sessions as f64 / s.elapsed_s
        } else {
            0.0
        };
        s.findings = self.store.len();
        s.states = self.states.len();
        s.queue = self.queue.values().map(Vec::len).sum();
        s.restarts = self.target.restarts();
    }

    fn draw_status(&self) {
        let s = &self.summary;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K[{:>5.0}s] {} sessions, {:.0}/s, {} finding(s), {} states, queue {}, restarts {}",
            s.elapsed_s, s.sessions, s.sessions_per_s, s.findings, s.states, s.queue, s.restarts
        );
        let _ = err.flush();
    }

    fn write_stats(&self) -> Result<(), FuzzError> {
        let dir = &self.options.corpus;
        let tmp = finding::write_temp(dir, &self.summary)?;
        let path = dir.join(stats_file_name(self.options.shard));
        std::fs::rename(&tmp, &path).map_err(|source| FindingError::Io { path, source })?;
        Ok(())
    }
}

/// `stats.json`, or `stats-K-of-N.json` for one shard of several.
pub fn stats_file_name(shard: Shard) -> String {
    if shard.count == 1 {
        "stats.json".into()
    } else {
        format!("stats-{}-of-{}.json", shard.index, shard.count)
    }
}

/// Runs `case` alone against `target`'s current `scheme` endpoint and judges it;
/// restarts the target when it crashed, so the next run finds it up. Every
/// connection goes through `governors`.
pub async fn reproduce(
    target: &mut FuzzTarget,
    governors: &Governors,
    case: &Case,
    scheme: Scheme,
    options: &SessionOptions,
) -> Option<Verdict> {
    let endpoint = target.endpoint(scheme)?;
    let governor = governors.governor(&endpoint);
    let run = execute(case, &endpoint, &governor, options).await;
    let verdict = judge(case, &run, &endpoint, &governor, options).await;
    if verdict.as_ref().is_some_and(|v| v.kind == Kind::Crash) {
        let _ = target
            .restart(governors, options, options.timeout * 30)
            .await;
    }
    verdict
}

/// What a monitor contributes to a finding.
#[derive(Debug, Default)]
struct Evidence {
    /// How the case was tied to the crash (`Some` for monitor findings).
    attribution: Option<String>,
    /// The container log around it.
    log: Vec<String>,
    /// The sessions in flight, when no single one was confirmed.
    window: Vec<Case>,
    /// Whether the case reproduced it alone, watched by the monitor (minimize so).
    watched: bool,
}

/// A monitor event's finding signature: `crash:log:...`, `crash:container:...`.
pub fn monitor_signature(event: &MonitorEvent) -> String {
    format!("{}:{}", Kind::Crash.name(), event.signature)
}

/// Runs `case` alone (restarting the target if it crashed) and waits up to
/// [`GRACE`] for the monitor to report `signature`. Returns whether it did, and
/// the other events seen meanwhile.
pub async fn replay_watched(
    target: &mut FuzzTarget,
    governors: &Governors,
    case: &Case,
    scheme: Scheme,
    options: &SessionOptions,
    signature: &str,
) -> (bool, Vec<MonitorEvent>) {
    let mut others = target.events();
    let _ = reproduce(target, governors, case, scheme, options).await;
    let until = Instant::now() + GRACE;
    loop {
        for event in target.events() {
            if monitor_signature(&event) == signature {
                return (true, others);
            }
            others.push(event);
        }
        if Instant::now() >= until {
            return (false, others);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the live status line makes sense: where progress bars would (stderr
/// is a terminal and `CI` is not set to true).
pub fn status_line_wanted() -> bool {
    crate::report::progress::wanted()
}

/// The corpus folder's findings, for listing.
pub fn findings_dir(corpus: &Path) -> PathBuf {
    corpus.join("findings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        assert!("0/4".parse::<Shard>().is_err() && "5/4".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err() && "1/0".parse::<Shard>().is_err());
        assert_eq!(stats_file_name(Shard::default()), "stats.json");
        assert_eq!(
            stats_file_name(Shard { index: 2, count: 4 }),
            "stats-2-of-4.json"
        );
    }
}
