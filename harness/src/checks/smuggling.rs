//! `smtp.data.smuggling`: SMTP smuggling (CVE-2023-51764, -51765, -51766). For
//! each non-standard end-of-data sequence, one message whose body holds that
//! sequence followed by a whole second transaction, then the real `\r\n.\r\n` and
//! QUIT, all in one segment. A server that only ends DATA at `\r\n.\r\n` answers
//! twice (the message, QUIT); one that honours the sequence answers the smuggled
//! MAIL, RCPT and DATA too. Counting replies needs no waiting and no guessing.

use super::dialog::{trouble, Dialog};
use super::native::{BoxFuture, NativeCheck};
use super::{CheckContext, Verdict};
use crate::report::model::{Outcome, Severity};
use crate::scenario::{Meta, Needs};
use crate::session::{Answer, SessionError, Transcript, Want};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The sequences a lenient parser may take for the end of data.
pub const SEQUENCES: [&[u8]; 11] = [
    b"\n.\n",
    b"\r.\r",
    b"\r.\n",
    b"\n.\r",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\r\n.\r\r\n",
];

/// More replies than a vulnerable server can give to one probe; stop reading there.
const MAX_REPLIES: usize = 8;

/// How many probe connections one check keeps open at once.
const PARALLEL_PROBES: usize = 4;

/// The smuggling check.
#[derive(Debug)]
pub struct Smuggling {
    meta: Meta,
}

impl Default for Smuggling {
    fn default() -> Self {
        Smuggling {
            meta: Meta {
                id: "smtp.data.smuggling".into(),
                title: "Only CRLF.CRLF ends DATA: no SMTP smuggling".into(),
                protocol: Some(crate::target::Protocol::Smtp),
                severity: Severity::High,
                references: [
                    "RFC 5321 §4.1.1.4",
                    "RFC 5321 §2.3.8",
                    "CVE-2023-51764",
                    "CVE-2023-51765",
                    "CVE-2023-51766",
                ]
                .map(String::from)
                .to_vec(),
                needs: Needs::default(),
                policies: Vec::new(),
                pass_detail: None,
            },
        }
    }
}

/// What one probe found.
enum Probe {
    /// The server answered only at the real end of data.
    Ended,
    /// The server rejected the bare sequence (or closed on it) and ran nothing.
    Rejected(String),
    /// The server took the sequence for the end and ran the smuggled commands.
    Honoured(String),
}

impl NativeCheck for Smuggling {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn run<'a>(
        &'a self,
        ctx: &'a CheckContext,
        transcript: Transcript,
    ) -> BoxFuture<'a, (Verdict, Transcript)> {
        Box::pin(async move {
            let Some(rcpt) = ctx.rcpt.as_deref() else {
                let reason = "needs a recipient the server accepts: give one with --rcpt";
                return (Verdict::new(Outcome::Skip, reason), transcript);
            };
            // Probes run side by side, a few at a time: each is a connection of
            // its own, and TLS handshakes dominate their cost.
            let permits = Arc::new(Semaphore::new(PARALLEL_PROBES));
            let mut probes = JoinSet::new();
            for (index, sequence) in SEQUENCES.into_iter().enumerate() {
                let (ctx, rcpt, permits) = (ctx.clone(), rcpt.to_string(), permits.clone());
                let mut own = transcript.sibling();
                probes.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    own.note(format!(
                        "probe: body with {} then a smuggled transaction",
                        shown(sequence)
                    ));
                    let (result, own) = probe(&ctx, &rcpt, sequence, own).await;
                    (index, result, own)
                });
            }
            let mut done = Vec::with_capacity(SEQUENCES.len());
            while let Some(joined) = probes.join_next().await {
                match joined {
                    Ok(probe) => done.push(probe),
                    Err(e) => {
                        return (
                            Verdict::new(
                                Outcome::Error,
                                format!("internal error: a probe panicked: {e}"),
                            ),
                            transcript,
                        )
                    }
                }
            }
            done.sort_by_key(|(index, ..)| *index);
            let mut transcript = transcript;
            let mut honoured = Vec::new();
            let mut rejected = 0;
            let mut first_error = None;
            for (index, result, own) in done {
                transcript.append(&own);
                let shown = shown(SEQUENCES[index]);
                match result {
                    Ok(Probe::Ended) => {}
                    Ok(Probe::Rejected(answer)) => {
                        rejected += 1;
                        transcript.note(format!("{shown} rejected: {answer}"));
                    }
                    Ok(Probe::Honoured(answers)) => {
                        transcript.note(format!("{shown} HONOURED: {answers}"));
                        honoured.push(shown);
                    }
                    Err(verdict) => {
                        first_error.get_or_insert(verdict);
                    }
                }
            }
            // A sequence that was honoured is a finding whatever else went wrong;
            // otherwise a probe that could not be judged leaves the check unjudged.
            if let (Some(verdict), true) = (first_error, honoured.is_empty()) {
                return (verdict, transcript);
            }
            let total = SEQUENCES.len();
            let verdict = if honoured.is_empty() {
                Verdict::new(
                    Outcome::Pass,
                    format!(
                        "none of the {total} non-standard end-of-data sequences ended a message ({rejected} rejected outright)"
                    ),
                )
            } else {
                Verdict::new(
                    Outcome::Fail,
                    format!(
                        "the server ended DATA at {} of {total} non-standard sequences and ran the smuggled commands: {}",
                        honoured.len(),
                        honoured.join(", ")
                    ),
                )
            };
            (verdict, transcript)
        })
    }
}

/// One connection, one message with one sequence.
async fn probe(
    ctx: &CheckContext,
    rcpt: &str,
    sequence: &[u8],
    transcript: Transcript,
) -> (Result<Probe, Verdict>, Transcript) {
    let mut dialog = match Dialog::open(ctx, transcript).await {
        Ok(dialog) => dialog,
        Err((verdict, transcript)) => return (Err(verdict), transcript),
    };
    let result = match transaction(&mut dialog, ctx, rcpt).await {
        Ok(None) => send_and_count(&mut dialog, rcpt, sequence).await,
        Ok(Some(verdict)) => Err(verdict),
        Err(e) => Err(trouble(e, "the mail transaction")),
    };
    (result, dialog.into_transcript())
}

/// EHLO (inside TLS where the server offers it), AUTH where credentials are given
/// and offered, MAIL, RCPT, DATA. `Some` is the verdict when the server would not
/// take a message at all.
async fn transaction(
    dialog: &mut Dialog,
    ctx: &CheckContext,
    rcpt: &str,
) -> Result<Option<Verdict>, SessionError> {
    let ehlo_line = format!("EHLO {}", ctx.client_name);
    let mut ehlo = dialog.ask(&ehlo_line, &Want::SmtpReply).await?;
    let offers = |answer: &Answer, keyword: &str, param: Option<&str>| {
        answer
            .capabilities
            .as_ref()
            .is_some_and(|c| c.has(keyword, param))
    };
    if offers(&ehlo, "STARTTLS", None) {
        let go = dialog.ask("STARTTLS", &Want::SmtpReply).await?;
        if go.status == "220" {
            dialog.start_tls().await?;
            ehlo = dialog.ask(&ehlo_line, &Want::SmtpReply).await?;
        }
    }
    if let (Some(creds), true) = (&ctx.credentials, offers(&ehlo, "AUTH", Some("PLAIN"))) {
        use base64::Engine;
        let plain = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{}\0{}", creds.user, creds.password));
        dialog
            .ask(&format!("AUTH PLAIN {plain}"), &Want::SmtpReply)
            .await?;
    }
    for (line, want) in [
        ("MAIL FROM:<>".to_string(), "2"),
        (format!("RCPT TO:<{rcpt}>"), "2"),
        ("DATA".to_string(), "3"),
    ] {
        let answer = dialog.ask(&line, &Want::SmtpReply).await?;
        if !answer.status.starts_with(want) {
            return Ok(Some(Verdict::new(
                Outcome::Skip,
                format!(
                    "the server would not take a probe message (`{line}` answered `{}`)",
                    answer.summary()
                ),
            )));
        }
    }
    Ok(None)
}

/// Sends the body with the sequence, the smuggled transaction, the real end and
/// QUIT in one segment, then counts the replies up to QUIT's.
async fn send_and_count(
    dialog: &mut Dialog,
    rcpt: &str,
    sequence: &[u8],
) -> Result<Probe, Verdict> {
    let mut segment = format!(
        "From: <mailtls-probe@mailtls.invalid>\r\nTo: <{rcpt}>\r\nSubject: mailtls SMTP smuggling probe\r\n\r\nprobe"
    )
    .into_bytes();
    segment.extend_from_slice(sequence);
    segment.extend_from_slice(
        format!("MAIL FROM:<>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n").as_bytes(),
    );
    dialog
        .send_raw(&segment)
        .await
        .map_err(|e| trouble(e, "the server to take the probe"))?;
    let mut codes = Vec::new();
    while codes.len() < MAX_REPLIES {
        match dialog.read(&Want::SmtpReply).await {
            Ok(answer) => {
                let quit = answer.status == "221";
                codes.push(answer.status);
                if quit {
                    break;
                }
            }
            Err(SessionError::Closed { .. }) => break,
            Err(e) => return Err(trouble(e, "the replies to the probe")),
        }
    }
    // The smuggled DATA getting its go-ahead is the proof, whether the server
    // first accepted the message at the bare sequence or rejected it and then
    // read the rest as commands.
    if codes.iter().skip(1).any(|c| c == "354") {
        Ok(Probe::Honoured(codes.join(" ")))
    } else if codes.first().is_some_and(|c| c.starts_with('2')) {
        Ok(Probe::Ended)
    } else if codes.is_empty() {
        Ok(Probe::Rejected("closed the connection".into()))
    } else {
        Ok(Probe::Rejected(codes.join(" ")))
    }
}

/// A sequence as people write it: `\r\n.\n`.
fn shown(sequence: &[u8]) -> String {
    sequence
        .iter()
        .map(|b| match b {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            0 => "\\x00".to_string(),
            b => (*b as char).to_string(),
        })
        .collect()
}
