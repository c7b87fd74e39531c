//! The Lua scripts that make each store operation atomic in Redis: one
//! script per operation, each run with `EVALSHA` (loaded on first use, and
//! again after a Redis restart), each prefixed with the shared helpers of
//! `lua/prelude.lua`.

use redis::Script;
use std::sync::LazyLock;

macro_rules! script {
    ($file:literal) => {
        LazyLock::new(|| {
            Script::new(concat!(
                include_str!("lua/prelude.lua"),
                include_str!(concat!("lua/", $file))
            ))
        })
    };
}

pub static CREATE: LazyLock<Script> = script!("create.lua");
pub static UPDATE: LazyLock<Script> = script!("update.lua");
pub static DELETE: LazyLock<Script> = script!("delete.lua");
pub static EXPIRE: LazyLock<Script> = script!("expire.lua");
pub static RESTORE: LazyLock<Script> = script!("restore.lua");
pub static ADD: LazyLock<Script> = script!("add.lua");
pub static RENAME: LazyLock<Script> = script!("rename.lua");
pub static DELETE_MANY: LazyLock<Script> = script!("delete_many.lua");
pub static PUT_MANY: LazyLock<Script> = script!("put_many.lua");
pub static RANGE: LazyLock<Script> = script!("range.lua");
pub static SWEEP: LazyLock<Script> = script!("sweep.lua");
pub static STATS: LazyLock<Script> = script!("stats.lua");
