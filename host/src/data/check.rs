//! `kvs check-data DIR [--fix]`: what a data directory holds and where it is
//! damaged, without starting a server (Redis has `redis-check-aof`).
//!
//! With `--fix`, the first damaged segment is copied to a backup beside it
//! and cut at the damage, and the segments after it are moved aside (their
//! writes came after writes that are lost, so replaying them alone could
//! bring back a state that never was); kvs then starts with every write
//! before the damage.

use super::recovery::{self, Damage};
use super::{Layout, lock};
use crate::ops::snapshot;
use crate::store::{Limits, Store};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `kvs check-data`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The data directory to check (the server must not be running on it).
    pub dir: PathBuf,
    /// Keep a backup of the damaged segment and cut the log at the damage.
    #[arg(long)]
    pub fix: bool,
}

/// Checks the directory and prints what it finds; `Ok(false)` when damage
/// remains (the exit status is then 1).
pub fn run(args: &CheckArgs) -> anyhow::Result<bool> {
    anyhow::ensure!(
        args.dir.is_dir(),
        "{} is not a directory",
        args.dir.display()
    );
    let _lock = lock(&args.dir)?;
    let layout = Layout::new(&args.dir);
    match layout.newest_snapshot()? {
        Some((_, path)) => {
            let store = Store::new(unlimited());
            match snapshot::load(&store, &path) {
                Ok(summary) => println!(
                    "snapshot {}: {} entries, ok",
                    path.display(),
                    summary.map_or(0, |s| s.entries)
                ),
                Err(error) => {
                    println!("snapshot {}: DAMAGED: {error:#}", path.display());
                    return Ok(false);
                }
            }
        }
        None => println!("no snapshot: the log is replayed from its first segment"),
    }
    for (_, path) in layout.segments_to_replay()? {
        let scanned = recovery::scan(&path)?;
        match scanned.damage {
            None => match scanned.zeros_from {
                Some(end) => println!(
                    "segment {}: {} records in {end} bytes, ok; then {} bytes of zeros the log \
                     had reserved (the server stopped without closing it)",
                    path.display(),
                    scanned.records.len(),
                    scanned.length - end
                ),
                None => println!(
                    "segment {}: {} records, {} bytes, ok",
                    path.display(),
                    scanned.records.len(),
                    scanned.length
                ),
            },
            Some((offset, reason)) => println!(
                "segment {}: {} good records, then damage at byte {offset} of {} ({reason})",
                path.display(),
                scanned.records.len(),
                scanned.length
            ),
        }
    }
    let Some(damage) = recovery::first_damage(&layout)? else {
        println!("the data directory is whole");
        return Ok(true);
    };
    if damage.tail {
        println!(
            "the damage is a torn tail (a write cut short by a crash): kvs cuts it off itself \
             at start-up, losing nothing that was acknowledged"
        );
    }
    if !args.fix {
        if !damage.tail {
            println!(
                "kvs will not start on this directory; run `kvs check-data {} --fix` to keep a \
                 backup and cut the log at byte {} of {}",
                args.dir.display(),
                damage.offset,
                damage.path.display()
            );
        }
        return Ok(damage.tail);
    }
    fix(&layout, &damage)?;
    Ok(true)
}

/// Backs up the damaged segment, cuts it at the damage, and moves the later
/// segments aside.
fn fix(layout: &Layout, damage: &Damage) -> anyhow::Result<()> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let backup = aside(&damage.path, stamp);
    std::fs::copy(&damage.path, &backup).with_context(|| {
        format!(
            "backing up {} to {}",
            damage.path.display(),
            backup.display()
        )
    })?;
    let file = std::fs::OpenOptions::new().write(true).open(&damage.path)?;
    file.set_len(damage.offset)?;
    file.sync_all()?;
    println!(
        "cut {} at byte {} (backup: {})",
        damage.path.display(),
        damage.offset,
        backup.display()
    );
    for (_, later) in layout.segments()? {
        if later > damage.path {
            let moved = aside(&later, stamp);
            std::fs::rename(&later, &moved)?;
            println!(
                "moved {} aside to {}: its writes came after the damage",
                later.display(),
                moved.display()
            );
        }
    }
    Ok(())
}

/// `FILE.bak-STAMP`, a name recovery never reads.
fn aside(path: &Path, stamp: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".bak-{stamp}"));
    path.with_file_name(name)
}

/// Limits that refuse nothing, to read whatever a snapshot holds.
fn unlimited() -> Limits {
    Limits {
        max_key_bytes: usize::MAX,
        max_value_bytes: usize::MAX,
        max_content_type_bytes: usize::MAX,
        max_store_bytes: usize::MAX,
        max_page_size: usize::MAX,
    }
}
