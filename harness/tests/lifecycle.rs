//! What the `mailtls` binary owns over its life: the client processes it starts
//! (none survive it), the results it gathered (written even when interrupted, or
//! refused at once when they could not be), and the bounds of its input.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn mailtls(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(args)
        .env_remove("MAILTLS_PASSWORD")
        .env("CI", "true")
        .output()
        .expect("run mailtls")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The ids of live processes whose command line is exactly `argv`.
fn processes_running(argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // A zombie has an empty command line: it is dead, only not yet reaped.
        if std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| c == wanted) {
            found.push(pid);
        }
    }
    found
}

/// Waits (bounded) until no process runs `argv`; returns the ones left.
fn survivors(argv: &[&str]) -> Vec<u32> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_running(argv);
        if left.is_empty() || Instant::now() > until {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn client_test_leaves_none_of_the_clients_children_running() {
    // A duration no other process on the machine uses, so the scan finds only ours.
    let seconds = format!("{}", 7_000_000 + std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let script = format!("sleep {seconds} & sleep {seconds} & wait");
    let out = mailtls(&[
        "client-test",
        "--protocol",
        "smtp",
        "--only",
        "client.smtp.starttls-missing",
        "--timeout",
        "300",
        "--quiet",
        "--report-dir",
        dir.path().to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let left = survivors(&["sleep", &seconds]);
    for pid in &left {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    assert!(
        left.is_empty(),
        "the client's children outlived mailtls: {left:?}; stderr: {}",
        stderr(&out)
    );
    // The client never connected: not judged.
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn jobs_and_timeout_out_of_range_are_usage_errors_for_every_command() {
    let cases: &[&[&str]] = &[
        &["run", "--jobs", "0"],
        &["run", "--jobs", "2305843009213693952"],
        &["run", "--jobs", "1025"],
        &["run", "--timeout", "0"],
        &["fuzz", "--jobs", "0"],
        &["fuzz", "--jobs", "2305843009213693952"],
        &["fuzz", "--jobs", "100000"],
        &["fuzz", "--timeout", "0"],
        &["fuzz", "replay", "x.json", "--timeout", "0"],
        &["client-test", "--jobs", "1025", "--", "true"],
        &["client-test", "--timeout", "0", "--", "true"],
        &[
            "mitm",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "smtp://127.0.0.1:1",
            "--attack",
            "strip",
            "--timeout",
            "0",
        ],
    ];
    let mut messages = Vec::new();
    for args in cases {
        let out = mailtls(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let first = stderr(&out).lines().next().unwrap_or_default().to_string();
        messages.push(format!("{}\n  {first}", args.join(" ")));
    }
    insta::assert_snapshot!(messages.join("\n"));
}

#[test]
fn mitm_refusing_a_public_address_is_a_usage_error_like_serve() {
    let mitm = mailtls(&[
        "mitm",
        "--listen",
        "0.0.0.0:0",
        "--upstream",
        "smtp://127.0.0.1:1",
        "--attack",
        "strip",
    ]);
    let serve = mailtls(&["serve", "--bind", "0.0.0.0"]);
    assert_eq!(mitm.status.code(), Some(2), "{}", stderr(&mitm));
    assert_eq!(serve.status.code(), Some(2), "{}", stderr(&serve));
    let implicit = mailtls(&[
        "mitm",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "smtps://127.0.0.1:1",
        "--attack",
        "strip",
    ]);
    assert_eq!(implicit.status.code(), Some(2), "{}", stderr(&implicit));
    insta::assert_snapshot!(format!("{}{}", stderr(&mitm), stderr(&implicit)));
}

/// A loopback peer that accepts connections, keeps them open and never says a
/// word (or only its greeting); counts what it accepted. Stops accepting after
/// `lifetime`.
struct SilentPeer {
    port: u16,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SilentPeer {
    fn start(lifetime: Duration) -> SilentPeer {
        SilentPeer::greeting(lifetime, b"")
    }

    fn greeting(lifetime: Duration, greeting: &'static [u8]) -> SilentPeer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + lifetime;
            let mut held = Vec::new();
            while Instant::now() < until {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        use std::io::Write as _;
                        let _ = stream.write_all(greeting);
                        held.push(stream);
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        SilentPeer { port, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn an_unwritable_report_dir_is_refused_before_the_first_connection() {
    let peer = SilentPeer::start(Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let report_dir = file.join("reports");
    let target = format!("smtp://127.0.0.1:{}", peer.port);
    let out = mailtls(&["run", &target, "--report-dir", report_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains(report_dir.to_str().unwrap()) && message.contains("Not a directory"),
        "{message}"
    );
    assert_eq!(
        peer.accepted(),
        0,
        "a connection was made before the refusal"
    );
    insta::assert_snapshot!(message.replace(dir.path().to_str().unwrap(), "TMP"));
}

#[test]
fn an_unwritable_fuzz_corpus_is_refused_before_the_target_starts() {
    let peer = SilentPeer::start(Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let corpus = file.join("corpus");
    let target = format!("smtp://127.0.0.1:{}", peer.port);
    let out = mailtls(&["fuzz", &target, "--corpus", corpus.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("Not a directory"), "{}", stderr(&out));
    assert_eq!(
        peer.accepted(),
        0,
        "a connection was made before the refusal"
    );
}

#[test]
fn ctrl_c_writes_the_report_of_the_checks_that_finished_and_exits_130() {
    // One target answers at once (the embedded server), the other never does: after
    // Ctrl-C the report holds the first's results and says it was interrupted.
    let peer = SilentPeer::start(Duration::from_secs(120));
    let dir = tempfile::tempdir().unwrap();
    let silent = format!("smtp://127.0.0.1:{}", peer.port);
    let child = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(["run", "embedded", &silent, "--timeout", "60000", "--format"])
        .arg("json,junit,sarif,html,md")
        .arg("--report-dir")
        .arg(dir.path())
        .env("CI", "true")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while peer.accepted() == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(peer.accepted() > 0, "the run never reached the silent peer");
    // The embedded server's checks take about a second; give a busy machine more.
    std::thread::sleep(Duration::from_secs(4));
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("report.json")).expect("report.json");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["interrupted"], true);
    let targets = report["targets"].as_array().unwrap();
    assert!(targets[0]["target"]
        .as_str()
        .unwrap()
        .starts_with("smtp://"));
    let finished: usize = targets
        .iter()
        .map(|t| t["results"].as_array().unwrap().len())
        .sum();
    assert!(finished > 0, "no finished check in the report: {text}");
    assert!(report["summary"]["pass"].as_u64().unwrap() > 0, "{text}");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("interrupted (Ctrl-C)"), "{summary}");
    let markdown = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(markdown.contains("interrupted (Ctrl-C)"), "{markdown}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("class=\"interrupted\""));
    let sarif = std::fs::read_to_string(dir.path().join("report.sarif")).unwrap();
    assert!(sarif.contains("\"executionSuccessful\": false"));
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("interrupted"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_leaves_no_temporary_report_file() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=32k", "tmpfs"])
        .arg(dir.path())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!(
            "skipped: cannot mount a tmpfs here (needs root); write.rs unit tests cover this"
        );
        return;
    }
    let _unmount = Mounted(dir.path().to_path_buf());
    let out = mailtls(&[
        "run",
        "--quiet",
        "--format",
        "json,html",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}

#[test]
fn an_interrupted_report_says_so_in_every_format_a_person_reads() {
    use mailtls::report::model::{CheckResult, Outcome, Report, Severity, TargetReport};
    let result = |id: &str, status| CheckResult {
        id: id.into(),
        title: "A check".into(),
        status,
        severity: Severity::High,
        references: Vec::new(),
        duration_ms: 3,
        detail: "why".into(),
        transcript: Vec::new(),
        baseline: None,
    };
    let report = Report::new(
        "2026-01-01T00:00:00Z".into(),
        1234,
        vec![TargetReport {
            target: "smtp://127.0.0.1:2525".into(),
            protocol: "smtp".into(),
            policy: mailtls::target::Policy::Mx,
            reachable: true,
            results: vec![
                result("smtp.a", Outcome::Pass),
                result("smtp.b", Outcome::Pass),
            ],
        }],
    )
    .interrupted();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["interrupted"], true);
    let back: Report = serde_json::from_value(json).unwrap();
    assert!(back.interrupted);
    let html = mailtls::report::html::to_html(&report);
    assert!(html.contains("<title>mailtls report — interrupted: "));
    assert!(html.contains("Interrupted</span>"));
    let junit = mailtls::report::junit::to_junit(&report).unwrap();
    assert!(
        junit.contains("<property name=\"interrupted\" value=\"true\"/>"),
        "{junit}"
    );
    insta::assert_snapshot!(format!(
        "{}\n---\n{}",
        mailtls::report::terminal::summary(&report),
        mailtls::report::markdown::to_markdown(&report, "report.html")
    ));
}

#[test]
fn fuzz_stops_soon_after_its_duration_even_when_every_session_hangs() {
    // A server that greets and then never answers: every session is a hang, and
    // before the wind-down was bounded, confirming and minimizing them ran a 3 s
    // campaign for more than a minute.
    let peer = SilentPeer::greeting(Duration::from_secs(120), b"220 hi\r\n");
    let corpus = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(["fuzz", &format!("smtp://127.0.0.1:{}", peer.port)])
        .args(["--duration", "3s", "--seed", "1", "--quiet", "--corpus"])
        .arg(corpus.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Generous for a busy machine: the bound is 3 s + 1 s of wind-down.
    let limit = Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(peer.accepted() > 0);
    let status = status.unwrap_or_else(|| panic!("fuzz --duration 3s still ran after {limit:?}"));
    assert!(matches!(status.code(), Some(0 | 1)), "{status}");
}

#[test]
fn ctrl_c_during_client_test_ends_the_clients_children_and_exits_130_with_a_report() {
    let seconds = format!("{}", 8_000_000 + std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let script = format!("sleep {seconds} & sleep {seconds} & wait");
    let child = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(["client-test", "--protocol", "smtp", "--timeout", "60000"])
        .args(["--only", "client.smtp.starttls-missing", "--report-dir"])
        .arg(dir.path())
        .args(["--", "sh", "-c", &script])
        .env("CI", "true")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while processes_running(&["sleep", &seconds]).len() < 2 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    let left = survivors(&["sleep", &seconds]);
    for pid in &left {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    assert!(
        left.is_empty(),
        "the client's children outlived Ctrl-C: {left:?}"
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("report.json")).expect("report.json");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["interrupted"], true, "{text}");
    assert_eq!(report["targets"][0]["target"], "client:custom", "{text}");
    assert_eq!(report["targets"][0]["policy"], "submission", "{text}");
}
