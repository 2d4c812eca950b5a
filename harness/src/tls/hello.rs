//! The ClientHello encoder: hand-built hellos for any version from SSL 2.0 to TLS 1.3,
//! with exactly the suites, compression methods and extensions a probe asks for.
//! Pure and infallible; nothing here does I/O. (rustls cannot send a hello below
//! TLS 1.2, nor one offering weak suites, which is the whole point of a probe.)

use std::fmt;

/// A protocol version a probe can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// SSL 2.0 (its own record format).
    Ssl2,
    /// SSL 3.0.
    Ssl3,
    /// TLS 1.0.
    Tls10,
    /// TLS 1.1.
    Tls11,
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3 (offered through supported_versions).
    Tls13,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 6] = [
        Version::Ssl2,
        Version::Ssl3,
        Version::Tls10,
        Version::Tls11,
        Version::Tls12,
        Version::Tls13,
    ];

    /// The version's number on the wire.
    pub fn wire(self) -> u16 {
        match self {
            Version::Ssl2 => 0x0002,
            Version::Ssl3 => 0x0300,
            Version::Tls10 => 0x0301,
            Version::Tls11 => 0x0302,
            Version::Tls12 => 0x0303,
            Version::Tls13 => 0x0304,
        }
    }

    /// The version with this wire number.
    pub fn from_wire(wire: u16) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.wire() == wire)
    }

    /// `TLS 1.0`, `SSL 3.0`...
    pub fn name(self) -> &'static str {
        match self {
            Version::Ssl2 => "SSL 2.0",
            Version::Ssl3 => "SSL 3.0",
            Version::Tls10 => "TLS 1.0",
            Version::Tls11 => "TLS 1.1",
            Version::Tls12 => "TLS 1.2",
            Version::Tls13 => "TLS 1.3",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Extension numbers the encoder writes (IANA TLS ExtensionType registry).
pub mod ext {
    /// server_name (RFC 6066).
    pub const SERVER_NAME: u16 = 0;
    /// supported_groups (RFC 8422, RFC 7919).
    pub const SUPPORTED_GROUPS: u16 = 10;
    /// ec_point_formats (RFC 8422).
    pub const EC_POINT_FORMATS: u16 = 11;
    /// signature_algorithms (RFC 5246, RFC 8446).
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    /// supported_versions (RFC 8446).
    pub const SUPPORTED_VERSIONS: u16 = 43;
    /// key_share (RFC 8446).
    pub const KEY_SHARE: u16 = 51;
    /// renegotiation_info (RFC 5746).
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// x25519, secp256r1, secp384r1, secp521r1, ffdhe2048, ffdhe3072, ffdhe4096.
const GROUPS: [u16; 7] = [0x001d, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101, 0x0102];
/// ECDSA, EdDSA, RSA-PSS, RSA PKCS#1 and, for old servers, the SHA-1 forms.
const SIGNATURE_SCHEMES: [u16; 14] = [
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0201,
    0x0203, 0x0402,
];
/// x25519, in key_share.
const X25519: u16 = 0x001d;

/// Compression method numbers (RFC 3749).
pub mod compression {
    /// No compression.
    pub const NULL: u8 = 0;
    /// DEFLATE, the method CRIME exploits.
    pub const DEFLATE: u8 = 1;
}

/// A ClientHello as a probe wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The one version offered: `client_version` up to TLS 1.2, supported_versions
    /// for TLS 1.3.
    pub version: Version,
    /// Cipher suites, in preference order (two-byte ids; SSL 2.0 uses
    /// [`Ssl2ClientHello`]).
    pub suites: Vec<u16>,
    /// Compression methods offered; `[0]` is "none".
    pub compression: Vec<u8>,
    /// The SNI host name; `None` for IP literals (RFC 6066 §3).
    pub server_name: Option<String>,
    /// Whether to send an empty renegotiation_info extension (RFC 5746).
    pub renegotiation_info: bool,
    /// The client random.
    pub random: [u8; 32],
    /// The x25519 key share for TLS 1.3 (any 32 bytes: the probe never finishes).
    pub key_share: [u8; 32],
}

impl ClientHello {
    /// A hello offering `version` and `suites`, no compression, with SNI and
    /// renegotiation_info, fresh random values.
    pub fn new(version: Version, suites: Vec<u16>, server_name: Option<String>) -> ClientHello {
        ClientHello {
            version,
            suites,
            compression: vec![compression::NULL],
            server_name,
            renegotiation_info: true,
            random: rand::random(),
            key_share: rand::random(),
        }
    }

    /// The record-layer version: SSL 3.0 for SSL 3.0 hellos, TLS 1.0 otherwise (what
    /// every client sends, RFC 8446 §5.1, so old servers are not put off).
    pub fn record_version(&self) -> u16 {
        if self.version <= Version::Ssl3 {
            Version::Ssl3.wire()
        } else {
            Version::Tls10.wire()
        }
    }

    /// `client_version`: the offered version up to TLS 1.2, TLS 1.2 for TLS 1.3.
    pub fn client_version(&self) -> u16 {
        self.version.min(Version::Tls12).wire()
    }

    /// The whole record: header, handshake header, body.
    pub fn encode(&self) -> Vec<u8> {
        let body = self.body();
        let mut handshake = Vec::with_capacity(body.len() + 4);
        handshake.push(1); // client_hello
        put_u24(&mut handshake, body.len());
        handshake.extend_from_slice(&body);
        let mut record = Vec::with_capacity(handshake.len() + 5);
        record.push(22); // handshake
        put_u16(&mut record, self.record_version());
        put_u16(&mut record, handshake.len() as u16);
        record.extend_from_slice(&handshake);
        record
    }

    fn body(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + self.suites.len() * 2);
        put_u16(&mut b, self.client_version());
        b.extend_from_slice(&self.random);
        b.push(0); // empty session id
        put_u16(&mut b, (self.suites.len() * 2) as u16);
        for suite in &self.suites {
            put_u16(&mut b, *suite);
        }
        b.push(self.compression.len() as u8);
        b.extend_from_slice(&self.compression);
        let extensions = self.extensions();
        put_u16(&mut b, extensions.len() as u16);
        b.extend_from_slice(&extensions);
        b
    }

    fn extensions(&self) -> Vec<u8> {
        let mut e = Vec::new();
        if let Some(name) = &self.server_name {
            let mut list = vec![0u8]; // host_name
            put_u16(&mut list, name.len() as u16);
            list.extend_from_slice(name.as_bytes());
            put_extension(&mut e, ext::SERVER_NAME, &with_u16_len(&list));
        }
        put_extension(&mut e, ext::SUPPORTED_GROUPS, &with_u16_len(&u16s(&GROUPS)));
        put_extension(&mut e, ext::EC_POINT_FORMATS, &[1, 0]);
        if self.version >= Version::Tls12 {
            let schemes = with_u16_len(&u16s(&SIGNATURE_SCHEMES));
            put_extension(&mut e, ext::SIGNATURE_ALGORITHMS, &schemes);
        }
        if self.renegotiation_info {
            put_extension(&mut e, ext::RENEGOTIATION_INFO, &[0]);
        }
        if self.version == Version::Tls13 {
            put_extension(&mut e, ext::SUPPORTED_VERSIONS, &[2, 0x03, 0x04]);
            let mut share = Vec::with_capacity(36);
            put_u16(&mut share, X25519);
            put_u16(&mut share, 32);
            share.extend_from_slice(&self.key_share);
            put_extension(&mut e, ext::KEY_SHARE, &with_u16_len(&share));
        }
        e
    }
}

/// An SSL 2.0 CLIENT-HELLO (its own two-byte-header record format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssl2ClientHello {
    /// Three-byte SSL 2.0 cipher kinds.
    pub cipher_kinds: Vec<[u8; 3]>,
    /// The 16-byte challenge.
    pub challenge: [u8; 16],
}

impl Ssl2ClientHello {
    /// The seven SSL 2.0 cipher kinds (RC4, RC2, IDEA, DES, 3DES, export forms).
    pub const CIPHER_KINDS: [[u8; 3]; 7] = [
        [0x01, 0x00, 0x80],
        [0x02, 0x00, 0x80],
        [0x03, 0x00, 0x80],
        [0x04, 0x00, 0x80],
        [0x05, 0x00, 0x80],
        [0x06, 0x00, 0x40],
        [0x07, 0x00, 0xc0],
    ];

    /// A hello offering every SSL 2.0 cipher kind.
    pub fn new() -> Ssl2ClientHello {
        Ssl2ClientHello {
            cipher_kinds: Self::CIPHER_KINDS.to_vec(),
            challenge: rand::random(),
        }
    }

    /// The record: `0x80|len` header, MSG-CLIENT-HELLO, version 0x0002, lengths,
    /// cipher kinds, (no session id), challenge.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = vec![1]; // MSG-CLIENT-HELLO
        put_u16(&mut body, Version::Ssl2.wire());
        put_u16(&mut body, (self.cipher_kinds.len() * 3) as u16);
        put_u16(&mut body, 0);
        put_u16(&mut body, self.challenge.len() as u16);
        for kind in &self.cipher_kinds {
            body.extend_from_slice(kind);
        }
        body.extend_from_slice(&self.challenge);
        let mut record = Vec::with_capacity(body.len() + 2);
        put_u16(&mut record, 0x8000 | body.len() as u16);
        record.extend_from_slice(&body);
        record
    }
}

impl Default for Ssl2ClientHello {
    fn default() -> Self {
        Self::new()
    }
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
}

fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn with_u16_len(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    put_u16(&mut out, data.len() as u16);
    out.extend_from_slice(data);
    out
}

fn put_extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    put_u16(out, kind);
    put_u16(out, data.len() as u16);
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tls_parser::{
        parse_tls_client_hello_extensions, parse_tls_plaintext, TlsExtension, TlsMessage,
        TlsMessageHandshake,
    };

    /// client_version, suites, compression methods, extension types, supported_versions.
    type Decoded = (u16, Vec<u16>, Vec<u8>, Vec<u16>, Option<Vec<u16>>);

    fn decode(bytes: &[u8]) -> Decoded {
        let (rest, record) = parse_tls_plaintext(bytes).expect("a TLS record");
        assert!(rest.is_empty(), "trailing bytes");
        let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)) = &record.msg[0] else {
            panic!("not a ClientHello: {:?}", record.msg)
        };
        let (_, extensions) = parse_tls_client_hello_extensions(hello.ext.unwrap()).unwrap();
        let kinds = extensions
            .iter()
            .map(|e| u16::from(tls_parser::TlsExtensionType::from(e)))
            .collect();
        let versions = extensions.iter().find_map(|e| match e {
            TlsExtension::SupportedVersions(v) => Some(v.iter().map(|v| v.0).collect()),
            _ => None,
        });
        (
            hello.version.0,
            hello.ciphers.iter().map(|c| c.0).collect(),
            hello.comp.iter().map(|c| c.0).collect(),
            kinds,
            versions,
        )
    }

    fn version() -> impl Strategy<Value = Version> {
        prop::sample::select(&Version::ALL[1..])
    }

    proptest! {
        #[test]
        fn can_round_trip_client_hellos_through_tls_parser(
            version in version(),
            suites in prop::collection::vec(any::<u16>(), 1..400),
            compression in prop::collection::vec(any::<u8>(), 1..4),
            name in prop::option::of("[a-z]{1,20}(\\.[a-z]{1,10}){0,3}"),
            renegotiation_info in any::<bool>(),
        ) {
            let mut hello = ClientHello::new(version, suites.clone(), name.clone());
            hello.compression = compression.clone();
            hello.renegotiation_info = renegotiation_info;
            let (client_version, got_suites, got_compression, kinds, versions) =
                decode(&hello.encode());
            prop_assert_eq!(client_version, version.min(Version::Tls12).wire());
            prop_assert_eq!(got_suites, suites);
            prop_assert_eq!(got_compression, compression);
            prop_assert_eq!(kinds.contains(&ext::SERVER_NAME), name.is_some());
            prop_assert_eq!(kinds.contains(&ext::RENEGOTIATION_INFO), renegotiation_info);
            prop_assert_eq!(versions, (version == Version::Tls13).then(|| vec![0x0304]));
        }
    }

    #[test]
    fn ssl2_hello_has_its_own_record_format() {
        let hello = Ssl2ClientHello {
            cipher_kinds: vec![[0x07, 0x00, 0xc0]],
            challenge: [0xaa; 16],
        };
        let bytes = hello.encode();
        assert_eq!(
            bytes[..11],
            [0x80, 28, 1, 0x00, 0x02, 0, 3, 0, 0, 0, 16],
            "header, type, version, lengths"
        );
        assert_eq!(bytes.len(), 2 + 28);
    }

    #[test]
    fn ssl3_hellos_use_an_ssl3_record_and_tls13_hellos_a_tls12_client_version() {
        let ssl3 = ClientHello::new(Version::Ssl3, vec![0x000a], None).encode();
        assert_eq!(ssl3[1..3], [3, 0]);
        let tls13 = ClientHello::new(Version::Tls13, vec![0x1301], None);
        let bytes = tls13.encode();
        assert_eq!(bytes[1..3], [3, 1]);
        assert_eq!(bytes[9..11], [3, 3]);
    }
}
