//! pooldbg plugin `!poolused`: pool use per tag (tracker tables, or a scan when none is readable).
//!
//! The logic is [`poolcmds::poolused::run`]; this crate is the `export_plugin!` shell
//! (`libpooldbg_poolused.so`). Call [`PoolUsed`] in-process through `plugin_sdk::Command::run`.

use plugin_sdk::{Command, CommandError, Output, Target};

/// `!poolused [FLAGS [TAG]]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolUsed;

impl Command for PoolUsed {
    fn name(&self) -> &'static str {
        "poolused"
    }
    fn summary(&self) -> &'static str {
        "pool use per tag, from the tracker tables (or a pool scan)"
    }
    fn usage(&self) -> &'static str {
        poolcmds::poolused::USAGE
    }
    fn columns(&self) -> &'static [&'static str] {
        poolcmds::poolused::COLUMNS
    }
    fn run(&self, target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        poolcmds::poolused::run(target, args, out)
    }
}

plugin_sdk::export_plugin!(name: "poolused", version: env!("CARGO_PKG_VERSION"), commands: [PoolUsed]);
