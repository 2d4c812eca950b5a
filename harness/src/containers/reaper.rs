//! Removing containers that a run will not remove itself: those this process
//! started, when a run is interrupted (Ctrl-C drops the run before its teardown),
//! and every container mailtls ever started (`mailtls containers clean`), for what
//! a killed process left behind.
//!
//! Containers are found by label rather than tracked by id, because Ctrl-C can
//! land between the engine creating a container and testcontainers handing back
//! its id. testcontainers' own `watchdog` feature is not used: on a signal it
//! stops each container gracefully (up to 10 s each), panics when one is already
//! gone, and then kills the process with the default handler, which would cut
//! short the fuzzer's orderly save on Ctrl-C.

use super::docker::DockerError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::bollard::Docker;

/// The label every container mailtls starts carries (`NAME:PROFILE`).
pub const TARGET_LABEL: &str = "org.mailtls.target";

/// The label naming the process that started a container ([`process_id`]).
pub const PROCESS_LABEL: &str = "org.mailtls.process";

/// How long one removal may take before it is given up.
const REMOVE_WITHIN: Duration = Duration::from_secs(20);

static STARTING: AtomicBool = AtomicBool::new(false);

/// This process's value of [`PROCESS_LABEL`]: pid and start time, so that a
/// reused pid does not match an older process's leftovers.
pub fn process_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{}-{nanos}", std::process::id())
    })
}

/// Records that this process is about to start a container.
pub fn starting() {
    STARTING.store(true, Ordering::SeqCst);
}

/// Whether this process ever began starting a container.
pub fn any_started() -> bool {
    STARTING.load(Ordering::SeqCst)
}

/// Force-removes every container this process started; returns how many were found
/// and how many of them are gone.
pub async fn remove_this_process(docker: &Docker) -> Result<(usize, usize), DockerError> {
    let found = labelled(docker, &format!("{PROCESS_LABEL}={}", process_id())).await?;
    let gone = remove_each(docker, &found).await;
    Ok((found.len(), gone.len()))
}

/// Force-removes every container with [`TARGET_LABEL`], whichever process started
/// it; returns the ids removed.
pub async fn remove_all_labelled(docker: &Docker) -> Result<Vec<String>, DockerError> {
    let found = labelled(docker, TARGET_LABEL).await?;
    Ok(remove_each(docker, &found).await)
}

/// The ids of the containers, running or not, matching a label filter (`key` or
/// `key=value`).
pub async fn labelled(docker: &Docker, filter: &str) -> Result<Vec<String>, DockerError> {
    let filters: HashMap<String, Vec<String>> =
        HashMap::from([("label".to_string(), vec![filter.to_string()])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker.list_containers(Some(options)).await?;
    Ok(containers.into_iter().filter_map(|c| c.id).collect())
}

async fn remove_each(docker: &Docker, ids: &[String]) -> Vec<String> {
    let mut gone = Vec::new();
    for id in ids {
        if remove(docker, id).await {
            gone.push(id.clone());
        }
    }
    gone
}

/// Whether the container is gone afterwards: removed now, already gone (404), or
/// already being removed (409; testcontainers' own drop may have got there first).
async fn remove(docker: &Docker, id: &str) -> bool {
    use testcontainers::bollard::errors::Error;
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    match tokio::time::timeout(REMOVE_WITHIN, docker.remove_container(id, Some(options))).await {
        Ok(Ok(())) => true,
        Ok(Err(Error::DockerResponseServerError { status_code, .. })) => {
            matches!(status_code, 404 | 409)
        }
        Ok(Err(_)) | Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_id_is_stable_and_names_this_pid() {
        assert_eq!(process_id(), process_id());
        let pid = std::process::id().to_string();
        assert_eq!(process_id().split('-').next(), Some(pid.as_str()));
    }
}
