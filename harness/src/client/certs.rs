//! The certificates a client test presents: a per-run test CA the client profiles
//! are told to trust, a server certificate it issues for the name the clients dial,
//! and the broken ones of the certificate scenarios (self-signed, unknown CA, wrong
//! host name, expired), all made with rcgen.

use super::script::CertKind;
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::sync::Arc;

/// The names every good certificate carries: what the profiles dial.
pub const SERVER_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A name no client dials, for the wrong-host certificate.
const WRONG_NAME: &str = "wrong-host.mailtls.invalid";

/// Why the certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the key or certificate.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
}

/// One run's certificates: the trusted CA (PEM, for the clients) and a rustls
/// server configuration per kind.
pub struct TestPki {
    ca_pem: String,
    configs: HashMap<CertKind, Arc<rustls::ServerConfig>>,
}

impl TestPki {
    /// Makes the CA, an unrelated CA, and one server configuration per [`CertKind`].
    pub fn generate() -> Result<TestPki, CertError> {
        let (ca, ca_key) = authority("mailtls test CA")?;
        let (other, other_key) = authority("mailtls unknown CA")?;
        let names: Vec<String> = SERVER_NAMES.iter().map(|s| s.to_string()).collect();
        let mut configs = HashMap::new();
        for (kind, _) in CertKind::ALL {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(match kind {
                CertKind::WrongHost => vec![WRONG_NAME.to_string()],
                _ => names.clone(),
            })?;
            let mut dn = DistinguishedName::new();
            dn.push(
                DnType::CommonName,
                if kind == CertKind::WrongHost {
                    WRONG_NAME
                } else {
                    "localhost"
                },
            );
            params.distinguished_name = dn;
            if kind == CertKind::Expired {
                let now = time::OffsetDateTime::now_utc();
                params.not_before = now - time::Duration::days(60);
                params.not_after = now - time::Duration::days(30);
            }
            let cert = match kind {
                CertKind::SelfSigned => params.self_signed(&key)?,
                CertKind::UnknownCa => params.signed_by(&key, &other, &other_key)?,
                _ => params.signed_by(&key, &ca, &ca_key)?,
            };
            let config = server_config(cert.der().clone(), &key)?;
            configs.insert(kind, config);
        }
        Ok(TestPki {
            ca_pem: ca.pem(),
            configs,
        })
    }

    /// The test CA as PEM: what `--cacert`, `tls_trust_file`, `--sslcertfile` and
    /// `cafile=` point at.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server configuration that presents a certificate of `kind`.
    pub fn config(&self, kind: CertKind) -> Arc<rustls::ServerConfig> {
        self.configs[&kind].clone()
    }
}

fn authority(name: &str) -> Result<(rcgen::Certificate, KeyPair), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    Ok((params.self_signed(&key)?, key))
}

fn server_config(
    cert: CertificateDer<'static>,
    key: &KeyPair,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let key: PrivateKeyDer<'static> = PrivatePkcs8KeyDer::from(key.serialize_der()).into();
    crate::server::cert::server_config(&crate::server::cert::Identity::from_parts(cert, key))
}
