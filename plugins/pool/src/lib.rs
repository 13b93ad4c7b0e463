//! pooldbg plugin `!pool` and `!poolfind`.
//!
//! The logic is [`poolcmds::pool::run`] and [`poolcmds::poolfind::run`]; this crate is the
//! `export_plugin!` shell (`libpooldbg_pool.so`). Call [`Pool`] / [`PoolFind`] in-process through
//! `plugin_sdk::Command::run`.

// `export_plugin!` allows its own audited unsafe (the ABI entry point); nothing else here may.
#![deny(unsafe_code)]

poolcmds::command! {
    /// `!pool [ADDRESS [FLAGS]]`.
    Pool, "pool", "the pool blocks around an address, or the pool regions", pool
}

poolcmds::command! {
    /// `!poolfind TAG [POOLTYPE]`.
    PoolFind, "poolfind", "find pool allocations by tag (big page table, then a scan)", poolfind
}

plugin_sdk::export_plugin!(name: "pool", version: env!("CARGO_PKG_VERSION"), commands: [Pool, PoolFind]);
