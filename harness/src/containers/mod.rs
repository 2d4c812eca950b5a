//! Real mail servers in containers: the recipes under `containers/NAME/`, the
//! offline image builder (`mailtls containers build`: mmdebstrap, then
//! `docker import`), and what a built image says about itself (its labels).

pub mod build;
pub mod docker;
pub mod reaper;
pub mod recipe;

pub use build::{build, BuildError, BuildOutcome};
pub use docker::{image_info, ImageInfo};
pub use recipe::{Recipe, RecipeError, Service};

/// The repository (name) of the image built from `containers/NAME`.
pub fn image_name(name: &str) -> String {
    format!("mailtls/{name}")
}

/// The tag every image is built and started with.
pub const IMAGE_TAG: &str = "latest";
