//! The logic of pooldbg's `!poolused`, `!pool`, `!poolfind`, `!frag` and `!vm`, as plain functions
//! over a [`plugin_sdk::Target`].
//!
//! The plugin crates `poolused` (`libpooldbg_poolused.so`), `pool` (`libpooldbg_pool.so`,
//! `!pool` and `!poolfind`), `frag` (`libpooldbg_frag.so`) and `vm` (`libpooldbg_vm.so`) are thin
//! `export_plugin!` shells over these functions; tests, the host and other tools call them
//! in-process with any `Target` (a `pooldbg::session::Session`, a `plugin_sdk::MemoryTarget`). Two crates that each call `export_plugin!` cannot be linked into one
//! binary, which is why the logic lives here and not in the plugin crates.
//!
//! Every command module has `run(target, args, out)`, `USAGE` and `COLUMNS` (its rows' columns in
//! order, which the plugin declares through `Command::columns`). Arguments are parsed with
//! [`plugin_sdk::args`] (the host's parser too); errors are [`plugin_sdk::CommandError`], read
//! faults handed to `poollayout` walkers are typed ([`error`]).
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
//! let err = pooldbg_commands::poolused::run(&t, "", &mut out).unwrap_err();
//! assert!(err.to_string().contains("no readable pool"), "{err}");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bydriver;
pub mod common;
pub mod error;
pub mod frag;
pub mod pool;
pub mod poolfind;
pub mod poolused;
pub mod scan;
pub mod segheap;
pub mod vm;

pub use common::{TagPattern, summary_with_text};

#[doc(hidden)]
pub use plugin_sdk as __sdk;

/// Declares a plugin command type that forwards to a command module of this library: its `run`,
/// `USAGE` and `COLUMNS`. The plugin crates are these declarations and one `export_plugin!`.
///
/// ```
/// pooldbg_commands::command! {
///     /// `!frag [flags]`.
///     Frag, "frag", "nonpaged pool fragmentation", frag
/// }
/// assert_eq!(plugin_sdk::Command::name(&Frag), "frag");
/// assert_eq!(plugin_sdk::Command::columns(&Frag), pooldbg_commands::frag::COLUMNS);
/// ```
#[macro_export]
macro_rules! command {
    ($(#[$meta:meta])* $ty:ident, $name:literal, $summary:literal, $module:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $ty;

        impl $crate::__sdk::Command for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn summary(&self) -> &'static str {
                $summary
            }
            fn usage(&self) -> &'static str {
                $crate::$module::USAGE
            }
            fn columns(&self) -> &'static [&'static str] {
                $crate::$module::COLUMNS
            }
            fn run(
                &self,
                target: &dyn $crate::__sdk::Target,
                args: &str,
                out: &mut $crate::__sdk::Output,
            ) -> ::core::result::Result<(), $crate::__sdk::CommandError> {
                $crate::$module::run(target, args, out)
            }
        }
    };
}
