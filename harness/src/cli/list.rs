//! `mailtls list`: the catalogue as an aligned table.

use crate::checks::Catalogue;
use std::fmt::Write as _;

/// One line per check: id, protocol, severity, title, references.
pub fn render(catalogue: &Catalogue) -> String {
    let width = catalogue
        .checks()
        .iter()
        .map(|c| c.meta().id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let mut out = format!(
        "{:<width$}  {:<8}  {:<8}  TITLE (REFERENCES)\n",
        "ID", "PROTOCOL", "SEVERITY"
    );
    for check in catalogue.checks() {
        let meta = check.meta();
        let _ = writeln!(
            out,
            "{:<width$}  {:<8}  {:<8}  {} ({})",
            meta.id,
            meta.protocol.map_or("any", |p| p.name()),
            meta.severity.name(),
            meta.title,
            meta.references.join(", ")
        );
    }
    let _ = writeln!(out, "{} checks", catalogue.checks().len());
    out
}
