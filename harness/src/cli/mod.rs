//! Argument parsing and dispatch. `main.rs` calls [`main`]; every command returns a
//! typed error that knows its exit code.

pub mod args;
pub mod client_test;
pub mod containers;
pub mod diff;
pub mod exit;
pub mod fuzz;
pub mod gate;
pub mod list;
pub mod mitm;

use crate::checks::Catalogue;
use crate::report::model::{Report, TargetReport};
use crate::report::terminal;
use crate::report::write::{write_report_with, WriteOptions};
use crate::runner::{self, RunOptions};
use crate::server::{Behaviour, Flaw, Ports, RunningServer, ServerConfig};
use crate::session::SessionOptions;
use crate::target::Policy;
use crate::target::{Credentials, TargetSpec};
use args::{Cli, Command, RunArgs, ScenarioArgs, ServeArgs};
use clap::Parser;
use exit::CliError;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_open_file_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return CliError::Runtime(e).report(),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(*args).await,
            Command::List(args) => {
                let catalogue = catalogue(&args.scenarios)?
                    .only(&globs(&args.only)?)
                    .sorted();
                print!("{}", list::render(&catalogue));
                Ok(exit::OK)
            }
            Command::Serve(args) => serve(args).await,
            Command::Diff(args) => diff::diff(&args),
            Command::ClientTest(args) => client_test::client_test(args).await,
            Command::Mitm(args) => mitm::mitm(args).await,
            Command::Containers(args) => containers::containers(args).await,
            Command::Fuzz(args) => fuzz::fuzz(*args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => e.report(),
    }
}

/// Most open files asked for: enough for `--jobs 1024` of every command (a fuzz
/// session against the in-process server holds two sockets, a container target's
/// monitor and the corpus a few more), far below any hard limit worth having.
const WANTED_OPEN_FILES: u64 = 8192;

/// Raises the soft open-file limit towards [`WANTED_OPEN_FILES`] (never past the
/// hard limit), as Go's runtime does: the common soft default of 1024 made
/// `fuzz --jobs 1024` end in "Too many open files". Failure changes nothing.
fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let limit = getrlimit(Resource::Nofile);
        let hard = limit.maximum.unwrap_or(u64::MAX);
        let wanted = WANTED_OPEN_FILES.min(hard);
        if limit.current.is_some_and(|soft| soft < wanted) {
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(wanted),
                    maximum: limit.maximum,
                },
            );
        }
    }
}

/// The built-in catalogue plus the user's scripts.
fn catalogue(args: &ScenarioArgs) -> Result<Catalogue, CliError> {
    let mut catalogue = Catalogue::builtin()?;
    for dir in &args.dirs {
        catalogue.load_dir(dir)?;
    }
    Ok(catalogue)
}

fn globs(patterns: &[String]) -> Result<Vec<glob::Pattern>, CliError> {
    patterns
        .iter()
        .map(|p| glob::Pattern::new(p).map_err(|e| CliError::Usage(format!("--only `{p}`: {e}"))))
        .collect()
}

async fn run(args: RunArgs) -> Result<u8, CliError> {
    let formats = args.output.formats()?;
    let reporting = &args.reporting;
    if reporting.fail_on == args::FailOn::New && reporting.baseline.is_none() {
        return Err(CliError::Usage(
            "--fail-on new needs --baseline OLD/report.json".into(),
        ));
    }
    let baseline = reporting
        .baseline
        .as_deref()
        .map(crate::report::baseline::load)
        .transpose()?;
    let targets = if args.targets.is_empty() {
        vec!["embedded".to_string()]
    } else {
        args.targets.clone()
    };
    let specs = targets
        .iter()
        .map(|t| TargetSpec::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let catalogue = catalogue(&args.scenarios)?
        .only(&globs(&args.only)?)
        .sorted();
    if catalogue.checks().is_empty() {
        return Err(CliError::Usage(format!(
            "--only {:?} matches no check id (see `mailtls list`)",
            args.only
        )));
    }
    let credentials = match (&args.credentials.user, &args.credentials.password) {
        (Some(user), Some(password)) => Some(Credentials {
            user: user.clone(),
            password: password.clone(),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(CliError::Usage(
                "--user needs --password (or MAILTLS_PASSWORD)".into(),
            ))
        }
        (None, Some(_)) => return Err(CliError::Usage("--password needs --user".into())),
    };
    let options = RunOptions {
        jobs: args.jobs,
        session: SessionOptions {
            timeout: Duration::from_millis(args.timeout),
            server_name: args.servername.clone(),
            ..SessionOptions::default()
        },
        credentials,
        policy: args
            .policy
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(CliError::Usage)?,
        rcpt: args.rcpt.clone(),
        trust_anchors: crate::tls::certs::load_pem_files(&args.ca).map_err(CliError::Usage)?,
    };
    // Before the first connection: results that could not be saved are lost.
    let dir = args.output.dir();
    let created = !dir.exists();
    crate::report::write::prepare_dir(&dir)?;
    let write_options = WriteOptions {
        html_url: reporting.html_url.clone(),
    };
    let bars = (!args.quiet && crate::report::progress::wanted())
        .then(|| std::sync::Arc::new(crate::report::progress::Bars::new()));
    let inner: std::sync::Arc<dyn crate::events::RunObserver> = match &bars {
        Some(bars) => bars.clone(),
        None => std::sync::Arc::new(crate::events::NoObserver),
    };
    let gathered = std::sync::Arc::new(crate::events::Gathered::new(inner));
    let clock = Instant::now();
    let started_at = now_rfc3339();
    let run = runner::run_observed(&specs, &catalogue, &options, gathered.clone());
    let mut report = tokio::select! {
        report = run => match report {
            Ok(report) => report,
            Err(e) => {
                // Nothing to put in it: don't leave an empty timestamped folder behind.
                if created {
                    let _ = std::fs::remove_dir(&dir);
                }
                return Err(e.into());
            }
        },
        _ = tokio::signal::ctrl_c() => {
            if let Some(bars) = &bars {
                bars.clear();
            }
            let order = catalogue_order(catalogue.checks().iter().map(|c| c.meta().id.as_str()));
            let describe = |target: &str| describe_endpoint(target, options.policy);
            let mut report = gathered_report(&gathered, &order, describe, started_at, clock);
            if let Some(baseline) = &baseline {
                crate::report::baseline::apply(&mut report, baseline);
            }
            if !args.quiet {
                print!("{}", terminal::summary(&report));
            }
            // The containers go whether or not the report could be written.
            let written = write_report_with(&report, &dir, &formats, &write_options);
            let containers = remove_containers().await;
            match written {
                Ok(paths) => eprintln!("interrupted: reports written: {}{containers}", joined(&paths)),
                Err(e) => eprintln!("interrupted: no report written ({e}){containers}"),
            }
            return Ok(exit::INTERRUPTED);
        }
    };
    if let Some(bars) = bars {
        bars.clear();
    }
    if let Some(baseline) = &baseline {
        crate::report::baseline::apply(&mut report, baseline);
    }
    if reporting.verbose {
        print!("{}", crate::report::verbose::failures(&report));
    }
    if !args.quiet {
        print!("{}", terminal::summary(&report));
    }
    if let (Some(baseline), false) = (&baseline, args.quiet) {
        let comparison = crate::report::baseline::Comparison::of(baseline, &report);
        print!(
            "{}",
            crate::report::baseline::render(&comparison, crate::report::baseline::Detail::Changes)
        );
    }
    let written = write_report_with(&report, &dir, &formats, &write_options)?;
    if !args.quiet {
        println!("reports: {}", joined(&written));
    }
    Ok(gate::exit_code(&report, reporting.fail_on))
}

fn joined(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Each check id's position in the catalogue, for ordering gathered results.
fn catalogue_order<'a>(ids: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    ids.enumerate().map(|(i, id)| (id, i)).collect()
}

/// The protocol and policy of a `run` target, from the URL the runner names it by.
fn describe_endpoint(target: &str, policy: Option<Policy>) -> (String, Policy) {
    match TargetSpec::parse(target) {
        Ok(TargetSpec::Endpoint(endpoint)) => (
            endpoint.protocol().name().to_string(),
            policy.unwrap_or_else(|| Policy::for_scheme(endpoint.scheme)),
        ),
        _ => (String::new(), policy.unwrap_or(Policy::Strict)),
    }
}

/// The report of a run cut short: every check that finished, in catalogue order
/// (`order`), per target in the order given, marked interrupted; `describe` gives a
/// target's protocol and policy. Checks still running are left out rather than
/// reported as errors: they were not judged, nor failed to be.
fn gathered_report(
    gathered: &crate::events::Gathered,
    order: &HashMap<&str, usize>,
    describe: impl Fn(&str) -> (String, Policy),
    started_at: String,
    clock: Instant,
) -> Report {
    let targets = gathered
        .targets()
        .into_iter()
        .map(|mut target| {
            target
                .results
                .sort_by_key(|r| order.get(r.id.as_str()).copied().unwrap_or(usize::MAX));
            let (protocol, policy) = describe(&target.target);
            TargetReport {
                protocol,
                policy,
                target: target.target,
                reachable: true,
                results: target.results,
            }
        })
        .collect();
    Report::new(started_at, clock.elapsed().as_millis() as u64, targets).interrupted()
}

/// After Ctrl-C: removes the containers this run started (the run future is
/// dropped, so their own teardown never runs); returns what to say about it.
async fn remove_containers() -> String {
    use crate::containers::reaper;
    if !reaper::any_started() {
        return String::new();
    }
    let removed = match crate::containers::docker::engine().await {
        Ok(docker) => reaper::remove_this_process(&docker).await,
        Err(e) => Err(e),
    };
    match removed {
        Ok((found, gone)) => {
            format!("; removed {gone} of {found} container(s) this run started")
        }
        Err(e) => format!(
            "; could not remove this run's containers ({e}); `mailtls containers clean` removes them"
        ),
    }
}

/// `reports/<UTC timestamp>/`, with `-` for `:` so the name is valid everywhere.
fn default_report_dir() -> PathBuf {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]-[minute]-[second]Z");
    let stamp = time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "run".into());
    PathBuf::from("reports").join(stamp)
}

async fn serve(args: ServeArgs) -> Result<u8, CliError> {
    if !args.bind.is_loopback() && !args.allow_remote {
        return Err(CliError::Usage(format!(
            "refusing to listen on {}: the reference server is deliberately flawed on request; pass --allow-remote to insist",
            args.bind
        )));
    }
    let flaws = args
        .flaws
        .parse()
        .map_err(|e: crate::server::UnknownFlaw| CliError::Usage(e.to_string()))?;
    let behaviours = args
        .behaviours
        .parse()
        .map_err(|e: crate::server::UnknownBehaviour| CliError::Usage(e.to_string()))?;
    let config = ServerConfig {
        flaws,
        behaviours,
        bind: args.bind,
        ports: Ports {
            smtp: args.smtp_port,
            submission: args.submission_port,
            smtps: args.smtps_port,
            imap: args.imap_port,
            imaps: args.imaps_port,
            pop3: args.pop3_port,
            pop3s: args.pop3s_port,
        },
        ..ServerConfig::default()
    };
    let (user, password) = (config.user.clone(), config.password.clone());
    let server = RunningServer::start(config).await?;
    let listed = |set: String| {
        if set.is_empty() {
            "none".to_string()
        } else {
            set
        }
    };
    println!(
        "mailtls reference server, flaws: {}; behaviours: {}",
        listed(flaws.to_string()),
        listed(behaviours.to_string())
    );
    for endpoint in server.endpoints() {
        println!("  {endpoint}");
    }
    println!("test user: {user} / {password}");
    println!("flaws it can be started with (--flaws a,b):");
    for flaw in Flaw::ALL {
        println!("  {:<20} {}", flaw.name(), flaw.description());
    }
    println!("behaviours it can be started with (--behaviours a,b):");
    for behaviour in Behaviour::ALL {
        println!("  {:<20} {}", behaviour.name(), behaviour.description());
    }
    println!("Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    Ok(exit::OK)
}
