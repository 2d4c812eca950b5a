//! The man in the middle: a proxy between a real mail client and a real server
//! that applies one attack to the cleartext part of the session and records
//! whether the client then sent credentials, a mailbox command or mail in
//! cleartext. It listens on loopback unless told otherwise.
//!
//! `attack` holds what each attack does to the lines that pass; `relay` moves the
//! bytes (with deadlines and caps); this module is the public API.

mod attack;
mod relay;

pub use attack::Attack;

use crate::session::Transcript;
use crate::target::Endpoint;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How the proxy is set up.
#[derive(Debug, Clone)]
pub struct MitmConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The real server (`smtp://`, `submission://`, `imap://`, `pop3://`: STARTTLS schemes).
    pub upstream: Endpoint,
    /// What to do to the session.
    pub attack: Attack,
    /// Allow a non-loopback listening address.
    pub allow_remote: bool,
    /// How long either side may stay silent before the proxy gives up on a session.
    pub idle: Duration,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum MitmError {
    /// A non-loopback address without `allow_remote`.
    #[error("refusing to listen on {0}: the proxy attacks the sessions it carries; pass --allow-remote to insist")]
    NotLoopback(SocketAddr),
    /// An implicit-TLS upstream: there is no cleartext part to attack.
    #[error("upstream {0} uses implicit TLS: there is no STARTTLS to attack (use smtp://, submission://, imap:// or pop3://)")]
    ImplicitTls(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// What happened on one proxied connection.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The client's commands that went out in cleartext and expose credentials, a
    /// mailbox or mail (secrets redacted), e.g. `AUTH PLAIN <redacted>`.
    pub exposed: Vec<String>,
    /// What the attack did (`STARTTLS removed from the capabilities`, ...).
    pub actions: Vec<String>,
    /// Whether the session went on into TLS through the proxy.
    pub went_tls: bool,
    /// Every cleartext byte both ways, secrets redacted, and the proxy's notes.
    pub transcript: Transcript,
    /// Why the session could not be carried, if it could not.
    pub error: Option<String>,
}

impl SessionRecord {
    /// One line for a person.
    pub fn summary(&self) -> String {
        let mut line = if self.exposed.is_empty() {
            "the client sent no credentials, mailbox command or mail in cleartext".to_string()
        } else {
            format!("the client sent in cleartext: {}", self.exposed.join("; "))
        };
        if !self.actions.is_empty() {
            line = format!("{} ({})", line, self.actions.join(", "));
        }
        if let Some(error) = &self.error {
            line = format!("{line}; {error}");
        }
        line
    }
}

/// A started proxy; dropping it stops it.
pub struct RunningProxy {
    addr: SocketAddr,
    records: Arc<Mutex<Vec<SessionRecord>>>,
    notify: Arc<tokio::sync::Notify>,
    task: JoinHandle<()>,
}

impl RunningProxy {
    /// Binds the listener and starts accepting.
    pub async fn start(config: MitmConfig) -> Result<RunningProxy, MitmError> {
        if !config.listen.ip().is_loopback() && !config.allow_remote {
            return Err(MitmError::NotLoopback(config.listen));
        }
        if config.upstream.scheme.tls_mode() == crate::target::TlsMode::Implicit {
            return Err(MitmError::ImplicitTls(config.upstream.url()));
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| MitmError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| MitmError::Bind {
            addr: config.listen,
            source,
        })?;
        let records = Arc::new(Mutex::new(Vec::new()));
        let notify = Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::new(config),
            records.clone(),
            notify.clone(),
        ));
        Ok(RunningProxy {
            addr,
            records,
            notify,
            task,
        })
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The records of every finished session so far.
    pub fn records(&self) -> Vec<SessionRecord> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Waits until at least `n` sessions have finished, or `deadline` passes.
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<SessionRecord> {
        let _ = tokio::time::timeout(deadline, async {
            loop {
                let notified = self.notify.notified();
                if self.records().len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await;
        self.records()
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<MitmConfig>,
    records: Arc<Mutex<Vec<SessionRecord>>>,
    notify: Arc<tokio::sync::Notify>,
) {
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let (config, records, notify) = (config.clone(), records.clone(), notify.clone());
                    sessions.spawn(async move {
                        let record = relay::carry(client, &config).await;
                        records.lock().unwrap_or_else(|p| p.into_inner()).push(record);
                        notify.notify_waiters();
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}
