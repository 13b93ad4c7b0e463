//! Errors of this crate: every one names the offset or address and what was expected.

use crate::layout::Arch;

/// Why a decode or a layout lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The byte slice is too short for the structure.
    #[error("{what}: need {need} bytes at offset {offset:#x}, the buffer holds {have}")]
    Truncated {
        /// The structure or field being read.
        what: &'static str,
        /// Offset in the slice where the read started.
        offset: usize,
        /// Bytes needed from `offset`.
        need: usize,
        /// Length of the slice.
        have: usize,
    },
    /// No layout is known for this build (too old, or past the public research).
    #[error("{arch} build {build} is not supported: {reason}")]
    UnsupportedBuild {
        /// Architecture asked for.
        arch: Arch,
        /// Build number asked for.
        build: u32,
        /// Why.
        reason: &'static str,
    },
    /// The structure does not exist in this version's layout (e.g. `_POOL_DESCRIPTOR.ListHeads` on 19H1+).
    #[error("{what} does not exist in the {family} layout")]
    NotInLayout {
        /// The structure or field.
        what: &'static str,
        /// The family's name.
        family: &'static str,
    },
    /// The bytes are readable but do not form a valid structure.
    #[error("{what} at {address:#x}: {reason}")]
    Invalid {
        /// The structure.
        what: &'static str,
        /// Virtual address (or offset, when no address is known) of the structure.
        address: u64,
        /// What was expected.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = core::result::Result<T, Error>;

/// Why a read of the target's memory failed, as the reader a walker is given reports it: typed,
/// so a command can tell "paged out" from "not in the dump" instead of parsing a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReadFault {
    /// The first address that could not be read.
    pub address: u64,
    /// Why.
    pub kind: FaultKind,
    /// The reader's own wording (address, length and reason), for text output.
    pub message: String,
}

impl ReadFault {
    /// A fault of `kind` at `address`, worded `"{address:#x}: {kind}"` (for readers with no wording
    /// of their own, and tests).
    pub fn new(address: u64, kind: FaultKind) -> ReadFault {
        ReadFault {
            address,
            kind,
            message: format!("{address:#x}: {}", kind.name()),
        }
    }

    /// [`ReadFault::new`] with [`FaultKind::NotInDump`].
    pub fn not_in_dump(address: u64) -> ReadFault {
        ReadFault::new(address, FaultKind::NotInDump)
    }
}

/// The reason of a [`ReadFault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// The dump does not hold the page (a kernel or bitmap dump leaves pages out).
    NotInDump,
    /// The page is in a page file, not in memory.
    PagedOut,
    /// The address is not mapped by the page tables (or outside physical memory).
    NotMapped,
    /// The walk was cancelled while reading.
    Cancelled,
    /// Any other failure.
    Other,
}

impl FaultKind {
    /// How a command says it: `"not in the dump"`, `"paged out"`, ….
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::NotInDump => "not in the dump",
            FaultKind::PagedOut => "paged out",
            FaultKind::NotMapped => "not mapped",
            FaultKind::Cancelled => "cancelled",
            FaultKind::Other => "unreadable",
        }
    }
}
