//! Per-version structure layouts, selected by (architecture, build) from the table in [`crate::table`].

use core::fmt;

use crate::error::{Error, Result};
use crate::read::Field;

/// Processor architecture of the target kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// 32-bit x86 (with or without PAE: the pool structures do not change).
    X86,
    /// x64 (AMD64).
    X64,
}

impl Arch {
    /// Pointer size in bytes.
    pub const fn pointer_size(self) -> usize {
        match self {
            Arch::X86 => 4,
            Arch::X64 => 8,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86 => "x86",
            Arch::X64 => "x64",
        })
    }
}

/// The three byte layouts of `_POOL_HEADER` (docs/POOL_INTERNALS.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFormat {
    /// Windows 2000 x86: 8 bytes, 32-byte blocks, bytes PreviousSize, PoolIndex, **PoolType, BlockSize**, tag at +4
    /// (forensikblog.de "POOL_HEADER", 2006).
    Nt50X86,
    /// x86 XP through Windows 10: 8 bytes, 8-byte blocks; `u16` PreviousSize:9/PoolIndex:7, `u16` BlockSize:9/PoolType:7,
    /// tag at +4 (vol2 `xp_sp2_x86` … `win10_x86_19041` vtypes).
    X86,
    /// x64 all versions: 16 bytes, 16-byte blocks; bytes PreviousSize, PoolIndex, BlockSize, PoolType, tag at +4,
    /// ProcessBilled at +8 (vol2 x64 vtypes; real ISF files 7601–22000).
    X64,
}

impl HeaderFormat {
    /// `sizeof(_POOL_HEADER)`.
    pub const fn header_size(self) -> usize {
        match self {
            HeaderFormat::Nt50X86 | HeaderFormat::X86 => 8,
            HeaderFormat::X64 => 16,
        }
    }
    /// The block unit in bytes: BlockSize and PreviousSize count these.
    pub const fn block_unit(self) -> usize {
        match self {
            HeaderFormat::Nt50X86 => 32,
            HeaderFormat::X86 => 8,
            HeaderFormat::X64 => 16,
        }
    }
    /// log2 of [`Self::block_unit`].
    pub const fn block_shift(self) -> u32 {
        match self {
            HeaderFormat::Nt50X86 => 5,
            HeaderFormat::X86 => 3,
            HeaderFormat::X64 => 4,
        }
    }
}

/// What the PoolType byte of `_POOL_HEADER` means (docs/POOL_INTERNALS.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolTypeEra {
    /// NT 5.x: `(type & 3) + 1`, in-use bit 0x4, 0 = free (ReactOS `expool.c`; poolinfo `POOL_INUSE_XP`).
    Nt5,
    /// NT 6.0 to Windows 10 1809: `type | 0x2`, bit 0 = paged, 0x2 = in use, 0 = free (poolinfo `POOL_INUSE`).
    Nt6,
    /// 19H1+ segment heap: informational; 0x4 = CacheAligned (PreviousSize is then a back-offset), 0x8 = quota.
    /// The in-use state lives in the VS chunk header or the LFH bitmap.
    SegmentHeap,
}

/// `_POOL_TRACKER_TABLE` (one entry of `nt!PoolTrackTable`; docs/POOL_INTERNALS.md §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackerLayout {
    /// Entry size.
    pub size: usize,
    /// `Key` (the tag), always a `u32` at +0.
    pub key: Field,
    /// `NonPagedAllocs`.
    pub nonpaged_allocs: Field,
    /// `NonPagedFrees`.
    pub nonpaged_frees: Field,
    /// `NonPagedBytes`.
    pub nonpaged_bytes: Field,
    /// `PagedAllocs`.
    pub paged_allocs: Field,
    /// `PagedFrees`.
    pub paged_frees: Field,
    /// `PagedBytes`.
    pub paged_bytes: Field,
}

/// Which tracker tables a version has beside `nt!PoolTrackTable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackerTables {
    /// Symbol of the per-processor table array (`ExPoolTagTables`) when the version has it; `!poolused`
    /// sums every non-null entry. `None` where it is absent or unverified (pre-Windows 7, x86).
    pub per_processor: Option<&'static str>,
    /// Symbol of the global session tracker (`ExpSessionPoolTrackTable`, Windows 7 to Server 2022); elsewhere
    /// session trackers hang off `_MM_SESSION_SPACE` (resolve through symbols).
    pub session: Option<&'static str>,
}

/// The per-version part of `_POOL_TRACKER_BIG_PAGES` after `Va` and `Key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BigPageDetail {
    /// XP / 2003: `NumberOfPages` (u32) and, on 2003, `QuotaObject`.
    Pages {
        /// `NumberOfPages`.
        number_of_pages: Field,
        /// `QuotaObject` (2003 only).
        quota_object: Option<Field>,
    },
    /// Vista to 8.1: `PoolType` (u32) and `NumberOfBytes`.
    PoolTypeBytes {
        /// `PoolType`.
        pool_type: Field,
        /// `NumberOfBytes`.
        number_of_bytes: Field,
    },
    /// Windows 10+: a u32 bit field {Pattern 0–7, PoolType 8–19, SlushSize 20–31} and `NumberOfBytes`.
    Packed {
        /// The u32 holding Pattern/PoolType/SlushSize.
        bits: Field,
        /// `NumberOfBytes`.
        number_of_bytes: Field,
    },
}

/// `_POOL_TRACKER_BIG_PAGES` (one entry of `nt!PoolBigPageTable`; docs/POOL_INTERNALS.md §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BigPageLayout {
    /// Entry size.
    pub size: usize,
    /// `Va` (bit 0 set = free entry).
    pub va: Field,
    /// `Key` (the tag).
    pub key: Field,
    /// Size and type fields.
    pub detail: BigPageDetail,
    /// `ProcessBilled` (x64 from 20348).
    pub process_billed: Option<Field>,
}

/// The counters of a `_POOL_DESCRIPTOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescriptorCounters {
    /// Up to Windows 10 1511: running totals.
    Totals {
        /// `RunningAllocs`.
        running_allocs: Field,
        /// `RunningDeAllocs`.
        running_deallocs: Field,
        /// `TotalPages`.
        total_pages: Field,
        /// `TotalBigPages`.
        total_big_pages: Field,
        /// `TotalBytes` (absent on XP).
        total_bytes: Option<Field>,
    },
    /// Windows 10 1607+: allocated and deallocated counters; in use = allocated − deallocated.
    Split {
        /// `RunningAllocs`.
        running_allocs: Field,
        /// `RunningDeallocs`.
        running_deallocs: Field,
        /// `PagesAllocated`.
        pages_allocated: Field,
        /// `PagesDeallocated`.
        pages_deallocated: Field,
        /// `BigPagesAllocated`.
        big_pages_allocated: Field,
        /// `BigPagesDeallocated`.
        big_pages_deallocated: Field,
        /// `BytesAllocated`.
        bytes_allocated: Field,
        /// `BytesDeallocated`.
        bytes_deallocated: Field,
    },
}

/// `_POOL_DESCRIPTOR` (docs/POOL_INTERNALS.md §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorLayout {
    /// Structure size.
    pub size: usize,
    /// `PoolType` (u32).
    pub pool_type: Field,
    /// `PoolIndex` (u32).
    pub pool_index: Field,
    /// The counters.
    pub counters: DescriptorCounters,
    /// `ListHeads[count]` offset and count (free blocks of `i + 1` units in list `i`); none from 19H1.
    pub list_heads: Option<(usize, usize)>,
}

/// Where `_MM_PAGED_POOL_INFO.PagedPoolAllocationMap` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocationMap {
    /// XP / 2003: a pointer to an `_RTL_BITMAP`.
    Pointer(Field),
    /// Vista+: an embedded bitmap header `{SizeOfBitMap, Buffer}` (`_RTL_BITMAP`, or `_RTL_BITMAP_EX` with a
    /// 64-bit size).
    Embedded {
        /// Offset of the embedded header.
        offset: usize,
        /// `SizeOfBitMap`.
        size_of_bitmap: Field,
        /// `Buffer`.
        buffer: Field,
    },
}

/// `_MM_PAGED_POOL_INFO` (`nt!MmPagedPoolInfo`; docs/POOL_INTERNALS.md §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagedPoolInfoLayout {
    /// Structure size.
    pub size: usize,
    /// `PagedPoolAllocationMap` (absent from 19H1).
    pub allocation_map: Option<AllocationMap>,
    /// `EndOfPagedPoolBitmap` pointer (XP / 2003).
    pub end_of_bitmap: Option<Field>,
    /// `FirstPteForPagedPool`.
    pub first_pte: Option<Field>,
    /// `PagedPoolHint`.
    pub hint: Option<Field>,
    /// `PagedPoolCommit` (XP to 7).
    pub commit: Option<Field>,
    /// `MaximumSize` (8.1+).
    pub maximum_size: Option<Field>,
    /// `AllocatedPagedPool` (pages).
    pub allocated: Field,
}

/// `_MMFREE_POOL_ENTRY`: the first page of a free nonpaged run on XP / 2003 (docs/POOL_INTERNALS.md
/// §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreePoolEntryLayout {
    /// Structure size.
    pub size: usize,
    /// `List.Flink`.
    pub flink: Field,
    /// `List.Blink`.
    pub blink: Field,
    /// `Size` (pages in the run).
    pub size_pages: Field,
    /// `Signature`.
    pub signature: Field,
    /// `Owner`.
    pub owner: Field,
}

/// The segment-heap pool structures (19H1+; docs/POOL_INTERNALS.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeapLayout {
    /// `_EX_POOL_HEAP_MANAGER_STATE` size (`nt!ExPoolState`).
    pub state_size: usize,
    /// `ExPoolState.HeapManager.Globals`: pointer to `RtlpHpHeapGlobals`, at +0.
    pub state_globals: Field,
    /// `ExPoolState.NumberOfPools` (u32).
    pub number_of_pools: Field,
    /// `ExPoolState.PoolNode[]` offset.
    pub pool_node: usize,
    /// `_EX_HEAP_POOL_NODE` size.
    pub pool_node_size: usize,
    /// Length of `PoolNode[]` (64 on x64, 16 on x86).
    pub max_pools: usize,
    /// `_EX_HEAP_POOL_NODE.Heaps[4]` offset (0): NonPaged, NonPagedNx, Paged, Paged (second), per MemProcFS.
    pub node_heaps: usize,
    /// `ExPoolState.SpecialHeaps[]` offset.
    pub special_heaps: usize,
    /// Length of `SpecialHeaps[]` (3 in 18362, 4 from 19041).
    pub special_heap_count: usize,
    /// `_RTLP_HP_HEAP_GLOBALS.HeapKey`.
    pub heap_key: Field,
    /// `_RTLP_HP_HEAP_GLOBALS.LfhKey`.
    pub lfh_key: Field,
    /// `_SEGMENT_HEAP` size.
    pub heap_size: usize,
    /// `_SEGMENT_HEAP.Signature` (u32, 0xDDEEDDEE).
    pub heap_signature: Field,
    /// `_SEGMENT_HEAP.MemStats`.
    pub heap_mem_stats: usize,
    /// `_SEGMENT_HEAP.SegContexts[2]`.
    pub heap_seg_contexts: usize,
    /// `_SEGMENT_HEAP.VsContext`.
    pub heap_vs_context: usize,
    /// `_SEGMENT_HEAP.LfhContext`.
    pub heap_lfh_context: usize,
    /// `_HEAP_SEG_CONTEXT` size.
    pub seg_context_size: usize,
    /// `_HEAP_SEG_CONTEXT.SegmentMask`.
    pub seg_segment_mask: Field,
    /// `_HEAP_SEG_CONTEXT.UnitShift` (u8).
    pub seg_unit_shift: Field,
    /// `_HEAP_SEG_CONTEXT.FirstDescriptorIndex` (u8).
    pub seg_first_descriptor_index: Field,
    /// `_HEAP_SEG_CONTEXT.SegmentListHead` (a `LIST_ENTRY`).
    pub seg_segment_list_head: usize,
    /// `_HEAP_PAGE_SEGMENT` size (the descriptor array at its start).
    pub page_segment_size: usize,
    /// `_HEAP_PAGE_SEGMENT.Signature`.
    pub page_segment_signature: Field,
    /// `_HEAP_PAGE_RANGE_DESCRIPTOR` size.
    pub range_descriptor_size: usize,
    /// `_HEAP_PAGE_RANGE_DESCRIPTOR.RangeFlags` (u8).
    pub range_flags: Field,
    /// Mask applied to `RangeFlags` (x86 keeps CommittedPageCount in the top 3 bits).
    pub range_flags_mask: u8,
    /// `_HEAP_PAGE_RANGE_DESCRIPTOR.UnitSize` (u8).
    pub range_unit_size: Field,
    /// `_HEAP_VS_SUBSEGMENT` size.
    pub vs_subsegment_size: usize,
    /// `_HEAP_VS_SUBSEGMENT.Size` (u16).
    pub vs_subsegment_size_field: Field,
    /// `_HEAP_VS_SUBSEGMENT.Signature:15` (u16).
    pub vs_subsegment_signature: Field,
    /// Offset of the first VS chunk header in a subsegment (0x30 x64, 0x18 x86; MemProcFS).
    pub vs_first_chunk: usize,
    /// `_HEAP_VS_CHUNK_HEADER` size.
    pub vs_chunk_header_size: usize,
    /// `_HEAP_LFH_SUBSEGMENT.BlockCount` (u16).
    pub lfh_block_count: Field,
    /// `_HEAP_LFH_SUBSEGMENT.BlockOffsets` (u32 EncodedData).
    pub lfh_block_offsets: Field,
    /// `_HEAP_LFH_SUBSEGMENT.BlockBitmap`.
    pub lfh_block_bitmap: usize,
    /// Allocations of this size or more have no pool header and live only in the big page table
    /// (0xFE0 x64, 0xFF0 x86; MemProcFS `vmmwinpool.c`).
    pub big_threshold: usize,
}

/// A version family: one row of the layout table. A new build that changes nothing is a new range; a
/// build that changes a structure is a new row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// Short name, e.g. `"Windows 7 / 2008 R2"`.
    pub name: &'static str,
    /// Architecture.
    pub arch: Arch,
    /// First build number of the range (inclusive).
    pub first_build: u32,
    /// Last build number of the range (inclusive).
    pub last_build: u32,
    /// Builds whose layouts were checked against public PDB-derived types (ISF or vol2 vtypes). Other builds of
    /// the range are inferred from their neighbours.
    pub verified_builds: &'static [u32],
    /// `_POOL_HEADER` format.
    pub header: HeaderFormat,
    /// Meaning of the PoolType byte.
    pub era: PoolTypeEra,
    /// Tags of object allocations carry [`crate::tag::PROTECTED_BIT`] (before Windows 8).
    pub protected_tags: bool,
    /// `ProcessBilled` is encoded with `nt!ExpPoolQuotaCookie` (x64 from Windows 8).
    pub quota_cookie: bool,
    /// `_POOL_TRACKER_TABLE`, when known.
    pub tracker: Option<TrackerLayout>,
    /// Extra tracker tables.
    pub tracker_tables: TrackerTables,
    /// `_POOL_TRACKER_BIG_PAGES`, when known.
    pub big_pages: Option<BigPageLayout>,
    /// `_POOL_DESCRIPTOR`, when the version has one.
    pub descriptor: Option<DescriptorLayout>,
    /// `_MM_PAGED_POOL_INFO`, when known.
    pub paged_pool_info: Option<PagedPoolInfoLayout>,
    /// `_MMFREE_POOL_ENTRY` (XP / 2003 only).
    pub free_pool_entry: Option<FreePoolEntryLayout>,
    /// Segment-heap structures (19H1+).
    pub segment_heap: Option<SegmentHeapLayout>,
    /// Where the facts of this row come from.
    pub sources: &'static str,
}

/// How sure the layout is for the requested build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confidence {
    /// The build is one whose structures were checked against public PDB-derived types.
    Verified,
    /// The build falls inside a family's range but was not itself checked.
    Inferred,
}

/// The layout of every pool structure for one (architecture, build).
///
/// ```
/// use pooldbg_poollayout::{Arch, Layout};
/// let l = Layout::for_build(Arch::X64, 7601).unwrap();
/// assert_eq!(l.header_size(), 16);
/// assert_eq!(l.family().tracker.unwrap().size, 0x28);
/// assert!(Layout::for_build(Arch::X64, 26100).is_err()); // past the public research
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    family: &'static Family,
    build: u32,
}

/// First build whose segment-heap constants changed (MemProcFS `vmmwinpool.c`: segment signature constant 0,
/// LFH va shift); the crate reports these builds as unsupported rather than misread them.
pub const FIRST_UNSUPPORTED_BUILD: u32 = 26100;

impl Layout {
    /// Selects the layout of `build` on `arch` from the table ([`crate::table::FAMILIES`]).
    pub fn for_build(arch: Arch, build: u32) -> Result<Layout> {
        if build >= FIRST_UNSUPPORTED_BUILD {
            return Err(Error::UnsupportedBuild {
                arch,
                build,
                reason: "builds from 26100 changed the segment-heap encodings; no public layout research covers them yet",
            });
        }
        crate::table::FAMILIES
            .iter()
            .find(|f| f.arch == arch && (f.first_build..=f.last_build).contains(&build))
            .map(|family| Layout { family, build })
            .ok_or(Error::UnsupportedBuild {
                arch,
                build,
                reason: match arch {
                    Arch::X86 => "no x86 pool layout is known for this build (Windows 2000 to Windows 10 are)",
                    Arch::X64 => "no x64 pool layout is known for this build (Server 2003 x64 to Windows 11 are)",
                },
            })
    }

    /// The family row.
    pub const fn family(&self) -> &'static Family {
        self.family
    }
    /// The build number asked for.
    pub const fn build(&self) -> u32 {
        self.build
    }
    /// Architecture.
    pub const fn arch(&self) -> Arch {
        self.family.arch
    }
    /// Pointer size in bytes.
    pub const fn pointer_size(&self) -> usize {
        self.family.arch.pointer_size()
    }
    /// Whether the build itself was checked against PDB-derived types.
    pub fn confidence(&self) -> Confidence {
        if self.family.verified_builds.contains(&self.build) {
            Confidence::Verified
        } else {
            Confidence::Inferred
        }
    }
    /// `_POOL_HEADER` format.
    pub const fn header_format(&self) -> HeaderFormat {
        self.family.header
    }
    /// `sizeof(_POOL_HEADER)`.
    pub const fn header_size(&self) -> usize {
        self.family.header.header_size()
    }
    /// Pool block unit in bytes.
    pub const fn block_unit(&self) -> usize {
        self.family.header.block_unit()
    }
    /// The page size the classic pool packs blocks into (4 KiB on x86 and x64).
    pub const fn page_size(&self) -> usize {
        0x1000
    }
    /// Whether the pool is the segment heap (19H1+).
    pub const fn is_segment_heap(&self) -> bool {
        matches!(self.family.era, PoolTypeEra::SegmentHeap)
    }
    /// The tracker layout or [`Error::NotInLayout`].
    pub fn tracker(&self) -> Result<&'static TrackerLayout> {
        self.family
            .tracker
            .as_ref()
            .ok_or(self.missing("_POOL_TRACKER_TABLE"))
    }
    /// The big-page layout or [`Error::NotInLayout`].
    pub fn big_pages(&self) -> Result<&'static BigPageLayout> {
        self.family
            .big_pages
            .as_ref()
            .ok_or(self.missing("_POOL_TRACKER_BIG_PAGES"))
    }
    /// The descriptor layout or [`Error::NotInLayout`].
    pub fn descriptor(&self) -> Result<&'static DescriptorLayout> {
        self.family
            .descriptor
            .as_ref()
            .ok_or(self.missing("_POOL_DESCRIPTOR"))
    }
    /// The paged-pool-info layout or [`Error::NotInLayout`].
    pub fn paged_pool_info(&self) -> Result<&'static PagedPoolInfoLayout> {
        self.family
            .paged_pool_info
            .as_ref()
            .ok_or(self.missing("_MM_PAGED_POOL_INFO"))
    }
    /// The free-pool-entry layout or [`Error::NotInLayout`].
    pub fn free_pool_entry(&self) -> Result<&'static FreePoolEntryLayout> {
        self.family
            .free_pool_entry
            .as_ref()
            .ok_or(self.missing("_MMFREE_POOL_ENTRY"))
    }
    /// The segment-heap layout or [`Error::NotInLayout`].
    pub fn segment_heap(&self) -> Result<&'static SegmentHeapLayout> {
        self.family
            .segment_heap
            .as_ref()
            .ok_or(self.missing("segment heap"))
    }

    pub(crate) fn missing(&self, what: &'static str) -> Error {
        Error::NotInLayout {
            what,
            family: self.family.name,
        }
    }
}
