//! `report.sarif` validates against the real SARIF 2.1.0 schema (vendored in
//! tests/fixtures, see its README) and says what the report says: a rule per check
//! id, a result per failed check with its level, the target as the location.

mod report_support;

use mailtls::report::model::{BaselineMark, Outcome, Report};
use mailtls::report::sarif::to_sarif;
use serde_json::Value;

fn validate(sarif: &Value) {
    // The official schema's `run.language` pattern has a stray `]` that Rust regex
    // engines reject; replace it with its evident intent (mailtls writes no `language`).
    let text = include_str!("fixtures/sarif-schema-2.1.0.json").replace(
        r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#,
        r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#,
    );
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::draft7::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF invalid:\n{}", errors.join("\n"));
}

#[tokio::test]
async fn injection_run_is_valid_sarif_with_one_result_per_failure() {
    let report = report_support::run_embedded("embedded:flaws=starttls-injection").await;
    let sarif = to_sarif(&report);
    validate(&sarif);
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: std::collections::BTreeSet<&str> = report
        .targets
        .iter()
        .flat_map(|t| &t.results)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(rules.len(), ids.len(), "one rule per check id");
    let injection = rules
        .iter()
        .find(|r| r["id"] == "smtp.starttls.injection")
        .unwrap();
    assert!(injection["help"]["text"]
        .as_str()
        .unwrap()
        .contains("CVE-2011-0411: https://www.cve.org/CVERecord?id=CVE-2011-0411"));
    assert_eq!(
        injection["helpUri"],
        "https://www.rfc-editor.org/rfc/rfc3207#section-4.2"
    );
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), report.summary.fail);
    for result in results {
        let id = result["ruleId"].as_str().unwrap();
        assert!(
            id.ends_with(".starttls.injection") || id.ends_with(".starttls.injection-partial-line"),
            "{id}"
        );
        assert_eq!(result["level"], "error", "high severity is an error");
        let uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(
            report
                .targets
                .iter()
                .any(|t| t.target == uri && id.starts_with(&t.protocol)),
            "{uri} is the {id} target"
        );
        assert_eq!(
            rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"],
            id
        );
    }
}

#[tokio::test]
async fn errors_become_notifications_and_baseline_marks_baseline_states() {
    let mut report: Report =
        report_support::run_embedded("embedded:flaws=starttls-injection").await;
    let results: Vec<_> = report
        .targets
        .iter_mut()
        .flat_map(|t| &mut t.results)
        .collect();
    let mut results = results.into_iter();
    let error = results.next().unwrap();
    error.status = Outcome::Error;
    error.detail = "timeout <after> \"5000 ms\"".into();
    for result in results {
        result.baseline = Some(if result.status == Outcome::Fail {
            BaselineMark::New
        } else {
            BaselineMark::Unchanged
        });
    }
    let sarif = to_sarif(&report);
    validate(&sarif);
    let invocation = &sarif["runs"][0]["invocations"][0];
    assert_eq!(
        invocation["toolExecutionNotifications"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for result in sarif["runs"][0]["results"].as_array().unwrap() {
        assert_eq!(result["baselineState"], "new");
    }
}

#[tokio::test]
async fn validator_rejects_what_the_schema_forbids() {
    let report = report_support::run_embedded("embedded:flaws=starttls-injection").await;
    let mut sarif = to_sarif(&report);
    sarif["runs"][0]["results"][0]["level"] = Value::String("fatal".into());
    let outcome = std::panic::catch_unwind(|| validate(&sarif));
    assert!(
        outcome.is_err(),
        "a level outside the enum must not validate"
    );
}

#[tokio::test]
async fn an_interrupted_run_is_valid_sarif_that_did_not_execute_successfully() {
    let mut report = report_support::run_embedded("embedded:flaws=starttls-injection")
        .await
        .interrupted();
    report.targets[0].results.truncate(3);
    let sarif = to_sarif(&report);
    validate(&sarif);
    let invocation = &sarif["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
    assert!(notes.iter().any(|n| n["message"]["text"]
        .as_str()
        .unwrap()
        .contains("interrupted")));
}
