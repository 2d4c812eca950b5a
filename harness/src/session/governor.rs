//! The one way out to a target. Every connection the harness opens to an
//! endpoint — scripted and native checks, TLS probes, the smuggling probes — is
//! granted here, so `--jobs` is a hard cap on simultaneous connections to it.
//!
//! The governor is patient with servers that defend themselves: when one shows
//! it is overloaded or limiting (a refused or reset connection, a close or a
//! timeout before the greeting, a 421 / `-ERR` / `* BYE` greeting), it halves the
//! endpoint's concurrency (never below one), pauses every new connection for an
//! exponential back-off with jitter, and the connection is tried again. Each
//! round of successes (as many in a row as are allowed at once) raises the
//! concurrency by one again, up to `--jobs`: additive increase, multiplicative
//! decrease, as TCP does per round trip. Raising it at every single success
//! would climb straight back over a per-client cap and fail again. Only when a bounded budget is
//! spent does the caller get the error, with the cause and what to do.
//!
//! That patience is for judges: a check must not fail a server for defending
//! itself. Observers — the fuzzer's sessions and liveness oracle, a starting
//! container's readiness poll, the open-port scan of a whole host — must see a
//! refusal or a close as it is (a crashed server refusing connections *is* the
//! finding), so they take [`Governor::connect_once`]: the same cap, one attempt.

use super::answer::{busy_sign, peek_answer, Want};
use super::conn::{Connection, SessionError, SessionOptions};
use super::transcript::Transcript;
use crate::target::Protocol;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The first back-off after a sign of overload; it doubles with each sign in a row.
const BACKOFF_BASE: Duration = Duration::from_millis(100);

/// The longest single back-off.
const BACKOFF_CAP: Duration = Duration::from_secs(3);

/// How many connections one open may try before it gives up. Enough to ride out
/// a burst that a per-client cap refuses while the concurrency halves to one, and
/// a busy server that turns away one connection in a few; the time budget below
/// bounds it too.
pub const MAX_ATTEMPTS: u32 = 10;

/// The time budget of one open (all attempts and back-offs together), in read
/// timeouts: a few `--timeout`s, so that a server that stays overloaded ends
/// the check in bounded time.
pub const BUDGET_TIMEOUTS: u32 = 4;

/// The time budget of a whole retried unit — a check run again after a busy
/// server interrupted it, a TLS probe tried again after a lost connection — in
/// read timeouts. Its attempts bound it first; this is the safety net, and it
/// counts time spent waiting for a slot behind other connections too, which is
/// why it is larger than one open's.
pub const RETRY_BUDGET_TIMEOUTS: u32 = 12;

/// The connection budget of one endpoint.
#[derive(Debug)]
pub struct Governor {
    jobs: usize,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug)]
struct State {
    /// Connections open now.
    in_use: usize,
    /// How many may be open now: between 1 and `jobs`.
    allowed: usize,
    /// No new connection before this instant (the back-off in force).
    paused_until: Option<Instant>,
    /// Bumped at each reduction, so that the connections of one burst that all
    /// fail together count as one sign, not as many.
    generation: u64,
    /// Signs of overload in a row, for the exponential back-off.
    streak: u32,
    /// Successes since the concurrency last changed.
    successes: usize,
    /// The most connections that were ever open at once.
    peak: usize,
    /// Whether any connection was ever greeted without being turned away.
    ever_greeted: bool,
    /// Why the endpoint was given up on: a governed open spent its whole budget
    /// before the server had greeted even once. Later opens fail at once with
    /// this, so a server that never speaks costs one budget, not one per check.
    given_up: Option<String>,
    /// When the signs of overload in a row began, across every open: an endpoint
    /// that has never greeted is given up on once they have lasted one open's
    /// budget, however many opens took turns in its one slot.
    troubled_since: Option<Instant>,
    /// A longer read timeout learned from a server that greets late (a tarpit):
    /// every later connection waits this long.
    patience: Option<Duration>,
    /// Whether any TCP connection was ever accepted: until one is, a refused or
    /// unanswered connect means nothing listens there (or a firewall drops us),
    /// and waiting is no use.
    ever_accepted: bool,
}

/// A granted connection slot; the slot is free again when this is dropped.
#[derive(Debug)]
pub struct Permit {
    governor: Arc<Governor>,
    generation: u64,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.governor.lock().in_use -= 1;
        self.governor.changed.notify_waiters();
    }
}

impl Governor {
    /// A governor allowing at most `jobs` (at least one) simultaneous connections.
    pub fn new(jobs: usize) -> Arc<Governor> {
        let jobs = jobs.max(1);
        Arc::new(Governor {
            jobs,
            state: Mutex::new(State {
                in_use: 0,
                allowed: jobs,
                paused_until: None,
                generation: 0,
                streak: 0,
                successes: 0,
                peak: 0,
                patience: None,
                ever_accepted: false,
                ever_greeted: false,
                given_up: None,
                troubled_since: None,
            }),
            changed: Notify::new(),
        })
    }

    /// The hard cap.
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// How many connections may be open now (lowered by signs of overload).
    pub fn allowed(&self) -> usize {
        self.lock().allowed
    }

    /// The most connections that were open at once so far.
    pub fn peak(&self) -> usize {
        self.lock().peak
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic (plain counters).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot: until fewer than the allowed number are open and no
    /// back-off is in force.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before the state is read, so no release is missed.
            notified.as_mut().enable();
            let paused_until = {
                let mut state = self.lock();
                match state.paused_until {
                    Some(until) if until > Instant::now() => Some(until),
                    _ => {
                        state.paused_until = None;
                        if state.in_use < state.allowed {
                            state.in_use += 1;
                            state.peak = state.peak.max(state.in_use);
                            return Permit {
                                governor: self.clone(),
                                generation: state.generation,
                            };
                        }
                        None
                    }
                }
            };
            match paused_until {
                Some(until) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// The current generation: take it before a connection whose failure may be
    /// reported with [`Governor::overloaded_since`].
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// A connection granted by `permit` was refused or turned away: lower the
    /// concurrency and pause new connections, once per burst. Returns the pause.
    pub fn overloaded(&self, permit: &Permit) -> Duration {
        self.overloaded_since(permit.generation)
    }

    /// A connection opened at `generation` was lost or told us the server is
    /// busy: as [`Governor::overloaded`].
    pub fn overloaded_since(&self, generation: u64) -> Duration {
        let mut state = self.lock();
        let now = Instant::now();
        if generation == state.generation {
            state.generation += 1;
            state.allowed = (state.allowed / 2).max(1);
            state.successes = 0;
            state.streak = state.streak.saturating_add(1);
            let delay = backoff(state.streak);
            state.paused_until = Some(now + delay);
        }
        let pause = state
            .paused_until
            .map(|until| until.saturating_duration_since(now))
            .unwrap_or_default();
        drop(state);
        self.changed.notify_waiters();
        pause
    }

    /// A connection was accepted and greeted: after a round of these, one more
    /// may be open at once.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        state.streak = 0;
        state.ever_greeted = true;
        state.given_up = None;
        state.troubled_since = None;
        if state.allowed >= self.jobs {
            return;
        }
        state.successes += 1;
        if state.successes >= state.allowed {
            state.successes = 0;
            state.allowed += 1;
            drop(state);
            self.changed.notify_waiters();
        }
    }

    /// Opens a connection to `dial` through the budget, retrying while the server
    /// shows signs of overload (see the module doc). With a greeting protocol, the
    /// greeting is awaited and judged here but left unread for the caller. The
    /// transcript shows every attempt.
    pub async fn open(
        self: &Arc<Self>,
        dial: &Dial<'_>,
        options: &SessionOptions,
        mut transcript: Transcript,
    ) -> Result<Connection, (SessionError, Transcript)> {
        let budget = options.timeout * BUDGET_TIMEOUTS;
        let mut options = options.clone();
        // What the attempts and their back-offs took; waiting for a slot behind
        // other connections is not the server's doing and does not count.
        let mut spent = Duration::ZERO;
        let mut signs: Vec<Overload> = Vec::new();
        loop {
            // Checked before and after waiting for a slot, so that giving up is
            // immediate for every connection still waiting.
            if let Some(error) = self.given_up() {
                transcript.note(error.to_string());
                return Err((error, transcript));
            }
            let permit = self.acquire().await;
            if let Some(error) = self.given_up() {
                transcript.note(error.to_string());
                return Err((error, transcript));
            }
            if let Some(patience) = self.lock().patience {
                options.timeout = options.timeout.max(patience);
            }
            let attempt = signs.len() as u32 + 1;
            if attempt > 1 {
                transcript.note(format!("attempt {attempt} of at most {MAX_ATTEMPTS}"));
            }
            let began = Instant::now();
            let outcome = self.attempt(dial, &options, transcript).await;
            spent += began.elapsed();
            let (sign, t) = match outcome {
                Ok(mut conn) => {
                    self.succeeded();
                    conn.hold(permit);
                    return Ok(conn);
                }
                Err(Attempt::Failed(e, t)) => return Err((e, t)),
                Err(Attempt::Overloaded(sign, t)) => (sign, t),
            };
            transcript = t;
            if matches!(sign, Overload::Silent(_)) {
                // A tarpit greets late on purpose: the next attempts (this
                // endpoint's, from now on) wait twice as long, within the budget.
                let longer = (options.timeout * 2).min(budget.saturating_sub(spent));
                let mut state = self.lock();
                let patience = state.patience.get_or_insert(longer);
                *patience = (*patience).max(longer);
            }
            let pause = self.overloaded(&permit);
            drop(permit);
            spent += pause;
            // Opens queued behind one slot each spend their budget slowly (the
            // queueing does not count), so for an endpoint that has never
            // greeted the budget is also the endpoint's: from its first sign on.
            let (ever_greeted, troubled_for) = {
                let mut state = self.lock();
                let since = *state.troubled_since.get_or_insert(began);
                (state.ever_greeted, since.elapsed())
            };
            let hopeless = !ever_greeted && troubled_for + pause >= budget;
            let last =
                signs.len() as u32 + 1 >= MAX_ATTEMPTS || spent + pause >= budget || hopeless;
            signs.push(sign);
            if last {
                let spent = if hopeless {
                    spent.max(troubled_for)
                } else {
                    spent
                };
                let error = give_up(&signs, spent, self.jobs, ever_greeted);
                transcript.note(error.to_string());
                let mut state = self.lock();
                // Only the endpoint's own silence gives it up for the run; a
                // limit of this machine may pass once other checks end.
                let ours = matches!(signs.last(), Some(Overload::LocalLimit(_)));
                if !state.ever_greeted && !ours {
                    state.given_up = Some(error.to_string());
                }
                return Err((error, transcript));
            }
            transcript.note(format!(
                "{}: backing off {} ms, then connecting again with at most {} connection(s) at once",
                signs.last().map(Overload::describe).unwrap_or_default(),
                pause.as_millis(),
                self.allowed()
            ));
        }
    }

    /// The error for every open once the endpoint was given up on.
    fn given_up(&self) -> Option<SessionError> {
        let why = self.lock().given_up.clone()?;
        Some(SessionError::Overloaded(format!("not tried again: {why}")))
    }

    /// One connection to `dial` through the budget, as the server gives it: the
    /// cap holds (this waits for a slot like [`Governor::open`]), but there is no
    /// retry, no back-off and no greeting peek, and a refusal or failure is not
    /// counted as a sign of overload. For callers that observe a server rather
    /// than judge it (see the module doc). The slot is held by the connection.
    pub async fn connect_once(
        self: &Arc<Self>,
        dial: &Dial<'_>,
        options: &SessionOptions,
        transcript: Transcript,
    ) -> Result<Connection, (SessionError, Transcript)> {
        let permit = self.acquire().await;
        let mut conn = self.connect_noting(dial, options, transcript).await?;
        self.succeeded();
        conn.hold(permit);
        Ok(conn)
    }

    /// Connects (with the handshake on implicit TLS), noting whether the endpoint
    /// has now accepted a TCP connection: a handshake that failed still had its
    /// connection accepted.
    async fn connect_noting(
        &self,
        dial: &Dial<'_>,
        options: &SessionOptions,
        transcript: Transcript,
    ) -> Result<Connection, (SessionError, Transcript)> {
        let result = Connection::connect(
            dial.host,
            dial.port,
            dial.implicit_tls,
            options.clone(),
            transcript,
        )
        .await;
        let accepted = match &result {
            Ok(_) => true,
            Err((e, _)) => !e.is_connect_failure(),
        };
        self.lock().ever_accepted |= accepted;
        result
    }

    /// One connection attempt: connect (and handshake on implicit TLS), then wait
    /// for the greeting without consuming it.
    async fn attempt(
        &self,
        dial: &Dial<'_>,
        options: &SessionOptions,
        transcript: Transcript,
    ) -> Result<Connection, Attempt> {
        let mut conn = match self.connect_noting(dial, options, transcript).await {
            Ok(conn) => conn,
            Err((e, t)) => {
                // Until the endpoint has accepted a connection, a refused or
                // unanswered connect means nothing listens there: no waiting.
                // Our own limits (open files, ports) say nothing about the
                // endpoint: fewer connections at once will free what we need.
                let ever_accepted = self.lock().ever_accepted;
                return Err(match Overload::of_connect(&e) {
                    Some(sign @ Overload::LocalLimit(_)) => Attempt::Overloaded(sign, t),
                    Some(sign) if ever_accepted => Attempt::Overloaded(sign, t),
                    _ => Attempt::Failed(e, t),
                });
            }
        };
        let Some(protocol) = dial.greeting else {
            return Ok(conn);
        };
        match peek_answer(&mut conn, protocol, &Want::greeting(protocol)).await {
            Ok(greeting) => match busy_sign(protocol, &greeting, true) {
                Some(why) => Err(Attempt::Overloaded(
                    Overload::TurnedAway(why),
                    conn.into_transcript(),
                )),
                None => Ok(conn),
            },
            Err(e) => match Overload::of_greeting(&e) {
                Some(sign) => Err(Attempt::Overloaded(sign, conn.into_transcript())),
                None => Err(Attempt::Failed(e, conn.into_transcript())),
            },
        }
    }
}

/// Where to connect and what to wait for.
#[derive(Debug, Clone, Copy)]
pub struct Dial<'a> {
    /// Host name or address (an IPv6 literal may keep its brackets).
    pub host: &'a str,
    /// TCP port.
    pub port: u16,
    /// Whether TLS starts at once.
    pub implicit_tls: bool,
    /// The protocol whose greeting must arrive (and not turn us away) before the
    /// connection counts as accepted; `None` for raw probes of implicit-TLS ports,
    /// where nothing is said before the ClientHello.
    pub greeting: Option<Protocol>,
}

enum Attempt {
    /// The server is limiting or overloaded: back off and try again.
    Overloaded(Overload, Transcript),
    /// Anything else: for the caller to judge.
    Failed(SessionError, Transcript),
}

/// One sign that the server is overloaded or limiting connections.
#[derive(Debug, Clone)]
enum Overload {
    /// Connecting was refused, reset or timed out.
    Refused(String),
    /// The connection closed (or was reset) before the greeting or the handshake.
    ClosedEarly(String),
    /// No greeting within the timeout.
    Silent(String),
    /// A greeting that turns the client away: 421, `-ERR`, `* BYE`.
    TurnedAway(String),
    /// Our own side ran out of something a connection needs (file descriptors,
    /// local ports, socket buffers): not the server's doing, and fewer
    /// connections at once is the cure, as for an overloaded server.
    LocalLimit(String),
}

impl Overload {
    fn of_connect(e: &SessionError) -> Option<Overload> {
        match e {
            SessionError::Connect { source, .. } if is_local_limit(source) => {
                Some(Overload::LocalLimit(e.to_string()))
            }
            SessionError::Connect { source, .. } => match source.kind() {
                std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted => Some(Overload::Refused(e.to_string())),
                // Unreachable hosts, bad names: no amount of waiting helps.
                _ => None,
            },
            SessionError::Timeout { .. } => Some(Overload::Refused(e.to_string())),
            // An implicit-TLS server that drops the connection during the handshake
            // is turning us away before a word, as a capped server does.
            SessionError::HandshakeDropped(_)
            | SessionError::HandshakeNotTls(_)
            | SessionError::Closed { .. } => Some(Overload::ClosedEarly(e.to_string())),
            _ => None,
        }
    }

    fn of_greeting(e: &SessionError) -> Option<Overload> {
        match e {
            SessionError::Closed { .. } => Some(Overload::ClosedEarly(e.to_string())),
            SessionError::Timeout { .. } => Some(Overload::Silent(e.to_string())),
            SessionError::Io(io) if super::conn::is_peer_gone(io) => {
                Some(Overload::ClosedEarly(e.to_string()))
            }
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Overload::Refused(why) => why.clone(),
            Overload::ClosedEarly(why) => format!("closed before the greeting ({why})"),
            Overload::Silent(why) => why.clone(),
            Overload::TurnedAway(why) => format!("turned away at the greeting: `{why}`"),
            Overload::LocalLimit(why) => format!("a local limit when connecting ({why})"),
        }
    }

    fn cause(&self) -> &'static str {
        match self {
            Overload::Refused(_) => "refused or timed out when connecting",
            Overload::ClosedEarly(_) => "closed before the greeting",
            Overload::Silent(_) => "got no greeting in time",
            Overload::TurnedAway(_) => "were turned away at the greeting",
            Overload::LocalLimit(_) => {
                "could not be opened for a limit of this machine (open files, local ports)"
            }
        }
    }
}

/// Whether a failed connect ran into a limit of this machine rather than
/// anything the endpoint did: too many open files (the process's or the
/// system's: EMFILE and ENFILE are 24 and 23 on Linux, the BSDs and macOS),
/// no local port or address left, no memory for the socket.
fn is_local_limit(e: &std::io::Error) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    matches!(e.raw_os_error(), Some(ENFILE | EMFILE))
        || matches!(
            e.kind(),
            std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::OutOfMemory
        )
}

/// The error once the budget is spent: the cause and what to do.
fn give_up(signs: &[Overload], spent: Duration, jobs: usize, ever_greeted: bool) -> SessionError {
    let first = signs.first().map(Overload::describe).unwrap_or_default();
    let last = signs.last().map(Overload::describe).unwrap_or_default();
    let seen = if signs.len() > 1 && first != last {
        format!("first: {first}; last: {last}")
    } else {
        last
    };
    let cause = signs.last().map(Overload::cause).unwrap_or("failed");
    let silent = matches!(signs.last(), Some(Overload::Silent(_)));
    let local = matches!(signs.last(), Some(Overload::LocalLimit(_)));
    let advice = if local {
        format!(
            "this machine ran out of sockets: raise the open-files limit (ulimit -n) or try --jobs {}",
            (jobs / 4).max(1)
        )
    } else if silent && !ever_greeted {
        "the server has not greeted once: is this the right port and protocol? A very slow server needs a larger --timeout".to_string()
    } else if jobs > 1 {
        format!(
            "the server limits connections per client or is overloaded; try --jobs {} or a larger --timeout",
            (jobs / 4).max(1)
        )
    } else {
        "the server is overloaded or refuses this client; try again later or a larger --timeout"
            .to_string()
    };
    SessionError::Overloaded(format!(
        "{} connection(s) in a row {cause} over {} ms ({seen}): {advice}",
        signs.len(),
        spent.as_millis()
    ))
}

/// The pause after `streak` signs in a row: exponential, capped, with up to 50 %
/// jitter on top so that parallel checks do not come back in lockstep.
fn backoff(streak: u32) -> Duration {
    use rand::Rng;
    let exponent = streak.saturating_sub(1).min(16);
    let base = BACKOFF_BASE
        .saturating_mul(1u32 << exponent)
        .min(BACKOFF_CAP);
    let jitter = rand::thread_rng().gen_range(0.0..0.5);
    base.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn never_grants_more_than_jobs() {
        let governor = Governor::new(2);
        let a = governor.acquire().await;
        let _b = governor.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(50), governor.acquire()).await;
        assert!(third.is_err(), "a third permit was granted");
        drop(a);
        let third = tokio::time::timeout(Duration::from_secs(5), governor.acquire()).await;
        assert!(third.is_ok(), "a freed slot was not granted");
        assert_eq!(governor.peak(), 2);
    }

    #[tokio::test]
    async fn halves_once_per_burst_and_recovers_by_one() {
        let governor = Governor::new(8);
        let mut burst = Vec::new();
        for _ in 0..4 {
            burst.push(governor.acquire().await);
        }
        for permit in &burst {
            governor.overloaded(permit);
        }
        assert_eq!(governor.allowed(), 4, "one burst is one sign");
        drop(burst);
        let permit = governor.acquire().await;
        governor.overloaded(&permit);
        assert_eq!(governor.allowed(), 2);
        drop(permit);
        governor.succeeded();
        assert_eq!(governor.allowed(), 2, "one success of a round of two");
        governor.succeeded();
        assert_eq!(governor.allowed(), 3, "a round of successes adds one");
        for _ in 0..100 {
            governor.succeeded();
        }
        assert_eq!(governor.allowed(), 8, "never above jobs");
    }

    #[tokio::test]
    async fn never_below_one() {
        let governor = Governor::new(1);
        for _ in 0..3 {
            let permit = governor.acquire().await;
            governor.overloaded(&permit);
        }
        assert_eq!(governor.allowed(), 1);
    }

    #[tokio::test]
    async fn no_connection_before_the_back_off_ends() {
        let governor = Governor::new(4);
        let permit = governor.acquire().await;
        let pause = governor.overloaded(&permit);
        drop(permit);
        assert!(pause >= BACKOFF_BASE);
        let asked = Instant::now();
        let _next = governor.acquire().await;
        assert!(
            asked.elapsed() + Duration::from_millis(5) >= pause,
            "granted after {:?}, the pause was {pause:?}",
            asked.elapsed()
        );
    }

    #[tokio::test]
    async fn a_server_that_never_greets_costs_one_budget_not_one_per_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts and holds every connection without a word.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = listener.accept().await {
                held.push(tcp);
            }
        });
        let governor = Governor::new(2);
        let dial = Dial {
            host: "127.0.0.1",
            port,
            implicit_tls: false,
            greeting: Some(Protocol::Smtp),
        };
        let options = SessionOptions {
            timeout: Duration::from_millis(100),
            ..SessionOptions::default()
        };
        let first = governor.open(&dial, &options, Transcript::new()).await;
        let Err((SessionError::Overloaded(why), _)) = first else {
            panic!("a silent server was not given up on");
        };
        assert!(why.contains("has not greeted once"), "{why}");
        let asked = Instant::now();
        let second = governor.open(&dial, &options, Transcript::new()).await;
        assert!(matches!(second, Err((SessionError::Overloaded(_), _))));
        assert!(asked.elapsed() < Duration::from_millis(100), "tried again");
    }

    fn loopback(port: u16) -> Dial<'static> {
        Dial {
            host: "127.0.0.1",
            port,
            implicit_tls: false,
            greeting: None,
        }
    }

    fn quick() -> SessionOptions {
        SessionOptions {
            timeout: Duration::from_secs(2),
            ..SessionOptions::default()
        }
    }

    #[tokio::test]
    async fn connect_once_keeps_to_the_cap() {
        // The backlog accepts without `accept`: the listener only has to exist.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dial = loopback(listener.local_addr().unwrap().port());
        let governor = Governor::new(1);
        let first = governor
            .connect_once(&dial, &quick(), Transcript::new())
            .await
            .expect("first connection");
        let second = tokio::time::timeout(
            Duration::from_millis(100),
            governor.connect_once(&dial, &quick(), Transcript::new()),
        )
        .await;
        assert!(second.is_err(), "a second connection went past --jobs 1");
        drop(first);
        let second = tokio::time::timeout(
            Duration::from_secs(5),
            governor.connect_once(&dial, &quick(), Transcript::new()),
        )
        .await;
        assert!(
            matches!(second, Ok(Ok(_))),
            "the freed slot was not granted"
        );
        assert_eq!(governor.peak(), 1);
    }

    #[test]
    fn local_limits_are_signs_to_slow_down() {
        let failed = |source| SessionError::Connect {
            addr: "127.0.0.1:25".into(),
            source,
        };
        let too_many_files = failed(std::io::Error::from_raw_os_error(24));
        assert!(matches!(
            Overload::of_connect(&too_many_files),
            Some(Overload::LocalLimit(_))
        ));
        let refused = failed(std::io::ErrorKind::ConnectionRefused.into());
        assert!(matches!(
            Overload::of_connect(&refused),
            Some(Overload::Refused(_))
        ));
        let advice = give_up(
            &[Overload::LocalLimit("Too many open files".into())],
            Duration::from_millis(900),
            8,
            true,
        );
        assert!(advice.to_string().contains("ulimit -n"), "{advice}");
    }

    #[tokio::test]
    async fn connect_once_returns_a_refusal_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dial = loopback(listener.local_addr().unwrap().port());
        let governor = Governor::new(4);
        // Accepted once: to `open`, a refusal from now on is a sign of overload.
        drop(
            governor
                .connect_once(&dial, &quick(), Transcript::new())
                .await
                .expect("accepted"),
        );
        drop(listener);
        for _ in 0..3 {
            let asked = Instant::now();
            let refused = governor
                .connect_once(&dial, &quick(), Transcript::new())
                .await;
            match refused {
                Err((SessionError::Connect { .. }, _)) => {}
                Err((e, _)) => panic!("not a refusal: {e}"),
                Ok(_) => panic!("connected to a closed port"),
            }
            assert!(
                asked.elapsed() < BACKOFF_BASE,
                "came back after {:?}",
                asked.elapsed()
            );
        }
        assert_eq!(
            governor.allowed(),
            4,
            "a refusal seen is no sign of overload"
        );
        let next = tokio::time::timeout(BACKOFF_BASE / 2, governor.acquire()).await;
        assert!(next.is_ok(), "a refusal paused the next connection");
    }

    #[test]
    fn back_off_doubles_up_to_its_cap_with_bounded_jitter() {
        for streak in 1..=20 {
            let base = BACKOFF_BASE
                .saturating_mul(1 << (streak - 1).min(16))
                .min(BACKOFF_CAP);
            let delay = backoff(streak);
            assert!(
                delay >= base && delay <= base.mul_f64(1.5),
                "{streak}: {delay:?}"
            );
        }
    }
}
