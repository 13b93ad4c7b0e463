//! pooldbg plugin `!vm`: the memory manager's counters and the process list, as WinDbg prints them.
//!
//! The logic is [`poolcmds::vm`]; this crate is the `export_plugin!` shell (`libpooldbg_vm.so`).
//! Call [`Vm`] in-process through `plugin_sdk::Command::run`, or [`vm`] for the typed report.

// `export_plugin!` allows its own audited unsafe (the ABI entry point); nothing else here may.
#![deny(unsafe_code)]

pub use poolcmds::vm::{VmReport, VmRow, columns, parse_flags, render_text, vm};

poolcmds::command! {
    /// `!vm [flags]`.
    Vm, "vm", "virtual memory usage: physical, available, pool usage and maxima, commit, processes (WinDbg !vm)", vm
}

plugin_sdk::export_plugin!(name: "vm", version: env!("CARGO_PKG_VERSION"), commands: [Vm]);
