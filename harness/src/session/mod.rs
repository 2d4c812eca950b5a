//! Sessions with a mail server: the connection (plain, STARTTLS-upgraded or implicit
//! TLS), protocol answers read off it, and the transcript of every byte.

pub mod answer;
pub mod conn;
pub mod governor;
pub mod preamble;
pub mod redact;
pub mod transcript;

pub use answer::{busy_sign, peek_answer, read_answer, Answer, Want};
pub use conn::{Connection, PlainStream, SessionError, SessionOptions, StartTls, TlsInfo, Waited};
pub use governor::{Dial, Governor, Permit};
pub use preamble::{open_to_tls_start, PreambleError};
pub use redact::Secrets;
pub use transcript::Transcript;
