//! `mailtls containers build [NAME...]`, `list` and `clean`: the offline image
//! builder, what is built, and removing containers a killed run left behind.

use super::exit::{self, CliError};
use crate::containers::recipe::{available, default_root, Recipe};
use crate::containers::{build, docker, BuildOutcome};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Instant;

/// `mailtls containers`.
#[derive(Debug, Args)]
pub struct ContainersArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ContainersCommand,
    /// The recipes folder [default: $MAILTLS_CONTAINERS, ./containers, or the one in the source tree].
    #[arg(long, value_name = "DIR", global = true)]
    pub recipes: Option<PathBuf>,
}

/// The `containers` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContainersCommand {
    /// Build images offline (mmdebstrap + docker import); skips those whose recipe is unchanged.
    Build {
        /// Recipes to build [default: all].
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// List the recipes, their profiles and services, and whether each image is built and current.
    List,
    /// Remove every container mailtls started (label org.mailtls.target), e.g. after a killed run.
    Clean,
}

/// Runs `mailtls containers ...`.
pub async fn containers(args: ContainersArgs) -> Result<u8, CliError> {
    let root = args.recipes.unwrap_or_else(default_root);
    let recipe_error = |e: crate::containers::RecipeError| CliError::Usage(e.to_string());
    let names = match &args.command {
        ContainersCommand::Clean => Vec::new(),
        ContainersCommand::Build { names } if !names.is_empty() => names.clone(),
        _ => available(&root).map_err(recipe_error)?,
    };
    let recipes = names
        .iter()
        .map(|name| Recipe::load(&root, name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(recipe_error)?;
    let docker_error = |e| CliError::Containers(Box::new(e));
    let docker = docker::engine().await.map_err(docker_error)?;
    match args.command {
        ContainersCommand::Clean => {
            let removed = crate::containers::reaper::remove_all_labelled(&docker)
                .await
                .map_err(docker_error)?;
            println!("removed {} container(s)", removed.len());
        }
        ContainersCommand::Build { .. } => {
            let total = recipes.len();
            for (index, recipe) in recipes.iter().enumerate() {
                let started = Instant::now();
                let prefix = format!("[{}/{total}] {}", index + 1, recipe.name);
                let progress = |line: &str| {
                    println!("{prefix} {:>5.1}s  {line}", started.elapsed().as_secs_f64())
                };
                match build(&docker, recipe, &progress).await {
                    Ok(BuildOutcome::UpToDate) => {
                        println!("{prefix}: up to date (recipe unchanged), skipped")
                    }
                    Ok(BuildOutcome::Built { took }) => println!(
                        "{prefix}: built {}:{} in {:.0} s",
                        crate::containers::image_name(&recipe.name),
                        crate::containers::IMAGE_TAG,
                        took.as_secs_f64()
                    ),
                    Err(e) => {
                        return Err(CliError::Build {
                            name: recipe.name.clone(),
                            source: Box::new(e),
                        })
                    }
                }
            }
        }
        ContainersCommand::List => {
            println!("{:<10} {:<24} {:<40} image", "name", "profiles", "services");
            for recipe in &recipes {
                let hash = recipe.hash().map_err(recipe_error)?;
                let state = match docker::image_labels(&docker, &recipe.name)
                    .await
                    .map_err(docker_error)?
                {
                    None => "not built".to_string(),
                    Some((labels, created, size)) => {
                        let current = labels.get(docker::labels::RECIPE) == Some(&hash);
                        format!(
                            "{} ({} MB, {created})",
                            if current {
                                "built"
                            } else {
                                "stale: recipe changed"
                            },
                            size / 1_000_000,
                            created = created.split('.').next().unwrap_or(&created)
                        )
                    }
                };
                let services: Vec<String> = recipe.services.iter().map(|s| s.to_string()).collect();
                println!(
                    "{:<10} {:<24} {:<40} {state}",
                    recipe.name,
                    recipe.profiles.join(","),
                    services.join(" ")
                );
            }
        }
    }
    Ok(exit::OK)
}
