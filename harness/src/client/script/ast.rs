//! The parsed form of a client script: the same metadata as a server script, and
//! steps with the roles mirrored — the harness plays the server.

use crate::scenario::ast::{Otherwise, Template};
use crate::scenario::Meta;
use regex::Regex;
use std::time::Duration;

/// One client scenario: a malicious or broken server the client must survive.
#[derive(Debug, Clone)]
pub struct ClientScenario {
    /// Where it came from (`scenarios/client/smtp/starttls-missing.mts`).
    pub source: String,
    /// Id (`client.<protocol>.<name>`), title, protocol, severity, references.
    pub meta: Meta,
    /// Which certificate the harness presents at `TLS`.
    pub certificate: CertKind,
    /// What the harness does and expects, in order.
    pub steps: Vec<ClientStep>,
}

/// The certificate the harness presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// Issued by the run's test CA for the name the client dials: the client can trust it.
    Trusted,
    /// Self-signed for the right name.
    SelfSigned,
    /// Issued for the right name by a CA the client was never told about.
    UnknownCa,
    /// Issued by the trusted CA, but for another host name.
    WrongHost,
    /// Issued by the trusted CA for the right name, expired.
    Expired,
}

impl CertKind {
    /// Every kind with its name in scripts.
    pub const ALL: [(CertKind, &'static str); 5] = [
        (CertKind::Trusted, "trusted"),
        (CertKind::SelfSigned, "self-signed"),
        (CertKind::UnknownCa, "unknown-ca"),
        (CertKind::WrongHost, "wrong-host"),
        (CertKind::Expired, "expired"),
    ];
}

/// One step and what its failure means.
#[derive(Debug, Clone)]
pub struct ClientStep {
    /// 1-based line in the script.
    pub line: usize,
    /// What to do.
    pub action: ClientAction,
    /// What an unmet expectation means.
    pub otherwise: Otherwise,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum ClientAction {
    /// `S:`/`S+`/`RAW:`/`RAW+`: send these pieces in one segment.
    Send(Vec<ClientTemplate>),
    /// `C: VERB|VERB [/regex/]`: read one command of the client and match it.
    Expect(CommandPattern),
    /// `C: never VERB|VERB [/regex/]`: answer whatever the client sends with the
    /// protocol's stock replies until it leaves; unmet if a matching command arrives.
    Never(CommandPattern),
    /// `TLS`: the server side of the handshake, with the scenario's certificate.
    StartTls,
    /// `C: silence 300ms`: the client must send nothing for this long.
    Silence(Duration),
    /// `C: close`: the client must close the connection.
    Close,
}

/// Bytes to send: templates of the shared grammar, and the client's next IMAP tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTemplate(pub Vec<ClientPiece>);

/// A part of a [`ClientTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientPiece {
    /// Bytes and the shared variables: `${host}` is the harness's server name,
    /// `${client}` the name the client gave in EHLO/HELO, `${tag}` the tag of
    /// the client's last IMAP command.
    Shared(Template),
    /// `${nexttag}`: the client's last IMAP tag with its number counted up
    /// (`A002` → `A003`), the tag its next command will most likely carry.
    NextTag,
}

/// What a `C:` line expects of a client command.
#[derive(Debug, Clone)]
pub struct CommandPattern {
    /// Acceptable verbs, upper case (`AUTH`, `MAIL`; the IMAP command after the tag).
    pub verbs: Vec<String>,
    /// A regex the whole line must match.
    pub text: Option<Regex>,
    /// The pattern as written, for messages.
    pub written: String,
}

impl CommandPattern {
    /// Whether a command with `verb` and the line `line` matches.
    pub fn matches(&self, verb: &str, line: &str) -> bool {
        (self.verbs.is_empty() || self.verbs.iter().any(|v| v.eq_ignore_ascii_case(verb)))
            && self.text.as_ref().is_none_or(|r| r.is_match(line))
    }
}
