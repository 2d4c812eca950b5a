//! The network fuzzer, end to end through the CLI: from an empty corpus it finds
//! the planted post-STARTTLS crash, minimizes it to a few lines, and `fuzz replay`
//! reproduces it; the clean server yields no findings (the oracles do not cry
//! wolf); the crash is out of reach before TLS; a resumed corpus keeps its queue
//! and does not report a known finding again.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn mailtls(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(args)
        .env("CI", "true")
        .output()
        .expect("run mailtls")
}

/// One campaign at a time. Each keeps 64 sessions in flight and restarts its server
/// after every crash; two at once on a 2-core machine slowed one to 44 sessions/s,
/// and its minimizing replays then stopped reproducing (a CI run kept all of a
/// 9-step case). A minimizer starved of CPU is not what these tests judge.
fn one_campaign_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static CAMPAIGN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    CAMPAIGN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn findings(corpus: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(corpus.join("findings"))
        .expect("findings dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn finds_minimizes_and_replays_the_planted_post_starttls_crash() {
    let _turn = one_campaign_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let corpus_arg = corpus.to_str().unwrap();
    let started = Instant::now();
    let out = mailtls(&[
        "fuzz",
        "embedded:flaws=post-starttls-crash",
        "--duration",
        "60s",
        "--seed",
        "1",
        // Generous: under load a replay that times out counts as "does not
        // reproduce", and the minimized case then keeps steps it does not need.
        "--timeout",
        "1500",
        // One session at a time makes the first crashing session, and so what is
        // minimized, depend on the seed alone: with 64 in flight it depended on
        // timing, and now and then a crash reached through a mail transaction was
        // kept whole (9 steps), an open weakness of the minimizer noted in its
        // issue. The default 64 in flight is exercised by the other tests here.
        "--jobs",
        "1",
        "--max-findings",
        "1",
        "--corpus",
        corpus_arg,
    ]);
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
    eprintln!("found and minimized in {took:?}: {stdout}");

    let files = findings(&corpus);
    assert_eq!(files.len(), 1, "{files:?}");
    let finding: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_eq!(finding["kind"], "crash");
    assert_eq!(finding["signature"], "crash:smtp:tls:AUTH");
    assert_eq!(finding["minimized"], true);
    let steps = finding["case"]["steps"].as_array().unwrap();
    assert!(steps.len() <= 4, "{steps:#?}");
    assert_eq!(steps[0], "start-tls", "{steps:#?}");

    let replay = mailtls(&[
        "fuzz",
        "replay",
        files[0].to_str().unwrap(),
        "--timeout",
        "500",
    ]);
    assert_eq!(replay.status.code(), Some(1), "reproduces");
    let text = String::from_utf8(replay.stdout).unwrap();
    insta::with_settings!({filters => vec![
        (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
        (r"AUTH PLAIN [A-Za-z0-9+/=]{20,}", "AUTH PLAIN <authzid of 256 bytes or more, base64>"),
        (r"at step \d+", "at step N"),
        // Both the MX and the submission endpoint speak SMTP; either may be hit first.
        (r"\((smtp|submission)\)", "(SMTP endpoint)"),
    ]}, {
        insta::assert_snapshot!("replay_post_starttls_crash", text);
    });
}

#[test]
fn the_clean_server_yields_no_findings() {
    let _turn = one_campaign_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let out = mailtls(&[
        "fuzz",
        "embedded",
        "--seed",
        "2",
        "--timeout",
        "500",
        "--max-sessions",
        "1000",
        "--corpus",
        corpus.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(findings(&corpus).is_empty(), "{stdout}");
    assert!(stdout.starts_with("1000 sessions"), "{stdout}");
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["sessions"], 1000);
    assert!(stats["states"].as_u64().unwrap() > 50, "{stats}");
}

#[test]
fn the_planted_crash_is_out_of_reach_before_tls() {
    let _turn = one_campaign_at_a_time();
    // Even with AUTH allowed in cleartext, the overlong authzid does no harm before TLS.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let target = runtime
        .block_on(mailtls::target::embedded::EmbeddedTarget::start(
            "post-starttls-crash,plaintext-auth"
                .parse::<mailtls::server::Flaws>()
                .unwrap()
                .into(),
        ))
        .unwrap();
    let port = target.endpoints[0].port;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(tcp.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    tcp.write_all(b"EHLO x\r\n").unwrap();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.starts_with("250 ") {
            break;
        }
    }
    use base64::Engine;
    let payload = base64::engine::general_purpose::STANDARD
        .encode([vec![b'A'; 1000], b"\0u\0p".to_vec()].concat());
    tcp.write_all(format!("AUTH PLAIN {payload}\r\n").as_bytes())
        .unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("535"), "{line}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "still accepting"
    );
    runtime.block_on(target.shutdown());
}

#[test]
fn a_resumed_corpus_keeps_its_queue_and_known_findings() {
    let _turn = one_campaign_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let corpus_arg = corpus.to_str().unwrap();
    let base = [
        "fuzz",
        "embedded:flaws=post-starttls-crash",
        "--timeout",
        "500",
        "--corpus",
        corpus_arg,
    ];
    let first = mailtls(&[&base[..], &["--seed", "3", "--max-findings", "1"]].concat());
    assert_eq!(first.status.code(), Some(1));
    let queued = std::fs::read_dir(corpus.join("queue")).unwrap().count();
    assert!(queued > 0);
    let second = mailtls(&[&base[..], &["--seed", "4", "--max-sessions", "400"]].concat());
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert_eq!(second.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("0 new finding(s), 1 in the corpus"),
        "{stdout}"
    );
    assert_eq!(findings(&corpus).len(), 1);
}

#[test]
fn refuses_targets_off_loopback_and_bad_shards() {
    let out = mailtls(&["fuzz", "smtp://192.0.2.1:25", "--max-sessions", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
    let out = mailtls(&["fuzz", "--shard", "5/4"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Ctrl-C the moment the first finding is on disk (while it is being minimized):
/// the campaign stops within seconds, not after its duration, and leaves the
/// finding, the queue and the stats file behind.
#[test]
fn ctrl_c_while_minimizing_stops_promptly_and_keeps_what_was_found() {
    let _turn = one_campaign_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args([
            "fuzz",
            "embedded:flaws=post-starttls-crash",
            "--duration",
            "60s",
        ])
        .args(["--seed", "1", "--timeout", "500", "--corpus"])
        .arg(&corpus)
        .env("CI", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mailtls starts");
    let deadline = Instant::now() + Duration::from_secs(50);
    while !corpus.join("findings").exists() || findings(&corpus).is_empty() {
        assert!(Instant::now() < deadline, "no finding within 50 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupted = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let status = child.wait().expect("mailtls exits");
    let took = interrupted.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "stopped {took:?} after Ctrl-C"
    );
    assert_eq!(status.code(), Some(1), "a new finding was saved");
    let files = findings(&corpus);
    assert_eq!(files.len(), 1, "{files:?}");
    let finding: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_eq!(finding["signature"], "crash:smtp:tls:AUTH");
    assert!(corpus.join("stats.json").exists());
    assert!(std::fs::read_dir(corpus.join("queue"))
        .unwrap()
        .next()
        .is_some());
}
