//! Credentials written the way each protocol requires. IMAP: an `astring`
//! (quoted with `\` and `"` escaped, or a literal whose bytes follow the server's
//! `+`), so a command is a list of chunks, each after the first sent only once
//! the server has said `+`. POP3: `USER`/`PASS` take the rest of the line, so a
//! CR or LF cannot be sent. SASL PLAIN: NUL separates the fields, so a NUL
//! cannot be sent. What cannot be sent is refused with an error that says why
//! and never shows the value.

use super::imap::AstringForm;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Which credential a [`CredentialError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The user name.
    User,
    /// The password.
    Password,
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Field::User => "user name",
            Field::Password => "password",
        })
    }
}

/// A credential the protocol cannot carry. Never holds the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {field} contains {what}, which {carrier} cannot carry; use credentials without it")]
pub struct CredentialError {
    /// The user name or the password.
    pub field: Field,
    /// `a CR or LF`, `a NUL byte`.
    pub what: &'static str,
    /// Where it would go: `POP3's PASS (it takes the rest of the line)`.
    pub carrier: &'static str,
}

/// An IMAP command split where a literal needs the server's go-ahead: the first
/// chunk is sent at once, each later one only after a `+` continuation request
/// (anything else there is the command's answer, and the rest is not sent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImapChunks {
    chunks: Vec<Vec<u8>>,
}

impl ImapChunks {
    /// An empty command.
    pub fn new() -> ImapChunks {
        ImapChunks {
            chunks: vec![Vec::new()],
        }
    }

    /// Appends bytes as they are.
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        self.current().extend_from_slice(bytes);
    }

    /// Appends `value` as an IMAP astring: quoted, or a literal whose `{n}` ends
    /// this chunk (with CRLF) and whose bytes start the next. A NUL cannot be
    /// sent in either (CHAR8 excludes it).
    pub fn push_astring(&mut self, field: Field, value: &[u8]) -> Result<(), CredentialError> {
        if value.contains(&0) {
            return Err(CredentialError {
                field,
                what: "a NUL byte",
                carrier: "an IMAP quoted string or literal",
            });
        }
        let form = AstringForm::of(value);
        self.push_bytes(&form.on_line());
        if let AstringForm::Literal(bytes) = form {
            self.push_bytes(b"\r\n");
            self.chunks.push(bytes);
        }
        Ok(())
    }

    /// The chunks, in order; the first is never empty once anything was pushed.
    pub fn chunks(&self) -> &[Vec<u8>] {
        &self.chunks
    }

    /// Every byte, as the server receives them in the end.
    pub fn joined(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    fn current(&mut self) -> &mut Vec<u8> {
        if self.chunks.is_empty() {
            self.chunks.push(Vec::new());
        }
        let last = self.chunks.len() - 1;
        &mut self.chunks[last]
    }
}

/// `TAG LOGIN user password` CRLF, each argument an astring.
pub fn imap_login(tag: &str, user: &str, password: &str) -> Result<ImapChunks, CredentialError> {
    let mut command = ImapChunks::new();
    command.push_bytes(format!("{tag} LOGIN ").as_bytes());
    command.push_astring(Field::User, user.as_bytes())?;
    command.push_bytes(b" ");
    command.push_astring(Field::Password, password.as_bytes())?;
    command.push_bytes(b"\r\n");
    Ok(command)
}

/// A value that goes to the end of a command line (POP3 `USER`/`PASS`, or any
/// plain line): refused when it holds CR, LF or NUL.
pub fn line_argument<'a>(
    field: Field,
    value: &'a str,
    carrier: &'static str,
) -> Result<&'a str, CredentialError> {
    if value.contains(['\r', '\n']) {
        return Err(CredentialError {
            field,
            what: "a CR or LF",
            carrier,
        });
    }
    if value.contains('\0') {
        return Err(CredentialError {
            field,
            what: "a NUL byte",
            carrier,
        });
    }
    Ok(value)
}

/// POP3 `USER name` (without CRLF).
pub fn pop3_user(user: &str) -> Result<String, CredentialError> {
    let user = line_argument(
        Field::User,
        user,
        "POP3's USER (it takes the rest of the line)",
    )?;
    Ok(format!("USER {user}"))
}

/// POP3 `PASS secret` (without CRLF).
pub fn pop3_pass(password: &str) -> Result<String, CredentialError> {
    let password = line_argument(
        Field::Password,
        password,
        "POP3's PASS (it takes the rest of the line)",
    )?;
    Ok(format!("PASS {password}"))
}

/// The SASL PLAIN initial response, base64 (RFC 4616: `\0user\0password`); a
/// NUL inside either field would move the separators.
pub fn sasl_plain(user: &str, password: &str) -> Result<String, CredentialError> {
    for (field, value) in [(Field::User, user), (Field::Password, password)] {
        if value.contains('\0') {
            return Err(CredentialError {
                field,
                what: "a NUL byte",
                carrier: "SASL PLAIN (NUL separates its fields)",
            });
        }
    }
    Ok(STANDARD.encode(format!("\0{user}\0{password}")))
}

/// One SASL LOGIN response, base64: any bytes can be carried.
pub fn sasl_login(value: &str) -> String {
    STANDARD.encode(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_quote_and_split_imap_logins() {
        let quoted = imap_login("a1", "mailtls", r#"Zq9\Hunter"2"#).unwrap();
        assert_eq!(
            quoted.chunks(),
            [br#"a1 LOGIN "mailtls" "Zq9\\Hunter\"2""#
                .iter()
                .chain(b"\r\n")
                .copied()
                .collect::<Vec<u8>>()]
        );
        let literal = imap_login("a1", "mailtls", "pässword").unwrap();
        assert_eq!(
            literal.chunks(),
            [
                b"a1 LOGIN \"mailtls\" {9}\r\n".to_vec(),
                "pässword\r\n".as_bytes().to_vec()
            ]
        );
        let both = imap_login("a1", "üser", "a\r\nb").unwrap();
        assert_eq!(both.chunks().len(), 3);
        assert_eq!(
            both.joined(),
            "a1 LOGIN {5}\r\nüser {4}\r\na\r\nb\r\n".as_bytes()
        );
    }

    #[test]
    fn rejects_what_a_protocol_cannot_carry_without_showing_it() {
        let errors = [
            imap_login("a1", "u", "x\0secret").unwrap_err(),
            pop3_pass("x\r\nsecret").unwrap_err(),
            pop3_user("a\nb").unwrap_err(),
            sasl_plain("u", "x\0secret").unwrap_err(),
        ];
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(text.iter().all(|t| !t.contains("secret")), "{text:?}");
        assert_eq!(
            text[1],
            "the password contains a CR or LF, which POP3's PASS (it takes the rest of the line) cannot carry; use credentials without it"
        );
        assert_eq!(pop3_pass(r#"p"\{%"#).unwrap(), r#"PASS p"\{%"#);
        assert_eq!(sasl_plain("u", "p").unwrap(), STANDARD.encode("\0u\0p"));
    }
}
