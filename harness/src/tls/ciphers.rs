//! Cipher suites by class: which of the IANA suites tls-parser knows are NULL,
//! export-grade, anonymous, RC4, DES/3DES or without forward secrecy. Pure tables,
//! no I/O; the probes offer a class at a time.

use std::fmt;
use tls_parser::{TlsCipherEnc, TlsCipherKx, TlsCipherSuite, TlsCipherSuiteID};

/// TLS_FALLBACK_SCSV (RFC 7507): signals a deliberate fallback to a lower version.
pub const FALLBACK_SCSV: u16 = 0x5600;
/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746).
pub const RENEGOTIATION_SCSV: u16 = 0x00ff;
/// The TLS 1.3 suites (RFC 8446 §B.4).
pub const TLS13_SUITES: [u16; 5] = [0x1301, 0x1302, 0x1303, 0x1304, 0x1305];

/// A class of weak suites a server should refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// No encryption at all.
    Null,
    /// Export-grade (40/56-bit) suites of the 1990s (FREAK, Logjam).
    Export,
    /// Anonymous key exchange: no server authentication.
    Anon,
    /// RC4 (RFC 7465 forbids it).
    Rc4,
    /// Single DES and triple DES (Sweet32).
    Des,
    /// Key exchange without forward secrecy (static RSA, static (EC)DH, PSK...).
    NoForwardSecrecy,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 6] = [
        Class::Null,
        Class::Export,
        Class::Anon,
        Class::Rc4,
        Class::Des,
        Class::NoForwardSecrecy,
    ];

    /// The name used in details and in the benchmark.
    pub fn name(self) -> &'static str {
        match self {
            Class::Null => "NULL",
            Class::Export => "EXPORT",
            Class::Anon => "anonymous",
            Class::Rc4 => "RC4",
            Class::Des => "DES/3DES",
            Class::NoForwardSecrecy => "non-forward-secret",
        }
    }

    /// Whether `suite` belongs to this class.
    pub fn contains(self, suite: &TlsCipherSuite) -> bool {
        match self {
            Class::Null => suite.enc == TlsCipherEnc::Null,
            Class::Export => suite.name.contains("EXPORT"),
            Class::Anon => is_anon(suite),
            Class::Rc4 => suite.enc == TlsCipherEnc::Rc4,
            Class::Des => matches!(suite.enc, TlsCipherEnc::Des | TlsCipherEnc::TripleDes),
            // Anonymous (EC)DH is ephemeral; it is judged by the anonymous class.
            Class::NoForwardSecrecy => {
                !matches!(
                    suite.kx,
                    TlsCipherKx::Dhe | TlsCipherKx::Ecdhe | TlsCipherKx::Tls13
                ) && !is_anon(suite)
            }
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn is_anon(suite: &TlsCipherSuite) -> bool {
    suite.name.contains("_anon_")
}

/// Every suite a ClientHello for SSL 3.0 to TLS 1.2 may offer: the known
/// IANA suites minus TLS 1.3's and the signalling values, in id order so probes are
/// reproducible. `TLS_NULL_WITH_NULL_NULL` is never offered.
pub fn legacy_suites() -> Vec<u16> {
    let mut ids: Vec<u16> = tls_parser::CIPHERS
        .keys()
        .copied()
        .filter(|&id| usable(id))
        .collect();
    ids.sort_unstable();
    ids
}

/// The suites of `class`, in id order: what a probe for the class offers (the
/// same at every version: choosing one that its version cannot carry is the
/// server's mistake, and shows).
pub fn class_suites(class: Class) -> Vec<u16> {
    legacy_suites()
        .into_iter()
        .filter(|&id| TlsCipherSuite::from_id(id).is_some_and(|s| class.contains(s)))
        .collect()
}

fn usable(id: u16) -> bool {
    id != 0x0000 && id != FALLBACK_SCSV && id != RENEGOTIATION_SCSV && !TLS13_SUITES.contains(&id)
}

/// The IANA name of a suite, or its hex id when unknown.
pub fn suite_name(id: u16) -> String {
    match TlsCipherSuite::from_id(id) {
        Some(s) => s.name.to_string(),
        None => format!("{}", TlsCipherSuiteID(id)),
    }
}

/// The classes `id` belongs to.
pub fn classes_of(id: u16) -> Vec<Class> {
    match TlsCipherSuite::from_id(id) {
        Some(suite) => Class::ALL
            .into_iter()
            .filter(|c| c.contains(suite))
            .collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(id: u16) -> &'static str {
        TlsCipherSuite::from_id(id).unwrap().name
    }

    #[test]
    fn classes_hold_the_suites_people_know() {
        // TLS_RSA_WITH_NULL_SHA, TLS_RSA_EXPORT_WITH_RC4_40_MD5, TLS_DH_anon_WITH_AES_128_CBC_SHA,
        // TLS_RSA_WITH_RC4_128_SHA, TLS_RSA_WITH_3DES_EDE_CBC_SHA, TLS_RSA_WITH_AES_128_GCM_SHA256
        assert_eq!(
            classes_of(0x0002),
            vec![Class::Null, Class::NoForwardSecrecy]
        );
        assert!(classes_of(0x0003).contains(&Class::Export));
        assert!(classes_of(0x0003).contains(&Class::Rc4));
        assert_eq!(classes_of(0x0034), vec![Class::Anon]);
        assert_eq!(
            classes_of(0x0005),
            vec![Class::Rc4, Class::NoForwardSecrecy]
        );
        assert_eq!(
            classes_of(0x000a),
            vec![Class::Des, Class::NoForwardSecrecy]
        );
        assert_eq!(classes_of(0x009c), vec![Class::NoForwardSecrecy]);
        // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 is in no class.
        assert!(classes_of(0xc02f).is_empty(), "{}", named(0xc02f));
    }

    #[test]
    fn every_class_is_offerable_and_no_signalling_value_is() {
        for class in Class::ALL {
            assert!(!class_suites(class).is_empty(), "{class}");
        }
        let all = legacy_suites();
        assert!(all.len() > 200);
        for id in [0x0000, FALLBACK_SCSV, RENEGOTIATION_SCSV, 0x1301] {
            assert!(!all.contains(&id));
        }
    }
}
