//! The offline image builder: mmdebstrap makes a root filesystem with the
//! recipe's Debian packages and files and runs its setup inside it; `docker
//! import` turns the tarball into `mailtls/NAME:latest`, labelled with the recipe
//! hash so an unchanged recipe is never rebuilt. Nothing is installed behind the
//! user's back: a missing tool is an error that names the package.

use super::docker::{image_labels, labels, DockerError};
use super::recipe::{Recipe, RecipeError, BASE_PACKAGES};
use super::{image_name, IMAGE_TAG};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use testcontainers::bollard::Docker;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The most output lines of a failed step shown in its error.
const OUTPUT_TAIL: usize = 40;

/// What `build` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildOutcome {
    /// The image exists with the recipe's hash: nothing to do.
    UpToDate,
    /// The image was built.
    Built {
        /// Wall time of mmdebstrap and import.
        took: Duration,
    },
}

/// Why an image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The recipe is unreadable or malformed.
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// The engine could not be asked.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// A tool the build needs is not installed.
    #[error("`{tool}` is not installed; install it with `{install}` and run the build again")]
    Missing {
        /// The program.
        tool: &'static str,
        /// The command that installs it.
        install: &'static str,
    },
    /// A step failed; its last lines of output follow.
    #[error("{step} failed ({status}):\n{output}")]
    Step {
        /// `mmdebstrap` or `docker import`.
        step: &'static str,
        /// The exit status.
        status: String,
        /// The last lines of its output.
        output: String,
    },
    /// A step could not be run at all.
    #[error("cannot run {step}: {source}")]
    Spawn {
        /// The program.
        step: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Whether `program` is on PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// The tools a build needs, each with the command that installs it.
pub fn check_tools() -> Result<(), BuildError> {
    for (tool, install) in [
        ("mmdebstrap", "apt-get install mmdebstrap"),
        ("docker", "apt-get install docker.io"),
    ] {
        if !on_path(tool) {
            return Err(BuildError::Missing { tool, install });
        }
    }
    Ok(())
}

/// Builds `mailtls/NAME:latest` from `recipe` unless an image with the same
/// recipe hash exists; `progress` gets one line per step.
pub async fn build(
    docker: &Docker,
    recipe: &Recipe,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<BuildOutcome, BuildError> {
    let hash = recipe.hash()?;
    if let Some((labels, ..)) = image_labels(docker, &recipe.name).await? {
        if labels.get(labels::RECIPE) == Some(&hash) {
            return Ok(BuildOutcome::UpToDate);
        }
    }
    check_tools()?;
    let started = Instant::now();
    let tarball = std::env::temp_dir().join(format!(
        "mailtls-{}-{}.tar",
        recipe.name,
        std::process::id()
    ));
    let result = async {
        progress(&format!(
            "mmdebstrap {} with {}",
            recipe.suite,
            recipe.packages.join(" ")
        ));
        run_step("mmdebstrap", mmdebstrap(recipe, &tarball), progress).await?;
        progress(&format!(
            "docker import as {}:{IMAGE_TAG}",
            image_name(&recipe.name)
        ));
        run_step("docker import", import(recipe, &hash, &tarball), progress).await
    }
    .await;
    let _ = std::fs::remove_file(&tarball);
    result.map(|()| BuildOutcome::Built {
        took: started.elapsed(),
    })
}

/// mmdebstrap: the packages, the overlay folders, then `mailtls-setup` in a chroot.
fn mmdebstrap(recipe: &Recipe, tarball: &Path) -> Command {
    let mut command = Command::new("mmdebstrap");
    let packages: Vec<&str> = BASE_PACKAGES
        .iter()
        .copied()
        .chain(recipe.packages.iter().map(String::as_str))
        .collect();
    command
        .arg("--variant=essential")
        .arg(format!("--include={}", packages.join(",")))
        .arg("--dpkgopt=path-exclude=/usr/share/doc/*")
        .arg("--dpkgopt=path-exclude=/usr/share/man/*")
        .arg("--dpkgopt=path-exclude=/usr/share/locale/*");
    let debconf = recipe.dir().join("debconf");
    if debconf.is_file() {
        command.arg(format!(
            "--essential-hook=chroot \"$1\" debconf-set-selections < {}",
            shell_quote(&debconf)
        ));
    }
    for overlay in recipe.overlays() {
        command.arg(format!(
            "--customize-hook=sync-in {} /",
            shell_quote(&overlay)
        ));
    }
    command.arg(format!(
        "--customize-hook=chroot \"$1\" env MAILTLS_HOSTNAME={} MAILTLS_USER={} MAILTLS_PASSWORD={} /bin/sh /usr/local/sbin/mailtls-setup",
        recipe.hostname, recipe.user, recipe.password
    ));
    command.arg(&recipe.suite).arg(tarball);
    command
}

/// `docker import` with the start command, the default profile, the ports and
/// the labels the container target reads.
fn import(recipe: &Recipe, hash: &str, tarball: &Path) -> Command {
    let mut command = Command::new("docker");
    command.arg("import");
    let services: Vec<String> = recipe.services.iter().map(|s| s.to_string()).collect();
    let mut changes = vec![
        r#"CMD ["/usr/local/sbin/mailtls-start"]"#.to_string(),
        "ENV MAILTLS_PROFILE=hardened".into(),
    ];
    changes.extend(
        recipe
            .services
            .iter()
            .map(|s| format!("EXPOSE {}/tcp", s.port)),
    );
    for (label, value) in [
        (labels::RECIPE, hash.to_string()),
        (labels::SERVICES, services.join(" ")),
        (labels::PROFILES, recipe.profiles.join(" ")),
        (labels::HOSTNAME, recipe.hostname.clone()),
        (labels::USER, recipe.user.clone()),
        (labels::PASSWORD, recipe.password.clone()),
    ] {
        changes.push(format!("LABEL {label}=\"{value}\""));
    }
    for change in changes {
        command.arg("--change").arg(change);
    }
    command
        .arg(tarball)
        .arg(format!("{}:{IMAGE_TAG}", image_name(&recipe.name)));
    command
}

/// Runs one step, passing mmdebstrap's `I:` phase lines on as progress and
/// keeping the last lines of output for the error.
async fn run_step(
    step: &'static str,
    mut command: Command,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), BuildError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| BuildError::Spawn { step, source })?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut tail = std::collections::VecDeque::new();
    while let Some(line) = rx.recv().await {
        if let Some(phase) = line.strip_prefix("I: ") {
            progress(phase);
        }
        if tail.len() == OUTPUT_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = child
        .wait()
        .await
        .map_err(|source| BuildError::Spawn { step, source })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Step {
            step,
            status: status.to_string(),
            output: Vec::from(tail).join("\n"),
        })
    }
}

/// Single-quotes a path for the shell mmdebstrap runs hooks in.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
