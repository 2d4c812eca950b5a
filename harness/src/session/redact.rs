//! Secrets and every shape they travel in. A password leaves the harness plain
//! (POP3 `PASS`, an IMAP literal), inside an IMAP quoted string with `\` and `"`
//! escaped, in SASL base64 (PLAIN with and without an authorization identity,
//! LOGIN), and it arrives percent-encoded in a URL's userinfo. [`Secrets`] knows
//! all of these and redacts them from raw bytes *before* anything escapes or
//! renders them (escaping changes a secret's shape, and redaction that runs
//! after it no longer matches), and from text that quotes bytes the way the
//! transcript does (`\\`, `\xNN`, visible `\r\n`) or the way `{:?}` does.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt;

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Byte strings that must never be shown, in every encoding they travel in.
/// `Debug` shows how many there are, never what they are.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Matched against raw bytes (sent or received), longest first.
    raw: Vec<Vec<u8>>,
    /// Matched against text (notes, details, rendered bytes), longest first.
    text: Vec<Vec<u8>>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} forms)", self.raw.len())
    }
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// Whether nothing is secret.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// A password (and the user it belongs to) in every form the harness sends
    /// it or a user gives it: plain (POP3, IMAP literal, URL decoded), the inside
    /// of an IMAP quoted string, base64 for SASL PLAIN (`\0user\0pass` and
    /// `user\0user\0pass`) and SASL LOGIN, and percent-encoded as URL userinfo.
    /// An empty password is nothing to hide.
    pub fn add_password(&mut self, user: &str, password: &str) {
        if password.is_empty() {
            return;
        }
        let p = password.as_bytes();
        self.add(p);
        self.add(crate::wire::imap::quoted_inside(p));
        self.add(STANDARD.encode(p));
        self.add(STANDARD.encode(format!("\0{user}\0{password}")));
        self.add(STANDARD.encode(format!("{user}\0{user}\0{password}")));
        self.add(percent_encoding::utf8_percent_encode(password, USERINFO_ESCAPES).to_string());
        self.add(percent_encoding::utf8_percent_encode(password, EVERYTHING_ESCAPED).to_string());
    }

    /// One more form that must never be shown (and the ways text shows it).
    /// Empty forms are ignored.
    pub fn add(&mut self, form: impl AsRef<[u8]>) {
        let form = form.as_ref();
        if form.is_empty() {
            return;
        }
        insert_longest_first(&mut self.raw, form.to_vec());
        let escaped = crate::session::transcript::escape_bytes(form);
        let visible = escaped.replace('\r', "\\r").replace('\n', "\\n");
        let mut shapes = vec![escaped, visible];
        if let Ok(text) = std::str::from_utf8(form) {
            shapes.push(text.to_string());
            let debug = format!("{text:?}");
            shapes.push(debug[1..debug.len() - 1].to_string());
        }
        for shape in shapes {
            insert_longest_first(&mut self.text, shape.into_bytes());
        }
    }

    /// `bytes` with every secret replaced by [`REDACTED`]; run on raw bytes,
    /// before they are escaped.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        replace_all(bytes, &self.raw)
    }

    /// `text` with every secret, as bytes or as the transcript or `{:?}` quote
    /// them, replaced by [`REDACTED`].
    pub fn redact_text(&self, text: &str) -> String {
        if self.text.is_empty() {
            return text.to_string();
        }
        let out = replace_all(text.as_bytes(), &self.text);
        // Every form is whole UTF-8 and matches start on a character boundary,
        // so this never loses anything; lossy only to never panic.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

/// Bytes a URL's userinfo must percent-encode (RFC 3986: everything but
/// unreserved and sub-delims), as `url` writes it.
const USERINFO_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// Every byte but letters and digits percent-encoded: how a careful user may
/// write a password into a URL.
const EVERYTHING_ESCAPED: &percent_encoding::AsciiSet = percent_encoding::NON_ALPHANUMERIC;

fn insert_longest_first(forms: &mut Vec<Vec<u8>>, form: Vec<u8>) {
    if form.is_empty() || forms.contains(&form) {
        return;
    }
    // Longest first, so a form that contains another is redacted whole.
    let at = forms.partition_point(|f| f.len() >= form.len());
    forms.insert(at, form);
}

/// Leftmost matches, longest form first at each position.
fn replace_all(bytes: &[u8], forms: &[Vec<u8>]) -> Vec<u8> {
    if forms.is_empty() {
        return bytes.to_vec();
    }
    // Which bytes can start a form: every other byte is copied without looking
    // at the forms, which keeps redaction off the profile of a long transcript.
    let mut starts = [false; 256];
    for form in forms {
        if let Some(&first) = form.first() {
            starts[usize::from(first)] = true;
        }
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    'scan: while let Some((&first, tail)) = rest.split_first() {
        if !starts[usize::from(first)] {
            let run = rest
                .iter()
                .position(|&b| starts[usize::from(b)])
                .unwrap_or(rest.len());
            out.extend_from_slice(&rest[..run]);
            rest = &rest[run..];
            continue;
        }
        for form in forms {
            if form.first() == Some(&first) && rest.starts_with(form) {
                out.extend_from_slice(REDACTED.as_bytes());
                rest = rest.get(form.len()..).unwrap_or_default();
                continue 'scan;
            }
        }
        out.push(first);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        let mut s = Secrets::new();
        s.add_password("mailtls", r#"Zq9\Hunter"2"#);
        s
    }

    #[test]
    fn redacts_raw_and_quoted_forms_on_bytes() {
        let s = secrets();
        assert_eq!(
            s.redact_bytes(br#"a1 LOGIN "mailtls" "Zq9\\Hunter\"2""#),
            br#"a1 LOGIN "mailtls" "<redacted>""#.to_vec()
        );
        assert_eq!(
            s.redact_bytes(b"PASS Zq9\\Hunter\"2\r\n"),
            b"PASS <redacted>\r\n".to_vec()
        );
        let plain = STANDARD.encode("\0mailtls\0Zq9\\Hunter\"2");
        assert_eq!(
            s.redact_bytes(format!("AUTH PLAIN {plain}\r\n").as_bytes()),
            b"AUTH PLAIN <redacted>\r\n".to_vec()
        );
    }

    #[test]
    fn redacts_the_shapes_text_gives_bytes() {
        let s = secrets();
        for text in [
            r#"the server sent "Zq9\\Hunter\"2""#,
            r#"debug "Zq9\\Hunter\"2""#,
            "url imap://mailtls:Zq9%5CHunter%222@host",
        ] {
            let redacted = s.redact_text(text);
            assert!(redacted.contains(REDACTED), "{text} -> {redacted}");
            assert!(!redacted.contains("Hunter"), "{text} -> {redacted}");
        }
    }

    #[test]
    fn redacts_non_ascii_and_line_breaks() {
        let mut s = Secrets::new();
        s.add_password("u", "pä\r\nß");
        assert_eq!(s.redact_text("x pä\\r\\nß y"), "x <redacted> y");
        assert_eq!(s.redact_bytes("x pä\r\nß y".as_bytes()), b"x <redacted> y");
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let shown = format!("{:?}", secrets());
        assert!(
            shown.starts_with("Secrets(") && !shown.contains("Hunter"),
            "{shown}"
        );
    }

    #[test]
    fn empty_secrets_change_nothing() {
        let mut s = Secrets::new();
        s.add_password("u", "");
        s.add("");
        assert!(s.is_empty());
        assert_eq!(s.redact_text("abc"), "abc");
        assert_eq!(s.redact_bytes(b"abc"), b"abc");
    }
}
