//! The `container:NAME[:PROFILE]` target: the image built from `containers/NAME`
//! started with testcontainers, its service ports published on loopback only
//! (ephemeral ports), judged once every service has answered with its greeting;
//! its test user's credentials and mailbox come from the image's labels.

use super::{Credentials, Endpoint, TlsMode};
use crate::containers::docker::{self, DockerError, ImageInfo};
use crate::containers::{image_name, IMAGE_TAG};
use crate::session::{read_answer, Dial, Governor, SessionError, SessionOptions, Transcript, Want};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testcontainers::bollard::models::PortBinding;
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// The profile a container starts with when the target names none.
pub const DEFAULT_PROFILE: &str = "hardened";

/// How long every service has, in all, to answer its greeting after the start.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The most log lines attached to a report or an error.
pub const LOG_LINES: usize = 80;

/// `container:NAME[:PROFILE]` as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The recipe name, e.g. `postfix`.
    pub name: String,
    /// The profile, e.g. `hardened`.
    pub profile: String,
}

impl ContainerSpec {
    /// Parses what follows `container:`; `None` when a name or profile is not a
    /// plain lower-case word.
    pub fn parse(rest: &str) -> Option<ContainerSpec> {
        let (name, profile) = rest.split_once(':').unwrap_or((rest, DEFAULT_PROFILE));
        let word = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        (word(name) && word(profile)).then(|| ContainerSpec {
            name: name.into(),
            profile: profile.into(),
        })
    }
}

/// Why a container target could not be set up (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No engine, no image, or an image without our labels.
    #[error("container:{name}: {source}")]
    Docker {
        /// The recipe name.
        name: String,
        /// What the engine said.
        source: DockerError,
    },
    /// The image has no such profile.
    #[error("container:{name}:{profile}: no profile `{profile}` (the image has: {profiles})")]
    UnknownProfile {
        /// The recipe name.
        name: String,
        /// The profile asked for.
        profile: String,
        /// The profiles the image has.
        profiles: String,
    },
    /// The container did not start.
    #[error("container:{name}:{profile}: could not start {image}: {source}")]
    Start {
        /// The recipe name.
        name: String,
        /// The profile.
        profile: String,
        /// The image.
        image: String,
        /// What testcontainers said.
        source: testcontainers::TestcontainersError,
    },
    /// A service did not answer its greeting in time.
    #[error("container:{name}:{profile}: {service} did not greet within {} s (last: {last})\ncontainer log:\n{log}", READY_WITHIN.as_secs())]
    NotReady {
        /// The recipe name.
        name: String,
        /// The profile.
        profile: String,
        /// `smtp:25`.
        service: String,
        /// The last reason it was not ready.
        last: String,
        /// The container's log.
        log: String,
    },
}

/// A running container and the endpoints a run judges.
pub struct ContainerTarget {
    container: ContainerAsync<GenericImage>,
    /// What the image says about itself.
    pub image: ImageInfo,
    /// The profile it was started with.
    pub profile: String,
    /// Every service, on 127.0.0.1 and its published port, with the test user.
    pub endpoints: Vec<Endpoint>,
    /// The test user's address: a recipient the server accepts.
    pub rcpt: String,
}

impl ContainerTarget {
    /// Starts `spec`'s image with its profile and waits until every service greets.
    pub async fn start(spec: &ContainerSpec) -> Result<ContainerTarget, ContainerError> {
        let docker_error = |source| ContainerError::Docker {
            name: spec.name.clone(),
            source,
        };
        let engine = docker::engine().await.map_err(docker_error)?;
        let image = docker::image_info(&engine, &spec.name)
            .await
            .map_err(docker_error)?;
        if !image.profiles.contains(&spec.profile) {
            return Err(ContainerError::UnknownProfile {
                name: spec.name.clone(),
                profile: spec.profile.clone(),
                profiles: image.profiles.join(", "),
            });
        }
        let ports: Vec<u16> = image.services.iter().map(|s| s.port).collect();
        let mut request = GenericImage::new(image_name(&spec.name), IMAGE_TAG.to_string());
        for port in &ports {
            request = request.with_exposed_port(port.tcp());
        }
        let bindings: HashMap<String, Option<Vec<PortBinding>>> = ports
            .iter()
            .map(|port| {
                let loopback = PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                };
                (format!("{port}/tcp"), Some(vec![loopback]))
            })
            .collect();
        let start_error = |source| ContainerError::Start {
            name: spec.name.clone(),
            profile: spec.profile.clone(),
            image: format!("{}:{IMAGE_TAG}", image_name(&spec.name)),
            source,
        };
        crate::containers::reaper::starting();
        let container = request
            .with_env_var("MAILTLS_PROFILE", spec.profile.clone())
            .with_hostname(image.hostname.clone())
            .with_label(
                crate::containers::reaper::TARGET_LABEL,
                format!("{}:{}", spec.name, spec.profile),
            )
            .with_label(
                crate::containers::reaper::PROCESS_LABEL,
                crate::containers::reaper::process_id(),
            )
            .with_startup_timeout(READY_WITHIN)
            .with_host_config_modifier(move |host| {
                host.publish_all_ports = Some(false);
                host.port_bindings = Some(bindings.clone());
            })
            .start()
            .await
            .map_err(start_error)?;
        let credentials = Credentials {
            user: image.user.clone(),
            password: image.password.clone(),
        };
        let mut endpoints = Vec::new();
        for service in &image.services {
            let port = container
                .get_host_port_ipv4(service.port.tcp())
                .await
                .map_err(start_error)?;
            endpoints.push(Endpoint {
                scheme: service.scheme,
                host: "127.0.0.1".into(),
                port,
                credentials: Some(credentials.clone()),
            });
        }
        let target = ContainerTarget {
            rcpt: format!("{}@{}", image.user, image.hostname),
            container,
            image,
            profile: spec.profile.clone(),
            endpoints,
        };
        target.wait_ready(spec).await?;
        Ok(target)
    }

    /// Waits until every endpoint has answered with a greeting.
    async fn wait_ready(&self, spec: &ContainerSpec) -> Result<(), ContainerError> {
        let deadline = Instant::now() + READY_WITHIN;
        for (endpoint, service) in self.endpoints.iter().zip(&self.image.services) {
            // The poll keeps one connection open at a time, and no check runs yet.
            let governor = Governor::new(1);
            loop {
                let last = match greet(&governor, endpoint).await {
                    Ok(()) => break,
                    Err(reason) => reason,
                };
                if Instant::now() >= deadline {
                    let log = self.log().await;
                    let _ = self.container.stop_with_timeout(Some(0)).await;
                    return Err(ContainerError::NotReady {
                        name: spec.name.clone(),
                        profile: spec.profile.clone(),
                        service: service.to_string(),
                        last,
                        log,
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// The test CA the image made for itself at build time (DER), read out of the
    /// container: the anchor `tls.cert.trusted` judges the server's chain against,
    /// as an operator would trust their own CA. `None` when it cannot be read (the
    /// TLS checks then judge against the system roots).
    pub async fn certificate(&self) -> Option<Vec<u8>> {
        use rustls::pki_types::pem::PemObject;
        let command = testcontainers::core::ExecCommand::new(["cat", "/etc/mailtls/tls/ca.pem"]);
        let mut exec = tokio::time::timeout(Duration::from_secs(10), self.container.exec(command))
            .await
            .ok()?
            .ok()?;
        let pem = tokio::time::timeout(Duration::from_secs(10), exec.stdout_to_vec())
            .await
            .ok()?
            .ok()?;
        rustls::pki_types::CertificateDer::from_pem_slice(&pem)
            .ok()
            .map(|cert| cert.to_vec())
    }

    /// Runs `script` with `sh -c` in the container (bounded by 20 s); the error
    /// says why it failed, with what it printed.
    pub async fn shell(&self, script: &str) -> Result<(), String> {
        let command = testcontainers::core::ExecCommand::new(["sh", "-c", script]);
        let within = Duration::from_secs(20);
        let mut exec = tokio::time::timeout(within, self.container.exec(command))
            .await
            .map_err(|_| "no answer within 20 s".to_string())?
            .map_err(|e| e.to_string())?;
        let output = tokio::time::timeout(within, exec.stderr_to_vec())
            .await
            .map_err(|_| "no answer within 20 s".to_string())?
            .map_err(|e| e.to_string())?;
        // The output ends when the command does; the engine may take a moment
        // more to record its status.
        let mut code = exec.exit_code().await;
        for _ in 0..50 {
            if !matches!(code, Ok(None)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            code = exec.exit_code().await;
        }
        match code {
            Ok(Some(0)) => Ok(()),
            Ok(code) => Err(format!(
                "exit status {code:?}: {}",
                String::from_utf8_lossy(&output).trim()
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Waits until every endpoint greets again (after a reload, say).
    pub async fn ready(&self) -> Result<(), ContainerError> {
        let spec = ContainerSpec {
            name: self.image.name.clone(),
            profile: self.profile.clone(),
        };
        self.wait_ready(&spec).await
    }

    /// The engine's id of the running container.
    pub fn id(&self) -> &str {
        self.container.id()
    }

    /// `container:NAME:PROFILE`.
    pub fn label(&self) -> String {
        format!("container:{}:{}", self.image.name, self.profile)
    }

    /// The last [`LOG_LINES`] lines of the container's stdout and stderr
    /// (each read bounded by 10 s).
    pub async fn log(&self) -> String {
        let within = Duration::from_secs(10);
        let read = |out: bool| async move {
            let bytes = if out {
                tokio::time::timeout(within, self.container.stdout_to_vec()).await
            } else {
                tokio::time::timeout(within, self.container.stderr_to_vec()).await
            };
            match bytes {
                Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
                Ok(Err(e)) => format!("(log unavailable: {e})\n"),
                Err(_) => "(log unavailable: no answer within 10 s)\n".into(),
            }
        };
        let all = format!("{}{}", read(true).await, read(false).await);
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(LOG_LINES)..].join("\n")
    }

    /// Stops and removes the container.
    pub async fn shutdown(self) {
        let _ = self.container.rm().await;
    }
}

/// Connects once (with TLS on implicit-TLS ports) and reads the greeting. On an
/// implicit-TLS port a fatal TLS alert in answer to the ClientHello counts as
/// ready too: the server is up and answering, and a handshake it cannot complete
/// is for the checks to judge, not a reason to judge nothing (OpenSMTPD 6.8 with
/// OpenSSL 3 answers every handshake so). A closed or reset connection does not
/// count: that is what a port looks like before the server listens.
///
/// One attempt through `governor` ([`Governor::connect_once`]): the caller polls,
/// and a server still starting must look not ready, not be waited out here.
async fn greet(governor: &Arc<Governor>, endpoint: &Endpoint) -> Result<(), String> {
    let options = SessionOptions {
        timeout: Duration::from_secs(5),
        ..SessionOptions::default()
    };
    let implicit = endpoint.scheme.tls_mode() == TlsMode::Implicit;
    let dial = Dial {
        host: &endpoint.host,
        port: endpoint.port,
        implicit_tls: implicit,
        greeting: None,
    };
    let mut conn = match governor
        .connect_once(&dial, &options, Transcript::new())
        .await
    {
        Ok(conn) => conn,
        Err((SessionError::HandshakeAlert(_), _)) if implicit => return Ok(()),
        Err((e, _)) => return Err(e.to_string()),
    };
    let protocol = endpoint.protocol();
    let answer = read_answer(&mut conn, protocol, &Want::greeting(protocol))
        .await
        .map_err(|e| e.to_string())?;
    match answer.status.as_str() {
        "220" | "OK" | "+OK" | "PREAUTH" => Ok(()),
        _ => Err(format!("greeted with {}", answer.summary())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Scheme;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A loopback implicit-TLS endpoint whose server does `answer` to each
    /// connection's first bytes.
    async fn smtps_endpoint(answer: &'static [u8]) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let mut hello = [0u8; 1024];
                let _ = tcp.read(&mut hello).await;
                let _ = tcp.write_all(answer).await;
            }
        });
        Endpoint {
            scheme: "smtps".parse::<Scheme>().unwrap(),
            host: "127.0.0.1".into(),
            port,
            credentials: None,
        }
    }

    #[tokio::test]
    async fn a_tls_alert_on_an_implicit_tls_port_counts_as_ready() {
        // A fatal internal_error alert, as OpenSMTPD 6.8 sends when it cannot sign.
        let endpoint = smtps_endpoint(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50]).await;
        assert_eq!(greet(&Governor::new(1), &endpoint).await, Ok(()));
    }

    #[tokio::test]
    async fn rejects_a_port_that_closes_without_a_tls_answer() {
        let endpoint = smtps_endpoint(b"").await;
        let not_ready = greet(&Governor::new(1), &endpoint).await.unwrap_err();
        assert!(not_ready.contains("TLS handshake failed"), "{not_ready}");
    }
}
