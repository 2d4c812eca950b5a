//! Benchmark of the network fuzzer against the reference server on loopback:
//! `cargo bench --bench fuzz`. Prints sessions per second for
//!
//! - plaintext sessions (greeting, EHLO, NOOP, MAIL, RSET, QUIT — no TLS),
//! - TLS sessions (greeting, EHLO, STARTTLS + handshake, EHLO, AUTH, QUIT),
//! - the campaign's own mix (generated and mutated sessions over SMTP, IMAP and
//!   POP3, about 85% of them with STARTTLS), oracles and queue included;
//! - the same mix for 30 s against `container:postfix` and `container:dovecot`
//!   (every endpoint, profile `weak`, the monitor watching), when a Docker engine
//!   answers and the images are built (skipped with a line otherwise).
//!
//! The fixed sessions at 16 in flight, the campaigns at their default (64). A
//! benchmark, not a timed test: it asserts only that the clean servers yield no
//! findings.

use mailtls::containers::docker;
use mailtls::fuzz::campaign::{Campaign, CampaignOptions, CampaignSummary};
use mailtls::fuzz::exec::{execute, Event};
use mailtls::fuzz::{Case, FuzzTarget, Step};
use mailtls::server::Flaws;
use mailtls::session::{Governor, SessionOptions};
use mailtls::target::{Endpoint, Protocol, TargetSpec};
use std::sync::Arc;
use std::time::{Duration, Instant};

const JOBS: usize = 16;

async fn rate(name: &str, case: Case, endpoint: &Endpoint, sessions: usize) {
    let options = SessionOptions {
        timeout: Duration::from_secs(2),
        ..SessionOptions::default()
    };
    let case = Arc::new(case);
    let governor = Governor::new(JOBS);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut done = 0;
    let mut issued = 0;
    while done < sessions {
        while issued < sessions && tasks.len() < JOBS {
            let (case, endpoint, options) = (case.clone(), endpoint.clone(), options.clone());
            let governor = governor.clone();
            tasks.spawn(async move { execute(&case, &endpoint, &governor, &options).await.event });
            issued += 1;
        }
        if let Some(Ok(event)) = tasks.join_next().await {
            assert_eq!(event, Event::Completed);
            done += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name:<44} {sessions:>6} sessions in {secs:>6.2} s = {:>7.0} sessions/s",
        sessions as f64 / secs
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let spec = TargetSpec::Embedded(Flaws::default().into());
        let target = FuzzTarget::start(&spec, "embedded").await.expect("server");
        let smtp = target
            .endpoint(mailtls::target::Scheme::Smtp)
            .expect("smtp");
        let lines = |lines: &[&str]| {
            lines
                .iter()
                .map(|l| Step::send(format!("{l}\r\n"), 1))
                .collect::<Vec<_>>()
        };
        let plain = Case {
            protocol: Protocol::Smtp,
            steps: lines(&["EHLO bench", "NOOP", "MAIL FROM:<a@b.test>", "RSET", "QUIT"]),
        };
        let mut tls_steps = lines(&["EHLO bench"]);
        tls_steps.push(Step::StartTls);
        tls_steps.extend(lines(&["EHLO bench", "AUTH PLAIN AHgAeQ==", "QUIT"]));
        let tls = Case {
            protocol: Protocol::Smtp,
            steps: tls_steps,
        };
        rate("plaintext SMTP session (5 commands)", plain, &smtp, 20_000).await;
        rate("SMTP session with STARTTLS (5 commands)", tls, &smtp, 5_000).await;
        target.shutdown().await;

        let target = FuzzTarget::start(&spec, "embedded").await.expect("server");
        let summary = campaign(target, Some(10_000), Duration::from_secs(120)).await;
        print_campaign("campaign mix (SMTP, IMAP, POP3; ~85% TLS)", &summary);

        for name in ["postfix", "dovecot"] {
            containers(name).await;
        }
    });
}

fn print_campaign(name: &str, summary: &CampaignSummary) {
    assert!(
        summary.new_findings.is_empty(),
        "{name}: {:?}",
        summary.new_findings
    );
    let tls = summary.phases.get("tls").copied().unwrap_or(0)
        + summary.phases.get("logged-in").copied().unwrap_or(0);
    println!(
        "{name:<44} {:>6} sessions in {:>6.2} s = {:>7.0} sessions/s ({} states, {}% in TLS)",
        summary.sessions,
        summary.elapsed_s,
        summary.sessions_per_s,
        summary.states,
        tls * 100 / summary.sessions.max(1)
    );
}

/// The campaign mix for 30 s against `container:NAME` (profile `weak`).
async fn containers(name: &str) {
    let label = format!("campaign mix, container:{name}:weak");
    let engine = match docker::engine().await {
        Ok(engine) => engine,
        Err(e) => return println!("{label:<44} skipped: {e}"),
    };
    if let Err(e) = docker::image_info(&engine, name).await {
        return println!("{label:<44} skipped: {e}");
    }
    let text = format!("container:{name}");
    let spec = TargetSpec::parse(&text).expect("spec");
    let target = FuzzTarget::start(&spec, &text).await.expect("container");
    let summary = campaign(target, None, Duration::from_secs(30)).await;
    print_campaign(&label, &summary);
}

/// A campaign of the default mix (seed 1) on a throwaway corpus.
async fn campaign(
    target: FuzzTarget,
    max_sessions: Option<u64>,
    duration: Duration,
) -> CampaignSummary {
    let corpus = tempfile::tempdir().expect("tempdir");
    let options = CampaignOptions {
        max_sessions,
        duration,
        corpus: corpus.path().to_path_buf(),
        seed: 1,
        ..CampaignOptions::default()
    };
    Campaign::new(target, options)
        .expect("campaign")
        .run(std::future::pending())
        .await
        .expect("run")
}
