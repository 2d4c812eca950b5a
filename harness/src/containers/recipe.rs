//! A recipe: `containers/NAME/image.conf` (packages, services, profiles, test
//! user), the files under `containers/NAME/rootfs/` and `containers/common/rootfs/`
//! copied into the image, and the hash of all of it that says whether an image is
//! still up to date.

use crate::target::Scheme;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// Bumped when the builder itself changes how an image is made, so every image
/// is rebuilt.
const BUILDER_VERSION: &str = "mailtls-builder/1";

/// Packages every image gets besides its own: `useradd`/`chpasswd` and `openssl`
/// for the test user and the certificate.
pub const BASE_PACKAGES: [&str; 2] = ["passwd", "openssl"];

/// One port a server listens on, and what it speaks there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Protocol and TLS mode.
    pub scheme: Scheme,
    /// The port inside the container.
    pub port: u16,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scheme, self.port)
    }
}

/// Parses `smtp:25 submission:587` (image.conf's and the image label's form).
pub fn parse_services(text: &str) -> Result<Vec<Service>, String> {
    text.split_whitespace()
        .map(|item| {
            let (scheme, port) = item
                .split_once(':')
                .ok_or_else(|| format!("`{item}` is not SCHEME:PORT"))?;
            Ok(Service {
                scheme: scheme
                    .parse()
                    .map_err(|()| format!("`{scheme}` is not a mail scheme"))?,
                port: port
                    .parse()
                    .map_err(|e| format!("`{port}` is not a port: {e}"))?,
            })
        })
        .collect()
}

/// Why a recipe could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// No `containers/NAME/image.conf`.
    #[error("no recipe `{name}` in {dir} (there are: {available})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The recipes folder.
        dir: PathBuf,
        /// The recipes that exist.
        available: String,
    },
    /// A file of the recipe could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// image.conf is malformed.
    #[error("{path}:{line}: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// One server's recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// The folder name, e.g. `postfix`.
    pub name: String,
    /// `containers/`.
    pub root: PathBuf,
    /// The Debian suite, e.g. `bookworm`.
    pub suite: String,
    /// The server's Debian packages.
    pub packages: Vec<String>,
    /// The ports it serves.
    pub services: Vec<Service>,
    /// Profiles the image can start with (`/etc/mailtls/profiles/*.sh`).
    pub profiles: Vec<String>,
    /// The host name in the certificate and the greeting.
    pub hostname: String,
    /// The test user.
    pub user: String,
    /// The test user's password (a known test password, not a secret).
    pub password: String,
}

/// The recipes folder: `$MAILTLS_CONTAINERS`, else `./containers` when it holds
/// recipes, else the one next to this crate's sources.
pub fn default_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("MAILTLS_CONTAINERS") {
        return dir.into();
    }
    let here = PathBuf::from("containers");
    if here.join("common").is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../containers")
}

/// The names of every recipe under `root`, sorted.
pub fn available(root: &Path) -> Result<Vec<String>, RecipeError> {
    let entries = std::fs::read_dir(root).map_err(|source| RecipeError::Io {
        path: root.into(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("image.conf").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

impl Recipe {
    /// Reads `root/NAME/image.conf`.
    pub fn load(root: &Path, name: &str) -> Result<Recipe, RecipeError> {
        let path = root.join(name).join("image.conf");
        if !path.is_file() {
            return Err(RecipeError::Unknown {
                name: name.into(),
                dir: root.into(),
                available: available(root)?.join(", "),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| RecipeError::Io {
            path: path.clone(),
            source,
        })?;
        let syntax = |line: usize, reason: String| RecipeError::Syntax {
            path: path.clone(),
            line,
            reason,
        };
        let mut fields = std::collections::BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| syntax(index + 1, "expected `key = value`".into()))?;
            fields.insert(
                key.trim().to_string(),
                (index + 1, value.trim().to_string()),
            );
        }
        let mut take = |key: &str| {
            fields
                .remove(key)
                .map(|(_, v)| v)
                .ok_or_else(|| syntax(0, format!("missing `{key} = ...`")))
        };
        let words = |v: String| v.split_whitespace().map(String::from).collect::<Vec<_>>();
        let recipe = Recipe {
            name: name.into(),
            root: root.into(),
            suite: take("suite")?,
            packages: words(take("packages")?),
            services: parse_services(&take("services")?).map_err(|r| syntax(0, r))?,
            profiles: words(take("profiles")?),
            hostname: take("hostname")?,
            user: take("user")?,
            password: take("password")?,
        };
        if let Some((key, (line, _))) = fields.into_iter().next() {
            return Err(syntax(line, format!("unknown key `{key}`")));
        }
        Ok(recipe)
    }

    /// `containers/NAME`.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    /// The folders copied into the image, in order: common files, then the server's.
    pub fn overlays(&self) -> [PathBuf; 2] {
        [
            self.root.join("common/rootfs"),
            self.root.join(&self.name).join("rootfs"),
        ]
    }

    /// SHA-256 over the builder version and every file of the recipe (path,
    /// executable bit, contents): an image labelled with it is up to date.
    pub fn hash(&self) -> Result<String, RecipeError> {
        let mut files = Vec::new();
        collect_files(&self.root.join("common"), &mut files)?;
        collect_files(&self.dir(), &mut files)?;
        files.sort();
        let mut hasher = Sha256::new();
        hasher.update(BUILDER_VERSION);
        for path in files {
            let contents = std::fs::read(&path).map_err(|source| RecipeError::Io {
                path: path.clone(),
                source,
            })?;
            let relative = path.strip_prefix(&self.root).unwrap_or(&path);
            hasher.update(relative.to_string_lossy().as_bytes());
            hasher.update([0, is_executable(&path) as u8]);
            hasher.update((contents.len() as u64).to_be_bytes());
            hasher.update(&contents);
        }
        Ok(hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), RecipeError> {
    let entries = std::fs::read_dir(dir).map_err(|source| RecipeError::Io {
        path: dir.into(),
        source,
    })?;
    for entry in entries {
        let path = entry
            .map_err(|source| RecipeError::Io {
                path: dir.into(),
                source,
            })?
            .path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_load_every_committed_recipe() {
        let root = default_root();
        let names = available(&root).unwrap();
        assert!(names.contains(&"postfix".to_string()), "{names:?}");
        for name in names {
            let recipe = Recipe::load(&root, &name).unwrap();
            assert!(recipe.profiles.iter().any(|p| p == "hardened"), "{name}");
            assert_eq!(recipe.hash().unwrap().len(), 64);
            for profile in &recipe.profiles {
                let script = recipe
                    .dir()
                    .join(format!("rootfs/etc/mailtls/profiles/{profile}.sh"));
                assert!(script.is_file(), "{}", script.display());
            }
        }
    }

    #[test]
    fn rejects_malformed_services() {
        assert!(parse_services("smtp:25 gopher:70").is_err());
        assert!(parse_services("smtp").is_err());
        assert_eq!(parse_services("imaps:993").unwrap()[0].port, 993);
    }
}
