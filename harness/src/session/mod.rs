//! Sessions with a mail server: the connection (plain, STARTTLS-upgraded or implicit
//! TLS), protocol answers read off it, and the transcript of every byte.

pub mod answer;
pub mod conn;
pub mod transcript;

pub use answer::{read_answer, Answer, Want};
pub use conn::{Connection, SessionError, SessionOptions, StartTls, TlsInfo, Waited};
pub use transcript::Transcript;
