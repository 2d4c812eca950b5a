//! `mailtls mitm`: the attacking proxy in the foreground, one line per session.

use super::exit::{self, CliError};
use crate::mitm::{Attack, MitmConfig, RunningProxy};
use crate::target::TargetSpec;
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;

/// `mailtls mitm`.
#[derive(Debug, Args)]
pub struct MitmArgs {
    /// Where to listen, e.g. 127.0.0.1:2525.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The real server: smtp://, submission://, imap:// or pop3:// (STARTTLS schemes).
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// The attack: strip (remove and refuse STARTTLS) or inject (forge a reply
    /// behind the STARTTLS go-ahead).
    #[arg(long, value_name = "ATTACK")]
    pub attack: String,
    /// Allow listening on a non-loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Stop after the first session; exit 1 if its client exposed anything in cleartext.
    #[arg(long)]
    pub once: bool,
    /// How long either side may stay silent, in ms.
    #[arg(long, value_name = "MS", default_value_t = 30000, value_parser = super::args::millis())]
    pub timeout: u64,
}

/// Runs the proxy until Ctrl-C (or one session with `--once`).
pub async fn mitm(args: MitmArgs) -> Result<u8, CliError> {
    let attack: Attack = args.attack.parse().map_err(CliError::Usage)?;
    let upstream = match TargetSpec::parse(&args.upstream)? {
        TargetSpec::Endpoint(endpoint) => endpoint,
        _ => {
            return Err(CliError::Usage(format!(
                "--upstream `{}` must be a server URL such as smtp://127.0.0.1:2525",
                args.upstream
            )))
        }
    };
    let proxy = RunningProxy::start(MitmConfig {
        listen: args.listen,
        upstream,
        attack,
        allow_remote: args.allow_remote,
        idle: Duration::from_millis(args.timeout),
    })
    .await?;
    println!(
        "mailtls mitm on {} -> {} ({})",
        proxy.addr(),
        args.upstream,
        args.attack
    );
    let mut seen = 0;
    loop {
        let records = tokio::select! {
            records = proxy.wait_for(seen + 1, Duration::from_secs(3600)) => records,
            _ = tokio::signal::ctrl_c() => return Ok(exit::OK),
        };
        for record in records.iter().skip(seen) {
            seen += 1;
            println!("session {seen}: {}", record.summary());
            if args.once {
                return Ok(if record.exposed.is_empty() {
                    exit::OK
                } else {
                    exit::FAILED
                });
            }
        }
    }
}
