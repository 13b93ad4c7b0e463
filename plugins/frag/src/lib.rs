//! pooldbg plugin `!frag`.
//!
//! The logic is [`poolcmds::frag`]; this crate is the `export_plugin!` shell (`libpooldbg_frag.so`).
//! Call [`Frag`] in-process through `plugin_sdk::Command::run`, or [`frag`] for the typed report.

// `export_plugin!` allows its own audited unsafe (the ABI entry point); nothing else here may.
#![deny(unsafe_code)]

pub use poolcmds::frag::{
    Allocator, FragReport, FragRow, MAX_LIST_ENTRIES, frag, parse_flags, render_text,
};

poolcmds::command! {
    /// `!frag [flags]`.
    Frag, "frag", "nonpaged pool fragmentation: free fragments and bytes per free list (WinDbg !frag)", frag
}

plugin_sdk::export_plugin!(name: "frag", version: env!("CARGO_PKG_VERSION"), commands: [Frag]);
