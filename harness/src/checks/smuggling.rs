//! `smtp.data.smuggling`: SMTP smuggling (CVE-2023-51764, -51765, -51766). For
//! each non-standard end-of-data sequence, one connection and one message whose
//! body holds that sequence followed by a whole second transaction.
//!
//! The verdict rests on replies received, never on the server keeping bytes it
//! read ahead (a server may end DATA at the sequence and throw away the rest).
//! The windows only save time: a reply that misses one still shows in the
//! count, or leaves it unsettled and brings the patient retry, so they are kept
//! short and a correct server pays little for them:
//!
//! 1. The body up to and including the sequence goes alone; a reply within a
//!    short window (3 ms + 4 × the fastest of the MAIL, RCPT and DATA round
//!    trips, at most the read timeout) came before the real end of data. A `2xx` there
//!    is then proven with the smuggled commands sent one at a time: a `250` to
//!    `MAIL`, `354` to `DATA`, shows the server back in command mode. A refusal
//!    there is a rejection (unless the commands after it are answered too).
//! 2. Otherwise the smuggled `MAIL`, `RCPT`, `DATA` and body go, without the
//!    final CRLF.CRLF; on the patient retry (below) again a window, for servers
//!    that must see the byte after `\r.\r` to decide to end DATA.
//! 3. Otherwise the real end of data and QUIT, and the replies are counted: a
//!    correct server answers twice (the message, QUIT), one that ran the
//!    smuggled transaction gives `354` on the way. Replies that stop before
//!    QUIT's, or extra ones, are unsettled: the probe runs once more on a fresh
//!    connection with windows of the whole read timeout and QUIT sent only after
//!    the message's reply; unsettled again, it is an `error`.
//!
//! A temporary `450`/`451` to MAIL, RCPT or DATA (greylisting) is waited out,
//! within three read timeouts; a `421` is an `error`.

use super::dialog::{trouble, Dialog};
use super::native::{BoxFuture, NativeCheck};
use super::{CheckContext, Verdict};
use crate::report::model::{Outcome, Severity};
use crate::scenario::{Meta, Needs};
use crate::session::{Answer, SessionError, Transcript, Waited, Want};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The sequences a lenient parser may take for the end of data.
pub const SEQUENCES: [&[u8]; 11] = [
    b"\n.\n",
    b"\r.\r",
    b"\r.\n",
    b"\n.\r",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\r\n.\r\r\n",
];

/// More replies than a vulnerable server can give to one probe; stop reading there.
const MAX_REPLIES: usize = 8;

/// How many probe connections one check keeps open at once.
const PARALLEL_PROBES: usize = 4;

/// The early-reply window: this much, plus [`WINDOW_ROUND_TRIPS`] times the
/// fastest MAIL/RCPT/DATA round trip on the connection (the server's own pace,
/// less the noise of a busy machine), at most the read timeout.
const WINDOW_BASE: Duration = Duration::from_millis(3);

/// See [`WINDOW_BASE`].
const WINDOW_ROUND_TRIPS: u32 = 4;

/// Greylisting is waited out for at most this many read timeouts in all.
const GREYLIST_BUDGET_FACTOR: u32 = 3;

/// The first pause before retrying a greylisted probe; each next one doubles.
const GREYLIST_FIRST_PAUSE: Duration = Duration::from_secs(1);

/// The smuggling check.
#[derive(Debug)]
pub struct Smuggling {
    meta: Meta,
}

impl Default for Smuggling {
    fn default() -> Self {
        Smuggling {
            meta: Meta {
                id: "smtp.data.smuggling".into(),
                title: "Only CRLF.CRLF ends DATA: no SMTP smuggling".into(),
                protocol: Some(crate::target::Protocol::Smtp),
                severity: Severity::High,
                references: [
                    "RFC 5321 §4.1.1.4",
                    "RFC 5321 §2.3.8",
                    "CVE-2023-51764",
                    "CVE-2023-51765",
                    "CVE-2023-51766",
                ]
                .map(String::from)
                .to_vec(),
                needs: Needs::default(),
                policies: Vec::new(),
                pass_detail: None,
            },
        }
    }
}

/// What one probe found.
enum Probe {
    /// The server answered only at the real end of data.
    Ended,
    /// The server rejected the bare sequence (or closed on it) and ran nothing.
    Rejected(String),
    /// The server took the sequence for the end and ran the smuggled commands;
    /// the replies that prove it.
    Honoured(String),
}

/// Why one attempt at a probe came to no judgement.
enum Stop {
    /// Nothing more to try: this is the probe's verdict (`error` or `skip`).
    Verdict(Verdict),
    /// A temporary refusal of the transaction (`450`/`451`): greylisting, most
    /// likely; worth a fresh connection later.
    Greylisted {
        /// `MAIL`, `RCPT` or `DATA`.
        command: &'static str,
        /// The reply code.
        status: String,
        /// The reply.
        summary: String,
    },
    /// Replies that neither prove nor rule out the flaw (what was seen): worth
    /// one patient attempt.
    Unsettled(String),
}

/// How long an attempt waits for a reply before the real end of data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Patience {
    /// The window measured on the session; QUIT goes with the real end of data,
    /// so a server that drops what it read ahead shows by never answering it.
    Measured,
    /// The whole read timeout; QUIT goes only after the message's reply.
    Full,
}

/// When the probes of one check first met greylisting: their retries share one
/// budget, so that a server greylisting for long costs the check that much once.
type GreylistClock = Arc<Mutex<Option<Instant>>>;

impl NativeCheck for Smuggling {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn run<'a>(
        &'a self,
        ctx: &'a CheckContext,
        transcript: Transcript,
    ) -> BoxFuture<'a, (Verdict, Transcript)> {
        Box::pin(async move {
            let Some(rcpt) = ctx.rcpt.as_deref() else {
                let reason = "needs a recipient the server accepts: give one with --rcpt";
                return (Verdict::new(Outcome::Skip, reason), transcript);
            };
            // Probes run side by side, a few at a time: each is a connection of
            // its own, and TLS handshakes dominate their cost.
            let permits = Arc::new(Semaphore::new(PARALLEL_PROBES));
            let greylisted_since = GreylistClock::default();
            let mut probes = JoinSet::new();
            for (index, sequence) in SEQUENCES.into_iter().enumerate() {
                let (ctx, rcpt, permits) = (ctx.clone(), rcpt.to_string(), permits.clone());
                let greylisted_since = greylisted_since.clone();
                let mut own = transcript.sibling();
                probes.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    own.note(format!(
                        "probe: body with {} then a smuggled transaction",
                        shown(sequence)
                    ));
                    let (result, own) = probe(&ctx, &rcpt, sequence, &greylisted_since, own).await;
                    (index, result, own)
                });
            }
            let mut done = Vec::with_capacity(SEQUENCES.len());
            while let Some(joined) = probes.join_next().await {
                match joined {
                    Ok(probe) => done.push(probe),
                    Err(e) => {
                        return (
                            Verdict::new(
                                Outcome::Error,
                                format!("internal error: a probe panicked: {e}"),
                            ),
                            transcript,
                        )
                    }
                }
            }
            done.sort_by_key(|(index, ..)| *index);
            let mut transcript = transcript;
            let mut honoured = Vec::new();
            let mut rejected = 0;
            let mut first_error = None;
            for (index, result, own) in done {
                transcript.append(&own);
                let shown = shown(SEQUENCES[index]);
                match result {
                    Ok(Probe::Ended) => {}
                    Ok(Probe::Rejected(answer)) => {
                        rejected += 1;
                        transcript.note(format!("{shown} rejected: {answer}"));
                    }
                    Ok(Probe::Honoured(evidence)) => {
                        transcript.note(format!("{shown} HONOURED: {evidence}"));
                        honoured.push((shown, evidence));
                    }
                    Err(verdict) => {
                        transcript.note(format!("{shown} not judged: {}", verdict.detail));
                        first_error.get_or_insert(verdict);
                    }
                }
            }
            // A sequence that was honoured is a finding whatever else went wrong;
            // otherwise a probe that could not be judged leaves the check unjudged.
            if let (Some(verdict), true) = (first_error, honoured.is_empty()) {
                return (verdict, transcript);
            }
            let total = SEQUENCES.len();
            let verdict = if honoured.is_empty() {
                Verdict::new(
                    Outcome::Pass,
                    format!(
                        "none of the {total} non-standard end-of-data sequences ended a message ({rejected} rejected outright)"
                    ),
                )
            } else {
                // The detail quotes the replies that prove the first finding; the
                // others' are in the transcript notes.
                let names: Vec<&str> = honoured.iter().map(|(name, _)| name.as_str()).collect();
                let (first, evidence) = &honoured[0];
                Verdict::new(
                    Outcome::Fail,
                    format!(
                        "the server ended DATA at {} of {total} non-standard sequences and ran the smuggled commands: {} ({first}: {evidence})",
                        honoured.len(),
                        names.join(", ")
                    ),
                )
            };
            (verdict, transcript)
        })
    }
}

/// One sequence: attempts on fresh connections until one is judged, waiting out
/// greylisting and trying once more, patiently, when the replies were unsettled.
async fn probe(
    ctx: &CheckContext,
    rcpt: &str,
    sequence: &[u8],
    greylisted_since: &GreylistClock,
    mut transcript: Transcript,
) -> (Result<Probe, Verdict>, Transcript) {
    let mut patience = Patience::Measured;
    let mut pause = GREYLIST_FIRST_PAUSE;
    let mut busy_attempts = 1;
    loop {
        let generation = ctx.governor.generation();
        let (result, back) = attempt(ctx, rcpt, sequence, patience, transcript).await;
        transcript = back;
        let stop = match result {
            Ok(probe) => return (Ok(probe), transcript),
            Err(stop) => stop,
        };
        match stop {
            // The server said it is busy (421): this sequence's connection is
            // tried again after the governor's back-off, not the whole check.
            Stop::Verdict(verdict)
                if verdict.server_busy && busy_attempts < super::CHECK_ATTEMPTS =>
            {
                busy_attempts += 1;
                let pause = ctx.governor.overloaded_since(generation);
                transcript.note(format!(
                    "the server was busy: probing {} again (attempt {busy_attempts} of at most {}) after at least {} ms",
                    shown(sequence),
                    super::CHECK_ATTEMPTS,
                    pause.as_millis()
                ));
            }
            Stop::Verdict(verdict) => return (Err(verdict), transcript),
            Stop::Greylisted {
                command,
                status,
                summary,
            } => {
                let now = Instant::now();
                let since = *greylisted_since
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .get_or_insert(now);
                let deadline = since + ctx.session.timeout * GREYLIST_BUDGET_FACTOR;
                if now >= deadline {
                    let verdict = Verdict::new(
                        Outcome::Error,
                        format!(
                            "the server kept answering {command} with {status} (greylisting?) for {:.1} s: whitelist the harness's address or retry later",
                            now.duration_since(since).as_secs_f64()
                        ),
                    );
                    return (Err(verdict), transcript);
                }
                let wait = pause.min(deadline - now);
                transcript.note(format!(
                    "{command} answered `{summary}` (greylisting?): retrying on a fresh connection in {} ms",
                    wait.as_millis()
                ));
                tokio::time::sleep(wait).await;
                pause *= 2;
            }
            Stop::Unsettled(seen) if patience == Patience::Measured => {
                transcript.note(format!(
                    "{seen}: retrying on a fresh connection, waiting up to {} ms for a reply before the real end of data",
                    ctx.session.timeout.as_millis()
                ));
                patience = Patience::Full;
            }
            Stop::Unsettled(seen) => {
                let verdict = Verdict::new(
                    Outcome::Error,
                    format!(
                        "cannot tell whether {} ends DATA: twice {seen}",
                        shown(sequence)
                    ),
                );
                return (Err(verdict), transcript);
            }
        }
    }
}

/// One connection, one message with one sequence.
async fn attempt(
    ctx: &CheckContext,
    rcpt: &str,
    sequence: &[u8],
    patience: Patience,
    transcript: Transcript,
) -> (Result<Probe, Stop>, Transcript) {
    let mut dialog = match Dialog::open(ctx, transcript).await {
        Ok(dialog) => dialog,
        Err((verdict, transcript)) => return (Err(Stop::Verdict(verdict)), transcript),
    };
    let mut trips = RoundTrips::default();
    let result = match transaction(&mut dialog, ctx, rcpt, &mut trips).await {
        Ok(()) => {
            let window = match patience {
                Patience::Measured => trips.window(ctx.session.timeout),
                Patience::Full => ctx.session.timeout,
            };
            dialog.note(format!(
                "fastest reply {} ms: waiting up to {} ms for an early reply",
                trips.fastest.unwrap_or_default().as_millis(),
                window.as_millis()
            ));
            let probe = Smuggle {
                dialog: &mut dialog,
                rcpt,
                sequence,
                window,
                patience,
            };
            probe.run().await
        }
        Err(stop) => Err(stop),
    };
    (result, dialog.into_transcript())
}

/// The fastest command round trip of a session, which sets how long to wait
/// for a reply that should not come.
#[derive(Debug, Default)]
struct RoundTrips {
    fastest: Option<Duration>,
}

impl RoundTrips {
    /// Sends `line`, reads its reply and times the round trip.
    async fn ask(&mut self, dialog: &mut Dialog, line: &str) -> Result<Answer, SessionError> {
        let sent = Instant::now();
        let answer = dialog.ask(line, &Want::SmtpReply).await?;
        let took = sent.elapsed();
        self.fastest = Some(self.fastest.map_or(took, |fastest| fastest.min(took)));
        Ok(answer)
    }

    /// The early-reply window, at most `cap`.
    fn window(&self, cap: Duration) -> Duration {
        (WINDOW_BASE + self.fastest.unwrap_or_default() * WINDOW_ROUND_TRIPS).min(cap)
    }
}

/// EHLO (inside TLS where the server offers it), AUTH where credentials are given
/// and offered, MAIL, RCPT, DATA; every round trip timed.
async fn transaction(
    dialog: &mut Dialog,
    ctx: &CheckContext,
    rcpt: &str,
    trips: &mut RoundTrips,
) -> Result<(), Stop> {
    let lost = |e| Stop::Verdict(trouble(e, "the mail transaction"));
    let ehlo_line = format!("EHLO {}", ctx.client_name);
    // Only MAIL, RCPT and DATA are timed: ending a message is work of their size,
    // while EHLO and the TLS handshake would stretch the window for nothing.
    let mut ehlo = dialog
        .ask(&ehlo_line, &Want::SmtpReply)
        .await
        .map_err(lost)?;
    let offers = |answer: &Answer, keyword: &str, param: Option<&str>| {
        answer
            .capabilities
            .as_ref()
            .is_some_and(|c| c.has(keyword, param))
    };
    if offers(&ehlo, "STARTTLS", None) {
        let go = dialog
            .ask("STARTTLS", &Want::SmtpReply)
            .await
            .map_err(lost)?;
        if go.status == "220" {
            dialog.start_tls().await.map_err(lost)?;
            ehlo = dialog
                .ask(&ehlo_line, &Want::SmtpReply)
                .await
                .map_err(lost)?;
        }
    }
    if let (Some(creds), true) = (&ctx.credentials, offers(&ehlo, "AUTH", Some("PLAIN"))) {
        use base64::Engine;
        let plain = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{}\0{}", creds.user, creds.password));
        dialog
            .ask(&format!("AUTH PLAIN {plain}"), &Want::SmtpReply)
            .await
            .map_err(lost)?;
    }
    for (line, command, want) in [
        ("MAIL FROM:<>".to_string(), "MAIL", "2"),
        (format!("RCPT TO:<{rcpt}>"), "RCPT", "2"),
        ("DATA".to_string(), "DATA", "3"),
    ] {
        let answer = trips.ask(dialog, &line).await.map_err(lost)?;
        if answer.status.starts_with(want) {
            continue;
        }
        return Err(match answer.status.as_str() {
            "450" | "451" => Stop::Greylisted {
                command,
                status: answer.status.clone(),
                summary: answer.summary(),
            },
            status if status.starts_with('4') => Stop::Verdict(Verdict::new(
                Outcome::Error,
                format!(
                    "the server put off a probe message (`{line}` answered `{}`): retry later",
                    answer.summary()
                ),
            )),
            _ => Stop::Verdict(Verdict::new(
                Outcome::Skip,
                format!(
                    "the server would not take a probe message (`{line}` answered `{}`)",
                    answer.summary()
                ),
            )),
        });
    }
    Ok(())
}

/// What came while the client was still inside the message.
enum Early {
    /// A reply, before the real end of data was sent.
    Reply(Answer),
    /// The server closed the connection.
    Closed,
}

/// One probe message, sent after DATA's `354`.
struct Smuggle<'a> {
    dialog: &'a mut Dialog,
    rcpt: &'a str,
    sequence: &'a [u8],
    window: Duration,
    patience: Patience,
}

impl Smuggle<'_> {
    async fn run(mut self) -> Result<Probe, Stop> {
        let mut message = format!(
            "From: <mailtls-probe@mailtls.invalid>\r\nTo: <{}>\r\nSubject: mailtls SMTP smuggling probe\r\n\r\nprobe",
            self.rcpt
        )
        .into_bytes();
        message.extend_from_slice(self.sequence);
        self.send(&message).await?;
        if let Some(early) = self.early().await? {
            return self.after_early(early, false).await;
        }
        let smuggled = format!(
            "MAIL FROM:<>\r\nRCPT TO:<{}>\r\nDATA\r\nsmuggled",
            self.rcpt
        );
        self.send(smuggled.as_bytes()).await?;
        // A server that decides only on the byte after the sequence answers now.
        // On the first try this is not waited for: a server that keeps what it
        // read ahead shows it in the count, and one that drops it leaves the
        // count unsettled, which brings the patient retry with this window.
        if self.patience == Patience::Full {
            if let Some(early) = self.early().await? {
                return self.after_early(early, true).await;
            }
        }
        self.count().await
    }

    /// Sends one segment. A server that has closed is judged by what it said
    /// before: the next wait or read finds it.
    async fn send(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        match self.dialog.send_raw(bytes).await {
            Ok(()) => Ok(()),
            Err(SessionError::Closed { .. }) => {
                self.dialog.note("the server no longer takes our bytes");
                Ok(())
            }
            Err(e) => Err(Stop::Verdict(trouble(e, "the server to take the probe"))),
        }
    }

    /// A reply (or a close) within the window; `None` when the server kept quiet.
    async fn early(&mut self) -> Result<Option<Early>, Stop> {
        let lost = |e| Stop::Verdict(trouble(e, "a reply before the real end of data"));
        match self.dialog.wait_readable(self.window).await.map_err(lost)? {
            Waited::Quiet => Ok(None),
            Waited::Closed => Ok(Some(Early::Closed)),
            Waited::Spoke(_) => match self.dialog.read(&Want::SmtpReply).await {
                Ok(answer) => Ok(Some(Early::Reply(answer))),
                Err(SessionError::Closed { .. }) => Ok(Some(Early::Closed)),
                Err(e) => Err(lost(e)),
            },
        }
    }

    /// Judges a reply that came before the real end of data. `pipelined`: the
    /// smuggled commands have been sent already (they followed the sequence).
    async fn after_early(mut self, early: Early, pipelined: bool) -> Result<Probe, Stop> {
        let shown = shown(self.sequence);
        let early = match early {
            Early::Reply(answer) => answer,
            Early::Closed => {
                return Ok(Probe::Rejected(format!(
                    "closed the connection after \"{shown}\", before the real end of data"
                )))
            }
        };
        let mut evidence = format!(
            "{} after \"{shown}\" before the real end of data",
            early.status
        );
        // A server that kept what it read ahead is running the smuggled
        // commands already: their replies follow.
        let mut replies = Vec::new();
        if pipelined {
            while replies.len() < MAX_REPLIES {
                match self.dialog.wait_readable(self.window).await {
                    Ok(Waited::Spoke(_)) => {}
                    _ => break,
                }
                match self.dialog.read(&Want::SmtpReply).await {
                    Ok(answer) => {
                        replies.push(answer.status);
                    }
                    Err(e @ SessionError::Busy(_)) => {
                        return Err(Stop::Verdict(trouble(e, "the smuggled commands")))
                    }
                    Err(_) => break,
                }
            }
        }
        if !replies.is_empty() {
            let named: Vec<String> = replies
                .iter()
                .enumerate()
                .map(|(i, code)| match ["MAIL", "RCPT", "DATA"].get(i) {
                    Some(command) => format!("{command} {code}"),
                    None => code.clone(),
                })
                .collect();
            evidence.push_str(&format!("; then {}", named.join(", ")));
            if replies.iter().any(|c| c == "354") || replies[0].starts_with('2') {
                let in_data = replies.last().is_some_and(|c| c == "354");
                self.finish(in_data).await;
                return Ok(Probe::Honoured(evidence));
            }
        } else {
            // Nothing kept, or nothing sent yet: the smuggled commands one at a
            // time, each a command only if DATA has ended.
            let mut steps = Vec::new();
            let mut in_data = false;
            for (line, command, want) in [
                ("MAIL FROM:<>".to_string(), "MAIL", "2"),
                (format!("RCPT TO:<{}>", self.rcpt), "RCPT", "2"),
                ("DATA".to_string(), "DATA", "354"),
            ] {
                let Some(answer) = self.step(&line, early.status.starts_with('2')).await? else {
                    steps.push(format!("{command} unanswered"));
                    break;
                };
                steps.push(format!("{command} {}", answer.status));
                if !answer.status.starts_with(want) {
                    break;
                }
                in_data = command == "DATA";
            }
            let mail_taken = steps.first().is_some_and(|s| s.starts_with("MAIL 2"));
            if !steps.is_empty() {
                evidence.push_str(&format!("; then {}", steps.join(", ")));
            }
            if mail_taken {
                self.finish(in_data).await;
                return Ok(Probe::Honoured(evidence));
            }
        }
        self.finish(true).await;
        if early.status.starts_with('2') {
            // Accepted before the end, yet the smuggled commands were not run:
            // odd, and not the proof a failure needs.
            return Err(Stop::Verdict(Verdict::new(
                Outcome::Error,
                format!(
                    "the server answered `{}` after \"{shown}\" before the real end of data, but did not then take MAIL as a command ({evidence})",
                    early.summary()
                ),
            )));
        }
        Ok(Probe::Rejected(evidence))
    }

    /// Sends one smuggled command and reads its reply: patiently after an early
    /// `2xx` (the server is in command mode, or broken); after a refusal only
    /// within the window, since a server that keeps reading the message until
    /// its real end rightly says nothing.
    /// A `421` (the server busy or going away) says nothing about smuggling:
    /// wherever it comes, even after a reply that looked like proof, the probe is
    /// an `error` to be run again (`Dialog::read` reports it as `Busy`).
    async fn step(&mut self, line: &str, patient: bool) -> Result<Option<Answer>, Stop> {
        if self.dialog.send(line).await.is_err() {
            return Ok(None);
        }
        if !patient
            && !matches!(
                self.dialog.wait_readable(self.window).await,
                Ok(Waited::Spoke(_))
            )
        {
            return Ok(None);
        }
        match self.dialog.read(&Want::SmtpReply).await {
            Ok(answer) => Ok(Some(answer)),
            Err(e @ SessionError::Busy(_)) => Err(Stop::Verdict(trouble(e, line))),
            Err(_) => Ok(None),
        }
    }

    /// Ends what may still be a message, and the session; best effort.
    async fn finish(&mut self, in_data: bool) {
        if in_data && self.dialog.send_raw(b"\r\n.\r\n").await.is_ok() {
            self.polite_read().await;
        }
        if self.dialog.send("QUIT").await.is_ok() {
            self.polite_read().await;
        }
    }

    async fn polite_read(&mut self) {
        if let Ok(Waited::Spoke(_)) = self.dialog.wait_readable(self.window).await {
            let _ = self.dialog.read(&Want::SmtpReply).await;
        }
    }

    /// Sends the real end of data and QUIT, then counts the replies up to QUIT's.
    async fn count(mut self) -> Result<Probe, Stop> {
        let lost = |e| Stop::Verdict(trouble(e, "the replies to the probe"));
        let mut codes = Vec::new();
        let mut closed = false;
        if self.patience == Patience::Measured {
            self.send(b"\r\n.\r\nQUIT\r\n").await?;
        } else {
            // Only once the message is answered: a server that drops what it
            // read ahead at the end of data would drop a QUIT sent with it.
            self.send(b"\r\n.\r\n").await?;
            match self.dialog.read(&Want::SmtpReply).await {
                Ok(answer) => {
                    codes.push(answer.status);
                    if self.dialog.send("QUIT").await.is_err() {
                        closed = true;
                    }
                }
                Err(SessionError::Closed { .. }) => closed = true,
                Err(e) => return Err(lost(e)),
            }
        }
        while !closed && codes.len() < MAX_REPLIES {
            match self.dialog.read(&Want::SmtpReply).await {
                Ok(answer) => {
                    let quit = answer.status == "221";
                    codes.push(answer.status);
                    if quit {
                        break;
                    }
                }
                Err(SessionError::Closed { .. }) => closed = true,
                Err(SessionError::Timeout { .. }) if !codes.is_empty() => {
                    if has_smuggled_go_ahead(&codes) {
                        break;
                    }
                    return Err(Stop::Unsettled(format!(
                        "the server answered {} and then nothing more, not even QUIT",
                        codes.join(" ")
                    )));
                }
                Err(e) => return Err(lost(e)),
            }
        }
        // The smuggled DATA getting its go-ahead is the proof, whether the server
        // first accepted the message at the bare sequence or rejected it and then
        // read the rest as commands.
        if has_smuggled_go_ahead(&codes) {
            return Ok(Probe::Honoured(format!(
                "replies {} to one message and QUIT: the smuggled DATA got 354",
                codes.join(" ")
            )));
        }
        let Some(first) = codes.first() else {
            return Ok(Probe::Rejected("closed the connection".into()));
        };
        // One reply for the message, then QUIT's (or the close).
        let expected = codes.len() == 1 || (codes.len() == 2 && codes[1] == "221");
        if !expected {
            return Err(Stop::Unsettled(format!(
                "the server answered {}, more than a message and QUIT take",
                codes.join(" ")
            )));
        }
        if first.starts_with('2') {
            Ok(Probe::Ended)
        } else {
            Ok(Probe::Rejected(codes.join(" ")))
        }
    }
}

/// Whether a `354` came after the first reply: the smuggled DATA's go-ahead.
fn has_smuggled_go_ahead(codes: &[String]) -> bool {
    codes.iter().skip(1).any(|c| c == "354")
}

/// A sequence as people write it: `\r\n.\n`.
fn shown(sequence: &[u8]) -> String {
    sequence
        .iter()
        .map(|b| match b {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            0 => "\\x00".to_string(),
            b => (*b as char).to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! The check against small hand-written SMTP peers (plaintext, no STARTTLS),
    //! one helper whose behaviour a [`Peer`] describes.

    use super::*;
    use crate::target::{Endpoint, Scheme};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Where a peer ends DATA.
    #[derive(Debug, Clone, Copy)]
    enum Ends {
        /// Only at CRLF.CRLF.
        Standard,
        /// Also at a bare `\n.\n` or `\n.\r\n` (so `\r\n.\n` too), as soon as it
        /// has read the sequence.
        BareLf,
        /// Also at `\r.\r`, but only once it has read the byte after the sequence
        /// and seen that it is not the LF of `\r.\r\n`.
        BareCrOnLookahead,
    }

    /// How a peer behaves.
    #[derive(Debug, Clone, Copy)]
    struct Peer {
        ends: Ends,
        /// Throws away what it had read past the end of data.
        drops_read_ahead: bool,
        /// Takes this long over each message (a content filter), then reads
        /// whatever arrived meanwhile before deciding what to keep of it.
        data_delay: Duration,
        /// Answers RCPT with 450 until this long after the first RCPT it saw on
        /// any connection (the triplet is always the same).
        greylist: Option<Duration>,
        /// After a message, answers 421 and closes at the first command line
        /// that starts with this (`""`: any line).
        busy_after_message: Option<&'static str>,
    }

    impl Peer {
        fn new(ends: Ends) -> Peer {
            Peer {
                ends,
                drops_read_ahead: false,
                data_delay: Duration::ZERO,
                greylist: None,
                busy_after_message: None,
            }
        }

        fn dropping(self) -> Peer {
            Peer {
                drops_read_ahead: true,
                ..self
            }
        }

        /// Listens on a loopback port and serves every connection.
        async fn spawn(self) -> u16 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let first_rcpt = Arc::new(Mutex::new(None::<Instant>));
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    tokio::spawn(self.serve(tcp, first_rcpt.clone()));
                }
            });
            port
        }

        async fn serve(
            self,
            mut tcp: TcpStream,
            first_rcpt: Arc<Mutex<Option<Instant>>>,
        ) -> std::io::Result<()> {
            tcp.write_all(b"220 peer ESMTP\r\n").await?;
            let mut buf = Vec::new();
            let mut in_data = false;
            let mut messages = 0;
            loop {
                loop {
                    if in_data {
                        let Some(consumed) = self.end_of_data(&buf) else {
                            break;
                        };
                        buf.drain(..consumed);
                        if !self.data_delay.is_zero() {
                            tokio::time::sleep(self.data_delay).await;
                            let mut chunk = [0u8; 16 * 1024];
                            while let Ok(n @ 1..) = tcp.try_read(&mut chunk) {
                                buf.extend_from_slice(&chunk[..n]);
                            }
                        }
                        if self.drops_read_ahead {
                            buf.clear();
                        }
                        in_data = false;
                        messages += 1;
                        tcp.write_all(b"250 2.0.0 queued\r\n").await?;
                        continue;
                    }
                    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                        break;
                    };
                    let line: Vec<u8> = buf.drain(..end + 2).collect();
                    let line = String::from_utf8_lossy(&line[..end]).to_ascii_uppercase();
                    let busy = self
                        .busy_after_message
                        .is_some_and(|verb| line.starts_with(verb));
                    if busy && messages > 0 {
                        tcp.write_all(b"421 4.3.2 too busy, closing\r\n").await?;
                        return Ok(());
                    }
                    let reply: &[u8] = if line.starts_with("EHLO") {
                        b"250-peer\r\n250 PIPELINING\r\n"
                    } else if line.starts_with("MAIL FROM:") {
                        b"250 2.1.0 ok\r\n"
                    } else if line.starts_with("RCPT TO:") {
                        let greylisted = self.greylist.is_some_and(|wait| {
                            let mut first = first_rcpt.lock().unwrap();
                            first.get_or_insert_with(Instant::now).elapsed() < wait
                        });
                        if greylisted {
                            b"450 4.2.0 greylisted, try again later\r\n"
                        } else {
                            b"250 2.1.5 ok\r\n"
                        }
                    } else if line == "DATA" {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if line == "QUIT" {
                        tcp.write_all(b"221 bye\r\n").await?;
                        return Ok(());
                    } else {
                        b"500 5.5.2 unknown command\r\n"
                    };
                    tcp.write_all(reply).await?;
                }
                let mut chunk = [0u8; 16 * 1024];
                let n = tcp.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }

        /// How many bytes of `data` the message takes, up to and including the
        /// end-of-data sequence this peer honours first; `None` while unended.
        fn end_of_data(&self, data: &[u8]) -> Option<usize> {
            // The line break before DATA's first line counts.
            let hay = [b"\r\n", data].concat();
            let find = |needle: &[u8]| {
                hay.windows(needle.len())
                    .position(|w| w == needle)
                    .map(|at| (at, at + needle.len()))
            };
            let mut ends = vec![find(b"\r\n.\r\n")];
            match self.ends {
                Ends::Standard => {}
                Ends::BareLf => ends.extend([find(b"\n.\n"), find(b"\n.\r\n")]),
                Ends::BareCrOnLookahead => ends.push(
                    find(b"\r.\r").filter(|&(_, end)| hay.get(end).is_some_and(|&b| b != b'\n')),
                ),
            }
            ends.into_iter().flatten().min().map(|(_, end)| end - 2)
        }
    }

    /// Runs the check against `peer` with a read timeout of `timeout_ms`, bounded.
    async fn check(peer: Peer, timeout_ms: u64) -> (Verdict, Transcript) {
        let port = peer.spawn().await;
        let mut ctx = CheckContext::new(Endpoint {
            scheme: Scheme::Smtp,
            host: "127.0.0.1".into(),
            port,
            credentials: None,
        });
        ctx.rcpt = Some("postmaster@example.org".into());
        ctx.session.timeout = Duration::from_millis(timeout_ms);
        let smuggling = Smuggling::default();
        let run = smuggling.run(&ctx, ctx.new_transcript());
        tokio::time::timeout(Duration::from_secs(90), run)
            .await
            .expect("the check ends in bounded time")
    }

    fn notes(transcript: &Transcript) -> String {
        transcript
            .entries()
            .iter()
            .filter(|e| e.dir == crate::report::model::Dir::Note)
            .map(|e| e.data.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn passes_a_server_that_ends_data_only_at_crlf_dot_crlf() {
        let (verdict, _) = check(Peer::new(Ends::Standard), 2000).await;
        assert_eq!(verdict.outcome, Outcome::Pass, "{}", verdict.detail);
        assert_eq!(
            verdict.detail,
            "none of the 11 non-standard end-of-data sequences ended a message (0 rejected outright)"
        );
    }

    #[tokio::test]
    async fn fails_a_server_that_ends_data_at_a_bare_lf_and_keeps_what_it_read_ahead() {
        let (verdict, transcript) = check(Peer::new(Ends::BareLf), 2000).await;
        assert_eq!(verdict.outcome, Outcome::Fail, "{}", verdict.detail);
        assert_eq!(
            verdict.detail,
            "the server ended DATA at 3 of 11 non-standard sequences and ran the smuggled commands: \\n.\\n, \\n.\\r\\n, \\r\\n.\\n \
             (\\n.\\n: 250 after \"\\n.\\n\" before the real end of data; then MAIL 250, RCPT 250, DATA 354)"
        );
        assert!(
            notes(&transcript).contains("HONOURED"),
            "{}",
            notes(&transcript)
        );
    }

    #[tokio::test]
    async fn fails_a_server_that_ends_data_at_a_bare_lf_and_drops_what_it_read_ahead() {
        // Every other sequence takes the patient retry: the QUIT sent behind the
        // real end of data is lost. A short read timeout keeps that quick.
        let (verdict, transcript) = check(Peer::new(Ends::BareLf).dropping(), 1000).await;
        assert_eq!(verdict.outcome, Outcome::Fail, "{}", verdict.detail);
        assert!(verdict.detail.contains("3 of 11"), "{}", verdict.detail);
        let notes = notes(&transcript);
        assert!(
            notes.contains(r#"\n.\n HONOURED: 250 after "\n.\n" before the real end of data; then MAIL 250, RCPT 250, DATA 354"#),
            "{notes}"
        );
    }

    #[tokio::test]
    async fn passes_a_correct_server_that_drops_what_it_read_ahead() {
        // The QUIT sent behind the real end of data is lost, so it takes the
        // patient retry, which sends QUIT only after the message's reply.
        let (verdict, _) = check(Peer::new(Ends::Standard).dropping(), 1000).await;
        assert_eq!(verdict.outcome, Outcome::Pass, "{}", verdict.detail);
    }

    #[tokio::test]
    async fn fails_a_server_that_needs_the_next_byte_to_end_data_and_drops_the_rest() {
        let (verdict, _) = check(Peer::new(Ends::BareCrOnLookahead).dropping(), 1000).await;
        assert_eq!(verdict.outcome, Outcome::Fail, "{}", verdict.detail);
        assert!(
            verdict
                .detail
                .contains("1 of 11 non-standard sequences and ran the smuggled commands: \\r.\\r (\\r.\\r: 250 after"),
            "{}",
            verdict.detail
        );
    }

    #[tokio::test]
    async fn fails_a_server_that_is_slow_to_end_data_at_a_bare_lf_and_drops_the_rest() {
        // Its late answer looks like the answer to the real end of data, but it
        // never answers the QUIT sent with it; the patient retry catches it early.
        let peer = Peer {
            data_delay: Duration::from_millis(400),
            ..Peer::new(Ends::BareLf).dropping()
        };
        let (verdict, transcript) = check(peer, 1000).await;
        assert_eq!(verdict.outcome, Outcome::Fail, "{}", verdict.detail);
        assert!(verdict.detail.contains("3 of 11"), "{}", verdict.detail);
        assert!(
            notes(&transcript).contains("retrying"),
            "{}",
            notes(&transcript)
        );
    }

    #[tokio::test]
    async fn waits_out_greylisting_and_judges_as_without_it() {
        let greylisted = |peer: Peer| Peer {
            greylist: Some(Duration::from_secs(1)),
            ..peer
        };
        let (verdict, _) = check(greylisted(Peer::new(Ends::Standard)), 2000).await;
        assert_eq!(verdict.outcome, Outcome::Pass, "{}", verdict.detail);
        let (verdict, _) = check(greylisted(Peer::new(Ends::BareLf)), 2000).await;
        assert_eq!(verdict.outcome, Outcome::Fail, "{}", verdict.detail);
        assert!(verdict.detail.contains("3 of 11"), "{}", verdict.detail);
    }

    #[tokio::test]
    async fn errors_when_greylisting_outlasts_the_budget() {
        let peer = Peer {
            greylist: Some(Duration::from_secs(3600)),
            ..Peer::new(Ends::Standard)
        };
        let started = Instant::now();
        let (verdict, _) = check(peer, 300).await;
        assert_eq!(verdict.outcome, Outcome::Error, "{}", verdict.detail);
        assert!(
            verdict.detail.contains("450 (greylisting?)")
                && verdict
                    .detail
                    .contains("whitelist the harness's address or retry later"),
            "{}",
            verdict.detail
        );
        // Three read timeouts of waiting in all, and some slack for the probes.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn errors_when_the_server_answers_421_after_the_message() {
        // 421 to QUIT behind a correct message, to the smuggled DATA after the
        // smuggled MAIL and RCPT were taken, to the smuggled MAIL.
        for (ends, busy_at) in [
            (Ends::Standard, "QUIT"),
            (Ends::BareLf, "DATA"),
            (Ends::BareLf, ""),
        ] {
            let peer = Peer {
                busy_after_message: Some(busy_at),
                ..Peer::new(ends)
            };
            let (verdict, _) = check(peer, 2000).await;
            let case = format!("{ends:?}, 421 at {busy_at:?}");
            assert_eq!(
                verdict.outcome,
                Outcome::Error,
                "{case}: {}",
                verdict.detail
            );
            assert!(
                verdict.detail.contains("`421 "),
                "{case}: {}",
                verdict.detail
            );
        }
    }
}
