//! Embeds every script under `../scenarios/` into the binary, so the built-in
//! catalogue needs no files at run time and a new script needs no code change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            // A new script changes its folder, not the root.
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "mts") {
            out.push(path);
        }
    }
}

/// Rust source for `pub static NAME: &[(path under scenarios/, text)]`.
fn listing(doc: &str, name: &str, files: &[PathBuf], root: &Path) -> String {
    let mut code = format!(
        "/// {doc}: (path under scenarios/, text).\npub static {name}: &[(&str, &str)] = &[\n"
    );
    for file in files {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        let _ = writeln!(
            code,
            "    ({:?}, include_str!({:?})),",
            format!("scenarios/{relative}"),
            file.display().to_string()
        );
    }
    code.push_str("];\n");
    code
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("../scenarios");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    // Client scripts (the harness plays the server) are a catalogue of their own.
    let (client, files): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|f| f.strip_prefix(root.join("client")).is_ok());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    std::fs::write(
        out_dir.join("client_scenarios.rs"),
        listing("Built-in client scripts", "CLIENT", &client, &root),
    )
    .expect("write client_scenarios.rs");
    let code = listing("Built-in scenario scripts", "BUILTIN", &files, &root);
    std::fs::write(out_dir.join("builtin_scenarios.rs"), code).expect("write builtin_scenarios.rs");
}
