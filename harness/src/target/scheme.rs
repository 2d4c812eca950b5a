//! URL schemes of targets: which protocol, which default port, and how TLS starts.

use std::fmt;
use std::str::FromStr;

/// The mail protocol spoken on an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// SMTP, on MX or submission ports.
    Smtp,
    /// IMAP4.
    Imap,
    /// POP3.
    Pop3,
}

impl Protocol {
    /// Every protocol, in report order.
    pub const ALL: [Protocol; 3] = [Protocol::Smtp, Protocol::Imap, Protocol::Pop3];

    /// `smtp`, `imap`, `pop3`: the first segment of a check id.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "smtp" => Ok(Protocol::Smtp),
            "imap" => Ok(Protocol::Imap),
            "pop3" => Ok(Protocol::Pop3),
            other => Err(format!(
                "unknown protocol `{other}` (expected smtp, imap or pop3)"
            )),
        }
    }
}

/// How TLS starts on an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connection, upgraded by STARTTLS/STLS.
    StartTls,
    /// TLS from the first byte (RFC 8314).
    Implicit,
}

/// A target URL scheme (DESIGN.md, "Contracts").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `smtp://`, port 25, STARTTLS.
    Smtp,
    /// `submission://`, port 587, STARTTLS.
    Submission,
    /// `smtps://`, port 465, implicit TLS.
    Smtps,
    /// `imap://`, port 143, STARTTLS.
    Imap,
    /// `imaps://`, port 993, implicit TLS.
    Imaps,
    /// `pop3://`, port 110, STLS.
    Pop3,
    /// `pop3s://`, port 995, implicit TLS.
    Pop3s,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 7] = [
        Scheme::Smtp,
        Scheme::Submission,
        Scheme::Smtps,
        Scheme::Imap,
        Scheme::Imaps,
        Scheme::Pop3,
        Scheme::Pop3s,
    ];

    /// The scheme as written in a URL.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Smtp => "smtp",
            Scheme::Submission => "submission",
            Scheme::Smtps => "smtps",
            Scheme::Imap => "imap",
            Scheme::Imaps => "imaps",
            Scheme::Pop3 => "pop3",
            Scheme::Pop3s => "pop3s",
        }
    }

    /// The protocol spoken.
    pub fn protocol(self) -> Protocol {
        match self {
            Scheme::Smtp | Scheme::Submission | Scheme::Smtps => Protocol::Smtp,
            Scheme::Imap | Scheme::Imaps => Protocol::Imap,
            Scheme::Pop3 | Scheme::Pop3s => Protocol::Pop3,
        }
    }

    /// How TLS starts.
    pub fn tls_mode(self) -> TlsMode {
        match self {
            Scheme::Smtps | Scheme::Imaps | Scheme::Pop3s => TlsMode::Implicit,
            _ => TlsMode::StartTls,
        }
    }

    /// The IANA port.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Smtp => 25,
            Scheme::Submission => 587,
            Scheme::Smtps => 465,
            Scheme::Imap => 143,
            Scheme::Imaps => 993,
            Scheme::Pop3 => 110,
            Scheme::Pop3s => 995,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.name().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}
