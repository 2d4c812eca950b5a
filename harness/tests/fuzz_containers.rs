//! The network fuzzer against real servers in containers: the monitor reports a
//! Postfix child killed by a signal (which no socket shows: the master starts a
//! new one), and a container that dies mid-campaign is reported, restarted on
//! new ports, and fuzzed on; short campaigns against Postfix and Dovecot reach
//! the TLS and logged-in states and find nothing (the oracles do not cry wolf on
//! real servers under load).
//!
//! Without a Docker engine every test is skipped with one line; with one, an
//! image that cannot be built or a container that cannot start fails the test.

use mailtls::containers::docker;
use mailtls::containers::recipe::{default_root, Recipe};
use mailtls::containers::{build, BuildOutcome};
use mailtls::fuzz::campaign::{Campaign, CampaignOptions};
use mailtls::fuzz::FuzzTarget;
use mailtls::session::SessionOptions;
use mailtls::target::{Scheme, TargetSpec};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use testcontainers::bollard::exec::{CreateExecOptions, StartExecResults};
use testcontainers::bollard::query_parameters::KillContainerOptions;
use testcontainers::bollard::Docker;
use tokio::io::AsyncReadExt;

/// The engine, with `name`'s image built (skipped when current); `None`, after
/// one line on stderr, when there is no engine.
async fn engine_with(name: &str) -> Option<Docker> {
    let engine = match docker::engine().await {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("fuzz_containers: skipping: {e}");
            return None;
        }
    };
    let recipe = Recipe::load(&default_root(), name).expect("recipe");
    let progress = |line: &str| eprintln!("build {name}: {line}");
    match build(&engine, &recipe, &progress).await {
        Ok(BuildOutcome::UpToDate) => {}
        Ok(BuildOutcome::Built { took }) => eprintln!("build {name}: built in {took:?}"),
        Err(e) => panic!("building {name}: {e}"),
    }
    Some(engine)
}

/// Runs `script` with `sh -c` in container `id` and waits for it to end.
async fn exec(engine: &Docker, id: &str, script: &str) {
    use futures_util::StreamExt;
    let exec = engine
        .create_exec(
            id,
            CreateExecOptions {
                cmd: Some(vec!["sh", "-c", script]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("create exec");
    if let StartExecResults::Attached { mut output, .. } =
        engine.start_exec(&exec.id, None).await.expect("start exec")
    {
        let drain = async { while output.next().await.is_some() {} };
        tokio::time::timeout(Duration::from_secs(20), drain)
            .await
            .expect("exec ends");
    }
}

/// Every smtpd process gets SIGSEGV (the image has no pkill: /proc is walked).
const SEGV_SMTPD: &str = "for p in /proc/[0-9]*; do \
    case \"$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)\" in smtpd*) kill -SEGV ${p#/proc/};; esac; \
    done";

#[tokio::test(flavor = "multi_thread")]
async fn the_monitor_reports_a_postfix_child_killed_by_a_signal() {
    let Some(engine) = engine_with("postfix").await else {
        return;
    };
    let text = "container:postfix:weak";
    let mut target = FuzzTarget::start(&TargetSpec::parse(text).unwrap(), text)
        .await
        .expect("postfix starts");
    let id = target.container_id().expect("a container");
    let smtp = target.endpoint(Scheme::Smtp).expect("smtp endpoint");

    // A session holds an smtpd child open while it is killed.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", smtp.port))
        .await
        .expect("connect");
    let mut greeting = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut greeting))
        .await
        .expect("greeted in time")
        .expect("read");
    assert!(greeting[..n].starts_with(b"220 "), "{:?}", &greeting[..n]);
    assert!(target.events().is_empty(), "nothing before the crash");
    exec(&engine, &id, SEGV_SMTPD).await;

    let until = Instant::now() + Duration::from_secs(15);
    let mut events = Vec::new();
    while events.is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        events = target.events();
    }
    target.shutdown().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert!(!event.exited, "the master survives its child");
    insta::assert_snapshot!(event.signature, @"log:postfix/master[N]: warning: process /usr/lib/postfix/sbin/smtpd pid N killed by signal 11");
    assert!(
        event.log.iter().any(|l| l.contains("killed by signal 11")),
        "{:#?}",
        event.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_container_is_reported_restarted_and_fuzzed_on() {
    let Some(engine) = engine_with("postfix").await else {
        return;
    };
    let text = "container:postfix:weak";
    let target = FuzzTarget::start(&TargetSpec::parse(text).unwrap(), text)
        .await
        .expect("postfix starts");
    let id = target.container_id().expect("a container");
    let dir = tempfile::tempdir().unwrap();
    // A session budget, not a duration: however slow the machine, 250 or more
    // of them run after the kill.
    let options = CampaignOptions {
        duration: Duration::from_secs(300),
        max_sessions: Some(300),
        corpus: dir.path().to_path_buf(),
        seed: 5,
        jobs: 4,
        monitor_replays: 4,
        minimize_budget: 0,
        session: SessionOptions {
            timeout: Duration::from_millis(1000),
            ..SessionOptions::default()
        },
        ..CampaignOptions::default()
    };
    let stats = dir.path().join("stats.json");
    let killer = async {
        // Kill the container (its PID 1, Postfix's master) once 50 sessions ran.
        let until = Instant::now() + Duration::from_secs(120);
        while sessions(&stats) < 50 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let before = sessions(&stats);
        engine
            .kill_container(
                &id,
                Some(KillContainerOptions {
                    signal: "SIGKILL".into(),
                }),
            )
            .await
            .expect("kill");
        before
    };
    let campaign = Campaign::new(target, options).expect("campaign");
    let (summary, before) = tokio::join!(campaign.run(std::future::pending()), killer);
    let summary = summary.expect("the campaign survives the container's death");
    assert!(
        (50..250).contains(&before),
        "{before} sessions before the kill"
    );
    assert!(summary.restarts >= 1, "{summary:?}");
    assert_eq!(summary.sessions, 300, "fuzzed on after the restart");
    let findings = findings(dir.path());
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    let signature = finding["signature"].as_str().unwrap();
    assert!(
        signature == "crash:container:exited with status 137"
            || signature == "crash:container:gone",
        "{signature}"
    );
    // Nobody's session killed it: no replay brings it back, and the finding says so.
    assert!(
        finding["attribution"]
            .as_str()
            .unwrap()
            .starts_with("unconfirmed:"),
        "{finding:#}"
    );
    assert!(
        !finding["window"].as_array().unwrap().is_empty(),
        "{finding:#}"
    );
}

/// The sessions count in a stats file (0 when not yet written).
fn sessions(stats: &Path) -> u64 {
    std::fs::read_to_string(stats)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["sessions"].as_u64())
        .unwrap_or(0)
}

fn findings(corpus: &Path) -> Vec<serde_json::Value> {
    let Ok(entries) = std::fs::read_dir(corpus.join("findings")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// A 20-second campaign through the CLI: exit 0, no findings, sessions that
/// reached TLS and sessions that logged in.
async fn clean_campaign(name: &str) {
    if engine_with(name).await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(["fuzz", &format!("container:{name}"), "--duration", "20s"])
        .args(["--seed", "11", "--corpus"])
        .arg(dir.path())
        .env("CI", "true")
        .output()
        .expect("run mailtls");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("container:{name}:weak")),
        "{stderr}"
    );
    assert!(findings(dir.path()).is_empty(), "{stdout}");
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("stats.json")).unwrap())
            .unwrap();
    let phase = |p: &str| stats["phases"][p].as_u64().unwrap_or(0);
    assert!(phase("tls") > 0 && phase("logged-in") > 0, "{stats:#}");
    assert_eq!(stats["restarts"], 0, "{stats:#}");
    eprintln!("{name}: {stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_campaign_against_postfix_finds_nothing() {
    clean_campaign("postfix").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_campaign_against_dovecot_finds_nothing() {
    clean_campaign("dovecot").await;
}
