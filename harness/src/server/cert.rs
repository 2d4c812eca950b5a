//! The server's TLS identity: a fresh self-signed certificate per start and
//! the rustls configuration that serves it.

use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A leaf certificate and its private key.
pub(crate) struct Identity {
    /// The DER certificate, also handed out by `RunningServer::certificate_der`.
    pub(crate) cert: CertificateDer<'static>,
    /// Its private key.
    pub(crate) key: PrivateKeyDer<'static>,
    /// Certificates sent after the leaf.
    pub(crate) extra: Vec<CertificateDer<'static>>,
}

impl Identity {
    /// An identity from a certificate and its key made elsewhere (the client
    /// tests' CA-issued and deliberately broken certificates).
    pub(crate) fn from_parts(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> Self {
        Identity {
            cert,
            key,
            extra: Vec::new(),
        }
    }
}

/// Makes a self-signed certificate for `hostname`, `localhost` and
/// 127.0.0.1, so clients can verify by any of the names they are likely to
/// dial once they trust (or pin) the certificate.
pub(crate) fn generate(hostname: &str) -> Result<Identity, rcgen::Error> {
    let mut names = vec![hostname.to_owned()];
    for extra in ["localhost", "127.0.0.1"] {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(extra)) {
            names.push(extra.to_owned());
        }
    }
    let mut params = CertificateParams::new(names)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, hostname);
    params.distinguished_name = dn;
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(Identity {
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        extra: Vec::new(),
    })
}

/// Builds a rustls server configuration offering TLS 1.2 and 1.3.
///
/// The ring provider is passed explicitly rather than relying on the process
/// default, so this works whatever other crypto providers the final binary
/// links in.
pub(crate) fn server_config(
    identity: &Identity,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    server_config_for(
        identity,
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    )
}

/// [`server_config`] offering only `versions`, serving the leaf and its extra certificates.
pub(crate) fn server_config_for(
    identity: &Identity,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut chain = vec![identity.cert.clone()];
    chain.extend(identity.extra.iter().cloned());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(chain, identity.key.clone_key())?;
    Ok(Arc::new(config))
}
