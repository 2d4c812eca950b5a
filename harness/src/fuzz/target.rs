//! What a campaign fuzzes: the embedded reference server (which the campaign owns
//! and restarts after a crash, as a supervisor restarts a process) or a server at a
//! URL (which must come back by itself). Only loopback addresses are accepted.

use super::oracle::{probe, Liveness};
use crate::server::{Flaws, ServerError};
use crate::session::SessionOptions;
use crate::target::embedded::EmbeddedTarget;
use crate::target::{Endpoint, Scheme, TargetSpec};
use std::net::IpAddr;
use std::time::Duration;

/// Why a target cannot be fuzzed.
#[derive(Debug, thiserror::Error)]
pub enum FuzzTargetError {
    /// Not a loopback address: the fuzzer sends hostile input, so it only goes where
    /// it cannot hurt anyone else.
    #[error(
        "`{0}` is not a loopback address; the fuzzer only targets 127.0.0.0/8, ::1 or localhost"
    )]
    NotLoopback(String),
    /// A target kind the fuzzer cannot drive.
    #[error("`{0}`: the fuzzer takes one endpoint URL or `embedded[:flaws=...]`")]
    Unsupported(String),
    /// The embedded server did not start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The target did not come back after a crash.
    #[error("the target at {0} did not come back within {1:?} after a crash")]
    Gone(String, Duration),
}

/// A target under fuzzing.
pub enum FuzzTarget {
    /// The reference server, restarted after each crash (on new ports).
    Embedded {
        /// Its flaws.
        flaws: Flaws,
        /// The running server.
        server: Option<EmbeddedTarget>,
        /// How many times it was restarted.
        restarts: u64,
    },
    /// A server at a URL.
    External {
        /// The endpoint.
        endpoint: Endpoint,
    },
}

impl FuzzTarget {
    /// Starts (or, for a URL, checks) the target `spec`.
    pub async fn start(spec: &TargetSpec, original: &str) -> Result<FuzzTarget, FuzzTargetError> {
        match spec {
            TargetSpec::Embedded(flaws) => Ok(FuzzTarget::Embedded {
                flaws: *flaws,
                server: Some(EmbeddedTarget::start(*flaws).await?),
                restarts: 0,
            }),
            TargetSpec::Endpoint(endpoint) => {
                if !is_loopback(&endpoint.host) {
                    return Err(FuzzTargetError::NotLoopback(endpoint.host.clone()));
                }
                Ok(FuzzTarget::External {
                    endpoint: endpoint.clone(),
                })
            }
            // Containers need the log/exit monitor first (oracle::Monitor); not yet.
            TargetSpec::Host(_) | TargetSpec::Container(_) => {
                Err(FuzzTargetError::Unsupported(original.into()))
            }
        }
    }

    /// The endpoints to fuzz now (for the embedded server: MX and submission SMTP,
    /// IMAP and POP3, all with STARTTLS, and with the test user's credentials).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        match self {
            FuzzTarget::Embedded { server, .. } => server
                .as_ref()
                .map(|s| s.endpoints.clone())
                .unwrap_or_default(),
            FuzzTarget::External { endpoint } => vec![endpoint.clone()],
        }
    }

    /// The current endpoint for `scheme`.
    pub fn endpoint(&self, scheme: Scheme) -> Option<Endpoint> {
        self.endpoints().into_iter().find(|e| e.scheme == scheme)
    }

    /// How the target is written in finding files: `embedded:flaws=...` or the URL
    /// without credentials.
    pub fn describe(&self) -> String {
        match self {
            FuzzTarget::Embedded { flaws, .. } if flaws.is_empty() => "embedded".into(),
            FuzzTarget::Embedded { flaws, .. } => format!("embedded:flaws={flaws}"),
            FuzzTarget::External { endpoint } => endpoint.url(),
        }
    }

    /// How many times the target was restarted after a crash.
    pub fn restarts(&self) -> u64 {
        match self {
            FuzzTarget::Embedded { restarts, .. } => *restarts,
            FuzzTarget::External { .. } => 0,
        }
    }

    /// Brings the target back after a crash: a fresh embedded server, or waiting up
    /// to `patience` for an external one to greet again (its supervisor restarts it).
    pub async fn restart(
        &mut self,
        options: &SessionOptions,
        patience: Duration,
    ) -> Result<(), FuzzTargetError> {
        match self {
            FuzzTarget::Embedded {
                flaws,
                server,
                restarts,
            } => {
                if let Some(old) = server.take() {
                    old.shutdown().await;
                }
                *server = Some(EmbeddedTarget::start(*flaws).await?);
                *restarts += 1;
                Ok(())
            }
            FuzzTarget::External { endpoint } => {
                let until = tokio::time::Instant::now() + patience;
                while tokio::time::Instant::now() < until {
                    if probe(endpoint, options).await == Liveness::Alive {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(FuzzTargetError::Gone(endpoint.url(), patience))
            }
        }
    }

    /// Stops what the campaign started.
    pub async fn shutdown(self) {
        if let FuzzTarget::Embedded {
            server: Some(server),
            ..
        } = self
        {
            server.shutdown().await;
        }
    }
}

/// Whether `host` is a loopback address or `localhost`.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn only_loopback() {
        assert!(is_loopback("127.0.0.1") && is_loopback("127.9.9.9") && is_loopback("[::1]"));
        assert!(is_loopback("localhost"));
        assert!(
            !is_loopback("10.0.0.1") && !is_loopback("mail.example.org") && !is_loopback("::2")
        );
    }
}
