//! `client-test`: for each client scenario, a fresh loopback listener with the
//! scenario's certificate, the client started against it, the script played on
//! its connection, and the client killed once the verdict is in (or the deadline
//! passes). Scenarios of one profile run side by side, up to `jobs` at a time.

use super::certs::{CertError, TestPki};
use super::play::{play, PlayOptions};
use super::process::ClientProcess;
use super::profile::{expand, Profile, PASSWORD, USER};
use super::script::ClientScenario;
use crate::checks::{CheckContext, Verdict};
use crate::events::{NoObserver, RunObserver};
use crate::report::model::{CheckResult, Outcome, Report, TargetReport};
use crate::session::Transcript;
use crate::target::{Credentials, Endpoint, Policy, Protocol, Scheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How to run client tests.
#[derive(Debug, Clone)]
pub struct ClientTestOptions {
    /// How long the client may stay silent when it is expected to speak, and how
    /// long it has to connect.
    pub idle: Duration,
    /// The most one scenario may take in all; the client is killed after it.
    pub deadline: Duration,
    /// Most scenarios running at once.
    pub jobs: usize,
}

impl Default for ClientTestOptions {
    fn default() -> Self {
        ClientTestOptions {
            idle: Duration::from_secs(3),
            deadline: Duration::from_secs(15),
            jobs: 8,
        }
    }
}

/// Why a client test could not run at all (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum ClientTestError {
    /// The certificates could not be made.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// The work directory could not be prepared.
    #[error("cannot prepare {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Runs every scenario of each profile's protocol and reports one target per profile.
pub async fn run(
    profiles: &[Profile],
    scenarios: &[ClientScenario],
    options: &ClientTestOptions,
) -> Result<Report, ClientTestError> {
    run_observed(profiles, scenarios, options, Arc::new(NoObserver)).await
}

/// [`run`], telling `observer` as profiles (targets, in profile order) start and
/// scenarios finish, so a run cut short by Ctrl-C can still report what it judged.
pub async fn run_observed(
    profiles: &[Profile],
    scenarios: &[ClientScenario],
    options: &ClientTestOptions,
    observer: Arc<dyn RunObserver>,
) -> Result<Report, ClientTestError> {
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!(
        "mailtls-client-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ClientTestError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    // Removed however the run ends, Ctrl-C (the future dropped) included.
    let _remove_dir = RemoveDir(dir.clone());
    let pki = Arc::new(TestPki::generate()?);
    let cafile = dir.join("test-ca.pem");
    std::fs::write(&cafile, pki.ca_pem()).map_err(io_error(&cafile))?;
    let env = Arc::new(Env {
        pki,
        cafile,
        dir: dir.clone(),
        options: options.clone(),
        jobs: Semaphore::new(options.jobs.max(1)),
    });
    let mut targets = Vec::new();
    let mut tasks = JoinSet::new();
    for (p, profile) in profiles.iter().enumerate() {
        let mine: Vec<_> = scenarios
            .iter()
            .filter(|s| s.meta.protocol == Some(profile.protocol))
            .cloned()
            .enumerate()
            .collect();
        observer.target_started(p, &format!("client:{}", profile.name), mine.len());
        targets.push(TargetReport {
            target: format!("client:{}", profile.name),
            protocol: profile.protocol.name().into(),
            policy: policy_for(profile.protocol),
            reachable: true,
            results: Vec::new(),
        });
        for (index, scenario) in mine {
            let (env, profile, observer) = (env.clone(), profile.clone(), observer.clone());
            tasks.spawn(async move {
                let _permit = env.jobs.acquire().await;
                let result = run_scenario(&scenario, &profile, &env).await;
                observer.check_finished(p, &result);
                (p, index, result)
            });
        }
    }
    let mut done = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(result) = joined {
            done.push(result);
        }
    }
    done.sort_by_key(|(p, index, _)| (*p, *index));
    for (p, _, result) in done {
        targets[p].results.push(result);
    }
    for p in 0..targets.len() {
        observer.target_finished(p);
    }
    Ok(Report::new(
        started_at,
        started.elapsed().as_millis() as u64,
        targets,
    ))
}

/// Removes the run's work directory when dropped.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The policy a client of `protocol` is judged under (its target in the report).
pub fn policy_for(protocol: Protocol) -> Policy {
    match protocol {
        Protocol::Smtp => Policy::Submission,
        Protocol::Imap | Protocol::Pop3 => Policy::Mailbox,
    }
}

/// What every scenario of a run shares.
struct Env {
    pki: Arc<TestPki>,
    cafile: PathBuf,
    dir: PathBuf,
    options: ClientTestOptions,
    jobs: Semaphore,
}

/// One scenario against one client: never panics, always a result.
async fn run_scenario(scenario: &ClientScenario, profile: &Profile, env: &Env) -> CheckResult {
    let started = Instant::now();
    let meta = &scenario.meta;
    let mut transcript = secret_keeping_transcript(profile.protocol);
    let verdict = judge(scenario, profile, env, &mut transcript).await;
    transcript.note(format!("verdict: {} — {}", verdict.outcome, verdict.detail));
    crate::checks::result_of(meta, verdict, started, transcript)
}

async fn judge(
    scenario: &ClientScenario,
    profile: &Profile,
    env: &Env,
    transcript: &mut Transcript,
) -> Verdict {
    let error = |detail: String| Verdict::new(Outcome::Error, detail);
    let listener = match TcpListener::bind(("127.0.0.1", 0)).await {
        Ok(listener) => listener,
        Err(e) => return error(format!("cannot listen on 127.0.0.1: {e}")),
    };
    let port = match listener.local_addr() {
        Ok(addr) => addr.port().to_string(),
        Err(e) => return error(format!("cannot listen on 127.0.0.1: {e}")),
    };
    let workdir = env
        .dir
        .join(format!("{}-{}", profile.name, scenario.meta.id));
    let scheme = profile.protocol.name();
    let cafile = env.cafile.display().to_string();
    let workdir_text = workdir.display().to_string();
    let url = format!("{scheme}://127.0.0.1:{port}");
    let vars = [
        ("url", url.as_str()),
        ("host", "127.0.0.1"),
        ("port", port.as_str()),
        ("user", USER),
        ("password", PASSWORD),
        ("cafile", cafile.as_str()),
        ("workdir", workdir_text.as_str()),
    ];
    if let Err(e) = prepare_workdir(&workdir, profile, &vars) {
        return error(format!("cannot prepare {}: {e}", workdir.display()));
    }
    let argv: Vec<String> = profile.argv.iter().map(|a| expand(a, &vars)).collect();
    transcript.note(format!("client {}: {}", profile.name, profile.description));
    let stdin = profile.stdin.as_deref();
    let mut process = match ClientProcess::spawn(&argv, &workdir, stdin) {
        Ok(process) => process,
        Err(e) => return error(e.to_string()),
    };
    let accepted = tokio::select! {
        accepted = tokio::time::timeout(env.options.idle, listener.accept()) => Some(accepted),
        _ = process.exited() => None,
    };
    drop(listener);
    let verdict = match accepted {
        Some(Ok(Ok((tcp, _)))) => {
            let options = PlayOptions {
                host: "mail.mailtls.test".into(),
                idle: env.options.idle,
                tls: env.pki.config(scenario.certificate),
            };
            match tokio::time::timeout(
                env.options.deadline,
                play(scenario, tcp, &options, transcript),
            )
            .await
            {
                Ok(verdict) => verdict,
                Err(_) => error(format!(
                    "the scenario did not finish within {} ms",
                    env.options.deadline.as_millis()
                )),
            }
        }
        Some(Ok(Err(e))) => error(format!("accepting the client's connection failed: {e}")),
        Some(Err(_)) => error(format!(
            "the client did not connect within {} ms",
            env.options.idle.as_millis()
        )),
        None => error("the client exited before connecting".into()),
    };
    let ended = process.finish().await;
    transcript.note(format!("client {}", ended.status));
    if !ended.output.is_empty() {
        transcript.note(format!("client output: {}", ended.output));
    }
    let _ = std::fs::remove_dir_all(&workdir);
    verdict
}

fn prepare_workdir(dir: &Path, profile: &Profile, vars: &[(&str, &str)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, template) in &profile.files {
        let path = dir.join(name);
        std::fs::write(&path, expand(template, vars))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// A transcript that redacts the profiles' password in every encoding it travels in.
fn secret_keeping_transcript(protocol: Protocol) -> Transcript {
    let scheme = match protocol {
        Protocol::Smtp => Scheme::Submission,
        Protocol::Imap => Scheme::Imap,
        Protocol::Pop3 => Scheme::Pop3,
    };
    CheckContext::new(Endpoint {
        scheme,
        host: "127.0.0.1".into(),
        port: 0,
        credentials: Some(Credentials {
            user: USER.into(),
            password: PASSWORD.into(),
        }),
    })
    .new_transcript()
}
