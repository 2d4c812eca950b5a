//! The container suite: every recipe under `containers/` is built (skipped when
//! its recipe is unchanged), started under each of its profiles, judged by the
//! whole catalogue, and each verdict compared with the committed expectation
//! matrix, one insta snapshot per server and profile (`check id × endpoint →
//! outcome`). A changed verdict is a visible diff; after a change to the
//! catalogue, regenerate with
//!
//! ```sh
//! INSTA_UPDATE=always cargo test --test containers
//! ```
//!
//! Without a Docker engine the suite is skipped with one line saying so; with
//! an engine, an image that cannot be built or a container that cannot start
//! fails the test.

use mailtls::checks::Catalogue;
use mailtls::containers::docker;
use mailtls::containers::recipe::{default_root, Recipe};
use mailtls::containers::{build, BuildOutcome};
use mailtls::report::model::Report;
use mailtls::runner::{run, RunOptions};
use mailtls::target::container::ContainerSpec;
use mailtls::target::TargetSpec;
use std::collections::BTreeMap;

/// Builds the image if needed; `None` (after one line on stderr) when no engine.
async fn image_for(name: &str) -> Option<Recipe> {
    let engine = match docker::engine().await {
        Ok(engine) => engine,
        Err(e) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| eprintln!("containers: skipping the container suite: {e}"));
            return None;
        }
    };
    let recipe = Recipe::load(&default_root(), name).expect("recipe");
    let progress = |line: &str| eprintln!("build {name}: {line}");
    match build(&engine, &recipe, &progress).await {
        Ok(BuildOutcome::UpToDate) => eprintln!("build {name}: up to date"),
        Ok(BuildOutcome::Built { took }) => eprintln!("build {name}: built in {took:?}"),
        Err(e) => panic!("building {name}: {e}"),
    }
    Some(recipe)
}

/// `check id` rows × endpoint-scheme columns, each cell an outcome.
fn matrix(report: &Report) -> String {
    let columns: Vec<String> = report
        .targets
        .iter()
        .map(|t| {
            let scheme = t.target.split("://").next().unwrap_or("?");
            format!("{scheme} ({})", t.policy)
        })
        .collect();
    let mut rows: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (column, target) in report.targets.iter().enumerate() {
        for result in &target.results {
            let row = rows
                .entry(&result.id)
                .or_insert_with(|| vec!["-".into(); columns.len()]);
            row[column] = result.status.to_string();
        }
    }
    let width = rows.keys().map(|k| k.len()).max().unwrap_or(5).max(5);
    let cell = columns.iter().map(String::len).max().unwrap_or(5);
    let mut out = format!("{:width$}", "check");
    for column in &columns {
        out.push_str(&format!("  {column:<cell$}"));
    }
    out = out.trim_end().to_string() + "\n";
    for (id, cells) in rows {
        let mut line = format!("{id:width$}");
        for outcome in cells {
            line.push_str(&format!("  {outcome:<cell$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

async fn judge(name: &str) {
    let Some(recipe) = image_for(name).await else {
        return;
    };
    let catalogue = Catalogue::builtin().expect("catalogue").sorted();
    for profile in &recipe.profiles {
        let spec = TargetSpec::Container(ContainerSpec {
            name: name.into(),
            profile: profile.clone(),
        });
        let report = run(&[spec], &catalogue, &RunOptions::default())
            .await
            .unwrap_or_else(|e| panic!("container:{name}:{profile}: {e}"));
        insta::assert_snapshot!(format!("{name}-{profile}"), matrix(&report));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postfix_matches_its_expectation_matrix() {
    judge("postfix").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dovecot_matches_its_expectation_matrix() {
    judge("dovecot").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn courier_matches_its_expectation_matrix() {
    judge("courier").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cyrus_matches_its_expectation_matrix() {
    judge("cyrus").await;
}
