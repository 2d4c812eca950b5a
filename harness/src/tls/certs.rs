//! Certificate analysis, pure: the name a chain is valid for, its validity period,
//! whether it chains to a trusted root, its key sizes and its signature hashes.
//! Inputs are the DER certificates a server sent, leaf first.

use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::RootCertStore;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

/// Why a certificate cannot be analysed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The server sent no certificate.
    #[error("the server sent no certificate")]
    Empty,
    /// A certificate is not parseable X.509.
    #[error("certificate {index} is not readable X.509: {reason}")]
    Unreadable {
        /// 1-based position in the chain.
        index: usize,
        /// What the parser said.
        reason: String,
    },
}

fn parse(index: usize, der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| CertError::Unreadable {
            index: index + 1,
            reason: e.to_string(),
        })
}

fn leaf(chain: &[Vec<u8>]) -> Result<&[u8], CertError> {
    chain.first().map(Vec::as_slice).ok_or(CertError::Empty)
}

/// The leaf's subjectAltName entries (DNS names and IP addresses), for details.
pub fn names(chain: &[Vec<u8>]) -> Result<Vec<String>, CertError> {
    let cert = parse(0, leaf(chain)?)?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_string()),
                GeneralName::IPAddress(ip) => names.push(match ip.len() {
                    4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).unwrap_or_default())
                        .to_string(),
                    16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*ip).unwrap_or_default())
                        .to_string(),
                    _ => format!("{ip:02x?}"),
                }),
                _ => {}
            }
        }
    }
    Ok(names)
}

/// Whether the leaf is valid for `name` (RFC 6125 rules as webpki applies them: SAN
/// only, wildcards in the leftmost label only, IP literals against iPAddress).
pub fn matches_name(chain: &[Vec<u8>], name: &str) -> Result<bool, CertError> {
    let der = CertificateDer::from(leaf(chain)?);
    let parsed = ParsedCertificate::try_from(&der).map_err(|e| CertError::Unreadable {
        index: 1,
        reason: e.to_string(),
    })?;
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    let Ok(server_name) = ServerName::try_from(bare) else {
        return Ok(false);
    };
    Ok(verify_server_name(&parsed, &server_name).is_ok())
}

/// The leaf's validity period as Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
}

/// The leaf's validity period.
pub fn validity(chain: &[Vec<u8>]) -> Result<Validity, CertError> {
    let cert = parse(0, leaf(chain)?)?;
    Ok(Validity {
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// The system roots, loaded once per process (an unreadable store is empty).
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            let loaded = rustls_native_certs::load_native_certs();
            let _ = store.add_parsable_certificates(loaded.certs);
            Arc::new(store)
        })
        .clone()
}

/// Whether the chain leads to a system root or to one of `anchors`, judged at a
/// moment inside the leaf's validity when it is expired (expiry is a check of its
/// own). `Err` carries webpki's reason.
pub fn chains_to_root(chain: &[Vec<u8>], anchors: &[Vec<u8>]) -> Result<(), String> {
    let leaf_der = CertificateDer::from(leaf(chain).map_err(|e| e.to_string())?);
    let parsed = ParsedCertificate::try_from(&leaf_der).map_err(|e| e.to_string())?;
    let mut roots = (*system_roots()).clone();
    for anchor in anchors {
        roots
            .add(CertificateDer::from(anchor.as_slice()))
            .map_err(|e| format!("a trust anchor is unusable: {e}"))?;
    }
    let intermediates: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let algorithms = crate::tls::client::provider()
        .signature_verification_algorithms
        .all;
    let now = UnixTime::now();
    let at = match validity(chain) {
        Ok(v) if v.not_after < now.as_secs() as i64 || v.not_before > now.as_secs() as i64 => {
            UnixTime::since_unix_epoch(Duration::from_secs(
                (v.not_before / 2 + v.not_after / 2).max(0) as u64,
            ))
        }
        _ => now,
    };
    verify_server_cert_signed_by_trust_anchor(&parsed, &roots, &intermediates, at, algorithms)
        .map_err(|e| e.to_string())
}

/// Reads every certificate of the PEM files given to `--ca`, as DER.
pub fn load_pem_files(paths: &[std::path::PathBuf]) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut anchors = Vec::new();
    for path in paths {
        let before = anchors.len();
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("--ca {}: {e}", path.display()))?
        {
            let cert = cert.map_err(|e| format!("--ca {}: {e}", path.display()))?;
            anchors.push(cert.to_vec());
        }
        if anchors.len() == before {
            return Err(format!("--ca {}: no PEM certificate in it", path.display()));
        }
    }
    Ok(anchors)
}

/// One certificate's key, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFinding {
    /// 1-based position in the chain.
    pub index: usize,
    /// `RSA 1024 bits`, `EC 256 bits`, `Ed25519`.
    pub key: String,
    /// Whether it is below RSA 2048 / EC 256.
    pub weak: bool,
}

/// Every certificate's key.
pub fn keys(chain: &[Vec<u8>]) -> Result<Vec<KeyFinding>, CertError> {
    leaf(chain)?;
    chain
        .iter()
        .enumerate()
        .map(|(index, der)| {
            let cert = parse(index, der)?;
            let spki = cert.public_key();
            let (key, weak) = match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => {
                    let bits = bit_length(rsa.modulus);
                    (format!("RSA {bits} bits"), bits < 2048)
                }
                Ok(PublicKey::EC(point)) => {
                    let bits = point.key_size();
                    (format!("EC {bits} bits"), bits < 256)
                }
                Ok(PublicKey::DSA(y)) => {
                    let bits = bit_length(y);
                    (format!("DSA {bits} bits"), bits < 2048)
                }
                _ => match spki.algorithm.algorithm.to_id_string().as_str() {
                    "1.3.101.112" => ("Ed25519".to_string(), false),
                    "1.3.101.113" => ("Ed448".to_string(), false),
                    other => (format!("key of algorithm {other}"), false),
                },
            };
            Ok(KeyFinding {
                index: index + 1,
                key,
                weak,
            })
        })
        .collect()
}

fn bit_length(big_endian: &[u8]) -> usize {
    let trimmed: &[u8] = match big_endian.iter().position(|&b| b != 0) {
        Some(first) => &big_endian[first..],
        None => &[],
    };
    match trimmed.first() {
        Some(&top) => (trimmed.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    }
}

/// A weak signature below the root: position, subject and algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakSignature {
    /// 1-based position in the chain.
    pub index: usize,
    /// The certificate's subject.
    pub subject: String,
    /// `sha1WithRSAEncryption`...
    pub algorithm: &'static str,
}

/// MD2, MD4, MD5 and SHA-1 signatures (RSA, DSA, ECDSA).
const WEAK_SIGNATURES: [(&str, &str); 7] = [
    ("1.2.840.113549.1.1.2", "md2WithRSAEncryption"),
    ("1.2.840.113549.1.1.3", "md4WithRSAEncryption"),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.3.14.3.2.29", "sha1WithRSASignature"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10040.4.3", "dsa-with-sha1"),
];

/// The certificates below the root signed with MD5 or SHA-1. A self-issued
/// certificate (a root someone sent along) is skipped: its signature is never
/// relied upon.
pub fn weak_signatures(chain: &[Vec<u8>]) -> Result<Vec<WeakSignature>, CertError> {
    leaf(chain)?;
    let mut weak = Vec::new();
    for (index, der) in chain.iter().enumerate() {
        let cert = parse(index, der)?;
        if index > 0 && cert.subject() == cert.issuer() {
            continue;
        }
        let oid = cert.signature_algorithm.algorithm.to_id_string();
        if let Some((_, name)) = WEAK_SIGNATURES.iter().find(|(o, _)| *o == oid) {
            weak.push(WeakSignature {
                index: index + 1,
                subject: cert.subject().to_string(),
                algorithm: name,
            });
        }
    }
    Ok(weak)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bits_without_leading_zeros() {
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[]), 0);
    }

    #[test]
    fn rejects_garbage_and_empty_chains() {
        assert_eq!(keys(&[]), Err(CertError::Empty));
        assert!(matches!(
            weak_signatures(&[vec![0x30, 0x03, 1, 2, 3]]),
            Err(CertError::Unreadable { index: 1, .. })
        ));
        assert!(chains_to_root(&[b"junk".to_vec()], &[]).is_err());
    }
}
