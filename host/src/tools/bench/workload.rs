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

/// What one run writes: value `i` is `value_size` copies of one letter, so a
/// reply is checked against a value built once; fresh keys carry the run's
/// id, so a run never meets keys an earlier, interrupted run left behind.
#[derive(Debug, Clone)]
pub struct Workload {
    by_letter: Vec<Bytes>,
    run: u64,
}

impl Workload {
    pub fn new(size: usize) -> Self {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_nanos() as u64);
        Self {
            by_letter: (b'a'..=b'z')
                .map(|byte| Bytes::from(vec![byte; size]))
                .collect(),
            run,
        }
    }

    /// The value stored under key number `i`; cheap (reference-counted).
    pub fn value(&self, i: usize) -> Bytes {
        self.by_letter[i % self.by_letter.len()].clone()
    }
}

/// The key the get and put workloads use for key number `i`; made for every
/// request, so without the formatting machinery.
pub fn bench_key(i: usize) -> String {
    let mut key = b"bench-".to_vec();
    kvs_model::resp::push_decimal(&mut key, i);
    String::from_utf8(key).expect("ASCII")
}

/// The steps of iteration `n` of connection `id`.
pub fn steps(args: &BenchArgs, workload: &Workload, id: usize, n: usize) -> Vec<Step> {
    let spread = (id * 7919 + n * 104_729) % args.keys.max(1);
    match args.mix {
        Mix::Get => vec![Step {
            op: Op::Get,
            key: bench_key(spread),
            value: Some(workload.value(spread)),
        }],
        // Writes the value the key already holds, so a get run afterwards
        // still checks correctly.
        Mix::Put => vec![Step {
            op: Op::Update,
            key: bench_key(spread),
            value: Some(workload.value(spread)),
        }],
        Mix::Cycle => {
            let key = format!("cycle-{:x}-{id}-{n}", workload.run);
            let (first, second) = (workload.value(n), workload.value(n + 1));
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
