//! The parsed form of a scenario script: metadata and a list of steps, each step
//! carrying the line it came from and what its failure means.

use crate::report::model::{Outcome, Severity};
use crate::target::{Policy, Protocol};
use regex::Regex;
use std::time::Duration;

/// A whole scenario: one check.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where it came from (`scenarios/smtp/starttls-injection.mts`), for messages.
    pub source: String,
    /// Who it is and what it needs.
    pub meta: Meta,
    /// What it does, in order.
    pub steps: Vec<Step>,
}

/// The metadata block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Stable dotted id.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Protocol it speaks; `None` for checks of the TLS layer, which run on every
    /// TLS endpoint whatever its protocol.
    pub protocol: Option<Protocol>,
    /// How much a failure matters.
    pub severity: Severity,
    /// RFC sections, CVEs.
    pub references: Vec<String>,
    /// Preconditions; unmet ones make the check `skip`.
    pub needs: Needs,
    /// The policies the check applies under; empty means every policy.
    pub policies: Vec<Policy>,
    /// Detail reported when every step is met.
    pub pass_detail: Option<String>,
}

/// What a scenario needs from the target and the user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// A plain endpoint that is upgraded with STARTTLS (not implicit TLS).
    pub starttls: bool,
    /// A user name and password.
    pub credentials: bool,
}

/// One step and what its failure means.
#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based line in the script.
    pub line: usize,
    /// What to do.
    pub action: Action,
    /// What an unmet expectation means.
    pub otherwise: Otherwise,
}

/// The verdict an unmet expectation gives, and the script's own explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Otherwise {
    /// `fail`, `skip`, `error` or `pass`.
    pub outcome: Outcome,
    /// The explanation; without one the interpreter describes the mismatch.
    pub message: Option<String>,
}

impl Default for Otherwise {
    /// An unmet expectation that the script did not qualify means the harness could
    /// not get where it wanted to: `error`, never a silent `fail`.
    fn default() -> Self {
        Otherwise {
            outcome: Outcome::Error,
            message: None,
        }
    }
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send these pieces in one segment.
    Send(Vec<Template>),
    /// Read one answer and match it.
    Expect {
        /// The answer that lets the script go on.
        expected: ReplyPattern,
        /// From `else OUTCOME if PATTERN`: the one answer that gives the `else`
        /// outcome (for `fail`, the evidence of the flaw). With it, any answer that
        /// is neither this nor `expected` is `error`; without it, every other
        /// answer gives the outcome. `else fail` on an `S:` line always has one.
        evidence: Option<ReplyPattern>,
    },
    /// Test the most recently received capabilities.
    Capability {
        /// `has` (true) or `lacks` (false).
        present: bool,
        /// The keyword.
        keyword: String,
        /// An optional parameter it must (not) carry.
        param: Option<String>,
    },
    /// Do the TLS handshake after the server's STARTTLS go-ahead.
    StartTls,
    /// Expect nothing from the server for this long.
    Silence(Duration),
    /// Expect the server to close the connection.
    Close,
}

/// Bytes with variables, expanded at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub Vec<Piece>);

/// A part of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes as written, escapes already decoded.
    Bytes(Vec<u8>),
    /// A variable, as it is (checked at run time to fit on a line: a user name
    /// or password with CR, LF or NUL is refused, not sent).
    Var(Var),
    /// A variable as an IMAP astring (`${password:astring}`): quoted with `\`
    /// and `"` escaped, or a literal sent after the server's `+`.
    Astring(Var),
}

/// The variables a script may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// The target's host.
    Host,
    /// The name the harness gives itself (EHLO argument).
    Client,
    /// The configured user name.
    User,
    /// The configured password (redacted in transcripts).
    Password,
    /// A fresh random tag, new for each check run.
    Tag,
}

impl Var {
    /// Every variable with its name in scripts.
    pub const ALL: [(Var, &'static str); 5] = [
        (Var::Host, "host"),
        (Var::Client, "client"),
        (Var::User, "user"),
        (Var::Password, "password"),
        (Var::Tag, "tag"),
    ];

    /// Whether using it requires `needs: credentials`.
    pub fn needs_credentials(self) -> bool {
        matches!(self, Var::User | Var::Password)
    }

    /// Its name in scripts.
    pub fn name(self) -> &'static str {
        Var::ALL
            .iter()
            .find(|(v, _)| *v == self)
            .map_or("", |(_, n)| n)
    }
}

/// What an `S:` line expects.
#[derive(Debug, Clone)]
pub struct ReplyPattern {
    /// IMAP only: `*` untagged, `+` continuation, or a tag template.
    pub tag: Option<TagPattern>,
    /// The acceptable statuses; any one matches.
    pub status: Vec<StatusPattern>,
    /// A regex the answer's text must match.
    pub text: Option<Regex>,
    /// The pattern as written, for messages.
    pub written: String,
}

/// IMAP: which response an `S:` line waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagPattern {
    /// `*`: the next untagged response.
    Untagged,
    /// `+`: a continuation request.
    Continuation,
    /// The tagged completion with this tag.
    Tagged(Template),
}

/// One acceptable status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusPattern {
    /// SMTP: three characters, each a digit or `x` (`250`, `2xx`, `53x`).
    Code([Option<u8>; 3]),
    /// IMAP: `OK`, `NO`, `BAD`, `PREAUTH`, `BYE`; POP3: `+OK`, `-ERR`.
    Word(String),
}

impl StatusPattern {
    /// Whether an SMTP code matches.
    pub fn matches_code(&self, code: u16) -> bool {
        let StatusPattern::Code(digits) = self else {
            return false;
        };
        let actual = [code / 100, (code / 10) % 10, code % 10];
        digits
            .iter()
            .zip(actual)
            .all(|(want, got)| want.is_none_or(|w| u16::from(w) == got))
    }
}
