//! TLS: the rustls client configuration sessions use, and the hand-built probes of
//! the TLS layer — ClientHello encoder, ServerHello/alert parser, cipher classes,
//! one probe per connection, the shared per-endpoint scan — and certificate analysis.
pub mod certs;
pub mod ciphers;
pub mod client;
pub mod hello;
pub mod probe;
pub mod response;
pub mod scan;

pub use scan::TlsOptions;
