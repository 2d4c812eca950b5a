//! `mailtls client-test`: judge mail clients with the client scenarios, through
//! the bundled profiles or a command of your own, with the same reports as `run`.

use super::exit::{self, CliError};
use crate::client::run::{policy_for, run_observed, ClientTestOptions};
use crate::client::{builtin_scenarios, profile, Profile};
use crate::events::{Gathered, NoObserver};
use crate::report::write::{write_report_with, WriteOptions};
use crate::target::Protocol;
use clap::Args;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `mailtls client-test`.
#[derive(Debug, Args)]
pub struct ClientTestArgs {
    /// Bundled client profiles to run (repeatable; globs allowed, e.g. 'curl-*').
    /// Without this and without a command: every bundled profile.
    #[arg(long, value_name = "NAME")]
    pub profile: Vec<String>,
    /// The protocol a custom CLIENT-COMMAND speaks: smtp, imap or pop3.
    #[arg(long, value_name = "PROTOCOL")]
    pub protocol: Option<String>,
    /// Run only client scenarios whose id matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub only: Vec<String>,
    /// How long a client may stay silent where it must speak (and has to connect), ms.
    #[arg(long, value_name = "MS", default_value_t = 3000, value_parser = super::args::millis())]
    pub timeout: u64,
    /// Most scenarios running at once (1 to 1024).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = super::args::jobs())]
    pub jobs: usize,
    /// Where reports go, in which formats.
    #[command(flatten)]
    pub output: super::args::OutputArgs,
    /// List the bundled profiles and exit.
    #[arg(long)]
    pub list_profiles: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// A client command of your own, after `--`: `${url}`, `${host}`, `${port}`,
    /// `${user}`, `${password}`, `${cafile}` and `${workdir}` are filled in.
    #[arg(last = true, value_name = "CLIENT-COMMAND")]
    pub command: Vec<String>,
}

/// Runs `mailtls client-test`.
pub async fn client_test(args: ClientTestArgs) -> Result<u8, CliError> {
    let bundled = profile::builtin();
    if args.list_profiles {
        for p in &bundled {
            println!("{:<32} {:<5} {}", p.name, p.protocol, p.description);
        }
        return Ok(exit::OK);
    }
    let formats = args.output.formats()?;
    let profiles = select_profiles(&args, bundled)?;
    let only = super::globs(&args.only)?;
    let scenarios: Vec<_> = builtin_scenarios()
        .map_err(|e| CliError::Catalogue(e.into()))?
        .into_iter()
        .filter(|s| only.is_empty() || only.iter().any(|g| g.matches(&s.meta.id)))
        .collect();
    if scenarios.is_empty() {
        return Err(CliError::Usage(format!(
            "--only {:?} matches no client scenario",
            args.only
        )));
    }
    let options = ClientTestOptions {
        idle: Duration::from_millis(args.timeout),
        deadline: Duration::from_millis(args.timeout.saturating_mul(5)),
        jobs: args.jobs,
    };
    // Before the first client starts: results that could not be saved are lost.
    let dir = args.output.dir();
    crate::report::write::prepare_dir(&dir)?;
    let gathered = Arc::new(Gathered::new(Arc::new(NoObserver)));
    let (clock, started_at) = (Instant::now(), super::now_rfc3339());
    let report = tokio::select! {
        report = run_observed(&profiles, &scenarios, &options, gathered.clone()) => report?,
        _ = tokio::signal::ctrl_c() => {
            // Dropping the run kills every client's process group (ClientProcess).
            let order = super::catalogue_order(scenarios.iter().map(|s| s.meta.id.as_str()));
            let describe = |target: &str| {
                let protocol = profiles
                    .iter()
                    .find(|p| target.strip_prefix("client:") == Some(p.name.as_str()))
                    .map_or(Protocol::Smtp, |p| p.protocol);
                (protocol.name().to_string(), policy_for(protocol))
            };
            let report = super::gathered_report(&gathered, &order, describe, started_at, clock);
            if !args.quiet {
                print!("{}", crate::report::terminal::summary(&report));
            }
            match write_report_with(&report, &dir, &formats, &WriteOptions::default()) {
                Ok(paths) => eprintln!("interrupted: reports written: {}", super::joined(&paths)),
                Err(e) => eprintln!("interrupted: no report written ({e})"),
            }
            return Ok(exit::INTERRUPTED);
        }
    };
    if !args.quiet {
        print!("{}", crate::client::matrix::render(&report));
        print!("{}", crate::report::terminal::summary(&report));
    }
    let written = write_report_with(&report, &dir, &formats, &WriteOptions::default())?;
    if !args.quiet {
        println!("reports: {}", super::joined(&written));
    }
    Ok(exit::for_report(&report))
}

fn select_profiles(args: &ClientTestArgs, bundled: Vec<Profile>) -> Result<Vec<Profile>, CliError> {
    if !args.command.is_empty() {
        let protocol: Protocol = args
            .protocol
            .as_deref()
            .ok_or_else(|| {
                CliError::Usage("a CLIENT-COMMAND needs --protocol smtp|imap|pop3".into())
            })?
            .parse()
            .map_err(CliError::Usage)?;
        return Ok(vec![Profile {
            name: "custom".into(),
            protocol,
            description: args.command.join(" "),
            argv: args.command.clone(),
            files: Vec::new(),
            stdin: None,
        }]);
    }
    if args.profile.is_empty() {
        return Ok(bundled);
    }
    let globs = super::globs(&args.profile)?;
    let chosen: Vec<Profile> = bundled
        .into_iter()
        .filter(|p| globs.iter().any(|g| g.matches(&p.name)))
        .collect();
    if chosen.is_empty() {
        return Err(CliError::Usage(format!(
            "--profile {:?} matches no bundled profile (see --list-profiles)",
            args.profile
        )));
    }
    Ok(chosen)
}
