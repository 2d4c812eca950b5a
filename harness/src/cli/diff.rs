//! `mailtls diff OLD NEW`: the baseline comparison of two reports, printed.

use super::exit::{self, CliError};
use crate::report::baseline::{self, Comparison, Detail};
use crate::report::model::BaselineMark;
use clap::Args;
use std::path::PathBuf;

/// `mailtls diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The baseline report.json.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The newer report.json.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
}

/// Prints the comparison; exit 1 when NEW has failures OLD did not.
pub fn diff(args: &DiffArgs) -> Result<u8, CliError> {
    let old = baseline::load(&args.old)?;
    let new = baseline::load(&args.new)?;
    let comparison = Comparison::of(&old, &new);
    print!(
        "{}",
        baseline::render(&comparison, Detail::WithStillFailing)
    );
    Ok(if comparison.marked(BaselineMark::New).next().is_some() {
        exit::FAILED
    } else {
        exit::OK
    })
}
