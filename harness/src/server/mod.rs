//! The `mailtls` reference server: SMTP, IMAP and POP3, each with STARTTLS
//! and with implicit TLS, correct by default and deliberately flawed on
//! request so that every harness check can be shown to both pass and fail.
//! Defensive behaviours (throttling, refusals, delays, greylisting) can be
//! switched on as well, alone or with any flaws.
//!
//! This module holds the public API and the listeners; the protocols live in
//! `smtp`, `imap` and `pop3`, all running over `conn::Conn`.

mod behaviours;
pub(crate) mod cert;
pub(crate) mod conn;
mod flaws;
mod identity;
mod imap;
mod pop3;
mod sasl;
mod smtp;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

pub use behaviours::{Behaviour, Behaviours, UnknownBehaviour};
pub use flaws::{Flaw, Flaws, UnknownFlaw};

use behaviours::{Admission, Gate, Greylist};
use conn::Conn;

/// How long any read (or write, or handshake) in a session may take before
/// the server gives up on the client.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How the server is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The flaws to switch on; empty for the correct server.
    pub flaws: Flaws,
    /// The defensive behaviours to switch on; empty for the plain server.
    pub behaviours: Behaviours,
    /// The address all six listeners bind to.
    pub bind: IpAddr,
    /// The name in greetings and in the certificate.
    pub hostname: String,
    /// The only account that can authenticate (also an accepted SMTP recipient).
    pub user: String,
    /// That account's password.
    pub password: String,
    /// The port of each listener.
    pub ports: Ports,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            flaws: Flaws::default(),
            behaviours: Behaviours::default(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            hostname: "mail.mailtls.test".to_owned(),
            user: "mailtls".to_owned(),
            password: "mailtls-secret".to_owned(),
            ports: Ports::default(),
        }
    }
}

/// The port of each listener; 0 lets the OS pick a free one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ports {
    /// SMTP with STARTTLS, as on an MX (port 25): TLS is opportunistic.
    pub smtp: u16,
    /// SMTP submission with STARTTLS (port 587): TLS before any business.
    pub submission: u16,
    /// SMTP over implicit TLS.
    pub smtps: u16,
    /// IMAP with STARTTLS.
    pub imap: u16,
    /// IMAP over implicit TLS.
    pub imaps: u16,
    /// POP3 with STLS.
    pub pop3: u16,
    /// POP3 over implicit TLS.
    pub pop3s: u16,
}

/// Where one listener ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// One of `smtp`, `submission`, `smtps`, `imap`, `imaps`, `pop3`, `pop3s`.
    pub scheme: &'static str,
    /// The bound address, with the real port when 0 was asked for.
    pub addr: SocketAddr,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.addr)
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TLS configuration was rejected.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    /// The certificate could not be made (for example, a hostname that is
    /// not a valid DNS name).
    #[error("certificate generation failed: {0}")]
    Cert(#[from] rcgen::Error),
}

/// A rustls server configuration with a fresh self-signed certificate for
/// `hostname`, `localhost` and 127.0.0.1: what the reference server serves, for
/// anything else that must play a TLS server (tests, a proxy).
pub fn self_signed_tls_config(
    hostname: &str,
) -> Result<std::sync::Arc<rustls::ServerConfig>, ServerError> {
    let identity = cert::generate(hostname)?;
    Ok(cert::server_config(&identity)?)
}

/// The protocol a listener speaks.
#[derive(Clone, Copy, Debug)]
enum Protocol {
    Smtp,
    Submission,
    Imap,
    Pop3,
}

/// One of the seven listeners.
#[derive(Clone, Copy, Debug)]
struct Listener {
    scheme: &'static str,
    protocol: Protocol,
    implicit_tls: bool,
    port: fn(&Ports) -> u16,
}

const LISTENERS: [Listener; 7] = [
    Listener {
        scheme: "smtp",
        protocol: Protocol::Smtp,
        implicit_tls: false,
        port: |p| p.smtp,
    },
    Listener {
        scheme: "submission",
        protocol: Protocol::Submission,
        implicit_tls: false,
        port: |p| p.submission,
    },
    Listener {
        scheme: "smtps",
        protocol: Protocol::Submission,
        implicit_tls: true,
        port: |p| p.smtps,
    },
    Listener {
        scheme: "imap",
        protocol: Protocol::Imap,
        implicit_tls: false,
        port: |p| p.imap,
    },
    Listener {
        scheme: "imaps",
        protocol: Protocol::Imap,
        implicit_tls: true,
        port: |p| p.imaps,
    },
    Listener {
        scheme: "pop3",
        protocol: Protocol::Pop3,
        implicit_tls: false,
        port: |p| p.pop3,
    },
    Listener {
        scheme: "pop3s",
        protocol: Protocol::Pop3,
        implicit_tls: true,
        port: |p| p.pop3s,
    },
];

/// What every session of one server shares.
pub(crate) struct Shared {
    pub(crate) flaws: Flaws,
    pub(crate) behaviours: Behaviours,
    pub(crate) hostname: String,
    pub(crate) user: String,
    pub(crate) password: String,
    acceptor: TlsAcceptor,
    idle: Duration,
    /// The body of the last message accepted over SMTP, dot-unstuffed; the
    /// server delivers nowhere, but tests need to see what it received.
    pub(crate) last_message: Mutex<Option<Vec<u8>>>,
    /// When each SMTP (client, sender, recipient) triplet was first seen, for
    /// the `greylist` behaviour.
    pub(crate) greylist: Mutex<Greylist>,
    /// The listeners' stop signal, for a planted flaw that takes the whole server down.
    stop: watch::Sender<bool>,
}

impl Shared {
    /// Brings the whole server down as a crashed process would go: every listener
    /// closes (new connections are refused) and every session is dropped.
    pub(crate) fn crash(&self) {
        let _ = self.stop.send(true);
    }

    fn conn(&self, io: Box<dyn conn::Io>, tls: bool) -> Conn {
        let mut conn = Conn::new(io, tls, self.acceptor.clone(), self.idle);
        if let Some(tarpit) = self.behaviours.tarpit() {
            conn.set_tarpit(tarpit);
        }
        conn
    }
}

/// A started server; dropping it aborts everything it runs.
pub struct RunningServer {
    endpoints: Vec<Endpoint>,
    certificate: Vec<u8>,
    trust_anchor: Vec<u8>,
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    /// Kept so tests can look at what sessions recorded.
    #[cfg(test)]
    shared: Arc<Shared>,
}

impl RunningServer {
    /// Makes the certificate, binds all seven listeners and spawns their accept
    /// loops on the current tokio runtime.
    pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
        Self::start_with_idle(config, IDLE_TIMEOUT).await
    }

    /// [`RunningServer::start`] with a different idle deadline, so tests need
    /// not wait a minute.
    pub(crate) async fn start_with_idle(
        config: ServerConfig,
        idle: Duration,
    ) -> Result<RunningServer, ServerError> {
        let (identity, trust_anchor) = identity::issue(&config.hostname, config.flaws)?;
        let tls = identity::server_config(&identity, config.flaws)?;
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            flaws: config.flaws,
            behaviours: config.behaviours,
            hostname: config.hostname,
            user: config.user,
            password: config.password,
            acceptor: TlsAcceptor::from(tls),
            idle,
            last_message: Mutex::new(None),
            greylist: Mutex::new(Greylist::default()),
            stop: stop.clone(),
        });

        // Bind everything before spawning anything, so a failed bind leaves
        // nothing running behind the error.
        let mut bound = Vec::with_capacity(LISTENERS.len());
        let mut endpoints = Vec::with_capacity(LISTENERS.len());
        for spec in LISTENERS {
            let addr = SocketAddr::new(config.bind, (spec.port)(&config.ports));
            let bind_error = |source| ServerError::Bind { addr, source };
            let backlog = config.behaviours.listen_backlog();
            let listener = listen(addr, backlog).map_err(bind_error)?;
            let local = listener.local_addr().map_err(bind_error)?;
            endpoints.push(Endpoint {
                scheme: spec.scheme,
                addr: local,
            });
            bound.push((listener, spec));
        }

        let tasks = bound
            .into_iter()
            .map(|(listener, spec)| {
                tokio::spawn(accept_loop(
                    listener,
                    spec,
                    shared.clone(),
                    stop.subscribe(),
                ))
            })
            .collect();
        Ok(RunningServer {
            endpoints,
            certificate: identity.cert.to_vec(),
            trust_anchor,
            tasks,
            stop,
            #[cfg(test)]
            shared,
        })
    }

    /// All seven listeners, in the order smtp, submission, smtps, imap, imaps,
    /// pop3, pop3s.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The address of the listener for `scheme`, if there is one.
    pub fn endpoint(&self, scheme: &str) -> Option<SocketAddr> {
        self.endpoints
            .iter()
            .find(|e| e.scheme == scheme)
            .map(|e| e.addr)
    }

    /// The DER leaf certificate every TLS session presents.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    /// The DER certificate of the test CA that issues this start's leaf (made fresh
    /// per start): what a client trusts to verify the server.
    pub fn trust_anchor_der(&self) -> &[u8] {
        &self.trust_anchor
    }

    /// The body of the last message accepted over SMTP.
    #[cfg(test)]
    pub(crate) fn last_message(&self) -> Option<Vec<u8>> {
        self.shared
            .last_message
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Stops accepting and ends every open session, returning once all of
    /// them are gone.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // Aborting an accept loop drops its JoinSet, which aborts its sessions.
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Binds a listener with the given backlog; otherwise as tokio's
/// `TcpListener::bind`, which offers no choice of backlog.
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As tokio does: a restarted server can take its ports back while the
    // previous run's connections linger in TIME_WAIT.
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Accepts connections on one listener until told to stop, then ends the
/// sessions it started.
async fn accept_loop(
    listener: TcpListener,
    spec: Listener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut sessions = JoinSet::new();
    let mut gate = Gate::new(shared.behaviours);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let admission = gate.admit(peer.ip());
                    sessions.spawn(session(tcp, spec, shared.clone(), admission));
                    if let Some(pause) = shared.behaviours.accept_pause() {
                        tokio::select! {
                            _ = stop.changed() => break,
                            _ = tokio::time::sleep(pause) => {}
                        }
                    }
                }
                // Usually fd exhaustion: back off instead of spinning, the
                // listener itself is still fine.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    sessions.shutdown().await;
}

/// Runs one client from accept to close; a refused one hears why (inside TLS
/// on an implicit-TLS listener) and is closed at once.
async fn session(tcp: TcpStream, spec: Listener, shared: Arc<Shared>, admission: Admission) {
    // Held to the end of the session, however it ends, then released.
    let Admission {
        arrival,
        refusal,
        slot: _slot,
    } = admission;
    // Replies are small and interactive; Nagle would only add latency.
    let _ = tcp.set_nodelay(true);
    let mut conn = if spec.implicit_tls {
        match timeout(shared.idle, shared.acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => shared.conn(Box::new(tls), true),
            _ => return,
        }
    } else {
        shared.conn(Box::new(tcp), false)
    };
    if let Some(refusal) = refusal {
        let _ = conn
            .send_line(&refusal.line(spec.protocol, &shared.hostname))
            .await;
        conn.close().await;
        return;
    }
    match spec.protocol {
        Protocol::Smtp => smtp::run(conn, shared, smtp::Port::Mx, arrival).await,
        Protocol::Submission => smtp::run(conn, shared, smtp::Port::Submission, arrival).await,
        Protocol::Imap => imap::run(conn, shared).await,
        Protocol::Pop3 => pop3::run(conn, shared).await,
    }
}
