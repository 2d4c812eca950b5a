//! A small line-by-line conversation for native checks: send a command, read the
//! protocol's answer, map session trouble to the right verdict.

use super::{CheckContext, Verdict};
use crate::report::model::Outcome;
use crate::session::{
    busy_sign, read_answer, Answer, Connection, SessionError, Transcript, Waited, Want,
};
use crate::target::Protocol;
use std::time::Duration;

/// One connection of a native check.
pub(crate) struct Dialog {
    conn: Connection,
    protocol: Protocol,
}

impl Dialog {
    /// Connects (TLS at once on implicit-TLS endpoints) and reads the greeting,
    /// which must be positive.
    pub(crate) async fn open(
        ctx: &CheckContext,
        transcript: Transcript,
    ) -> Result<Dialog, (Verdict, Transcript)> {
        let conn = ctx
            .connect(transcript)
            .await
            .map_err(|(e, t)| (Verdict::trouble(&e, e.to_string()), t))?;
        let mut dialog = Dialog {
            conn,
            protocol: ctx.endpoint.protocol(),
        };
        match dialog.read(&Want::greeting(dialog.protocol)).await {
            Ok(greeting) if matches!(greeting.status.as_str(), "220" | "OK" | "+OK") => Ok(dialog),
            Ok(greeting) => Err((
                Verdict::new(
                    Outcome::Error,
                    format!("the server did not greet: `{}`", greeting.summary()),
                ),
                dialog.into_transcript(),
            )),
            Err(e) => Err((trouble(e, "the greeting"), dialog.into_transcript())),
        }
    }

    /// Sends `line` and CRLF in one segment.
    pub(crate) async fn send(&mut self, line: &str) -> Result<(), SessionError> {
        self.conn
            .send_segment(format!("{line}\r\n").as_bytes())
            .await
    }

    /// Sends exact bytes in one segment.
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        self.conn.send_segment(bytes).await
    }

    /// Reads one answer; one that says the server is busy (SMTP 421) is the
    /// harness's trouble, never something to judge.
    pub(crate) async fn read(&mut self, want: &Want) -> Result<Answer, SessionError> {
        let answer = read_answer(&mut self.conn, self.protocol, want).await?;
        match busy_sign(self.protocol, &answer, false) {
            Some(busy) => Err(SessionError::Busy(busy)),
            None => Ok(answer),
        }
    }

    /// Waits up to `wait` for the server to send anything, without consuming it:
    /// a later [`Dialog::read`] decodes it.
    pub(crate) async fn wait_readable(&mut self, wait: Duration) -> Result<Waited, SessionError> {
        self.conn.wait_readable(wait).await
    }

    /// Sends `line` and reads its answer.
    pub(crate) async fn ask(&mut self, line: &str, want: &Want) -> Result<Answer, SessionError> {
        self.send(line).await?;
        self.read(want).await
    }

    /// Upgrades with STARTTLS after the go-ahead has been read; plaintext that
    /// arrived behind the go-ahead is an error of the server's making.
    pub(crate) async fn start_tls(&mut self) -> Result<(), SessionError> {
        let upgrade = self.conn.start_tls().await;
        if !upgrade.early_plaintext.is_empty() {
            return Err(SessionError::Handshake(format!(
                "the server sent {} byte(s) of plaintext after its go-ahead",
                upgrade.early_plaintext.len()
            )));
        }
        upgrade.handshake
    }

    /// A note in the transcript.
    pub(crate) fn note(&mut self, text: impl Into<String>) {
        self.conn.transcript_mut().note(text);
    }

    /// Ends the conversation.
    pub(crate) fn into_transcript(self) -> Transcript {
        self.conn.into_transcript()
    }
}

/// A session error as a verdict: what kept the harness from judging is `error`;
/// a server that closes or garbles its answer is judged by the caller, so here it
/// is `error` too unless the caller decides otherwise.
pub(crate) fn trouble(e: SessionError, waiting_for: &str) -> Verdict {
    Verdict::trouble(&e, format!("{e} (while waiting for {waiting_for})"))
}
