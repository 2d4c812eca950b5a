//! The deliberate flaws the server can be told to have, and the policy
//! questions each of them answers differently.
//!
//! Every protocol module asks its flaw-dependent questions through the
//! `pub(crate)` methods at the bottom of this file, so the full effect of a
//! flaw can be audited here without reading the state machines.

use std::fmt;
use std::str::FromStr;

/// The authorization identity buffer `post-starttls-crash` overflows.
const MAX_AUTHZID: usize = 255;

/// One way a mail server can get STARTTLS wrong; the harness switches exactly
/// one on to prove that a check notices it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flaw {
    /// Never advertises STARTTLS/STLS and treats the command as unknown.
    NoStarttls,
    /// Executes plaintext pipelined after STARTTLS as if it came through TLS.
    StarttlsInjection,
    /// Offers and accepts authentication before TLS.
    PlaintextAuth,
    /// Still advertises and accepts STARTTLS once TLS is active.
    StaleCapabilities,
    /// SMTP keeps the pre-STARTTLS session state after the upgrade.
    StateNotReset,
    /// Discards what came with STARTTLS but keeps plaintext that arrives after
    /// the go-ahead and before the ClientHello, and runs it inside TLS.
    LateInjection,
    /// IMAP advertises LOGINDISABLED before TLS but accepts LOGIN anyway.
    LoginDespiteLogindisabled,
    /// IMAP/POP3 accept a cleartext login (without advertising it), then
    /// STARTTLS/STLS in the authenticated state, staying logged in inside TLS.
    SessionFixation,
    /// SMTP ends DATA at a bare `\n.\n` as well as at `\r\n.\r\n` (smuggling).
    BareLfData,
    /// SMTP on the submission port accepts MAIL FROM before TLS.
    NoTlsRequired,
    /// Serves a certificate whose validity ended yesterday.
    ExpiredCert,
    /// Serves a certificate for another host name.
    WrongHostCert,
    /// Serves a self-signed certificate, not one issued by the server's test CA.
    SelfSignedCert,
    /// Sends an RSA-1024 certificate in its chain.
    WeakKeyCert,
    /// Speaks TLS 1.2 only, no TLS 1.3.
    Tls12Only,
    /// The whole server dies (stops accepting, drops every session) on an
    /// SMTP AUTH PLAIN inside TLS whose authorization identity overflows a
    /// 255-byte buffer: a crash reachable only after STARTTLS, for the fuzzer.
    PostStarttlsCrash,
}

impl Flaw {
    /// Every flaw, in the order used for listing and for `Flaws` display.
    pub const ALL: [Flaw; 16] = [
        Flaw::NoStarttls,
        Flaw::StarttlsInjection,
        Flaw::PlaintextAuth,
        Flaw::StaleCapabilities,
        Flaw::StateNotReset,
        Flaw::LateInjection,
        Flaw::LoginDespiteLogindisabled,
        Flaw::SessionFixation,
        Flaw::BareLfData,
        Flaw::NoTlsRequired,
        Flaw::ExpiredCert,
        Flaw::WrongHostCert,
        Flaw::SelfSignedCert,
        Flaw::WeakKeyCert,
        Flaw::Tls12Only,
        Flaw::PostStarttlsCrash,
    ];

    /// The kebab-case name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Flaw::NoStarttls => "no-starttls",
            Flaw::StarttlsInjection => "starttls-injection",
            Flaw::PlaintextAuth => "plaintext-auth",
            Flaw::StaleCapabilities => "stale-capabilities",
            Flaw::StateNotReset => "state-not-reset",
            Flaw::LateInjection => "late-injection",
            Flaw::LoginDespiteLogindisabled => "login-despite-logindisabled",
            Flaw::SessionFixation => "session-fixation",
            Flaw::BareLfData => "bare-lf-data",
            Flaw::NoTlsRequired => "no-tls-required",
            Flaw::ExpiredCert => "expired-cert",
            Flaw::WrongHostCert => "wrong-host-cert",
            Flaw::SelfSignedCert => "self-signed-cert",
            Flaw::WeakKeyCert => "weak-key-cert",
            Flaw::Tls12Only => "tls12-only",
            Flaw::PostStarttlsCrash => "post-starttls-crash",
        }
    }

    /// A one-line description for help output and listings.
    pub fn description(self) -> &'static str {
        match self {
            Flaw::NoStarttls => {
                "never advertises STARTTLS/STLS and answers it as an unknown command"
            }
            Flaw::StarttlsInjection => {
                "runs plaintext commands pipelined after STARTTLS/STLS as if sent inside TLS (CVE-2011-0411)"
            }
            Flaw::PlaintextAuth => {
                "advertises and accepts AUTH/LOGIN/USER+PASS before TLS is negotiated"
            }
            Flaw::StaleCapabilities => {
                "still advertises STARTTLS/STLS inside TLS and accepts a second upgrade"
            }
            Flaw::StateNotReset => {
                "SMTP keeps EHLO, MAIL FROM and RCPT TO given before STARTTLS"
            }
            Flaw::LateInjection => {
                "keeps plaintext sent after the STARTTLS go-ahead, before the ClientHello, and runs it inside TLS"
            }
            Flaw::LoginDespiteLogindisabled => {
                "IMAP advertises LOGINDISABLED before TLS but accepts LOGIN"
            }
            Flaw::SessionFixation => {
                "IMAP/POP3 accept a cleartext login, then STARTTLS/STLS, and stay logged in inside TLS"
            }
            Flaw::BareLfData => "SMTP ends DATA at a bare LF.LF, not only at CRLF.CRLF (SMTP smuggling)",
            Flaw::NoTlsRequired => "SMTP on the submission port accepts MAIL FROM before TLS",
            Flaw::ExpiredCert => "serves a certificate that expired yesterday",
            Flaw::WrongHostCert => "serves a certificate for another host name",
            Flaw::SelfSignedCert => "serves a self-signed certificate instead of one from its test CA",
            Flaw::WeakKeyCert => "sends an RSA-1024 certificate in its chain",
            Flaw::Tls12Only => "speaks TLS 1.2 only (no TLS 1.3)",
            Flaw::PostStarttlsCrash => {
                "the whole server crashes on SMTP AUTH PLAIN inside TLS with an authzid over 255 bytes"
            }
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Flaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A flaw name that matches none of [`Flaw::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown flaw `{name}` (valid flaws: {})", valid_names())]
pub struct UnknownFlaw {
    /// The name that was given.
    pub name: String,
}

fn valid_names() -> String {
    Flaw::ALL.map(Flaw::name).join(", ")
}

impl FromStr for Flaw {
    type Err = UnknownFlaw;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Flaw::ALL
            .into_iter()
            .find(|flaw| flaw.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownFlaw {
                name: wanted.to_owned(),
            })
    }
}

/// A set of flaws; the empty set (the default) is the correct server.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Hash)]
pub struct Flaws {
    bits: u32,
}

impl Flaws {
    /// Whether `flaw` is switched on.
    pub fn contains(self, flaw: Flaw) -> bool {
        self.bits & flaw.bit() != 0
    }

    /// Switches `flaw` on.
    pub fn insert(&mut self, flaw: Flaw) {
        self.bits |= flaw.bit();
    }

    /// The flaws switched on, in [`Flaw::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Flaw> {
        Flaw::ALL
            .into_iter()
            .filter(move |flaw| self.contains(*flaw))
    }

    /// Whether this is the correct server.
    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// Whether STARTTLS/STLS exists at all as a command.
    pub(crate) fn starttls_supported(self) -> bool {
        !self.contains(Flaw::NoStarttls)
    }

    /// Whether STARTTLS/STLS is advertised and accepted in a session whose
    /// TLS state is `tls`. A correct server stops offering it once TLS is up,
    /// because upgrading twice is meaningless and confuses clients.
    pub(crate) fn offer_starttls(self, tls: bool) -> bool {
        self.starttls_supported() && (!tls || self.contains(Flaw::StaleCapabilities))
    }

    /// Whether credentials may be sent in a session whose TLS state is `tls`;
    /// a correct server refuses them in cleartext (RFC 2595 §2.1, RFC 3501 LOGINDISABLED).
    pub(crate) fn auth_allowed(self, tls: bool) -> bool {
        tls || self.contains(Flaw::PlaintextAuth)
    }

    /// Whether bytes read in plaintext after the STARTTLS line survive the
    /// upgrade. Keeping them is the CVE-2011-0411 bug: an attacker on the path
    /// can append commands that the server then trusts as TLS-protected.
    pub(crate) fn keep_plaintext_after_upgrade(self) -> bool {
        self.contains(Flaw::StarttlsInjection)
    }

    /// Whether plaintext that arrives after the go-ahead and before the
    /// ClientHello is kept and run inside TLS (the late variant of CVE-2011-0411).
    pub(crate) fn keep_late_plaintext(self) -> bool {
        self.contains(Flaw::LateInjection)
    }

    /// Whether IMAP LOGIN works before TLS. LOGINDISABLED is advertised unless
    /// `plaintext-auth`; `login-despite-logindisabled` breaks that promise.
    pub(crate) fn imap_login_allowed(self, tls: bool) -> bool {
        self.auth_allowed(tls)
            || self.contains(Flaw::LoginDespiteLogindisabled)
            || self.contains(Flaw::SessionFixation)
    }

    /// Whether POP3 USER/PASS and AUTH work before TLS.
    pub(crate) fn pop3_login_allowed(self, tls: bool) -> bool {
        self.auth_allowed(tls) || self.contains(Flaw::SessionFixation)
    }

    /// Whether STARTTLS/STLS is accepted after login, keeping the login
    /// (RFC 2595 §4 and RFC 9051 §6.2.1 forbid both).
    pub(crate) fn starttls_after_login(self) -> bool {
        self.contains(Flaw::SessionFixation)
    }

    /// Whether a bare `\n.\n` ends DATA; only `\r\n.\r\n` may (RFC 5321 §4.1.1.4).
    pub(crate) fn bare_lf_ends_data(self) -> bool {
        self.contains(Flaw::BareLfData)
    }

    /// Whether the submission port does business (MAIL FROM) before TLS;
    /// RFC 8314 §3 wants TLS first.
    pub(crate) fn submission_mail_before_tls(self) -> bool {
        self.contains(Flaw::NoTlsRequired)
    }

    /// Whether an AUTH PLAIN authorization identity of `len` bytes, in a session
    /// whose TLS state is `tls`, overflows the (planted) fixed-size buffer and
    /// brings the whole server down. Never before TLS, whatever else is on.
    pub(crate) fn authzid_crashes(self, tls: bool, len: usize) -> bool {
        tls && self.contains(Flaw::PostStarttlsCrash) && len > MAX_AUTHZID
    }

    /// Whether SMTP forgets everything learnt before STARTTLS (RFC 3207 §4.2),
    /// which a correct server must do because none of it was authenticated.
    pub(crate) fn reset_smtp_on_upgrade(self) -> bool {
        !self.contains(Flaw::StateNotReset)
    }
}

impl From<Flaw> for Flaws {
    fn from(flaw: Flaw) -> Self {
        let mut flaws = Flaws::default();
        flaws.insert(flaw);
        flaws
    }
}

impl FromIterator<Flaw> for Flaws {
    fn from_iter<I: IntoIterator<Item = Flaw>>(iter: I) -> Self {
        let mut flaws = Flaws::default();
        for flaw in iter {
            flaws.insert(flaw);
        }
        flaws
    }
}

impl FromStr for Flaws {
    type Err = UnknownFlaw;

    /// Parses a comma-separated list; an empty (or blank) string is no flaws.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Ok(Flaws::default());
        }
        s.split(',').map(str::parse::<Flaw>).collect()
    }
}

impl fmt::Display for Flaws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, flaw) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(flaw.name())?;
        }
        Ok(())
    }
}
