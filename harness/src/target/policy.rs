//! TLS policies: what an endpoint is expected to require. The scheme picks the
//! default (DESIGN.md); `--policy` overrides it; every report records the one used.

use super::Scheme;
use std::fmt;
use std::str::FromStr;

/// What TLS an endpoint must insist on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// MX on port 25: opportunistic TLS (RFC 3207 §4: a publicly-referenced server
    /// must not require TLS), so cleartext business is allowed.
    Mx,
    /// Submission on 587/465: TLS before authentication or mail (RFC 8314 §3).
    Submission,
    /// IMAP and POP3: TLS before login (RFC 8314 §3, RFC 2595).
    Mailbox,
    /// Everything required, whatever the port.
    Strict,
}

impl Policy {
    /// Every policy.
    pub const ALL: [Policy; 4] = [
        Policy::Mx,
        Policy::Submission,
        Policy::Mailbox,
        Policy::Strict,
    ];

    /// The policy a scheme implies.
    pub fn for_scheme(scheme: Scheme) -> Policy {
        match scheme {
            Scheme::Smtp => Policy::Mx,
            Scheme::Submission | Scheme::Smtps => Policy::Submission,
            Scheme::Imap | Scheme::Imaps | Scheme::Pop3 | Scheme::Pop3s => Policy::Mailbox,
        }
    }

    /// The name used on the command line, in scripts and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Mx => "mx",
            Policy::Submission => "submission",
            Policy::Mailbox => "mailbox",
            Policy::Strict => "strict",
        }
    }

    /// Whether cleartext business (mail, login) must be refused before TLS.
    pub fn requires_tls(self) -> bool {
        self != Policy::Mx
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("unknown policy `{s}` (expected mx, submission, mailbox or strict)")
            })
    }
}
