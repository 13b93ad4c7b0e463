//! The `pooldbg` host: the plugin loader, the host side of the plugin ABI, the command
//! dispatcher with the host's own commands, and the renderers. Opening a dump (kernel, modules,
//! reads, symbols) is the library entry `pooldbg-engine`, re-exported here as [`session`].
//!
//! The command line (`src/main.rs`) is a thin shell over this library so that tests can drive the
//! loader directly.
//!
//! ```no_run
//! use pooldbg::loader::{PluginSet, SearchPath};
//!
//! let set = PluginSet::discover(SearchPath::from_environment(&[]));
//! print!("{}", set.render());
//! if let Some((plugin, index)) = set.find("!hello") {
//!     let target = plugin_sdk::MemoryTarget::default();
//!     let outcome = pooldbg::bridge::run_command(plugin, index, &target, "", None);
//!     println!("{:?}", outcome.rows);
//! }
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod batch;
pub mod bridge;
pub mod cli;
pub mod crashguard;
pub mod dispatch;
pub mod entry;
pub mod loader;
pub mod memdump;
pub mod multi;
pub mod outcome;
pub mod progress;
pub mod prompt;
pub mod render;
mod view;

/// The dump glue now lives in the library entry `pooldbg-engine`; these paths stay for callers of
/// `pooldbg::session` and `pooldbg::images`.
pub use pooldbg_engine::{images, session};
