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
