//! Budgets against hostile servers: hand-written peers that stream forever (huge
//! IMAP literals, an endless SMTP multi-line reply, an endless POP3 CAPA list) or
//! drip an untagged line every little while, and `mailtls run` as users run it,
//! with every report format and `-v`. Each run must end within its bounds, with
//! every result `error` or `skip` (a bound spent is never a verdict), a peak RSS
//! (VmHWM of the subprocess) under 100 MB, and a report of bounded size. Then
//! the check deadline itself: a session ends at it with its transcript, and a
//! check that still overruns is stopped by the runner.
//!
//! Every peer is bounded in time (it stops with the test, or after
//! [`PEER_LIFETIME`]), and every run is killed if it outlives its limit.

use mailtls::checks::native::{BoxFuture, NativeCheck};
use mailtls::checks::{Catalogue, Check, CheckContext, Verdict};
use mailtls::report::model::{Outcome, Severity};
use mailtls::runner::{run_target, PreparedTarget};
use mailtls::scenario::{Meta, Needs};
use mailtls::session::conn::CheckDeadline;
use mailtls::session::Transcript;
use mailtls::target::{Endpoint, Protocol, Scheme};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// No peer connection lives longer than this, whatever the client does.
const PEER_LIFETIME: Duration = Duration::from_secs(90);

/// The peak RSS every run must stay under.
const PEAK_RSS_LIMIT_KB: u64 = 100 * 1024;

/// The largest report.json accepted: the run's transcript budget (4 MiB) and
/// JSON's own overhead, with room.
const REPORT_JSON_LIMIT: u64 = 8 * 1024 * 1024;

/// A hand-written peer on a loopback port; it stops when dropped.
struct Peer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Peer {
    /// Listens and runs `serve` on every connection, each in its own thread.
    fn start(serve: fn(&mut TcpStream, &Session) -> std::io::Result<()>) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while !stopped.load(Ordering::Relaxed) && started.elapsed() < PEER_LIFETIME {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let session = Session {
                            stop: stopped.clone(),
                            started: Instant::now(),
                        };
                        std::thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            // A client that stops reading must not block us forever.
                            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                            let _ = serve(&mut stream, &session);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Peer { port, stop }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What a peer's connection knows: whether to go on.
struct Session {
    stop: Arc<AtomicBool>,
    started: Instant,
}

impl Session {
    fn go_on(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && self.started.elapsed() < PEER_LIFETIME
    }
}

/// Reads the client's first command (or gives up after the read timeout).
fn first_command(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf);
}

/// Writes `chunk` again and again while the client takes it.
fn forever(stream: &mut TcpStream, session: &Session, chunk: &[u8]) -> std::io::Result<()> {
    while session.go_on() {
        match stream.write_all(chunk) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// IMAP: greets, then streams untagged FETCH responses with 1 MiB literals.
fn imap_literal_flood(stream: &mut TcpStream, session: &Session) -> std::io::Result<()> {
    stream.write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hostile\r\n")?;
    first_command(stream);
    let literal = vec![b'x'; 1024 * 1024];
    let mut response = b"* 1 FETCH (BODY[] {1048576}\r\n".to_vec();
    response.extend_from_slice(&literal);
    response.extend_from_slice(b")\r\n");
    forever(stream, session, &response)
}

/// IMAP: greets, then sends one untagged line every 200 ms, never a completion.
fn imap_drip(stream: &mut TcpStream, session: &Session) -> std::io::Result<()> {
    stream.write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hostile\r\n")?;
    first_command(stream);
    let mut n = 0;
    while session.go_on() {
        n += 1;
        std::thread::sleep(Duration::from_millis(200));
        stream.write_all(format!("* {n} EXISTS\r\n").as_bytes())?;
    }
    Ok(())
}

/// SMTP: greets, then answers with a `250-` continuation line forever.
fn smtp_endless_reply(stream: &mut TcpStream, session: &Session) -> std::io::Result<()> {
    stream.write_all(b"220 hostile ESMTP\r\n")?;
    first_command(stream);
    let mut line = b"250-".to_vec();
    line.extend(std::iter::repeat_n(b'y', 1000));
    line.extend_from_slice(b"\r\n");
    forever(stream, session, &line.repeat(16))
}

/// POP3: greets, then answers with a CAPA list that never ends.
fn pop3_endless_capa(stream: &mut TcpStream, session: &Session) -> std::io::Result<()> {
    stream.write_all(b"+OK hostile\r\n")?;
    first_command(stream);
    stream.write_all(b"+OK capability list follows\r\n")?;
    let mut line = vec![b'X'; 1000];
    line.extend_from_slice(b"\r\n");
    forever(stream, session, &line.repeat(16))
}

/// What a `mailtls run` did.
struct Run {
    /// The exit code, `None` when killed.
    code: Option<i32>,
    took: Duration,
    /// The highest VmHWM seen, in kB.
    peak_kb: u64,
    dir: tempfile::TempDir,
}

/// Runs `mailtls run TARGET` with every report format, `-v` and `flags`,
/// sampling its VmHWM; kills it after `limit` (the test then fails on `code`).
fn run(target: &str, flags: &[&str], limit: Duration) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let stdout = std::fs::File::create(dir.path().join("stdout.txt")).unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(["run", target, "-v", "--format", "json,junit,html,md,sarif"])
        .arg("--report-dir")
        .arg(dir.path())
        .args(flags)
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("start mailtls");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    let code = loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            peak_kb = peak_kb.max(vm_hwm_kb(&status));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code,
        took: started.elapsed(),
        peak_kb,
        dir,
    }
}

fn vm_hwm_kb(status: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

/// (id, status, detail) of every result.
fn results(dir: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut out = Vec::new();
    for target in report["targets"].as_array().unwrap() {
        for result in target["results"].as_array().unwrap() {
            let field = |k: &str| result[k].as_str().unwrap().to_string();
            out.push((field("id"), field("status"), field("detail")));
        }
    }
    out
}

/// What every hostile run must show: it ended by itself within `limit`, under
/// the memory limit, with every report written and of bounded size, exit 3, and
/// nothing judged but errors and skips; returns the results.
fn assert_bounded(run: &Run, limit: Duration) -> Vec<(String, String, String)> {
    assert!(
        run.code.is_some(),
        "still running after {} ms: killed",
        limit.as_millis()
    );
    assert!(
        run.peak_kb < PEAK_RSS_LIMIT_KB,
        "peak RSS {} kB (limit {PEAK_RSS_LIMIT_KB} kB)",
        run.peak_kb
    );
    for file in [
        "report.json",
        "junit.xml",
        "report.html",
        "summary.md",
        "report.sarif",
    ] {
        assert!(run.dir.path().join(file).exists(), "{file} not written");
    }
    let json = std::fs::metadata(run.dir.path().join("report.json"))
        .unwrap()
        .len();
    assert!(json < REPORT_JSON_LIMIT, "report.json is {json} bytes");
    let results = results(run.dir.path());
    let judged: Vec<_> = results
        .iter()
        .filter(|(_, status, _)| status != "error" && status != "skip")
        .collect();
    assert!(judged.is_empty(), "judged on a bound: {judged:#?}");
    assert_eq!(run.code, Some(3), "exit code");
    results
}

/// Whether `detail` names one of the harness's bounds.
fn names_a_bound(detail: &str) -> bool {
    ["longer than", "more than", "x --timeout", "time budget"]
        .iter()
        .any(|bound| detail.contains(bound))
}

#[test]
fn imap_literal_flood_ends_soon_with_memory_and_report_bounded() {
    let peer = Peer::start(imap_literal_flood);
    let limit = Duration::from_secs(60);
    let target = format!("imap://127.0.0.1:{}", peer.port);
    let run = run(&target, &["--timeout", "1000"], limit);
    let results = assert_bounded(&run, limit);
    let starttls = results
        .iter()
        .find(|(id, ..)| id == "imap.starttls.offered")
        .unwrap();
    assert!(names_a_bound(&starttls.2), "{starttls:?}");
    eprintln!(
        "IMAP literal flood: {} ms, peak {} kB",
        run.took.as_millis(),
        run.peak_kb
    );
}

#[test]
fn imap_drip_ends_within_one_answer_ceiling() {
    let peer = Peer::start(imap_drip);
    // One answer may take 3 x --timeout = 3 s; the rest is slack for a busy
    // machine. Without one ceiling per answer, 1000 untagged lines of 200 ms
    // each take 200 s.
    let limit = Duration::from_secs(30);
    let target = format!("imap://127.0.0.1:{}", peer.port);
    let run = run(
        &target,
        &["--timeout", "1000", "--only", "imap.starttls.offered"],
        limit,
    );
    let results = assert_bounded(&run, limit);
    assert_eq!(results.len(), 1);
    assert!(
        results[0].2.contains("at most 3 x --timeout"),
        "{:?}",
        results[0]
    );
    assert!(run.took < Duration::from_secs(20), "{:?}", run.took);
}

#[test]
fn smtp_endless_multi_line_reply_ends_with_memory_and_report_bounded() {
    let peer = Peer::start(smtp_endless_reply);
    let limit = Duration::from_secs(60);
    let target = format!("smtp://127.0.0.1:{}", peer.port);
    let run = run(&target, &["--timeout", "1000"], limit);
    let results = assert_bounded(&run, limit);
    let errors: Vec<_> = results.iter().filter(|(_, s, _)| s == "error").collect();
    assert!(!errors.is_empty());
    assert!(
        errors.iter().all(|(_, _, detail)| names_a_bound(detail)),
        "{errors:#?}"
    );
}

#[test]
fn pop3_endless_capa_is_an_error_not_a_verdict_and_stays_bounded() {
    let peer = Peer::start(pop3_endless_capa);
    let limit = Duration::from_secs(60);
    let target = format!("pop3://127.0.0.1:{}", peer.port);
    let run = run(&target, &["--timeout", "1000"], limit);
    let results = assert_bounded(&run, limit);
    let offered = results
        .iter()
        .find(|(id, ..)| id == "pop3.starttls.offered")
        .unwrap();
    assert_eq!(offered.1, "error", "{offered:?}");
    assert!(names_a_bound(&offered.2), "{offered:?}");
}

/// SMTP: greets, then answers every command, each 300 ms late.
fn smtp_slow(stream: &mut TcpStream, session: &Session) -> std::io::Result<()> {
    stream.write_all(b"220 slow ESMTP\r\n")?;
    let mut buf = [0u8; 4096];
    while session.go_on() {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                std::thread::sleep(Duration::from_millis(300));
                stream.write_all(b"250 ok\r\n")?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn endpoint(scheme: Scheme, port: u16) -> Endpoint {
    Endpoint {
        scheme,
        host: "127.0.0.1".into(),
        port,
        credentials: None,
    }
}

#[tokio::test]
async fn a_session_ends_at_the_check_deadline_and_keeps_its_transcript() {
    let peer = Peer::start(smtp_slow);
    let script =
        "id: smtp.test.slow\ntitle: many slow answers\nprotocol: smtp\nseverity: low\n\nS: 220\n"
            .to_string()
            + &"C: NOOP\nS: 250 else fail if 5xx \"NOOP refused\"\n".repeat(20);
    let check = Check::Script(mailtls::scenario::parse("slow.mts", &script).unwrap());
    let mut ctx = CheckContext::new(endpoint(Scheme::Smtp, peer.port));
    ctx.session.timeout = Duration::from_secs(2);
    let budget = Duration::from_millis(1000);
    ctx.session.deadline = Some(CheckDeadline {
        at: tokio::time::Instant::now() + budget,
        budget,
    });
    let started = Instant::now();
    let result = check.run(&ctx).await;
    assert_eq!(result.status, Outcome::Error, "{}", result.detail);
    assert!(
        result
            .detail
            .contains("the check's time budget of 1000 ms ran out"),
        "{}",
        result.detail
    );
    // Twenty answers 300 ms apart would take 6 s.
    assert!(started.elapsed() < Duration::from_secs(5));
    let noted = result
        .transcript
        .iter()
        .any(|e| e.data.contains("time budget of 1000 ms"));
    assert!(noted, "{:#?}", result.transcript);
    assert!(result.transcript.iter().any(|e| e.data == "250 ok\r\n"));
}

/// A check that never returns.
#[derive(Debug)]
struct Hang {
    meta: Meta,
}

impl NativeCheck for Hang {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a CheckContext,
        _transcript: Transcript,
    ) -> BoxFuture<'a, (Verdict, Transcript)> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn the_runner_stops_a_check_that_overruns_its_budget() {
    let mut catalogue = Catalogue::default();
    catalogue
        .add(Check::Native(Box::new(Hang {
            meta: Meta {
                id: "test.hang".into(),
                title: "never returns".into(),
                protocol: Some(Protocol::Smtp),
                severity: Severity::Low,
                references: Vec::new(),
                needs: Needs::default(),
                policies: Vec::new(),
                pass_detail: None,
            },
        })))
        .unwrap();
    let mut ctx = CheckContext::new(endpoint(Scheme::Smtp, 9));
    // A budget of 60 x 20 ms, and five timeouts of grace.
    ctx.session.timeout = Duration::from_millis(20);
    let target = PreparedTarget {
        label: "hang".into(),
        ctx,
        closed: None,
    };
    let started = Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(30), run_target(&catalogue, &target, 1))
        .await
        .expect("the runner stopped the check");
    let result = &report.results[0];
    assert_eq!(result.status, Outcome::Error);
    assert!(
        result.detail.contains("time budget of 1200 ms"),
        "{}",
        result.detail
    );
    assert!(started.elapsed() >= Duration::from_millis(1200));
}

/// Greets and then says nothing more.
fn smtp_mute(stream: &mut TcpStream, session: &Session) -> std::io::Result<()> {
    stream.write_all(b"220 mute ESMTP\r\n")?;
    while session.go_on() {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[tokio::test]
async fn silence_cut_short_by_the_check_deadline_is_no_evidence_of_silence() {
    use mailtls::session::{Connection, SessionError, SessionOptions, Waited};
    let peer = Peer::start(smtp_mute);
    let budget = Duration::from_millis(300);
    let options = SessionOptions {
        timeout: Duration::from_secs(5),
        deadline: Some(CheckDeadline {
            at: tokio::time::Instant::now() + budget,
            budget,
        }),
        ..SessionOptions::default()
    };
    let mut conn = Connection::connect("127.0.0.1", peer.port, false, options, Transcript::new())
        .await
        .map_err(|(e, _)| e)
        .expect("connect");
    assert!(matches!(
        conn.wait_for_bytes(Duration::from_secs(5)).await,
        Ok(Waited::Spoke(_))
    ));
    // Waiting 5 s for silence would end as `Quiet`; the check's deadline ends
    // it sooner, and that is an error, not a quiet server.
    let waited = conn.wait_for_bytes(Duration::from_secs(5)).await;
    assert!(
        matches!(waited, Err(SessionError::OutOfTime { budget_ms: 300, .. })),
        "{waited:?}"
    );
}

/// SMTP: turns every connection away at the greeting, as a server over its
/// limits does.
fn smtp_busy_forever(stream: &mut TcpStream, _: &Session) -> std::io::Result<()> {
    stream.write_all(b"421 4.7.0 too busy, go away\r\n")
}

/// A server that has never greeted costs one open's budget (4 x --timeout) in
/// all, not one per check: the opens that take turns in the one slot left
/// each spend their own budget slowly (queueing does not count), so the
/// endpoint's budget runs from its first sign of overload. With the default
/// --timeout this run took 99 s before, 21 s after.
#[test]
fn a_server_that_turns_every_connection_away_costs_one_budget_in_all() {
    let peer = Peer::start(smtp_busy_forever);
    let limit = Duration::from_secs(80);
    let run = run(&format!("smtp://127.0.0.1:{}", peer.port), &[], limit);
    let results = assert_bounded(&run, limit);
    assert!(results.len() > 20, "{results:?}");
    // One budget (20 s), the back-off under way (at most 3 s and its jitter),
    // and room for a busy machine.
    assert!(run.took < Duration::from_secs(50), "took {:?}", run.took);
}
