//! Cipher suites, compression and renegotiation: what the accepted versions below
//! TLS 1.3 take.

use super::{fail, pass, skip, Verdict};
use crate::checks::CheckContext;
use crate::session::Transcript;
use crate::tls::ciphers::{suite_name, Class};
use crate::tls::hello::Version;
use crate::tls::response::ServerHello;
use crate::tls::scan::{self, Ciphers, Versions};

/// The accepted versions a suite can be negotiated at (SSL 3.0 to TLS 1.2).
fn legacy_accepted(versions: &Versions) -> Vec<Version> {
    versions
        .accepted_all()
        .into_iter()
        .filter(|v| (Version::Ssl3..=Version::Tls12).contains(v))
        .collect()
}

/// Accepted suites of `class` per version, the probes' transcripts, and harness trouble.
fn findings(
    ciphers: &Ciphers,
    class: Class,
    mut transcript: Transcript,
) -> (Vec<String>, Option<String>, usize, Transcript) {
    let mut found = Vec::new();
    let mut trouble = None;
    let mut probes = 0;
    for ((version, c), scan) in &ciphers.found {
        if *c != class {
            continue;
        }
        probes += scan.probes.len();
        for probe in &scan.probes {
            transcript.append(&probe.transcript);
        }
        if !scan.accepted.is_empty() {
            let names: Vec<String> = scan.accepted.iter().map(|s| suite_name(*s)).collect();
            found.push(format!("at {version}: {}", names.join(", ")));
        }
        if let Some(e) = &scan.trouble {
            trouble.get_or_insert_with(|| e.to_string());
        }
    }
    (found, trouble, probes, transcript)
}

fn judge_class(
    ciphers: &Ciphers,
    class: Class,
    versions: &[Version],
    transcript: Transcript,
) -> (Verdict, Transcript) {
    let (found, trouble, probes, transcript) = findings(ciphers, class, transcript);
    let verdict = if !found.is_empty() {
        fail(format!("{class} suites accepted {}", found.join("; ")))
    } else if let Some(trouble) = trouble {
        super::error(trouble)
    } else {
        let names: Vec<&str> = versions.iter().map(|v| v.name()).collect();
        pass(format!(
            "no {class} suite accepted at {} ({probes} probe(s))",
            names.join(", ")
        ))
    };
    (verdict, transcript)
}

/// `tls.cipher.*-refused`: no suite of `class` is accepted at any version.
pub(super) async fn class_refused(
    ctx: &CheckContext,
    transcript: Transcript,
    class: Class,
) -> (Verdict, Transcript) {
    let versions = match super::known_versions(ctx).await {
        Ok(versions) => versions,
        Err(verdict) => return (verdict, transcript),
    };
    let legacy = legacy_accepted(&versions);
    if legacy.is_empty() {
        return (
            pass(format!(
                "only {} accepted: no {class} suite exists there",
                super::list_versions(&versions.accepted_all())
            )),
            transcript,
        );
    }
    let ciphers = scan::ciphers(ctx).await;
    judge_class(&ciphers, class, &legacy, transcript)
}

/// `tls.cipher.forward-secrecy`: every suite accepted at TLS 1.2 is (EC)DHE.
pub(super) async fn forward_secrecy(
    ctx: &CheckContext,
    transcript: Transcript,
) -> (Verdict, Transcript) {
    let versions = match super::known_versions(ctx).await {
        Ok(versions) => versions,
        Err(verdict) => return (verdict, transcript),
    };
    if !versions.accepted(Version::Tls12) {
        return (
            skip(
                "TLS 1.2 is not accepted: nothing to judge (TLS 1.3 suites are all forward secret)",
            ),
            transcript,
        );
    }
    let ciphers = scan::ciphers(ctx).await;
    judge_class(
        &ciphers,
        Class::NoForwardSecrecy,
        &[Version::Tls12],
        transcript,
    )
}

/// Every accepted hello below TLS 1.3, with its version.
fn accepted_hellos(versions: &Versions) -> Vec<(Version, &crate::tls::response::ServerHello)> {
    legacy_accepted(versions)
        .into_iter()
        .filter_map(|v| Some((v, versions.probes.get(&v)?.answer.as_ref().ok()?.hello()?)))
        .collect()
}

fn with_legacy_probes(mut transcript: Transcript, versions: &Versions) -> Transcript {
    for version in legacy_accepted(versions) {
        if let Some(probe) = versions.probes.get(&version) {
            transcript.append(&probe.transcript);
        }
    }
    transcript
}

/// Judges the ServerHellos of the accepted versions below TLS 1.3 with `judge`,
/// after the versions are known; the version probes go to the transcript.
async fn judge_legacy_hellos(
    ctx: &CheckContext,
    transcript: Transcript,
    judge: impl FnOnce(&[(Version, &ServerHello)]) -> Verdict,
) -> (Verdict, Transcript) {
    let versions = match super::known_versions(ctx).await {
        Ok(versions) => versions,
        Err(verdict) => return (verdict, transcript),
    };
    let transcript = with_legacy_probes(transcript, &versions);
    (judge(&accepted_hellos(&versions)), transcript)
}

fn version_names(hellos: &[(Version, &ServerHello)]) -> String {
    let names: Vec<String> = hellos.iter().map(|(v, _)| v.to_string()).collect();
    names.join(", ")
}

/// `tls.compression-refused`: no ServerHello picks DEFLATE, which every probe
/// below TLS 1.3 offered first.
pub(super) async fn compression(
    ctx: &CheckContext,
    transcript: Transcript,
) -> (Verdict, Transcript) {
    judge_legacy_hellos(ctx, transcript, |hellos| {
        let compressed: Vec<String> = hellos
            .iter()
            .filter(|(_, h)| h.compression != 0)
            .map(|(v, h)| format!("{v} chose compression method {}", h.compression))
            .collect();
        if !compressed.is_empty() {
            fail(format!("the server compresses: {}", compressed.join("; ")))
        } else if hellos.is_empty() {
            pass("only TLS 1.3 is accepted, which has no compression")
        } else {
            pass(format!(
                "DEFLATE offered first and declined at {}",
                version_names(hellos)
            ))
        }
    })
    .await
}

/// `tls.renegotiation.secure`: every accepted ServerHello below TLS 1.3 carries
/// renegotiation_info (RFC 5746).
pub(super) async fn renegotiation(
    ctx: &CheckContext,
    transcript: Transcript,
) -> (Verdict, Transcript) {
    judge_legacy_hellos(ctx, transcript, |hellos| {
        let missing: Vec<String> = hellos
            .iter()
            .filter(|(_, h)| !h.secure_renegotiation())
            .map(|(v, _)| v.to_string())
            .collect();
        if !missing.is_empty() {
            fail(format!(
                "no renegotiation_info in the ServerHello at {} (insecure renegotiation, CVE-2009-3555)",
                missing.join(", ")
            ))
        } else if hellos.is_empty() {
            skip("only TLS 1.3 is accepted, which has no renegotiation")
        } else {
            pass(format!(
                "renegotiation_info present at {}",
                version_names(hellos)
            ))
        }
    })
    .await
}
