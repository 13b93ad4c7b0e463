//! The logic of pooldbg's `!poolused`, `!pool` and `!poolfind`, as plain functions over a
//! [`plugin_sdk::Target`].
//!
//! The plugin crates `poolused` (`libpooldbg_poolused.so`) and `pool` (`libpooldbg_pool.so`,
//! `!pool` and `!poolfind`) are thin `export_plugin!` shells over these functions; tests, the host
//! and other tools call them in-process with any `Target` (a `pooldbg::session::Session`, a
//! `plugin_sdk::MemoryTarget`). Two crates that each call `export_plugin!` cannot be linked into one
//! binary, which is why the logic lives here and not in the plugin crates.
//!
//! Text output follows WinDbg's layouts: every command puts its lines in `summary.text` (an array
//! of strings; docs/PLUGINS.md "Text layouts"). A host printing text prints those lines
//! and the warnings; a host printing JSON drops `summary.text`.
//!
//! ```
//! use plugin_sdk::{Arch, MemoryTarget, Output, TargetInfo};
//! let t = MemoryTarget::new(TargetInfo { arch: Arch::X64, build: 7601, pointer_size: 8, ..Default::default() });
//! let mut out = Output::new();
//! // No tracker table and no pool in this empty target: a clear error.
//! let err = poolcmds::poolused::run(&t, "", &mut out).unwrap_err();
//! assert!(err.to_string().contains("no readable pool"), "{err}");
//! ```
#![warn(missing_docs)]

pub mod bydriver;
pub mod common;
pub mod pool;
pub mod poolfind;
pub mod poolused;
pub mod scan;
pub mod segheap;

pub use common::{TagPattern, summary_with_text};
