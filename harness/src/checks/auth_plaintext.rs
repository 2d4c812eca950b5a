//! `{p}.auth.plaintext-rejected-before-tls`: really try to log in before TLS and
//! judge the answer. Advertising is one thing (`{p}.auth.no-plaintext-before-tls`);
//! this checks what the server does when a client sends credentials anyway. The
//! configured credentials are used when given (they then prove a refusal is not
//! just a wrong password), throwaway ones otherwise.

use super::dialog::{trouble, Dialog};
use super::native::{BoxFuture, NativeCheck};
use super::{CheckContext, Verdict};
use crate::report::model::{Outcome, Severity};
use crate::scenario::{Meta, Needs};
use crate::session::{Answer, SessionError, Transcript, Want};
use crate::target::Protocol;
use crate::wire::credentials::{self, CredentialError, ImapChunks};

/// Used when the user gave no credentials; no server should know them.
const THROWAWAY_USER: &str = "mailtls-probe";
const THROWAWAY_PASSWORD: &str = "mailtls-not-a-password";

/// The check for one protocol.
#[derive(Debug)]
pub struct PlaintextAuthRejected {
    meta: Meta,
}

impl PlaintextAuthRejected {
    /// The check for `protocol`.
    pub fn new(protocol: Protocol) -> PlaintextAuthRejected {
        let (title, references) = match protocol {
            Protocol::Smtp => (
                "AUTH PLAIN and AUTH LOGIN sent before TLS are refused as TLS-required",
                vec!["RFC 4954 §4", "RFC 3207 §4", "RFC 8314 §3"],
            ),
            Protocol::Imap => (
                "LOGIN sent before TLS is refused (LOGINDISABLED or [PRIVACYREQUIRED])",
                vec!["RFC 9051 §6.2.3", "RFC 2595 §3.2", "RFC 8314 §3"],
            ),
            Protocol::Pop3 => (
                "USER/PASS sent before TLS is refused",
                vec!["RFC 2595 §2.1", "RFC 1939 §7", "RFC 8314 §3"],
            ),
        };
        PlaintextAuthRejected {
            meta: Meta {
                id: format!("{protocol}.auth.plaintext-rejected-before-tls"),
                title: title.into(),
                protocol: Some(protocol),
                severity: Severity::High,
                references: references.into_iter().map(String::from).collect(),
                needs: Needs {
                    starttls: true,
                    credentials: false,
                },
                policies: Vec::new(),
                pass_detail: None,
            },
        }
    }
}

impl NativeCheck for PlaintextAuthRejected {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn run<'a>(
        &'a self,
        ctx: &'a CheckContext,
        transcript: Transcript,
    ) -> BoxFuture<'a, (Verdict, Transcript)> {
        Box::pin(async move {
            let mut dialog = match Dialog::open(ctx, transcript).await {
                Ok(dialog) => dialog,
                Err(failed) => return failed,
            };
            let (user, password, real) = match &ctx.credentials {
                Some(c) => (c.user.as_str(), c.password.as_str(), true),
                None => (THROWAWAY_USER, THROWAWAY_PASSWORD, false),
            };
            dialog.note(if real {
                "trying the configured credentials before TLS"
            } else {
                "trying throwaway credentials before TLS (no --user/--password given)"
            });
            let mut sent = false;
            let judged = match ctx.endpoint.protocol() {
                Protocol::Smtp => smtp(&mut dialog, ctx, user, password, &mut sent).await,
                Protocol::Imap => imap(&mut dialog, user, password, real, &mut sent).await,
                Protocol::Pop3 => pop3(&mut dialog, user, password, real, &mut sent).await,
            };
            let (verdict, confirm) = match judged {
                Ok(Judged::Verdict(verdict)) => (verdict, false),
                Ok(Judged::ConfirmInsideTls(verdict)) => (verdict, true),
                Err(Stop::Unsendable(e)) => (Verdict::new(Outcome::Error, e.to_string()), false),
                Err(Stop::Session(e)) => (session_verdict(e, sent), false),
            };
            let mut transcript = dialog.into_transcript();
            if confirm {
                let (confirmed, confirmation) = login_inside_tls(ctx, transcript.sibling()).await;
                transcript.append(&confirmation);
                return (confirmed.unwrap_or(verdict), transcript);
            }
            (verdict, transcript)
        })
    }
}

/// What a protocol's attempt found.
enum Judged {
    /// The verdict.
    Verdict(Verdict),
    /// A refusal that did not say why: it stands (this `pass`) only once the
    /// configured credentials are shown to work inside TLS, since a wrong
    /// --password or a failing backend is refused too.
    ConfirmInsideTls(Verdict),
}

/// Why an attempt stopped before it could be judged.
enum Stop {
    /// The session broke (or the server closed).
    Session(SessionError),
    /// The credentials cannot be written in this protocol: nothing was sent.
    Unsendable(CredentialError),
}

impl From<SessionError> for Stop {
    fn from(e: SessionError) -> Stop {
        Stop::Session(e)
    }
}

impl From<CredentialError> for Stop {
    fn from(e: CredentialError) -> Stop {
        Stop::Unsendable(e)
    }
}

/// A server that hangs up once the credentials were sent has not let the login
/// happen (the detail says so); one that hangs up before has shown nothing, and
/// the harness's own trouble stays `error`.
fn session_verdict(e: SessionError, credentials_sent: bool) -> Verdict {
    match e {
        SessionError::Closed { .. } if credentials_sent => Verdict::new(
            Outcome::Pass,
            "the server closed the connection on a login attempt before TLS, so no login happened",
        ),
        other => trouble(other, "the answer to a login attempt"),
    }
}

/// Whether a refusal's text says it is about the missing TLS.
fn says_tls(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    [
        "TLS",
        "SSL",
        "SECURE",
        "ENCRYPT",
        "STLS",
        "STARTTLS",
        "PLAINTEXT",
        "CLEARTEXT",
        "PRIVACY",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

async fn smtp(
    dialog: &mut Dialog,
    ctx: &CheckContext,
    user: &str,
    password: &str,
    sent: &mut bool,
) -> Result<Judged, Stop> {
    let plain = credentials::sasl_plain(user, password)?;
    let ehlo = dialog
        .ask(&format!("EHLO {}", ctx.client_name), &Want::SmtpReply)
        .await?;
    if ehlo.status != "250" {
        return Ok(Judged::Verdict(Verdict::new(
            Outcome::Error,
            format!("EHLO was refused: `{}`", ehlo.summary()),
        )));
    }
    *sent = true;
    let plain = dialog
        .ask(&format!("AUTH PLAIN {plain}"), &Want::SmtpReply)
        .await?;
    let plain_code = plain.status.clone();
    if let Some(verdict) = smtp_judge("AUTH PLAIN", &plain_code, &plain.summary()) {
        if plain_code == "334" {
            dialog.send("*").await?;
        }
        return Ok(Judged::Verdict(verdict));
    }
    let mut login = dialog.ask("AUTH LOGIN", &Want::SmtpReply).await?;
    if login.status == "334" {
        login = dialog
            .ask(&credentials::sasl_login(user), &Want::SmtpReply)
            .await?;
        if login.status == "334" {
            login = dialog
                .ask(&credentials::sasl_login(password), &Want::SmtpReply)
                .await?;
        }
    }
    if let Some(verdict) = smtp_judge("AUTH LOGIN", &login.status, &login.summary()) {
        return Ok(Judged::Verdict(verdict));
    }
    dialog.send("QUIT").await?;
    Ok(Judged::Verdict(Verdict::new(
        Outcome::Pass,
        format!(
            "AUTH PLAIN and AUTH LOGIN were refused before TLS ({plain_code}, {})",
            login.status
        ),
    )))
}

/// `Some` when the reply to an AUTH attempt settles the check as failed; `None`
/// when it was a refusal.
fn smtp_judge(what: &str, code: &str, summary: &str) -> Option<Verdict> {
    let fail = |why: String| Some(Verdict::new(Outcome::Fail, why));
    match code {
        "235" => fail(format!("{what} succeeded before TLS: `{summary}`")),
        "535" => fail(format!(
            "the server checked {what} credentials before TLS (`{summary}`) instead of refusing for lack of TLS (530/538)"
        )),
        "334" => fail(format!(
            "the server asks for {what} credentials before TLS: `{summary}`"
        )),
        c if c.starts_with('4') || c.starts_with('5') => None,
        // Neither a success nor a refusal: no evidence either way.
        _ => Some(Verdict::new(
            Outcome::Error,
            format!("unexpected answer to {what} before TLS: `{summary}`"),
        )),
    }
}

async fn imap(
    dialog: &mut Dialog,
    user: &str,
    password: &str,
    real: bool,
    sent: &mut bool,
) -> Result<Judged, Stop> {
    let login = credentials::imap_login("m2", user, password)?;
    let caps = dialog.ask("m1 CAPABILITY", &Want::ImapCompletion).await?;
    let logindisabled = caps
        .capabilities
        .as_ref()
        .is_some_and(|c| c.has("LOGINDISABLED", None));
    *sent = true;
    let login = imap_command(dialog, &login).await?;
    let _ = dialog.send("m3 LOGOUT").await;
    Ok(imap_judge(&login, logindisabled, real))
}

/// Sends an IMAP command whose literals wait for the server's `+`, and reads its
/// answer (which may come in place of a `+`).
async fn imap_command(dialog: &mut Dialog, command: &ImapChunks) -> Result<Answer, SessionError> {
    let mut chunks = command.chunks().iter();
    dialog
        .send_raw(chunks.next().map(Vec::as_slice).unwrap_or_default())
        .await?;
    for literal in chunks {
        let go = dialog.read(&Want::ImapCompletion).await?;
        if go.tag.as_deref() != Some("+") {
            return Ok(go);
        }
        dialog.send_raw(literal).await?;
    }
    dialog.read(&Want::ImapCompletion).await
}

/// The response codes (RFC 5530) that say the credentials themselves were checked.
const CREDENTIALS_CHECKED: [&str; 3] =
    ["[AUTHENTICATIONFAILED", "[AUTHORIZATIONFAILED", "[EXPIRED"];

fn imap_judge(login: &Answer, logindisabled: bool, real: bool) -> Judged {
    let summary = login.summary();
    let code = login.text.to_ascii_uppercase();
    let privacy = code.starts_with("[PRIVACYREQUIRED");
    let checked = CREDENTIALS_CHECKED.iter().find(|c| code.starts_with(*c));
    let verdict = |outcome, detail: String| Judged::Verdict(Verdict::new(outcome, detail));
    let refused =
        matches!(login.status.as_str(), "NO" | "BAD") && login.tag.as_deref() != Some("*");
    match login.status.as_str() {
        "OK" if logindisabled => verdict(
            Outcome::Fail,
            format!("LOGIN succeeded before TLS although the server advertises LOGINDISABLED: `{summary}`"),
        ),
        "OK" => verdict(Outcome::Fail, format!("LOGIN succeeded before TLS: `{summary}`")),
        _ if refused && (privacy || logindisabled) => verdict(
            Outcome::Pass,
            format!(
                "LOGIN was refused before TLS ({}): `{summary}`",
                if privacy { "[PRIVACYREQUIRED]" } else { "LOGINDISABLED advertised" }
            ),
        ),
        _ if refused && checked.is_some() => verdict(
            Outcome::Fail,
            format!(
                "LOGIN before TLS was refused without LOGINDISABLED or [PRIVACYREQUIRED], and {}] says the credentials were judged in cleartext: `{summary}`",
                checked.copied().unwrap_or_default()
            ),
        ),
        _ if refused && says_tls(&login.text) => verdict(
            Outcome::Pass,
            format!("LOGIN was refused before TLS for lack of TLS: `{summary}`"),
        ),
        _ if refused && real => Judged::ConfirmInsideTls(Verdict::new(
            Outcome::Pass,
            format!("LOGIN with the configured credentials was refused before TLS and works inside TLS: `{summary}`"),
        )),
        _ if refused => verdict(
            Outcome::Skip,
            format!(
                "LOGIN with throwaway credentials was refused without saying why (`{summary}`); give --user/--password to judge"
            ),
        ),
        // A continuation, an untagged BYE, PREAUTH: neither a login nor a refusal.
        _ => verdict(
            Outcome::Error,
            format!("unexpected answer to LOGIN before TLS: `{summary}`"),
        ),
    }
}

/// The RFC 2449 §8.1 response code of a `-ERR` to PASS that is sent after the
/// credentials were accepted: `[IN-USE]` (the maildrop is locked) or
/// `[LOGIN-DELAY]` (the user logged in too recently; Cyrus's `popminpoll`). Such
/// a refusal says nothing about TLS: the password was checked in cleartext.
fn accepted_but_refused(text: &str) -> Option<&'static str> {
    let upper = text.trim_start().to_ascii_uppercase();
    ["[IN-USE]", "[LOGIN-DELAY]"]
        .into_iter()
        .find(|code| upper.starts_with(code))
}

async fn pop3(
    dialog: &mut Dialog,
    user: &str,
    password: &str,
    real: bool,
    sent: &mut bool,
) -> Result<Judged, Stop> {
    let (user_line, pass_line) = (
        credentials::pop3_user(user)?,
        credentials::pop3_pass(password)?,
    );
    let single = Want::Pop3 { multi_line: false };
    *sent = true;
    let user_answer = dialog.ask(&user_line, &single).await?;
    if user_answer.status == "-ERR" {
        let _ = dialog.send("QUIT").await;
        return Ok(Judged::Verdict(Verdict::new(
            Outcome::Pass,
            format!("USER was refused before TLS: `{}`", user_answer.summary()),
        )));
    }
    let pass = dialog.ask(&pass_line, &single).await?;
    let _ = dialog.send("QUIT").await;
    let summary = pass.summary();
    let says_tls = says_tls(&pass.text);
    let accepted_code = accepted_but_refused(&pass.text);
    let verdict = |outcome, detail: String| Judged::Verdict(Verdict::new(outcome, detail));
    Ok(match (pass.status.as_str(), real, says_tls) {
        ("+OK", ..) => verdict(Outcome::Fail, format!("USER/PASS succeeded before TLS: `{summary}`")),
        ("-ERR", ..) if accepted_code.is_some() => verdict(
            Outcome::Fail,
            format!(
                "the server accepted the password before TLS and refused the login only for {}: `{summary}`",
                accepted_code.unwrap_or_default()
            ),
        ),
        ("-ERR", true, says_tls) => {
            let refused = Verdict::new(
                Outcome::Pass,
                format!("USER/PASS with the configured credentials was refused before TLS: `{summary}`"),
            );
            // A bare -ERR to the real credentials passes only once they are shown to
            // work inside TLS: a wrong --password or a failing backend refuses them too.
            if says_tls {
                Judged::Verdict(refused)
            } else {
                Judged::ConfirmInsideTls(refused)
            }
        }
        ("-ERR", false, true) => verdict(
            Outcome::Pass,
            format!("PASS was refused before TLS for lack of TLS: `{summary}`"),
        ),
        ("-ERR", false, false) => verdict(
            Outcome::Skip,
            format!(
                "PASS with throwaway credentials was refused without saying why (`{summary}`); give --user/--password to judge"
            ),
        ),
        // A continuation or anything else: neither a login nor a refusal.
        _ => verdict(Outcome::Error, format!("unexpected answer to PASS before TLS: `{summary}`")),
    })
}

/// Logs in with the configured credentials inside TLS (STARTTLS/STLS first on a
/// STARTTLS port). `None` when they work, so the refusal before TLS stands;
/// otherwise the `error` that replaces the pass: the refusal cannot be told from
/// bad credentials.
async fn login_inside_tls(
    ctx: &CheckContext,
    transcript: Transcript,
) -> (Option<Verdict>, Transcript) {
    let Some(credentials) = &ctx.credentials else {
        return (None, transcript);
    };
    let mut dialog = match Dialog::open(ctx, transcript).await {
        Ok(dialog) => dialog,
        Err((verdict, transcript)) => return (Some(verdict), transcript),
    };
    dialog.note("confirming the configured credentials inside TLS");
    let protocol = ctx.endpoint.protocol();
    let single = Want::Pop3 { multi_line: false };
    let login = async {
        if ctx.endpoint.scheme.tls_mode() != crate::target::TlsMode::Implicit {
            let (command, want, ok) = match protocol {
                Protocol::Imap => ("m4 STARTTLS", Want::ImapCompletion, "OK"),
                _ => ("STLS", single.clone(), "+OK"),
            };
            let go = dialog.ask(command, &want).await?;
            if go.status != ok {
                return Ok(Some(Verdict::new(
                    Outcome::Error,
                    format!(
                        "could not confirm the credentials inside TLS: {command} was refused (`{}`)",
                        go.summary()
                    ),
                )));
            }
            dialog.start_tls().await?;
        }
        let (answer, ok) = match protocol {
            Protocol::Imap => {
                let login =
                    credentials::imap_login("m5", &credentials.user, &credentials.password)?;
                let answer = imap_command(&mut dialog, &login).await?;
                let _ = dialog.send("m6 LOGOUT").await;
                (answer, "OK")
            }
            _ => {
                let user = dialog
                    .ask(&credentials::pop3_user(&credentials.user)?, &single)
                    .await?;
                let pass = if user.status == "+OK" {
                    dialog
                        .ask(&credentials::pop3_pass(&credentials.password)?, &single)
                        .await?
                } else {
                    user
                };
                let _ = dialog.send("QUIT").await;
                (pass, "+OK")
            }
        };
        Ok(if answer.status == ok {
            None
        } else {
            Some(Verdict::new(
                Outcome::Error,
                format!(
                    "the configured credentials were refused inside TLS too (`{}`), so their refusal before TLS says nothing about TLS; check --user/--password",
                    answer.summary()
                ),
            ))
        })
    };
    let verdict = login.await.unwrap_or_else(|stop: Stop| {
        Some(match stop {
            Stop::Session(e) => trouble(e, "a login inside TLS"),
            Stop::Unsendable(e) => Verdict::new(Outcome::Error, e.to_string()),
        })
    });
    (verdict, dialog.into_transcript())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(tag: &str, status: &str, text: &str) -> Answer {
        Answer {
            status: status.into(),
            tag: Some(tag.into()),
            text: text.into(),
            capabilities: None,
        }
    }

    fn judged(answer: &Answer, logindisabled: bool, real: bool) -> (Outcome, bool) {
        match imap_judge(answer, logindisabled, real) {
            Judged::Verdict(v) => (v.outcome, false),
            Judged::ConfirmInsideTls(v) => (v.outcome, true),
        }
    }

    #[test]
    fn imap_fails_only_on_evidence() {
        let ok = answer("m2", "OK", "LOGIN completed");
        assert_eq!(judged(&ok, false, false), (Outcome::Fail, false));
        assert_eq!(judged(&ok, true, true), (Outcome::Fail, false));
        let checked = answer("m2", "NO", "[AUTHENTICATIONFAILED] Invalid credentials");
        assert_eq!(judged(&checked, false, false), (Outcome::Fail, false));
        let privacy = answer("m2", "NO", "[PRIVACYREQUIRED] no");
        assert_eq!(judged(&privacy, false, true), (Outcome::Pass, false));
        let says = answer("m2", "BAD", "Plaintext authentication disallowed");
        assert_eq!(judged(&says, false, false), (Outcome::Pass, false));
    }

    #[test]
    fn imap_confirms_or_skips_a_refusal_that_says_nothing() {
        for status in ["NO", "BAD"] {
            let bare = answer("m2", status, "Login failed");
            assert_eq!(judged(&bare, false, true), (Outcome::Pass, true));
            assert_eq!(judged(&bare, false, false), (Outcome::Skip, false));
            assert_eq!(judged(&bare, true, false), (Outcome::Pass, false));
        }
    }

    #[test]
    fn imap_odd_answers_are_errors() {
        for odd in [
            answer("+", "+", "go on"),
            answer("*", "BYE", "bye"),
            answer("*", "NO", "untagged"),
            answer("m2", "PREAUTH", "what"),
        ] {
            assert_eq!(
                judged(&odd, false, true),
                (Outcome::Error, false),
                "{odd:?}"
            );
        }
    }

    #[test]
    fn a_close_passes_only_after_the_credentials_went_out() {
        let closed = || SessionError::Closed {
            waiting_for: "an IMAP response".into(),
        };
        assert_eq!(session_verdict(closed(), true).outcome, Outcome::Pass);
        assert_eq!(session_verdict(closed(), false).outcome, Outcome::Error);
    }

    #[test]
    fn login_delay_and_in_use_mean_the_password_was_accepted() {
        assert_eq!(
            accepted_but_refused("[LOGIN-DELAY] Logins must be at least 1 minute apart"),
            Some("[LOGIN-DELAY]")
        );
        assert_eq!(
            accepted_but_refused("[in-use] Mailbox locked"),
            Some("[IN-USE]")
        );
    }

    #[test]
    fn rejects_other_refusals_as_accepted() {
        for text in [
            "[AUTH] Plaintext authentication disallowed",
            "[SYS/TEMP] try later",
            "invalid login [LOGIN-DELAY]",
            "",
        ] {
            assert_eq!(accepted_but_refused(text), None, "{text}");
        }
    }
}
