//! The transcript recorder: every byte in each direction, with timestamps and the
//! harness's notes, secrets redacted before anything is stored: on the raw bytes,
//! before they are escaped (see [`super::redact`]).
//!
//! A transcript is bounded: it keeps its first [`KEEP`]`.head` and last
//! [`KEEP`]`.tail` bytes, and a note where the middle was cut says how much went,
//! so a server that streams forever costs the same memory as one that stops.

use super::redact::Secrets;
use crate::report::model::{Dir, TranscriptEntry};
use std::fmt::Write as _;
use std::time::Instant;

/// What replaces a secret in a transcript.
pub use super::redact::REDACTED;

/// How much of one transcript is kept: its first `head` and last `tail` bytes,
/// each entry counted as its text plus [`ENTRY_COST`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// Bytes kept from the start.
    pub head: usize,
    /// Bytes kept from the end.
    pub tail: usize,
}

/// What every transcript keeps. The longest transcript of a whole embedded run
/// (a TLS check with its shared probes) is about 16 KiB: four times that is kept
/// before anything is cut.
pub const KEEP: Keep = Keep {
    head: 32 * 1024,
    tail: 32 * 1024,
};

/// What one entry costs beyond its text (direction, time, the string's own
/// header), so that a server sending one byte at a time cannot make a transcript
/// of countless tiny entries.
pub const ENTRY_COST: usize = 32;

/// Records one check's sessions. Times are relative to the recorder's creation so
/// several connections of one check share a clock.
#[derive(Debug, Clone)]
pub struct Transcript {
    started: Instant,
    entries: Vec<TranscriptEntry>,
    secrets: Secrets,
    /// How `entries` keeps within [`KEEP`].
    kept: Kept,
}

impl Transcript {
    /// A new, empty transcript whose clock starts now.
    pub fn new() -> Self {
        Transcript {
            started: Instant::now(),
            entries: Vec::new(),
            secrets: Secrets::new(),
            kept: Kept::new(KEEP),
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
            kept: Kept::new(self.kept.keep),
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
        for entry in &other.entries {
            let entry = TranscriptEntry {
                data: self.secrets.redact_text(&entry.data),
                ..entry.clone()
            };
            self.kept.store(&mut self.entries, entry);
        }
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
        self.store(TranscriptEntry { dir, t_ms, data });
    }

    /// Keeps `entry`, within the transcript's budget.
    fn store(&mut self, entry: TranscriptEntry) {
        self.kept.store(&mut self.entries, entry);
    }
}

/// `entries` cut down to `keep`, the middle replaced by a note of what went: for
/// a run that has spent its budget and keeps less of every transcript after that.
pub fn keep_head_and_tail(entries: Vec<TranscriptEntry>, keep: Keep) -> Vec<TranscriptEntry> {
    let mut kept = Kept::new(keep);
    let mut out = Vec::new();
    for entry in entries {
        kept.store(&mut out, entry);
    }
    out
}

/// What an entry costs against a [`Keep`].
pub fn entry_cost(entry: &TranscriptEntry) -> usize {
    entry.data.len() + ENTRY_COST
}

/// The bookkeeping of a bounded list of entries: the head fills first; once an
/// entry does not fit there, everything after goes to the tail, whose oldest
/// entries make room for new ones. The list is the head, then (once anything is
/// cut) one note saying what was cut, then the tail, so it reads in order.
#[derive(Debug, Clone)]
struct Kept {
    keep: Keep,
    /// Entries in the head; the head is closed once anything went to the tail.
    head_len: usize,
    head_cost: usize,
    head_open: bool,
    tail_cost: usize,
    /// Whether the note of what was cut stands at `head_len`.
    noted: bool,
    /// Whole entries, and their bytes of text, left out so far.
    cut_entries: u64,
    cut_bytes: u64,
}

impl Kept {
    fn new(keep: Keep) -> Kept {
        Kept {
            keep,
            head_len: 0,
            head_cost: 0,
            head_open: true,
            tail_cost: 0,
            noted: false,
            cut_entries: 0,
            cut_bytes: 0,
        }
    }

    fn store(&mut self, entries: &mut Vec<TranscriptEntry>, mut entry: TranscriptEntry) {
        // One entry larger than half of either part keeps its start, and says
        // how much of it went; the note between head and tail counts only
        // whole entries left out.
        let room =
            (self.keep.head.min(self.keep.tail) / 2).saturating_sub(ENTRY_COST + CUT_MARKER_ROOM);
        if entry.data.len() > room {
            let mut end = room;
            while !entry.data.is_char_boundary(end) {
                end -= 1;
            }
            let cut = entry.data.len() - end;
            entry.data.truncate(end);
            let _ = write!(entry.data, "[... {cut} byte(s) cut]");
        }
        let cost = entry_cost(&entry);
        if self.head_open && self.head_cost + cost <= self.keep.head {
            entries.push(entry);
            self.head_len += 1;
            self.head_cost += cost;
            return;
        }
        self.head_open = false;
        entries.push(entry);
        self.tail_cost += cost;
        if self.tail_cost > self.keep.tail {
            let first_cut = entries[self.tail_start()].t_ms;
            self.note_cut(entries, first_cut);
            let start = self.tail_start();
            let mut end = start;
            // The newest entry fits alone (see `room`), so it always stays.
            while self.tail_cost > self.keep.tail && end + 1 < entries.len() {
                self.tail_cost -= entry_cost(&entries[end]);
                self.cut_bytes += entries[end].data.len() as u64;
                self.cut_entries += 1;
                end += 1;
            }
            entries.drain(start..end);
        }
        self.describe(entries);
    }

    /// Where the tail starts: after the head and the note.
    fn tail_start(&self) -> usize {
        self.head_len + usize::from(self.noted)
    }

    /// Puts the note of what was cut between head and tail, once; the head is
    /// closed from then on, so that the transcript still reads in order.
    fn note_cut(&mut self, entries: &mut Vec<TranscriptEntry>, t_ms: u64) {
        self.head_open = false;
        if !self.noted {
            entries.insert(
                self.head_len,
                TranscriptEntry {
                    dir: Dir::Note,
                    t_ms,
                    data: String::new(),
                },
            );
            self.noted = true;
        }
    }

    fn describe(&self, entries: &mut [TranscriptEntry]) {
        if !self.noted {
            return;
        }
        if let Some(note) = entries.get_mut(self.head_len) {
            note.data = format!(
                "{CUT_NOTE}: {} entries and {} byte(s) left out here (a transcript keeps its first {} and last {} bytes)",
                self.cut_entries, self.cut_bytes, self.keep.head, self.keep.tail
            );
        }
    }
}

/// Room left in an entry cut to size for the marker saying how much went.
const CUT_MARKER_ROOM: usize = 40;

/// How the note of a cut transcript begins.
const CUT_NOTE: &str = "transcript cut";

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

    fn entry(t_ms: u64, data: String) -> TranscriptEntry {
        TranscriptEntry {
            dir: Dir::Server,
            t_ms,
            data,
        }
    }

    fn cost(entries: &[TranscriptEntry]) -> usize {
        entries
            .iter()
            .filter(|e| !e.data.starts_with(CUT_NOTE))
            .map(entry_cost)
            .sum()
    }

    #[test]
    fn keeps_a_short_transcript_whole() {
        let entries: Vec<_> = (0..10).map(|i| entry(i, format!("line {i}\r\n"))).collect();
        assert_eq!(keep_head_and_tail(entries.clone(), KEEP), entries);
    }

    #[test]
    fn keeps_head_and_tail_of_an_endless_stream_with_a_note_of_the_cut() {
        let mut t = Transcript::new();
        for i in 0..100_000u32 {
            t.server(format!("* {i} EXISTS\r\n").as_bytes());
        }
        let entries = t.entries();
        assert!(cost(entries) <= KEEP.head + KEEP.tail, "{}", cost(entries));
        assert_eq!(entries[0].data, "* 0 EXISTS\r\n");
        assert_eq!(entries.last().unwrap().data, "* 99999 EXISTS\r\n");
        let notes: Vec<_> = entries.iter().filter(|e| e.dir == Dir::Note).collect();
        assert_eq!(notes.len(), 1, "one note of the cut");
        assert!(
            notes[0].data.starts_with("transcript cut: "),
            "{}",
            notes[0].data
        );
        // The head and the tail each read in order, around the note.
        let numbers: Vec<u32> = entries
            .iter()
            .filter(|e| e.dir == Dir::Server)
            .map(|e| e.data[2..].split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]));
        let kept = numbers.len() as u64;
        assert!(notes[0]
            .data
            .contains(&format!("{} entries", 100_000 - kept)));
    }

    #[test]
    fn cuts_an_entry_larger_than_either_part_to_its_start() {
        let mut t = Transcript::new();
        t.server(&vec![b'x'; 1024 * 1024]);
        t.note("closed");
        let entries = t.entries();
        assert!(cost(entries) <= KEEP.head + KEEP.tail);
        assert!(entries.iter().any(|e| e.data.ends_with("byte(s) cut]")));
        assert_eq!(entries.last().unwrap().data, "closed");
    }

    #[test]
    fn keeps_less_when_asked() {
        let entries: Vec<_> = (0..1000).map(|i| entry(i, "y".repeat(100))).collect();
        let small = Keep {
            head: 1024,
            tail: 1024,
        };
        let kept = keep_head_and_tail(entries, small);
        assert!(cost(&kept) <= 2048);
        assert_eq!(kept.first().unwrap().t_ms, 0);
        assert_eq!(kept.last().unwrap().t_ms, 999);
    }

    proptest::proptest! {
        #[test]
        fn keeps_within_budget_in_order_and_counts_what_it_cut(sizes in proptest::collection::vec(0usize..5000, 0..300)) {
            let keep = Keep { head: 4096, tail: 4096 };
            let entries: Vec<_> = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| entry(i as u64, "z".repeat(*n)))
                .collect();
            let kept = keep_head_and_tail(entries, keep);
            proptest::prop_assert!(cost(&kept) <= keep.head + keep.tail);
            proptest::prop_assert!(kept.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
            let notes: Vec<_> = kept.iter().filter(|e| e.data.starts_with(CUT_NOTE)).collect();
            proptest::prop_assert!(notes.len() <= 1);
            let kept_entries = kept.iter().filter(|e| !e.data.starts_with(CUT_NOTE)).count();
            let cut: usize = notes.first().map_or(0, |n| {
                n.data.split(' ').nth(2).unwrap().parse().unwrap()
            });
            proptest::prop_assert_eq!(kept_entries + cut, sizes.len());
        }
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
