//! Windows kernel pool structures per version and architecture, decoded from byte slices.
//!
//! `poollayout` knows where every pool structure's fields are on every Windows version from 2000 to Windows 11
//! (x86 and x64) and decodes them from `&[u8]` with `scroll`. It does no I/O: callers read the bytes (from a
//! dump, an image, a test array) and pass them in with the address they came from.
//!
//! * [`Layout::for_build`] picks the layout of an (architecture, build) from a data table ([`table::FAMILIES`]):
//!   a new build is a row, not code. Builds from 26100 on are reported as unsupported.
//! * `_POOL_HEADER`: [`Layout::decode_header`], [`Layout::header_state`], [`Layout::header_pool_type`],
//!   [`Layout::process_billed`] (the Windows 8+ quota cookie), [`Tag`] and [`PoolType`] as WinDbg shows them.
//! * `!poolused`: [`Layout::decode_tracker`] / [`Layout::tracker_entries`] over `PoolTrackTable` and the tables
//!   named in [`TrackerTables`]; big allocations with [`Layout::decode_big_page`].
//! * `!vm` / `!frag`: [`Layout::decode_descriptor`], [`Layout::descriptor_list_heads`],
//!   [`Layout::decode_paged_pool_info`], [`Layout::decode_free_pool_entry`].
//! * `!pool`: [`Layout::walk_page`] (classic pages), [`Layout::walk_vs_subsegment`] and
//!   [`Layout::walk_lfh_subsegment`] (19H1+), reached through [`Layout::decode_pool_state`],
//!   [`Layout::decode_heap_keys`], [`Layout::decode_segment_heap`] and [`Layout::page_ranges`].
//! * Every VS/LFH subsegment of a 19H1+ pool, through a caller's reader (the one segment-heap walker of every
//!   command): [`segheap_walk::SegPool`], then [`segheap_walk::read_subsegment`] and
//!   [`segheap_walk::walk_subsegment`] / [`segheap_walk::vs_chunks`] / [`segheap_walk::lfh_blocks`] per subsegment.
//! * Where the pool is, per version: [`regions::pool_regions`] through a caller's [`regions::PoolVaView`]
//!   (the host over its symbols, the pool commands over their `Target`); a failed read is a [`ReadFault`].
//!
//! ```
//! use pooldbg_poollayout::{Arch, Layout};
//!
//! let layout = Layout::for_build(Arch::X64, 19041)?;
//! let tracker = layout.tracker()?; // 0x38-byte entries on 2004
//! let mut entry = vec![0u8; tracker.size];
//! entry[..4].copy_from_slice(b"Proc");
//! entry[0x10] = 7; // NonPagedAllocs
//! let e = layout.decode_tracker(&entry)?;
//! assert_eq!((e.tag.to_string(), e.nonpaged_allocs), ("Proc".to_string(), 7));
//! # Ok::<(), pooldbg_poollayout::Error>(())
//! ```
//!
//! Every fact's source is named next to it and in docs/POOL_LAYOUTS.md.

#![forbid(unsafe_code)]

pub mod descriptor;
pub mod error;
pub mod header;
pub mod layout;
pub mod pooltype;
pub mod read;
pub mod regions;
pub mod segheap;
pub mod segheap_keys;
pub mod segheap_walk;
pub mod table;
pub mod tag;
pub mod tracker;
pub mod walk;

pub use descriptor::{FreePoolEntry, ListHead, PagedPoolInfo, PoolDescriptor, decode_pool_link};
pub use error::{Error, FaultKind, ReadFault, Result};
pub use header::{BlockState, PoolHeader};
pub use layout::{
    AllocationMap, Arch, BigPageDetail, BigPageLayout, Confidence, DescriptorCounters,
    DescriptorLayout, Family, FreePoolEntryLayout, HeaderFormat, Layout, PagedPoolInfoLayout,
    PoolTypeEra, SegmentHeapLayout, TrackerLayout, TrackerTables,
};
pub use pooltype::PoolType;
pub use read::{Field, Width};
pub use segheap::{
    HeapKeys, LfhSubsegment, PageRange, PoolState, RangeKind, SegContext, SegmentHeap, VsChunk,
    range_containing, vs_pool_header,
};
pub use tag::Tag;
pub use tracker::{BigPageEntry, TrackerEntry};
pub use walk::{HeaderError, Walk, WalkSummary, WalkedBlock};
