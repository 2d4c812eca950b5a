//! Client mode: the harness plays a malicious or broken server and judges a real
//! mail client (curl, msmtp, fetchmail, s-nail, Python's smtplib/imaplib/poplib)
//! by what it sends: credentials, a mailbox command or a message in cleartext, or
//! a command sent on the strength of an injected reply, is a `fail`; a client that
//! never connects or goes quiet where it must speak is an `error`.
//!
//! `script` is the client-script language, `play` runs one on an accepted
//! connection, `responder` holds the stock replies, `certs` the test CA and the
//! broken certificates, `profile` the bundled clients, `process` spawning and
//! killing them, and `run` ties it together for `mailtls client-test`.

pub mod certs;
pub mod matrix;
pub mod play;
pub mod process;
pub mod profile;
pub mod responder;
pub mod run;
pub mod script;

pub use profile::Profile;
pub use run::{ClientTestError, ClientTestOptions};
pub use script::{parse_client, ClientScenario};

use crate::scenario::ScenarioError;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/client_scenarios.rs"));
}

/// The built-in client scenarios: every script under `scenarios/client/`.
pub fn builtin_scenarios() -> Result<Vec<ClientScenario>, ScenarioError> {
    builtin::CLIENT
        .iter()
        .map(|(path, text)| parse_client(path, text))
        .collect()
}
