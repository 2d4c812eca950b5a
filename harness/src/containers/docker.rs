//! The Docker engine, through bollard (re-exported by testcontainers): whether
//! one answers, and what a built image's labels say about it.

use super::recipe::{parse_services, Service};
use super::{image_name, IMAGE_TAG};
use std::collections::HashMap;
use testcontainers::bollard::Docker;

/// Label keys written by the builder.
pub mod labels {
    /// The recipe hash the image was built from.
    pub const RECIPE: &str = "org.mailtls.recipe";
    /// `smtp:25 submission:587 ...`.
    pub const SERVICES: &str = "org.mailtls.services";
    /// `default hardened weak`.
    pub const PROFILES: &str = "org.mailtls.profiles";
    /// The host name in the certificate.
    pub const HOSTNAME: &str = "org.mailtls.hostname";
    /// The test user.
    pub const USER: &str = "org.mailtls.user";
    /// The test user's (known, non-secret) password.
    pub const PASSWORD: &str = "org.mailtls.password";
}

/// Why the engine or an image could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// No engine answers on the configured socket.
    #[error("no Docker engine answers ({0})")]
    NoEngine(String),
    /// The image does not exist.
    #[error("image {image} is not built: run `mailtls containers build {name}`")]
    NotBuilt {
        /// `mailtls/NAME:latest`.
        image: String,
        /// The recipe name.
        name: String,
    },
    /// The image exists but lacks the labels the builder writes.
    #[error("image {image} was not built by mailtls (label {label} missing or malformed); rebuild it with `mailtls containers build {name}`")]
    Labels {
        /// `mailtls/NAME:latest`.
        image: String,
        /// The recipe name.
        name: String,
        /// The label.
        label: &'static str,
    },
    /// Any other engine error.
    #[error("Docker engine: {0}")]
    Engine(#[from] testcontainers::bollard::errors::Error),
}

/// A connection to the local engine, checked with a ping (bounded by 5 s).
pub async fn engine() -> Result<Docker, DockerError> {
    let docker =
        Docker::connect_with_local_defaults().map_err(|e| DockerError::NoEngine(e.to_string()))?;
    match tokio::time::timeout(std::time::Duration::from_secs(5), docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(DockerError::NoEngine(e.to_string())),
        Err(_) => Err(DockerError::NoEngine("no answer to ping within 5 s".into())),
    }
}

/// What a built image says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The recipe name.
    pub name: String,
    /// The recipe hash it was built from.
    pub recipe: String,
    /// Ports it serves.
    pub services: Vec<Service>,
    /// Profiles it can start with.
    pub profiles: Vec<String>,
    /// Its host name.
    pub hostname: String,
    /// Its test user.
    pub user: String,
    /// The test user's password.
    pub password: String,
    /// When it was built (RFC 3339, from the engine).
    pub created: String,
    /// Its size in bytes.
    pub size: i64,
}

/// The labels of `mailtls/NAME:latest`, or `None` when it does not exist.
pub async fn image_labels(
    docker: &Docker,
    name: &str,
) -> Result<Option<(HashMap<String, String>, String, i64)>, DockerError> {
    let image = format!("{}:{IMAGE_TAG}", image_name(name));
    match docker.inspect_image(&image).await {
        Ok(inspect) => Ok(Some((
            inspect.config.and_then(|c| c.labels).unwrap_or_default(),
            inspect.created.map(|c| c.to_string()).unwrap_or_default(),
            inspect.size.unwrap_or(0),
        ))),
        Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Reads a built image's labels into an [`ImageInfo`].
pub async fn image_info(docker: &Docker, name: &str) -> Result<ImageInfo, DockerError> {
    let image = format!("{}:{IMAGE_TAG}", image_name(name));
    let (mut labels, created, size) =
        image_labels(docker, name)
            .await?
            .ok_or_else(|| DockerError::NotBuilt {
                image: image.clone(),
                name: name.into(),
            })?;
    let mut take = |label: &'static str| {
        labels.remove(label).ok_or_else(|| DockerError::Labels {
            image: image.clone(),
            name: name.into(),
            label,
        })
    };
    let recipe = take(labels::RECIPE)?;
    let services = parse_services(&take(labels::SERVICES)?).map_err(|_| DockerError::Labels {
        image: image.clone(),
        name: name.into(),
        label: labels::SERVICES,
    })?;
    Ok(ImageInfo {
        name: name.into(),
        recipe,
        services,
        profiles: take(labels::PROFILES)?
            .split_whitespace()
            .map(String::from)
            .collect(),
        hostname: take(labels::HOSTNAME)?,
        user: take(labels::USER)?,
        password: take(labels::PASSWORD)?,
        created,
        size,
    })
}
