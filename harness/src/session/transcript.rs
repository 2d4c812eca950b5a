//! The transcript recorder: every byte in each direction, with timestamps and the
//! harness's notes, secrets redacted before anything is stored.

use crate::report::model::{Dir, TranscriptEntry};
use std::fmt::Write as _;
use std::time::Instant;

/// What replaces a secret in a transcript.
pub const REDACTED: &str = "<redacted>";

/// Records one check's sessions. Times are relative to the recorder's creation so
/// several connections of one check share a clock.
#[derive(Debug, Clone)]
pub struct Transcript {
    started: Instant,
    entries: Vec<TranscriptEntry>,
    secrets: Vec<String>,
}

impl Transcript {
    /// A new, empty transcript whose clock starts now.
    pub fn new() -> Self {
        Transcript {
            started: Instant::now(),
            entries: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// Adds a string that must never appear in the transcript (a password, or an
    /// encoding of it). Empty strings are ignored.
    pub fn add_secret(&mut self, secret: impl Into<String>) {
        let secret = secret.into();
        if !secret.is_empty() && !self.secrets.contains(&secret) {
            // Longest first, so a secret containing another is redacted whole.
            self.secrets.push(secret);
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
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
        self.push(Dir::Client, escape_bytes(bytes));
    }

    /// Records bytes the server sent.
    pub fn server(&mut self, bytes: &[u8]) {
        self.push(Dir::Server, escape_bytes(bytes));
    }

    /// Records a note of the harness.
    pub fn note(&mut self, text: impl Into<String>) {
        self.push(Dir::Note, text.into());
    }

    /// Appends the entries of another transcript (a sibling, or a probe shared by
    /// several checks), with the times it recorded, keeping them together.
    pub fn append(&mut self, other: &Transcript) {
        self.entries.extend(other.entries.iter().cloned());
    }

    /// The entries so far.
    pub fn entries(&self) -> &[TranscriptEntry] {
        &self.entries
    }

    /// Takes the entries out, leaving the transcript empty.
    pub fn into_entries(self) -> Vec<TranscriptEntry> {
        self.entries
    }

    fn push(&mut self, dir: Dir, mut data: String) {
        for secret in &self.secrets {
            if data.contains(secret.as_str()) {
                data = data.replace(secret.as_str(), REDACTED);
            }
        }
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
