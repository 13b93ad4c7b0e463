//! pooldbg plugin `!frag`.
//!
//! The logic is [`poolcmds::frag`]; this crate is the `export_plugin!` shell (`libpooldbg_frag.so`).
//! Call [`Frag`] in-process through `plugin_sdk::Command::run`, or [`frag`] for the typed report.

use plugin_sdk::{Command, CommandError, Output, Target};

pub use poolcmds::frag::{
    Allocator, FragReport, FragRow, MAX_LIST_ENTRIES, frag, parse_flags, render_text,
};

/// `!frag [flags]`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Frag;

impl Command for Frag {
    fn name(&self) -> &'static str {
        "frag"
    }
    fn summary(&self) -> &'static str {
        "nonpaged pool fragmentation: free fragments and bytes per free list (WinDbg !frag)"
    }
    fn usage(&self) -> &'static str {
        poolcmds::frag::USAGE
    }
    fn columns(&self) -> &'static [&'static str] {
        poolcmds::frag::COLUMNS
    }
    fn run(&self, target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        poolcmds::frag::run(target, args, out)
    }
}

plugin_sdk::export_plugin!(name: "frag", version: env!("CARGO_PKG_VERSION"), commands: [Frag]);
