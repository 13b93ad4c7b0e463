//! Write pooldbg command plugins in safe Rust.
//!
//! A command is a type implementing [`Command`]: its `run` gets a [`Target`] (the dump: reads,
//! symbols, types, pool tags), the raw argument string, and an [`Output`] that collects JSON rows,
//! a summary and warnings. [`export_plugin!`] turns a set of commands into a plugin library: it
//! exports the C entry point of [`plugin_abi`] and wraps every call from the host in
//! `catch_unwind`, so a panicking command becomes an error message, never a crashed host.
//!
//! The host implements the same [`Target`] trait in-process over its dump, so a command's logic is a
//! plain function that tests can call with the in-memory [`MemoryTarget`], no FFI involved.
//!
//! ```
//! use pooldbg_plugin_sdk::{Command, CommandError, Output, Target, TargetExt};
//! use serde_json::json;
//!
//! struct KernelMagic;
//!
//! impl Command for KernelMagic {
//!     fn name(&self) -> &'static str { "kmagic" }
//!     fn summary(&self) -> &'static str { "show the first two bytes of the kernel image" }
//!     fn usage(&self) -> &'static str { "!kmagic" }
//!     fn run(&self, target: &dyn Target, _args: &str, out: &mut Output) -> Result<(), CommandError> {
//!         let base = target.info().kernel_base;
//!         let mut magic = [0u8; 2];
//!         target.read_virtual_exact(base, &mut magic)?;
//!         out.row(json!({ "base": pooldbg_plugin_sdk::hex(base), "magic": String::from_utf8_lossy(&magic) }));
//!         Ok(())
//!     }
//! }
//!
//! // In a plugin's lib.rs (crate-type = ["cdylib"]):
//! // pooldbg_plugin_sdk::export_plugin!(name: "kmagic", version: "0.1.0", commands: [KernelMagic]);
//!
//! // In a test, no FFI:
//! let target = pooldbg_plugin_sdk::MemoryTarget::new(pooldbg_plugin_sdk::TargetInfo {
//!     kernel_base: 0xfffff800_02a00000,
//!     ..Default::default()
//! })
//! .with_virtual(0xfffff800_02a00000, b"MZ\x90\x00");
//! let mut out = Output::new();
//! KernelMagic.run(&target, "", &mut out).unwrap();
//! assert_eq!(out.rows()[0]["magic"], "MZ");
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod args;
mod export;
mod host_target;
mod memory;
mod output;
pub mod rows;
mod target;

pub use host_target::HostTarget;
pub use memory::{MemoryTarget, Progress};
pub use output::{Output, OutputStream, VERBOSE_TEXT, validate_row};
pub use rows::{Row, check_columns, columns_of, is_ordered_subset, merge_columns, serialized_keys};
pub use target::{
    Arch, BitRange, FieldOffset, ImageHit, ImageSearchError, LogLevel, PAGE_SIZE, PageCounts,
    PageVisitor, PresentPages, Read, ReadError, ReadStatus, Source, Sourced, TagInfo, Target,
    TargetExt, TargetInfo, tag_is_searchable, visit_pages_by_reading,
};

/// The raw C ABI this SDK wraps.
pub use plugin_abi as abi;
/// The JSON crate rows are built with (re-exported so plugins use the same version).
pub use serde_json;

#[doc(hidden)]
pub mod __private {
    pub use crate::export::{PluginCell, PluginSpec, entry, run};
}

/// A command a plugin provides (`!name args`).
///
/// Implementations must be `Send + Sync`: the host may keep a plugin loaded for the whole session
/// and call its commands from any thread.
pub trait Command: Send + Sync {
    /// The command's name without `!` (e.g. `"poolused"`): ASCII letters, digits, `_` and `-`.
    fn name(&self) -> &'static str;
    /// One line saying what it does.
    fn summary(&self) -> &'static str;
    /// Its arguments, e.g. `"!poolused [FLAGS] [TAG]"`.
    fn usage(&self) -> &'static str;
    /// Runs it on `target` with the raw argument string that followed the name.
    fn run(&self, target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError>;
    /// The columns of its rows, in order (the CSV header, the text table): the plugin owns its
    /// schema. Empty (the default): none declared, and the host orders the keys itself (sorted).
    /// A command with typed rows ([`Row`], [`row!`]) returns [`columns_of`] its row type, or
    /// [`merge_columns`] of its row types kept in a `static`.
    fn columns(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Why a command failed: the one error type of every command (the host's, the pool command
/// library's, third-party plugins').
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The arguments were not understood; the text says how to call the command
    /// ([`args::UsageError`] converts into this).
    Usage(String),
    /// The target's [`Target::is_cancelled`] said stop.
    Cancelled,
    /// A read the command could not do without: the address, the length and why (not in the
    /// dump, paged out, not mapped).
    Read(ReadError),
    /// What the command looks for is not in this dump or kernel (a symbol, a structure, a pool).
    NotFound(String),
    /// Anything else, with a message naming what failed (and the address, where there is one).
    Failed(String),
}

impl CommandError {
    /// A [`CommandError::Failed`] with `message`.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        CommandError::Failed(message.to_string())
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Usage(m) => write!(f, "usage: {m}"),
            CommandError::Cancelled => f.write_str("cancelled"),
            CommandError::Read(e) => e.fmt(f),
            CommandError::NotFound(m) | CommandError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CommandError {}

impl From<ReadError> for CommandError {
    fn from(e: ReadError) -> Self {
        CommandError::Read(e)
    }
}

impl From<String> for CommandError {
    fn from(e: String) -> Self {
        CommandError::Failed(e)
    }
}

impl From<&str> for CommandError {
    fn from(e: &str) -> Self {
        CommandError::Failed(e.to_owned())
    }
}

impl From<serde_json::Error> for CommandError {
    fn from(e: serde_json::Error) -> Self {
        CommandError::Failed(format!("JSON: {e}"))
    }
}

/// Formats an address or other pointer-sized value as the output contract wants it:
/// lowercase hex with `0x` (`"0xfffff80002a00000"`).
pub fn hex(value: u64) -> String {
    format!("{value:#x}")
}

/// Generates a plugin's exported entry point (`pooldbg_plugin_v1`) and the C shims for `commands`.
///
/// Use it once, at the root of a `cdylib` crate:
///
/// ```text
/// pooldbg_plugin_sdk::export_plugin! {
///     name: "hello",
///     version: env!("CARGO_PKG_VERSION"),
///     commands: [Hello, Goodbye::default()],
/// }
/// ```
///
/// `commands` are expressions of types implementing [`Command`]; they are built on the first call
/// from the host. Every generated function catches panics: a panic while describing the plugin
/// makes the host reject it, a panic in a command becomes that command's error
/// (`"plugin panicked at src/lib.rs:12:9: message"`). Build plugins with `panic = "unwind"` (the
/// default): with `panic = "abort"` nothing can be caught.
#[macro_export]
macro_rules! export_plugin {
    (name: $name:expr, version: $version:expr, commands: [$($command:expr),* $(,)?] $(,)?) => {
        /// The plugin's entry point (ABI version 1), generated by `export_plugin!`.
        // The ABI needs `no_mangle` and one unsafe call (SAFETY below); allowed here so a plugin
        // crate can `#![deny(unsafe_code)]` for everything it writes itself.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn pooldbg_plugin_v1() -> *const $crate::abi::PluginDescriptor {
            static PLUGIN: $crate::__private::PluginCell = $crate::__private::PluginCell::new();

            fn build() -> $crate::__private::PluginSpec {
                $crate::__private::PluginSpec {
                    name: $name,
                    version: $version,
                    commands: ::std::vec![
                        $(::std::boxed::Box::new($command) as ::std::boxed::Box<dyn $crate::Command>),*
                    ],
                }
            }

            unsafe extern "C" fn run(
                host: *const $crate::abi::HostApi,
                ctx: *mut $crate::abi::HostContext,
                command: u32,
                args: $crate::abi::Str,
            ) -> u32 {
                // SAFETY: the host calls this through the descriptor with its own table and context,
                // as the ABI says; `run` checks both before use.
                unsafe { $crate::__private::run(&PLUGIN, host, ctx, command, args) }
            }

            $crate::__private::entry(&PLUGIN, build, run)
        }
    };
}

/// Parses a command's optional `[flags]` argument as WinDbg does ([`args::parse_number`]:
/// hexadecimal, `0x` optional, `0n` decimal), empty meaning 0. `usage` names the command in the error (`"!vm [flags]"`).
pub fn parse_hex_flags(args: &str, usage: &str) -> Result<u64, CommandError> {
    let a = args.trim();
    if a.is_empty() {
        return Ok(0);
    }
    args::parse_number(a).map_err(|e| CommandError::Usage(format!("{usage}: {e}")))
}

#[cfg(test)]
mod flag_tests {
    use super::*;

    #[test]
    fn hex_flags_as_windbg_reads_them() {
        assert_eq!(parse_hex_flags("", "!x").unwrap(), 0);
        assert_eq!(parse_hex_flags(" 1f ", "!x").unwrap(), 0x1f);
        assert_eq!(parse_hex_flags("0X20", "!x").unwrap(), 0x20);
        assert_eq!(parse_hex_flags("0n20", "!x").unwrap(), 20);
        assert!(parse_hex_flags("1`0000000000000000", "!x").is_err());
        let e = parse_hex_flags("zz", "!vm [flags]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("!vm [flags]") && e.contains("zz"), "{e}");
    }
}
