//! Which build of the guest this is, so operators (and the hot-swap tests)
//! can see which guest served a request.

/// Sent as the `kvs-guest` response header on every HTTP response.
pub const NAME: &str = if cfg!(feature = "flavor-canary") {
    concat!(env!("CARGO_PKG_VERSION"), "+canary")
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
