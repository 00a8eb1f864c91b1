//! Bipolar derivations: `--pfm EXG1-EXG2` (and `--abd`, `--pressure`) reads the difference of
//! two columns or signals, sample by sample, as one channel — what every surface-EMG researcher
//! does with single-ended electrodes (BioSemi EXG1…EXG8, OpenBCI channels, Shimmer ExG).
//!
//! A name that exists as it is wins: an EDF label `EMG Chin1-Chin2` is that signal, not a
//! derivation. Otherwise the text is split at a `-` where both sides name a column or signal
//! (by name or 1-based number); more than one such split is an error that lists them.

use crate::frame::{Block, ChannelChunk, Role};
use serde::Serialize;

/// What a role option picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// One column or signal.
    One(usize),
    /// The first minus the second.
    Diff(usize, usize),
}

impl Pick {
    /// The column or signal whose name, unit and rate the channel takes.
    pub fn first(self) -> usize {
        match self {
            Pick::One(i) | Pick::Diff(i, _) => i,
        }
    }
}

/// A derivation as `session.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Derivation {
    pub role: Role,
    /// The channel's name (`EXG1-EXG2`).
    pub name: String,
    /// The column or signal added.
    pub plus: String,
    /// The column or signal subtracted.
    pub minus: String,
    /// The unit of the derived channel (both sources are converted to it first).
    pub unit: String,
}

/// Resolves a role option's text: an existing name (as `find` resolves it) wins, else `A-B`
/// where both sides resolve. `Ok(None)`: neither.
pub fn resolve(wanted: &str, find: impl Fn(&str) -> Option<usize>) -> Result<Option<Pick>, String> {
    if let Some(i) = find(wanted) {
        return Ok(Some(Pick::One(i)));
    }
    let mut splits = Vec::new();
    for (at, _) in wanted.match_indices('-') {
        let (a, b) = (wanted[..at].trim(), wanted[at + 1..].trim());
        if a.is_empty() || b.is_empty() {
            continue;
        }
        if let (Some(x), Some(y)) = (find(a), find(b)) {
            splits.push((a.to_string(), b.to_string(), x, y));
        }
    }
    match splits.as_slice() {
        [] => Ok(None),
        [(a, b, x, y)] => {
            if x == y {
                Err(format!(
                    "\"{a}\" minus \"{b}\" is the same column: a derivation needs two"
                ))
            } else {
                Ok(Some(Pick::Diff(*x, *y)))
            }
        }
        many => Err(format!(
            "\"{wanted}\" can be read as {}: rename a column, or give the two by number (e.g. 3-4)",
            many.iter()
                .map(|(a, b, _, _)| format!("\"{a}\" minus \"{b}\""))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

/// The inner channels a list of picks needs (each column once), and each pick in terms of them.
/// `inner[k]` is the column of inner channel `k`; the role of an inner channel is that of the
/// first pick that uses it.
pub fn expand(picks: &[(Role, Pick)]) -> (Vec<(Role, usize)>, Vec<Pick>) {
    let mut inner: Vec<(Role, usize)> = Vec::new();
    let slot = |role: Role, col: usize, inner: &mut Vec<(Role, usize)>| -> usize {
        match inner.iter().position(|(_, c)| *c == col) {
            Some(k) => k,
            None => {
                inner.push((role, col));
                inner.len() - 1
            }
        }
    };
    let mut plan = Vec::new();
    for &(role, pick) in picks {
        plan.push(match pick {
            Pick::One(c) => Pick::One(slot(role, c, &mut inner)),
            Pick::Diff(a, b) => {
                let ka = slot(role, a, &mut inner);
                let kb = slot(role, b, &mut inner);
                Pick::Diff(ka, kb)
            }
        });
    }
    (inner, plan)
}

/// Whether a plan changes anything (a derivation, or fewer or reordered channels).
pub fn is_identity(plan: &[Pick], inner_len: usize) -> bool {
    plan.len() == inner_len
        && plan
            .iter()
            .enumerate()
            .all(|(k, p)| matches!(p, Pick::One(i) if *i == k))
}

/// A block of the inner channels as a block of the picked ones: a difference covers the sample
/// indices both of its sources have in the block (a sample lost on either is lost on it).
pub fn apply(plan: &[Pick], block: Block) -> Block {
    let chunks = plan
        .iter()
        .map(|p| match *p {
            Pick::One(k) => block.chunks[k].clone(),
            Pick::Diff(a, b) => {
                let (ca, cb) = (&block.chunks[a], &block.chunks[b]);
                let start = ca.start_index.max(cb.start_index);
                let end = ca.end_index().min(cb.end_index());
                let samples = (start..end.max(start))
                    .map(|i| {
                        ca.samples[(i - ca.start_index) as usize]
                            - cb.samples[(i - cb.start_index) as usize]
                    })
                    .collect();
                ChannelChunk {
                    start_index: start,
                    samples,
                }
            }
        })
        .collect();
    Block { chunks }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finder(names: &'static [&'static str]) -> impl Fn(&str) -> Option<usize> {
        move |s: &str| names.iter().position(|n| n.eq_ignore_ascii_case(s.trim()))
    }

    #[test]
    fn exact_name_wins_over_a_derivation() {
        let f = finder(&["EMG Chin1-Chin2", "EMG Chin1", "Chin2"]);
        assert_eq!(resolve("EMG Chin1-Chin2", &f), Ok(Some(Pick::One(0))));
        assert_eq!(resolve("EMG Chin1 - Chin2", &f), Ok(Some(Pick::Diff(1, 2))));
    }

    #[test]
    fn two_readings_are_an_error_and_unknown_is_none() {
        let f = finder(&["a", "b-c", "a-b", "c"]);
        let e = resolve("a-b-c", &f).unwrap_err();
        assert!(
            e.contains("\"a\" minus \"b-c\"") && e.contains("\"a-b\" minus \"c\""),
            "{e}"
        );
        assert_eq!(resolve("x-y", &f), Ok(None));
        assert!(resolve("a-a", &f).is_err());
    }

    #[test]
    fn difference_covers_the_common_indices() {
        let block = Block {
            chunks: vec![
                ChannelChunk {
                    start_index: 10,
                    samples: vec![1.0, 2.0, 3.0, 4.0],
                },
                ChannelChunk {
                    start_index: 11,
                    samples: vec![0.5, 0.5, 0.5, 0.5],
                },
            ],
        };
        let out = apply(&[Pick::Diff(0, 1), Pick::One(1)], block);
        assert_eq!(out.chunks[0].start_index, 11);
        assert_eq!(out.chunks[0].samples, vec![1.5, 2.5, 3.5]);
        assert_eq!(out.chunks[1].samples.len(), 4);
    }
}
