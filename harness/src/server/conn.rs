//! One client connection: a byte stream that is plain TCP or TLS (possibly
//! TLS inside TLS), a bounded CRLF line reader over it with an idle deadline
//! on every read, the in-place STARTTLS upgrade and the `tarpit` behaviour's
//! wait before each answer.
//!
//! The read buffer lives here rather than in a `BufReader` because what
//! happens to it at the upgrade is exactly what the `starttls-injection` flaw
//! is about.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use super::behaviours::Tarpit;

/// Longest command line accepted, without its CRLF.
pub(crate) const MAX_LINE: usize = 4096;

/// How much is asked of the socket per read.
const READ_CHUNK: usize = 4096;

/// How long a closing session waits for its TLS close_notify to be written;
/// short because the peer may already be gone.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Any stream a session can run over; boxed so a TLS stream can itself be
/// wrapped in TLS again (the `stale-capabilities` flaw tries exactly that).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What a read produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// A complete line (CRLF removed) or the bytes asked for.
    Data(Vec<u8>),
    /// The line exceeded [`MAX_LINE`]; the session should say so and close.
    TooLong,
    /// Nothing arrived within the idle deadline.
    TimedOut,
    /// The peer closed the connection or the transport failed.
    Closed,
}

/// A client connection with its read buffer.
pub(crate) struct Conn {
    /// `None` only after a failed upgrade or after [`Conn::close`].
    io: Option<Box<dyn Io>>,
    tls: bool,
    buf: Vec<u8>,
    acceptor: TlsAcceptor,
    idle: Duration,
    /// The `tarpit` delays, if that behaviour is on.
    tarpit: Option<Tarpit>,
    /// How long the next write waits: set for the first write and after each
    /// input, so an answer written in several pieces is delayed once.
    delay: Option<Duration>,
}

impl Conn {
    /// Wraps an accepted stream; `tls` says whether it is already encrypted.
    pub(crate) fn new(io: Box<dyn Io>, tls: bool, acceptor: TlsAcceptor, idle: Duration) -> Self {
        Conn {
            io: Some(io),
            tls,
            buf: Vec::with_capacity(READ_CHUNK),
            acceptor,
            idle,
            tarpit: None,
            delay: None,
        }
    }

    /// Delays the first write by `tarpit.greeting` and the first write after
    /// each input by `tarpit.reply`.
    pub(crate) fn set_tarpit(&mut self, tarpit: Tarpit) {
        self.tarpit = Some(tarpit);
        self.delay = Some(tarpit.greeting);
    }

    /// Notes that input was consumed, so what is written next is an answer.
    fn answer_due(&mut self) {
        if let Some(tarpit) = self.tarpit {
            self.delay = Some(tarpit.reply);
        }
    }

    /// Whether the session is protected by TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.tls
    }

    /// Reads one CRLF-terminated line. A bare LF does not end a line, so that
    /// DATA can only be ended by `CRLF.CRLF` and never by a smuggled `LF.LF`.
    pub(crate) async fn read_line(&mut self) -> Input {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                if pos > MAX_LINE {
                    self.buf.clear();
                    return Input::TooLong;
                }
                let mut line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                line.truncate(pos);
                self.answer_due();
                return Input::Data(line);
            }
            // One extra byte of slack: the CR of a maximal line may have
            // arrived without its LF.
            if self.buf.len() > MAX_LINE + 1 {
                self.buf.clear();
                return Input::TooLong;
            }
            if let Some(end) = self.fill().await {
                return end;
            }
        }
    }

    /// [`Conn::read_line`] with another deadline for each read of this line (the
    /// client tests' `C: silence` and their own idle limit).
    pub(crate) async fn read_line_within(&mut self, deadline: Duration) -> Input {
        let idle = std::mem::replace(&mut self.idle, deadline);
        let input = self.read_line().await;
        self.idle = idle;
        input
    }

    /// Bytes received and not yet read as a line.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Throws away every byte received and not yet read (the
    /// `drop-read-ahead` behaviour).
    pub(crate) fn drop_read_ahead(&mut self) {
        self.buf.clear();
    }

    /// Reads exactly `n` bytes (an IMAP literal); callers bound `n`.
    pub(crate) async fn read_exact(&mut self, n: usize) -> Input {
        while self.buf.len() < n {
            if let Some(end) = self.fill().await {
                return end;
            }
        }
        self.answer_due();
        Input::Data(self.buf.drain(..n).collect())
    }

    /// Reads more bytes into the buffer; `Some` means the session is over.
    async fn fill(&mut self) -> Option<Input> {
        let Some(io) = self.io.as_mut() else {
            return Some(Input::Closed);
        };
        self.buf.reserve(READ_CHUNK);
        match timeout(self.idle, io.read_buf(&mut self.buf)).await {
            Err(_) => Some(Input::TimedOut),
            Ok(Ok(0)) | Ok(Err(_)) => Some(Input::Closed),
            Ok(Ok(_)) => None,
        }
    }

    /// Writes and flushes `data`, giving up after the idle deadline so a
    /// client that never reads cannot pin the session forever.
    pub(crate) async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(delay) = self.delay.take() {
            tokio::time::sleep(delay).await;
        }
        let io = self
            .io
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let write = async {
            io.write_all(data).await?;
            io.flush().await
        };
        match timeout(self.idle, write).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::from(io::ErrorKind::TimedOut)),
        }
    }

    /// Sends `line` followed by CRLF.
    pub(crate) async fn send_line(&mut self, line: &str) -> io::Result<()> {
        let mut data = Vec::with_capacity(line.len() + 2);
        data.extend_from_slice(line.as_bytes());
        data.extend_from_slice(b"\r\n");
        self.send(&data).await
    }

    /// Puts `line` and a CRLF back in front of whatever is buffered, to be read
    /// next (the smuggling flaw re-reads the rest of a line as a command).
    pub(crate) fn unread_line(&mut self, line: &[u8]) {
        let mut front = Vec::with_capacity(line.len() + 2 + self.buf.len());
        front.extend_from_slice(line);
        front.extend_from_slice(b"\r\n");
        front.append(&mut self.buf);
        self.buf = front;
    }

    /// Runs the server side of a TLS handshake over the current stream.
    ///
    /// Unless `keep_buffered`, whatever was already read past the STARTTLS
    /// line is thrown away: it arrived in plaintext and must not be executed
    /// as if it had been protected (CVE-2011-0411). On error the connection
    /// is unusable and the session must end.
    pub(crate) async fn start_tls(
        &mut self,
        keep_buffered: bool,
        keep_late: bool,
    ) -> io::Result<()> {
        if !keep_buffered {
            self.buf.clear();
        }
        let mut io = self
            .io
            .take()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        if keep_late {
            let (late, rest) = read_until_client_hello(&mut io, self.idle).await?;
            self.buf.extend_from_slice(&late);
            io = Box::new(Rewind {
                prefix: rest,
                inner: io,
            });
        }
        let tls = timeout(self.idle, self.acceptor.accept(io))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        self.io = Some(Box::new(tls));
        self.tls = true;
        Ok(())
    }

    /// Shuts the stream down, sending TLS close_notify where applicable.
    pub(crate) async fn close(&mut self) {
        if let Some(mut io) = self.io.take() {
            let _ = timeout(CLOSE_GRACE, io.shutdown()).await;
        }
    }
}

/// Whether a session goes on after a command.
pub(crate) enum Flow {
    /// Read the next command.
    Continue,
    /// End the session.
    Close,
}

/// The `late-injection` flaw's read before the handshake: text (printable ASCII,
/// CR, LF, TAB) that arrives before the first byte of a TLS or SSL 2.0 hello is
/// plaintext to keep; that first byte and what follows go back to the acceptor.
async fn read_until_client_hello(
    io: &mut Box<dyn Io>,
    idle: Duration,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let is_text = |b: &u8| b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n' | b'\t');
    let mut seen = Vec::new();
    loop {
        if let Some(at) = seen.iter().position(|b| !is_text(b)) {
            let rest = seen.split_off(at);
            return Ok((seen, rest));
        }
        if seen.len() > MAX_LINE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no ClientHello"));
        }
        match timeout(idle, io.read_buf(&mut seen)).await {
            Ok(Ok(0)) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::Error::from(io::ErrorKind::TimedOut)),
        }
    }
}

/// A stream that first yields bytes already read from it.
struct Rewind {
    prefix: Vec<u8>,
    inner: Box<dyn Io>,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.drain(..n);
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
