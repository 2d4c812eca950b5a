//! A transcript as HTML: one row per line, client and server told apart, a client
//! line that rode in the same TCP segment as the line before it (`C+`) marked as
//! injected, the TLS upgrade drawn as a divider and the lines after it marked as
//! inside TLS. The same reading of the entries as `session::transcript::render`.

use super::escape::text;
use crate::report::model::{Dir, TranscriptEntry};
use std::fmt::Write as _;

/// Renders the entries as an HTML fragment (`<div class="ts">…</div>`).
pub fn render(entries: &[TranscriptEntry]) -> String {
    if entries.is_empty() {
        return "<p class=\"muted\">No transcript: the check did not connect.</p>".into();
    }
    let mut out = String::from("<div class=\"ts\" role=\"log\">");
    let mut inside_tls = false;
    for entry in entries {
        let time = format!("<span class=\"t\">{}ms</span>", entry.t_ms);
        if entry.dir == Dir::Note {
            let kind = note_kind(&entry.data);
            match kind {
                NoteKind::TlsUp => inside_tls = true,
                NoteKind::Connected | NoteKind::Closed => inside_tls = false,
                _ => {}
            }
            let _ = write!(
                out,
                "<div class=\"l n {}\">{time}<span class=\"p\">*</span><span class=\"d\">{}{}</span></div>",
                kind.class(),
                kind.label(),
                text(&entry.data)
            );
            continue;
        }
        for (i, line) in entry.data.split_inclusive('\n').enumerate() {
            let (class, prefix, label) = match (entry.dir, i) {
                (Dir::Client, 0) => ("c", "C:", ""),
                (Dir::Client, _) => (
                    "c inj",
                    "C+",
                    "<span class=\"tag\" title=\"sent in the same TCP segment as the line before\">same segment</span>",
                ),
                _ => ("s", "S:", ""),
            };
            let tls = if inside_tls { " tls" } else { "" };
            let _ = write!(
                out,
                "<div class=\"l {class}{tls}\">{time}<span class=\"p\">{prefix}</span><span class=\"d\">{}{label}</span></div>",
                visible_line(line)
            );
        }
    }
    out.push_str("</div>");
    out
}

/// The line escaped, with CR and LF shown as dim `\r` `\n` so a bare LF shows.
fn visible_line(line: &str) -> String {
    let body = line.trim_end_matches(['\r', '\n']);
    let ending = &line[body.len()..];
    let mut out = text(body);
    for c in ending.chars() {
        out.push_str(if c == '\r' {
            "<span class=\"eol\">\\r</span>"
        } else {
            "<span class=\"eol\">\\n</span>"
        });
    }
    out
}

/// What a harness note says, for styling only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoteKind {
    TlsUp,
    TlsOther,
    Connected,
    Closed,
    Verdict,
    Other,
}

fn note_kind(note: &str) -> NoteKind {
    if note.starts_with("TLS established") {
        NoteKind::TlsUp
    } else if note.starts_with("TLS ") {
        NoteKind::TlsOther
    } else if note.starts_with("connected to") {
        NoteKind::Connected
    } else if note.starts_with("server closed") {
        NoteKind::Closed
    } else if note.starts_with("verdict:") {
        NoteKind::Verdict
    } else {
        NoteKind::Other
    }
}

impl NoteKind {
    fn class(self) -> &'static str {
        match self {
            NoteKind::TlsUp => "up",
            NoteKind::TlsOther => "tlsnote",
            NoteKind::Verdict => "verdict",
            NoteKind::Connected | NoteKind::Closed | NoteKind::Other => "",
        }
    }

    fn label(self) -> &'static str {
        match self {
            NoteKind::TlsUp => "<span class=\"tag up\">TLS upgrade</span> ",
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dir: Dir, data: &str) -> TranscriptEntry {
        TranscriptEntry {
            dir,
            t_ms: 1,
            data: data.into(),
        }
    }

    #[test]
    fn marks_injected_lines_and_the_tls_upgrade() {
        let html = render(&[
            entry(Dir::Client, "STARTTLS\r\nNOOP\r\n"),
            entry(Dir::Server, "220 go\r\n"),
            entry(Dir::Note, "TLS established: TLSv1.3"),
            entry(Dir::Server, "250 ok\n"),
        ]);
        assert!(html.contains("class=\"l c inj\""), "{html}");
        assert!(html.contains("class=\"l n up\""), "{html}");
        assert!(html.contains("class=\"l s tls\""), "{html}");
        assert!(
            html.contains("250 ok<span class=\"eol\">\\n</span>"),
            "{html}"
        );
    }

    #[test]
    fn escapes_hostile_server_bytes() {
        let html = render(&[entry(Dir::Server, "220 <script>alert(1)</script>\r\n")]);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
