//! The command line: `mailtls run`, `list`, `serve`, `diff`, `client-test`, `mitm`,
//! `containers`, `fuzz`.

use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;

/// Most `--jobs` any command accepts. Each job holds at least one socket (two when
/// the embedded server runs in the same process), so 1024 stays well inside common
/// open-file limits, and no mail server wants more concurrent sessions from one
/// client; a larger number is a typo (or `2^61`), not a wish.
pub const MAX_JOBS: u64 = 1024;

/// `--jobs N`: 1..=[`MAX_JOBS`], refused by clap (exit 2) otherwise.
pub fn jobs() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_JOBS)
}

/// Longest `--timeout` any command accepts: a day. No server is waited for that
/// long on purpose, and a bound keeps deadline arithmetic far from overflow.
pub const MAX_TIMEOUT_MS: u64 = 24 * 3600 * 1000;

/// `--timeout MS`: 1..=[`MAX_TIMEOUT_MS`], refused by clap (exit 2) otherwise.
pub fn millis() -> clap::builder::RangedU64ValueParser<u64> {
    clap::builder::RangedU64ValueParser::<u64>::new().range(1..=MAX_TIMEOUT_MS)
}

/// Conformance and fuzz test harness for mail TLS: SMTP, submission, IMAP and POP3.
#[derive(Debug, Parser)]
#[command(name = "mailtls", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once; boxing would only add noise
pub enum Command {
    /// Run the checks against targets and write reports.
    ///
    /// Exit codes: 0 every check passed or was skipped; 1 at least one check failed;
    /// 2 usage or input error (bad flag, URL or scenario file, unwritable report folder);
    /// 3 not everything could be judged (target unreachable, timeouts); 130 interrupted
    /// by Ctrl-C (the report of the checks that finished is written, marked so).
    Run(Box<RunArgs>),
    /// List the check catalogue: id, protocol, severity, title, references.
    List(ListArgs),
    /// Run the reference server in the foreground and print its endpoints.
    Serve(ServeArgs),
    /// Compare two report.json files: new failures, fixes, checks still failing.
    ///
    /// Exit codes: 0 no new failure; 1 NEW has failures OLD did not; 2 a file is
    /// missing or not a mailtls report.
    Diff(super::diff::DiffArgs),
    /// Judge a mail client: play malicious servers (STARTTLS stripped, replies
    /// injected, bad certificates) and see whether it leaks credentials or mail.
    ///
    /// Exit codes as for `run`: 1 a client misbehaved, 3 some scenario could not be
    /// judged (the client did not connect, went quiet).
    ClientTest(super::client_test::ClientTestArgs),
    /// Proxy between a real client and a real server, applying one attack, and
    /// record whether the client sent credentials or mail in cleartext.
    Mitm(super::mitm::MitmArgs),
    /// Build the real servers' images offline (mmdebstrap + docker import), or list them.
    Containers(super::containers::ContainersArgs),
    /// Fuzz a server's command parsers with whole sessions (before TLS, inside TLS
    /// after STARTTLS, logged in), or replay a saved finding (`fuzz replay FILE`).
    ///
    /// Exit codes: 0 no new finding (replay: not reproduced); 1 new findings saved
    /// (replay: reproduced); 2 usage error; 3 target could not be started or reached.
    Fuzz(Box<super::fuzz::FuzzArgs>),
}

/// `mailtls run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Targets: smtp://host[:port], submission://, smtps://, imap://, imaps://, pop3://,
    /// pop3s://, or embedded[:flaws=a,b][:behaviours=x,y]. None: the embedded reference server.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Run only checks whose id matches this glob (repeatable), e.g. 'smtp.starttls.*'.
    #[arg(long, value_name = "GLOB")]
    pub only: Vec<String>,
    /// Where reports go, in which formats.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Most concurrent connections per target (1 to 1024).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = jobs())]
    pub jobs: usize,
    /// Deadline in milliseconds for connecting and for each TLS handshake; for reads, how
    /// long the server may stay silent (one answer may take three times this in all).
    #[arg(long, value_name = "MS", default_value_t = 5000, value_parser = millis())]
    pub timeout: u64,
    /// Credentials.
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// Judge every target under this TLS policy (mx, submission, mailbox, strict)
    /// instead of the one its scheme implies.
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<String>,
    /// A recipient the servers accept, for checks that send mail (smtp.data.smuggling
    /// delivers a few small probe messages to it).
    #[arg(long, value_name = "ADDRESS")]
    pub rcpt: Option<String>,
    /// Name to send in SNI instead of the target host.
    #[arg(long, value_name = "NAME")]
    pub servername: Option<String>,
    /// Also trust the CA certificates in this PEM file for `tls.cert.trusted`
    /// (repeatable); the system roots are always trusted.
    #[arg(long, value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// Extra scripts.
    #[command(flatten)]
    pub scenarios: ScenarioArgs,
    /// Print nothing but errors; the exit code and the reports say the rest.
    #[arg(long, short)]
    pub quiet: bool,
    /// Baselines, progress and the extra report formats.
    #[command(flatten)]
    pub reporting: ReportingArgs,
}

/// What `mailtls run` compares against and shows while it works.
#[derive(Debug, Args)]
pub struct ReportingArgs {
    /// Also print the transcript of every failed or errored check.
    #[arg(long, short, conflicts_with = "quiet")]
    pub verbose: bool,
    /// An earlier report.json: mark each result new, fixed or unchanged against it.
    #[arg(long, value_name = "REPORT_JSON")]
    pub baseline: Option<PathBuf>,
    /// Which failures set exit code 1: any, or only those new against --baseline.
    #[arg(long, value_enum, value_name = "WHICH", default_value = "any")]
    pub fail_on: FailOn,
    /// Where summary.md links the HTML report (e.g. the CI artifact's URL).
    #[arg(long, value_name = "URL")]
    pub html_url: Option<String>,
}

/// `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Every failed check sets exit code 1.
    Any,
    /// Only failures that are new against --baseline set exit code 1.
    New,
}

/// Credentials for targets whose URL has none.
#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// User name for checks that log in.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Password for checks that log in (never written to reports or logs).
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "MAILTLS_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
}

/// Extra scenario scripts.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Also load every *.mts script under DIR (repeatable).
    #[arg(long = "scenarios", value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
}

/// `mailtls list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only checks whose id matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub only: Vec<String>,
    /// Extra scripts.
    #[command(flatten)]
    pub scenarios: ScenarioArgs,
}

/// `mailtls serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Flaws to switch on, comma-separated: no-starttls, starttls-injection,
    /// plaintext-auth, stale-capabilities, state-not-reset.
    #[arg(long, value_name = "LIST", default_value = "")]
    pub flaws: String,
    /// Defensive behaviours to switch on, comma-separated: small-backlog,
    /// conn-cap, busy, tarpit, greylist, drop-read-ahead.
    #[arg(long, value_name = "LIST", default_value = "")]
    pub behaviours: String,
    /// Address to listen on.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Allow listening on a non-loopback address (the server is deliberately flawed on request).
    #[arg(long)]
    pub allow_remote: bool,
    /// SMTP (STARTTLS) port; 0 picks a free one.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub smtp_port: u16,
    /// Submission (STARTTLS, TLS required before MAIL) port.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub submission_port: u16,
    /// SMTPS (implicit TLS) port.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub smtps_port: u16,
    /// IMAP (STARTTLS) port.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub imap_port: u16,
    /// IMAPS (implicit TLS) port.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub imaps_port: u16,
    /// POP3 (STLS) port.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub pop3_port: u16,
    /// POP3S (implicit TLS) port.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub pop3s_port: u16,
}

/// Where a command writes its reports, and in which formats (`run`, `client-test`).
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Where to write reports [default: reports/<UTC timestamp>/].
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Report formats, comma-separated: json, junit, sarif, html, md.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "json,junit",
        value_delimiter = ','
    )]
    pub format: Vec<String>,
}

impl OutputArgs {
    /// The formats asked for; an unknown one is a usage error.
    pub fn formats(&self) -> Result<Vec<crate::report::write::Format>, super::exit::CliError> {
        self.format
            .iter()
            .map(|f| f.parse().map_err(super::exit::CliError::Usage))
            .collect()
    }

    /// The report folder: `--report-dir`, or `reports/<UTC timestamp>/`.
    pub fn dir(&self) -> PathBuf {
        self.report_dir
            .clone()
            .unwrap_or_else(super::default_report_dir)
    }
}
