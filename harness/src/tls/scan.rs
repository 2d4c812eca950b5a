//! The TLS facts of one endpoint, gathered once and shared by every TLS check of a
//! run: which versions a lone hello gets accepted, which weak suites each accepted
//! version takes, what a fallback hello gets, and the certificate chain. Each part
//! is computed on first demand; probes run concurrently, each connection through
//! the endpoint's governor, and a probe whose connection is lost (reset, timed
//! out, a socket error) is tried again before it counts as the harness's trouble.

use crate::checks::CheckContext;
use crate::session::{open_to_tls_start, PreambleError, Transcript};
use crate::tls::ciphers::{self, Class, FALLBACK_SCSV, TLS13_SUITES};
use crate::tls::client::{permissive_config, server_name};
use crate::tls::hello::{compression, ClientHello, Ssl2ClientHello, Version};
use crate::tls::probe::{self, Answer, Probe, ProbeError, ProbeRecord};
use crate::tls::response::Response;
use rustls::pki_types::ServerName;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use tokio::sync::OnceCell;
use tokio::task::JoinSet;
use tokio::time::timeout;

/// What the TLS checks of one endpoint share: extra trust anchors and the facts
/// gathered so far.
#[derive(Clone)]
pub struct TlsOptions {
    /// DER certificates trusted besides the system roots (`--ca`, the embedded
    /// server's test CA).
    pub trust_anchors: Vec<Vec<u8>>,
    memo: Arc<Memo>,
}

impl TlsOptions {
    /// Options with these anchors and nothing gathered yet.
    pub fn new(trust_anchors: Vec<Vec<u8>>) -> TlsOptions {
        TlsOptions {
            trust_anchors,
            memo: Arc::new(Memo {
                versions: OnceCell::new(),
                ciphers: OnceCell::new(),
                fallback: OnceCell::new(),
                chain: OnceCell::new(),
            }),
        }
    }
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions::new(Vec::new())
    }
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("trust_anchors", &self.trust_anchors.len())
            .finish_non_exhaustive()
    }
}

struct Memo {
    versions: OnceCell<Arc<Versions>>,
    ciphers: OnceCell<Arc<Ciphers>>,
    fallback: OnceCell<Arc<Option<ProbeRecord>>>,
    chain: OnceCell<Arc<Chain>>,
}

/// The answer to a hello offering one version only, for every version.
#[derive(Debug, Clone)]
pub struct Versions {
    /// Per version, its probe.
    pub probes: BTreeMap<Version, ProbeRecord>,
}

impl Versions {
    /// Whether the server selected `version` when offered only it.
    pub fn accepted(&self, version: Version) -> bool {
        self.probes
            .get(&version)
            .is_some_and(|p| selected(p, version))
    }

    /// Every accepted version, oldest first.
    pub fn accepted_all(&self) -> Vec<Version> {
        Version::ALL
            .into_iter()
            .filter(|v| self.accepted(*v))
            .collect()
    }

    /// The harness trouble that keeps the versions from being known: `NotOffered`
    /// from any probe, else the first error of the SSL 3.0 to TLS 1.3 probes (an
    /// SSL 2.0 probe in trouble only keeps its own check from judging).
    pub fn trouble(&self) -> Option<&ProbeError> {
        let errors: Vec<&ProbeError> = self
            .probes
            .iter()
            .filter_map(|(v, p)| Some((v, p.answer.as_ref().err()?)))
            .filter(|(v, e)| **e == ProbeError::NotOffered || **v >= Version::Ssl3)
            .map(|(_, e)| e)
            .collect();
        errors
            .iter()
            .find(|e| **e == &ProbeError::NotOffered)
            .or(errors.first())
            .copied()
    }
}

/// Whether a probe's answer selects `version`.
pub fn selected(record: &ProbeRecord, version: Version) -> bool {
    match &record.answer {
        Ok(Answer::Response(crate::tls::response::Response::Ssl2Hello { .. })) => {
            version == Version::Ssl2
        }
        Ok(answer) => answer
            .hello()
            .is_some_and(|h| h.known_version() == Some(version)),
        Err(_) => false,
    }
}

/// The weak suites each accepted version takes, by class.
#[derive(Debug, Clone, Default)]
pub struct Ciphers {
    /// Per (version, class): the suites accepted, in the order found, and the probes.
    pub found: BTreeMap<(Version, Class), ClassScan>,
}

/// One class at one version.
#[derive(Debug, Clone, Default)]
pub struct ClassScan {
    /// The suites the server chose, one per probe, until it refused.
    pub accepted: Vec<u16>,
    /// Every probe of the chain.
    pub probes: Vec<ProbeRecord>,
    /// Why the chain stopped early, when it was the harness's trouble.
    pub trouble: Option<ProbeError>,
}

/// The server's certificate chain, and how it was obtained.
#[derive(Debug, Clone)]
pub struct Chain {
    /// DER certificates as sent, leaf first; empty when none could be had.
    pub certificates: Vec<Vec<u8>>,
    /// `a TLS 1.3 handshake`, `the TLS 1.0 ServerHello flight`.
    pub source: String,
    /// Why no chain could be had.
    pub trouble: Option<String>,
    /// The transcript of the connection it came from.
    pub transcript: Transcript,
}

/// The versions a lone hello gets accepted (computed once per endpoint).
pub async fn versions(ctx: &CheckContext) -> Arc<Versions> {
    let memo = ctx.tls.memo.clone();
    memo.versions
        .get_or_init(|| async {
            let name = sni(ctx);
            let mut probes = Vec::new();
            probes.push((
                Version::Ssl2,
                Probe {
                    label: "SSL 2.0 CLIENT-HELLO offering only SSL 2.0".into(),
                    hello: Ssl2ClientHello::new().encode(),
                    want_certificates: false,
                },
            ));
            for version in &Version::ALL[1..] {
                let mut hello = if *version == Version::Tls13 {
                    ClientHello::new(*version, TLS13_SUITES[..3].to_vec(), name.clone())
                } else {
                    ClientHello::new(*version, ciphers::legacy_suites(), name.clone())
                };
                if *version < Version::Tls13 {
                    // DEFLATE first: a server that takes it is open to CRIME.
                    hello.compression = vec![compression::DEFLATE, compression::NULL];
                }
                probes.push((
                    *version,
                    Probe {
                        label: format!("ClientHello offering only {version}"),
                        hello: hello.encode(),
                        want_certificates: *version < Version::Tls13,
                    },
                ));
            }
            let records = run_all(ctx, probes).await;
            Arc::new(Versions {
                probes: records.into_iter().collect(),
            })
        })
        .await
        .clone()
}

/// The weak suites accepted at each accepted version below TLS 1.3: per class, offer
/// the class, note the suite chosen, offer the rest, until the server refuses.
pub async fn ciphers(ctx: &CheckContext) -> Arc<Ciphers> {
    let versions = versions(ctx).await;
    let memo = ctx.tls.memo.clone();
    memo.ciphers
        .get_or_init(|| async {
            let ctx = Arc::new(ctx.clone());
            let mut tasks = JoinSet::new();
            for version in versions.accepted_all() {
                if !(Version::Ssl3..=Version::Tls12).contains(&version) {
                    continue;
                }
                for class in Class::ALL {
                    // Forward secrecy is judged at TLS 1.2, where it is achievable.
                    if class == Class::NoForwardSecrecy && version != Version::Tls12 {
                        continue;
                    }
                    let ctx = ctx.clone();
                    tasks.spawn(async move {
                        ((version, class), class_chain(&ctx, version, class).await)
                    });
                }
            }
            let mut found = BTreeMap::new();
            while let Some(joined) = tasks.join_next().await {
                if let Ok((key, scan)) = joined {
                    found.insert(key, scan);
                }
            }
            Arc::new(Ciphers { found })
        })
        .await
        .clone()
}

async fn class_chain(ctx: &CheckContext, version: Version, class: Class) -> ClassScan {
    let mut remaining = ciphers::class_suites(class);
    let mut scan = ClassScan::default();
    while !remaining.is_empty() {
        let probe = Probe {
            label: format!("{} {class} suite(s) at {version}", remaining.len()),
            hello: ClientHello::new(version, remaining.clone(), sni(ctx)).encode(),
            want_certificates: false,
        };
        let record = limited(ctx, &probe).await;
        let chosen = match &record.answer {
            Ok(answer) => answer
                .hello()
                .filter(|h| h.known_version() == Some(version))
                .map(|h| h.cipher),
            Err(e) => {
                scan.trouble = Some(e.clone());
                None
            }
        };
        scan.probes.push(record);
        let Some(chosen) = chosen else { break };
        scan.accepted.push(chosen);
        let before = remaining.len();
        remaining.retain(|s| *s != chosen);
        if remaining.len() == before {
            // A suite we did not offer: record it and stop, or we would loop.
            break;
        }
    }
    scan
}

/// The answer to a hello at the highest accepted version below the highest one and
/// below TLS 1.2, carrying TLS_FALLBACK_SCSV; `None` when there is no such version.
pub async fn fallback(ctx: &CheckContext) -> Arc<Option<ProbeRecord>> {
    let versions = versions(ctx).await;
    let memo = ctx.tls.memo.clone();
    memo.fallback
        .get_or_init(|| async {
            let Some(version) = fallback_version(&versions.accepted_all()) else {
                return Arc::new(None);
            };
            let mut suites = ciphers::legacy_suites();
            suites.push(FALLBACK_SCSV);
            let probe = Probe {
                label: format!("ClientHello at {version} with TLS_FALLBACK_SCSV"),
                hello: ClientHello::new(version, suites, sni(ctx)).encode(),
                want_certificates: false,
            };
            Arc::new(Some(limited(ctx, &probe).await))
        })
        .await
        .clone()
}

/// The version a fallback probe uses: the highest accepted below the highest
/// accepted, if it is below TLS 1.2 (SSL 2.0 has no SCSV).
pub fn fallback_version(accepted: &[Version]) -> Option<Version> {
    let highest = *accepted.iter().max()?;
    accepted
        .iter()
        .copied()
        .filter(|v| *v < highest && *v < Version::Tls12 && *v > Version::Ssl2)
        .max()
}

/// The certificate chain: from a rustls handshake (TLS 1.2 or 1.3), or else from the
/// cleartext flight of the newest accepted version below TLS 1.3.
pub async fn chain(ctx: &CheckContext) -> Arc<Chain> {
    let memo = ctx.tls.memo.clone();
    memo.chain
        .get_or_init(|| async {
            let handshake = rustls_chain_patiently(ctx).await;
            if handshake.trouble.is_none() || handshake.trouble.as_deref() == Some(NOT_OFFERED) {
                return Arc::new(handshake);
            }
            let versions = versions(ctx).await;
            let legacy = versions
                .probes
                .iter()
                .rev()
                .filter_map(|(v, p)| Some((v, p, p.answer.as_ref().ok()?.hello()?)))
                .find(|(_, _, h)| !h.certificates.is_empty());
            Arc::new(match legacy {
                Some((version, probe, hello)) => {
                    let mut transcript = handshake.transcript;
                    transcript.note(format!(
                        "rustls could not complete a handshake; the chain comes from the {version} probe"
                    ));
                    Chain {
                        certificates: hello.certificates.clone(),
                        source: format!("the {version} ServerHello flight"),
                        trouble: None,
                        transcript: append(transcript, &probe.transcript),
                    }
                }
                None => handshake,
            })
        })
        .await
        .clone()
}

const NOT_OFFERED: &str = "STARTTLS not offered, nothing to test";

/// How many connections one probe (or the chain's handshake) may use when the
/// earlier ones were lost or turned away: as many as one governed connection may
/// (a server's cap can span its ports, as Exim's smtp_accept_max does, so one
/// endpoint's back-off alone may take a while to make room), within the same
/// time budget.
const PROBE_ATTEMPTS: u32 = crate::session::governor::MAX_ATTEMPTS;

/// How many connections one probe may use when the earlier ones timed out: a
/// server that waits for more of a hello it cannot read looks the same as a lost
/// connection, and each try costs a whole --timeout.
const TIMED_OUT_PROBE_ATTEMPTS: u32 = 2;

/// How many connections in a row must close on a hello, without a word, before
/// that counts as a refusal. A close is not an alert: a server that caps
/// connections per client (Courier on its TLS-on-connect ports), a middlebox or
/// an overloaded server closes exactly as one that refuses the hello by closing,
/// so only a close that comes again and again, with the governor backing off in
/// between, is the server's answer. Ten in a row leave a server that drops one
/// connection in six a one-in-sixty-million chance of a false refusal per probe.
const CLOSED_PROBE_ATTEMPTS: u32 = PROBE_ATTEMPTS;

/// [`rustls_chain`], tried again while its connection is lost rather than refused.
async fn rustls_chain_patiently(ctx: &CheckContext) -> Chain {
    let mut earlier = ctx.new_transcript();
    let mut attempt = 1;
    let started = tokio::time::Instant::now();
    let budget = ctx.session.timeout * crate::session::governor::RETRY_BUDGET_TIMEOUTS;
    loop {
        let generation = ctx.governor.generation();
        let (mut chain, transient) = rustls_chain(ctx).await;
        if transient && attempt < PROBE_ATTEMPTS && started.elapsed() < budget {
            let pause = ctx.governor.overloaded_since(generation);
            earlier.append(&chain.transcript);
            earlier.note(format!(
                "connection lost; trying again after {} ms",
                pause.as_millis()
            ));
            attempt += 1;
            continue;
        }
        if attempt > 1 {
            chain.transcript = append(earlier, &chain.transcript);
        }
        return chain;
    }
}

/// A rustls handshake for the chain, and whether its failure was a lost
/// connection (worth another try) rather than the server's answer.
async fn rustls_chain(ctx: &CheckContext) -> (Chain, bool) {
    let failed = |trouble: String, transcript: Transcript| Chain {
        certificates: Vec::new(),
        source: String::new(),
        trouble: Some(trouble),
        transcript,
    };
    let transcript = ctx.new_transcript();
    let plain = match open_to_tls_start(
        &ctx.governor,
        &ctx.endpoint,
        &ctx.client_name,
        ctx.session.clone(),
        transcript,
    )
    .await
    {
        Ok(plain) => plain,
        Err((PreambleError::NotOffered, t)) => return (failed(NOT_OFFERED.into(), t), false),
        Err((e, t)) => {
            let transient = matches!(
                &e,
                PreambleError::Session(s) if s.is_worth_retrying()
            );
            return (
                failed(format!("could not reach the start of TLS: {e}"), t),
                transient,
            );
        }
    };
    // The slot is held until the handshake is over.
    let _permit = plain.permit;
    let mut transcript = plain.transcript;
    let name = ctx
        .session
        .server_name
        .as_deref()
        .unwrap_or(&ctx.endpoint.host);
    let name = match server_name(name) {
        Ok(name) => name,
        Err(e) => return (failed(e, transcript), false),
    };
    transcript.note("TLS handshake (rustls, TLS 1.2 and 1.3) for the certificate chain");
    let connector = tokio_rustls::TlsConnector::from(permissive_config());
    match timeout(ctx.session.timeout, connector.connect(name, plain.tcp)).await {
        Ok(Ok(tls)) => {
            let (_, state) = tls.get_ref();
            let certificates: Vec<Vec<u8>> = state
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.to_vec()).collect())
                .unwrap_or_default();
            let version = match state.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
                _ => "TLS 1.2",
            };
            transcript.note(format!(
                "TLS established: {version}; server certificate chain of {} certificate(s)",
                certificates.len()
            ));
            let chain = Chain {
                certificates,
                source: format!("a {version} handshake"),
                trouble: None,
                transcript,
            };
            (chain, false)
        }
        Ok(Err(e)) => {
            transcript.note(format!("TLS handshake failed: {e}"));
            let lost = matches!(
                crate::session::conn::handshake_error(&e),
                crate::session::SessionError::HandshakeDropped(_)
                    | crate::session::SessionError::HandshakeNotTls(_)
            );
            (
                failed(format!("TLS handshake failed: {e}"), transcript),
                lost,
            )
        }
        Err(_) => {
            let why = format!(
                "timed out after {} ms in the TLS handshake",
                ctx.session.timeout.as_millis()
            );
            transcript.note(why.clone());
            (failed(why, transcript), true)
        }
    }
}

/// Whether plaintext in place of a ServerHello is a mail server turning the client
/// away (SMTP 4xx, POP3 `-ERR`, IMAP `* BYE`) rather than anything about TLS.
fn turned_away(text: &str) -> bool {
    let text = text.trim_start();
    let smtp_4xx = text.len() >= 3
        && text.as_bytes()[0] == b'4'
        && text.as_bytes()[1..3].iter().all(u8::is_ascii_digit);
    let upper = text.get(..5).unwrap_or(text).to_ascii_uppercase();
    smtp_4xx || upper.starts_with("-ERR") || upper.starts_with("* BYE")
}

/// `transcript` followed by `other`'s entries.
pub fn append(mut transcript: Transcript, other: &Transcript) -> Transcript {
    transcript.append(other);
    transcript
}

/// The SNI name for raw hellos: `--servername` or the host, unless it is an IP literal.
fn sni(ctx: &CheckContext) -> Option<String> {
    let name = ctx
        .session
        .server_name
        .as_deref()
        .unwrap_or(&ctx.endpoint.host);
    match server_name(name) {
        Ok(ServerName::DnsName(dns)) => Some(dns.as_ref().to_string()),
        _ => None,
    }
}

/// Runs one probe (its connection through the endpoint's governor), again while
/// its connection is lost rather than answered; every attempt stays in the
/// transcript.
async fn limited(ctx: &CheckContext, probe: &Probe) -> ProbeRecord {
    let started = tokio::time::Instant::now();
    let budget = ctx.session.timeout * crate::session::governor::RETRY_BUDGET_TIMEOUTS;
    let mut earlier: Option<Transcript> = None;
    let mut attempt = 1;
    let mut closes_in_a_row = 0;
    loop {
        let generation = ctx.governor.generation();
        let mut record = probe::run(ctx, probe).await;
        if matches!(record.answer, Ok(Answer::Closed)) {
            closes_in_a_row += 1;
        } else {
            closes_in_a_row = 0;
        }
        let again = match &record.answer {
            Err(ProbeError::Timeout(_)) => attempt < TIMED_OUT_PROBE_ATTEMPTS,
            Err(e) if e.is_transient() => attempt < PROBE_ATTEMPTS,
            // Only a close that comes again and again is a refusal (see
            // CLOSED_PROBE_ATTEMPTS); a reset, a timeout or a turn-away between
            // two closes starts the count again.
            Ok(Answer::Closed) => {
                closes_in_a_row < CLOSED_PROBE_ATTEMPTS && attempt < 2 * PROBE_ATTEMPTS
            }
            // A plaintext "too busy" in place of a ServerHello (Exim's 421 on its
            // TLS-on-connect port when over smtp_accept_max) is a turn-away.
            Ok(Answer::Response(Response::NotTls(text))) if turned_away(text) => {
                attempt < PROBE_ATTEMPTS
            }
            _ => false,
        };
        if again && started.elapsed() < budget {
            let pause = ctx.governor.overloaded_since(generation);
            let mut kept = earlier
                .take()
                .unwrap_or_else(|| record.transcript.sibling());
            kept.append(&record.transcript);
            kept.note(format!(
                "connection lost; probing again after {} ms",
                pause.as_millis()
            ));
            earlier = Some(kept);
            attempt += 1;
            continue;
        }
        if let Some(earlier) = earlier {
            record.transcript = append(earlier, &record.transcript);
        }
        // Closed, but not often enough in a row to be the server's answer (the
        // budget ran out first): a lost connection, never a refusal.
        if matches!(record.answer, Ok(Answer::Closed)) && closes_in_a_row < CLOSED_PROBE_ATTEMPTS {
            let why = format!(
                "the connection closed before any answer to the hello, {closes_in_a_row} time(s) in a row within the retry budget: too few to call it a refusal"
            );
            record.transcript.note(why.clone());
            record.answer = Err(ProbeError::Lost(why));
        }
        // Turned away every time: that says nothing about the hello, so it is
        // the harness's trouble, never a refusal.
        if let Ok(Answer::Response(Response::NotTls(text))) = &record.answer {
            if turned_away(text) {
                let why =
                    format!("the server turned {attempt} connection(s) in a row away: `{text}`");
                record.transcript.note(why.clone());
                record.answer = Err(ProbeError::Lost(why));
            }
        }
        return record;
    }
}

/// Runs probes concurrently within the limit; results in the order given.
async fn run_all<K: Send + 'static>(
    ctx: &CheckContext,
    probes: Vec<(K, Probe)>,
) -> Vec<(K, ProbeRecord)> {
    let ctx = Arc::new(ctx.clone());
    let mut tasks = JoinSet::new();
    for (index, (key, probe)) in probes.into_iter().enumerate() {
        let ctx = ctx.clone();
        tasks.spawn(async move { (index, key, limited(&ctx, &probe).await) });
    }
    let mut done = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(result) = joined {
            done.push(result);
        }
    }
    done.sort_by_key(|(index, _, _)| *index);
    done.into_iter().map(|(_, k, r)| (k, r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_busy_answers_are_turn_aways() {
        assert!(turned_away("421 Too many concurrent SMTP connections"));
        assert!(turned_away("-ERR [IN-USE] too many connections"));
        assert!(turned_away("* BYE Too many connections"));
        assert!(!turned_away("554 5.7.0 no TLS here"));
        assert!(!turned_away("220 mail ESMTP"));
        assert!(!turned_away("4"));
    }

    #[test]
    fn falls_back_only_below_tls12_and_below_the_highest() {
        use Version::*;
        assert_eq!(fallback_version(&[Tls12, Tls13]), None);
        assert_eq!(fallback_version(&[Tls10, Tls11, Tls12]), Some(Tls11));
        assert_eq!(fallback_version(&[Tls10, Tls12, Tls13]), Some(Tls10));
        assert_eq!(fallback_version(&[Tls10]), None);
        assert_eq!(fallback_version(&[Ssl2, Tls12]), None);
        assert_eq!(fallback_version(&[]), None);
    }
}
