//! Which build of the guest this is, so operators (and the hot-swap tests)
//! can see which guest served a request; and the faults the test flavors
//! inject. The component calls these at its edge (the export entry points
//! and the store adapter), never the routing or protocol code.

/// Sent as the `kvs-guest` response header on every HTTP response.
pub const NAME: &str = if cfg!(feature = "flavor-canary") {
    concat!(env!("CARGO_PKG_VERSION"), "+canary")
} else if cfg!(feature = "flavor-faulty") {
    concat!(env!("CARGO_PKG_VERSION"), "+faulty")
} else if cfg!(feature = "flavor-broken") {
    concat!(env!("CARGO_PKG_VERSION"), "+broken")
} else {
    env!("CARGO_PKG_VERSION")
};

/// The `broken` test flavor traps on every call, to prove the host contains it.
pub fn trap_if_broken() {
    if cfg!(feature = "flavor-broken") {
        panic!("this guest is the broken test flavor and traps on every call");
    }
}

/// The `faulty` test flavor traps right after a write to a key named
/// `fault-after-*` took effect (the key is created normally, since no write
/// to it succeeded before), so tests can prove the host reverts the write of
/// a call that fails.
pub fn misbehave_after_write(key: &str) {
    if cfg!(feature = "flavor-faulty") && key.starts_with("fault-after-") {
        panic!("the faulty test flavor traps after writing {key}");
    }
}

/// The `faulty` test flavor misbehaves when the store is asked about one of these keys,
/// and behaves normally otherwise, so tests can prove the host contains a
/// guest that traps, loops forever, grows its memory without bound, or
/// breaks the ABI contract (`fault-utf8`, `fault-bounds`, `fault-handle`).
pub fn misbehave_for(key: &str) {
    if !cfg!(feature = "flavor-faulty") {
        return;
    }
    #[cfg(all(
        target_arch = "wasm32",
        feature = "flavor-faulty",
        not(feature = "portable")
    ))]
    crate::component::contract_violations::violate(key);
    match key {
        "fault-trap" => panic!("the faulty test flavor traps on {key}"),
        "fault-loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "fault-memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        _ => {}
    }
}
