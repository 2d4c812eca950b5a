//! The scenario parser: script text to [`Scenario`], or an error that names
//! file:line:column and says what was expected there.
//!
//! ```text
//! id: smtp.starttls.injection              metadata first: id, title, protocol,
//! title: ...                               severity, references, needs, pass
//! S: 220                                   expect a reply (code, IMAP tag+status, +OK/-ERR)
//! C: EHLO ${client}                        send a line (CRLF added) in its own segment
//! C: ${tag}1 LOGIN ${user:astring} ${password:astring}
//!                                          IMAP credentials: quoted, or a literal after `+`
//! C+ NOOP                                  ...and this one in the same segment
//! RAW: MAIL FROM:<>\n                      send exact bytes, escapes decoded, no CRLF added
//! CAP: has STARTTLS else skip "STARTTLS not offered, nothing to test"
//! TLS else fail "TLS handshake failed"     handshake after the go-ahead
//! S: silence 300ms / S: close              expect nothing / expect the server to close
//! S: 221 else fail if 250 "NOOP ran"       only a 250 fails; any other answer is `error`
//! ```

use super::ast::*;
use crate::report::model::{Outcome, Severity};
use crate::target::{Policy, Protocol};
use std::fmt;
use std::time::Duration;

/// A script error, with position and the offending line for display.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// File name as given.
    pub source_name: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
    /// The text of the offending line, when there is one.
    pub text: Option<String>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.source_name, self.line, self.column, self.message
        )?;
        if let Some(text) = &self.text {
            let gutter = self.line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {:>col$}",
                "",
                self.line,
                text,
                "",
                "^",
                col = self.column.max(1)
            )?;
        }
        Ok(())
    }
}

/// Parses one script. `source_name` is used in errors and reports.
pub fn parse(source_name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    Parser {
        source_name,
        meta: MetaBuilder::default(),
        steps: Vec::new(),
        vars_used: Vec::new(),
    }
    .run(text)
}

#[derive(Default)]
pub(crate) struct MetaBuilder {
    id: Option<String>,
    title: Option<String>,
    protocol: Option<Protocol>,
    severity: Option<Severity>,
    references: Vec<String>,
    needs: Needs,
    policies: Vec<Policy>,
    pass_detail: Option<String>,
}

struct Parser<'a> {
    source_name: &'a str,
    meta: MetaBuilder,
    steps: Vec<Step>,
    vars_used: Vec<(Var, usize, usize, String)>,
}

/// A position-tagged token of a step's tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Word(String),
    Regex(String),
    Quoted(String),
}

/// The tokens of an `if` pattern, and where the `if` is.
type Condition = (Vec<(Token, usize)>, usize);

const IF_ONLY_ON_REPLIES: &str =
    "`if` names the answer that gives the `else` outcome; only the `S:` reply expectation of a server script takes it";

const META_KEYS: &str = "id, title, protocol, severity, references, needs, policies, pass";
const STEP_KINDS: &str = "C:, C+, RAW:, RAW+, S:, CAP:, TLS";

impl Parser<'_> {
    fn run(mut self, text: &str) -> Result<Scenario, ScenarioError> {
        for (index, raw_line) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw_line.trim_end();
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            self.line(line_no, indent, trimmed, line)?;
        }
        self.finish()
    }

    fn err(
        &self,
        line: usize,
        column: usize,
        message: impl Into<String>,
        text: &str,
    ) -> ScenarioError {
        ScenarioError {
            source_name: self.source_name.to_string(),
            line,
            column,
            message: message.into(),
            text: Some(text.to_string()),
        }
    }

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
            "C:" | "RAW:" | "C+" | "RAW+" => {
                let crlf = head.starts_with('C');
                let rest_col = col(rest_offset);
                let mut template = self.template(rest, no, rest_col, full)?;
                if crlf {
                    template.0.push(Piece::Bytes(b"\r\n".to_vec()));
                }
                if head.ends_with('+') {
                    match self.steps.last_mut() {
                        Some(Step {
                            action: Action::Send(parts),
                            ..
                        }) => parts.push(template),
                        _ => {
                            return Err(self.err(
                                no,
                                col(0),
                                format!("`{head}` continues a segment, but the step before it is not `C:` or `RAW:`"),
                                full,
                            ))
                        }
                    }
                } else {
                    self.push(no, Action::Send(vec![template]), Otherwise::default());
                }
                Ok(())
            }
            "S:" | "CAP:" | "TLS" => {
                let tokens = tokenize(rest)
                    .map_err(|(offset, msg)| self.err(no, col(rest_offset + offset), msg, full))?;
                let (pattern, otherwise, condition) =
                    self.split_else_if(tokens, no, &col, rest_offset, full)?;
                if let (false, Some((_, if_offset))) = (head == "S:", &condition) {
                    return Err(self.err(
                        no,
                        col(rest_offset + if_offset),
                        IF_ONLY_ON_REPLIES,
                        full,
                    ));
                }
                let action = match head {
                    "S:" => {
                        let action = self.expectation(pattern, no, &col, rest_offset, full)?;
                        self.qualify(action, &otherwise, condition, no, &col, rest_offset, full)?
                    }
                    "CAP:" => self.capability(pattern, no, &col, rest_offset, full)?,
                    _ => {
                        if let Some((_, offset)) = pattern.first() {
                            return Err(self.err(
                                no,
                                col(rest_offset + offset),
                                "`TLS` takes nothing but an optional `else` clause",
                                full,
                            ));
                        }
                        Action::StartTls
                    }
                };
                self.push(no, action, otherwise);
                Ok(())
            }
            _ => {
                if let Some(key) = head.strip_suffix(':') {
                    if self.steps.is_empty() {
                        return self.meta_line(key, rest.trim(), no, col(0), full);
                    }
                    if META_KEYS.split(", ").any(|k| k == key) {
                        return Err(self.err(
                            no,
                            col(0),
                            format!("metadata `{key}:` must come before the first step"),
                            full,
                        ));
                    }
                }
                Err(self.err(
                    no,
                    col(0),
                    format!("unknown step `{head}`; expected one of {STEP_KINDS}"),
                    full,
                ))
            }
        }
    }

    fn push(&mut self, line: usize, action: Action, otherwise: Otherwise) {
        self.steps.push(Step {
            line,
            action,
            otherwise,
        });
    }

    fn meta_line(
        &mut self,
        key: &str,
        value: &str,
        no: usize,
        column: usize,
        full: &str,
    ) -> Result<(), ScenarioError> {
        let after_colon = full.find(':').map_or(0, |i| i + 1);
        let value_col =
            after_colon + (full[after_colon..].len() - full[after_colon..].trim_start().len()) + 1;
        if value.is_empty() {
            return Err(self.err(no, value_col, format!("`{key}:` needs a value"), full));
        }
        match key {
            "id" => {
                let valid = value.split('.').count() >= 2
                    && value.split('.').all(|seg| {
                        !seg.is_empty()
                            && seg
                                .chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    });
                if !valid {
                    return Err(self.err(no, value_col, "an id is dotted lower-case words, e.g. `smtp.starttls.injection`", full));
                }
                self.meta.id = Some(value.into());
            }
            "title" => self.meta.title = Some(value.into()),
            "protocol" => {
                self.meta.protocol =
                    Some(value.parse().map_err(|e: String| self.err(no, value_col, e, full))?)
            }
            "severity" => {
                self.meta.severity = Some(
                    Severity::ALL
                        .into_iter()
                        .find(|s| s.name() == value)
                        .ok_or_else(|| {
                            self.err(no, value_col, format!("unknown severity `{value}` (expected info, low, medium, high or critical)"), full)
                        })?,
                )
            }
            "references" => self.meta.references.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            ),
            "needs" => {
                for need in value.split(',').map(str::trim) {
                    match need {
                        "starttls" => self.meta.needs.starttls = true,
                        "credentials" => self.meta.needs.credentials = true,
                        other => {
                            return Err(self.err(no, value_col, format!("unknown need `{other}` (expected starttls or credentials)"), full))
                        }
                    }
                }
            }
            "policies" => {
                for name in value.split(',').map(str::trim) {
                    let policy = name.parse().map_err(|e: String| self.err(no, value_col, e, full))?;
                    self.meta.policies.push(policy);
                }
            }
            "pass" => self.meta.pass_detail = Some(value.into()),
            other => {
                return Err(self.err(no, column, format!("`{other}:` is neither metadata ({META_KEYS}) nor a step ({STEP_KINDS})"), full))
            }
        }
        Ok(())
    }

    /// Splits `... else OUTCOME ["message"]` off a step's tokens; an `if PATTERN`
    /// is an error here (see [`Parser::split_else_if`]).
    #[allow(clippy::type_complexity)]
    fn split_else(
        &self,
        tokens: Vec<(Token, usize)>,
        no: usize,
        col: &dyn Fn(usize) -> usize,
        rest_offset: usize,
        full: &str,
    ) -> Result<(Vec<(Token, usize)>, Otherwise), ScenarioError> {
        let (pattern, otherwise, condition) =
            self.split_else_if(tokens, no, col, rest_offset, full)?;
        if let Some((_, if_offset)) = condition {
            return Err(self.err(no, col(rest_offset + if_offset), IF_ONLY_ON_REPLIES, full));
        }
        Ok((pattern, otherwise))
    }

    /// Splits `... else OUTCOME [if PATTERN] ["message"]` off a step's tokens:
    /// the step's own tokens, the clause, and the tokens of the `if` pattern with
    /// the offset of the `if`.
    #[allow(clippy::type_complexity)]
    fn split_else_if(
        &self,
        tokens: Vec<(Token, usize)>,
        no: usize,
        col: &dyn Fn(usize) -> usize,
        rest_offset: usize,
        full: &str,
    ) -> Result<(Vec<(Token, usize)>, Otherwise, Option<Condition>), ScenarioError> {
        let Some(pos) = tokens
            .iter()
            .position(|(t, _)| *t == Token::Word("else".into()))
        else {
            return Ok((tokens, Otherwise::default(), None));
        };
        let mut pattern = tokens;
        let mut clause = pattern.split_off(pos);
        // `if` runs to the explanation (the first quoted token) or the line's end.
        let condition = match clause.get(2) {
            Some((Token::Word(w), if_offset)) if w == "if" => {
                let if_offset = *if_offset;
                let end = clause
                    .iter()
                    .skip(3)
                    .position(|(t, _)| matches!(t, Token::Quoted(_)))
                    .map_or(clause.len(), |p| p + 3);
                let condition: Vec<_> = clause.drain(2..end).skip(1).collect();
                if condition.is_empty() {
                    return Err(self.err(
                        no,
                        col(rest_offset + if_offset),
                        "`if` needs the answer that decides the outcome, e.g. `else fail if 250 \"...\"`",
                        full,
                    ));
                }
                Some((condition, if_offset))
            }
            _ => None,
        };
        let at = |i: usize| col(rest_offset + clause.get(i).map_or(clause[0].1, |t| t.1));
        let outcome = match clause.get(1) {
            Some((Token::Word(w), _)) => match w.as_str() {
                "fail" => Outcome::Fail,
                "skip" => Outcome::Skip,
                "error" => Outcome::Error,
                "pass" => Outcome::Pass,
                other => {
                    return Err(self.err(no, at(1), format!("unknown outcome `{other}` after `else` (expected fail, skip, error or pass)"), full))
                }
            },
            _ => {
                return Err(self.err(no, at(1), "expected an outcome after `else`: fail, skip, error or pass", full))
            }
        };
        let message = match clause.get(2) {
            None => None,
            Some((Token::Quoted(m), _)) => Some(m.clone()),
            Some(_) => return Err(self.err(
                no,
                at(2),
                "expected a quoted explanation after the outcome, e.g. \"STARTTLS not offered\"",
                full,
            )),
        };
        if clause.len() > 3 {
            let message = if clause[3].0 == Token::Word("if".into()) {
                "`if PATTERN` goes before the explanation, e.g. `else fail if 250 \"...\"`"
            } else {
                "unexpected text after the explanation"
            };
            return Err(self.err(no, at(3), message, full));
        }
        if outcome != Outcome::Error && message.is_none() {
            return Err(self.err(
                no,
                at(1),
                format!(
                    "`else {outcome}` needs a quoted explanation: it becomes the check's detail"
                ),
                full,
            ));
        }
        Ok((pattern, Otherwise { outcome, message }, condition))
    }

    /// Attaches an `if` pattern to an `S:` reply expectation, and insists that an
    /// `else fail` on one has it: a check fails only on the answer that shows the
    /// flaw, never on whatever else a server said.
    #[allow(clippy::too_many_arguments)]
    fn qualify(
        &mut self,
        action: Action,
        otherwise: &Otherwise,
        condition: Option<Condition>,
        no: usize,
        col: &dyn Fn(usize) -> usize,
        rest_offset: usize,
        full: &str,
    ) -> Result<Action, ScenarioError> {
        let Action::Expect { expected, .. } = action else {
            if let Some((_, if_offset)) = condition {
                return Err(self.err(
                    no,
                    col(rest_offset + if_offset),
                    "`if` qualifies a reply expectation, not `silence` or `close`",
                    full,
                ));
            }
            return Ok(action);
        };
        let evidence = match condition {
            None if otherwise.outcome == Outcome::Fail => {
                let else_offset = full.find(" else ").map_or(0, |i| i + 1);
                return Err(ScenarioError {
                    source_name: self.source_name.to_string(),
                    line: no,
                    column: full[..else_offset].chars().count() + 1,
                    message: "`else fail` on an `S:` line needs `if PATTERN`, the answer that shows the flaw (any other answer is `error`), e.g. `S: 221 else fail if 250 \"...\"`".into(),
                    text: Some(full.to_string()),
                });
            }
            None => None,
            Some((tokens, if_offset)) => {
                match self.expectation(tokens, no, col, rest_offset, full)? {
                    Action::Expect { expected, .. } => Some(expected),
                    _ => {
                        return Err(self.err(
                            no,
                            col(rest_offset + if_offset),
                            "`if` needs a reply pattern, not `silence` or `close`",
                            full,
                        ))
                    }
                }
            }
        };
        Ok(Action::Expect { expected, evidence })
    }

    fn expectation(
        &mut self,
        tokens: Vec<(Token, usize)>,
        no: usize,
        col: &dyn Fn(usize) -> usize,
        rest_offset: usize,
        full: &str,
    ) -> Result<Action, ScenarioError> {
        let at = |offset: usize| col(rest_offset + offset);
        let end_col = col(rest_offset);
        let Some(protocol) = self.meta.protocol else {
            return Err(self.err(
                no,
                col(0),
                "`protocol:` must be given before the first `S:`",
                full,
            ));
        };
        let mut words = tokens.into_iter().peekable();
        let Some((first, first_off)) = words.next() else {
            return Err(self.err(no, end_col, expectation_help(protocol), full));
        };
        let Token::Word(first) = first else {
            return Err(self.err(no, at(first_off), expectation_help(protocol), full));
        };
        match first.as_str() {
            "silence" => {
                let duration = match words.next() {
                    Some((Token::Word(d), off)) => parse_duration(&d).ok_or_else(|| {
                        self.err(
                            no,
                            at(off),
                            format!("`{d}` is not a duration; write e.g. `300ms` or `2s`"),
                            full,
                        )
                    })?,
                    _ => {
                        return Err(self.err(
                            no,
                            at(first_off),
                            "`silence` needs a duration, e.g. `S: silence 300ms`",
                            full,
                        ))
                    }
                };
                self.no_more(words, no, &at, full)?;
                return Ok(Action::Silence(duration));
            }
            "close" => {
                self.no_more(words, no, &at, full)?;
                return Ok(Action::Close);
            }
            _ => {}
        }
        let mut written = first.clone();
        let tag = if protocol == Protocol::Imap {
            let tag = match first.as_str() {
                "*" => TagPattern::Untagged,
                "+" => TagPattern::Continuation,
                t => TagPattern::Tagged(self.template(t, no, at(first_off), full)?),
            };
            Some(tag)
        } else {
            None
        };
        let status_word = if tag.is_some() {
            match words.peek() {
                Some((Token::Word(_), _)) if tag != Some(TagPattern::Continuation) => words.next(),
                _ if tag == Some(TagPattern::Continuation) => None,
                _ => {
                    return Err(self.err(
                        no,
                        at(first_off),
                        "an IMAP expectation is `S: TAG STATUS`, e.g. `S: ${tag}1 OK` or `S: * OK`",
                        full,
                    ))
                }
            }
        } else {
            Some((Token::Word(first.clone()), first_off))
        };
        let mut status = Vec::new();
        if let Some((Token::Word(word), off)) = status_word {
            if tag.is_some() {
                written = format!("{written} {word}");
            }
            for alt in word.split('|') {
                status.push(parse_status(protocol, alt).ok_or_else(|| {
                    self.err(
                        no,
                        at(off),
                        format!("`{alt}` is not a status: {}", expectation_help(protocol)),
                        full,
                    )
                })?);
            }
        }
        let text = match words.next() {
            None => None,
            Some((Token::Regex(r), off)) => {
                written = format!("{written} /{r}/");
                Some(regex::Regex::new(&r).map_err(|e| {
                    self.err(
                        no,
                        at(off),
                        format!("bad regex: {}", e.to_string().lines().last().unwrap_or("")),
                        full,
                    )
                })?)
            }
            Some((_, off)) => {
                return Err(self.err(
                    no,
                    at(off),
                    "expected a /regex/ on the reply text, `else`, or the end of the line",
                    full,
                ))
            }
        };
        self.no_more(words, no, &at, full)?;
        Ok(Action::Expect {
            expected: ReplyPattern {
                tag,
                status,
                text,
                written,
            },
            evidence: None,
        })
    }

    fn capability(
        &mut self,
        tokens: Vec<(Token, usize)>,
        no: usize,
        col: &dyn Fn(usize) -> usize,
        rest_offset: usize,
        full: &str,
    ) -> Result<Action, ScenarioError> {
        let at = |offset: usize| col(rest_offset + offset);
        let mut words = tokens.into_iter();
        let help =
            "a capability test is `CAP: has KEYWORD [PARAM]` or `CAP: lacks KEYWORD [PARAM]`";
        let present = match words.next() {
            Some((Token::Word(w), _)) if w == "has" => true,
            Some((Token::Word(w), _)) if w == "lacks" => false,
            Some((_, off)) => return Err(self.err(no, at(off), help, full)),
            None => return Err(self.err(no, col(rest_offset), help, full)),
        };
        let keyword = match words.next() {
            Some((Token::Word(w), _)) => w,
            Some((_, off)) => return Err(self.err(no, at(off), help, full)),
            None => return Err(self.err(no, col(rest_offset + 1), help, full)),
        };
        let param = match words.next() {
            Some((Token::Word(w), _)) => Some(w),
            Some((_, off)) => return Err(self.err(no, at(off), help, full)),
            None => None,
        };
        self.no_more(words, no, &at, full)?;
        Ok(Action::Capability {
            present,
            keyword,
            param,
        })
    }

    fn no_more(
        &self,
        mut words: impl Iterator<Item = (Token, usize)>,
        no: usize,
        at: &dyn Fn(usize) -> usize,
        full: &str,
    ) -> Result<(), ScenarioError> {
        match words.next() {
            None => Ok(()),
            Some((_, off)) => Err(self.err(
                no,
                at(off),
                "unexpected text; expected `else` or the end of the line",
                full,
            )),
        }
    }

    /// The piece for `${name[:form]}`. IMAP needs credentials as astrings, and
    /// hand-written quotes around one break on a `\` or `"` in it (and make a
    /// server answer BAD, which a script could take for a refusal), so in an
    /// IMAP script a credential must be written `${user:astring}`.
    fn var_piece(&self, var: Var, form: Option<&str>, after_quote: bool) -> Result<Piece, String> {
        let name = var.name();
        let imap = self.meta.protocol == Some(Protocol::Imap);
        match form {
            None if imap && var.needs_credentials() && after_quote => Err(format!(
                "`${{{name}}}` inside hand-written quotes is not IMAP quoting (a `\\` or `\"` in it breaks the command); write `${{{name}:astring}}` without the quotes"
            )),
            None if imap && var.needs_credentials() => Err(format!(
                "in an IMAP script write `${{{name}:astring}}`: it is quoted, or sent as a literal, as IMAP requires"
            )),
            None => Ok(Piece::Var(var)),
            Some("astring") if imap => Ok(Piece::Astring(var)),
            Some("astring") => Err(format!(
                "`${{{name}:astring}}` is IMAP's quoting; it needs `protocol: imap`"
            )),
            Some(other) => Err(format!(
                "unknown form `:{other}` of `${{{name}}}`; the only one is `:astring` (IMAP)"
            )),
        }
    }

    /// Decodes escapes and `${var}` references.
    fn template(
        &mut self,
        text: &str,
        no: usize,
        column: usize,
        full: &str,
    ) -> Result<Template, ScenarioError> {
        let mut pieces = Vec::new();
        let mut bytes = Vec::new();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut i = 0;
        let char_col = |i: usize| column + i;
        while i < chars.len() {
            let (_, c) = chars[i];
            match c {
                '\\' => {
                    let next = chars.get(i + 1).map(|&(_, c)| c);
                    let decoded: u8 =
                        match next {
                            Some('r') => b'\r',
                            Some('n') => b'\n',
                            Some('t') => b'\t',
                            Some('0') => 0,
                            Some('\\') => b'\\',
                            Some('$') => b'$',
                            Some('x') => {
                                let hex: String =
                                    chars.iter().skip(i + 2).take(2).map(|&(_, c)| c).collect();
                                let value = (hex.len() == 2)
                                    .then(|| u8::from_str_radix(&hex, 16).ok())
                                    .flatten()
                                    .ok_or_else(|| {
                                        self.err(
                                            no,
                                            char_col(i),
                                            "`\\x` needs two hex digits, e.g. `\\x00`",
                                            full,
                                        )
                                    })?;
                                bytes.push(value);
                                i += 4;
                                continue;
                            }
                            _ => return Err(self.err(
                                no,
                                char_col(i),
                                "unknown escape; expected \\r, \\n, \\t, \\0, \\xNN, \\\\ or \\$",
                                full,
                            )),
                        };
                    bytes.push(decoded);
                    i += 2;
                }
                '$' if chars.get(i + 1).map(|&(_, c)| c) == Some('{') => {
                    let close = chars[i..]
                        .iter()
                        .position(|&(_, c)| c == '}')
                        .map(|p| p + i);
                    let Some(close) = close else {
                        return Err(self.err(no, char_col(i), "`${` is not closed with `}`", full));
                    };
                    let inside: String = chars[i + 2..close].iter().map(|&(_, c)| c).collect();
                    let (name, form) = match inside.split_once(':') {
                        Some((name, form)) => (name.to_string(), Some(form.to_string())),
                        None => (inside, None),
                    };
                    let var = Var::ALL
                        .iter()
                        .find(|(_, n)| *n == name)
                        .map(|(v, _)| *v)
                        .ok_or_else(|| {
                            let names: Vec<_> =
                                Var::ALL.iter().map(|(_, n)| format!("${{{n}}}")).collect();
                            self.err(
                                no,
                                char_col(i),
                                format!(
                                    "unknown variable `${{{name}}}`; expected one of {}",
                                    names.join(", ")
                                ),
                                full,
                            )
                        })?;
                    let after_quote = i > 0 && chars[i - 1].1 == '"';
                    let piece = self
                        .var_piece(var, form.as_deref(), after_quote)
                        .map_err(|message| self.err(no, char_col(i), message, full))?;
                    self.vars_used
                        .push((var, no, char_col(i), full.to_string()));
                    if !bytes.is_empty() {
                        pieces.push(Piece::Bytes(std::mem::take(&mut bytes)));
                    }
                    pieces.push(piece);
                    i = close + 1;
                }
                c => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    i += 1;
                }
            }
        }
        if !bytes.is_empty() {
            pieces.push(Piece::Bytes(bytes));
        }
        Ok(Template(pieces))
    }

    fn finish(self) -> Result<Scenario, ScenarioError> {
        let whole = |message: String| ScenarioError {
            source_name: self.source_name.to_string(),
            line: 1,
            column: 1,
            message,
            text: None,
        };
        let meta = &self.meta;
        let missing: Vec<&str> = [
            ("id", meta.id.is_none()),
            ("title", meta.title.is_none()),
            ("protocol", meta.protocol.is_none()),
            ("severity", meta.severity.is_none()),
        ]
        .into_iter()
        .filter_map(|(k, missing)| missing.then_some(k))
        .collect();
        if !missing.is_empty() {
            return Err(whole(format!("missing metadata: {}", missing.join(", "))));
        }
        let (id, protocol) = (
            meta.id.clone().unwrap_or_default(),
            meta.protocol.unwrap_or(Protocol::Smtp),
        );
        if id.split('.').next() != Some(protocol.name()) {
            return Err(whole(format!(
                "id `{id}` must start with its protocol, `{protocol}.`"
            )));
        }
        if let Some((var, line, column, text)) =
            self.vars_used.iter().find(|(v, ..)| v.needs_credentials())
        {
            if !meta.needs.credentials {
                let name = var.name();
                return Err(ScenarioError {
                    source_name: self.source_name.to_string(),
                    line: *line,
                    column: *column,
                    message: format!("`${{{name}}}` is used but the scenario does not declare `needs: credentials`"),
                    text: Some(text.clone()),
                });
            }
        }
        can_fail(
            self.source_name,
            self.steps.iter().map(|s| s.otherwise.outcome),
        )?;
        Ok(Scenario {
            source: self.source_name.to_string(),
            meta: Meta {
                id,
                title: meta.title.clone().unwrap_or_default(),
                protocol: Some(protocol),
                severity: meta.severity.unwrap_or(Severity::Info),
                references: meta.references.clone(),
                needs: meta.needs,
                policies: meta.policies.clone(),
                pass_detail: meta.pass_detail.clone(),
            },
            steps: self.steps,
        })
    }
}

/// Rejects a script none of whose steps can give `fail`: it could never find anything.
pub(crate) fn can_fail(
    source_name: &str,
    mut outcomes: impl Iterator<Item = Outcome>,
) -> Result<(), ScenarioError> {
    if outcomes.any(|o| o == Outcome::Fail) {
        return Ok(());
    }
    Err(ScenarioError {
        source_name: source_name.to_string(),
        line: 1,
        column: 1,
        message: "this scenario can never fail: no step says `else fail \"...\"`".into(),
        text: None,
    })
}

/// The parts of this grammar that sibling grammars share (client scripts, see
/// `crate::client::script`): metadata lines, `else` clauses, templates with their
/// escapes and variables, and errors that name file:line:column.
pub(crate) struct Shared<'a>(Parser<'a>);

impl<'a> Shared<'a> {
    /// A fresh parser state for the file `source_name`.
    pub(crate) fn new(source_name: &'a str) -> Self {
        Shared(Parser {
            source_name,
            meta: MetaBuilder::default(),
            steps: Vec::new(),
            vars_used: Vec::new(),
        })
    }

    /// An error at `line:column`, showing `text`.
    pub(crate) fn err(
        &self,
        line: usize,
        column: usize,
        message: impl Into<String>,
        text: &str,
    ) -> ScenarioError {
        self.0.err(line, column, message, text)
    }

    /// One `key: value` metadata line, as in server scripts.
    pub(crate) fn meta_line(
        &mut self,
        key: &str,
        value: &str,
        no: usize,
        column: usize,
        full: &str,
    ) -> Result<(), ScenarioError> {
        self.0.meta_line(key, value, no, column, full)
    }

    /// The metadata gathered so far: id, title, protocol, severity, references, pass.
    #[allow(clippy::type_complexity)]
    pub(crate) fn meta(
        &self,
    ) -> (
        Option<&str>,
        Option<&str>,
        Option<Protocol>,
        Option<Severity>,
        &[String],
        Option<&str>,
        bool,
    ) {
        let m = &self.0.meta;
        let needs_or_policies = m.needs != Needs::default() || !m.policies.is_empty();
        (
            m.id.as_deref(),
            m.title.as_deref(),
            m.protocol,
            m.severity,
            &m.references,
            m.pass_detail.as_deref(),
            needs_or_policies,
        )
    }

    /// Splits `... else OUTCOME "message"` off a step's tokens.
    #[allow(clippy::type_complexity)]
    pub(crate) fn split_else(
        &self,
        tokens: Vec<(Token, usize)>,
        no: usize,
        col: &dyn Fn(usize) -> usize,
        rest_offset: usize,
        full: &str,
    ) -> Result<(Vec<(Token, usize)>, Otherwise), ScenarioError> {
        self.0.split_else(tokens, no, col, rest_offset, full)
    }

    /// Decodes escapes and `${var}` references.
    pub(crate) fn template(
        &mut self,
        text: &str,
        no: usize,
        column: usize,
        full: &str,
    ) -> Result<Template, ScenarioError> {
        self.0.template(text, no, column, full)
    }

    /// Every variable used so far, with line, column and the line's text.
    pub(crate) fn vars_used(&self) -> &[(Var, usize, usize, String)] {
        &self.0.vars_used
    }
}

/// `C:`-style heads end at the colon or plus; bare words end at whitespace.
pub(crate) fn split_head(body: &str) -> (&str, &str, usize) {
    for head in ["RAW+", "C+"] {
        if let Some(rest) = body.strip_prefix(head) {
            let offset = head.len() + (rest.len() - rest.trim_start_matches(' ').len()).min(1);
            return (head, &body[offset..], offset);
        }
    }
    let end = body
        .find(|c: char| c == ':' || c.is_whitespace())
        .map(|i| if body[i..].starts_with(':') { i + 1 } else { i })
        .unwrap_or(body.len());
    let head = &body[..end];
    let rest = &body[end..];
    // One space after the head separates; anything further is data (C: lines keep it).
    let offset = end + usize::from(rest.starts_with(' '));
    (head, &body[offset..], offset)
}

pub(crate) fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, (usize, String)> {
    let mut tokens = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' => i += 1,
            quote @ (b'"' | b'/') => {
                let start = i;
                let mut out = String::new();
                i += 1;
                let mut closed = false;
                while i < bytes.len() {
                    let c = text[i..].chars().next().unwrap_or('\0');
                    if c == '\\' && text[i + 1..].starts_with(quote as char) {
                        out.push(quote as char);
                        i += 2;
                    } else if c as u32 == u32::from(quote) {
                        closed = true;
                        i += 1;
                        break;
                    } else {
                        out.push(c);
                        i += c.len_utf8();
                    }
                }
                if !closed {
                    let what = if quote == b'"' {
                        "quoted text"
                    } else {
                        "regex"
                    };
                    return Err((
                        start,
                        format!("{what} is not closed with `{}`", quote as char),
                    ));
                }
                tokens.push((
                    if quote == b'"' {
                        Token::Quoted(out)
                    } else {
                        Token::Regex(out)
                    },
                    start,
                ));
            }
            _ => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t') {
                    i += 1;
                }
                tokens.push((Token::Word(text[start..i].to_string()), start));
            }
        }
    }
    Ok(tokens)
}

fn parse_status(protocol: Protocol, text: &str) -> Option<StatusPattern> {
    match protocol {
        Protocol::Smtp => {
            let b = text.as_bytes();
            if b.len() != 3 || !(b'2'..=b'5').contains(&b[0]) {
                return None;
            }
            let mut digits = [None; 3];
            for (slot, &c) in digits.iter_mut().zip(b) {
                *slot = match c {
                    b'0'..=b'9' => Some(c - b'0'),
                    b'x' | b'X' => None,
                    _ => return None,
                };
            }
            Some(StatusPattern::Code(digits))
        }
        Protocol::Imap => ["OK", "NO", "BAD", "PREAUTH", "BYE"]
            .contains(&text)
            .then(|| StatusPattern::Word(text.into())),
        Protocol::Pop3 => ["+OK", "-ERR"]
            .contains(&text)
            .then(|| StatusPattern::Word(text.into())),
    }
}

fn expectation_help(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Smtp => "an SMTP expectation is a reply code such as `250`, `2xx` or `530|538`, optionally followed by /regex/",
        Protocol::Imap => "an IMAP expectation is `TAG STATUS` such as `${tag}1 OK`, `* OK` or `+`, optionally followed by /regex/",
        Protocol::Pop3 => "a POP3 expectation is `+OK` or `-ERR`, optionally followed by /regex/",
    }
}

pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    text.strip_suffix('s')?
        .parse()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = "id: smtp.test.x\ntitle: T\nprotocol: smtp\nseverity: low\n";

    fn error_of(body: &str) -> String {
        parse("t.mts", &format!("{HEADER}{body}"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn can_parse_every_step_kind() {
        let text = format!(
            "{HEADER}references: RFC 3207 §4.2, CVE-2011-0411\nneeds: starttls\npass: fine\n\n\
             # a comment\nS: 220\nC: EHLO ${{client}}\nC+ NOOP\nRAW+ \\x00\\r\\n\nS: 2xx|530 /^ok/ else fail if 4xx \"bad\"\n\
             CAP: lacks AUTH PLAIN else skip \"no\"\nTLS else error\nS: silence 250ms\nS: close else pass \"closed\"\n"
        );
        let scenario = parse("t.mts", &text).unwrap();
        assert_eq!(scenario.meta.references, ["RFC 3207 §4.2", "CVE-2011-0411"]);
        assert!(scenario.meta.needs.starttls && !scenario.meta.needs.credentials);
        assert_eq!(scenario.steps.len(), 7);
        let Action::Send(parts) = &scenario.steps[1].action else {
            panic!()
        };
        assert_eq!(parts.len(), 3, "C: + C+ + RAW+ make one segment");
        assert_eq!(parts[2], Template(vec![Piece::Bytes(b"\0\r\n".to_vec())]));
        let Action::Expect {
            expected: pattern,
            evidence,
        } = &scenario.steps[2].action
        else {
            panic!()
        };
        assert!(evidence.as_ref().unwrap().status[0].matches_code(421));
        assert!(pattern.status[0].matches_code(250) && !pattern.status[0].matches_code(350));
        assert!(pattern.status[1].matches_code(530));
        assert_eq!(scenario.steps[2].otherwise.outcome, Outcome::Fail);
        assert!(
            matches!(scenario.steps[5].action, Action::Silence(d) if d == Duration::from_millis(250))
        );
    }

    #[test]
    fn can_parse_imap_tags_and_pop3_statuses() {
        let imap = "id: imap.t.x\ntitle: T\nprotocol: imap\nseverity: low\nS: * OK\nC: ${tag}1 NOOP\nS: ${tag}1 OK|NO else fail if ${tag}1 BAD \"x\"\nS: +\n";
        let s = parse("i.mts", imap).unwrap();
        let Action::Expect { expected: p, .. } = &s.steps[2].action else {
            panic!()
        };
        assert_eq!(
            p.tag,
            Some(TagPattern::Tagged(Template(vec![
                Piece::Var(Var::Tag),
                Piece::Bytes(b"1".to_vec())
            ])))
        );
        let pop3 = "id: pop3.t.x\ntitle: T\nprotocol: pop3\nseverity: low\nS: +OK\nS: -ERR else fail if +OK \"x\"\n";
        assert!(parse("p.mts", pop3).is_ok());
    }

    #[test]
    fn rejects_mistakes_with_file_line_column_and_what_was_expected() {
        let cases = [
            "Cx: EHLO",
            "S: 25O",
            "S: 250 else maybe \"x\"",
            "S: 250 else fail",
            "S: 250 /unclosed",
            "S: 250 /(/ else fail if 5xx \"x\"",
            "S: 250 else fail \"no evidence named\"",
            "S: 250 else fail if \"x\"",
            "S: 250 else fail if 25O \"x\"",
            "S: 250 else fail if 5xx \"x\" more",
            "S: 221 else fail \"x\" if 250",
            "S: silence 300ms else fail if 250 \"x\"",
            "CAP: has STARTTLS else fail if 250 \"x\"",
            "TLS else fail if 250 \"x\"",
            "C: EHLO ${nobody}",
            "C: PASS ${password}",
            "C: bad \\q escape",
            "C+ NOOP",
            "CAP: maybe STARTTLS",
            "S: silence soon",
            "TLS now",
            "S: 250\nid: smtp.late.x",
            "S: 250",
        ];
        let errors: Vec<String> = cases
            .iter()
            .map(|c| format!("--- {c}\n{}", error_of(c)))
            .collect();
        insta::assert_snapshot!(errors.join("\n"));
    }

    #[test]
    fn can_parse_credentials_as_imap_astrings() {
        let imap = "id: imap.t.x\ntitle: T\nprotocol: imap\nseverity: low\nneeds: credentials\n\
                    C: ${tag}1 LOGIN ${user:astring} ${password:astring}\nS: ${tag}1 NO else fail if ${tag}1 OK \"x\"\n";
        let s = parse("i.mts", imap).unwrap();
        let Action::Send(parts) = &s.steps[0].action else {
            panic!()
        };
        assert_eq!(
            parts[0].0[..4],
            [
                Piece::Var(Var::Tag),
                Piece::Bytes(b"1 LOGIN ".to_vec()),
                Piece::Astring(Var::User),
                Piece::Bytes(b" ".to_vec()),
            ]
        );
        assert_eq!(parts[0].0[4], Piece::Astring(Var::Password));
    }

    #[test]
    fn rejects_credentials_that_imap_would_misread() {
        let imap = "id: imap.t.x\ntitle: T\nprotocol: imap\nseverity: low\nneeds: credentials\n";
        let cases = [
            format!("{imap}C: ${{tag}}1 LOGIN \"${{user}}\" \"${{password}}\""),
            format!("{imap}C: ${{tag}}1 LOGIN ${{user:astring}} ${{password}}"),
            format!("{imap}C: ${{tag}}1 LOGIN ${{user:quoted}} x"),
            format!("{HEADER}needs: credentials\nC: AUTH ${{password:astring}}"),
        ];
        let errors: Vec<String> = cases
            .iter()
            .map(|c| parse("login.mts", c).unwrap_err().to_string())
            .collect();
        insta::assert_snapshot!(errors.join("\n"));
    }

    #[test]
    fn rejects_incomplete_metadata() {
        let errors = [
            parse("a.mts", "title: x\nS: 220 else fail if 5xx \"x\"\n")
                .unwrap_err()
                .to_string(),
            parse(
                "b.mts",
                "id: imap.x.y\ntitle: x\nprotocol: smtp\nseverity: low\nS: 220 else fail if 5xx \"x\"\n",
            )
            .unwrap_err()
            .to_string(),
            parse(
                "c.mts",
                "id: smtp.x.y\ntitle: x\nprotocol: smtp\nseverity: dire\n",
            )
            .unwrap_err()
            .to_string(),
            parse("d.mts", "id: Smtp.X\ntitle: x\n")
                .unwrap_err()
                .to_string(),
            parse("e.mts", "id: smtp.x.y\nauthor: me\n")
                .unwrap_err()
                .to_string(),
        ];
        insta::assert_snapshot!(errors.join("\n"));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(text in "\\PC*") {
            let _ = parse("p.mts", &text);
        }

        #[test]
        fn never_panics_on_near_valid_scripts(body in "(S: |C: |C\\+ |CAP: |TLS|RAW: )[ -~]{0,40}(\n(S: |C: |CAP: has |TLS )[ -~\\\\$\\{\\}]{0,30}){0,6}") {
            let _ = parse("p.mts", &format!("{HEADER}{body}"));
        }

        /// `else` clauses with and without `if`, well-formed or not, in every
        /// protocol: parsed or refused with a position on the line, never a panic.
        #[test]
        fn else_if_clauses_parse_or_fail_with_a_position(
            protocol in "(smtp|imap|pop3)",
            expected in "(250|2xx|\\$\\{tag\\}1 OK|\\* OK|\\+OK|-ERR|silence 1ms|close|)",
            outcome in "(fail|pass|skip|error|maybe|)",
            condition in "( if| if 250| if 4xx\\|5xx| if \\$\\{tag\\}9 OK\\|NO| if -ERR| if /x/| if \"q\"| if if|)",
            tail in "( \"why\"| \"why\" more| /r/|)",
        ) {
            let text = format!(
                "id: {protocol}.t.x\ntitle: T\nprotocol: {protocol}\nseverity: low\nS: {expected} else {outcome}{condition}{tail}\n"
            );
            match parse("p.mts", &text) {
                Ok(scenario) => {
                    let step = &scenario.steps[0];
                    if step.otherwise.outcome == Outcome::Fail {
                        let named = matches!(&step.action, Action::Expect { evidence: Some(_), .. })
                            || matches!(step.action, Action::Silence(_) | Action::Close);
                        prop_assert!(named, "an `S:` fail without its evidence: {text}");
                    }
                }
                Err(e) => prop_assert!(
                    (e.line == 5 && e.column >= 1) || (e.line == 1 && e.text.is_none()),
                    "{e}"
                ),
            }
        }
    }

    #[test]
    fn else_if_names_the_answer_that_decides() {
        let text = format!("{HEADER}S: 221 else fail if 250|501 /ok/ \"NOOP ran\"\nS: 220 else pass if 4xx|5xx \"refused\"\nS: 221 else skip \"any\"\n");
        let scenario = parse("t.mts", &text).unwrap();
        let Action::Expect {
            expected,
            evidence: Some(evidence),
        } = &scenario.steps[0].action
        else {
            panic!("{:?}", scenario.steps[0].action)
        };
        assert_eq!(expected.written, "221");
        assert_eq!(evidence.written, "250|501 /ok/");
        assert_eq!(
            scenario.steps[0].otherwise.message.as_deref(),
            Some("NOOP ran")
        );
        assert!(matches!(
            &scenario.steps[1].action,
            Action::Expect { evidence: Some(e), .. } if e.written == "4xx|5xx"
        ));
        assert!(matches!(
            &scenario.steps[2].action,
            Action::Expect { evidence: None, .. }
        ));
    }
}
