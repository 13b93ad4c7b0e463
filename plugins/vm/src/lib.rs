//! pooldbg plugin `!vm`: the memory manager's counters and the process list, as WinDbg prints them.
//!
//! The logic is [`poolcmds::vm`]; this crate is the `export_plugin!` shell (`libpooldbg_vm.so`).
//! Call [`Vm`] in-process through `plugin_sdk::Command::run`, or [`poolcmds::vm::vm`] for the
//! typed report.

use plugin_sdk::{Command, CommandError, Output, Target};

/// `!vm [flags]`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Vm;

/// Renders a command's output as text: the summary's `text` lines, then `warning:` lines.
/// This is the convention of docs/PLUGINS.md "Text layouts" (the host does the same).
pub fn render_text(out: &Output) -> String {
    out.render_text()
}

impl Command for Vm {
    fn name(&self) -> &'static str {
        "vm"
    }
    fn summary(&self) -> &'static str {
        "virtual memory usage: physical, available, pool usage and maxima, commit, processes (WinDbg !vm)"
    }
    fn usage(&self) -> &'static str {
        poolcmds::vm::USAGE
    }
    fn run(&self, target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        poolcmds::vm::run(target, args, out)
    }
}

plugin_sdk::export_plugin!(name: "vm", version: env!("CARGO_PKG_VERSION"), commands: [Vm]);
