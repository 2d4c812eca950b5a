//! The client-script parser: the grammar of server scripts with the roles mirrored,
//! sharing their metadata, `else` clauses, templates and file:line:column errors.
//!
//! ```text
//! id: client.smtp.starttls-missing       metadata as in server scripts, plus
//! certificate: trusted                   trusted | self-signed | unknown-ca | wrong-host | expired
//! S: 220 ${host} ESMTP                   send a line (CRLF added) in its own segment
//! S+ 250 injected                        ...and this one in the same segment
//! RAW: 250 x\r\n                         send exact bytes
//! C: EHLO|HELO else error "no greeting"  expect one client command (verbs, optional /regex/);
//!                                        the same question as before (a second CAPA)
//!                                        is answered with the script's last answer
//! C: never AUTH|MAIL else fail "..."     serve stock replies until the client leaves;
//!                                        unmet if a matching command arrives
//! TLS else pass "refused the cert"       server side of the handshake
//! C: silence 300ms / C: close            expect nothing / expect the client to close
//! ```

use super::ast::*;
use crate::scenario::ast::Otherwise;
use crate::scenario::parse::{can_fail, parse_duration, split_head, tokenize, Shared, Token};
use crate::scenario::{Meta, Needs, ScenarioError};

const STEP_KINDS: &str = "S:, S+, RAW:, RAW+, C:, TLS";
const NEXT_TAG: &str = "${nexttag}";

/// Parses one client script. `source_name` is used in errors and reports.
pub fn parse_client(source_name: &str, text: &str) -> Result<ClientScenario, ScenarioError> {
    let mut parser = ClientParser {
        shared: Shared::new(source_name),
        source_name,
        certificate: CertKind::Trusted,
        steps: Vec::new(),
    };
    for (index, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        parser.line(index + 1, line.len() - trimmed.len(), trimmed, line)?;
    }
    parser.finish()
}

struct ClientParser<'a> {
    shared: Shared<'a>,
    source_name: &'a str,
    certificate: CertKind,
    steps: Vec<ClientStep>,
}

impl ClientParser<'_> {
    fn line(
        &mut self,
        no: usize,
        indent: usize,
        body: &str,
        full: &str,
    ) -> Result<(), ScenarioError> {
        let col = |offset: usize| indent + body[..offset].chars().count() + 1;
        let (head, rest, rest_offset) = split_head(body);
        match head {
            "S:" | "S+" | "RAW:" | "RAW+" => {
                let mut template = self.template(rest, no, col(rest_offset), full)?;
                if head.starts_with('S') {
                    template
                        .0
                        .push(ClientPiece::Shared(crate::scenario::ast::Template(vec![
                            crate::scenario::ast::Piece::Bytes(b"\r\n".to_vec()),
                        ])));
                }
                if head.ends_with('+') {
                    match self.steps.last_mut() {
                        Some(ClientStep {
                            action: ClientAction::Send(parts),
                            ..
                        }) => parts.push(template),
                        _ => {
                            return Err(self.shared.err(
                                no,
                                col(0),
                                format!("`{head}` continues a segment, but the step before it is not `S:` or `RAW:`"),
                                full,
                            ))
                        }
                    }
                } else {
                    self.push(no, ClientAction::Send(vec![template]), Otherwise::default());
                }
                Ok(())
            }
            "C:" | "TLS" => {
                let tokens = tokenize(rest).map_err(|(offset, msg)| {
                    self.shared.err(no, col(rest_offset + offset), msg, full)
                })?;
                let (pattern, otherwise) =
                    self.shared
                        .split_else(tokens, no, &col, rest_offset, full)?;
                let at = |offset: usize| col(rest_offset + offset);
                let action = if head == "TLS" {
                    if let Some((_, offset)) = pattern.first() {
                        return Err(self.shared.err(
                            no,
                            at(*offset),
                            "`TLS` takes nothing but an optional `else` clause",
                            full,
                        ));
                    }
                    ClientAction::StartTls
                } else {
                    self.expectation(pattern, no, &at, col(rest_offset), full)?
                };
                self.push(no, action, otherwise);
                Ok(())
            }
            "CAP:" => Err(self.shared.err(
                no,
                col(0),
                "`CAP:` tests a server's capabilities; in a client script the harness is the server: send them with `S:`",
                full,
            )),
            _ => {
                if let Some(key) = head.strip_suffix(':') {
                    if self.steps.is_empty() {
                        return self.meta_line(key, rest.trim(), no, col(0), full);
                    }
                }
                Err(self.shared.err(
                    no,
                    col(0),
                    format!("unknown step `{head}`; expected one of {STEP_KINDS} (the harness plays the server: `S:` is what it sends, `C:` what it expects of the client)"),
                    full,
                ))
            }
        }
    }

    fn meta_line(
        &mut self,
        key: &str,
        value: &str,
        no: usize,
        column: usize,
        full: &str,
    ) -> Result<(), ScenarioError> {
        const SHARED_KEYS: [&str; 8] = [
            "id",
            "title",
            "protocol",
            "severity",
            "references",
            "pass",
            "needs",
            "policies",
        ];
        if SHARED_KEYS.contains(&key) {
            return self.shared.meta_line(key, value, no, column, full);
        }
        if key != "certificate" {
            return Err(self.shared.err(
                no,
                column,
                format!("`{key}:` is neither metadata (id, title, protocol, severity, references, pass, certificate) nor a step ({STEP_KINDS})"),
                full,
            ));
        }
        let value_col = full.find(':').map_or(1, |i| {
            let after = &full[i + 1..];
            i + 2 + (after.len() - after.trim_start().len())
        });
        self.certificate = CertKind::ALL
            .iter()
            .find(|(_, name)| *name == value)
            .map(|(kind, _)| *kind)
            .ok_or_else(|| {
                self.shared.err(
                    no,
                    value_col,
                    format!("unknown certificate `{value}` (expected trusted, self-signed, unknown-ca, wrong-host or expired)"),
                    full,
                )
            })?;
        Ok(())
    }

    fn push(&mut self, line: usize, action: ClientAction, otherwise: Otherwise) {
        self.steps.push(ClientStep {
            line,
            action,
            otherwise,
        });
    }

    /// Shared templates, with `${nexttag}` cut out before they see it.
    fn template(
        &mut self,
        text: &str,
        no: usize,
        column: usize,
        full: &str,
    ) -> Result<ClientTemplate, ScenarioError> {
        let mut pieces = Vec::new();
        let mut offset = 0;
        for (i, chunk) in text.split(NEXT_TAG).enumerate() {
            if i > 0 {
                pieces.push(ClientPiece::NextTag);
                offset += NEXT_TAG.len();
            }
            if !chunk.is_empty() {
                let chunk_col = column + text[..offset].chars().count();
                pieces.push(ClientPiece::Shared(
                    self.shared.template(chunk, no, chunk_col, full)?,
                ));
            }
            offset += chunk.len();
        }
        Ok(ClientTemplate(pieces))
    }

    fn expectation(
        &self,
        tokens: Vec<(Token, usize)>,
        no: usize,
        at: &dyn Fn(usize) -> usize,
        end_col: usize,
        full: &str,
    ) -> Result<ClientAction, ScenarioError> {
        let help = "a client expectation is `C: VERB|VERB [/regex/]`, `C: never VERB|VERB [/regex/]`, `C: silence 300ms` or `C: close`";
        let mut words = tokens.into_iter().peekable();
        let never = matches!(words.peek(), Some((Token::Word(w), _)) if w == "never");
        if never {
            words.next();
        }
        let mut verbs = Vec::new();
        let mut text = None;
        let mut written = Vec::new();
        if let Some((Token::Word(first), off)) = words.peek().cloned() {
            match first.as_str() {
                "silence" | "close" if !never => {
                    words.next();
                    let action = if first == "close" {
                        ClientAction::Close
                    } else {
                        match words.next() {
                            Some((Token::Word(d), off)) => {
                                ClientAction::Silence(parse_duration(&d).ok_or_else(|| {
                                    self.shared.err(
                                        no,
                                        at(off),
                                        format!(
                                            "`{d}` is not a duration; write e.g. `300ms` or `2s`"
                                        ),
                                        full,
                                    )
                                })?)
                            }
                            _ => {
                                return Err(self.shared.err(
                                    no,
                                    at(off),
                                    "`silence` needs a duration, e.g. `C: silence 300ms`",
                                    full,
                                ))
                            }
                        }
                    };
                    if let Some((_, off)) = words.next() {
                        return Err(self.shared.err(
                            no,
                            at(off),
                            "unexpected text; expected `else` or the end of the line",
                            full,
                        ));
                    }
                    return Ok(action);
                }
                _ => {
                    words.next();
                    for verb in first.split('|') {
                        if verb.is_empty() || !verb.chars().all(|c| c.is_ascii_alphabetic()) {
                            return Err(self.shared.err(
                                no,
                                at(off),
                                format!("`{verb}` is not a command verb: {help}"),
                                full,
                            ));
                        }
                        verbs.push(verb.to_ascii_uppercase());
                    }
                    written.push(first.clone());
                }
            }
        }
        match words.next() {
            None => {}
            Some((Token::Regex(r), off)) => {
                written.push(format!("/{r}/"));
                text = Some(regex::Regex::new(&r).map_err(|e| {
                    self.shared.err(
                        no,
                        at(off),
                        format!("bad regex: {}", e.to_string().lines().last().unwrap_or("")),
                        full,
                    )
                })?);
            }
            Some((_, off)) => return Err(self.shared.err(no, at(off), help, full)),
        }
        if let Some((_, off)) = words.next() {
            return Err(self.shared.err(
                no,
                at(off),
                "unexpected text; expected `else` or the end of the line",
                full,
            ));
        }
        if verbs.is_empty() && text.is_none() {
            return Err(self.shared.err(no, end_col, help, full));
        }
        let pattern = CommandPattern {
            verbs,
            text,
            written: written.join(" "),
        };
        Ok(if never {
            ClientAction::Never(pattern)
        } else {
            ClientAction::Expect(pattern)
        })
    }

    fn finish(self) -> Result<ClientScenario, ScenarioError> {
        let whole = |message: String| ScenarioError {
            source_name: self.source_name.to_string(),
            line: 1,
            column: 1,
            message,
            text: None,
        };
        let (id, title, protocol, severity, references, pass, needs_or_policies) =
            self.shared.meta();
        let missing: Vec<&str> = [
            ("id", id.is_none()),
            ("title", title.is_none()),
            ("protocol", protocol.is_none()),
            ("severity", severity.is_none()),
        ]
        .into_iter()
        .filter_map(|(k, missing)| missing.then_some(k))
        .collect();
        let (Some(id), Some(title), Some(protocol), Some(severity)) =
            (id, title, protocol, severity)
        else {
            return Err(whole(format!("missing metadata: {}", missing.join(", "))));
        };
        if !id.starts_with(&format!("client.{protocol}.")) {
            return Err(whole(format!(
                "id `{id}` must start with `client.{protocol}.`"
            )));
        }
        if needs_or_policies {
            return Err(whole(
                "`needs:` and `policies:` apply to servers; a client script has neither".into(),
            ));
        }
        if let Some((_, line, column, text)) = self
            .shared
            .vars_used()
            .iter()
            .find(|(v, ..)| v.needs_credentials())
        {
            return Err(ScenarioError {
                source_name: self.source_name.to_string(),
                line: *line,
                column: *column,
                message: "a client script has no credentials to use: the harness plays the server"
                    .into(),
                text: Some(text.clone()),
            });
        }
        can_fail(
            self.source_name,
            self.steps.iter().map(|s| s.otherwise.outcome),
        )?;
        Ok(ClientScenario {
            source: self.source_name.to_string(),
            meta: Meta {
                id: id.to_string(),
                title: title.to_string(),
                protocol: Some(protocol),
                severity,
                references: references.to_vec(),
                needs: Needs::default(),
                policies: Vec::new(),
                pass_detail: pass.map(String::from),
            },
            certificate: self.certificate,
            steps: self.steps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Outcome;
    use proptest::prelude::*;

    const HEADER: &str = "id: client.smtp.x\ntitle: T\nprotocol: smtp\nseverity: high\n";

    #[test]
    fn can_parse_every_client_step_kind() {
        let text = format!(
            "{HEADER}certificate: expired\npass: fine\nS: 220 ${{host}}\nC: EHLO|helo /^EHLO \\S+$/ else error\n\
             S: 250-${{host}}\nS+ 250 STARTTLS\nRAW+ ${{nexttag}} OK\\r\\n\nC: silence 300ms else fail \"acted\"\n\
             TLS else pass \"refused\"\nC: never AUTH|MAIL else fail \"leaked\"\nC: close\n"
        );
        let s = parse_client("t.mts", &text).unwrap();
        assert_eq!(s.certificate, CertKind::Expired);
        assert_eq!(s.steps.len(), 7);
        let ClientAction::Send(parts) = &s.steps[2].action else {
            panic!()
        };
        assert_eq!(parts.len(), 3, "S: + S+ + RAW+ make one segment");
        assert_eq!(parts[2].0[0], ClientPiece::NextTag);
        let ClientAction::Expect(p) = &s.steps[1].action else {
            panic!()
        };
        assert_eq!(p.verbs, ["EHLO", "HELO"]);
        assert!(p.matches("ehlo", "EHLO me") && !p.matches("EHLO", "EHLO a b"));
        assert!(matches!(s.steps[5].action, ClientAction::Never(_)));
        assert_eq!(s.steps[5].otherwise.outcome, Outcome::Fail);
    }

    #[test]
    fn rejects_client_mistakes_with_file_line_column() {
        let cases = [
            "C: 250",
            "C: never",
            "C: silence soon",
            "CAP: has STARTTLS",
            "S+ 250 x",
            "S: ${password}",
            "C: EHLO else maybe \"x\"",
            "TLS now",
            "X: y",
            "C: EHLO",
        ];
        let mut out: Vec<String> = cases
            .iter()
            .map(|c| {
                format!(
                    "--- {c}\n{}",
                    parse_client("c.mts", &format!("{HEADER}{c}\n")).unwrap_err()
                )
            })
            .collect();
        for (name, text) in [
            ("wrong prefix", "id: smtp.x.y\ntitle: T\nprotocol: smtp\nseverity: low\nC: QUIT else fail \"x\"\n"),
            ("needs", "id: client.smtp.y\ntitle: T\nprotocol: smtp\nseverity: low\nneeds: starttls\nC: QUIT else fail \"x\"\n"),
            ("certificate", "id: client.smtp.y\ncertificate: dodgy\n"),
            ("missing", "id: client.smtp.y\nC: QUIT else fail \"x\"\n"),
        ] {
            out.push(format!("--- {name}\n{}", parse_client("m.mts", text).unwrap_err()));
        }
        insta::assert_snapshot!(out.join("\n"));
    }

    proptest! {
        #[test]
        fn never_panics_on_near_valid_client_scripts(body in "(S: |C: |S\\+ |C: never |TLS|RAW: )[ -~]{0,40}(\n(S: |C: |RAW\\+ |TLS )[ -~\\\\$\\{\\}]{0,30}){0,6}") {
            let _ = parse_client("p.mts", &format!("{HEADER}{body}"));
        }
    }
}
