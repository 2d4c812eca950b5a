//! `mailtls fuzz TARGET` (a campaign) and `mailtls fuzz replay FILE`.
//!
//! Exit codes: a campaign exits 1 when it saved new findings, 0 when it saved none;
//! a replay exits 1 when the finding reproduced, 0 when the server behaved. Both
//! exit 2 on usage errors and 3 when the target could not be started or reached.

use super::args::CredentialArgs;
use super::exit::{self, CliError};
use crate::fuzz::campaign::{status_line_wanted, Campaign, CampaignOptions, Shard};
use crate::fuzz::finding;
use crate::fuzz::replay::replay;
use crate::fuzz::target::FuzzTarget;
use crate::session::SessionOptions;
use crate::target::{Credentials, TargetSpec};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// `mailtls fuzz`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct FuzzArgs {
    /// `replay FILE` runs a saved finding again.
    #[command(subcommand)]
    pub action: Option<FuzzAction>,
    /// What to fuzz: embedded[:flaws=a,b][:behaviours=x,y] (the default: the reference server,
    /// restarted after crashes), container:NAME[:PROFILE] (a real server in a
    /// container, every endpoint with its test user, its log and state watched for
    /// crashes, started anew when it stops; profile `weak` unless given) or a
    /// loopback URL (smtp://127.0.0.1:2525, ...).
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
    /// How long to run: 500ms, 60s, 10m, 8h.
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Seed of all randomness [default: random, printed at the start].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Corpus folder: queue/ (sessions that reached new states), findings/, stats.json.
    /// An existing folder is resumed.
    #[arg(long, value_name = "DIR", default_value = "fuzz-corpus")]
    pub corpus: PathBuf,
    /// Run shard K of N cooperating processes (they split the sessions by number).
    #[arg(long, value_name = "K/N", default_value = "1/1")]
    pub shard: Shard,
    /// Sessions in flight at once (sessions waiting out a deadline hold a slot
    /// but no CPU, so this is well above the core count); 1 to 1024.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = super::args::jobs())]
    pub jobs: usize,
    /// How long the server may stay silent before a session counts as hung (ms);
    /// also the deadline for connecting and handshakes.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = super::args::millis())]
    pub timeout: u64,
    /// Stop after this many sessions.
    #[arg(long, value_name = "N")]
    pub max_sessions: Option<u64>,
    /// Stop once this many new findings are saved (and minimized).
    #[arg(long, value_name = "N")]
    pub max_findings: Option<usize>,
    /// Most sessions tried while minimizing one finding.
    #[arg(long, value_name = "N", default_value_t = 400)]
    pub minimize_budget: usize,
    /// Credentials for the login step (the embedded server brings its own).
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Subcommands of `mailtls fuzz`.
#[derive(Debug, Subcommand)]
pub enum FuzzAction {
    /// Run a saved finding again and show whether it reproduces.
    Replay(ReplayArgs),
}

/// `mailtls fuzz replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A finding file (CORPUS/findings/*.json).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replay on this target instead of the one recorded in the file.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Silence deadline in ms, as for the campaign.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = super::args::millis())]
    pub timeout: u64,
}

/// `500ms`, `60s`, `10m`, `8h`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected e.g. 60s, 10m, 8h"))?;
    let seconds = |s: u64| Duration::from_secs(n.saturating_mul(s));
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(seconds(1)),
        "m" => Ok(seconds(60)),
        "h" => Ok(seconds(3600)),
        _ => Err(format!("`{text}`: unknown unit `{unit}` (ms, s, m, h)")),
    }
}

/// Runs `mailtls fuzz ...`.
pub async fn fuzz(args: FuzzArgs) -> Result<u8, CliError> {
    if let Some(FuzzAction::Replay(replay_args)) = args.action {
        return replay_command(replay_args).await;
    }
    let text = args.target.clone().unwrap_or_else(|| "embedded".into());
    let mut spec = TargetSpec::parse(&text)?;
    if let (TargetSpec::Endpoint(endpoint), Some(user)) = (&mut spec, &args.credentials.user) {
        let password = args.credentials.password.clone().ok_or_else(|| {
            CliError::Usage("--user needs --password (or MAILTLS_PASSWORD)".into())
        })?;
        endpoint.credentials = Some(Credentials {
            user: user.clone(),
            password,
        });
    }
    // Before a container is started for nothing: findings that cannot be saved are lost.
    crate::report::write::prepare_dir(&args.corpus)?;
    // Ctrl-C is caught from here on: a container being started is then removed,
    // not left behind.
    let (interrupt, interrupted) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = interrupt.send(true);
        }
    });
    let target = FuzzTarget::start(&spec, &text)
        .await
        .map_err(crate::fuzz::campaign::FuzzError::from)?;
    if *interrupted.borrow() {
        target.shutdown().await;
        return Ok(exit::OK);
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    let options = CampaignOptions {
        duration: args.duration,
        max_sessions: args.max_sessions,
        max_findings: args.max_findings,
        seed,
        corpus: args.corpus.clone(),
        shard: args.shard,
        jobs: args.jobs,
        session: SessionOptions {
            timeout: Duration::from_millis(args.timeout),
            ..SessionOptions::default()
        },
        minimize_budget: args.minimize_budget,
        status_line: !args.quiet && status_line_wanted(),
        ..CampaignOptions::default()
    };
    if !args.quiet {
        eprintln!(
            "fuzzing {} (seed {seed}, shard {}/{}), corpus {}; Ctrl-C stops, everything found is already saved",
            target.describe(),
            args.shard.index,
            args.shard.count,
            args.corpus.display()
        );
    }
    let campaign = Campaign::new(target, options)?;
    let mut interrupted = interrupted;
    let ctrl_c = async move {
        let _ = interrupted.wait_for(|stop| *stop).await;
    };
    let summary = campaign.run(ctrl_c).await?;
    if !args.quiet {
        println!(
            "{} sessions in {:.1}s ({:.0}/s), {} distinct server states, queue {}, {} restart(s)",
            summary.sessions,
            summary.elapsed_s,
            summary.sessions_per_s,
            summary.states,
            summary.queue,
            summary.restarts
        );
        if !summary.phases.is_empty() {
            let phases: Vec<String> = summary
                .phases
                .iter()
                .map(|(phase, n)| format!("{n} {phase}"))
                .collect();
            println!("sessions ended: {}", phases.join(", "));
        }
        println!(
            "{} new finding(s), {} in the corpus",
            summary.new_findings.len(),
            summary.findings
        );
        for path in &summary.new_findings {
            let signature = finding::load(path).map(|f| f.signature).unwrap_or_default();
            println!("  {}  {signature}", path.display());
        }
    }
    Ok(if summary.new_findings.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}

async fn replay_command(args: ReplayArgs) -> Result<u8, CliError> {
    let finding = finding::load(&args.file).map_err(|e| CliError::Usage(e.to_string()))?;
    let options = SessionOptions {
        timeout: Duration::from_millis(args.timeout),
        ..SessionOptions::default()
    };
    let outcome = replay(&finding, args.target.as_deref(), &options).await?;
    print!("{}", outcome.text);
    Ok(if outcome.reproduced {
        exit::FAILED
    } else {
        exit::OK
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5d").is_err() && parse_duration("x").is_err());
    }
}
