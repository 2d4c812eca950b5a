//! mailtls: a conformance and fuzz test harness for the TLS side of mail — SMTP,
//! submission, IMAP and POP3. See README.md for usage and DESIGN.md for the layout.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checks;
pub mod cli;
pub mod client;
pub mod containers;
pub mod events;
pub mod fuzz;
pub mod mitm;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod session;
pub mod suite;
pub mod target;
pub mod tls;
pub mod wire;

pub use suite::{Suite, SuiteError, SuiteReport};
