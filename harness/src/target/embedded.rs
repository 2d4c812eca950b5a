//! The `embedded` target: the reference server started in this process on
//! ephemeral loopback ports, judged on its STARTTLS endpoints (MX, submission,
//! IMAP, POP3) with its test user and its test mailbox as recipient.

use std::fmt;

use super::{Credentials, Endpoint, Scheme};
use crate::server::{Behaviours, Flaws, RunningServer, ServerConfig, ServerError};

/// How the reference server is to be started: `embedded[:flaws=a,b][:behaviours=x,y]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EmbeddedSpec {
    /// The flaws switched on; none for the correct server.
    pub flaws: Flaws,
    /// The defensive behaviours switched on; none for the plain server.
    pub behaviours: Behaviours,
}

impl From<Flaws> for EmbeddedSpec {
    fn from(flaws: Flaws) -> Self {
        EmbeddedSpec {
            flaws,
            behaviours: Behaviours::default(),
        }
    }
}

/// The target text, which [`super::TargetSpec::parse`] reads back: only the
/// non-empty parts, flaws first.
impl fmt::Display for EmbeddedSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("embedded")?;
        if !self.flaws.is_empty() {
            write!(f, ":flaws={}", self.flaws)?;
        }
        if !self.behaviours.is_empty() {
            write!(f, ":behaviours={}", self.behaviours)?;
        }
        Ok(())
    }
}

/// A running reference server and the endpoints a run judges.
pub struct EmbeddedTarget {
    server: RunningServer,
    /// smtp://, submission://, imap:// and pop3:// on loopback.
    pub endpoints: Vec<Endpoint>,
    /// A recipient the server accepts (its test user).
    pub rcpt: String,
}

impl EmbeddedTarget {
    /// Starts the reference server with the flaws and behaviours of `spec`
    /// switched on.
    pub async fn start(spec: EmbeddedSpec) -> Result<EmbeddedTarget, ServerError> {
        let config = ServerConfig {
            flaws: spec.flaws,
            behaviours: spec.behaviours,
            ..ServerConfig::default()
        };
        let credentials = Credentials {
            user: config.user.clone(),
            password: config.password.clone(),
        };
        let rcpt = format!("{}@{}", config.user, config.hostname);
        let server = RunningServer::start(config).await?;
        let endpoints = [Scheme::Smtp, Scheme::Submission, Scheme::Imap, Scheme::Pop3]
            .into_iter()
            .filter_map(|scheme| {
                let addr = server.endpoint(scheme.name())?;
                Some(Endpoint {
                    scheme,
                    host: addr.ip().to_string(),
                    port: addr.port(),
                    credentials: Some(credentials.clone()),
                })
            })
            .collect();
        Ok(EmbeddedTarget {
            server,
            endpoints,
            rcpt,
        })
    }

    /// The DER certificate of the server's test CA, to trust for its endpoints.
    pub fn trust_anchor(&self) -> Vec<u8> {
        self.server.trust_anchor_der().to_vec()
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
