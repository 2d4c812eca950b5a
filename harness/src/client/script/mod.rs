//! Client scripts: the scenario language with the roles mirrored. The harness
//! plays the server (`S:` is what it sends) and judges what the client sends
//! (`C:`); see `parse.rs` for the grammar and `scenarios/client/` for scripts.

pub mod ast;
pub mod parse;

pub use ast::{CertKind, ClientAction, ClientScenario, ClientStep, CommandPattern};
pub use parse::parse_client;
