//! Versions and downgrade protection: lone hellos per version, the fallback SCSV
//! probe, the TLS 1.3 downgrade sentinel.

use super::{fail, list_versions, pass, skip, untestable, Verdict};
use crate::checks::CheckContext;
use crate::session::Transcript;
use crate::tls::hello::Version;
use crate::tls::probe::Answer;
use crate::tls::response::{
    alert_name, Response, DOWNGRADE_TLS11, DOWNGRADE_TLS12, INAPPROPRIATE_FALLBACK,
};
use crate::tls::scan::{self, append, Versions};

/// `tls.version.*-refused`: a hello offering only `version` is not accepted.
pub(super) async fn refused(
    ctx: &CheckContext,
    transcript: Transcript,
    version: Version,
) -> (Verdict, Transcript) {
    let versions = scan::versions(ctx).await;
    let Some(probe) = versions.probes.get(&version) else {
        return (
            untestable(&crate::tls::probe::ProbeError::NotOffered),
            transcript,
        );
    };
    let transcript = append(transcript, &probe.transcript);
    let verdict = match &probe.answer {
        Err(e) => untestable(e),
        Ok(_) if scan::selected(probe, version) => fail(format!(
            "the server accepted {version}: {}",
            probe
                .answer
                .as_ref()
                .map(Answer::summary)
                .unwrap_or_default()
        )),
        Ok(answer @ Answer::Response(Response::Hello(_))) => pass(format!(
            "{version} not selected: the server answered a {version}-only hello with {}",
            answer.summary()
        )),
        Ok(answer) => pass(format!("{version} refused: {}", answer.summary())),
    };
    (verdict, transcript)
}

fn trouble_or(versions: &Versions, wanted: &[Version]) -> Option<Verdict> {
    wanted
        .iter()
        .filter_map(|v| versions.probes.get(v)?.answer.as_ref().err())
        .next()
        .map(untestable)
}

/// What the server answered the hellos of `wanted`, the evidence a version is
/// not accepted: `TLS 1.2 hello: alert protocol_version`.
fn answers(versions: &Versions, wanted: &[Version]) -> String {
    let answers: Vec<String> = wanted
        .iter()
        .filter_map(|v| {
            let answer = versions.probes.get(v)?.answer.as_ref().ok()?;
            Some(format!("{v} hello: {}", answer.summary()))
        })
        .collect();
    answers.join("; ")
}

fn with_probes(mut transcript: Transcript, versions: &Versions, wanted: &[Version]) -> Transcript {
    for version in wanted {
        if let Some(probe) = versions.probes.get(version) {
            transcript.append(&probe.transcript);
        }
    }
    transcript
}

/// `tls.version.modern`: TLS 1.2 or 1.3 is accepted.
pub(super) async fn modern(ctx: &CheckContext, transcript: Transcript) -> (Verdict, Transcript) {
    let versions = scan::versions(ctx).await;
    let wanted = [Version::Tls12, Version::Tls13];
    let transcript = with_probes(transcript, &versions, &wanted);
    let modern: Vec<Version> = wanted
        .into_iter()
        .filter(|v| versions.accepted(*v))
        .collect();
    let verdict = if !modern.is_empty() {
        pass(format!(
            "accepted: {}",
            list_versions(&versions.accepted_all())
        ))
    } else if let Some(trouble) = trouble_or(&versions, &wanted) {
        trouble
    } else {
        fail(format!(
            "neither TLS 1.2 nor TLS 1.3 is accepted ({}); accepted: {}",
            answers(&versions, &wanted),
            list_versions(&versions.accepted_all())
        ))
    };
    (verdict, transcript)
}

/// `tls.version.tls13`: whether TLS 1.3 is offered.
pub(super) async fn tls13(ctx: &CheckContext, transcript: Transcript) -> (Verdict, Transcript) {
    let versions = scan::versions(ctx).await;
    let transcript = with_probes(transcript, &versions, &[Version::Tls13]);
    let verdict = if versions.accepted(Version::Tls13) {
        pass("TLS 1.3 is offered")
    } else if let Some(trouble) = trouble_or(&versions, &[Version::Tls13]) {
        trouble
    } else {
        fail(format!(
            "TLS 1.3 is not offered ({}); accepted: {}",
            answers(&versions, &[Version::Tls13]),
            list_versions(&versions.accepted_all())
        ))
    };
    (verdict, transcript)
}

/// `tls.downgrade.fallback-scsv`: a fallback hello carrying TLS_FALLBACK_SCSV is
/// refused with inappropriate_fallback (RFC 7507).
pub(super) async fn fallback_scsv(
    ctx: &CheckContext,
    transcript: Transcript,
) -> (Verdict, Transcript) {
    let versions = match super::known_versions(ctx).await {
        Ok(versions) => versions,
        Err(verdict) => return (verdict, transcript),
    };
    let accepted = versions.accepted_all();
    let Some(version) = scan::fallback_version(&accepted) else {
        let legacy = accepted
            .iter()
            .any(|v| (Version::Ssl3..Version::Tls12).contains(v));
        let why = if legacy {
            format!(
                "{} is the highest version accepted: there is nothing to fall back from",
                list_versions(&accepted[accepted.len() - 1..])
            )
        } else {
            "nothing below TLS 1.2 is accepted, so there is no fallback to detect (RFC 8996)".into()
        };
        return (skip(why), transcript);
    };
    let fallback = scan::fallback(ctx).await;
    let Some(probe) = fallback.as_ref() else {
        return (skip("no fallback probe was needed"), transcript);
    };
    let highest = accepted.iter().max().copied().unwrap_or(version);
    let transcript = append(transcript, &probe.transcript);
    let verdict = match &probe.answer {
        Err(e) => untestable(e),
        Ok(Answer::Response(Response::Alert { description, .. }))
            if *description == INAPPROPRIATE_FALLBACK =>
        {
            pass(format!(
                "a {version} hello with TLS_FALLBACK_SCSV got inappropriate_fallback (the server speaks {highest})"
            ))
        }
        Ok(Answer::Response(Response::Hello(hello))) => fail(format!(
            "a {version} hello with TLS_FALLBACK_SCSV was accepted although the server speaks {highest}: {}",
            hello.summary()
        )),
        Ok(Answer::Response(Response::Alert { description, .. })) => pass(format!(
            "a {version} hello with TLS_FALLBACK_SCSV was refused, with {} rather than inappropriate_fallback",
            alert_name(*description)
        )),
        Ok(other) => pass(format!(
            "a {version} hello with TLS_FALLBACK_SCSV was refused: {}",
            other.summary()
        )),
    };
    (verdict, transcript)
}

/// `tls.downgrade.sentinel`: a TLS 1.3 server that negotiates an older version marks
/// ServerHello.random (RFC 8446 §4.1.3).
pub(super) async fn sentinel(ctx: &CheckContext, transcript: Transcript) -> (Verdict, Transcript) {
    let versions = scan::versions(ctx).await;
    let legacy = [
        Version::Ssl3,
        Version::Tls10,
        Version::Tls11,
        Version::Tls12,
    ];
    let mut all = legacy.to_vec();
    all.push(Version::Tls13);
    let transcript = with_probes(transcript, &versions, &all);
    if !versions.accepted(Version::Tls13) {
        let verdict = match trouble_or(&versions, &[Version::Tls13]) {
            Some(trouble) => trouble,
            None => skip("TLS 1.3 is not offered: there is no downgrade to signal"),
        };
        return (verdict, transcript);
    }
    let mut checked = Vec::new();
    let mut wrong = Vec::new();
    for version in legacy {
        let Some(hello) = versions
            .probes
            .get(&version)
            .filter(|p| scan::selected(p, version))
            .and_then(|p| p.answer.as_ref().ok()?.hello())
        else {
            continue;
        };
        let expected = if version == Version::Tls12 {
            DOWNGRADE_TLS12
        } else {
            DOWNGRADE_TLS11
        };
        checked.push(version);
        if hello.random_tail() != expected {
            wrong.push(format!(
                "{version}: ServerHello.random ends in {}, not {}",
                hex(&hello.random_tail()),
                hex(&expected)
            ));
        }
    }
    let verdict = if checked.is_empty() {
        skip("only TLS 1.3 is accepted: there is nothing to downgrade to")
    } else if wrong.is_empty() {
        pass(format!(
            "the downgrade sentinel is set at {}",
            list_versions(&checked)
        ))
    } else {
        fail(format!(
            "the server speaks TLS 1.3 but does not mark a downgrade: {}",
            wrong.join("; ")
        ))
    };
    (verdict, transcript)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
