//! Writes new sessions from each protocol's grammar, walking its states in order:
//! a few commands before TLS, then (usually) EHLO/CAPABILITY, STARTTLS and commands
//! inside TLS, then (often) a login with the target's credentials and the commands
//! of the logged-in state, mail transactions with DATA bodies and APPENDs with
//! literals among them. Arguments come from small dictionaries, with a share of
//! hostile values (long runs, NUL, bare CR/LF, non-ASCII) mixed in.

use super::case::{Case, Step};
use crate::target::Protocol;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::seq::SliceRandom;
use rand::Rng;

/// Where in the protocol's state machine a command is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// After the greeting, before TLS.
    PreTls,
    /// Inside TLS, not logged in.
    Tls,
    /// Inside TLS and logged in.
    LoggedIn,
}

/// Lengths of the long runs the generator and the mutator use: around the
/// buffer sizes C servers like (255/256, 512, 1024) and line limits.
pub const LONG_LENGTHS: [usize; 8] = [64, 255, 256, 257, 512, 1000, 1025, 3000];

/// Ordinary tokens: names, addresses, numbers, keywords servers special-case.
const WORDS: [&str; 16] = [
    "fuzz",
    "postmaster",
    "a@b.test",
    "<>",
    "0",
    "1",
    "4294967296",
    "-1",
    "*",
    "INBOX",
    "NIL",
    "=",
    "%s%n",
    "..",
    "\"x\"",
    "()",
];

/// One argument: usually a dictionary word, sometimes something hostile.
pub fn word(rng: &mut impl Rng) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0 => long_run(rng),
        1 => [
            b"x\0y".as_slice(),
            b"x\ry",
            b"x\ny",
            "é\u{202e}".as_bytes(),
            b"\xff\xfe",
        ]
        .choose(rng)
        .map(|b| b.to_vec())
        .unwrap_or_default(),
        2 => Vec::new(),
        _ => WORDS.choose(rng).unwrap_or(&"x").as_bytes().to_vec(),
    }
}

/// A run of one repeated byte at one of [`LONG_LENGTHS`].
pub fn long_run(rng: &mut impl Rng) -> Vec<u8> {
    let len = *LONG_LENGTHS.choose(rng).unwrap_or(&256);
    let byte = *[b'A', b'%', b'\\', b'"', b'{'].choose(rng).unwrap_or(&b'A');
    vec![byte; len]
}

/// A SASL PLAIN message `authzid NUL authcid NUL passwd`, base64-encoded, with
/// each field an ordinary or hostile [`word`] (the authzid empty half the time).
pub fn sasl_plain(rng: &mut impl Rng) -> String {
    let authzid = if rng.gen_bool(0.5) {
        Vec::new()
    } else {
        word(rng)
    };
    let mut message = authzid;
    message.push(0);
    message.extend(word(rng));
    message.push(0);
    message.extend(word(rng));
    STANDARD.encode(message)
}

fn line(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = parts.join(&b' ');
    out.extend_from_slice(b"\r\n");
    out
}

/// A new session for `protocol`.
pub fn generate(protocol: Protocol, rng: &mut impl Rng) -> Case {
    let mut gen = Generator {
        protocol,
        tag: 0,
        steps: Vec::new(),
    };
    for _ in 0..rng.gen_range(0..3) {
        gen.command(Phase::PreTls, rng);
    }
    if rng.gen_bool(0.85) {
        gen.hello(rng);
        gen.steps.push(Step::StartTls);
        gen.hello(rng);
        for _ in 0..rng.gen_range(0..4) {
            gen.command(Phase::Tls, rng);
        }
        if rng.gen_bool(0.4) {
            gen.steps.push(Step::Login);
            for _ in 0..rng.gen_range(0..4) {
                gen.command(Phase::LoggedIn, rng);
            }
        }
    }
    if rng.gen_bool(0.7) {
        gen.quit();
    }
    Case {
        protocol,
        steps: gen.steps,
    }
}

/// Builds one session's steps; keeps the IMAP tag counter.
struct Generator {
    protocol: Protocol,
    tag: u32,
    steps: Vec<Step>,
}

impl Generator {
    fn next_tag(&mut self) -> Vec<u8> {
        self.tag += 1;
        format!("f{}", self.tag).into_bytes()
    }

    fn send(&mut self, bytes: Vec<u8>) {
        self.steps.push(Step::send(bytes, 1));
    }

    /// A line `TAG VERB args` for IMAP, `VERB args` otherwise.
    fn cmd(&mut self, verb: &str, args: &[&[u8]]) {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(args.len() + 2);
        let tag = self.next_tag();
        if self.protocol == Protocol::Imap {
            parts.push(&tag);
        }
        parts.push(verb.as_bytes());
        parts.extend_from_slice(args);
        self.send(line(&parts));
    }

    fn hello(&mut self, rng: &mut impl Rng) {
        match self.protocol {
            Protocol::Smtp => self.cmd("EHLO", &[b"fuzz.mailtls.test"]),
            Protocol::Imap => self.cmd("CAPABILITY", &[]),
            Protocol::Pop3 if rng.gen_bool(0.5) => self.cmd("CAPA", &[]),
            Protocol::Pop3 => {}
        }
    }

    fn quit(&mut self) {
        match self.protocol {
            Protocol::Imap => self.cmd("LOGOUT", &[]),
            _ => self.cmd("QUIT", &[]),
        }
    }

    fn command(&mut self, phase: Phase, rng: &mut impl Rng) {
        match self.protocol {
            Protocol::Smtp => self.smtp(phase, rng),
            Protocol::Imap => self.imap(phase, rng),
            Protocol::Pop3 => self.pop3(rng),
        }
    }

    fn smtp(&mut self, phase: Phase, rng: &mut impl Rng) {
        let w = word(rng);
        match rng.gen_range(0..11) {
            0 => self.cmd(["EHLO", "HELO"].choose(rng).unwrap_or(&"EHLO"), &[&w]),
            1 => self.cmd(
                ["NOOP", "RSET", "HELP", "VRFY"]
                    .choose(rng)
                    .unwrap_or(&"NOOP"),
                &[&w],
            ),
            2 => self.cmd("MAIL", &[&[b"FROM:<".as_slice(), &w, b">"].concat()]),
            3 => self.cmd("RCPT", &[&[b"TO:<".as_slice(), &w, b">"].concat()]),
            4 | 5 if phase != Phase::PreTls || rng.gen_bool(0.2) => {
                let sasl = sasl_plain(rng);
                self.cmd("AUTH", &[b"PLAIN", sasl.as_bytes()]);
            }
            6 if phase != Phase::PreTls => {
                self.cmd("AUTH", &[b"LOGIN"]);
                self.send(line(&[STANDARD.encode(&w).as_bytes()]));
                self.send(line(&[STANDARD.encode(word(rng)).as_bytes()]));
            }
            7 => {
                self.cmd("AUTH", &[b"PLAIN"]);
                self.send(line(&[sasl_plain(rng).as_bytes()]));
            }
            8 | 9 => {
                self.cmd("MAIL", &[b"FROM:<fuzz@mailtls.test>"]);
                // Every server must accept its postmaster (RFC 5321 4.5.1), so the
                // transaction reaches DATA on real servers too, not only ours.
                self.cmd("RCPT", &[b"TO:<postmaster@mail.mailtls.test>"]);
                self.cmd("DATA", &[]);
                let mut body = b"Subject: fuzz\r\n\r\n".to_vec();
                body.extend(w);
                body.extend_from_slice(b"\r\n.\r\n");
                self.send(body);
            }
            _ => self.cmd(
                ["XFUZZ", "BDAT", "ETRN", "STARTTLS"]
                    .choose(rng)
                    .unwrap_or(&"X"),
                &[&w],
            ),
        }
    }

    fn imap(&mut self, phase: Phase, rng: &mut impl Rng) {
        let w = word(rng);
        match rng.gen_range(0..10) {
            0 => self.cmd(
                ["NOOP", "CAPABILITY", "ID", "ENABLE"]
                    .choose(rng)
                    .unwrap_or(&"NOOP"),
                &[&w],
            ),
            1 => self.cmd("LOGIN", &[&w, &word(rng)]),
            2 | 3 => {
                self.cmd("AUTHENTICATE", &[b"PLAIN"]);
                self.send(line(&[sasl_plain(rng).as_bytes()]));
            }
            4 => self.cmd(
                ["SELECT", "EXAMINE", "STATUS", "DELETE"]
                    .choose(rng)
                    .unwrap_or(&"SELECT"),
                &[b"INBOX", &w],
            ),
            5 => self.cmd("LIST", &[b"\"\"", &w]),
            6 | 7 if phase == Phase::LoggedIn || rng.gen_bool(0.3) => {
                // APPEND with a synchronizing literal: the server answers `+` first.
                let mut message = b"Subject: fuzz\r\n\r\n".to_vec();
                message.extend(w);
                let count = format!("{{{}}}", message.len());
                self.cmd("APPEND", &[b"INBOX", count.as_bytes()]);
                message.extend_from_slice(b"\r\n");
                self.send(message);
            }
            8 => self.cmd(
                ["FETCH", "SEARCH", "STORE"].choose(rng).unwrap_or(&"FETCH"),
                &[b"1", &w],
            ),
            _ => self.cmd(
                ["XFUZZ", "STARTTLS", "UNSELECT"]
                    .choose(rng)
                    .unwrap_or(&"X"),
                &[&w],
            ),
        }
    }

    fn pop3(&mut self, rng: &mut impl Rng) {
        let w = word(rng);
        match rng.gen_range(0..8) {
            0 => self.cmd(
                ["STAT", "LIST", "UIDL", "NOOP", "RSET", "CAPA"]
                    .choose(rng)
                    .unwrap_or(&"STAT"),
                &[],
            ),
            1 => self.cmd(
                ["RETR", "DELE", "LIST", "UIDL"]
                    .choose(rng)
                    .unwrap_or(&"RETR"),
                &[&w],
            ),
            2 => self.cmd("TOP", &[&w, b"0"]),
            3 => {
                self.cmd("USER", &[&w]);
                self.cmd("PASS", &[&word(rng)]);
            }
            4 | 5 => {
                let sasl = sasl_plain(rng);
                self.cmd("AUTH", &[b"PLAIN", sasl.as_bytes()]);
            }
            _ => self.cmd(["XFUZZ", "STLS", "APOP"].choose(rng).unwrap_or(&"X"), &[&w]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn sessions_walk_the_states_in_order() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for protocol in Protocol::ALL {
            for _ in 0..200 {
                let case = generate(protocol, &mut rng);
                let tls = case.steps.iter().position(|s| *s == Step::StartTls);
                if let Some(login) = case.steps.iter().position(|s| *s == Step::Login) {
                    assert!(tls.is_some_and(|t| t < login), "{case:?}");
                }
                for step in &case.steps {
                    if let Step::Send { segments, .. } = step {
                        assert!(segments[0].0.ends_with(b"\r\n"), "{case:?}");
                    }
                }
            }
        }
    }
}
