//! Builds the guest component from `guest/` for `wasm32-wasip2` and leaves it
//! in `OUT_DIR` for `include_bytes!`, together with the test flavors the
//! tests load (`KVS_GUEST_CANARY`, `KVS_GUEST_BROKEN`, `KVS_GUEST_FAULTY`) and
//! the portable component for stock `wasmtime serve` (`KVS_GUEST_PORTABLE`).
//! Each is also copied to `target/guest/kvs_guest[_<flavor>].wasm`.
//!
//! The nested `cargo build` uses its own target directory: sharing the outer
//! build's would deadlock on cargo's artifact lock. The wasm target is added
//! with rustup when it is missing, so a fresh clone builds with one command.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ sits in the workspace");
    let out_dir = PathBuf::from(env("OUT_DIR"));
    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "model/src",
        "model/Cargo.toml",
        "wit",
        "Cargo.lock",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    ensure_target();
    // Next to the outer target directory, so `cargo clean` removes it too and
    // rebuilds stay incremental.
    let target_dir = target_dir_for(&out_dir);
    for (flavor, feature, env_var) in [
        ("default", None, None),
        ("canary", Some("flavor-canary"), Some("KVS_GUEST_CANARY")),
        ("broken", Some("flavor-broken"), Some("KVS_GUEST_BROKEN")),
        ("faulty", Some("flavor-faulty"), Some("KVS_GUEST_FAULTY")),
        ("portable", Some("portable"), Some("KVS_GUEST_PORTABLE")),
    ] {
        let wasm = build_guest(root, &target_dir, feature);
        let name = match flavor {
            "default" => "kvs_guest.wasm".to_string(),
            other => format!("kvs_guest_{other}.wasm"),
        };
        let dest = out_dir.join(&name);
        std::fs::copy(&wasm, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", wasm.display()));
        // A stable path for people: `target/guest/<name>` (the portable
        // component is what `wasmtime serve` runs).
        let published = target_dir.join(&name);
        std::fs::copy(&wasm, &published)
            .unwrap_or_else(|e| panic!("copying {}: {e}", published.display()));
        if let Some(env_var) = env_var {
            println!("cargo:rustc-env={env_var}={}", dest.display());
        }
    }
}

/// Runs the nested `cargo build` of the guest with one flavor feature (or
/// none) and returns the path of the component it wrote. The `guest`
/// profile (the workspace's `Cargo.toml`) is `release` with fat LTO.
fn build_guest(root: &Path, target_dir: &Path, feature: Option<&str>) -> PathBuf {
    let profile = "guest";
    let mut cargo = Command::new(env("CARGO"));
    cargo
        .current_dir(root)
        .args([
            "build",
            "--package",
            "kvs-guest",
            "--target",
            TARGET,
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir);
    if let Some(feature) = feature {
        cargo.args(["--features", feature]);
    }
    // Settings meant for the host must not leak into the guest's build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo.status().expect("failed to run cargo for the guest");
    assert!(
        status.success(),
        "building the guest component ({feature:?}) failed"
    );
    target_dir.join(TARGET).join(profile).join("kvs_guest.wasm")
}

/// Installs the wasm target when rustup manages this toolchain and lacks it.
fn ensure_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let Ok(installed) = installed else {
        // No rustup: the toolchain must already have the target.
        return;
    };
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == TARGET)
    {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    if !matches!(added, Ok(status) if status.success()) {
        panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed; run it by hand"
        );
    }
}

/// `<target>/guest`, found by walking up from `OUT_DIR`
/// (`<target>/<profile>/build/kvs-<hash>/out`).
fn target_dir_for(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .nth(4)
        .map(|target| target.join("guest"))
        .unwrap_or_else(|| out_dir.join("guest-target"))
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}
