//! The `mailtls` binary as users meet it: exit codes, reports on disk, and the
//! messages people read (insta snapshots).

use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn mailtls(args: &[&str], report_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(args)
        .arg("--report-dir")
        .arg(report_dir)
        .env_remove("MAILTLS_PASSWORD")
        .output()
        .expect("run mailtls")
}

fn report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["results"].as_array().unwrap())
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Ports, times and durations change from run to run; people's eyes don't care.
fn stable(text: &str) -> String {
    let ports = regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    let ms = regex::Regex::new(r"\d+ ms").unwrap();
    let dirs = regex::Regex::new(r"reports: .*").unwrap();
    // IMAP tags are fresh random words for each check: `ud13` + the step's digit.
    let tags = regex::Regex::new(r"`[a-z][a-z0-9]{3}(\d) ").unwrap();
    let text = ports.replace_all(text, "127.0.0.1:PORT");
    let text = tags.replace_all(&text, "`TAG$1 ");
    let text = ms.replace_all(&text, "N ms");
    dirs.replace_all(&text, "reports: DIR").into_owned()
}

#[test]
fn default_run_judges_the_embedded_server_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = mailtls(&["run"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = report(dir.path());
    assert_eq!(report["schema"], "mailtls-report/1");
    let results = statuses(&report);
    assert!(results.len() >= 16);
    assert!(
        results.iter().all(|(_, s)| s == "pass" || s == "skip"),
        "{results:?}"
    );
    assert!(dir.path().join("junit.xml").exists());
    let summary = &report["summary"];
    assert_eq!(summary["fail"].as_u64(), Some(0));
    assert_eq!(summary["error"].as_u64(), Some(0));
    let protocols: Vec<_> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["protocol"].as_str().unwrap())
        .collect();
    assert_eq!(protocols, ["smtp", "smtp", "imap", "pop3"]);
}

#[test]
fn injection_flaw_exits_1_and_names_exactly_the_injection_checks() {
    let dir = tempfile::tempdir().unwrap();
    let out = mailtls(&["run", "embedded:flaws=starttls-injection"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let failed: Vec<_> = statuses(&report(dir.path()))
        .into_iter()
        .filter(|(_, s)| s == "fail")
        .map(|(id, _)| id)
        .collect();
    // Every STARTTLS endpoint: MX and submission SMTP, IMAP, POP3.
    assert_eq!(
        failed,
        [
            "smtp.starttls.injection",
            "smtp.starttls.injection-partial-line",
            "smtp.starttls.injection",
            "smtp.starttls.injection-partial-line",
            "imap.starttls.injection",
            "imap.starttls.injection-partial-line",
            "pop3.starttls.injection",
            "pop3.starttls.injection-partial-line"
        ]
    );
    insta::assert_snapshot!(
        "terminal_summary_injection",
        stable(&String::from_utf8_lossy(&out.stdout))
    );
}

#[test]
fn closed_port_exits_3_with_errors_not_failures() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = mailtls(&["run", &format!("smtp://127.0.0.1:{port}")], dir.path());
    assert_eq!(out.status.code(), Some(3));
    // Checks that do not apply skip without connecting; every other is `error`.
    let results = statuses(&report(dir.path()));
    let judged: Vec<_> = results.iter().filter(|(_, s)| s != "skip").collect();
    assert!(
        judged.len() >= 9 && judged.iter().all(|(_, s)| s == "error"),
        "{results:?}"
    );
}

#[test]
fn silent_server_ends_within_the_timeout_as_errors_and_exit_3() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold every connection without a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = mailtls(
        &[
            "run",
            &format!("imap://127.0.0.1:{port}"),
            "--timeout",
            "300",
        ],
        dir.path(),
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let report = report(dir.path());
    let results = report["targets"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for result in results.iter().filter(|r| r["status"] != "skip") {
        assert_eq!(result["status"], "error");
        assert!(
            result["detail"]
                .as_str()
                .unwrap()
                // 300 ms, or 600 once the governor has learnt to wait longer
                // for a server that greets late (which of the two a check
                // meets depends on the order the checks run in).
                .contains("timed out after"),
            "{result}"
        );
    }
}

#[test]
fn bad_url_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = mailtls(&["run", "smtp://"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("bad_url", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn broken_scenario_exits_2_naming_file_line_and_column() {
    let scripts = tempfile::tempdir().unwrap();
    let path = scripts.path().join("typo.mts");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "id: smtp.custom.typo\ntitle: A typo\nprotocol: smtp\nseverity: low\n\nS: 220\nC: EHLO ${{client}}\nS: 25O else fail \"EHLO refused\"").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = mailtls(
        &["run", "--scenarios", scripts.path().to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(scripts.path().to_str().unwrap(), "DIR");
    insta::assert_snapshot!("broken_scenario", stderr);
}

#[test]
fn list_shows_the_catalogue() {
    let out = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("list", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn only_glob_selects_checks() {
    let dir = tempfile::tempdir().unwrap();
    let out = mailtls(&["run", "--only", "pop3.*", "--format", "json"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let results = statuses(&report(dir.path()));
    assert_eq!(results.len(), 10);
    assert!(results.iter().all(|(id, _)| id.starts_with("pop3.")));
    assert!(!dir.path().join("junit.xml").exists());
}

#[test]
fn serve_prints_endpoints_that_run_can_judge() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(["serve", "--flaws", "state-not-reset"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut urls = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("Ctrl-C") {
            break;
        }
        if let Some(url) = line.trim().strip_prefix("smtp://") {
            urls.push(format!("smtp://{url}"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = mailtls(&["run", &urls[0], "--only", "smtp.starttls.*"], dir.path());
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let failed: Vec<_> = statuses(&report(dir.path()))
        .into_iter()
        .filter(|(_, s)| s == "fail")
        .collect();
    assert_eq!(
        failed,
        [("smtp.starttls.state-reset".to_string(), "fail".to_string())]
    );
}

#[test]
fn serve_rejects_an_unknown_behaviour() {
    let out = Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(["serve", "--behaviours", "tarpit,patience"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown behaviour `patience` (valid behaviours: small-backlog,"),
        "{stderr}"
    );
}

#[test]
fn whole_host_runs_every_standard_port_and_skips_closed_ones() {
    use mailtls::server::{Ports, RunningServer, ServerConfig};
    // A loopback address of its own, so the standard ports are free to take.
    let host = "127.77.0.1";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(RunningServer::start(ServerConfig {
        bind: host.parse().unwrap(),
        ports: Ports {
            smtp: 25,
            submission: 587,
            smtps: 465,
            imap: 143,
            imaps: 993,
            pop3: 110,
            pop3s: 995,
        },
        ..ServerConfig::default()
    }));
    let server = match server {
        Ok(server) => server,
        Err(e) => panic!("binding the standard ports on {host} needs root (CI runs as root): {e}"),
    };
    // Trust the server's test CA and ask for a name its certificate carries, as an
    // operator would with --ca and --servername.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem(server.trust_anchor_der())).unwrap();
    let out = mailtls(
        &[
            "run",
            &format!("host:{host}"),
            "--user",
            "mailtls",
            "--password",
            "mailtls-secret",
            "--ca",
            ca.to_str().unwrap(),
            "--servername",
            "localhost",
        ],
        dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let host_report = report(dir.path());
    let targets: Vec<_> = host_report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_string(),
                t["policy"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(targets.len(), 7, "{targets:?}");
    assert!(targets.contains(&(format!("smtp://{host}:25"), "mx".into())));
    assert!(targets.contains(&(format!("submission://{host}:587"), "submission".into())));
    assert!(targets.contains(&(format!("imaps://{host}:993"), "mailbox".into())));
    drop(server);

    // Nothing listens on another address: every port closed, nothing judged, exit 3.
    let dir = tempfile::tempdir().unwrap();
    let out = mailtls(&["run", "host:127.77.0.2", "--timeout", "500"], dir.path());
    assert_eq!(out.status.code(), Some(3));
    let results = statuses(&report(dir.path()));
    assert!(results.iter().all(|(_, s)| s == "skip"), "{results:?}");
    let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    assert!(text.contains("port 25 closed") && text.contains("\"reachable\": false"));
}

/// A DER certificate as PEM.
fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}
