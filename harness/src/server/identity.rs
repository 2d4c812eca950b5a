//! The certificate each start of the server serves, flaws included: a leaf for the
//! server's names issued by a fresh per-start test CA (which clients of the
//! embedded target trust), or the flawed variant a certificate flaw asks for.

use super::cert::{self, Identity};
use super::{Flaw, Flaws};
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// An RSA-1024 self-signed certificate made once with
/// `openssl req -x509 -newkey rsa:1024 -sha256 -days 36500`. ring cannot sign with
/// RSA below 2048 bits, so the weak key rides in the chain after a sound leaf:
/// what `weak-key-cert` sends, and what a client must notice.
const WEAK_RSA_1024: &[u8] = include_bytes!("weak-rsa1024.der");

/// Issues this start's identity; returns it with the DER of the CA to trust.
pub(crate) fn issue(hostname: &str, flaws: Flaws) -> Result<(Identity, Vec<u8>), rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mailtls test CA");
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;

    let names = if flaws.contains(Flaw::WrongHostCert) {
        vec!["mail.wrong-host.invalid".to_owned()]
    } else {
        let mut names = vec![hostname.to_owned()];
        for extra in ["localhost", "127.0.0.1"] {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(extra)) {
                names.push(extra.to_owned());
            }
        }
        names
    };
    let mut params = CertificateParams::new(names)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, hostname);
    params.distinguished_name = dn;
    if flaws.contains(Flaw::ExpiredCert) {
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(90);
        params.not_after = now - Duration::days(1);
    }
    let key = KeyPair::generate()?;
    let leaf = if flaws.contains(Flaw::SelfSignedCert) {
        params.self_signed(&key)?
    } else {
        params.signed_by(&key, &ca, &ca_key)?
    };
    let mut extra = Vec::new();
    if flaws.contains(Flaw::WeakKeyCert) {
        extra.push(CertificateDer::from(WEAK_RSA_1024));
    }
    let identity = Identity {
        cert: leaf.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        extra,
    };
    Ok((identity, ca.der().to_vec()))
}

/// The rustls configuration for `identity`: TLS 1.3 and 1.2, or 1.2 alone with
/// `tls12-only`.
pub(crate) fn server_config(
    identity: &Identity,
    flaws: Flaws,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    if flaws.contains(Flaw::Tls12Only) {
        cert::server_config_for(identity, &[&rustls::version::TLS12])
    } else {
        cert::server_config(identity)
    }
}
