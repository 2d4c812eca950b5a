//! Shared by the report tests: a real run against the reference server, and the
//! normalisation that makes a run's report the same every time (times, ports,
//! random IMAP tags, the timing-dependent chunking of server reads).
#![allow(dead_code)]

use mailtls::checks::Catalogue;
use mailtls::report::model::{Dir, Report, TranscriptEntry};
use mailtls::runner::{run, RunOptions};
use mailtls::target::TargetSpec;
use regex::Regex;

/// Runs the built-in catalogue against `embedded[:flaws=...]` in this process.
pub async fn run_embedded(target: &str) -> Report {
    let spec = TargetSpec::parse(target).expect("target parses");
    let catalogue = Catalogue::builtin().expect("catalogue").sorted();
    run(&[spec], &catalogue, &RunOptions::default())
        .await
        .expect("run")
}

/// The same report every run: fixed start time, zero durations and times, fixed
/// ports per protocol, IMAP tags replaced by `TAG`, consecutive server reads merged.
pub fn normalise(mut report: Report) -> Report {
    report.started_at = "2026-01-01T00:00:00Z".into();
    report.duration_ms = 0;
    let address = Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    let millis = Regex::new(r"\b\d+ ms\b").unwrap();
    for target in &mut report.targets {
        let scheme = target.target.split("://").next().unwrap_or("");
        let port = match (target.protocol.as_str(), scheme) {
            (_, "submission") => "2587",
            ("smtp", _) => "2525",
            ("imap", _) => "1143",
            ("pop3", _) => "1110",
            _ => "1",
        };
        let fix = |text: &str| -> String {
            address
                .replace_all(text, format!("127.0.0.1:{port}").as_str())
                .into_owned()
        };
        target.target = fix(&target.target);
        for result in &mut target.results {
            let tag = imap_tag(&result.transcript);
            let fix_all = |text: &str| -> String {
                let text = fix(text);
                match &tag {
                    Some(tag) => Regex::new(&format!(r"\b{tag}(\d)"))
                        .unwrap()
                        .replace_all(&text, "TAG$1")
                        .into_owned(),
                    None => text,
                }
            };
            result.duration_ms = 0;
            result.detail = fix_all(&result.detail);
            let mut merged: Vec<TranscriptEntry> = Vec::new();
            for mut entry in std::mem::take(&mut result.transcript) {
                entry.t_ms = 0;
                entry.data = fix_all(&entry.data);
                // Notes quote measured times (the smuggling probe's early-reply
                // window, a back-off): they differ from run to run.
                if entry.dir == Dir::Note {
                    entry.data = millis.replace_all(&entry.data, "N ms").into_owned();
                }
                // Raw TLS records carry fresh randoms and keys every run.
                if entry.dir != Dir::Note
                    && [
                        "\\x16\\x03",
                        "\\x15\\x03",
                        "\\x14\\x03",
                        "\\x17\\x03",
                        "\\x80",
                        "\\x81",
                    ]
                    .iter()
                    .any(|head| entry.data.starts_with(head))
                {
                    entry.data = "<TLS records>".into();
                }
                match merged.last_mut() {
                    Some(last) if last.dir == Dir::Server && entry.dir == Dir::Server => {
                        last.data.push_str(&entry.data)
                    }
                    _ => merged.push(entry),
                }
            }
            result.transcript = merged;
        }
    }
    report
}

/// The random tag of an IMAP check: the first word of its first client line, less
/// the step digit.
fn imap_tag(transcript: &[TranscriptEntry]) -> Option<String> {
    let first = transcript.iter().find(|e| e.dir == Dir::Client)?;
    let word = first.data.split_whitespace().next()?;
    let tag = Regex::new(r"^([a-z][a-z0-9]{3})\d+$").unwrap();
    Some(tag.captures(word)?.get(1)?.as_str().to_string())
}

/// Ports, times, durations and IMAP tags in terminal output.
pub fn stable(text: &str) -> String {
    let rules = [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
        (r"127\.0\.0\.1\\:\d+", r"127.0.0.1\:PORT"),
        (
            r"\b[a-z][a-z0-9]{3}(\d) (CAPABILITY|STARTTLS|NOOP|LOGOUT|OK|NO|BAD|LOGIN|AUTHENTICATE)",
            "TAG$1 $2",
        ),
        (r"`[a-z][a-z0-9]{3}(\d) ", "`TAG$1 "),
        (r"\d+ ms", "N ms"),
        (r" +\d+ms ", " Nms "),
        (r"reports: .*", "reports: DIR"),
    ];
    let mut text = text.to_string();
    for (pattern, replacement) in rules {
        text = Regex::new(pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
    text
}
