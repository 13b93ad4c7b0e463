//! Pool tag owners for pooldbg: a tolerant pooltag.txt parser, the project's embedded tag database,
//! layered lookup (`--pooltag` files > `POOLDBG_POOLTAG` > a WinDbg install > embedded) that says which
//! layer named a tag, the WinDbg display form of a tag, and a search for unknown tags in driver images.
//!
//! ```
//! use pooldbg_pooltag::{Tag, TagLookup};
//!
//! let tags = TagLookup::embedded();
//! let tag: Tag = "MmSt".parse().unwrap();
//! let answer = tags.lookup(tag).expect("the embedded file knows MmSt");
//! assert_eq!(answer.first().binary, "nt!mm");
//! assert_eq!(answer.source().kind(), "embedded");
//! ```
//!
//! The format accepted, the layering and where the embedded facts come from are described in the
//! workspace's `docs/POOLTAG.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod db;
mod images;
mod layers;
mod parse;
mod tag;

pub use db::{Matches, Source, TagDb};
pub use images::{Candidate, NotSearched, find_tag_in_images};
pub use layers::{
    Answer, EXTENSION_PATH_ENV, LoadError, LoadOptions, MAX_FILE_BYTES, POOLTAG_ENV, TagLookup,
    WinDbgSearch, extension_path_candidates, find_windbg_pooltag, load_file, windbg_candidates,
};
pub use parse::{Entry, Parsed, TagPattern, Warning, WarningKind, parse, parse_bytes};
pub use tag::{PROTECTED_POOL, Tag, TagParseError};

/// The text of the project's own `crates/pooltag/data/pooltag.txt` (tag -> owning binary facts; descriptions empty),
/// compiled in. Its header says where the facts come from.
pub const EMBEDDED_POOLTAG: &str = include_str!("../data/pooltag.txt");

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
