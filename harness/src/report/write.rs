//! Writes the chosen formats of a report into a directory.

use super::model::Report;
use std::io::Write as _;
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

/// Creates `dir` if missing and proves a file can be created in it, so a run can
/// refuse an unwritable report folder before its first connection rather than
/// after every check ran.
pub fn prepare_dir(dir: &Path) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let probe = temp_path(dir, "probe");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(io)?;
    std::fs::remove_file(&probe).map_err(io)
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
        write_atomically(&path, |file| file.write_all(text.as_bytes())).map_err(|source| {
            WriteError::Io {
                path: path.clone(),
                source,
            }
        })?;
        written.push(path);
    }
    Ok(written)
}

/// A name in `dir` no other writer uses: `.<name>.<pid>-<random>.partial`.
fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(
        ".{name}.{}-{:08x}.partial",
        std::process::id(),
        rand::random::<u32>()
    ))
}

/// Writes `path` through a temporary file in the same folder, synced and then
/// renamed over it, so `path` is either the old file or the whole new one. On any
/// failure (a full disk mid-way, a failed sync or rename) the temporary file is
/// removed: nothing half-written is left behind.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = temp_path(dir, &name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)?;
    let result = write(&mut file)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            std::fs::rename(&temp, path)
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_write_failing_mid_way_leaves_no_temporary_file_and_the_old_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, "old").unwrap();
        let failed = write_atomically(&path, |file| {
            file.write_all(b"half a rep")?;
            Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
        });
        assert_eq!(failed.unwrap_err().raw_os_error(), Some(28));
        assert_eq!(entries(dir.path()), ["report.json"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    }

    #[test]
    fn a_whole_write_replaces_the_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write_atomically(&path, |file| file.write_all(b"new")).unwrap();
        assert_eq!(entries(dir.path()), ["report.json"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }

    #[test]
    fn prepare_dir_refuses_a_folder_under_a_file_and_leaves_no_probe() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let refused = prepare_dir(&file.join("sub")).unwrap_err();
        assert!(refused.to_string().contains("file/sub"), "{refused}");
        prepare_dir(&dir.path().join("new")).unwrap();
        assert!(entries(&dir.path().join("new")).is_empty());
    }
}
