//! Certificates: host name, validity, trust, key strength and signatures of the
//! chain the server sent.

use super::{error, fail, pass, skip, Verdict};
use crate::checks::CheckContext;
use crate::report::model::Severity;
use crate::session::Transcript;
use crate::tls::certs::{self, CertError};
use crate::tls::scan::{self, append, Chain};
use std::sync::Arc;

/// Under this many days to expiry, `tls.cert.validity` warns.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// The chain, or the verdict when there is none to judge.
async fn chain(
    ctx: &CheckContext,
    transcript: Transcript,
) -> (Result<Arc<Chain>, Verdict>, Transcript) {
    let chain = scan::chain(ctx).await;
    let transcript = append(transcript, &chain.transcript);
    let result = match &chain.trouble {
        Some(trouble) if trouble.contains("STARTTLS not offered") => Err(skip(trouble.clone())),
        Some(trouble) => Err(error(format!(
            "could not obtain the certificate chain: {trouble}"
        ))),
        None if chain.certificates.is_empty() => Err(fail("the server sent no certificate")),
        None => Ok(chain),
    };
    (result, transcript)
}

/// Judges the chain with `judge`, or gives the verdict for having none.
async fn with_chain(
    ctx: &CheckContext,
    transcript: Transcript,
    judge: impl FnOnce(&Chain) -> Verdict,
) -> (Verdict, Transcript) {
    match chain(ctx, transcript).await {
        (Ok(chain), transcript) => (judge(&chain), transcript),
        (Err(verdict), transcript) => (verdict, transcript),
    }
}

/// A certificate our parser cannot read: no evidence either way (a stricter
/// parser than the client's is no proof the certificate is bad), so `error`.
fn unreadable(e: CertError) -> Verdict {
    error(format!("could not judge the certificate: {e}"))
}

/// The name the certificate must carry: `--servername`, else the target host.
fn expected_name(ctx: &CheckContext) -> String {
    ctx.session
        .server_name
        .clone()
        .unwrap_or_else(|| ctx.endpoint.host.clone())
}

/// `tls.cert.hostname`.
pub(super) async fn hostname(ctx: &CheckContext, transcript: Transcript) -> (Verdict, Transcript) {
    with_chain(ctx, transcript, |chain| {
        let name = expected_name(ctx);
        let names = certs::names(&chain.certificates)
            .map(|n| n.join(", "))
            .unwrap_or_default();
        let verdict = match certs::matches_name(&chain.certificates, &name) {
            Ok(true) => pass(format!("valid for {name} (subjectAltName: {names})")),
            Ok(false) => fail(format!(
                "not valid for {name}: subjectAltName has {}",
                if names.is_empty() {
                    "no DNS name or IP address".into()
                } else {
                    names
                }
            )),
            Err(e) => unreadable(e),
        };
        verdict
    })
    .await
}

fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// `tls.cert.validity`.
pub(super) async fn validity(ctx: &CheckContext, transcript: Transcript) -> (Verdict, Transcript) {
    with_chain(ctx, transcript, |chain| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let verdict = match certs::validity(&chain.certificates) {
            Err(e) => unreadable(e),
            Ok(v) if v.not_after < now => fail(format!(
                "expired on {} ({} day(s) ago)",
                date(v.not_after),
                (now - v.not_after) / 86400
            )),
            Ok(v) if v.not_before > now => fail(format!(
                "not valid before {} (in {} day(s))",
                date(v.not_before),
                (v.not_before - now) / 86400
            )),
            Ok(v) if v.not_after - now < EXPIRY_WARNING_DAYS * 86400 => Verdict {
                severity: Some(Severity::Low),
                ..fail(format!(
                    "expires on {}, in {} day(s): under {EXPIRY_WARNING_DAYS}",
                    date(v.not_after),
                    (v.not_after - now) / 86400
                ))
            },
            Ok(v) => pass(format!(
                "valid from {} until {}",
                date(v.not_before),
                date(v.not_after)
            )),
        };
        verdict
    })
    .await
}

/// `tls.cert.trusted`.
pub(super) async fn trusted(ctx: &CheckContext, transcript: Transcript) -> (Verdict, Transcript) {
    with_chain(ctx, transcript, |chain| {
        let anchors = &ctx.tls.trust_anchors;
        let roots = if anchors.is_empty() {
            "the system roots".to_string()
        } else {
            format!(
                "the system roots or {} extra trust anchor(s)",
                anchors.len()
            )
        };
        let verdict = match certs::chains_to_root(&chain.certificates, anchors) {
            Ok(()) => pass(format!(
                "the chain of {} certificate(s) leads to {roots}",
                chain.certificates.len()
            )),
            Err(e) => fail(format!(
                "the chain of {} certificate(s) does not lead to {roots}: {e}",
                chain.certificates.len()
            )),
        };
        verdict
    })
    .await
}

/// `tls.cert.key-strength`.
pub(super) async fn key_strength(
    ctx: &CheckContext,
    transcript: Transcript,
) -> (Verdict, Transcript) {
    with_chain(ctx, transcript, |chain| {
        let verdict = match certs::keys(&chain.certificates) {
            Err(e) => unreadable(e),
            Ok(keys) => {
                let describe =
                    |k: &certs::KeyFinding| format!("certificate {}: {}", k.index, k.key);
                let weak: Vec<String> = keys.iter().filter(|k| k.weak).map(describe).collect();
                if weak.is_empty() {
                    let all: Vec<String> = keys.iter().map(describe).collect();
                    pass(all.join("; "))
                } else {
                    fail(format!(
                        "keys below RSA 2048 / EC 256 bits: {}",
                        weak.join("; ")
                    ))
                }
            }
        };
        verdict
    })
    .await
}

/// `tls.cert.signature`.
pub(super) async fn signature(ctx: &CheckContext, transcript: Transcript) -> (Verdict, Transcript) {
    with_chain(ctx, transcript, |chain| {
        let verdict = match certs::weak_signatures(&chain.certificates) {
            Err(e) => unreadable(e),
            Ok(weak) if weak.is_empty() => pass(format!(
                "no MD5 or SHA-1 signature in the {} certificate(s) below the root",
                chain.certificates.len()
            )),
            Ok(weak) => {
                let list: Vec<String> = weak
                    .iter()
                    .map(|w| format!("certificate {} ({}): {}", w.index, w.subject, w.algorithm))
                    .collect();
                fail(format!("weak signatures: {}", list.join("; ")))
            }
        };
        verdict
    })
    .await
}
