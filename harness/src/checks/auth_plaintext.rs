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
use crate::session::{SessionError, Transcript, Want};
use crate::target::Protocol;
use base64::Engine;

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
            let (verdict, confirm) = match ctx.endpoint.protocol() {
                Protocol::Smtp => (smtp(&mut dialog, ctx, user, password).await, false),
                Protocol::Imap => (imap(&mut dialog, user, password).await, false),
                Protocol::Pop3 => match pop3(&mut dialog, user, password, real).await {
                    Ok((verdict, confirm)) => (Ok(verdict), confirm),
                    Err(e) => (Err(e), false),
                },
            };
            let verdict = verdict.unwrap_or_else(session_verdict);
            let mut transcript = dialog.into_transcript();
            if confirm {
                let (confirmed, confirmation) =
                    pop3_login_inside_tls(ctx, transcript.sibling()).await;
                transcript.append(&confirmation);
                return (confirmed.unwrap_or(verdict), transcript);
            }
            (verdict, transcript)
        })
    }
}

/// A server that hangs up on a login attempt before TLS has refused it; the
/// harness's own trouble stays `error`.
fn session_verdict(e: SessionError) -> Verdict {
    match e {
        SessionError::Closed { .. } => Verdict::new(
            Outcome::Pass,
            "the server closed the connection on a login attempt before TLS",
        ),
        other => trouble(other, "the answer to a login attempt"),
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

async fn smtp(
    dialog: &mut Dialog,
    ctx: &CheckContext,
    user: &str,
    password: &str,
) -> Result<Verdict, SessionError> {
    let ehlo = dialog
        .ask(&format!("EHLO {}", ctx.client_name), &Want::SmtpReply)
        .await?;
    if ehlo.status != "250" {
        return Ok(Verdict::new(
            Outcome::Error,
            format!("EHLO was refused: `{}`", ehlo.summary()),
        ));
    }
    let plain = dialog
        .ask(
            &format!("AUTH PLAIN {}", b64(&format!("\0{user}\0{password}"))),
            &Want::SmtpReply,
        )
        .await?;
    let plain_code = plain.status.clone();
    if let Some(verdict) = smtp_judge("AUTH PLAIN", &plain_code, &plain.summary()) {
        if plain_code == "334" {
            dialog.send("*").await?;
        }
        return Ok(verdict);
    }
    let mut login = dialog.ask("AUTH LOGIN", &Want::SmtpReply).await?;
    if login.status == "334" {
        login = dialog.ask(&b64(user), &Want::SmtpReply).await?;
        if login.status == "334" {
            login = dialog.ask(&b64(password), &Want::SmtpReply).await?;
        }
    }
    if let Some(verdict) = smtp_judge("AUTH LOGIN", &login.status, &login.summary()) {
        return Ok(verdict);
    }
    dialog.send("QUIT").await?;
    Ok(Verdict::new(
        Outcome::Pass,
        format!(
            "AUTH PLAIN and AUTH LOGIN were refused before TLS ({plain_code}, {})",
            login.status
        ),
    ))
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
        _ => fail(format!("unexpected answer to {what} before TLS: `{summary}`")),
    }
}

async fn imap(dialog: &mut Dialog, user: &str, password: &str) -> Result<Verdict, SessionError> {
    let caps = dialog.ask("m1 CAPABILITY", &Want::ImapCompletion).await?;
    let logindisabled = caps
        .capabilities
        .as_ref()
        .is_some_and(|c| c.has("LOGINDISABLED", None));
    let login = dialog
        .ask(
            &format!("m2 LOGIN {} {}", quoted(user), quoted(password)),
            &Want::ImapCompletion,
        )
        .await?;
    let privacy = login
        .text
        .to_ascii_uppercase()
        .starts_with("[PRIVACYREQUIRED");
    let _ = dialog.send("m3 LOGOUT").await;
    let summary = login.summary();
    Ok(match login.status.as_str() {
        "OK" if logindisabled => Verdict::new(
            Outcome::Fail,
            format!("LOGIN succeeded before TLS although the server advertises LOGINDISABLED: `{summary}`"),
        ),
        "OK" => Verdict::new(Outcome::Fail, format!("LOGIN succeeded before TLS: `{summary}`")),
        "NO" | "BAD" if privacy || logindisabled => Verdict::new(
            Outcome::Pass,
            format!(
                "LOGIN was refused before TLS ({}): `{summary}`",
                if privacy { "[PRIVACYREQUIRED]" } else { "LOGINDISABLED advertised" }
            ),
        ),
        "NO" | "BAD" => Verdict::new(
            Outcome::Fail,
            format!(
                "LOGIN before TLS was refused without LOGINDISABLED or [PRIVACYREQUIRED], so the credentials were judged in cleartext: `{summary}`"
            ),
        ),
        _ => Verdict::new(Outcome::Fail, format!("unexpected answer to LOGIN before TLS: `{summary}`")),
    })
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

/// An IMAP quoted string (RFC 9051 §4.3).
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

async fn pop3(
    dialog: &mut Dialog,
    user: &str,
    password: &str,
    real: bool,
) -> Result<(Verdict, bool), SessionError> {
    let single = Want::Pop3 { multi_line: false };
    let user_answer = dialog.ask(&format!("USER {user}"), &single).await?;
    if user_answer.status == "-ERR" {
        let _ = dialog.send("QUIT").await;
        let verdict = Verdict::new(
            Outcome::Pass,
            format!("USER was refused before TLS: `{}`", user_answer.summary()),
        );
        return Ok((verdict, false));
    }
    let pass = dialog.ask(&format!("PASS {password}"), &single).await?;
    let _ = dialog.send("QUIT").await;
    let summary = pass.summary();
    let says_tls = [
        "TLS",
        "SSL",
        "SECURE",
        "ENCRYPT",
        "STLS",
        "PLAINTEXT",
        "CLEARTEXT",
    ]
    .iter()
    .any(|word| pass.text.to_ascii_uppercase().contains(word));
    let accepted_code = accepted_but_refused(&pass.text);
    // A bare -ERR to the real credentials passes only once they are shown to work
    // inside TLS: a wrong --password or a failing backend refuses them too.
    let confirm = pass.status == "-ERR" && real && !says_tls && accepted_code.is_none();
    let verdict = match (pass.status.as_str(), real, says_tls) {
        ("+OK", ..) => Verdict::new(Outcome::Fail, format!("USER/PASS succeeded before TLS: `{summary}`")),
        ("-ERR", ..) if accepted_code.is_some() => Verdict::new(
            Outcome::Fail,
            format!(
                "the server accepted the password before TLS and refused the login only for {}: `{summary}`",
                accepted_code.unwrap_or_default()
            ),
        ),
        ("-ERR", true, _) => Verdict::new(
            Outcome::Pass,
            format!("USER/PASS with the configured credentials was refused before TLS: `{summary}`"),
        ),
        ("-ERR", false, true) => Verdict::new(
            Outcome::Pass,
            format!("PASS was refused before TLS for lack of TLS: `{summary}`"),
        ),
        ("-ERR", false, false) => Verdict::new(
            Outcome::Skip,
            format!(
                "PASS with throwaway credentials was refused without saying why (`{summary}`); give --user/--password to judge"
            ),
        ),
        _ => Verdict::new(Outcome::Fail, format!("unexpected answer to PASS before TLS: `{summary}`")),
    };
    Ok((verdict, confirm))
}

/// Logs in with the configured credentials inside TLS (STLS first on a STARTTLS
/// port). `None` when they work, so the refusal before TLS stands; otherwise the
/// `error` that replaces the pass: the refusal cannot be told from bad credentials.
async fn pop3_login_inside_tls(
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
    let single = Want::Pop3 { multi_line: false };
    let login = async {
        if ctx.endpoint.scheme.tls_mode() != crate::target::TlsMode::Implicit {
            let go = dialog.ask("STLS", &single).await?;
            if go.status != "+OK" {
                return Ok(Some(Verdict::new(
                    Outcome::Error,
                    format!(
                        "could not confirm the credentials inside TLS: STLS was refused (`{}`)",
                        go.summary()
                    ),
                )));
            }
            dialog.start_tls().await?;
        }
        let user = dialog
            .ask(&format!("USER {}", credentials.user), &single)
            .await?;
        let pass = if user.status == "+OK" {
            dialog
                .ask(&format!("PASS {}", credentials.password), &single)
                .await?
        } else {
            user
        };
        let _ = dialog.send("QUIT").await;
        Ok(match pass.status.as_str() {
            "+OK" => None,
            _ => Some(Verdict::new(
                Outcome::Error,
                format!(
                    "the configured credentials were refused inside TLS too (`{}`), so their refusal before TLS says nothing about TLS; check --user/--password",
                    pass.summary()
                ),
            )),
        })
    };
    let verdict = login
        .await
        .unwrap_or_else(|e: SessionError| Some(trouble(e, "a login inside TLS")));
    (verdict, dialog.into_transcript())
}

#[cfg(test)]
mod tests {
    use super::accepted_but_refused;

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
