//! OS profiles: the per-build facts the builder encodes structures from.
//!
//! These tables are testkit's own, deliberately independent of `poollayout` and `ntkernel`, so a wrong
//! layout in a decoder cannot hide behind a shared table.
//!
//! Sources:
//! - x64 Windows 7 SP1, 8.1, 10 1607 and 10 1809: the real JPCERT ISF files of the builds named in
//!   `shared/data/isf/INDEX.txt` (global RVAs, structure sizes and field offsets). `tests/isf.rs`
//!   checks every RVA and offset below against those files.
//! - x86 (2000, XP SP3, 2003 SP2 with and without PAE) and Server 2003 SP2 x64: structure layouts from
//!   Volatility 2's PDB-derived vtypes (docs/POOL_INTERNALS.md §1), header layouts from
//!   docs/POOL_INTERNALS.md §2 (Windows 2000: forensikblog 2006). No symbol files exist here for these
//!   builds, so their global RVAs and PDB GUIDs are **synthetic** (marked so in the manifest).

use serde::Serialize;

/// Processor architecture and paging mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Arch {
    /// 32-bit, 2-level paging (4-byte entries), self-map at 0xC0000000.
    #[serde(rename = "x86")]
    X86,
    /// 32-bit PAE, 3-level paging (8-byte entries), self-map at 0xC0000000 (PDEs at 0xC0600000).
    #[serde(rename = "x86-pae")]
    X86Pae,
    /// 64-bit, 4-level paging with a PML4 self-map entry.
    #[serde(rename = "x64")]
    X64,
}

impl Arch {
    /// Pointer size in bytes.
    pub fn ptr_size(self) -> u64 {
        match self {
            Arch::X64 => 8,
            _ => 4,
        }
    }
    /// PE / dump-header machine type.
    pub fn machine(self) -> u16 {
        match self {
            Arch::X64 => 0x8664,
            _ => 0x14c,
        }
    }
    /// CONTRACT.md `info.arch` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86 => "x86",
            Arch::X86Pae => "x86-pae",
            Arch::X64 => "x64",
        }
    }
}

/// How the PML4 self-map index is chosen (x64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfMap {
    /// Fixed index (0x1ED on Windows 7 … 10 1511, 2003 x64).
    Fixed(u64),
    /// Randomised per boot (Windows 10 1607+): drawn from the seed in 0x100..0x1FF.
    Randomised,
}

/// A field: byte offset and width in bytes (1, 2, 4 or 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct F {
    /// Byte offset.
    pub off: u64,
    /// Width in bytes.
    pub width: u8,
}

const fn f(off: u64, width: u8) -> F {
    F { off, width }
}

/// `_POOL_HEADER` byte layout family (docs/POOL_INTERNALS.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolHeaderKind {
    /// NT 5.0 x86: 8 bytes, 32-byte units, UCHARs PreviousSize, PoolIndex, PoolType, BlockSize.
    Nt50,
    /// XP … Win10 x86: 8 bytes, 8-byte units, 9/7-bit fields.
    X86,
    /// Every x64 build: 16 bytes, 16-byte units, bytes PreviousSize, PoolIndex, BlockSize, PoolType.
    X64,
}

impl PoolHeaderKind {
    /// Header size in bytes.
    pub fn header_size(self) -> u64 {
        match self {
            PoolHeaderKind::X64 => 16,
            _ => 8,
        }
    }
    /// Block unit in bytes.
    pub fn unit(self) -> u64 {
        match self {
            PoolHeaderKind::Nt50 => 32,
            PoolHeaderKind::X86 => 8,
            PoolHeaderKind::X64 => 16,
        }
    }
}

/// Meaning of the header's PoolType byte (docs/POOL_INTERNALS.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolTypeEncoding {
    /// NT 5.x: allocated = (type + 1) | 0x4 (in use); free = 0.
    Nt5,
    /// NT 6.0 … 10 1809: allocated = type | 0x2 (in use); free = 0.
    Nt6,
}

/// `_POOL_TRACKER_TABLE` layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackerLayout {
    /// Entry size.
    pub size: u64,
    /// Key (tag).
    pub key: F,
    /// NonPagedAllocs.
    pub np_allocs: F,
    /// NonPagedFrees.
    pub np_frees: F,
    /// NonPagedBytes.
    pub np_bytes: F,
    /// PagedAllocs.
    pub p_allocs: F,
    /// PagedFrees.
    pub p_frees: F,
    /// PagedBytes.
    pub p_bytes: F,
}

/// `_POOL_TRACKER_BIG_PAGES` layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BigLayout {
    /// Entry size.
    pub size: u64,
    /// Va (bit 0 set = free).
    pub va: F,
    /// Key (tag).
    pub key: F,
    /// What the rest holds.
    pub kind: BigKind,
}

/// The size/type part of a big-page entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BigKind {
    /// XP / 2003: NumberOfPages.
    Pages(F),
    /// Vista … 8.1: PoolType (whole ULONG) and NumberOfBytes.
    TypeBytes(F, F),
    /// Win10: ULONG {Pattern:8, PoolType:12, SlushSize:12} and NumberOfBytes.
    Win10(F, F),
}

/// `_POOL_DESCRIPTOR` layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorLayout {
    /// Structure size.
    pub size: u64,
    /// PoolType.
    pub pool_type: F,
    /// PoolIndex.
    pub pool_index: F,
    /// Counters.
    pub counters: DescCounters,
    /// ListHeads offset.
    pub list_heads: u64,
    /// Number of list heads.
    pub list_count: u64,
}

/// Descriptor counters by era.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescCounters {
    /// XP … 8.1: RunningAllocs, RunningDeAllocs, TotalPages, TotalBigPages, TotalBytes (2003+).
    Classic {
        /// RunningAllocs.
        running_allocs: F,
        /// RunningDeAllocs.
        running_deallocs: F,
        /// TotalPages.
        total_pages: F,
        /// TotalBigPages.
        total_big_pages: F,
        /// TotalBytes (absent on XP).
        total_bytes: Option<F>,
    },
    /// Win10 1607 … 1809: allocated/deallocated pairs.
    Win10 {
        /// RunningAllocs.
        running_allocs: F,
        /// PagesAllocated.
        pages_allocated: F,
        /// BigPagesAllocated.
        big_pages_allocated: F,
        /// BytesAllocated.
        bytes_allocated: F,
        /// RunningDeallocs.
        running_deallocs: F,
        /// PagesDeallocated.
        pages_deallocated: F,
        /// BigPagesDeallocated.
        big_pages_deallocated: F,
        /// BytesDeallocated.
        bytes_deallocated: F,
    },
}

/// `_MM_PAGED_POOL_INFO` layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagedInfoLayout {
    /// Structure size.
    pub size: u64,
    /// How the allocation bitmap is reached.
    pub bitmap: BitmapRef,
    /// EndOfPagedPoolBitmap pointer (XP/2003).
    pub end_bitmap_ptr: Option<u64>,
    /// PagedPoolCommit.
    pub commit: Option<F>,
    /// AllocatedPagedPool (pages).
    pub allocated: F,
    /// MaximumSize (8.1+).
    pub maximum_size: Option<F>,
}

/// Where `PagedPoolAllocationMap` lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitmapRef {
    /// A pointer at this offset to a separate `_RTL_BITMAP` (XP/2003).
    Pointer(u64),
    /// An embedded `_RTL_BITMAP` {ULONG size; PVOID buffer} at this offset.
    Embedded(u64),
    /// An embedded `_RTL_BITMAP_EX` {ULONG64 size; PVOID buffer} at this offset (8.1+).
    EmbeddedEx(u64),
}

/// `_LDR_DATA_TABLE_ENTRY` layout (the fields the builder writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LdrLayout {
    /// Structure size.
    pub size: u64,
    /// DllBase.
    pub dll_base: u64,
    /// EntryPoint.
    pub entry_point: u64,
    /// SizeOfImage.
    pub size_of_image: u64,
    /// FullDllName (`_UNICODE_STRING`).
    pub full_name: u64,
    /// BaseDllName.
    pub base_name: u64,
}

/// Where the `!vm` counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmSource {
    /// XP … 8.1: individual `Mm*` globals, pointed at by KDBG fields.
    Globals,
    /// Win10: `MiSystemPartition.Vp` (`_MI_VISIBLE_PARTITION`) and `MiState.Pools` (`_MI_POOL_STATE`).
    Partition {
        /// `_MI_PARTITION.Vp` offset.
        vp: u64,
        /// Vp.NumberOfPhysicalPages.
        physical: u64,
        /// Vp.AvailablePages.
        available: u64,
        /// Vp.ResidentAvailablePages.
        resident: u64,
        /// Vp.ModifiedPageListHead (`_MMPFNLIST`, Total @0).
        modified: u64,
        /// Vp.SharedCommit (absent in 1607).
        shared_commit: Option<u64>,
        /// Vp.TotalCommittedPages.
        committed: u64,
        /// Vp.TotalCommitLimit.
        commit_limit: u64,
        /// `_MI_SYSTEM_INFORMATION.Pools` + `_MI_POOL_STATE.AllocatedNonPagedPool`.
        allocated_nonpaged: u64,
    },
}

/// Where the globals live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Globals {
    /// Real RVAs of a real build (from its ISF file).
    Real(&'static [(&'static str, u64)]),
    /// Synthetic: `fixed` names at their RVAs, the listed names in slots of 0x2000 bytes from RVA
    /// 0x100000, in list order.
    Synthetic {
        /// Names with a fixed RVA (the pool cluster, whose relative distances readers rely on).
        fixed: &'static [(&'static str, u64)],
        /// Names in slots.
        slots: &'static [&'static str],
    },
}

/// Where the pool regions and other fixed areas are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaLayout {
    /// Default kernel image base (randomised per seed when `randomise_kernel` is set).
    pub kernel_base: u64,
    /// Whether the kernel base is drawn from the seed (2 MiB steps).
    pub randomise_kernel: bool,
    /// Nonpaged pool start.
    pub nonpaged: u64,
    /// Paged pool start.
    pub paged: u64,
    /// KUSER_SHARED_DATA.
    pub kuser: u64,
    /// PFN database (MmPfnDatabase value).
    pub pfn_database: u64,
}

/// `MiState.Vs.SystemVaRegions[]` (Windows 10 1607+): see [`Profile::system_va_regions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemVaRegions {
    /// `_MI_SYSTEM_INFORMATION.Vs`.
    pub vs: u64,
    /// `_MI_VISIBLE_STATE.SystemVaRegions` (an array of 16-byte `_MI_SYSTEM_VA_ASSIGNMENT`).
    pub regions: u64,
    /// `AssignedRegionNonPagedPool`.
    pub nonpaged: u64,
    /// `AssignedRegionPagedPool`.
    pub paged: u64,
}

/// One OS profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Short name used by fixtures and the CLI (`win7sp1-x64`).
    pub name: &'static str,
    /// Human label.
    pub label: &'static str,
    /// Architecture.
    pub arch: Arch,
    /// NtMajorVersion.
    pub major: u32,
    /// NtMinorVersion.
    pub minor: u32,
    /// Build number.
    pub build: u32,
    /// ntoskrnl file version.
    pub file_version: &'static str,
    /// PDB file name in the RSDS record.
    pub pdb_name: &'static str,
    /// PDB GUID (32 hex digits, as in INDEX.txt) and age.
    pub pdb_guid: &'static str,
    /// PDB age.
    pub pdb_age: u32,
    /// CmNtCSDVersion: service pack << 8.
    pub csd_version: u32,
    /// Whether the GUID and the global RVAs are a real build's (x64 ISF) or synthetic.
    pub real_symbols: bool,
    /// Self-map rule (x64; x86 is fixed by the arch).
    pub self_map: SelfMap,
    /// KDBG Header.Size.
    pub kdbg_size: u64,
    /// Whether the in-memory KDBG is encoded (Windows 8+ x64).
    pub kdbg_encoded: bool,
    /// ProductType in KUSER_SHARED_DATA (1 workstation, 3 server).
    pub product_type: u32,
    /// System root string.
    pub system_root: &'static str,
    /// Pool header family.
    pub header: PoolHeaderKind,
    /// PoolType byte meaning.
    pub pool_type_encoding: PoolTypeEncoding,
    /// Tracker entry layout.
    pub tracker: TrackerLayout,
    /// Whether per-processor tracker tables hang off `ExPoolTagTables`.
    pub per_processor_trackers: bool,
    /// Big page entry layout.
    pub big: BigLayout,
    /// Pool descriptor layout (classic pool; `None` on segment-heap builds, which have no
    /// `_POOL_DESCRIPTOR` in their symbols).
    pub descriptor: Option<DescriptorLayout>,
    /// Classic pool or segment heap (19H1+), with the segment-heap layout.
    pub pool: PoolModel,
    /// `_MM_PAGED_POOL_INFO` layout, when the build has `MmPagedPoolInfo`.
    pub paged_info: Option<PagedInfoLayout>,
    /// `_MMFREE_POOL_ENTRY` (XP/2003 nonpaged free page lists): Size field.
    pub free_pool_entry: Option<F>,
    /// Loader entry layout.
    pub ldr: LdrLayout,
    /// `!vm` counters.
    pub vm: VmSource,
    /// Globals.
    pub globals: Globals,
    /// Address layout.
    pub va: VaLayout,
    /// Image size of the kernel (SizeOfImage).
    pub image_size: u64,
    /// First bit of `_MMPTE_SOFTWARE.PageFileLow`: 1 in classic builds, 12 in the L1TF-era builds
    /// (2018+ updates, which the ISF files here are), where bits 1..4 became flags and SwizzleBit.
    pub page_file_low_bit: u32,
}

/// How the kernel pool is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolModel {
    /// Pool pages of chained `_POOL_HEADER`s, descriptors with free lists (2000 … 10 1809).
    Classic,
    /// The segment heap of Windows 10 19H1+ and 11 (docs/POOL_INTERNALS.md §3).
    SegmentHeap(&'static SegHeapLayout),
}

impl PoolModel {
    /// The segment-heap layout, on segment-heap builds.
    pub fn segment_heap(&self) -> Option<&'static SegHeapLayout> {
        match *self {
            PoolModel::Classic => None,
            PoolModel::SegmentHeap(l) => Some(l),
        }
    }
}

/// Offsets of the segment-heap structures the builder writes (x64; ISF of each build, checked by
/// `tests/isf.rs`). Names are `Structure.Field` of the public symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegHeapLayout {
    /// `_EX_POOL_HEAP_MANAGER_STATE` size (`nt!ExPoolState`).
    pub state_size: u64,
    /// `_EX_POOL_HEAP_MANAGER_STATE.NumberOfPools` (ULONG).
    pub number_of_pools: u64,
    /// `_EX_POOL_HEAP_MANAGER_STATE.PoolNode` (array of `_EX_HEAP_POOL_NODE`).
    pub pool_node: u64,
    /// `_EX_HEAP_POOL_NODE` size (its `Heaps[4]` is at +0).
    pub pool_node_size: u64,
    /// `_EX_POOL_HEAP_MANAGER_STATE.SpecialHeaps` (4 pointers).
    pub special_heaps: u64,
    /// `_RTLP_HP_HEAP_GLOBALS.LfhKey` (`HeapKey` is at +0; `HeapManager.Globals` at state +0 points
    /// at `nt!RtlpHpHeapGlobals`).
    pub lfh_key: u64,
    /// `_SEGMENT_HEAP` size.
    pub heap_size: u64,
    /// `_SEGMENT_HEAP.Signature` (ULONG, 0xDDEEDDEE).
    pub heap_signature: u64,
    /// `_SEGMENT_HEAP.MemStats` (`_HEAP_RUNTIME_MEMORY_STATS`: TotalReservedPages,
    /// TotalCommittedPages, FreeCommittedPages, LfhFreeCommittedPages, 8 bytes each).
    pub heap_mem_stats: u64,
    /// `_SEGMENT_HEAP.SegContexts[2]`.
    pub seg_contexts: u64,
    /// `_HEAP_SEG_CONTEXT` size.
    pub seg_context_size: u64,
    /// `_SEGMENT_HEAP.VsContext`.
    pub vs_context: u64,
    /// `_SEGMENT_HEAP.LfhContext`.
    pub lfh_context: u64,
    /// `_HEAP_SEG_CONTEXT.UnitShift` (UCHAR; `SegmentMask` is at +0).
    pub seg_unit_shift: u64,
    /// `_HEAP_SEG_CONTEXT.PagesPerUnitShift` (UCHAR).
    pub seg_pages_per_unit_shift: u64,
    /// `_HEAP_SEG_CONTEXT.FirstDescriptorIndex` (UCHAR).
    pub seg_first_descriptor_index: u64,
    /// `_HEAP_SEG_CONTEXT.LfhContext` (pointer).
    pub seg_lfh_context: u64,
    /// `_HEAP_SEG_CONTEXT.VsContext` (pointer).
    pub seg_vs_context: u64,
    /// `_HEAP_SEG_CONTEXT.Heap` (pointer).
    pub seg_heap: u64,
    /// `_HEAP_SEG_CONTEXT.SegmentListHead` (`_LIST_ENTRY`).
    pub seg_segment_list_head: u64,
    /// `_HEAP_SEG_CONTEXT.SegmentCount` (ULONG64).
    pub seg_segment_count: u64,
    /// `_HEAP_VS_CONTEXT.SubsegmentList` (`_LIST_ENTRY`).
    pub vs_subsegment_list: u64,
    /// `_HEAP_VS_CONTEXT.TotalCommittedUnits` (ULONG64).
    pub vs_total_committed_units: u64,
    /// `_HEAP_PAGE_SEGMENT` size (its `DescArray[256]` overlaps it from +0; `ListEntry` at +0).
    pub page_segment_size: u64,
    /// `_HEAP_PAGE_SEGMENT.Signature` (ULONG64).
    pub page_segment_signature: u64,
    /// `_HEAP_PAGE_RANGE_DESCRIPTOR` size.
    pub range_size: u64,
    /// `_HEAP_PAGE_RANGE_DESCRIPTOR.RangeFlags` (UCHAR).
    pub range_flags: u64,
    /// `_HEAP_PAGE_RANGE_DESCRIPTOR.CommittedPageCount` (UCHAR).
    pub range_committed_pages: u64,
    /// `_HEAP_PAGE_RANGE_DESCRIPTOR.UnitSize` / `UnitOffset` (UCHAR, a union).
    pub range_unit_size: u64,
    /// `_HEAP_VS_SUBSEGMENT` size (the first chunk header follows at the next 16-byte boundary).
    pub vs_subsegment_size: u64,
    /// `_HEAP_VS_SUBSEGMENT.Size` (USHORT, in 16-byte units).
    pub vs_sub_size: u64,
    /// `_HEAP_VS_SUBSEGMENT.Signature:15` (USHORT with `FullCommit:1` as bit 15).
    pub vs_sub_signature: u64,
    /// `_HEAP_VS_CHUNK_HEADER` size.
    pub vs_chunk_header_size: u64,
    /// `_HEAP_LFH_SUBSEGMENT.Owner` (pointer).
    pub lfh_owner: u64,
    /// `_HEAP_LFH_SUBSEGMENT.FreeCount` (USHORT).
    pub lfh_free_count: u64,
    /// `_HEAP_LFH_SUBSEGMENT.BlockCount` (USHORT).
    pub lfh_block_count: u64,
    /// `_HEAP_LFH_SUBSEGMENT.BlockOffsets` (`_HEAP_LFH_SUBSEGMENT_ENCODED_OFFSETS`, ULONG).
    pub lfh_block_offsets: u64,
    /// `_HEAP_LFH_SUBSEGMENT.BlockBitmap` (2 bits per block, to the end of the bitmap).
    pub lfh_block_bitmap: u64,
}

/// 19041, 20348 and 22000 differ only in the `_SEGMENT_HEAP` size and the offsets of its contexts.
const SEG_X64_19041: SegHeapLayout = SegHeapLayout {
    state_size: 0x86940,
    number_of_pools: 0x38d0,
    pool_node: 0x3900,
    pool_node_size: 0x20c0,
    special_heaps: 0x86900,
    lfh_key: 0x8,
    heap_size: 0x800,
    heap_signature: 0x10,
    heap_mem_stats: 0x80,
    seg_contexts: 0x100,
    seg_context_size: 0xc0,
    vs_context: 0x280,
    lfh_context: 0x340,
    seg_unit_shift: 0x8,
    seg_pages_per_unit_shift: 0x9,
    seg_first_descriptor_index: 0xa,
    seg_lfh_context: 0x18,
    seg_vs_context: 0x20,
    seg_heap: 0x38,
    seg_segment_list_head: 0x48,
    seg_segment_count: 0x58,
    vs_subsegment_list: 0x20,
    vs_total_committed_units: 0x30,
    page_segment_size: 0x2000,
    page_segment_signature: 0x10,
    range_size: 0x20,
    range_flags: 0x18,
    range_committed_pages: 0x19,
    range_unit_size: 0x1f,
    vs_subsegment_size: 0x28,
    vs_sub_size: 0x20,
    vs_sub_signature: 0x22,
    vs_chunk_header_size: 0x10,
    lfh_owner: 0x10,
    lfh_free_count: 0x20,
    lfh_block_count: 0x22,
    lfh_block_offsets: 0x28,
    lfh_block_bitmap: 0x30,
};

/// 20348 / 22000: `_EX_POOL_HEAP_MANAGER_STATE.NumberOfPools` at 0x38e0, `_SEGMENT_HEAP` 0x840.
const SEG_X64_20348: SegHeapLayout = SegHeapLayout {
    number_of_pools: 0x38e0,
    heap_size: 0x840,
    seg_contexts: 0x140,
    vs_context: 0x2c0,
    lfh_context: 0x380,
    ..SEG_X64_19041
};

impl Profile {
    /// The RVA of a global, if this profile has it.
    pub fn global_rva(&self, name: &str) -> Option<u64> {
        match self.globals {
            Globals::Real(list) => list.iter().find(|(n, _)| *n == name).map(|(_, r)| *r),
            Globals::Synthetic { fixed, slots } => fixed
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, r)| *r)
                .or_else(|| {
                    slots
                        .iter()
                        .position(|n| *n == name)
                        .map(|i| 0x10_0000 + 0x2000 * i as u64)
                }),
        }
    }

    /// Where the pool ranges live on 1607+ (`MiState.Vs.SystemVaRegions[]`): the offsets of
    /// `_MI_SYSTEM_INFORMATION.Vs` and `_MI_VISIBLE_STATE.SystemVaRegions`, and the
    /// `_MI_ASSIGNED_REGION_TYPES` indexes of the nonpaged and paged pool (ISF of each build,
    /// checked by `tests/isf.rs`). `None` before 1607, where globals hold the ranges.
    pub fn system_va_regions(&self) -> Option<SystemVaRegions> {
        let (vs, regions, nonpaged, paged) = match (self.build, self.real_symbols) {
            (14393, true) => (0x1380, 0x760, 0, 1),
            (17763, true) => (0x24c0, 0xb50, 0, 1),
            (19041, true) => (0x2600, 0xbc8, 0, 1),
            (20348, true) => (0x4200, 0xbd0, 1, 2),
            (22000, true) => (0x4400, 0xbd0, 1, 2),
            _ => return None,
        };
        Some(SystemVaRegions {
            vs,
            regions,
            nonpaged,
            paged,
        })
    }

    /// Whether the build number is at least `b`.
    pub fn at_least(&self, b: u32) -> bool {
        self.build >= b
    }

    /// The version string of CONTRACT.md `info.version` (`"10.0.14393"`).
    pub fn version(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.build)
    }
}

// ---------------------------------------------------------------------------------------------
// Shared layouts
// ---------------------------------------------------------------------------------------------

/// XP/2003 x86 tracker (Volatility 2 vtypes, docs/POOL_INTERNALS.md §4.1; 0x1c).
const TRACKER_X86_NT5: TrackerLayout = TrackerLayout {
    size: 0x1c,
    key: f(0, 4),
    np_allocs: f(4, 4),
    np_frees: f(8, 4),
    np_bytes: f(0xc, 4),
    p_allocs: f(0x10, 4),
    p_frees: f(0x14, 4),
    p_bytes: f(0x18, 4),
};

/// 2003 x64 … Win10 1607 x64 tracker (0x28; ISF Win7/8.1/14393, Volatility 2 vtypes 2003 x64,
/// docs/POOL_INTERNALS.md §4.1).
const TRACKER_X64_OLD: TrackerLayout = TrackerLayout {
    size: 0x28,
    key: f(0, 4),
    np_allocs: f(4, 4),
    np_frees: f(8, 4),
    np_bytes: f(0x10, 8),
    p_allocs: f(0x18, 4),
    p_frees: f(0x1c, 4),
    p_bytes: f(0x20, 8),
};

/// Win10 1709+ x64 tracker (0x38; ISF 17763).
const TRACKER_X64_1709: TrackerLayout = TrackerLayout {
    size: 0x38,
    key: f(0, 4),
    np_bytes: f(0x8, 8),
    np_allocs: f(0x10, 8),
    np_frees: f(0x18, 8),
    p_bytes: f(0x20, 8),
    p_allocs: f(0x28, 8),
    p_frees: f(0x30, 8),
};

/// Server 2022 / Windows 11 x64 tracker (0x50: the 0x38 fields plus AvailableLimit, LimitInfo;
/// ISF 20348, 22000).
const TRACKER_X64_2022: TrackerLayout = TrackerLayout {
    size: 0x50,
    ..TRACKER_X64_1709
};

const BIG_XP_X86: BigLayout = BigLayout {
    size: 0xc,
    va: f(0, 4),
    key: f(4, 4),
    kind: BigKind::Pages(f(8, 4)),
};
const BIG_2003_X86: BigLayout = BigLayout {
    size: 0x10,
    va: f(0, 4),
    key: f(4, 4),
    kind: BigKind::Pages(f(8, 4)),
};
const BIG_2003_X64: BigLayout = BigLayout {
    size: 0x18,
    va: f(0, 8),
    key: f(8, 4),
    kind: BigKind::Pages(f(0xc, 4)),
};
const BIG_VISTA_X64: BigLayout = BigLayout {
    size: 0x18,
    va: f(0, 8),
    key: f(8, 4),
    kind: BigKind::TypeBytes(f(0xc, 4), f(0x10, 8)),
};
const BIG_WIN10_X64: BigLayout = BigLayout {
    size: 0x18,
    va: f(0, 8),
    key: f(8, 4),
    kind: BigKind::Win10(f(0xc, 4), f(0x10, 8)),
};
/// Server 2022 / Windows 11 x64 big page entry (0x20: the Win10 fields plus ProcessBilled at 0x18;
/// ISF 20348, 22000; MemProcFS `_BIGPOOL64_11`).
const BIG_2022_X64: BigLayout = BigLayout {
    size: 0x20,
    ..BIG_WIN10_X64
};

/// XP SP2/3 x86 descriptor (0x1028).
const DESC_XP_X86: DescriptorLayout = DescriptorLayout {
    size: 0x1028,
    pool_type: f(0, 4),
    pool_index: f(4, 4),
    counters: DescCounters::Classic {
        running_allocs: f(8, 4),
        running_deallocs: f(0xc, 4),
        total_pages: f(0x10, 4),
        total_big_pages: f(0x14, 4),
        total_bytes: None,
    },
    list_heads: 0x28,
    list_count: 512,
};
/// 2003 x86 descriptor (0x1030).
const DESC_2003_X86: DescriptorLayout = DescriptorLayout {
    size: 0x1030,
    pool_type: f(0, 4),
    pool_index: f(4, 4),
    counters: DescCounters::Classic {
        running_allocs: f(8, 4),
        running_deallocs: f(0xc, 4),
        total_pages: f(0x10, 4),
        total_big_pages: f(0x14, 4),
        total_bytes: Some(f(0x28, 4)),
    },
    list_heads: 0x30,
    list_count: 512,
};
/// 2003 x64 descriptor (0x1048).
const DESC_2003_X64: DescriptorLayout = DescriptorLayout {
    size: 0x1048,
    pool_type: f(0, 4),
    pool_index: f(4, 4),
    counters: DescCounters::Classic {
        running_allocs: f(8, 4),
        running_deallocs: f(0xc, 4),
        total_pages: f(0x10, 4),
        total_big_pages: f(0x14, 4),
        total_bytes: Some(f(0x38, 8)),
    },
    list_heads: 0x48,
    list_count: 256,
};
/// Win7 … 8.1 x64 descriptor (0x1140; ISF).
const DESC_WIN7_X64: DescriptorLayout = DescriptorLayout {
    size: 0x1140,
    pool_type: f(0, 4),
    pool_index: f(0x80, 4),
    counters: DescCounters::Classic {
        running_allocs: f(0x40, 4),
        running_deallocs: f(0x44, 4),
        total_pages: f(0xc0, 4),
        total_big_pages: f(0x48, 4),
        total_bytes: Some(f(0x50, 8)),
    },
    list_heads: 0x140,
    list_count: 256,
};
/// Win10 1607 … 1809 x64 descriptor (0x1140; ISF).
const DESC_WIN10_X64: DescriptorLayout = DescriptorLayout {
    size: 0x1140,
    pool_type: f(0, 4),
    pool_index: f(0xc0, 4),
    counters: DescCounters::Win10 {
        running_allocs: f(0x40, 4),
        pages_allocated: f(0x48, 8),
        big_pages_allocated: f(0x50, 8),
        bytes_allocated: f(0x58, 8),
        running_deallocs: f(0x80, 4),
        pages_deallocated: f(0x88, 8),
        big_pages_deallocated: f(0x90, 8),
        bytes_deallocated: f(0x98, 8),
    },
    list_heads: 0x140,
    list_count: 256,
};

const PAGED_XP_X86: PagedInfoLayout = PagedInfoLayout {
    size: 0x24,
    bitmap: BitmapRef::Pointer(0),
    end_bitmap_ptr: Some(4),
    commit: Some(f(0x1c, 4)),
    allocated: f(0x20, 4),
    maximum_size: None,
};
const PAGED_2003_X86: PagedInfoLayout = PagedInfoLayout {
    size: 0x20,
    bitmap: BitmapRef::Pointer(0),
    end_bitmap_ptr: Some(4),
    commit: Some(f(0x18, 4)),
    allocated: f(0x1c, 4),
    maximum_size: None,
};
const PAGED_2003_X64: PagedInfoLayout = PagedInfoLayout {
    size: 0x40,
    bitmap: BitmapRef::Pointer(0),
    end_bitmap_ptr: Some(8),
    commit: Some(f(0x30, 8)),
    allocated: f(0x38, 8),
    maximum_size: None,
};
const PAGED_WIN7_X64: PagedInfoLayout = PagedInfoLayout {
    size: 0x68,
    bitmap: BitmapRef::Embedded(0x38),
    end_bitmap_ptr: None,
    commit: Some(f(0x58, 8)),
    allocated: f(0x60, 8),
    maximum_size: None,
};
const PAGED_WIN81_X64: PagedInfoLayout = PagedInfoLayout {
    size: 0x68,
    bitmap: BitmapRef::EmbeddedEx(0x38),
    end_bitmap_ptr: None,
    commit: None,
    allocated: f(0x60, 8),
    maximum_size: Some(f(0x50, 8)),
};

/// x86 loader entry (XP … 2003): Volatility 2's XP x86 vtypes, `_LDR_DATA_TABLE_ENTRY` 0x50.
const LDR_X86: LdrLayout = LdrLayout {
    size: 0x50,
    dll_base: 0x18,
    entry_point: 0x1c,
    size_of_image: 0x20,
    full_name: 0x24,
    base_name: 0x2c,
};
/// x64 loader entry: field offsets as in every x64 ISF here; the size per build (ISF), and 0x98 for
/// 2003 x64 (an assumption: the entry up to `LoadedImports`; nothing reads past `BaseDllName`).
const fn ldr_x64(size: u64) -> LdrLayout {
    LdrLayout {
        size,
        dll_base: 0x30,
        entry_point: 0x38,
        size_of_image: 0x40,
        full_name: 0x48,
        base_name: 0x58,
    }
}

/// Globals every synthetic profile has (slots of 0x2000 bytes in list order).
const SYNTHETIC_GLOBALS_NT5: &[&str] = &[
    "KdDebuggerDataBlock",
    "KdVersionBlock",
    "PsLoadedModuleList",
    "PsActiveProcessHead",
    "MmPfnDatabase",
    "KeNumberProcessors",
    "NtBuildNumber",
    "MmNumberOfPhysicalPages",
    "MmAvailablePages",
    "MmResidentAvailablePages",
    "MmTotalCommittedPages",
    "MmTotalCommitLimit",
    "MmSharedCommit",
    "MmDriverCommit",
    "MmProcessCommit",
    "MmPagedPoolCommit",
    "MmAllocatedNonPagedPool",
    "MmMaximumNonPagedPoolInBytes",
    "MmSizeOfPagedPoolInBytes",
    "MmPagedPoolInfo",
    "MmModifiedPageListHead",
    "ExpPagedPoolDescriptor",
    "ExpNumberOfPagedPools",
    "PoolVector",
    "NonPagedPoolDescriptor",
    "MmNonPagedPoolStart",
    "MmNonPagedPoolEnd",
    "MmPagedPoolStart",
    "MmPagedPoolEnd",
    "MmNonPagedPoolFreeListHead",
    "KiProcessorBlock",
    "ExPoolFailures",
    "MmLowestPhysicalPage",
    "MmHighestPhysicalPage",
    "PoolHitTag",
    "NtBuildLab",
    "CmNtCSDVersion",
    "KdpDebuggerDataListHead",
];

/// The pool cluster of synthetic builds: `PoolTrackTableSize` right before `PoolTrackTable` (what
/// Volatility 2's pooltracker relies on), and `PoolBigPageTable`/`PoolBigPageTableSize` at Volatility
/// 2's per-version distances below `PoolTrackTable` (bigpagepools.py `distance_map`: XP 32-bit
/// [8, 12], 2003 32-bit [24, 28], 2003 64-bit [48, 56]; the same table gives Windows 7 x64's real
/// [40, 48], which the ISF confirms). Windows 2000 has no entry there; XP's is used.
const fn pool_cluster(ptr: u64, big: u64, big_size: u64) -> [(&'static str, u64); 4] {
    const PTT: u64 = 0x1f_f100; // in .data, below the image end of every synthetic profile
    [
        ("PoolTrackTable", PTT),
        ("PoolTrackTableSize", PTT - ptr),
        ("PoolBigPageTable", PTT - big),
        ("PoolBigPageTableSize", PTT - big_size),
    ]
}
const CLUSTER_XP: [(&str, u64); 4] = pool_cluster(4, 8, 12);
const CLUSTER_2003_X86: [(&str, u64); 4] = pool_cluster(4, 24, 28);
const CLUSTER_2003_X64: [(&str, u64); 4] = pool_cluster(8, 48, 56);

// Real RVAs, from the ISF files named in INDEX.txt (checked by tests/isf.rs).

/// 6.1.7601.24540, 339E74133576439CBCDF7E0229DA3773-1.
const WIN7_GLOBALS: &[(&str, u64)] = &[
    ("PsLoadedModuleList", 0x239c90),
    ("PsActiveProcessHead", 0x21b940),
    ("KdDebuggerDataBlock", 0x1e2130),
    ("KiWaitNever", 0x29d130),
    ("KiWaitAlways", 0x29d218),
    ("KdpDataBlockEncoded", 0x1ffd1b),
    ("PoolTrackTable", 0x210f88),
    ("PoolTrackTableSize", 0x210f80),
    ("PoolBigPageTable", 0x210f60),
    ("PoolBigPageTableSize", 0x210f58),
    ("ExPoolTagTables", 0x210fa0),
    ("MmPfnDatabase", 0x29d280),
    ("KdVersionBlock", 0x1e20e8),
    ("KeNumberProcessors", 0x29d018),
    ("NtBuildNumber", 0xa14c),
    ("MmNumberOfPhysicalPages", 0x29d080),
    ("MmAvailablePages", 0x1ef0c0),
    ("MmResidentAvailablePages", 0x1ef100),
    ("MmTotalCommittedPages", 0x222320),
    ("MmTotalCommitLimit", 0x222318),
    ("MmSharedCommit", 0x20c7e8),
    ("MmDriverCommit", 0x239d28),
    ("MmProcessCommit", 0x2222f0),
    ("MmTotalPagesForPagingFile", 0x20c808),
    ("MmPagedPoolCommit", 0x222360),
    ("MmAllocatedNonPagedPool", 0x223810),
    ("MmMaximumNonPagedPoolInBytes", 0x29d2f0),
    ("MmSizeOfPagedPoolInBytes", 0x29d4a8),
    ("MmPagedPoolInfo", 0x29d940),
    ("MmModifiedPageListHead", 0x2a02c0),
    ("ExpPagedPoolDescriptor", 0x29dab0),
    ("ExpNumberOfPagedPools", 0x29d098),
    ("ExpNonPagedPoolDescriptor", 0x29e580),
    ("ExpNumberOfNonPagedPools", 0x29d0a8),
    ("PoolVector", 0x29d4f0),
    ("NonPagedPoolDescriptor", 0x1fa880),
    ("MmNonPagedPoolStart", 0x29d0d8),
    ("MmPagedPoolEnd", 0x29d1a8),
    ("MiNonPagedPoolEnd", 0x29d1c0),
    ("KiProcessorBlock", 0x29dcc0),
    ("ExPoolFailures", 0x210f50),
    ("MmLowestPhysicalPage", 0x29d310),
    ("MmHighestPhysicalPage", 0x29d118),
    ("PoolHitTag", 0x1df018),
    ("NtBuildLab", 0xa150),
    ("CmNtCSDVersion", 0x27323c),
    ("KdpDebuggerDataListHead", 0x200610),
];

/// 6.3.9600.19913, 22597D0B40394E23936F6A24C6C52D5B-1.
const WIN81_GLOBALS: &[(&str, u64)] = &[
    ("PsLoadedModuleList", 0x2c55d0),
    ("PsActiveProcessHead", 0x2ab320),
    ("KdDebuggerDataBlock", 0x292530),
    ("KiWaitNever", 0x34f548),
    ("KiWaitAlways", 0x34fa40),
    ("KdpDataBlockEncoded", 0x29e448),
    ("PoolTrackTable", 0x2a4688),
    ("PoolTrackTableSize", 0x2a5b80),
    ("PoolBigPageTable", 0x2a5ad0),
    ("PoolBigPageTableSize", 0x2a5ad8),
    ("ExPoolTagTables", 0x2a46c0),
    ("MmPfnDatabase", 0x34f0f8),
    ("KdVersionBlock", 0x292e58),
    ("KeNumberProcessors", 0x34f018),
    ("NtBuildNumber", 0x1b638),
    ("MmNumberOfPhysicalPages", 0x34f068),
    ("MmAvailablePages", 0x3470c0),
    ("MmResidentAvailablePages", 0x347140),
    ("MmTotalCommittedPages", 0x2b2d48),
    ("MmTotalCommitLimit", 0x2b2d50),
    ("MmSharedCommit", 0x2c5dd8),
    ("MmDriverCommit", 0x2c5540),
    ("MmProcessCommit", 0x2c5e00),
    ("MmTotalPagesForPagingFile", 0x2c4860),
    ("MmAllocatedNonPagedPool", 0x2b2f70),
    ("MmMaximumNonPagedPoolInBytes", 0x34f2a8),
    ("MmSizeOfPagedPoolInBytes", 0x34f530),
    ("MmPagedPoolInfo", 0x2b2e20),
    ("MmModifiedPageListHead", 0x347400),
    ("ExpPagedPoolDescriptor", 0x3512c0),
    ("ExpNumberOfPagedPools", 0x34f0a0),
    ("ExpNonPagedPoolDescriptor", 0x3514d0),
    ("ExpNumberOfNonPagedPools", 0x34f0ac),
    ("PoolVector", 0x34f4d0),
    ("NonPagedPoolDescriptor", 0x2d8c80),
    ("MmPagedPoolEnd", 0x34f150),
    ("MiPagedPoolStart", 0x2c5f00),
    ("KiProcessorBlock", 0x34fd80),
    ("ExPoolFailures", 0x2a5af0),
    ("MmLowestPhysicalPage", 0x34f310),
    ("MmHighestPhysicalPage", 0x34f0f0),
    ("PoolHitTag", 0x34f2b0),
    ("NtBuildLab", 0x2620),
    ("CmNtCSDVersion", 0x2d4da8),
    ("KdpDebuggerDataListHead", 0x2dc3b8),
];

/// 10.0.14393.4583, 517E128F7B7C4EA79491DE6B9B9CE190-1.
const W1607_GLOBALS: &[(&str, u64)] = &[
    ("PsLoadedModuleList", 0x304060),
    ("PsActiveProcessHead", 0x2fe410),
    ("KdDebuggerDataBlock", 0x2ef900),
    ("KiWaitNever", 0x3a7530),
    ("KiWaitAlways", 0x3a76b8),
    ("KdpDataBlockEncoded", 0x33f108),
    ("PoolTrackTable", 0x2f99f0),
    ("PoolTrackTableSize", 0x2f8578),
    ("PoolBigPageTable", 0x2f99d8),
    ("PoolBigPageTableSize", 0x2f99c0),
    ("ExPoolTagTables", 0x2f85c0),
    ("MmPfnDatabase", 0x3a72b0),
    ("KdVersionBlock", 0x2f1df0),
    ("KeNumberProcessors", 0x3a7244),
    ("NtBuildNumber", 0x27c178),
    ("MmSizeOfPagedPoolInBytes", 0x3a7520),
    ("ExpPagedPoolDescriptor", 0x3a9900),
    ("ExpNumberOfPagedPools", 0x3a6018),
    ("ExpNonPagedPoolDescriptor", 0x3a9b10),
    ("ExpNumberOfNonPagedPools", 0x3a72bc),
    ("PoolVector", 0x3a7508),
    ("NonPagedPoolDescriptor", 0x338700),
    ("MiSystemPartition", 0x320380),
    ("MiState", 0x323280),
    ("KiProcessorBlock", 0x3a83c0),
    ("ExPoolFailures", 0x2f99c8),
    ("PoolHitTag", 0x3a609c),
    ("NtBuildLab", 0x25d0a0),
    ("CmNtCSDVersion", 0x320188),
    ("KdpDebuggerDataListHead", 0x319b20),
    ("MmPhysicalMemoryBlock", 0x3a72e0),
];

/// 10.0.17763.379, 8B11040A5928757B11390AC78F6B6925-1.
const W1809_GLOBALS: &[(&str, u64)] = &[
    ("PsLoadedModuleList", 0x41b9f0),
    ("PsActiveProcessHead", 0x40f650),
    ("KdDebuggerDataBlock", 0x3ff5e0),
    ("KiWaitNever", 0x543668),
    ("KiWaitAlways", 0x543868),
    ("KdpDataBlockEncoded", 0x43d7f8),
    ("PoolTrackTable", 0x407fd8),
    ("PoolTrackTableSize", 0x407fd0),
    ("PoolBigPageTable", 0x40a838),
    ("PoolBigPageTableSize", 0x40a820),
    ("ExPoolTagTables", 0x408000),
    ("MmPfnDatabase", 0x543390),
    ("KdVersionBlock", 0x402dc0),
    ("KeNumberProcessors", 0x5432c4),
    ("NtBuildNumber", 0x372c48),
    ("MmSizeOfPagedPoolInBytes", 0x543650),
    ("ExpPagedPoolDescriptor", 0x544780),
    ("ExpNumberOfPagedPools", 0x542028),
    ("ExpNonPagedPoolDescriptor", 0x544b50),
    ("ExpNumberOfNonPagedPools", 0x54202c),
    ("PoolVector", 0x5436a8),
    ("NonPagedPoolDescriptor", 0x4d8500),
    ("MiSystemPartition", 0x43d880),
    ("MiState", 0x4399c0),
    ("KiProcessorBlock", 0x544d80),
    ("ExPoolFailures", 0x40a818),
    ("PoolHitTag", 0x542108),
    ("NtBuildLab", 0x4394c0),
    ("CmNtCSDVersion", 0x4393a8),
    ("KdpDebuggerDataListHead", 0x431810),
    ("MmPhysicalMemoryBlock", 0x543378),
];

/// 10.0.19041.3570, 606FF669409B00F7FC8C61A9C1670129-1.
const W19041_GLOBALS: &[(&str, u64)] = &[
    ("PsLoadedModuleList", 0xc2a360),
    ("PsActiveProcessHead", 0xc1e090),
    ("KdDebuggerDataBlock", 0xc00b20),
    ("KiWaitNever", 0xcfc808),
    ("KiWaitAlways", 0xcfca10),
    ("KdpDataBlockEncoded", 0xc50d00),
    ("PoolTrackTable", 0xc16998),
    ("PoolTrackTableSize", 0xc16990),
    ("PoolBigPageTable", 0xc191f8),
    ("PoolBigPageTableSize", 0xc191f0),
    ("ExPoolTagTables", 0xc169c0),
    ("MmPfnDatabase", 0xcfc510),
    ("KdVersionBlock", 0xc0f400),
    ("KeNumberProcessors", 0xcfc404),
    ("NtBuildNumber", 0xc11fe0),
    ("MmSizeOfPagedPoolInBytes", 0xcfc7f8),
    ("MiSystemPartition", 0xc50d40),
    ("MiState", 0xc4c880),
    ("KiProcessorBlock", 0xcfdcc0),
    ("ExPoolFailures", 0xc191e8),
    ("PoolHitTag", 0xcfb0f8),
    ("NtBuildLab", 0xc4c2c0),
    ("CmNtCSDVersion", 0xc4c198),
    ("KdpDebuggerDataListHead", 0xc40800),
    ("ExPoolState", 0xc54780),
    ("RtlpHpHeapGlobals", 0xc1dc40),
    ("MmPhysicalMemoryBlock", 0xcfc4a8),
];

/// 10.0.20348.2529, 879AD95F3461091BB6318FA98072AD8E-1.
const W20348_GLOBALS: &[(&str, u64)] = &[
    ("PsLoadedModuleList", 0xc339d0),
    ("PsActiveProcessHead", 0xc26400),
    ("KdDebuggerDataBlock", 0xc00a30),
    ("KiWaitNever", 0xd10bd8),
    ("KiWaitAlways", 0xd10e40),
    ("KdpDataBlockEncoded", 0xd0b3c8),
    ("PoolTrackTable", 0xc1d518),
    ("PoolTrackTableSize", 0xc21598),
    ("PoolBigPageTable", 0xc21578),
    ("PoolBigPageTableSize", 0xc21570),
    ("ExPoolTagTables", 0xc1d560),
    ("MmPfnDatabase", 0xd108d0),
    ("KdVersionBlock", 0xc15598),
    ("KeNumberProcessors", 0xd107c4),
    ("NtBuildNumber", 0xc18470),
    ("MmSizeOfPagedPoolInBytes", 0xd10bc8),
    ("MiSystemPartition", 0xc5ed00),
    ("MiState", 0xc58e80),
    ("KiProcessorBlock", 0xd12680),
    ("ExPoolFailures", 0xc21568),
    ("PoolHitTag", 0xd0f128),
    ("NtBuildLab", 0xc58520),
    ("CmNtCSDVersion", 0xc58408),
    ("KdpDebuggerDataListHead", 0xc4a5d0),
    ("ExPoolState", 0xc64dc0),
    ("RtlpHpHeapGlobals", 0xc64340),
    ("MmPhysicalMemoryBlock", 0xd10890),
];

/// 10.0.22000.2538, 0CE4A95C0CD782A7596B034D8648E585-1.
const W22000_GLOBALS: &[(&str, u64)] = &[
    ("PsLoadedModuleList", 0xc298a0),
    ("PsActiveProcessHead", 0xc1bfa0),
    ("KdDebuggerDataBlock", 0xc02190),
    ("KiWaitNever", 0xd06cc8),
    ("KiWaitAlways", 0xd06e28),
    ("KdpDataBlockEncoded", 0xd01968),
    ("PoolTrackTable", 0xc157d8),
    ("PoolTrackTableSize", 0xc157d0),
    ("PoolBigPageTable", 0xc157b8),
    ("PoolBigPageTableSize", 0xc157c0),
    ("ExPoolTagTables", 0xc117a0),
    ("MmPfnDatabase", 0xd069a8),
    ("KdVersionBlock", 0xc097d0),
    ("KeNumberProcessors", 0xd06884),
    ("NtBuildNumber", 0xc0c5f8),
    ("MmSizeOfPagedPoolInBytes", 0xd06cb8),
    ("MiSystemPartition", 0xc54fc0),
    ("MiState", 0xc4f080),
    ("KiProcessorBlock", 0xd088c0),
    ("ExPoolFailures", 0xc157c8),
    ("PoolHitTag", 0xd05128),
    ("NtBuildLab", 0xc4e6e0),
    ("CmNtCSDVersion", 0xc4e5c8),
    ("KdpDebuggerDataListHead", 0xc40510),
    ("ExPoolState", 0xc5b180),
    ("RtlpHpHeapGlobals", 0xc5a600),
    ("MmPhysicalMemoryBlock", 0xd06938),
];

const X86_VA: VaLayout = VaLayout {
    kernel_base: 0x804d_7000,
    randomise_kernel: false,
    nonpaged: 0x8200_0000,
    paged: 0xe100_0000,
    kuser: 0xffdf_0000,
    pfn_database: 0x8100_0000,
};

/// Every profile: nine classic-pool builds, then three segment-heap builds (19041, 20348, 22000).
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "win2000-x86",
        csd_version: 0x400,
        label: "Windows 2000 SP4 x86",
        arch: Arch::X86,
        major: 5,
        minor: 0,
        build: 2195,
        file_version: "5.0.2195.7045",
        pdb_name: "ntoskrnl.pdb",
        pdb_guid: "3C9D8E5A1B2F4C6D8E0F1A2B3C4D5E6F",
        pdb_age: 1,
        real_symbols: false,
        self_map: SelfMap::Fixed(0x300),
        kdbg_size: 0x290,
        kdbg_encoded: false,
        product_type: 1,
        system_root: "C:\\WINNT",
        header: PoolHeaderKind::Nt50,
        pool_type_encoding: PoolTypeEncoding::Nt5,
        tracker: TRACKER_X86_NT5,
        per_processor_trackers: false,
        big: BIG_XP_X86,
        descriptor: Some(DESC_XP_X86),
        pool: PoolModel::Classic,
        paged_info: Some(PAGED_XP_X86),
        free_pool_entry: Some(f(8, 4)),
        ldr: LDR_X86,
        vm: VmSource::Globals,
        globals: Globals::Synthetic {
            fixed: &CLUSTER_XP,
            slots: SYNTHETIC_GLOBALS_NT5,
        },
        va: VaLayout {
            kernel_base: 0x8040_0000,
            ..X86_VA
        },
        image_size: 0x20_0000,
        page_file_low_bit: 1,
    },
    Profile {
        name: "xpsp3-x86",
        csd_version: 0x300,
        label: "Windows XP SP3 x86",
        arch: Arch::X86,
        major: 5,
        minor: 1,
        build: 2600,
        file_version: "5.1.2600.5512",
        pdb_name: "ntoskrnl.pdb",
        pdb_guid: "47A1C2D3E4F5061728394A5B6C7D8E9F",
        pdb_age: 2,
        real_symbols: false,
        self_map: SelfMap::Fixed(0x300),
        kdbg_size: 0x290,
        kdbg_encoded: false,
        product_type: 1,
        system_root: "C:\\WINDOWS",
        header: PoolHeaderKind::X86,
        pool_type_encoding: PoolTypeEncoding::Nt5,
        tracker: TRACKER_X86_NT5,
        per_processor_trackers: false,
        big: BIG_XP_X86,
        descriptor: Some(DESC_XP_X86),
        pool: PoolModel::Classic,
        paged_info: Some(PAGED_XP_X86),
        free_pool_entry: Some(f(8, 4)),
        ldr: LDR_X86,
        vm: VmSource::Globals,
        globals: Globals::Synthetic {
            fixed: &CLUSTER_XP,
            slots: SYNTHETIC_GLOBALS_NT5,
        },
        va: X86_VA,
        image_size: 0x20_0000,
        page_file_low_bit: 1,
    },
    Profile {
        name: "win2003sp2-x86",
        csd_version: 0x200,
        label: "Windows Server 2003 SP2 x86",
        arch: Arch::X86,
        major: 5,
        minor: 2,
        build: 3790,
        file_version: "5.2.3790.3959",
        pdb_name: "ntkrnlmp.pdb",
        pdb_guid: "5B2E3F40516273849A0B1C2D3E4F5061",
        pdb_age: 2,
        real_symbols: false,
        self_map: SelfMap::Fixed(0x300),
        kdbg_size: 0x318,
        kdbg_encoded: false,
        product_type: 3,
        system_root: "C:\\WINDOWS",
        header: PoolHeaderKind::X86,
        pool_type_encoding: PoolTypeEncoding::Nt5,
        tracker: TRACKER_X86_NT5,
        per_processor_trackers: false,
        big: BIG_2003_X86,
        descriptor: Some(DESC_2003_X86),
        pool: PoolModel::Classic,
        paged_info: Some(PAGED_2003_X86),
        free_pool_entry: Some(f(8, 4)),
        ldr: LDR_X86,
        vm: VmSource::Globals,
        globals: Globals::Synthetic {
            fixed: &CLUSTER_2003_X86,
            slots: SYNTHETIC_GLOBALS_NT5,
        },
        va: VaLayout {
            kernel_base: 0x8080_0000,
            ..X86_VA
        },
        image_size: 0x24_0000,
        page_file_low_bit: 1,
    },
    Profile {
        name: "win2003sp2-x86pae",
        csd_version: 0x200,
        label: "Windows Server 2003 SP2 x86 (PAE)",
        arch: Arch::X86Pae,
        major: 5,
        minor: 2,
        build: 3790,
        file_version: "5.2.3790.3959",
        pdb_name: "ntkrpamp.pdb",
        pdb_guid: "6C3F40516273849AB0C1D2E3F4051627",
        pdb_age: 2,
        real_symbols: false,
        self_map: SelfMap::Fixed(0x300),
        kdbg_size: 0x318,
        kdbg_encoded: false,
        product_type: 3,
        system_root: "C:\\WINDOWS",
        header: PoolHeaderKind::X86,
        pool_type_encoding: PoolTypeEncoding::Nt5,
        tracker: TRACKER_X86_NT5,
        per_processor_trackers: false,
        big: BIG_2003_X86,
        descriptor: Some(DESC_2003_X86),
        pool: PoolModel::Classic,
        paged_info: Some(PAGED_2003_X86),
        free_pool_entry: Some(f(8, 4)),
        ldr: LDR_X86,
        vm: VmSource::Globals,
        globals: Globals::Synthetic {
            fixed: &CLUSTER_2003_X86,
            slots: SYNTHETIC_GLOBALS_NT5,
        },
        va: VaLayout {
            kernel_base: 0x8080_0000,
            ..X86_VA
        },
        image_size: 0x24_0000,
        page_file_low_bit: 1,
    },
    Profile {
        name: "win2003sp2-x64",
        csd_version: 0x200,
        label: "Windows Server 2003 SP2 x64",
        arch: Arch::X64,
        major: 5,
        minor: 2,
        build: 3790,
        file_version: "5.2.3790.3959",
        pdb_name: "ntkrnlmp.pdb",
        pdb_guid: "7D40516273849AB0C1D2E3F405162738",
        pdb_age: 1,
        real_symbols: false,
        self_map: SelfMap::Fixed(0x1ed),
        kdbg_size: 0x318,
        kdbg_encoded: false,
        product_type: 3,
        system_root: "C:\\WINDOWS",
        header: PoolHeaderKind::X64,
        pool_type_encoding: PoolTypeEncoding::Nt5,
        tracker: TRACKER_X64_OLD,
        per_processor_trackers: false,
        big: BIG_2003_X64,
        descriptor: Some(DESC_2003_X64),
        pool: PoolModel::Classic,
        paged_info: Some(PAGED_2003_X64),
        free_pool_entry: Some(f(0x10, 8)),
        ldr: ldr_x64(0x98),
        vm: VmSource::Globals,
        globals: Globals::Synthetic {
            fixed: &CLUSTER_2003_X64,
            slots: SYNTHETIC_GLOBALS_NT5,
        },
        va: VaLayout {
            kernel_base: 0xffff_f800_0100_0000,
            randomise_kernel: false,
            nonpaged: 0xffff_fadf_e000_0000,
            paged: 0xffff_fa80_0000_0000,
            kuser: 0xffff_f780_0000_0000,
            pfn_database: 0xffff_fa80_4000_0000,
        },
        image_size: 0x40_0000,
        page_file_low_bit: 1,
    },
    Profile {
        name: "win7sp1-x64",
        csd_version: 0x100,
        label: "Windows 7 SP1 x64 (6.1.7601.24540)",
        arch: Arch::X64,
        major: 6,
        minor: 1,
        build: 7601,
        file_version: "6.1.7601.24540",
        pdb_name: "ntkrnlmp.pdb",
        pdb_guid: "339E74133576439CBCDF7E0229DA3773",
        pdb_age: 1,
        real_symbols: true,
        self_map: SelfMap::Fixed(0x1ed),
        kdbg_size: 0x340,
        kdbg_encoded: false,
        product_type: 1,
        system_root: "C:\\Windows",
        header: PoolHeaderKind::X64,
        pool_type_encoding: PoolTypeEncoding::Nt6,
        tracker: TRACKER_X64_OLD,
        per_processor_trackers: false,
        big: BIG_VISTA_X64,
        descriptor: Some(DESC_WIN7_X64),
        pool: PoolModel::Classic,
        paged_info: Some(PAGED_WIN7_X64),
        free_pool_entry: None,
        ldr: ldr_x64(0xe0),
        vm: VmSource::Globals,
        globals: Globals::Real(WIN7_GLOBALS),
        va: VaLayout {
            kernel_base: 0xffff_f800_02a0_0000,
            randomise_kernel: false,
            nonpaged: 0xffff_fa80_0100_0000,
            paged: 0xffff_f8a0_0000_0000,
            kuser: 0xffff_f780_0000_0000,
            pfn_database: 0xffff_fa80_0000_0000,
        },
        image_size: 0x5e_0000,
        page_file_low_bit: 12,
    },
    Profile {
        name: "win81-x64",
        csd_version: 0x0,
        label: "Windows 8.1 x64 (6.3.9600.19913)",
        arch: Arch::X64,
        major: 6,
        minor: 3,
        build: 9600,
        file_version: "6.3.9600.19913",
        pdb_name: "ntkrnlmp.pdb",
        pdb_guid: "22597D0B40394E23936F6A24C6C52D5B",
        pdb_age: 1,
        real_symbols: true,
        self_map: SelfMap::Fixed(0x1ed),
        kdbg_size: 0x360,
        kdbg_encoded: true,
        product_type: 1,
        system_root: "C:\\Windows",
        header: PoolHeaderKind::X64,
        pool_type_encoding: PoolTypeEncoding::Nt6,
        tracker: TRACKER_X64_OLD,
        per_processor_trackers: true,
        big: BIG_VISTA_X64,
        descriptor: Some(DESC_WIN7_X64),
        pool: PoolModel::Classic,
        paged_info: Some(PAGED_WIN81_X64),
        free_pool_entry: None,
        ldr: ldr_x64(0x118),
        vm: VmSource::Globals,
        globals: Globals::Real(WIN81_GLOBALS),
        va: VaLayout {
            kernel_base: 0xffff_f803_2e60_0000,
            randomise_kernel: false,
            nonpaged: 0xffff_e000_0100_0000,
            paged: 0xffff_c000_0100_0000,
            kuser: 0xffff_f780_0000_0000,
            pfn_database: 0xffff_fa80_0000_0000,
        },
        image_size: 0x78_0000,
        page_file_low_bit: 12,
    },
    Profile {
        name: "win10-1607-x64",
        csd_version: 0x0,
        label: "Windows 10 1607 / Server 2016 x64 (10.0.14393.4583)",
        arch: Arch::X64,
        major: 10,
        minor: 0,
        build: 14393,
        file_version: "10.0.14393.4583",
        pdb_name: "ntkrnlmp.pdb",
        pdb_guid: "517E128F7B7C4EA79491DE6B9B9CE190",
        pdb_age: 1,
        real_symbols: true,
        self_map: SelfMap::Randomised,
        kdbg_size: 0x368,
        kdbg_encoded: true,
        product_type: 3,
        system_root: "C:\\Windows",
        header: PoolHeaderKind::X64,
        pool_type_encoding: PoolTypeEncoding::Nt6,
        tracker: TRACKER_X64_OLD,
        per_processor_trackers: true,
        big: BIG_WIN10_X64,
        descriptor: Some(DESC_WIN10_X64),
        pool: PoolModel::Classic,
        paged_info: None,
        free_pool_entry: None,
        ldr: ldr_x64(0x120),
        vm: VmSource::Partition {
            vp: 0x1880,
            physical: 0x10,
            available: 0xc0,
            resident: 0x100,
            modified: 0x3c0,
            shared_commit: None,
            committed: 0x3a8,
            commit_limit: 0x428,
            allocated_nonpaged: 0x18,
        },
        globals: Globals::Real(W1607_GLOBALS),
        va: VaLayout {
            kernel_base: 0xffff_f800_0000_0000,
            randomise_kernel: true,
            nonpaged: 0xffff_a580_0100_0000,
            paged: 0xffff_c281_0000_0000,
            kuser: 0xffff_f780_0000_0000,
            pfn_database: 0xffff_e700_0000_0000,
        },
        image_size: 0x83_0000,
        page_file_low_bit: 12,
    },
    Profile {
        name: "win10-1809-x64",
        csd_version: 0x0,
        label: "Windows 10 1809 x64 (10.0.17763.379)",
        arch: Arch::X64,
        major: 10,
        minor: 0,
        build: 17763,
        file_version: "10.0.17763.379",
        pdb_name: "ntkrnlmp.pdb",
        pdb_guid: "8B11040A5928757B11390AC78F6B6925",
        pdb_age: 1,
        real_symbols: true,
        self_map: SelfMap::Randomised,
        kdbg_size: 0x380,
        kdbg_encoded: true,
        product_type: 1,
        system_root: "C:\\Windows",
        header: PoolHeaderKind::X64,
        pool_type_encoding: PoolTypeEncoding::Nt6,
        tracker: TRACKER_X64_1709,
        per_processor_trackers: true,
        big: BIG_WIN10_X64,
        descriptor: Some(DESC_WIN10_X64),
        pool: PoolModel::Classic,
        paged_info: None,
        free_pool_entry: None,
        ldr: ldr_x64(0x120),
        vm: VmSource::Partition {
            vp: 0x1bc0,
            physical: 0x10,
            available: 0xc0,
            resident: 0x100,
            modified: 0x240,
            shared_commit: Some(0x2c8),
            committed: 0x228,
            commit_limit: 0x2a8,
            allocated_nonpaged: 0x18,
        },
        globals: Globals::Real(W1809_GLOBALS),
        va: VaLayout {
            kernel_base: 0xffff_f800_0000_0000,
            randomise_kernel: true,
            nonpaged: 0xffff_b980_0100_0000,
            paged: 0xffff_d881_0000_0000,
            kuser: 0xffff_f780_0000_0000,
            pfn_database: 0xffff_b000_0000_0000,
        },
        image_size: 0xa4_0000,
        page_file_low_bit: 12,
    },
    Profile {
        name: "win10-2004-x64",
        csd_version: 0x0,
        label: "Windows 10 2004 x64 (10.0.19041.3570)",
        arch: Arch::X64,
        major: 10,
        minor: 0,
        build: 19041,
        file_version: "10.0.19041.3570",
        pdb_name: "ntkrnlmp.pdb",
        pdb_guid: "606FF669409B00F7FC8C61A9C1670129",
        pdb_age: 1,
        real_symbols: true,
        self_map: SelfMap::Randomised,
        kdbg_size: 0x380,
        kdbg_encoded: true,
        product_type: 1,
        system_root: "C:\\Windows",
        header: PoolHeaderKind::X64,
        pool_type_encoding: PoolTypeEncoding::Nt6,
        tracker: TRACKER_X64_1709,
        per_processor_trackers: true,
        big: BIG_WIN10_X64,
        descriptor: None,
        pool: PoolModel::SegmentHeap(&SEG_X64_19041),
        paged_info: None,
        free_pool_entry: None,
        ldr: ldr_x64(0x120),
        vm: VmSource::Partition {
            vp: 0x1b00,
            physical: 0x10,
            available: 0xc0,
            resident: 0x100,
            modified: 0x240,
            shared_commit: Some(0x2c8),
            committed: 0x228,
            commit_limit: 0x2a8,
            allocated_nonpaged: 0x8,
        },
        globals: Globals::Real(W19041_GLOBALS),
        va: VaLayout {
            kernel_base: 0xffff_f800_0000_0000,
            randomise_kernel: true,
            nonpaged: 0xffff_b300_0000_0000,
            paged: 0xffff_d000_0000_0000,
            kuser: 0xffff_f780_0000_0000,
            pfn_database: 0xffff_a800_0000_0000,
        },
        image_size: 0xe1_0000,
        page_file_low_bit: 12,
    },
    Profile {
        name: "win2022-x64",
        csd_version: 0x0,
        label: "Windows Server 2022 x64 (10.0.20348.2529)",
        arch: Arch::X64,
        major: 10,
        minor: 0,
        build: 20348,
        file_version: "10.0.20348.2529",
        pdb_name: "ntkrnlmp.pdb",
        pdb_guid: "879AD95F3461091BB6318FA98072AD8E",
        pdb_age: 1,
        real_symbols: true,
        self_map: SelfMap::Randomised,
        kdbg_size: 0x380,
        kdbg_encoded: true,
        product_type: 3,
        system_root: "C:\\Windows",
        header: PoolHeaderKind::X64,
        pool_type_encoding: PoolTypeEncoding::Nt6,
        tracker: TRACKER_X64_2022,
        per_processor_trackers: true,
        big: BIG_2022_X64,
        descriptor: None,
        pool: PoolModel::SegmentHeap(&SEG_X64_20348),
        paged_info: None,
        free_pool_entry: None,
        ldr: ldr_x64(0x138),
        vm: VmSource::Partition {
            vp: 0x4140,
            physical: 0x10,
            available: 0xc0,
            resident: 0x100,
            modified: 0x240,
            shared_commit: Some(0x338),
            committed: 0x228,
            commit_limit: 0x318,
            allocated_nonpaged: 0x8,
        },
        globals: Globals::Real(W20348_GLOBALS),
        va: VaLayout {
            kernel_base: 0xffff_f800_0000_0000,
            randomise_kernel: true,
            nonpaged: 0xffff_c580_0000_0000,
            paged: 0xffff_e200_0000_0000,
            kuser: 0xffff_f780_0000_0000,
            pfn_database: 0xffff_9e00_0000_0000,
        },
        image_size: 0xe1_0000,
        page_file_low_bit: 12,
    },
    Profile {
        name: "win11-21h2-x64",
        csd_version: 0x0,
        label: "Windows 11 21H2 x64 (10.0.22000.2538)",
        arch: Arch::X64,
        major: 10,
        minor: 0,
        build: 22000,
        file_version: "10.0.22000.2538",
        pdb_name: "ntkrnlmp.pdb",
        pdb_guid: "0CE4A95C0CD782A7596B034D8648E585",
        pdb_age: 1,
        real_symbols: true,
        self_map: SelfMap::Randomised,
        kdbg_size: 0x380,
        kdbg_encoded: true,
        product_type: 1,
        system_root: "C:\\Windows",
        header: PoolHeaderKind::X64,
        pool_type_encoding: PoolTypeEncoding::Nt6,
        tracker: TRACKER_X64_2022,
        per_processor_trackers: true,
        big: BIG_2022_X64,
        descriptor: None,
        pool: PoolModel::SegmentHeap(&SEG_X64_20348),
        paged_info: None,
        free_pool_entry: None,
        ldr: ldr_x64(0x138),
        vm: VmSource::Partition {
            vp: 0x4140,
            physical: 0x10,
            available: 0xc0,
            resident: 0x100,
            modified: 0x240,
            shared_commit: Some(0x338),
            committed: 0x228,
            commit_limit: 0x318,
            allocated_nonpaged: 0x8,
        },
        globals: Globals::Real(W22000_GLOBALS),
        va: VaLayout {
            kernel_base: 0xffff_f800_0000_0000,
            randomise_kernel: true,
            nonpaged: 0xffff_a98c_0000_0000,
            paged: 0xffff_cd00_0000_0000,
            kuser: 0xffff_f780_0000_0000,
            pfn_database: 0xffff_8a00_0000_0000,
        },
        image_size: 0xe1_0000,
        page_file_low_bit: 12,
    },
];

/// Looks a profile up by [`Profile::name`].
pub fn profile(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}
