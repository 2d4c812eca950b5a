//! Delta debugging for sessions: the smallest session that still triggers the same
//! signature. First whole steps are removed (in halves, quarters, ... down to one),
//! then inside each send whole words, then inside each SASL payload the decoded
//! bytes (re-encoded, so the payload stays base64), then segment boundaries are
//! dropped. Every candidate is run against the target; a budget bounds the runs.

use super::case::{Bytes, Case, Step};
use super::mutate::split_ending;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Shrinks `case` while `reproduces` holds, trying at most `budget` candidates.
/// Returns the smallest case found and the number of candidates tried.
pub async fn minimize(
    case: Case,
    budget: usize,
    mut reproduces: impl AsyncFnMut(&Case) -> bool,
) -> (Case, usize) {
    let mut tried = 0;
    let protocol = case.protocol;
    let steps = ddmin(case.steps, &mut tried, budget, &mut reproduces, |steps| {
        Case {
            protocol,
            steps: steps.to_vec(),
        }
    })
    .await;
    let mut case = Case { protocol, steps };
    for i in 0..case.steps.len() {
        let Step::Send { segments, answers } = case.steps[i].clone() else {
            continue;
        };
        let bytes = case.steps[i].bytes();
        let (content, ending) = split_ending(&bytes);
        let answers_of = |words: &[Vec<u8>]| -> Step {
            let mut line = words.join(&b' ');
            line.extend_from_slice(ending);
            Step::Send {
                segments: vec![Bytes(line)],
                answers,
            }
        };
        // One segment, if the boundaries do not matter.
        let words: Vec<Vec<u8>> = content.split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
        if segments.len() > 1 && tried < budget {
            let mut candidate = case.clone();
            candidate.steps[i] = answers_of(&words);
            tried += 1;
            if reproduces(&candidate).await {
                case = candidate;
            }
        }
        if !matches!(&case.steps[i], Step::Send { segments, .. } if segments.len() == 1) {
            continue;
        }
        let base = case.clone();
        let words = ddmin(words, &mut tried, budget, &mut reproduces, |words| {
            let mut c = base.clone();
            c.steps[i] = answers_of(words);
            c
        })
        .await;
        case.steps[i] = answers_of(&words);
        for w in 0..words.len() {
            let Some(decoded) = (words[w].len() >= 8)
                .then(|| STANDARD.decode(&words[w]).ok())
                .flatten()
            else {
                continue;
            };
            let base = case.clone();
            let with_payload = |payload: &[u8]| {
                let mut words = words.clone();
                words[w] = STANDARD.encode(payload).into_bytes();
                let mut c = base.clone();
                c.steps[i] = answers_of(&words);
                c
            };
            let payload = ddmin(decoded, &mut tried, budget, &mut reproduces, with_payload).await;
            case = with_payload(&payload);
        }
    }
    (case, tried)
}

/// Removes chunks of `items` (halves first, then smaller) while the case built
/// from what is left still reproduces.
async fn ddmin<T: Clone>(
    mut items: Vec<T>,
    tried: &mut usize,
    budget: usize,
    reproduces: &mut impl AsyncFnMut(&Case) -> bool,
    build: impl Fn(&[T]) -> Case,
) -> Vec<T> {
    let mut parts = 2;
    while !items.is_empty() && *tried < budget {
        let chunk = items.len().div_ceil(parts);
        let mut removed = false;
        let mut start = 0;
        while start < items.len() && *tried < budget {
            let mut candidate = items.clone();
            candidate.drain(start..(start + chunk).min(items.len()));
            *tried += 1;
            if reproduces(&build(&candidate)).await {
                items = candidate;
                removed = true;
            } else {
                start += chunk;
            }
        }
        if removed {
            parts = parts.saturating_sub(1).max(2);
        } else if chunk <= 1 {
            break;
        } else {
            parts = (parts * 2).min(items.len());
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Protocol;

    #[tokio::test]
    async fn shrinks_to_the_steps_and_bytes_that_matter() {
        let payload = STANDARD.encode([vec![b'A'; 300], b"\0u\0p".to_vec()].concat());
        let case = Case {
            protocol: Protocol::Smtp,
            steps: vec![
                Step::send("NOOP\r\n", 1),
                Step::send("EHLO x\r\n", 1),
                Step::StartTls,
                Step::send("RSET\r\n", 1),
                Step::send(format!("AUTH PLAIN {payload} extra\r\n"), 1),
                Step::send("QUIT\r\n", 1),
            ],
        };
        // The "bug": STARTTLS, then an AUTH whose payload decodes to >= 256 bytes.
        let bug = async |c: &Case| {
            let tls = c.steps.iter().position(|s| *s == Step::StartTls);
            c.steps.iter().enumerate().any(|(i, s)| {
                let text = String::from_utf8_lossy(&s.bytes()).to_string();
                let long = text
                    .split(' ')
                    .any(|w| STANDARD.decode(w.trim_end()).is_ok_and(|d| d.len() >= 256));
                tls.is_some_and(|t| t < i) && text.starts_with("AUTH") && long
            })
        };
        let (small, tried) = minimize(case, 2000, bug).await;
        assert_eq!(small.steps.len(), 2, "{small:?}");
        let auth = String::from_utf8(small.steps[1].bytes()).unwrap();
        let payload = auth.trim_end().rsplit(' ').next().unwrap();
        assert_eq!(STANDARD.decode(payload).unwrap().len(), 256, "{auth}");
        assert!(tried < 2000);
    }
}
