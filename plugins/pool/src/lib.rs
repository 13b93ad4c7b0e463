//! pooldbg plugin `!pool` and `!poolfind`.
//!
//! The logic is [`poolcmds::pool::run`] and [`poolcmds::poolfind::run`]; this crate is the
//! `export_plugin!` shell (`libpooldbg_pool.so`). Call [`Pool`] / [`PoolFind`] in-process through
//! `plugin_sdk::Command::run`.

use plugin_sdk::{Command, CommandError, Output, Target};

/// `!pool [ADDRESS [FLAGS]]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pool;

impl Command for Pool {
    fn name(&self) -> &'static str {
        "pool"
    }
    fn summary(&self) -> &'static str {
        "the pool blocks around an address, or the pool regions"
    }
    fn usage(&self) -> &'static str {
        poolcmds::pool::USAGE
    }
    fn columns(&self) -> &'static [&'static str] {
        poolcmds::pool::COLUMNS
    }
    fn run(&self, target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        poolcmds::pool::run(target, args, out)
    }
}

/// `!poolfind TAG [POOLTYPE]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolFind;

impl Command for PoolFind {
    fn name(&self) -> &'static str {
        "poolfind"
    }
    fn summary(&self) -> &'static str {
        "find pool allocations by tag (big page table, then a scan)"
    }
    fn usage(&self) -> &'static str {
        poolcmds::poolfind::USAGE
    }
    fn columns(&self) -> &'static [&'static str] {
        poolcmds::poolfind::COLUMNS
    }
    fn run(&self, target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        poolcmds::poolfind::run(target, args, out)
    }
}

plugin_sdk::export_plugin!(name: "pool", version: env!("CARGO_PKG_VERSION"), commands: [Pool, PoolFind]);
