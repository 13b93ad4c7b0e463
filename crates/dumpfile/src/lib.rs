//! Physical memory out of what users have: Windows crash dumps, raw images and ELF cores.
//!
//! [`Dump::open`] memory-maps a file and detects its container by content:
//!
//! | container | detected by | physical memory |
//! |---|---|---|
//! | crash dump, 32-bit | `PAGEDUMP`, header 0x1000 bytes | by DumpType / second header |
//! | crash dump, 64-bit | `PAGEDU64`, header 0x2000 bytes | by DumpType / second header |
//! | ELF core | `\x7fELF`, `ET_CORE` | `PT_LOAD` segments by `p_paddr` |
//! | raw image | anything else | the file is memory from address 0 |
//!
//! Crash dumps: DumpType 1 (full, run table), 2 (summary, `SDMP` bitmap of `ntiodump.h`), 4 (triage:
//! driver list, data blocks, KDBG copy; no physical memory), 5/6 (bitmap, `SDMP`/`FDMP`, rank
//! index), 8/9/0xA (`RDMP` page ranges), 3 (header only).
//!
//! Every read says what happened ([`ReadStatus`]): a page the dump does not hold is an answer,
//! not an error. A truncated dump opens; [`Dump::missing_bytes`] says how much is gone.
//!
//! ```
//! use pooldbg_dumpfile::{Dump, PhysicalMemory, ReadStatus};
//! // A 2-page raw image: page 1 is filled with 0xAB.
//! let mut image = vec![0u8; 0x2000];
//! image[0x1000..].fill(0xAB);
//! let dump = Dump::from_vec(image).unwrap();
//! let mut buf = [0u8; 16];
//! assert!(dump.read_physical(0x1ff0, &mut buf).is_ok());
//! assert_eq!(buf, [0xAB; 16]);
//! assert_eq!(dump.read_physical(0x5000, &mut buf).status, ReadStatus::OutOfRange);
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

mod dump;
mod error;
pub mod header;
mod layout;
mod read;
pub mod triage;

pub use dump::{Dump, DumpKind, ForceContainer, OpenOptions, Warning};
pub use error::DumpError;
pub use header::{Bitness, DumpType, HeaderInfo};
pub use layout::{Run, Segment};
pub use read::{PAGE_SHIFT, PAGE_SIZE, PhysicalMemory, ReadOutcome, ReadSpan, ReadStatus};
pub use triage::{DataBlock, TriageDriver, TriageInfo};

// A dump is shared between threads (the host's parallel scans): keep it Send + Sync.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Dump>();
};

/// The README's examples, compiled as doctests so that they stay true to the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
