//! What a campaign fuzzes: the embedded reference server (which the campaign owns
//! and restarts after a crash, as a supervisor restarts a process), a real server
//! in a container (started like `mailtls run` starts it, watched by a
//! [`ContainerMonitor`], and started anew — on new ports — when it stops or stops
//! greeting) or a server at a URL (which must come back by itself). Only loopback
//! addresses are accepted.

use super::container_monitor::ContainerMonitor;
use super::governors::Governors;
use super::oracle::{probe, Liveness, Monitor, MonitorEvent};
use crate::containers::docker::{self, DockerError};
use crate::server::ServerError;
use crate::session::SessionOptions;
use crate::target::container::{ContainerError, ContainerSpec, ContainerTarget};
use crate::target::embedded::{EmbeddedSpec, EmbeddedTarget};
use crate::target::{Endpoint, Scheme, TargetSpec};
use std::net::IpAddr;
use std::time::Duration;

/// The profile a container is fuzzed under when the target names none: the one
/// that accepts the most commands in the most states (AUTH and LOGIN before
/// STARTTLS on every port, every TLS version), so the most parser code is reached.
pub const FUZZ_PROFILE: &str = "weak";

/// How long a running container may take to greet again after a crash before it
/// is replaced: a new container is up in a few seconds, while Postfix's master
/// throttles a service whose child crashed for a whole minute.
const CONTAINER_PATIENCE: Duration = Duration::from_secs(5);

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
    #[error("`{0}`: the fuzzer takes one endpoint URL or `embedded[:flaws=...][:behaviours=...]`")]
    Unsupported(String),
    /// The embedded server did not start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The target did not come back after a crash.
    #[error("the target at {0} did not come back within {1:?} after a crash")]
    Gone(String, Duration),
    /// The container could not be started (or started again); boxed, as it
    /// carries the container's log.
    #[error(transparent)]
    Container(Box<ContainerError>),
    /// The fuzzing adjustments (see [`super::tuning`]) could not be applied.
    #[error("container:{0}: adjusting the server for fuzzing failed: {1}")]
    Tuning(String, String),
    /// The Docker engine could not be asked.
    #[error(transparent)]
    Docker(#[from] DockerError),
}

impl From<ContainerError> for FuzzTargetError {
    fn from(e: ContainerError) -> Self {
        FuzzTargetError::Container(Box::new(e))
    }
}

/// A target under fuzzing.
pub enum FuzzTarget {
    /// The reference server, restarted after each crash (on new ports).
    Embedded {
        /// Its flaws and behaviours.
        spec: EmbeddedSpec,
        /// The running server.
        server: Option<EmbeddedTarget>,
        /// How many times it was restarted.
        restarts: u64,
    },
    /// A real server in a container, started anew after it stops.
    Container {
        /// The image and profile.
        spec: ContainerSpec,
        /// The running container and its monitor.
        running: Option<Box<Running>>,
        /// Events of containers already replaced, not yet collected.
        carried: Vec<MonitorEvent>,
        /// How many times it was started anew.
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
            TargetSpec::Embedded(spec) => Ok(FuzzTarget::Embedded {
                spec: *spec,
                server: Some(EmbeddedTarget::start(*spec).await?),
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
            TargetSpec::Container(spec) => {
                let mut spec = spec.clone();
                let profile_given = original
                    .strip_prefix("container:")
                    .is_some_and(|rest| rest.contains(':'));
                if !profile_given {
                    let engine = docker::engine().await?;
                    let image = docker::image_info(&engine, &spec.name).await?;
                    if image.profiles.iter().any(|p| p == FUZZ_PROFILE) {
                        spec.profile = FUZZ_PROFILE.into();
                    }
                }
                let running = start_container(&spec).await?;
                Ok(FuzzTarget::Container {
                    spec,
                    running: Some(Box::new(running)),
                    carried: Vec::new(),
                    restarts: 0,
                })
            }
            TargetSpec::Host(_) => Err(FuzzTargetError::Unsupported(original.into())),
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
            FuzzTarget::Container { running, .. } => running
                .as_ref()
                .map(|r| r.0.endpoints.clone())
                .unwrap_or_default(),
            FuzzTarget::External { endpoint } => vec![endpoint.clone()],
        }
    }

    /// Whether a [`Monitor`] watches the target (crashes in its log, its exit).
    pub fn monitored(&self) -> bool {
        matches!(self, FuzzTarget::Container { .. })
    }

    /// What the monitor saw since the last call (see [`Monitor::events`]); always
    /// empty for targets without one.
    pub fn events(&mut self) -> Vec<MonitorEvent> {
        match self {
            FuzzTarget::Container {
                running, carried, ..
            } => {
                let mut events = std::mem::take(carried);
                if let Some(running) = running {
                    events.extend(running.1.events());
                }
                events
            }
            _ => Vec::new(),
        }
    }

    /// The running container's engine id, if the target is a container.
    pub fn container_id(&self) -> Option<String> {
        match self {
            FuzzTarget::Container {
                running: Some(running),
                ..
            } => Some(running.0.id().to_string()),
            _ => None,
        }
    }

    /// The current endpoint for `scheme`.
    pub fn endpoint(&self, scheme: Scheme) -> Option<Endpoint> {
        self.endpoints().into_iter().find(|e| e.scheme == scheme)
    }

    /// How the target is written in finding files: `embedded[:flaws=...][:behaviours=...]`
    /// or the URL without credentials.
    pub fn describe(&self) -> String {
        match self {
            FuzzTarget::Embedded { spec, .. } => spec.to_string(),
            FuzzTarget::Container { spec, .. } => {
                format!("container:{}:{}", spec.name, spec.profile)
            }
            FuzzTarget::External { endpoint } => endpoint.url(),
        }
    }

    /// How many times the target was restarted after a crash.
    pub fn restarts(&self) -> u64 {
        match self {
            FuzzTarget::Embedded { restarts, .. } | FuzzTarget::Container { restarts, .. } => {
                *restarts
            }
            FuzzTarget::External { .. } => 0,
        }
    }

    /// Brings the target back after a crash: a fresh embedded server; for a
    /// container, waiting up to `patience` for every endpoint to greet again (its
    /// master restarts a crashed child, perhaps after a throttling pause) and
    /// otherwise — or at once when it stopped — a new container on new ports; for
    /// a URL, waiting up to `patience` for it to greet again (its supervisor
    /// restarts it). Returns false only for a container that was greeting on
    /// every endpoint and so was neither restarted nor replaced. The greetings
    /// are awaited through `governors`, the campaign's connection budgets.
    pub async fn restart(
        &mut self,
        governors: &Governors,
        options: &SessionOptions,
        patience: Duration,
    ) -> Result<bool, FuzzTargetError> {
        match self {
            FuzzTarget::Embedded {
                spec,
                server,
                restarts,
            } => {
                if let Some(old) = server.take() {
                    old.shutdown().await;
                }
                *server = Some(EmbeddedTarget::start(*spec).await?);
                *restarts += 1;
                Ok(true)
            }
            FuzzTarget::Container {
                spec,
                running,
                carried,
                restarts,
            } => {
                if let Some(pair) = running.as_mut() {
                    let (container, monitor) = &mut **pair;
                    carried.extend(monitor.events());
                    let stopped = carried.iter().any(|e| e.exited);
                    let patience = patience.min(CONTAINER_PATIENCE);
                    if !stopped && greets(&container.endpoints, governors, options, patience).await
                    {
                        return Ok(false);
                    }
                }
                if let Some(pair) = running.take() {
                    let (container, monitor) = *pair;
                    carried.extend(monitor.close().await);
                    container.shutdown().await;
                }
                *running = Some(Box::new(start_container(spec).await?));
                *restarts += 1;
                Ok(true)
            }
            FuzzTarget::External { endpoint } => {
                let until = tokio::time::Instant::now() + patience;
                let governor = governors.governor(endpoint);
                while tokio::time::Instant::now() < until {
                    if probe(endpoint, &governor, options).await == Liveness::Alive {
                        return Ok(true);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(FuzzTargetError::Gone(endpoint.url(), patience))
            }
        }
    }

    /// Stops what the campaign started.
    pub async fn shutdown(self) {
        match self {
            FuzzTarget::Embedded {
                server: Some(server),
                ..
            } => server.shutdown().await,
            FuzzTarget::Container {
                running: Some(pair),
                ..
            } => {
                let (container, monitor) = *pair;
                // The monitor first, so that stopping the server is not reported.
                drop(monitor);
                container.shutdown().await;
            }
            _ => {}
        }
    }
}

/// A running container and its monitor.
pub type Running = (ContainerTarget, ContainerMonitor);

/// Starts `spec`'s container and its monitor.
async fn start_container(spec: &ContainerSpec) -> Result<Running, FuzzTargetError> {
    let container = ContainerTarget::start(spec).await?;
    if let Some(script) = super::tuning::script(&spec.name) {
        let tuned = match container.shell(script).await {
            Ok(()) => container.ready().await.map_err(FuzzTargetError::from),
            Err(why) => Err(FuzzTargetError::Tuning(spec.name.clone(), why)),
        };
        if let Err(e) = tuned {
            container.shutdown().await;
            return Err(e);
        }
    }
    let engine = match docker::engine().await {
        Ok(engine) => engine,
        Err(e) => {
            container.shutdown().await;
            return Err(e.into());
        }
    };
    let monitor = ContainerMonitor::start(engine, container.id());
    Ok((container, monitor))
}

/// Whether every endpoint greets within `patience`.
async fn greets(
    endpoints: &[Endpoint],
    governors: &Governors,
    options: &SessionOptions,
    patience: Duration,
) -> bool {
    let until = tokio::time::Instant::now() + patience;
    for endpoint in endpoints {
        let governor = governors.governor(endpoint);
        loop {
            if probe(endpoint, &governor, options).await == Liveness::Alive {
                break;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    true
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
