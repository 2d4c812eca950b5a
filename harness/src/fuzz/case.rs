//! What a fuzzed session is: the protocol and a list of steps. Sends are exact bytes
//! in exact TCP segments; STARTTLS and the login are steps of their own, so a case
//! stays valid against any server (the login uses that target's credentials, which
//! never appear in a case or a finding file).

use crate::session::transcript::escape_bytes;
use crate::target::Protocol;
use serde::{Deserialize, Serialize};

/// One step of a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Sends bytes, one TCP segment (or TLS record) per entry, then reads this many
    /// answers. Mutated sends may expect none: a broken line need not be answered.
    Send {
        /// The segments, in order.
        segments: Vec<Bytes>,
        /// How many answers the grammar says must come back.
        answers: u8,
    },
    /// The protocol's STARTTLS (STLS) command; on a positive answer, the handshake.
    StartTls,
    /// Logs in with the target's credentials (SMTP AUTH PLAIN, IMAP LOGIN, POP3 USER/PASS).
    Login,
}

impl Step {
    /// A send of one segment expecting `answers` answers.
    pub fn send(bytes: impl Into<Vec<u8>>, answers: u8) -> Step {
        Step::Send {
            segments: vec![Bytes(bytes.into())],
            answers,
        }
    }

    /// All bytes this step sends itself (none for STARTTLS and login).
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Step::Send { segments, .. } => segments.iter().flat_map(|s| s.0.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// The command verb this step sends, upper-cased, for signatures and states:
    /// `AUTH`, `STARTTLS`, `LOGIN`; for IMAP the word after the tag.
    pub fn verb(&self, protocol: Protocol) -> String {
        match self {
            Step::StartTls => "STARTTLS".into(),
            Step::Login => "LOGIN".into(),
            Step::Send { .. } => verb_of(&self.bytes(), protocol),
        }
    }
}

/// The verb of the first line of `bytes` (the second word for IMAP), upper-cased,
/// at most 16 characters of `A-Z0-9`, or `?` when there is none.
pub fn verb_of(bytes: &[u8], protocol: Protocol) -> String {
    let mut words = bytes
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    if protocol == Protocol::Imap {
        words.next();
    }
    let verb: String = words
        .next()
        .unwrap_or_default()
        .iter()
        .take(16)
        .filter(|b| b.is_ascii_alphanumeric())
        .map(|b| b.to_ascii_uppercase() as char)
        .collect();
    if verb.is_empty() {
        "?".into()
    } else {
        verb
    }
}

/// A whole session to run against one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Case {
    /// The protocol the steps speak.
    #[serde(with = "protocol_name")]
    pub protocol: Protocol,
    /// What to do after the greeting, in order.
    pub steps: Vec<Step>,
}

impl Case {
    /// Total bytes sent by the case's own sends (a size measure for minimizing).
    pub fn size(&self) -> usize {
        self.steps.iter().map(|s| s.bytes().len() + 1).sum()
    }

    /// A stable 64-bit hash of the case (FNV-1a over its JSON), for file names.
    pub fn hash(&self) -> u64 {
        fnv1a(serde_json::to_string(self).unwrap_or_default().as_bytes())
    }
}

/// A protocol as its name (`smtp`, `imap`, `pop3`) in files.
mod protocol_name {
    use crate::target::Protocol;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(protocol: &Protocol, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(protocol.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        let name = String::deserialize(d)?;
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown protocol `{name}`")))
    }
}

/// FNV-1a, 64 bits: stable across runs and platforms, unlike `DefaultHasher`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Bytes that serialize as readable text: CR, LF, TAB and UTF-8 as they are, every
/// other byte as `\xNN`, a backslash as `\\` (the transcript's escaping).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&escape_bytes(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        unescape(&text).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// The inverse of [`escape_bytes`]: `\xNN` and `\\` become bytes, the rest stays.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = [bytes.next(), bytes.next()];
                let digits: Option<Vec<u8>> = hex.into_iter().collect();
                let value = digits
                    .and_then(|d| std::str::from_utf8(&d).ok().map(str::to_owned))
                    .and_then(|d| u8::from_str_radix(&d, 16).ok())
                    .ok_or("`\\x` needs two hex digits")?;
                out.push(value);
            }
            _ => return Err("unknown escape; expected \\xNN or \\\\".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_round_trip_any_bytes() {
        let all: Vec<u8> = (0..=255).chain(b"\\x41\r\n".iter().copied()).collect();
        let text = serde_json::to_string(&Bytes(all.clone())).unwrap();
        assert_eq!(serde_json::from_str::<Bytes>(&text).unwrap().0, all);
    }

    #[test]
    fn rejects_bad_escapes() {
        assert!(unescape("\\q").is_err());
        assert!(unescape("\\x4").is_err());
        assert!(unescape("\\xzz").is_err());
    }

    #[test]
    fn verbs() {
        assert_eq!(verb_of(b"auth plain AAA\r\n", Protocol::Smtp), "AUTH");
        assert_eq!(verb_of(b"a1 login x y\r\n", Protocol::Imap), "LOGIN");
        assert_eq!(verb_of(b"\r\n", Protocol::Pop3), "?");
    }
}
