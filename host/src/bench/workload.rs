//! What a benchmark connection does, independent of the protocol: each
//! iteration is a list of [`Step`]s, and each step knows what a correct
//! server must answer, so every reply is checked.

use super::{BenchArgs, Mix};
use bytes::Bytes;

/// The operation of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Create a key that does not exist.
    Create,
    /// Read a key; `value` is what must come back, or `None` for "not found".
    Get,
    /// Replace the value of a key that exists.
    Update,
    /// Remove a key; `value` is what the server must return as removed.
    Delete,
}

/// One request and the reply it must get.
#[derive(Debug, Clone)]
pub struct Step {
    pub op: Op,
    pub key: String,
    /// The value written (create, update), or expected back (get, delete).
    pub value: Option<Bytes>,
}

/// The deterministic values of a run: value `i` is `value_size` copies of
/// one letter, so a reply is checked against a value built once.
#[derive(Debug, Clone)]
pub struct Values {
    by_letter: Vec<Bytes>,
}

impl Values {
    pub fn new(size: usize) -> Self {
        Self {
            by_letter: (b'a'..=b'z')
                .map(|byte| Bytes::from(vec![byte; size]))
                .collect(),
        }
    }

    /// The value stored under key number `i`; cheap (reference-counted).
    pub fn get(&self, i: usize) -> Bytes {
        self.by_letter[i % self.by_letter.len()].clone()
    }
}

/// The key the get and put workloads use for key number `i`.
pub fn bench_key(i: usize) -> String {
    format!("bench-{i}")
}

/// The steps of iteration `n` of connection `id`.
pub fn steps(args: &BenchArgs, values: &Values, id: usize, n: usize) -> Vec<Step> {
    let spread = (id * 7919 + n * 104_729) % args.keys.max(1);
    match args.mix {
        Mix::Get => vec![Step {
            op: Op::Get,
            key: bench_key(spread),
            value: Some(values.get(spread)),
        }],
        // Writes the value the key already holds, so a get run afterwards
        // still checks correctly.
        Mix::Put => vec![Step {
            op: Op::Update,
            key: bench_key(spread),
            value: Some(values.get(spread)),
        }],
        Mix::Cycle => {
            let key = format!("cycle-{}-{id}-{n}", std::process::id());
            let (first, second) = (values.get(n), values.get(n + 1));
            let step = |op, value| Step {
                op,
                key: key.clone(),
                value,
            };
            vec![
                step(Op::Create, Some(first.clone())),
                step(Op::Get, Some(first)),
                step(Op::Update, Some(second.clone())),
                step(Op::Delete, Some(second)),
                step(Op::Get, None),
            ]
        }
    }
}
