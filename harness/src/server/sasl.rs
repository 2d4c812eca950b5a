//! SASL pieces shared by the three protocols: base64 client responses and
//! the PLAIN mechanism (RFC 4616) checked against the test account.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The outcome of checking credentials.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The test user with the right password.
    Granted,
    /// Well-formed, but not the test account.
    Denied,
    /// Not a PLAIN message at all.
    Malformed,
}

/// Decodes a client response; `=` is the explicit empty response (RFC 4954
/// §4, RFC 4959), and `None` means it was not valid base64.
pub(crate) fn decode(response: &str) -> Option<Vec<u8>> {
    let response = response.trim();
    if response == "=" {
        return Some(Vec::new());
    }
    STANDARD.decode(response).ok()
}

/// Encodes a server challenge.
pub(crate) fn encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Checks a decoded PLAIN message `authzid NUL authcid NUL passwd`.
///
/// Authorising as anybody other than oneself is refused: the test account
/// has no admin rights to act for others.
pub(crate) fn check_plain(message: &[u8], user: &str, password: &str) -> Verdict {
    let mut parts = message.split(|b| *b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Verdict::Malformed;
    };
    if !authzid.is_empty() && authzid != authcid {
        return Verdict::Denied;
    }
    check(authcid, passwd, user, password)
}

/// Compares a username and password with the test account.
pub(crate) fn check(
    given_user: &[u8],
    given_password: &[u8],
    user: &str,
    password: &str,
) -> Verdict {
    if given_user == user.as_bytes() && given_password == password.as_bytes() {
        Verdict::Granted
    } else {
        Verdict::Denied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages() {
        assert_eq!(check_plain(b"\0u\0p", "u", "p"), Verdict::Granted);
        assert_eq!(check_plain(b"u\0u\0p", "u", "p"), Verdict::Granted);
        assert_eq!(check_plain(b"x\0u\0p", "u", "p"), Verdict::Denied);
        assert_eq!(check_plain(b"\0u\0q", "u", "p"), Verdict::Denied);
        assert_eq!(check_plain(b"\0u", "u", "p"), Verdict::Malformed);
        assert_eq!(check_plain(b"\0u\0p\0", "u", "p"), Verdict::Malformed);
        assert_eq!(check_plain(b"", "u", "p"), Verdict::Malformed);
    }

    #[test]
    fn responses() {
        assert_eq!(decode("="), Some(Vec::new()));
        assert_eq!(decode("AHUAcA=="), Some(b"\0u\0p".to_vec()));
        assert_eq!(decode("not base64!"), None);
        assert_eq!(encode(b"Username:"), "VXNlcm5hbWU6");
    }
}
