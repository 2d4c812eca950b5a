//! The checks of the TLS layer, for every TLS endpoint whatever its protocol:
//! versions, downgrade protection, cipher classes, compression, renegotiation and
//! certificates. They judge facts the shared per-endpoint scan gathers once
//! ([`crate::tls::scan`]), and weigh a failure by the endpoint's policy.

mod certificate;
mod suites;
mod versions;

use super::native::BoxFuture;
use super::{CheckContext, NativeCheck, Verdict};
use crate::report::model::{Outcome, Severity};
use crate::scenario::{Meta, Needs};
use crate::session::Transcript;
use crate::target::Policy;
use crate::tls::ciphers::Class;
use crate::tls::hello::Version;
use crate::tls::probe::ProbeError;

/// What a check judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Refused(Version),
    Modern,
    Tls13,
    FallbackScsv,
    Sentinel,
    Cipher(Class),
    ForwardSecrecy,
    Compression,
    Renegotiation,
    Hostname,
    Validity,
    Trusted,
    KeyStrength,
    Signature,
}

/// One TLS check: its metadata, what it judges, and its severity on MX endpoints.
#[derive(Debug)]
struct TlsCheck {
    meta: Meta,
    kind: Kind,
    on_mx: Severity,
}

impl TlsCheck {
    /// The severity of a failure under `policy`: MX endpoints are judged under
    /// opportunistic TLS (RFC 7435, RFC 3207 §4), where any encryption beats the
    /// cleartext a sender falls back to, so most findings weigh less there.
    fn severity(&self, policy: Policy) -> Severity {
        match policy {
            Policy::Mx => self.on_mx,
            _ => self.meta.severity,
        }
    }
}

impl NativeCheck for TlsCheck {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn run<'a>(
        &'a self,
        ctx: &'a CheckContext,
        transcript: Transcript,
    ) -> BoxFuture<'a, (Verdict, Transcript)> {
        Box::pin(async move {
            let (mut verdict, transcript) = match self.kind {
                Kind::Refused(version) => versions::refused(ctx, transcript, version).await,
                Kind::Modern => versions::modern(ctx, transcript).await,
                Kind::Tls13 => versions::tls13(ctx, transcript).await,
                Kind::FallbackScsv => versions::fallback_scsv(ctx, transcript).await,
                Kind::Sentinel => versions::sentinel(ctx, transcript).await,
                Kind::Cipher(class) => suites::class_refused(ctx, transcript, class).await,
                Kind::ForwardSecrecy => suites::forward_secrecy(ctx, transcript).await,
                Kind::Compression => suites::compression(ctx, transcript).await,
                Kind::Renegotiation => suites::renegotiation(ctx, transcript).await,
                Kind::Hostname => certificate::hostname(ctx, transcript).await,
                Kind::Validity => certificate::validity(ctx, transcript).await,
                Kind::Trusted => certificate::trusted(ctx, transcript).await,
                Kind::KeyStrength => certificate::key_strength(ctx, transcript).await,
                Kind::Signature => certificate::signature(ctx, transcript).await,
            };
            if verdict.severity.is_none() {
                verdict.severity = Some(self.severity(ctx.policy));
            }
            (verdict, transcript)
        })
    }
}

fn check(
    id: &str,
    title: &str,
    kind: Kind,
    severity: Severity,
    on_mx: Severity,
    references: &[&str],
) -> Box<dyn NativeCheck> {
    Box::new(TlsCheck {
        meta: Meta {
            id: id.into(),
            title: title.into(),
            protocol: None,
            severity,
            references: references.iter().map(|r| r.to_string()).collect(),
            needs: Needs::default(),
            policies: Vec::new(),
            pass_detail: None,
        },
        kind,
        on_mx,
    })
}

/// Every TLS check, in id order.
pub fn all() -> Vec<Box<dyn NativeCheck>> {
    use Severity::*;
    vec![
        check(
            "tls.cert.hostname",
            "The certificate is valid for the host name",
            Kind::Hostname,
            High,
            Low,
            &["RFC 6125 §6", "RFC 7817 §3"],
        ),
        check(
            "tls.cert.key-strength",
            "Certificate keys are at least RSA 2048 / EC 256 bits",
            Kind::KeyStrength,
            Medium,
            Low,
            &["RFC 9325 §4.3", "NIST SP 800-131A"],
        ),
        check(
            "tls.cert.signature",
            "No MD5 or SHA-1 signature below the root",
            Kind::Signature,
            Medium,
            Low,
            &["RFC 9155", "CVE-2004-2761"],
        ),
        check(
            "tls.cert.trusted",
            "The certificate chains to a trusted root",
            Kind::Trusted,
            High,
            Low,
            &["RFC 5280 §6", "RFC 7817 §3"],
        ),
        check(
            "tls.cert.validity",
            "The certificate is within its validity period, not expiring within 14 days",
            Kind::Validity,
            High,
            Medium,
            &["RFC 5280 §4.1.2.5"],
        ),
        check(
            "tls.cipher.anon-refused",
            "Anonymous (unauthenticated) suites are refused",
            Kind::Cipher(Class::Anon),
            High,
            Low,
            &["RFC 9325 §4.1"],
        ),
        check(
            "tls.cipher.des-refused",
            "DES and 3DES suites are refused",
            Kind::Cipher(Class::Des),
            Medium,
            Low,
            &["RFC 9325 §4.1", "CVE-2016-2183"],
        ),
        check(
            "tls.cipher.export-refused",
            "Export-grade suites are refused",
            Kind::Cipher(Class::Export),
            Critical,
            High,
            &["RFC 9325 §4.1", "CVE-2015-0204", "CVE-2015-4000"],
        ),
        check(
            "tls.cipher.forward-secrecy",
            "Every accepted TLS 1.2 suite is (EC)DHE",
            Kind::ForwardSecrecy,
            Medium,
            Low,
            &["RFC 9325 §4.1"],
        ),
        check(
            "tls.cipher.null-refused",
            "NULL (unencrypted) suites are refused",
            Kind::Cipher(Class::Null),
            Critical,
            Medium,
            &["RFC 9325 §4.1"],
        ),
        check(
            "tls.cipher.rc4-refused",
            "RC4 suites are refused",
            Kind::Cipher(Class::Rc4),
            High,
            Medium,
            &["RFC 7465"],
        ),
        check(
            "tls.compression-refused",
            "TLS compression is refused (CRIME)",
            Kind::Compression,
            High,
            Medium,
            &["RFC 9325 §3.3", "CVE-2012-4929"],
        ),
        check(
            "tls.downgrade.fallback-scsv",
            "A fallback hello with TLS_FALLBACK_SCSV gets inappropriate_fallback",
            Kind::FallbackScsv,
            Medium,
            Low,
            &["RFC 7507 §3"],
        ),
        check(
            "tls.downgrade.sentinel",
            "A TLS 1.3 server offered at most TLS 1.2 sets the downgrade sentinel",
            Kind::Sentinel,
            Medium,
            Low,
            &["RFC 8446 §4.1.3"],
        ),
        check(
            "tls.renegotiation.secure",
            "Secure renegotiation (renegotiation_info) is supported",
            Kind::Renegotiation,
            Medium,
            Low,
            &["RFC 5746", "CVE-2009-3555"],
        ),
        check(
            "tls.version.modern",
            "TLS 1.2 or 1.3 is negotiated",
            Kind::Modern,
            High,
            Medium,
            &["RFC 8996 §4", "RFC 8314 §4.1"],
        ),
        check(
            "tls.version.sslv2-refused",
            "SSL 2.0 is refused",
            Kind::Refused(Version::Ssl2),
            Critical,
            High,
            &["RFC 6176"],
        ),
        check(
            "tls.version.sslv3-refused",
            "SSL 3.0 is refused",
            Kind::Refused(Version::Ssl3),
            High,
            Medium,
            &["RFC 7568", "CVE-2014-3566"],
        ),
        check(
            "tls.version.tls10-refused",
            "TLS 1.0 is refused",
            Kind::Refused(Version::Tls10),
            Medium,
            Low,
            &["RFC 8996 §2"],
        ),
        check(
            "tls.version.tls11-refused",
            "TLS 1.1 is refused",
            Kind::Refused(Version::Tls11),
            Medium,
            Low,
            &["RFC 8996 §3"],
        ),
        check(
            "tls.version.tls13",
            "TLS 1.3 is offered",
            Kind::Tls13,
            Info,
            Info,
            &["RFC 8446"],
        ),
    ]
}

fn pass(detail: impl Into<String>) -> Verdict {
    Verdict::new(Outcome::Pass, detail)
}

fn fail(detail: impl Into<String>) -> Verdict {
    Verdict::new(Outcome::Fail, detail)
}

fn skip(detail: impl Into<String>) -> Verdict {
    Verdict::new(Outcome::Skip, detail)
}

fn error(detail: impl Into<String>) -> Verdict {
    Verdict::new(Outcome::Error, detail)
}

/// The verdict for a probe that could not be judged: `skip` without STARTTLS,
/// `error` otherwise.
fn untestable(trouble: &ProbeError) -> Verdict {
    match trouble {
        ProbeError::NotOffered => skip(trouble.to_string()),
        other => error(other.to_string()),
    }
}

/// The versions a lone hello gets accepted, or the verdict when they cannot be
/// known (no STARTTLS: skip; harness trouble: error).
async fn known_versions(
    ctx: &CheckContext,
) -> Result<std::sync::Arc<crate::tls::scan::Versions>, Verdict> {
    let versions = crate::tls::scan::versions(ctx).await;
    match versions.trouble() {
        Some(trouble) => Err(untestable(trouble)),
        None => Ok(versions),
    }
}

/// `TLS 1.0, TLS 1.2`.
fn list_versions(versions: &[Version]) -> String {
    let names: Vec<&str> = versions.iter().map(|v| v.name()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
