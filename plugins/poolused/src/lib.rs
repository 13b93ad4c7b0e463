//! pooldbg plugin `!poolused`: pool use per tag (tracker tables, or a scan when none is readable).
//!
//! The logic is [`poolcmds::poolused::run`]; this crate is the `export_plugin!` shell
//! (`libpooldbg_poolused.so`). Call [`PoolUsed`] in-process through `plugin_sdk::Command::run`.

// `export_plugin!` allows its own audited unsafe (the ABI entry point); nothing else here may.
#![deny(unsafe_code)]

poolcmds::command! {
    /// `!poolused [FLAGS [TAG]]`.
    PoolUsed, "poolused", "pool use per tag, from the tracker tables (or a pool scan)", poolused
}

plugin_sdk::export_plugin!(name: "poolused", version: env!("CARGO_PKG_VERSION"), commands: [PoolUsed]);
