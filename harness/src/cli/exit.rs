//! Exit codes (DESIGN.md) and the typed error of the command line, which knows its
//! own exit code so dispatch never decides it twice.

use crate::checks::CatalogueError;
use crate::report::model::{Report, Summary};
use crate::report::write::WriteError;
use crate::runner::RunError;
use crate::target::container::ContainerError;
use crate::target::TargetError;
use std::process::ExitCode;

/// Every check passed or was skipped.
pub const OK: u8 = 0;
/// At least one check failed.
pub const FAILED: u8 = 1;
/// Usage or input error: bad flag, URL or scenario file.
pub const USAGE: u8 = 2;
/// The target could not be reached or set up, so not everything was judged.
pub const UNREACHABLE: u8 = 3;
/// Interrupted (Ctrl-C) before the run finished: 128 + SIGINT, as shells report it.
pub const INTERRUPTED: u8 = 130;

/// The exit code a finished run earns: any failure is 1; otherwise any check the
/// harness could not judge is 3; otherwise 0.
pub fn for_summary(summary: &Summary) -> u8 {
    if summary.fail > 0 {
        FAILED
    } else if summary.error > 0 {
        UNREACHABLE
    } else {
        OK
    }
}

/// The exit code a finished run earns: as [`for_summary`], and 3 as well when
/// no target answered at all (every port of a whole-host run closed).
pub fn for_report(report: &Report) -> u8 {
    let code = for_summary(&report.summary);
    if code == OK && nothing_answered(report) {
        UNREACHABLE
    } else {
        code
    }
}

/// Whether no target answered at all (every port of a whole-host run closed).
pub fn nothing_answered(report: &Report) -> bool {
    !report.targets.is_empty() && report.targets.iter().all(|t| !t.reachable)
}

/// Why a command did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag value that makes no sense.
    #[error("{0}")]
    Usage(String),
    /// A target that is not a target.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A scenario script that does not parse, or an unreadable scenario folder.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// The run could not start.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The report could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A baseline or compared report that cannot be read.
    #[error(transparent)]
    Baseline(#[from] crate::report::baseline::LoadError),
    /// The reference server failed while serving.
    #[error(transparent)]
    Serve(#[from] crate::server::ServerError),
    /// A client test could not be set up (certificates, work directory).
    #[error(transparent)]
    ClientTest(#[from] crate::client::ClientTestError),
    /// The proxy could not start.
    #[error(transparent)]
    Mitm(#[from] crate::mitm::MitmError),
    /// The Docker engine could not be asked.
    #[error(transparent)]
    Containers(Box<crate::containers::docker::DockerError>),
    /// An image could not be built.
    #[error("building image {name}: {source}")]
    Build {
        /// The recipe.
        name: String,
        /// What went wrong.
        source: Box<crate::containers::BuildError>,
    },
    /// A fuzz campaign could not start or go on.
    #[error(transparent)]
    Fuzz(#[from] crate::fuzz::campaign::FuzzError),
    /// A finding could not be replayed.
    #[error(transparent)]
    Replay(#[from] crate::fuzz::replay::ReplayError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

fn fuzz_exit_code(e: &crate::fuzz::campaign::FuzzError) -> u8 {
    match e {
        crate::fuzz::campaign::FuzzError::Target(e) => target_exit_code(e),
        crate::fuzz::campaign::FuzzError::Finding(_) => USAGE,
    }
}

/// A container that could not be started: unreachable, except for a profile the
/// image lacks. Only the image's labels know its profiles, so that is found late,
/// but it is still a typo in the target.
fn container_exit_code(e: &ContainerError) -> u8 {
    match e {
        ContainerError::UnknownProfile { .. } => USAGE,
        _ => UNREACHABLE,
    }
}

/// A proxy that was refused its listen address or upstream by policy is a usage
/// error, as for `serve --bind 0.0.0.0`; one that could not bind failed to set up.
fn mitm_exit_code(e: &crate::mitm::MitmError) -> u8 {
    use crate::mitm::MitmError;
    match e {
        MitmError::NotLoopback(_) | MitmError::ImplicitTls(_) => USAGE,
        MitmError::Bind { .. } => UNREACHABLE,
    }
}

fn target_exit_code(e: &crate::fuzz::target::FuzzTargetError) -> u8 {
    use crate::fuzz::target::FuzzTargetError;
    match e {
        FuzzTargetError::NotLoopback(_) | FuzzTargetError::Unsupported(_) => USAGE,
        FuzzTargetError::Container(e) => container_exit_code(e),
        FuzzTargetError::Server(_)
        | FuzzTargetError::Gone(..)
        | FuzzTargetError::Tuning(..)
        | FuzzTargetError::Docker(_) => UNREACHABLE,
    }
}

impl CliError {
    /// The exit code this error means.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_)
            | CliError::Target(_)
            | CliError::Catalogue(_)
            | CliError::Write(_)
            | CliError::Baseline(_) => USAGE,
            CliError::Run(RunError::Container(e)) => container_exit_code(e),
            CliError::Run(_)
            | CliError::Serve(_)
            | CliError::Runtime(_)
            | CliError::ClientTest(_)
            | CliError::Containers(_)
            | CliError::Build { .. } => UNREACHABLE,
            CliError::Mitm(e) => mitm_exit_code(e),
            CliError::Fuzz(e) => fuzz_exit_code(e),
            CliError::Replay(crate::fuzz::replay::ReplayError::Target(e)) => target_exit_code(e),
            CliError::Replay(_) => USAGE,
        }
    }

    /// Prints the error and its causes to stderr and returns the exit code.
    pub fn report(&self) -> ExitCode {
        let mut message = format!("error: {self}");
        let mut source = std::error::Error::source(self);
        // `transparent` variants share their source's message; don't print it twice.
        if matches!(
            self,
            CliError::Target(_)
                | CliError::Catalogue(_)
                | CliError::Run(_)
                | CliError::Write(_)
                | CliError::Serve(_)
                | CliError::Baseline(_)
                | CliError::Containers(_)
                | CliError::Build { .. }
        ) {
            source = source.and_then(|s| s.source());
        }
        while let Some(cause) = source {
            message.push_str(&format!("\n  caused by: {cause}"));
            source = cause.source();
        }
        eprintln!("{message}");
        ExitCode::from(self.exit_code())
    }
}
