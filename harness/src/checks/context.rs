//! What every check gets (the endpoint, credentials, policy, session options) and
//! what it gives back (a verdict), with the applicability rules shared by scripts
//! and native checks.

use crate::report::model::{Outcome, Severity};
use crate::scenario::Meta;
use crate::session::{Connection, Dial, Governor, SessionError, SessionOptions, Transcript};
use crate::target::{Credentials, Endpoint, Policy, TlsMode};
use std::sync::Arc;

/// How many times one check may run when the server says it is busy in the
/// middle of it (SMTP 421 after the greeting).
pub const CHECK_ATTEMPTS: u32 = 8;

/// Everything a check needs to run against one endpoint.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// The endpoint under test.
    pub endpoint: Endpoint,
    /// Credentials, from the URL or the command line.
    pub credentials: Option<Credentials>,
    /// What TLS the endpoint must insist on.
    pub policy: Policy,
    /// A recipient the server accepts, for checks that send mail.
    pub rcpt: Option<String>,
    /// Deadlines and caps for every connection.
    pub session: SessionOptions,
    /// The name used in EHLO.
    pub client_name: String,
    /// Extra trust anchors and the TLS facts the TLS checks of this endpoint share.
    pub tls: crate::tls::TlsOptions,
    /// The endpoint's connection budget: every connection goes through it.
    pub governor: Arc<Governor>,
}

impl CheckContext {
    /// A context for `endpoint` with its scheme's policy and default session options.
    pub fn new(endpoint: Endpoint) -> CheckContext {
        CheckContext {
            credentials: endpoint.credentials.clone(),
            policy: Policy::for_scheme(endpoint.scheme),
            rcpt: None,
            session: SessionOptions::default(),
            client_name: super::CLIENT_NAME.into(),
            tls: crate::tls::TlsOptions::default(),
            governor: Governor::new(crate::runner::RunOptions::default().jobs),
            endpoint,
        }
    }

    /// Opens a connection to the endpoint through its governor (TLS at once on
    /// implicit-TLS endpoints) once the server has greeted without turning us
    /// away; the greeting is left for the caller to read.
    pub async fn connect(
        &self,
        transcript: Transcript,
    ) -> Result<Connection, (SessionError, Transcript)> {
        let dial = Dial {
            host: &self.endpoint.host,
            port: self.endpoint.port,
            implicit_tls: self.endpoint.scheme.tls_mode() == TlsMode::Implicit,
            greeting: Some(self.endpoint.protocol()),
        };
        self.governor.open(&dial, &self.session, transcript).await
    }

    /// A fresh transcript that will never show the password, in any encoding it
    /// travels in (plain, IMAP quoted, SASL PLAIN and LOGIN, URL userinfo).
    pub fn new_transcript(&self) -> Transcript {
        let mut transcript = Transcript::new();
        if let Some(Credentials { user, password }) = &self.credentials {
            transcript.add_password(user, password);
        }
        transcript
    }
}

/// How a check ended: its outcome and the one-line detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The outcome.
    pub outcome: Outcome,
    /// One line: why.
    pub detail: String,
    /// A severity that replaces the check's own for this result, when the finding
    /// weighs differently under the endpoint's policy.
    pub severity: Option<Severity>,
    /// Set on an `error` because the server said it was busy in the middle of the
    /// check (SMTP 421): the check may be run again after a back-off.
    pub server_busy: bool,
    /// Set on a verdict drawn from a sign an overloaded server gives too (a TLS
    /// handshake dropped without an alert): it stands only when the check, run
    /// again, reaches it [`CONFIRMATIONS`] times in a row (see [`super::Check::run`]).
    pub to_confirm: bool,
}

/// How many runs in a row must reach a verdict marked [`Verdict::to_confirm`].
pub const CONFIRMATIONS: u32 = 3;

impl Verdict {
    /// A verdict with the check's own severity.
    pub fn new(outcome: Outcome, detail: impl Into<String>) -> Verdict {
        Verdict {
            outcome,
            detail: detail.into(),
            severity: None,
            server_busy: false,
            to_confirm: false,
        }
    }

    /// This verdict, to stand only when it repeats (see [`Verdict::to_confirm`]).
    pub fn to_confirm(self) -> Verdict {
        Verdict {
            to_confirm: true,
            ..self
        }
    }

    /// The harness's `error` for a session error; one that says the server was busy
    /// marks the verdict for another try.
    pub fn trouble(e: &SessionError, detail: impl Into<String>) -> Verdict {
        Verdict {
            server_busy: matches!(e, SessionError::Busy(_)),
            ..Verdict::new(Outcome::Error, detail)
        }
    }

    /// `pass` for a script whose every expectation was met, with its `pass:` detail.
    pub fn passed(meta: &Meta) -> Verdict {
        Verdict::new(
            Outcome::Pass,
            meta.pass_detail
                .clone()
                .unwrap_or_else(|| "every expectation of the scenario was met".into()),
        )
    }
}

/// Whether a check applies to this endpoint, policy and user; `Some` is the reason
/// it is skipped.
pub fn skip_reason(meta: &Meta, ctx: &CheckContext) -> Option<String> {
    if meta.needs.starttls && ctx.endpoint.scheme.tls_mode() == TlsMode::Implicit {
        return Some(format!(
            "{} is an implicit-TLS endpoint: STARTTLS does not apply",
            ctx.endpoint.scheme
        ));
    }
    if !meta.policies.is_empty() && !meta.policies.contains(&ctx.policy) {
        let why = if ctx.policy == Policy::Mx {
            " (opportunistic TLS allowed on MX)"
        } else {
            ""
        };
        return Some(format!(
            "does not apply under the {} policy{why}",
            ctx.policy
        ));
    }
    if meta.needs.credentials && ctx.credentials.is_none() {
        return Some(
            "needs credentials: give them in the URL (smtp://user:pass@host) or with --user/--password"
                .into(),
        );
    }
    None
}
