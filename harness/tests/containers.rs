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
use mailtls::containers::recipe::{default_root, Recipe};
use mailtls::containers::{build, BuildOutcome};
use mailtls::containers::{docker, reaper};
use mailtls::report::model::Report;
use mailtls::runner::{run, RunOptions};
use mailtls::target::container::ContainerSpec;
use mailtls::target::TargetSpec;
use std::collections::BTreeMap;
use std::path::Path;

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
    judge_with(name, RunOptions::default()).await;
}

/// Like [`judge`], with run options of the server's own.
///
/// One server is judged at a time: with two servers' TLS scans at once on a
/// 2-core machine, Dovecot's weak profile now and then answered no ClientHello on
/// one implicit-TLS port within the deadline (every `tls.*` check there `error`),
/// and a matrix of `error`s says nothing about the server.
async fn judge_with(name: &str, options: RunOptions) {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let Some(recipe) = image_for(name).await else {
        return;
    };
    let _turn = ONE_AT_A_TIME.lock().await;
    let catalogue = Catalogue::builtin().expect("catalogue").sorted();
    for profile in &recipe.profiles {
        let spec = TargetSpec::Container(ContainerSpec {
            name: name.into(),
            profile: profile.clone(),
        });
        let report = run(&[spec], &catalogue, &options)
            .await
            .unwrap_or_else(|e| panic!("container:{name}:{profile}: {e}"));
        let name = format!("{name}-{profile}");
        explain_differences(&name, &report);
        insta::assert_snapshot!(name, matrix(&report));
    }
}

/// Prints the detail of every result whose outcome differs from the committed
/// snapshot `name`, so that a failing matrix says why, not only what.
fn explain_differences(name: &str, report: &Report) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("containers__{name}.snap"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    // The snapshot's body follows its `---` front matter.
    let body = text.splitn(3, "---\n").nth(2).unwrap_or("");
    let expected: BTreeMap<&str, Vec<&str>> = body
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cells = line.split_whitespace();
            Some((cells.next()?, cells.collect()))
        })
        .collect();
    for (column, target) in report.targets.iter().enumerate() {
        for result in &target.results {
            let want = expected
                .get(result.id.as_str())
                .and_then(|cells| cells.get(column));
            let have = result.status.to_string();
            if want != Some(&have.as_str()) {
                eprintln!(
                    "{name}: {} on {}: expected {}, got {have}: {}",
                    result.id,
                    target.target,
                    want.unwrap_or(&"nothing"),
                    result.detail
                );
            }
        }
    }
}

/// Containers carrying the target label `NAME:PROFILE`, running or not.
async fn labelled(label: &str) -> Vec<String> {
    let engine = docker::engine().await.expect("engine");
    let mut ids = reaper::labelled(&engine, &format!("{}={label}", reaper::TARGET_LABEL))
        .await
        .expect("list containers");
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_profile_is_a_usage_error() {
    if image_for("dovecot").await.is_none() {
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(["run", "container:dovecot:nosuch", "-q"])
        .output()
        .expect("mailtls runs");
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr));
}

/// Ctrl-C in the middle of a container run removes the container it started,
/// writes the report of what finished and exits 130, instead of leaving the
/// server running.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_removes_the_containers_of_the_run() {
    if image_for("dovecot").await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let before = labelled("dovecot:weak").await;
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mailtls"))
        .args(["run", "container:dovecot:weak", "-q", "--report-dir"])
        .arg(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mailtls starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let ours = loop {
        let now: Vec<String> = labelled("dovecot:weak")
            .await
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        if !now.is_empty() {
            break now;
        }
        assert!(std::time::Instant::now() < deadline, "no container started");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().expect("mailtls exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let left: Vec<String> = labelled("dovecot:weak")
        .await
        .into_iter()
        .filter(|id| ours.contains(id))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // The checks that finished before Ctrl-C are kept, marked interrupted.
    let text = std::fs::read_to_string(dir.path().join("report.json")).expect("report.json");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(report["interrupted"], true, "{text}");
}

/// Cyrus as Debian ships it takes USER/PASS before TLS. With a wrong password it
/// answers a bare `-ERR [AUTH] Invalid login`, which used to read as a refusal
/// for lack of TLS (pass); the check now tries the credentials inside TLS, finds
/// them refused there too, and cannot judge (error), which is the truth.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_refused_before_tls_is_an_error_not_a_pass() {
    use mailtls::checks::CheckContext;
    use mailtls::report::model::Outcome;
    use mailtls::target::container::ContainerTarget;
    use mailtls::target::{Credentials, Scheme};
    if image_for("cyrus").await.is_none() {
        return;
    }
    let spec = ContainerSpec {
        name: "cyrus".into(),
        profile: "default".into(),
    };
    let target = ContainerTarget::start(&spec).await.expect("cyrus starts");
    let endpoint = target
        .endpoints
        .iter()
        .find(|e| e.scheme == Scheme::Pop3)
        .expect("a pop3 endpoint")
        .clone();
    let catalogue = Catalogue::builtin().expect("catalogue");
    let check = catalogue
        .checks()
        .iter()
        .find(|c| c.meta().id == "pop3.auth.plaintext-rejected-before-tls")
        .expect("the check");
    let mut ctx = CheckContext::new(endpoint);
    ctx.credentials = Some(Credentials {
        user: "alice".into(),
        password: "not-alices-password".into(),
    });
    let wrong = check.run(&ctx).await;
    ctx.credentials = Some(Credentials {
        user: "alice".into(),
        password: "mailtls-alice-password".into(),
    });
    let right = check.run(&ctx).await;
    target.shutdown().await;
    assert_eq!(wrong.status, Outcome::Error, "{}", wrong.detail);
    assert!(
        wrong.detail.contains("refused inside TLS too"),
        "{}",
        wrong.detail
    );
    assert_eq!(right.status, Outcome::Fail, "{}", right.detail);
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
async fn exim_matches_its_expectation_matrix() {
    judge("exim").await;
}

/// OpenSMTPD (7.6 still) listens with a backlog of 5 (its compiled-in SMTPD_BACKLOG): a
/// burst of connects beyond that has its SYNs dropped and retried after 1 s, 3 s,
/// 7 s. The governor backs off and comes again, so the default flags judge it.
#[tokio::test(flavor = "multi_thread")]
async fn opensmtpd_matches_its_expectation_matrix() {
    judge("opensmtpd").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn courier_matches_its_expectation_matrix() {
    judge("courier").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cyrus_matches_its_expectation_matrix() {
    judge("cyrus").await;
}
