//! SARIF 2.1.0 (`report.sarif`) for code-scanning dashboards: one rule per check id
//! with its help text and references, one result per failed check with a level from
//! its severity and the target as its location. Checks the harness could not judge
//! are tool notifications, not results: they say nothing about the server.

use super::model::{BaselineMark, CheckResult, Outcome, Report, Severity, TargetReport};
use super::references;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The schema URI written into `$schema`.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Renders the report as a SARIF 2.1.0 log.
pub fn to_sarif(report: &Report) -> Value {
    let rules = rules(report);
    let index: BTreeMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for target in &report.targets {
        for result in &target.results {
            let rule_index = index.get(result.id.as_str()).copied().unwrap_or(0);
            match result.status {
                Outcome::Fail => results.push(sarif_result(target, result, rule_index)),
                Outcome::Error => notifications.push(notification(target, result, rule_index)),
                Outcome::Pass | Outcome::Skip => {}
            }
        }
    }
    if report.interrupted {
        notifications.push(json!({
            "level": "error",
            "message": {"text": super::model::INTERRUPTED_NOTE},
        }));
    }
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": report.tool.name,
                "version": report.tool.version,
                "semanticVersion": report.tool.version,
                "rules": rules.iter().map(Rule::to_json).collect::<Vec<_>>(),
            }},
            "invocations": [{
                // An interrupted run did not do what it was asked; what it found stands.
                "executionSuccessful": !report.interrupted,
                "startTimeUtc": report.started_at,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "properties": {
                "targets": report.targets.iter().map(|t| t.target.as_str()).collect::<Vec<_>>(),
                "summary": report.summary,
            },
        }],
    })
}

/// What a rule says, taken from the first result with its id.
struct Rule<'a> {
    id: String,
    result: &'a CheckResult,
    protocol: &'a str,
}

fn rules(report: &Report) -> Vec<Rule<'_>> {
    let mut seen = BTreeMap::new();
    let mut rules = Vec::new();
    for target in &report.targets {
        for result in &target.results {
            if seen.insert(result.id.clone(), ()).is_none() {
                rules.push(Rule {
                    id: result.id.clone(),
                    result,
                    protocol: &target.protocol,
                });
            }
        }
    }
    rules
}

impl Rule<'_> {
    fn to_json(&self) -> Value {
        let r = self.result;
        let mut text = format!("{}\n\nSeverity: {}.", r.title, r.severity);
        let mut markdown = format!("**{}**\n\nSeverity: {}.", r.title, r.severity);
        if !r.references.is_empty() {
            text.push_str("\n\nReferences:");
            markdown.push_str("\n\nReferences:\n");
            for reference in &r.references {
                match references::link(reference) {
                    Some(url) => {
                        text.push_str(&format!("\n- {reference}: {url}"));
                        markdown.push_str(&format!("\n- [{reference}]({url})"));
                    }
                    None => {
                        text.push_str(&format!("\n- {reference}"));
                        markdown.push_str(&format!("\n- {reference}"));
                    }
                }
            }
        }
        let mut rule = json!({
            "id": self.id,
            "name": self.id,
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": r.title},
            "help": {"text": text, "markdown": markdown},
            "defaultConfiguration": {"level": level(r.severity)},
            "properties": {
                "tags": ["security", "tls", self.protocol],
                "precision": "very-high",
                "problem.severity": level(r.severity),
                "security-severity": security_severity(r.severity),
                "references": r.references,
            },
        });
        if let Some(url) = r.references.iter().find_map(|r| references::link(r)) {
            rule["helpUri"] = Value::String(url);
        }
        rule
    }
}

fn sarif_result(target: &TargetReport, result: &CheckResult, rule_index: usize) -> Value {
    let mut value = json!({
        "ruleId": result.id,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": level(result.severity),
        "message": {"text": format!("{}: {}", result.title, result.detail)},
        "locations": locations(target),
        "partialFingerprints": {"mailtlsCheck/v1": format!("{}@{}", result.id, target.target)},
        "properties": {
            "target": target.target,
            "protocol": target.protocol,
            "policy": target.policy,
            "severity": result.severity,
            "durationMs": result.duration_ms,
        },
    });
    if let Some(mark) = result.baseline {
        value["baselineState"] = Value::String(
            match mark {
                BaselineMark::New => "new",
                BaselineMark::Unchanged | BaselineMark::Fixed => "unchanged",
            }
            .into(),
        );
    }
    value
}

fn notification(target: &TargetReport, result: &CheckResult, rule_index: usize) -> Value {
    json!({
        "level": "error",
        "message": {"text": format!("{} could not be judged on {}: {}", result.id, target.target, result.detail)},
        "locations": locations(target),
        "associatedRule": {"id": result.id, "index": rule_index},
    })
}

/// The target as the location: its URL as the artifact, and as a logical location
/// for viewers that ignore non-file artifacts.
fn locations(target: &TargetReport) -> Value {
    json!([{
        "physicalLocation": {"artifactLocation": {"uri": target.target}},
        "logicalLocations": [{
            "name": target.target,
            "fullyQualifiedName": target.target,
            "kind": "resource",
        }],
    }])
}

/// SARIF's level for a failed check of this severity.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning's `security-severity` score (0.0 to 10.0).
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}
