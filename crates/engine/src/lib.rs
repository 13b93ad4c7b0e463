//! pooldbg's one library entry: open a Windows crash dump (full, kernel, bitmap, triage) or a raw
//! or ELF memory image, and get what the `pooldbg` binary works with: the identified kernel, its
//! loaded modules, virtual reads that say why they failed (not in the dump, paged out with the
//! page file and offset, not mapped), symbols with their sources, the pool tag database, and the
//! pool commands (`!poolused`, `!pool`, `!poolfind`, `!vm`, `!frag`) run in-process.
//!
//! [`open`] does in one call what a caller wiring `pooldbg-dumpfile` → `pooldbg-paging` →
//! `pooldbg-ntkernel` by hand would have to get right: the page-table walk with the target's own
//! invalid-PTE layout (page-file bits from `_MMPTE_SOFTWARE` once symbols are known; the L1TF
//! layout before), the KDBG's `PteBase`, the Windows 10 19H1+ L1TF PFN swizzle from the KDBG,
//! page-table and kernel scans for headerless images, triage dumps' captured blocks, and symbols
//! from the user's files, a symbol server (feature `symsrv`), the embedded per-build profiles or
//! what is found without symbols. The pooldbg binary is a shell over this crate (its argument
//! parsing, prompt, rendering and plugin loading).
//!
//! ```no_run
//! use plugin_sdk::{Target, TargetExt};
//!
//! let dump = pooldbg_engine::open("MEMORY.DMP".as_ref(), &pooldbg_engine::Options::default())?;
//! let info = dump.info();
//! println!("{} build {} ({})", info.arch.name(), info.build, dump.symbol_source());
//! for m in dump.modules().iter().take(3) {
//!     println!("{:#x} {:#x} {}", m.base, m.base + m.size, m.name);
//! }
//! // A virtual read, with the reason when it fails.
//! let mut buf = [0u8; 16];
//! let mut reads = [plugin_sdk::Read::new(info.kernel_base, &mut buf)];
//! dump.read_virtual(&mut reads);
//! println!("{:?}", reads[0].status);
//! // A pool command, in-process: rows as JSON objects, WinDbg's text in the summary.
//! let used = dump.run("!poolused 2")?;
//! println!("{} tags", used.rows().len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The [`Session`] is also a [`plugin_sdk::Target`], so `pooldbg-commands`' functions and any
//! plugin command run on it directly.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod commands;
pub mod images;
pub mod progress;
pub mod session;

use std::path::Path;

pub use commands::{COMMANDS, RunError};
pub use session::{ModuleInfo, Session, SessionError, SessionOptions};

/// The options of [`open`] (the same type as [`SessionOptions`]): symbol paths, pool tag files,
/// `_NT_SYMBOL_PATH`, progress.
pub type Options = SessionOptions;

/// Opens a dump file (memory-mapped) and identifies its kernel: the one-call entry.
///
/// As [`Session::open`], but a raw or ELF image in which no Windows kernel is found is refused
/// ([`SessionError::NotWindows`], saying what its bytes look like) rather than opened to answer
/// "unknown" to everything; the pooldbg binary does the same.
pub fn open(path: &Path, options: &Options) -> Result<Session, SessionError> {
    let session = Session::open(path, options)?;
    if let Some(why) = session.not_windows() {
        return Err(SessionError::NotWindows(why));
    }
    Ok(session)
}
