//! Writes the chosen formats of a report into a directory.

use super::model::Report;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A report format on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `report.json`, the source of every other format.
    Json,
    /// `junit.xml`.
    Junit,
    /// `report.sarif`, SARIF 2.1.0.
    Sarif,
    /// `report.html`, one self-contained page.
    Html,
    /// `summary.md`, for CI job summaries and pull-request comments.
    Md,
}

impl Format {
    /// The file a format is written to.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Json => "report.json",
            Format::Junit => "junit.xml",
            Format::Sarif => "report.sarif",
            Format::Html => "report.html",
            Format::Md => "summary.md",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "json" => Ok(Format::Json),
            "junit" => Ok(Format::Junit),
            "sarif" => Ok(Format::Sarif),
            "html" => Ok(Format::Html),
            "md" | "markdown" => Ok(Format::Md),
            other => Err(format!(
                "unknown report format `{other}` (expected json, junit, sarif, html or md)"
            )),
        }
    }
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The directory or a file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Serialization failed.
    #[error("cannot render {format}: {reason}")]
    Render {
        /// The file name.
        format: &'static str,
        /// Why.
        reason: String,
    },
}

/// Choices that shape the rendered files without changing what they say.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Where `summary.md` links the HTML report (a CI artifact URL); default `report.html`.
    pub html_url: Option<String>,
}

/// Writes `formats` into `dir` (created if missing) and returns the paths written.
/// Each file is written to a temporary name and renamed, so a reader never sees half a report.
pub fn write_report(
    report: &Report,
    dir: &Path,
    formats: &[Format],
) -> Result<Vec<PathBuf>, WriteError> {
    write_report_with(report, dir, formats, &WriteOptions::default())
}

/// [`write_report`] with options.
pub fn write_report_with(
    report: &Report,
    dir: &Path,
    formats: &[Format],
    options: &WriteOptions,
) -> Result<Vec<PathBuf>, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for &format in formats {
        let text = match format {
            Format::Json => serde_json::to_string_pretty(report).map_err(|e| e.to_string()),
            Format::Junit => super::junit::to_junit(report).map_err(|e| e.to_string()),
            Format::Sarif => serde_json::to_string_pretty(&super::sarif::to_sarif(report))
                .map_err(|e| e.to_string()),
            Format::Html => Ok(super::html::to_html(report)),
            Format::Md => Ok(super::markdown::to_markdown(
                report,
                options.html_url.as_deref().unwrap_or("report.html"),
            )),
        }
        .map_err(|reason| WriteError::Render {
            format: format.file_name(),
            reason,
        })?;
        let path = dir.join(format.file_name());
        let partial = dir.join(format!(".{}.partial", format.file_name()));
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|source| WriteError::Io {
                path: path.clone(),
                source,
            })?;
        written.push(path);
    }
    Ok(written)
}
