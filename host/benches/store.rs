//! The concurrent store on its own: inserts, reads and a mixed load from one
//! and two threads, in nanoseconds per operation (`cargo bench --bench store`).
//!
//! Each sample starts from a fresh store, so inserts always add new keys and
//! memory does not grow across samples; keys are formatted before the clock
//! starts. Reads and the mix run against 100,000 keys of 100 bytes.

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kvs::store::{Expiry, Limits, Store};
use std::hint::black_box;
use std::time::{Duration, Instant};

const VALUE: &[u8] = &[b'v'; 100];
const READ_KEYS: usize = 100_000;

fn unlimited() -> Store {
    Store::new(Limits {
        max_store_bytes: usize::MAX,
        ..Limits::default()
    })
}

fn keys(thread: usize, count: u64) -> Vec<String> {
    (0..count).map(|i| format!("key-{thread}-{i}")).collect()
}

/// Runs `per_thread` on `threads` threads at once and returns the wall time
/// from the moment all of them are ready until the last one finishes.
fn on_threads<F>(threads: usize, prepare: impl Fn(usize) -> F) -> Duration
where
    F: FnOnce() + Send,
{
    let work: Vec<F> = (0..threads).map(&prepare).collect();
    let barrier = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        for job in work {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                job();
            });
        }
        barrier.wait();
        let started = Instant::now();
        // The scope joins every thread before returning.
        started
    })
    .elapsed()
}

fn inserts(c: &mut Criterion) {
    let mut group = c.benchmark_group("store/insert");
    for threads in [1, 2] {
        group.throughput(Throughput::Elements(1));
        group.bench_function(
            BenchmarkId::from_parameter(format!("{threads} threads")),
            |b| {
                b.iter_custom(|iters| {
                    let store = unlimited();
                    let per_thread = iters.div_ceil(threads as u64);
                    let elapsed = on_threads(threads, |thread| {
                        // Keys made before the clock starts; the entry copies
                        // each into its own allocation.
                        let keys = keys(thread, per_thread);
                        let store = store.clone();
                        move || {
                            for key in keys {
                                store
                                    .create(&key, "text/plain", VALUE, None)
                                    .expect("a new key");
                            }
                        }
                    });
                    // Time per operation across all threads, as a server sees it.
                    elapsed.mul_f64(iters as f64 / (per_thread * threads as u64) as f64)
                });
            },
        );
    }
    group.finish();
}

fn filled() -> Store {
    let store = unlimited();
    for key in keys(0, READ_KEYS as u64) {
        store
            .create(&key, "text/plain", Bytes::from_static(VALUE), None)
            .unwrap();
    }
    store
}

fn reads_and_mix(c: &mut Criterion) {
    let store = filled();
    let names = keys(0, READ_KEYS as u64);
    let mut group = c.benchmark_group("store");
    for threads in [1, 2] {
        group.bench_function(format!("get/{threads} threads"), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads as u64);
                on_threads(threads, |thread| {
                    let (store, names) = (store.clone(), &names);
                    move || {
                        for i in 0..per_thread as usize {
                            let key = &names[(i * 7919 + thread * 104_729) % READ_KEYS];
                            black_box(store.get(key).expect("a stored key"));
                        }
                    }
                })
            });
        });
        // Per thread, of every 10 operations: 8 reads, 1 update, then a
        // create and a delete of a key of its own every other round.
        group.bench_function(format!("mixed/{threads} threads"), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads as u64);
                on_threads(threads, |thread| {
                    let (store, names) = (store.clone(), &names);
                    move || {
                        let own = format!("mixed-{thread}");
                        for i in 0..per_thread as usize {
                            let key = &names[(i * 7919 + thread * 104_729) % READ_KEYS];
                            match i % 10 {
                                8 => {
                                    store
                                        .update(
                                            key,
                                            "text/plain",
                                            Bytes::from_static(VALUE),
                                            None,
                                            Expiry::Clear,
                                        )
                                        .expect("a stored key");
                                }
                                9 if store.get(&own).is_ok() => {
                                    store.delete(&own, None).expect("its own key");
                                }
                                9 => {
                                    store
                                        .create(&own, "text/plain", Bytes::from_static(VALUE), None)
                                        .expect("its own key");
                                }
                                _ => {
                                    black_box(store.get(key).expect("a stored key"));
                                }
                            }
                        }
                    }
                })
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = inserts, reads_and_mix
}
criterion_main!(benches);
