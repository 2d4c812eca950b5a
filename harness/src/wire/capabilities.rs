//! One capability model for the three protocols: SMTP EHLO keywords, IMAP
//! CAPABILITY atoms and POP3 CAPA lines, each a keyword with optional parameters.

use std::fmt;

/// What a server advertised. Keywords compare case-insensitively; order is kept
/// as the server sent it so transcripts and details read naturally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    entries: Vec<Capability>,
}

/// One advertised capability: `AUTH PLAIN LOGIN` is keyword `AUTH` with two params;
/// IMAP's `AUTH=PLAIN` is kept whole as a keyword without params.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// The keyword as the server sent it (compared case-insensitively).
    pub keyword: String,
    /// Parameters as sent.
    pub params: Vec<String>,
}

impl Capabilities {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one capability from a line of whitespace-separated words
    /// (`SIZE 1000`, `SASL PLAIN LOGIN`). Empty lines are ignored.
    pub fn push_line(&mut self, line: &str) {
        let mut words = line.split_ascii_whitespace();
        if let Some(keyword) = words.next() {
            self.entries.push(Capability {
                keyword: keyword.to_string(),
                params: words.map(str::to_string).collect(),
            });
        }
    }

    /// Adds a bare keyword (an IMAP capability atom).
    pub fn push_keyword(&mut self, keyword: &str) {
        self.entries.push(Capability {
            keyword: keyword.to_string(),
            params: Vec::new(),
        });
    }

    /// Whether `keyword` was advertised; with `param`, whether it was advertised with
    /// that parameter (case-insensitive). IMAP's `AUTH=PLAIN` also answers
    /// `has("AUTH", Some("PLAIN"))` so one script line serves every protocol.
    pub fn has(&self, keyword: &str, param: Option<&str>) -> bool {
        self.entries.iter().any(|cap| match param {
            None => cap.keyword.eq_ignore_ascii_case(keyword),
            Some(param) => {
                (cap.keyword.eq_ignore_ascii_case(keyword)
                    && cap.params.iter().any(|p| p.eq_ignore_ascii_case(param)))
                    || cap.keyword.split_once('=').is_some_and(|(k, v)| {
                        k.eq_ignore_ascii_case(keyword) && v.eq_ignore_ascii_case(param)
                    })
            }
        })
    }

    /// Every capability in the order the server sent them.
    pub fn iter(&self) -> impl Iterator<Item = &Capability> {
        self.entries.iter()
    }

    /// Whether nothing was advertised.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, cap) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&cap.keyword)?;
            for p in &cap.params {
                write!(f, " {p}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_keywords_and_params_case_insensitively() {
        let mut caps = Capabilities::new();
        caps.push_line("auth PLAIN login");
        caps.push_line("SIZE 1000");
        caps.push_keyword("AUTH=CRAM-MD5");
        assert!(caps.has("AUTH", None));
        assert!(caps.has("auth", Some("LOGIN")));
        assert!(caps.has("AUTH", Some("cram-md5")));
        assert!(caps.has("AUTH=CRAM-MD5", None));
        assert!(!caps.has("AUTH", Some("XOAUTH2")));
        assert!(!caps.has("STARTTLS", None));
        assert_eq!(
            caps.to_string(),
            "auth PLAIN login, SIZE 1000, AUTH=CRAM-MD5"
        );
    }
}
