//! The server's answer to a hand-built ClientHello: a ServerHello (with the
//! certificates of its flight, up to TLS 1.2), an SSL 2.0 SERVER-HELLO, an alert,
//! or bytes that are not TLS at all. Pure and bounded: it never panics, whatever
//! the bytes (proptest below), and says when it needs more.

use crate::session::transcript::escape_bytes;
use crate::tls::hello::{ext, Version};
use tls_parser::{
    parse_tls_handshake_msg_certificate, parse_tls_handshake_server_hello,
    parse_tls_server_hello_extensions, TlsExtension, TlsExtensionType, TlsMessageHandshake,
};

/// The most a server's first flight may take before the parser gives up (a long
/// certificate chain fits many times over).
pub const MAX_FLIGHT: usize = 128 * 1024;
/// The largest record TLS allows (2^14 plus expansion, RFC 5246 §6.2.3).
const MAX_RECORD: usize = 16384 + 2048;

/// The last 8 bytes of ServerHello.random a TLS 1.3 server sets when it negotiates
/// TLS 1.2 (RFC 8446 §4.1.3).
pub const DOWNGRADE_TLS12: [u8; 8] = *b"DOWNGRD\x01";
/// ... and when it negotiates TLS 1.1 or below.
pub const DOWNGRADE_TLS11: [u8; 8] = *b"DOWNGRD\x00";
/// ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// The alert RFC 7507 requires for a fallback the server sees through.
pub const INAPPROPRIATE_FALLBACK: u8 = 86;

/// What the server's ServerHello said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The version negotiated: supported_versions if present, else `server_version`.
    pub version: u16,
    /// ServerHello.random.
    pub random: [u8; 32],
    /// The suite chosen.
    pub cipher: u16,
    /// The compression method chosen.
    pub compression: u8,
    /// The extension types the server sent, in order.
    pub extensions: Vec<u16>,
    /// Whether this is a TLS 1.3 HelloRetryRequest.
    pub hello_retry: bool,
    /// The certificate chain of the flight, leaf first (TLS 1.2 and below only; TLS
    /// 1.3 encrypts it).
    pub certificates: Vec<Vec<u8>>,
}

impl ServerHello {
    /// The negotiated version, when it is one we know.
    pub fn known_version(&self) -> Option<Version> {
        Version::from_wire(self.version)
    }

    /// Whether the server sent renegotiation_info (RFC 5746).
    pub fn secure_renegotiation(&self) -> bool {
        self.extensions.contains(&ext::RENEGOTIATION_INFO)
    }

    /// The last 8 bytes of the random: where the downgrade sentinel goes.
    pub fn random_tail(&self) -> [u8; 8] {
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&self.random[24..]);
        tail
    }

    /// A line for transcripts: `ServerHello: TLS 1.0, TLS_RSA_WITH_AES_128_CBC_SHA`.
    pub fn summary(&self) -> String {
        let version = self
            .known_version()
            .map(|v| v.name().to_string())
            .unwrap_or_else(|| format!("version 0x{:04x}", self.version));
        let kind = if self.hello_retry {
            "HelloRetryRequest"
        } else {
            "ServerHello"
        };
        let mut line = format!(
            "{kind}: {version}, {}",
            crate::tls::ciphers::suite_name(self.cipher)
        );
        if self.compression != 0 {
            line.push_str(&format!(", compression method {}", self.compression));
        }
        if !self.certificates.is_empty() {
            line.push_str(&format!(", {} certificate(s)", self.certificates.len()));
        }
        line
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// A ServerHello: the server accepted.
    Hello(ServerHello),
    /// An SSL 2.0 SERVER-HELLO: the server speaks SSL 2.0.
    Ssl2Hello {
        /// The version it claims.
        version: u16,
        /// The cipher kinds it offers.
        cipher_kinds: Vec<[u8; 3]>,
    },
    /// An alert before any ServerHello: the server refused.
    Alert {
        /// 1 warning, 2 fatal.
        level: u8,
        /// The alert description (RFC 8446 §6).
        description: u8,
    },
    /// Something that is not TLS, such as a plaintext error line.
    NotTls(String),
}

impl Response {
    /// A line for transcripts.
    pub fn summary(&self) -> String {
        match self {
            Response::Hello(hello) => hello.summary(),
            Response::Ssl2Hello { version, .. } => {
                format!("SSL 2.0 SERVER-HELLO (version 0x{version:04x})")
            }
            Response::Alert { level, description } => format!(
                "{} alert: {}",
                if *level == 1 { "warning" } else { "fatal" },
                alert_name(*description)
            ),
            Response::NotTls(text) => format!("not TLS: {text}"),
        }
    }
}

/// Why the bytes cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// A record or message is malformed.
    #[error("malformed TLS from the server: {0}")]
    Malformed(&'static str),
    /// The flight exceeds [`MAX_FLIGHT`].
    #[error("the server's first flight exceeds {MAX_FLIGHT} bytes")]
    TooLong,
}

/// Reads the server's answer from `bytes`. `Ok(None)`: more bytes are needed. With
/// `want_certificates`, a TLS 1.2-or-older ServerHello is complete only with its
/// ServerHelloDone (or whatever ends the flight). With `closed`, the connection has
/// ended: whatever was read is the answer, and `Ok(None)` means nothing was.
pub fn parse(
    bytes: &[u8],
    want_certificates: bool,
    closed: bool,
) -> Result<Option<Response>, ResponseError> {
    if bytes.len() > MAX_FLIGHT {
        return Err(ResponseError::TooLong);
    }
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    match first {
        20..=23 => parse_records(bytes, want_certificates, closed),
        b if b & 0x80 != 0 && bytes.get(2) == Some(&4) => parse_ssl2(bytes, closed),
        b if b & 0x80 != 0 && bytes.len() < 3 && !closed => Ok(None),
        _ => {
            let end = bytes
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(bytes.len());
            if end == bytes.len() && !closed && bytes.len() < 512 {
                return Ok(None);
            }
            Ok(Some(Response::NotTls(
                escape_bytes(&bytes[..end.min(200)]).trim_end().to_string(),
            )))
        }
    }
}

fn parse_ssl2(bytes: &[u8], closed: bool) -> Result<Option<Response>, ResponseError> {
    let len = (usize::from(bytes[0] & 0x7f) << 8) | usize::from(bytes[1]);
    let Some(body) = bytes.get(2..2 + len) else {
        return if closed {
            Err(ResponseError::Malformed("truncated SSL 2.0 record"))
        } else {
            Ok(None)
        };
    };
    let field = |at: usize| -> Result<usize, ResponseError> {
        body.get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or(ResponseError::Malformed("short SSL 2.0 SERVER-HELLO"))
    };
    let version = field(3)? as u16;
    let cert_len = field(5)?;
    let specs_len = field(7)?;
    let specs =
        body.get(11 + cert_len..11 + cert_len + specs_len)
            .ok_or(ResponseError::Malformed(
                "SSL 2.0 cipher specs past the record",
            ))?;
    Ok(Some(Response::Ssl2Hello {
        version,
        cipher_kinds: specs.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(),
    }))
}

fn parse_records(
    bytes: &[u8],
    want_certificates: bool,
    closed: bool,
) -> Result<Option<Response>, ResponseError> {
    let mut handshake = Vec::new();
    let mut at = 0;
    let mut ended = closed;
    while let Some(header) = bytes.get(at..at + 5) {
        let kind = header[0];
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if header[1] != 3 && !(header[1] == 0 && kind == 21) {
            return Err(ResponseError::Malformed("record version is not 3.x"));
        }
        if len > MAX_RECORD {
            return Err(ResponseError::Malformed("record longer than TLS allows"));
        }
        let Some(payload) = bytes.get(at + 5..at + 5 + len) else {
            break;
        };
        at += 5 + len;
        match kind {
            21 if handshake.is_empty() => {
                return match payload {
                    [level, description, ..] => Ok(Some(Response::Alert {
                        level: *level,
                        description: *description,
                    })),
                    _ => Err(ResponseError::Malformed("short alert")),
                };
            }
            22 => handshake.extend_from_slice(payload),
            20 => {}
            // An alert after the ServerHello, or encrypted records: the flight is over.
            21 | 23 => {
                ended = true;
                break;
            }
            _ => return Err(ResponseError::Malformed("unknown record type")),
        }
    }
    read_handshake(&handshake, want_certificates, ended)
}

fn read_handshake(
    mut stream: &[u8],
    want_certificates: bool,
    ended: bool,
) -> Result<Option<Response>, ResponseError> {
    let mut hello: Option<ServerHello> = None;
    while stream.len() >= 4 {
        let kind = stream[0];
        let len = u32::from_be_bytes([0, stream[1], stream[2], stream[3]]) as usize;
        let Some(body) = stream.get(4..4 + len) else {
            break;
        };
        stream = &stream[4 + len..];
        match (kind, hello.as_mut()) {
            (2, None) => {
                let parsed = server_hello(body)?;
                let done = parsed.hello_retry
                    || parsed.version >= Version::Tls13.wire()
                    || !want_certificates;
                hello = Some(parsed);
                if done {
                    break;
                }
            }
            (2, Some(_)) => return Err(ResponseError::Malformed("a second ServerHello")),
            (_, None) => {
                return Err(ResponseError::Malformed(
                    "a handshake message before ServerHello",
                ))
            }
            (11, Some(h)) => h.certificates = certificates(body)?,
            (14, Some(_)) => return Ok(hello.map(Response::Hello)),
            (_, Some(_)) => {}
        }
    }
    match hello {
        Some(h) if ended || h.hello_retry || h.version >= 0x0304 || !want_certificates => {
            Ok(Some(Response::Hello(h)))
        }
        _ if ended && stream.is_empty() => Ok(None),
        _ if ended => Err(ResponseError::Malformed("truncated handshake message")),
        _ => Ok(None),
    }
}

fn server_hello(body: &[u8]) -> Result<ServerHello, ResponseError> {
    let malformed = |_| ResponseError::Malformed("unreadable ServerHello");
    let (_, contents) = parse_tls_handshake_server_hello(body).map_err(malformed)?;
    let random: [u8; 32] = contents
        .random
        .try_into()
        .map_err(|_| ResponseError::Malformed("ServerHello.random is not 32 bytes"))?;
    let mut version = contents.version.0;
    let mut extensions = Vec::new();
    if let Some(raw) = contents.ext {
        let (_, list) = parse_tls_server_hello_extensions(raw)
            .map_err(|_| ResponseError::Malformed("unreadable ServerHello extensions"))?;
        for extension in &list {
            if let TlsExtension::SupportedVersions(versions) = extension {
                if let Some(v) = versions.first() {
                    version = v.0;
                }
            }
            extensions.push(u16::from(TlsExtensionType::from(extension)));
        }
    }
    Ok(ServerHello {
        version,
        hello_retry: random == HELLO_RETRY_RANDOM,
        random,
        cipher: contents.cipher.0,
        compression: contents.compression.0,
        extensions,
        certificates: Vec::new(),
    })
}

fn certificates(body: &[u8]) -> Result<Vec<Vec<u8>>, ResponseError> {
    // tls-parser wants the whole message, header included.
    let mut message = Vec::with_capacity(body.len() + 4);
    message.push(11);
    message.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    message.extend_from_slice(body);
    match parse_tls_handshake_msg_certificate(&message[4..]) {
        Ok((_, TlsMessageHandshake::Certificate(c))) => {
            Ok(c.cert_chain.iter().map(|c| c.data.to_vec()).collect())
        }
        _ => Err(ResponseError::Malformed("unreadable Certificate message")),
    }
}

/// The RFC name of an alert description.
pub fn alert_name(description: u8) -> String {
    let name = match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        47 => "illegal_parameter",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        120 => "no_application_protocol",
        other => return format!("alert {other}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(
            bytes in prop::collection::vec(any::<u8>(), 0..2048),
            want in any::<bool>(),
            closed in any::<bool>(),
        ) {
            let _ = parse(&bytes, want, closed);
        }

        #[test]
        fn never_panics_on_mutated_records(
            kind in 20u8..24,
            body in prop::collection::vec(any::<u8>(), 0..600),
            closed in any::<bool>(),
        ) {
            let mut bytes = vec![kind, 3, 3];
            bytes.extend_from_slice(&(body.len() as u16).to_be_bytes());
            bytes.extend_from_slice(&body);
            let _ = parse(&bytes, true, closed);
        }
    }

    #[test]
    fn reads_an_alert() {
        assert_eq!(
            parse(&[21, 3, 1, 0, 2, 2, 70], false, false),
            Ok(Some(Response::Alert {
                level: 2,
                description: 70
            }))
        );
    }

    #[test]
    fn waits_for_more_and_reports_plaintext() {
        assert_eq!(parse(&[22, 3, 3, 0, 90, 2], false, false), Ok(None));
        assert_eq!(parse(&[22, 3, 3, 0, 90, 2], false, true), Ok(None));
        assert_eq!(
            parse(b"454 4.7.0 TLS not available\r\n", false, false),
            Ok(Some(Response::NotTls("454 4.7.0 TLS not available".into())))
        );
    }

    #[test]
    fn rejects_oversized_flights() {
        assert_eq!(
            parse(&vec![22; MAX_FLIGHT + 1], true, true),
            Err(ResponseError::TooLong)
        );
    }

    #[test]
    fn reads_an_ssl2_server_hello() {
        // MSG-SERVER-HELLO, no session hit, X.509, version 2, 0-byte cert, one kind, 16-byte id.
        let mut body = vec![4, 0, 1, 0, 2, 0, 0, 0, 3, 0, 16, 7, 0, 0xc0];
        body.extend_from_slice(&[0xab; 16]);
        let mut bytes = vec![0x80, body.len() as u8];
        bytes.extend_from_slice(&body);
        assert_eq!(
            parse(&bytes, false, false),
            Ok(Some(Response::Ssl2Hello {
                version: 2,
                cipher_kinds: vec![[7, 0, 0xc0]]
            }))
        );
    }
}
