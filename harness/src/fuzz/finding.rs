//! Findings on disk: one JSON file per signature under `findings/`, written the
//! moment a finding is confirmed (temporary file, then a hard link that fails if
//! another process got there first, so concurrent shards never overwrite each
//! other), updated in place (rename) once minimized, and read back for replay.

use super::case::{fnv1a, Case};
use super::oracle::{Kind, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

/// The schema tag of a finding file.
pub const SCHEMA: &str = "mailtls-fuzz-finding/1";

/// One finding, as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The de-duplication key: kind, protocol, phase, command.
    pub signature: String,
    /// Crash, hang or grammar.
    pub kind: Kind,
    /// What the oracle saw, for people.
    pub detail: String,
    /// The target as given (`embedded:flaws=...`, or a URL without credentials).
    pub target: String,
    /// The endpoint's scheme (`submission`, `imap`, ...).
    pub scheme: String,
    /// The campaign seed and the session number that found it.
    pub seed: u64,
    /// The session number within the campaign.
    pub session: u64,
    /// Whether `case` is the minimized session.
    pub minimized: bool,
    /// The session that triggers it (minimized once `minimized` is true).
    pub case: Case,
    /// The session as found, before minimizing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Case>,
    /// How `case` was tied to the crash, when a monitor (not the session itself)
    /// saw it: reproduced alone, or only the nearest of the sessions in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
    /// The container log around the crash line, when a monitor saw it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
    /// The sessions in flight when the monitor saw the crash (at most 64), when
    /// it could not be tied to one by replaying each alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub window: Vec<Case>,
}

impl Finding {
    /// A new, not yet minimized finding.
    pub fn new(
        verdict: &Verdict,
        case: Case,
        target: String,
        scheme: &str,
        seed: u64,
        session: u64,
    ) -> Finding {
        Finding {
            schema: SCHEMA.into(),
            signature: verdict.signature.clone(),
            kind: verdict.kind,
            detail: verdict.detail.clone(),
            target,
            scheme: scheme.into(),
            seed,
            session,
            minimized: false,
            case,
            original: None,
            attribution: None,
            log: Vec::new(),
            window: Vec::new(),
        }
    }

    /// The file name: kind and a hash of the signature.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{:016x}.json",
            self.kind.name(),
            fnv1a(self.signature.as_bytes())
        )
    }
}

/// Why a finding could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FindingError {
    /// File system trouble.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Not a finding file.
    #[error("{path}: not a mailtls finding: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FindingError + '_ {
    move |source| FindingError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads a finding file.
pub fn load(path: &Path) -> Result<Finding, FindingError> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    serde_json::from_str(&text).map_err(|source| FindingError::Format {
        path: path.to_owned(),
        source,
    })
}

/// The findings folder of a campaign and the signatures already in it.
pub struct Store {
    dir: PathBuf,
    known: HashSet<String>,
}

impl Store {
    /// Opens (creating) `dir` and reads the signatures of the findings already there,
    /// so a resumed campaign does not report them again.
    pub fn open(dir: PathBuf) -> Result<Store, FindingError> {
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let mut known = HashSet::new();
        for entry in std::fs::read_dir(&dir).map_err(io_error(&dir))?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Ok(finding) = load(&path) {
                    known.insert(finding.signature);
                }
            }
        }
        Ok(Store { dir, known })
    }

    /// Whether a finding with this signature exists already.
    pub fn knows(&self, signature: &str) -> bool {
        self.known.contains(signature)
    }

    /// Treats `signature` as known from now on without a file of its own (the
    /// container log line that came with a finding saved under another one).
    pub fn remember(&mut self, signature: &str) {
        self.known.insert(signature.to_string());
    }

    /// How many distinct findings there are.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Saves a new finding unless one with its signature exists (here or from
    /// another process); returns its path when this call created it.
    pub fn save_new(&mut self, finding: &Finding) -> Result<Option<PathBuf>, FindingError> {
        if !self.known.insert(finding.signature.clone()) {
            return Ok(None);
        }
        let path = self.dir.join(finding.file_name());
        let tmp = write_temp(&self.dir, finding)?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Some(path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// Replaces a saved finding (after minimizing), atomically.
    pub fn update(&self, path: &Path, finding: &Finding) -> Result<(), FindingError> {
        let tmp = write_temp(&self.dir, finding)?;
        std::fs::rename(&tmp, path).map_err(io_error(path))
    }
}

/// Writes JSON to a unique temporary file in `dir` (then linked or renamed into place).
pub fn write_temp(dir: &Path, value: &impl Serialize) -> Result<PathBuf, FindingError> {
    let unique = format!(".tmp-{}-{:016x}", std::process::id(), rand::random::<u64>());
    let tmp = dir.join(unique);
    let mut text = serde_json::to_string_pretty(value).map_err(|source| FindingError::Format {
        path: tmp.clone(),
        source,
    })?;
    text.push('\n');
    std::fs::write(&tmp, text).map_err(io_error(&tmp))?;
    Ok(tmp)
}
