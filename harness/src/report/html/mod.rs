//! The HTML report (`report.html`): one self-contained file — inline style and
//! script, nothing fetched — readable on a laptop and a phone. Top: targets, counts
//! by outcome, the worst severity. Then the checks, filterable by outcome, protocol
//! and severity, each expanding to its detail, linked references and transcript.
//!
//! The filters live in the URL fragment (`#outcome=fail&severity=high,critical&open=all`),
//! so a filtered view can be shared and the browser test can drive the page.

pub mod escape;
pub mod transcript;

use super::model::{
    BaselineMark, CheckResult, Outcome, Report, Severity, TargetReport, INTERRUPTED_NOTE,
};
use super::overview::{self, BaselineCounts};
use super::references;
use escape::text;
use std::collections::BTreeSet;
use std::fmt::Write as _;

const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("script.js");

/// Failed checks are shown expanded when there are at most this many.
pub const OPEN_FAILURES_UP_TO: usize = 10;

/// Renders the whole page.
pub fn to_html(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <title>mailtls report — {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        text(&headline(report))
    );
    header(&mut out, report);
    filters(&mut out, report);
    checks(&mut out, report);
    let _ = write!(
        out,
        "<footer>{} {} · schema {} · started {}</footer>\n<script>\n{SCRIPT}</script>\n</body>\n</html>\n",
        text(&report.tool.name),
        text(&report.tool.version),
        text(&report.schema),
        text(&report.started_at)
    );
    out
}

fn headline(report: &Report) -> String {
    let s = &report.summary;
    format!(
        "{}{} failed, {} passed, {} skipped, {} errors",
        if report.interrupted {
            "interrupted: "
        } else {
            ""
        },
        s.fail,
        s.pass,
        s.skip,
        s.error
    )
}

fn header(out: &mut String, report: &Report) {
    let s = &report.summary;
    let (verdict, class) = if s.fail > 0 {
        ("Failed", "fail")
    } else if report.interrupted {
        ("Interrupted", "error")
    } else if s.error > 0 {
        ("Not everything could be judged", "error")
    } else {
        ("Passed", "pass")
    };
    let worst = overview::worst_failure(report);
    let _ = write!(
        out,
        "<header>\n<h1>mailtls report <span class=\"verdict {class}\">{verdict}</span></h1>\n\
         <p class=\"muted\">{} check(s) on {} target(s) in {} ms · started {}</p>\n<div class=\"counts\">",
        s.total(),
        report.targets.len(),
        report.duration_ms,
        text(&report.started_at)
    );
    for (outcome, n) in [
        (Outcome::Fail, s.fail),
        (Outcome::Error, s.error),
        (Outcome::Pass, s.pass),
        (Outcome::Skip, s.skip),
    ] {
        let _ = write!(
            out,
            "<span class=\"count {outcome}\" id=\"count-{outcome}\"><b>{n}</b> {outcome}</span>"
        );
    }
    let _ = write!(
        out,
        "<span class=\"count sev {}\" id=\"worst\">worst severity: <b>{}</b></span>",
        worst.map_or("none", Severity::name),
        worst.map_or("none", Severity::name)
    );
    out.push_str("</div>\n");
    if report.interrupted {
        let _ = writeln!(
            out,
            "<p class=\"interrupted\"><b>{}</b></p>",
            text(INTERRUPTED_NOTE)
        );
    }
    if let Some(b) = BaselineCounts::of(report) {
        let _ = writeln!(
            out,
            "<p class=\"baseline\">Against the baseline: <b>{}</b> new failure(s), <b>{}</b> fixed, {} unchanged.</p>",
            b.new, b.fixed, b.unchanged
        );
    }
    out.push_str("<table class=\"targets\"><thead><tr><th>target</th><th>protocol</th><th>policy</th><th>pass</th><th>fail</th><th>skip</th><th>error</th></tr></thead><tbody>\n");
    for target in &report.targets {
        let count = |o: Outcome| target.results.iter().filter(|r| r.status == o).count();
        let _ = writeln!(
            out,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&target.target),
            text(&target.protocol),
            target.policy,
            count(Outcome::Pass),
            count(Outcome::Fail),
            count(Outcome::Skip),
            count(Outcome::Error)
        );
    }
    out.push_str("</tbody></table>\n</header>\n");
}

fn filters(out: &mut String, report: &Report) {
    let protocols: BTreeSet<&str> = report.targets.iter().map(|t| t.protocol.as_str()).collect();
    out.push_str("<form id=\"filters\" onsubmit=\"return false\">\n");
    group(
        out,
        "outcome",
        &["fail", "error", "pass", "skip"].map(String::from),
    );
    group(
        out,
        "protocol",
        &protocols.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
    );
    let severities: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .map(|s| s.name().to_string())
        .collect();
    group(out, "severity", &severities);
    out.push_str(
        "<div class=\"buttons\"><button type=\"button\" id=\"only-failures\">only failures</button>\
         <button type=\"button\" id=\"show-all\">show all</button>\
         <button type=\"button\" id=\"expand-all\">expand all</button>\
         <button type=\"button\" id=\"collapse-all\">collapse all</button></div>\n\
         <p id=\"shown\" class=\"muted\" aria-live=\"polite\"></p>\n</form>\n",
    );
}

fn group(out: &mut String, name: &str, values: &[String]) {
    let _ = write!(out, "<fieldset><legend>{name}</legend>");
    for value in values {
        let v = text(value);
        let _ = write!(
            out,
            "<label class=\"chip {v}\"><input type=\"checkbox\" name=\"{name}\" value=\"{v}\" checked> {v}</label>"
        );
    }
    out.push_str("</fieldset>\n");
}

fn checks(out: &mut String, report: &Report) {
    let open_failures = report.summary.fail <= OPEN_FAILURES_UP_TO;
    out.push_str(
        "<main id=\"checks\">\n<div class=\"thead\" aria-hidden=\"true\"><span>outcome</span><span>check</span>\
         <span>target</span><span>severity</span><span>detail</span><span>time</span></div>\n",
    );
    for (t, target) in report.targets.iter().enumerate() {
        for (r, result) in target.results.iter().enumerate() {
            check(out, target, result, &format!("c{t}-{r}"), open_failures);
        }
    }
    out.push_str(
        "<p id=\"empty\" class=\"muted\" hidden>No check matches the filters.</p>\n</main>\n",
    );
}

fn check(
    out: &mut String,
    target: &TargetReport,
    result: &CheckResult,
    anchor: &str,
    open_failures: bool,
) {
    let open = if open_failures && result.status == Outcome::Fail {
        " open"
    } else {
        ""
    };
    let mark = match result.baseline {
        Some(BaselineMark::New) => "<span class=\"tag new\">new</span>",
        Some(BaselineMark::Fixed) => "<span class=\"tag fixed\">fixed</span>",
        Some(BaselineMark::Unchanged) | None => "",
    };
    let _ = write!(
        out,
        "<details class=\"check\" id=\"{anchor}\" data-id=\"{id}\" data-outcome=\"{status}\" data-protocol=\"{protocol}\" data-severity=\"{severity}\"{open}>\n\
         <summary><span class=\"badge {status}\">{status}</span><span class=\"id mono\">{id}{mark}</span>\
         <span class=\"target mono\">{target}</span><span class=\"sev {severity}\">{severity}</span>\
         <span class=\"detail\">{detail}</span><span class=\"dur\">{ms} ms</span></summary>\n<div class=\"body\">\n",
        id = text(&result.id),
        status = result.status,
        protocol = text(&target.protocol),
        severity = result.severity,
        target = text(&target.target),
        detail = text(&result.detail),
        ms = result.duration_ms,
    );
    let _ = writeln!(out, "<h3>{}</h3>", text(&result.title));
    if !result.references.is_empty() {
        out.push_str("<p class=\"refs\">References: ");
        for (i, reference) in result.references.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match references::link(reference) {
                Some(url) => {
                    let _ = write!(
                        out,
                        "<a href=\"{}\" rel=\"noopener noreferrer\">{}</a>",
                        text(&url),
                        text(reference)
                    );
                }
                None => out.push_str(&text(reference)),
            }
        }
        out.push_str("</p>\n");
    }
    out.push_str(&transcript::render(&result.transcript));
    out.push_str("\n</div>\n</details>\n");
}
