//! Structural mutations of a session: steps inserted, dropped, repeated, swapped or
//! spliced from another session; inside a send, arguments replaced or stretched,
//! SASL payloads decoded and changed, IMAP literal counts bent, line endings
//! changed, segment boundaries moved, commands pipelined together; and, as the
//! escape hatch, raw byte edits. A send whose line is no longer well formed expects
//! no answer, so a server that rightly waits for more is never called hung.

use super::case::{Bytes, Case, Step};
use super::grammar::{self, long_run, word};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::seq::SliceRandom;
use rand::Rng;

/// Most steps a mutated session keeps; longer ones are cut.
pub const MAX_STEPS: usize = 32;

/// Most bytes one send may grow to (below the 4 KiB lines servers tend to allow,
/// above the buffers they tend to overflow).
pub const MAX_SEND: usize = 8 * 1024;

/// Applies one to four mutations to a copy of `case`; `other` is a second session
/// of the same protocol to splice from.
pub fn mutate(case: &Case, other: Option<&Case>, rng: &mut impl Rng) -> Case {
    let mut out = case.clone();
    for _ in 0..rng.gen_range(1..=4) {
        mutate_once(&mut out, other, rng);
    }
    out.steps.truncate(MAX_STEPS);
    out
}

fn mutate_once(case: &mut Case, other: Option<&Case>, rng: &mut impl Rng) {
    let n = case.steps.len();
    match rng.gen_range(0..12) {
        0 => {
            let fresh = grammar::generate(case.protocol, rng);
            if let Some(step) = fresh.steps.choose(rng) {
                case.steps.insert(rng.gen_range(0..=n), step.clone());
            }
        }
        1 if n > 0 => {
            case.steps.remove(rng.gen_range(0..n));
        }
        2 if n > 0 => {
            let i = rng.gen_range(0..n);
            let step = case.steps[i].clone();
            case.steps.insert(i, step);
        }
        3 if n > 1 => {
            let i = rng.gen_range(0..n - 1);
            case.steps.swap(i, i + 1);
        }
        4 => {
            if let Some(other) = other.filter(|o| o.protocol == case.protocol) {
                let cut = rng.gen_range(0..=n);
                let from = rng.gen_range(0..=other.steps.len());
                case.steps.truncate(cut);
                case.steps
                    .extend_from_slice(other.steps.get(from..).unwrap_or(&[]));
            }
        }
        5 if n > 1 => pipeline(case, rng.gen_range(0..n - 1)),
        _ => {
            let sends: Vec<usize> = (0..n)
                .filter(|&i| matches!(case.steps[i], Step::Send { .. }))
                .collect();
            if let Some(&i) = sends.choose(rng) {
                case.steps[i] = mutate_send(&case.steps[i], rng);
            }
        }
    }
}

/// Merges step `i` with the next step when both are sends: one segment, answers summed.
fn pipeline(case: &mut Case, i: usize) {
    if let (Some(Step::Send { answers: a, .. }), Some(Step::Send { answers: b, .. })) =
        (case.steps.get(i), case.steps.get(i + 1))
    {
        let answers = a.saturating_add(*b);
        let mut bytes = case.steps[i].bytes();
        bytes.extend(case.steps[i + 1].bytes());
        if bytes.len() > MAX_SEND {
            return;
        }
        case.steps[i] = Step::send(bytes, answers);
        case.steps.remove(i + 1);
    }
}

/// One mutation of one send.
fn mutate_send(step: &Step, rng: &mut impl Rng) -> Step {
    let Step::Send { segments, answers } = step else {
        return step.clone();
    };
    let bytes = step.bytes();
    let (content, ending) = split_ending(&bytes);
    let mut words: Vec<Vec<u8>> = content.split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
    let pick = rng.gen_range(0..words.len().max(1));
    let mut answers = *answers;
    let mut ending = ending.to_vec();
    match rng.gen_range(0..9) {
        0 => words[pick] = word(rng),
        1 => words[pick] = stretch(&words[pick], rng),
        2 => words.push(word(rng)),
        3 => match sasl_mutation(&words[pick], rng) {
            Some(changed) => words[pick] = changed,
            None => words[pick] = long_run(rng),
        },
        4 => {
            ending = [
                b"\n".as_slice(),
                b"\r",
                b"",
                b"\r\r\n",
                b"\r\0\n",
                b"\n\r\n",
            ]
            .choose(rng)
            .unwrap_or(&b"\n".as_slice())
            .to_vec();
            answers = 0;
        }
        5 => {
            // Move segment boundaries: the same bytes, cut somewhere else.
            let mut cut = bytes.clone();
            let at = rng.gen_range(0..=cut.len());
            let tail = cut.split_off(at);
            let segments = [cut, tail]
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(Bytes)
                .collect();
            return Step::Send { segments, answers };
        }
        6 => {
            // IMAP literal counts: announce more or fewer bytes than follow.
            let last = words.len() - 1;
            if words[last].starts_with(b"{") {
                words[last] = format!("{{{}}}", rng.gen_range(0..70_000)).into_bytes();
                answers = 0;
            } else {
                words.push(format!("{{{}}}", rng.gen_range(0..64)).into_bytes());
                answers = 0;
            }
        }
        7 => {
            // The raw escape hatch: arbitrary bytes somewhere in the line.
            let target = &mut words[pick];
            let at = rng.gen_range(0..=target.len());
            for _ in 0..rng.gen_range(1..4) {
                target.insert(at.min(target.len()), rng.gen());
            }
            answers = 0;
        }
        _ => {
            let verbs = ["DATA", "BDAT", "AUTH", "NOOP", "APPEND", "STARTTLS", "RSET"];
            words[0] = verbs.choose(rng).unwrap_or(&"NOOP").as_bytes().to_vec();
        }
    }
    let mut out = words.join(&b' ');
    out.extend(ending);
    out.truncate(MAX_SEND);
    if segments.len() > 1 && answers > 0 && rng.gen_bool(0.5) {
        // Keep a split in two segments now and then.
        let at = out.len() / 2;
        let tail = out.split_off(at);
        return Step::Send {
            segments: vec![Bytes(out), Bytes(tail)],
            answers,
        };
    }
    Step::send(out, answers)
}

/// `bytes` without its line ending, and the ending (CRLF, LF, or nothing).
pub(crate) fn split_ending(bytes: &[u8]) -> (&[u8], &[u8]) {
    let cut = if bytes.ends_with(b"\r\n") {
        bytes.len() - 2
    } else if bytes.ends_with(b"\n") {
        bytes.len() - 1
    } else {
        bytes.len()
    };
    bytes.split_at(cut)
}

/// The word repeated (or, if empty, a long run) up to one of the long lengths.
fn stretch(word: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    if word.is_empty() {
        return long_run(rng);
    }
    let len = *grammar::LONG_LENGTHS.choose(rng).unwrap_or(&256);
    word.iter()
        .copied()
        .cycle()
        .take(len.max(word.len()))
        .collect()
}

/// For a word that is base64 (a SASL response), the decoded payload changed — a
/// NUL-separated field stretched, emptied or added — and encoded again.
fn sasl_mutation(word: &[u8], rng: &mut impl Rng) -> Option<Vec<u8>> {
    if word.len() < 4 {
        return None;
    }
    let decoded = STANDARD.decode(word).ok()?;
    let mut fields: Vec<Vec<u8>> = decoded.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
    let i = rng.gen_range(0..fields.len());
    match rng.gen_range(0..3) {
        0 => fields[i] = stretch(&fields[i], rng),
        1 => fields[i].clear(),
        _ => fields.insert(i, grammar::word(rng)),
    }
    Some(STANDARD.encode(fields.join(&0u8)).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Protocol;
    use rand::SeedableRng;

    #[test]
    fn mutants_stay_bounded() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for protocol in Protocol::ALL {
            let mut case = grammar::generate(protocol, &mut rng);
            for _ in 0..2000 {
                let other = grammar::generate(protocol, &mut rng);
                case = mutate(&case, Some(&other), &mut rng);
                assert!(case.steps.len() <= MAX_STEPS);
                assert!(case.steps.iter().all(|s| s.bytes().len() <= MAX_SEND));
            }
        }
    }

    #[test]
    fn pipelining_sums_answers() {
        let mut case = Case {
            protocol: Protocol::Smtp,
            steps: vec![Step::send("NOOP\r\n", 1), Step::send("RSET\r\n", 1)],
        };
        pipeline(&mut case, 0);
        assert_eq!(case.steps, vec![Step::send("NOOP\r\nRSET\r\n", 2)]);
    }
}
