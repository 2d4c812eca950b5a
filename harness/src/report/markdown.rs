//! The Markdown summary (`summary.md`), short enough for a CI job summary or a
//! pull-request comment: counts, the failed checks with their detail, errors, and a
//! link to the HTML report. Server text is escaped so that it can neither format,
//! link, mention anyone nor smuggle HTML into the page that shows it.

use super::model::{BaselineMark, Outcome, Report, INTERRUPTED_NOTE};
use super::overview::{self, BaselineCounts};
use std::fmt::Write as _;

/// At most this many failed or errored checks are listed; the rest are counted.
pub const MAX_ROWS: usize = 40;
/// A detail longer than this many characters is cut (the HTML has it whole).
pub const MAX_DETAIL: usize = 240;

/// Renders the summary; `html_link` is where the HTML report will be (a relative
/// file name or the URL of a CI artifact).
pub fn to_markdown(report: &Report, html_link: &str) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let verdict = if s.fail > 0 {
        "❌ failed"
    } else if report.interrupted {
        "⏹️ interrupted"
    } else if s.error > 0 {
        "⚠️ not everything could be judged"
    } else {
        "✅ passed"
    };
    let _ = writeln!(out, "## mailtls: {verdict}\n");
    if report.interrupted {
        let _ = writeln!(out, "> ⏹️ **{INTERRUPTED_NOTE}**\n");
    }
    let _ = writeln!(
        out,
        "**{}** passed · **{}** failed · **{}** skipped · **{}** errors — {} check(s) on {} target(s) in {} ms",
        s.pass,
        s.fail,
        s.skip,
        s.error,
        s.total(),
        report.targets.len(),
        report.duration_ms
    );
    let worst = overview::worst_failure(report).map_or("none".to_string(), |w| w.to_string());
    let _ = writeln!(out, "\nWorst severity of a failure: **{worst}**");
    if let Some(b) = BaselineCounts::of(report) {
        let _ = writeln!(
            out,
            "\nAgainst the baseline: **{}** new failure(s), **{}** fixed, {} unchanged",
            b.new, b.fixed, b.unchanged
        );
    }
    let targets: Vec<String> = report
        .targets
        .iter()
        .map(|t| format!("{} ({})", escape(&t.target), t.policy))
        .collect();
    let _ = writeln!(out, "\nTargets: {}", targets.join(", "));

    let rows: Vec<_> = overview::results(report)
        .filter(|(_, r)| matches!(r.status, Outcome::Fail | Outcome::Error))
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "\n| | check | target | severity | detail |\n|---|---|---|---|---|"
        );
        for (target, result) in rows.iter().take(MAX_ROWS) {
            let mut mark = match result.status {
                Outcome::Fail => "❌ fail".to_string(),
                _ => "⚠️ error".to_string(),
            };
            if result.baseline == Some(BaselineMark::New) {
                mark.push_str(" (new)");
            }
            let _ = writeln!(
                out,
                "| {mark} | {} | {} | {} | {} |",
                escape(&result.id),
                escape(&target.target),
                result.severity,
                escape(&cut(&result.detail, MAX_DETAIL))
            );
        }
        if rows.len() > MAX_ROWS {
            let _ = writeln!(
                out,
                "\n…and {} more in the full report.",
                rows.len() - MAX_ROWS
            );
        }
    }
    let fixed: Vec<_> = overview::results(report)
        .filter(|(_, r)| r.baseline == Some(BaselineMark::Fixed))
        .map(|(t, r)| format!("{} on {}", escape(&r.id), escape(&t.target)))
        .collect();
    if !fixed.is_empty() {
        let _ = writeln!(out, "\nFixed since the baseline: {}", fixed.join(", "));
    }
    let _ = writeln!(
        out,
        "\nFull report with transcripts: [report.html]({})",
        link_target(html_link)
    );
    out
}

/// Cuts `text` to at most `max` characters, marking the cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Escapes text for a Markdown table cell: no HTML, no formatting, no links or
/// autolinks, no @mentions, no line breaks, no cell breaks.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '@' => out.push_str("&#64;"),
            '|' => out.push_str("&#124;"),
            '\r' | '\n' => out.push(' '),
            // `:` breaks `http://` autolinks; `.` after `www` breaks `www.` ones.
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | ':' => {
                out.push('\\');
                out.push(c);
            }
            '.' if after_www(&text.as_bytes()[..i]) => out.push_str("\\."),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn after_www(before: &[u8]) -> bool {
    before.len() >= 3 && before[before.len() - 3..].eq_ignore_ascii_case(b"www")
}

/// A link target that cannot break out of `( )`: spaces and parentheses encoded.
fn link_target(url: &str) -> String {
    url.chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '(' => "%28".to_string(),
            ')' => "%29".to_string(),
            '<' => "%3C".to_string(),
            '>' => "%3E".to_string(),
            c if c.is_control() => String::new(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_html_links_mentions_and_cells() {
        let hostile =
            "<img src=x onerror=alert(1)> [x](javascript:y) @admin | `code`\nnext www.x.org http://y";
        let escaped = escape(hostile);
        for bad in ["<", ">", "[x](", "@admin", " | ", "\n", "www.", "http:"] {
            assert!(!escaped.contains(bad), "{bad} in {escaped}");
        }
    }

    #[test]
    fn cut_counts_characters_not_bytes() {
        assert_eq!(cut("ééé", 2), "éé…");
        assert_eq!(cut("ab", 2), "ab");
    }
}
