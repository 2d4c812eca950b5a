//! TLS: the client configuration sessions use (raw probes and certificate analysis come later).
pub mod client;
