//! The transcript recorder: every byte in each direction, with timestamps and the
//! harness's notes, secrets redacted before anything is stored: on the raw bytes,
//! before they are escaped (see [`super::redact`]).

use super::redact::Secrets;
use crate::report::model::{Dir, TranscriptEntry};
use std::fmt::Write as _;
use std::time::Instant;

/// What replaces a secret in a transcript.
pub use super::redact::REDACTED;

/// Records one check's sessions. Times are relative to the recorder's creation so
/// several connections of one check share a clock.
#[derive(Debug, Clone)]
pub struct Transcript {
    started: Instant,
    entries: Vec<TranscriptEntry>,
    secrets: Secrets,
}

impl Transcript {
    /// A new, empty transcript whose clock starts now.
    pub fn new() -> Self {
        Transcript {
            started: Instant::now(),
            entries: Vec::new(),
            secrets: Secrets::new(),
        }
    }

    /// Adds a string that must never appear in the transcript, as it is (the
    /// ways the transcript escapes it are covered too). Empty strings are ignored.
    pub fn add_secret(&mut self, secret: impl Into<String>) {
        self.secrets.add(secret.into());
    }

    /// Adds a password (of `user`) in every encoding it travels in: see
    /// [`Secrets::add_password`].
    pub fn add_password(&mut self, user: &str, password: &str) {
        self.secrets.add_password(user, password);
    }

    /// `text` with every secret of this transcript redacted: for a check's
    /// detail, which may quote what the server said.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.redact_text(text)
    }

    /// An empty transcript on the same clock and with the same secrets, for a
    /// connection that runs beside this one; [`Transcript::append`] joins it back.
    pub fn sibling(&self) -> Transcript {
        Transcript {
            started: self.started,
            entries: Vec::new(),
            secrets: self.secrets.clone(),
        }
    }

    /// Records bytes the client sent.
    pub fn client(&mut self, bytes: &[u8]) {
        let data = escape_bytes(&self.secrets.redact_bytes(bytes));
        self.push(Dir::Client, data);
    }

    /// Records bytes the server sent.
    pub fn server(&mut self, bytes: &[u8]) {
        let data = escape_bytes(&self.secrets.redact_bytes(bytes));
        self.push(Dir::Server, data);
    }

    /// Records a note of the harness.
    pub fn note(&mut self, text: impl Into<String>) {
        let data = self.secrets.redact_text(&text.into());
        self.push(Dir::Note, data);
    }

    /// Appends the entries of another transcript (a sibling, or a probe shared by
    /// several checks), with the times it recorded, keeping them together.
    pub fn append(&mut self, other: &Transcript) {
        // The other may have been made with fewer secrets (a probe shared by checks).
        self.entries
            .extend(other.entries.iter().map(|entry| TranscriptEntry {
                data: self.secrets.redact_text(&entry.data),
                ..entry.clone()
            }));
    }

    /// The entries so far.
    pub fn entries(&self) -> &[TranscriptEntry] {
        &self.entries
    }

    /// Takes the entries out, leaving the transcript empty.
    pub fn into_entries(self) -> Vec<TranscriptEntry> {
        self.entries
    }

    /// Stores an entry whose data is already redacted.
    fn push(&mut self, dir: Dir, data: String) {
        let t_ms = self.started.elapsed().as_millis() as u64;
        self.entries.push(TranscriptEntry { dir, t_ms, data });
    }
}

impl Default for Transcript {
    fn default() -> Self {
        Self::new()
    }
}

/// Bytes as text: valid UTF-8 and CR, LF, TAB stay as they are; every other control
/// byte and every byte of invalid UTF-8 becomes `\xNN`, so nothing is lost or hidden.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '\r' | '\n' | '\t' => out.push(ch),
                c if c.is_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Renders entries for a person: one line per transcript line, `C:`/`S:`/`*` prefixes,
/// CR and LF made visible so a bare LF or a missing CRLF shows. A client line that
/// went out in the same segment as the line before it is marked `C+`, as in scripts,
/// so an injected command riding with STARTTLS is plain to see. (Server reads are
/// chunked by timing, so their boundaries stay in the JSON only.) With `times`, each
/// entry is prefixed with its offset in milliseconds.
pub fn render(entries: &[TranscriptEntry], times: bool) -> String {
    let mut out = String::new();
    for entry in entries {
        let time = if times {
            format!("{:>6}ms ", entry.t_ms)
        } else {
            String::new()
        };
        if entry.dir == Dir::Note {
            let _ = writeln!(out, "{time}* {}", entry.data);
            continue;
        }
        for (i, line) in entry.data.split_inclusive('\n').enumerate() {
            let prefix = match (entry.dir, i) {
                (Dir::Client, 0) => "C: ",
                (Dir::Client, _) => "C+ ",
                _ => "S: ",
            };
            let visible = line.replace('\r', "\\r").replace('\n', "\\n");
            let _ = writeln!(out, "{time}{prefix}{visible}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_and_invalid_bytes_but_keeps_line_endings() {
        assert_eq!(
            escape_bytes(b"250 ok\r\n\x00\xff\x16\\"),
            "250 ok\r\n\\x00\\xff\\x16\\\\"
        );
    }

    #[test]
    fn redacts_secrets_in_every_direction() {
        let mut t = Transcript::new();
        t.add_secret("hunter2");
        t.add_secret("");
        t.client(b"PASS hunter2\r\n");
        t.server(b"-ERR bad password hunter2\r\n");
        t.note("tried hunter2");
        assert!(t.entries().iter().all(|e| !e.data.contains("hunter2")));
        assert_eq!(t.entries()[0].data, "PASS <redacted>\r\n");
    }

    #[test]
    fn redacts_before_escaping() {
        let mut t = Transcript::new();
        t.add_password("mailtls", "Zq9\\Hunter2");
        t.client(b"a1 LOGIN \"mailtls\" \"Zq9\\\\Hunter2\"\r\n");
        t.server(b"a1 NO Zq9\\Hunter2 is wrong\r\n");
        t.note("the server sent \"Zq9\\\\Hunter2\"");
        for entry in t.entries() {
            assert!(!entry.data.contains("Hunter2"), "{}", entry.data);
        }
        assert_eq!(
            t.entries()[0].data,
            "a1 LOGIN \"mailtls\" \"<redacted>\"\r\n"
        );
    }

    #[test]
    fn renders_bare_lf_visibly() {
        let mut t = Transcript::new();
        t.server(b"220 a\n");
        t.client(b"STARTTLS\r\nNOOP\r\n");
        assert_eq!(
            render(t.entries(), false),
            "S: 220 a\\n\nC: STARTTLS\\r\\n\nC+ NOOP\\r\\n\n"
        );
    }
}
