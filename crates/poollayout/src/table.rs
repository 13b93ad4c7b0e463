//! The data table: (architecture, build range) → layouts. Sources are named per structure; "vol2" is
//! Volatility 2's PDB-derived `*_vtypes.py` (grouped by identical layout; docs/POOL_INTERNALS.md
//! §1), "ISF" the real JPCERTCC ISF files of 31 x64 builds (checked by `tests/isf.rs`).

use crate::layout::*;
use crate::read::Field;

const fn f32(o: usize) -> Field {
    Field::u32(o)
}
const fn f64(o: usize) -> Field {
    Field::u64(o)
}

// ---------------------------------------------------------------- _POOL_TRACKER_TABLE

/// x86 XP … 10 1703: 0x1c, all u32 (vol2).
const TRACKER_X86_1C: TrackerLayout = TrackerLayout {
    size: 0x1c,
    key: f32(0),
    nonpaged_allocs: f32(4),
    nonpaged_frees: f32(8),
    nonpaged_bytes: f32(0xc),
    paged_allocs: f32(0x10),
    paged_frees: f32(0x14),
    paged_bytes: f32(0x18),
};
/// x86 10 1709+: 0x30 (vol2 win10_x86_16299 … 19041).
const TRACKER_X86_30: TrackerLayout = TrackerLayout {
    size: 0x30,
    key: f32(0),
    nonpaged_bytes: f32(4),
    nonpaged_allocs: f64(8),
    nonpaged_frees: f64(0x10),
    paged_bytes: f32(0x18),
    paged_allocs: f64(0x20),
    paged_frees: f64(0x28),
};
/// x64 2003 … 10 1703: 0x28 (vol2; ISF 7601–15063).
const TRACKER_X64_28: TrackerLayout = TrackerLayout {
    size: 0x28,
    key: f32(0),
    nonpaged_allocs: f32(4),
    nonpaged_frees: f32(8),
    nonpaged_bytes: f64(0x10),
    paged_allocs: f32(0x18),
    paged_frees: f32(0x1c),
    paged_bytes: f64(0x20),
};
/// x64 10 1709 … 2004: 0x38 (vol2; ISF 17763–19041).
const TRACKER_X64_38: TrackerLayout = TrackerLayout {
    size: 0x38,
    key: f32(0),
    nonpaged_bytes: f64(8),
    nonpaged_allocs: f64(0x10),
    nonpaged_frees: f64(0x18),
    paged_bytes: f64(0x20),
    paged_allocs: f64(0x28),
    paged_frees: f64(0x30),
};
/// x64 Server 2022 / 11: 0x50 (ISF 20348, 22000: AvailableLimit @0x38, LimitInfo @0x48 added).
const TRACKER_X64_50: TrackerLayout = TrackerLayout {
    size: 0x50,
    ..TRACKER_X64_38
};

const TABLES_NONE: TrackerTables = TrackerTables {
    per_processor: None,
    session: None,
};
/// ISF 7601–20348 list both symbols.
const TABLES_PERCPU_SESSION: TrackerTables = TrackerTables {
    per_processor: Some("ExPoolTagTables"),
    session: Some("ExpSessionPoolTrackTable"),
};
/// ISF 22000: `ExpSessionPoolTrackTable` is gone.
const TABLES_PERCPU: TrackerTables = TrackerTables {
    per_processor: Some("ExPoolTagTables"),
    session: None,
};

// ---------------------------------------------------------------- _POOL_TRACKER_BIG_PAGES

const BIG_X86_XP: BigPageLayout = BigPageLayout {
    size: 0xc,
    va: f32(0),
    key: f32(4),
    detail: BigPageDetail::Pages {
        number_of_pages: f32(8),
        quota_object: None,
    },
    process_billed: None,
};
const BIG_X86_2003: BigPageLayout = BigPageLayout {
    size: 0x10,
    va: f32(0),
    key: f32(4),
    detail: BigPageDetail::Pages {
        number_of_pages: f32(8),
        quota_object: Some(f32(0xc)),
    },
    process_billed: None,
};
const BIG_X86_VISTA: BigPageLayout = BigPageLayout {
    size: 0x10,
    va: f32(0),
    key: f32(4),
    detail: BigPageDetail::PoolTypeBytes {
        pool_type: f32(8),
        number_of_bytes: f32(0xc),
    },
    process_billed: None,
};
const BIG_X86_10: BigPageLayout = BigPageLayout {
    size: 0x10,
    va: f32(0),
    key: f32(4),
    detail: BigPageDetail::Packed {
        bits: f32(8),
        number_of_bytes: f32(0xc),
    },
    process_billed: None,
};
const BIG_X64_2003: BigPageLayout = BigPageLayout {
    size: 0x18,
    va: f64(0),
    key: f32(8),
    detail: BigPageDetail::Pages {
        number_of_pages: f32(0xc),
        quota_object: Some(f64(0x10)),
    },
    process_billed: None,
};
const BIG_X64_VISTA: BigPageLayout = BigPageLayout {
    size: 0x18,
    va: f64(0),
    key: f32(8),
    detail: BigPageDetail::PoolTypeBytes {
        pool_type: f32(0xc),
        number_of_bytes: f64(0x10),
    },
    process_billed: None,
};
const BIG_X64_10: BigPageLayout = BigPageLayout {
    size: 0x18,
    va: f64(0),
    key: f32(8),
    detail: BigPageDetail::Packed {
        bits: f32(0xc),
        number_of_bytes: f64(0x10),
    },
    process_billed: None,
};
/// ISF 20348 / 22000 (also MemProcFS `_BIGPOOL64_11`).
const BIG_X64_20348: BigPageLayout = BigPageLayout {
    size: 0x20,
    process_billed: Some(f64(0x18)),
    ..BIG_X64_10
};

// ---------------------------------------------------------------- _POOL_DESCRIPTOR

const DESC_X86_XP: DescriptorLayout = DescriptorLayout {
    size: 0x1028,
    pool_type: f32(0),
    pool_index: f32(4),
    counters: DescriptorCounters::Totals {
        running_allocs: f32(8),
        running_deallocs: f32(0xc),
        total_pages: f32(0x10),
        total_big_pages: f32(0x14),
        total_bytes: None,
    },
    list_heads: Some((0x28, 512)),
};
const DESC_X86_2003: DescriptorLayout = DescriptorLayout {
    size: 0x1030,
    counters: DescriptorCounters::Totals {
        running_allocs: f32(8),
        running_deallocs: f32(0xc),
        total_pages: f32(0x10),
        total_big_pages: f32(0x14),
        total_bytes: Some(f32(0x28)),
    },
    list_heads: Some((0x30, 512)),
    ..DESC_X86_XP
};
const DESC_X86_VISTA: DescriptorLayout = DescriptorLayout {
    size: 0x1034,
    counters: DescriptorCounters::Totals {
        running_allocs: f32(8),
        running_deallocs: f32(0xc),
        total_pages: f32(0x10),
        total_big_pages: f32(0x14),
        total_bytes: Some(f32(0x2c)),
    },
    list_heads: Some((0x34, 512)),
    ..DESC_X86_XP
};
const DESC_X86_7: DescriptorLayout = DescriptorLayout {
    size: 0x1140,
    pool_type: f32(0),
    pool_index: f32(0x80),
    counters: DescriptorCounters::Totals {
        running_allocs: f32(0x40),
        running_deallocs: f32(0x44),
        total_pages: f32(0xc0),
        total_big_pages: f32(0x48),
        total_bytes: Some(f32(0x50)),
    },
    list_heads: Some((0x140, 512)),
};
const DESC_X86_1607: DescriptorLayout = DescriptorLayout {
    size: 0x1140,
    pool_type: f32(0),
    pool_index: f32(0xc0),
    counters: DescriptorCounters::Split {
        running_allocs: f32(0x40),
        pages_allocated: f32(0x44),
        big_pages_allocated: f32(0x48),
        bytes_allocated: f32(0x4c),
        running_deallocs: f32(0x80),
        pages_deallocated: f32(0x84),
        big_pages_deallocated: f32(0x88),
        bytes_deallocated: f32(0x8c),
    },
    list_heads: Some((0x140, 512)),
};
const DESC_X86_18362: DescriptorLayout = DescriptorLayout {
    size: 0x100,
    list_heads: None,
    ..DESC_X86_1607
};
const DESC_X64_2003: DescriptorLayout = DescriptorLayout {
    size: 0x1048,
    pool_type: f32(0),
    pool_index: f32(4),
    counters: DescriptorCounters::Totals {
        running_allocs: f32(8),
        running_deallocs: f32(0xc),
        total_pages: f32(0x10),
        total_big_pages: f32(0x14),
        total_bytes: Some(f64(0x38)),
    },
    list_heads: Some((0x48, 256)),
};
const DESC_X64_7: DescriptorLayout = DescriptorLayout {
    size: 0x1140,
    pool_type: f32(0),
    pool_index: f32(0x80),
    counters: DescriptorCounters::Totals {
        running_allocs: f32(0x40),
        running_deallocs: f32(0x44),
        total_pages: f32(0xc0),
        total_big_pages: f32(0x48),
        total_bytes: Some(f64(0x50)),
    },
    list_heads: Some((0x140, 256)),
};
const DESC_X64_1607: DescriptorLayout = DescriptorLayout {
    size: 0x1140,
    pool_type: f32(0),
    pool_index: f32(0xc0),
    counters: DescriptorCounters::Split {
        running_allocs: f32(0x40),
        pages_allocated: f64(0x48),
        big_pages_allocated: f64(0x50),
        bytes_allocated: f64(0x58),
        running_deallocs: f32(0x80),
        pages_deallocated: f64(0x88),
        big_pages_deallocated: f64(0x90),
        bytes_deallocated: f64(0x98),
    },
    list_heads: Some((0x140, 256)),
};
const DESC_X64_18362: DescriptorLayout = DescriptorLayout {
    size: 0x100,
    list_heads: None,
    ..DESC_X64_1607
};

// ---------------------------------------------------------------- _MM_PAGED_POOL_INFO

const PPI_X86_XP: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x24,
    allocation_map: Some(AllocationMap::Pointer(f32(0))),
    end_of_bitmap: Some(f32(4)),
    first_pte: Some(f32(0xc)),
    hint: Some(f32(0x18)),
    commit: Some(f32(0x1c)),
    maximum_size: None,
    allocated: f32(0x20),
};
const PPI_X86_2003: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x20,
    first_pte: Some(f32(8)),
    hint: Some(f32(0x14)),
    commit: Some(f32(0x18)),
    allocated: f32(0x1c),
    ..PPI_X86_XP
};
const BITMAP_X86_20: AllocationMap = AllocationMap::Embedded {
    offset: 0x20,
    size_of_bitmap: f32(0x20),
    buffer: f32(0x24),
};
const PPI_X86_VISTA: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x38,
    allocation_map: Some(BITMAP_X86_20),
    end_of_bitmap: None,
    first_pte: Some(f32(0x28)),
    hint: Some(f32(0x2c)),
    commit: Some(f32(0x30)),
    maximum_size: None,
    allocated: f32(0x34),
};
const PPI_X86_8: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x34,
    hint: Some(f32(0x2c)),
    commit: None,
    allocated: f32(0x30),
    ..PPI_X86_VISTA
};
const PPI_X86_81: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x38,
    maximum_size: Some(f32(0x2c)),
    hint: Some(f32(0x30)),
    commit: None,
    allocated: f32(0x34),
    ..PPI_X86_VISTA
};
const PPI_X86_10: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x1c,
    allocation_map: Some(AllocationMap::Embedded {
        offset: 4,
        size_of_bitmap: f32(4),
        buffer: f32(8),
    }),
    end_of_bitmap: None,
    first_pte: Some(f32(0xc)),
    maximum_size: Some(f32(0x10)),
    hint: Some(f32(0x14)),
    commit: None,
    allocated: f32(0x18),
};
const PPI_X86_18362: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0xc,
    allocation_map: None,
    end_of_bitmap: None,
    first_pte: None,
    maximum_size: Some(f32(4)),
    hint: None,
    commit: None,
    allocated: f32(8),
};
const PPI_X64_2003: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x40,
    allocation_map: Some(AllocationMap::Pointer(f64(0))),
    end_of_bitmap: Some(f64(8)),
    first_pte: Some(f64(0x10)),
    hint: Some(f32(0x28)),
    commit: Some(f64(0x30)),
    maximum_size: None,
    allocated: f64(0x38),
};
/// `_RTL_BITMAP` {u32 size, ptr Buffer @+8} embedded at 0x38.
const BITMAP_X64_38: AllocationMap = AllocationMap::Embedded {
    offset: 0x38,
    size_of_bitmap: f32(0x38),
    buffer: f64(0x40),
};
const PPI_X64_VISTA: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x68,
    allocation_map: Some(BITMAP_X64_38),
    end_of_bitmap: None,
    first_pte: Some(f64(0x48)),
    hint: Some(f32(0x50)),
    commit: Some(f64(0x58)),
    maximum_size: None,
    allocated: f64(0x60),
};
const PPI_X64_8: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x60,
    commit: None,
    allocated: f64(0x58),
    ..PPI_X64_VISTA
};
/// 8.1: `_RTL_BITMAP_EX` {u64 size, Buffer}.
const PPI_X64_81: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x68,
    allocation_map: Some(AllocationMap::Embedded {
        offset: 0x38,
        size_of_bitmap: f64(0x38),
        buffer: f64(0x40),
    }),
    end_of_bitmap: None,
    first_pte: Some(f64(0x48)),
    maximum_size: Some(f64(0x50)),
    hint: Some(f64(0x58)),
    commit: None,
    allocated: f64(0x60),
};
const PPI_X64_10: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x38,
    allocation_map: Some(AllocationMap::Embedded {
        offset: 8,
        size_of_bitmap: f64(8),
        buffer: f64(0x10),
    }),
    end_of_bitmap: None,
    first_pte: Some(f64(0x18)),
    maximum_size: Some(f64(0x20)),
    hint: Some(f64(0x28)),
    commit: None,
    allocated: f64(0x30),
};
const PPI_X64_18362: PagedPoolInfoLayout = PagedPoolInfoLayout {
    size: 0x18,
    allocation_map: None,
    end_of_bitmap: None,
    first_pte: None,
    maximum_size: Some(f64(8)),
    hint: None,
    commit: None,
    allocated: f64(0x10),
};

// ---------------------------------------------------------------- _MMFREE_POOL_ENTRY (vol2 xp_sp3 / 2003_sp2)

const FREE_X86: FreePoolEntryLayout = FreePoolEntryLayout {
    size: 0x14,
    flink: f32(0),
    blink: f32(4),
    size_pages: f32(8),
    signature: f32(0xc),
    owner: f32(0x10),
};
const FREE_X64: FreePoolEntryLayout = FreePoolEntryLayout {
    size: 0x28,
    flink: f64(0),
    blink: f64(8),
    size_pages: f64(0x10),
    signature: f32(0x18),
    owner: f64(0x20),
};

// ---------------------------------------------------------------- segment heap

/// x64 18362 (ISF 18326, 18362; vol2 win10_x64_18362).
const SEG_X64_18362: SegmentHeapLayout = SegmentHeapLayout {
    state_size: 0x86940,
    state_globals: f64(0),
    number_of_pools: f32(0x38d0),
    pool_node: 0x3900,
    pool_node_size: 0x20c0,
    max_pools: 64,
    node_heaps: 0,
    special_heaps: 0x86900,
    special_heap_count: 3,
    heap_key: f64(0),
    lfh_key: f64(8),
    heap_size: 0x800,
    heap_signature: f32(0x10),
    heap_mem_stats: 0x80,
    heap_seg_contexts: 0x100,
    heap_vs_context: 0x280,
    heap_lfh_context: 0x340,
    seg_context_size: 0xc0,
    seg_segment_mask: f64(0),
    seg_unit_shift: Field::u8(8),
    seg_first_descriptor_index: Field::u8(0xa),
    seg_segment_list_head: 0x48,
    page_segment_size: 0x2000,
    page_segment_signature: f64(0x10),
    range_descriptor_size: 0x20,
    range_flags: Field::u8(0x18),
    range_flags_mask: 0xff,
    range_unit_size: Field::u8(0x1f),
    vs_subsegment_size: 0x28,
    vs_subsegment_size_field: Field::u16(0x20),
    vs_subsegment_signature: Field::u16(0x22),
    vs_first_chunk: 0x30,
    vs_chunk_header_size: 0x10,
    lfh_block_count: Field::u16(0x22),
    lfh_block_offsets: f32(0x28),
    lfh_block_bitmap: 0x30,
    big_threshold: 0xfe0,
};
/// x64 19041 (ISF 19041): four special heaps.
const SEG_X64_19041: SegmentHeapLayout = SegmentHeapLayout {
    special_heap_count: 4,
    ..SEG_X64_18362
};
/// x64 20348 / 22000 (ISF): NumberOfPools moved, `_SEGMENT_HEAP` grew to 0x840.
const SEG_X64_20348: SegmentHeapLayout = SegmentHeapLayout {
    number_of_pools: f32(0x38e0),
    heap_size: 0x840,
    heap_seg_contexts: 0x140,
    heap_vs_context: 0x2c0,
    heap_lfh_context: 0x380,
    ..SEG_X64_19041
};
/// x86 18362 (vol2 win10_x86_18362).
const SEG_X86_18362: SegmentHeapLayout = SegmentHeapLayout {
    state_size: 0x228c0,
    state_globals: f32(0),
    number_of_pools: f32(0x1c70),
    pool_node: 0x1c80,
    pool_node_size: 0x20c0,
    max_pools: 16,
    node_heaps: 0,
    special_heaps: 0x22880,
    special_heap_count: 3,
    heap_key: f32(0),
    lfh_key: f32(4),
    heap_size: 0x580,
    heap_signature: f32(8),
    heap_mem_stats: 0x80,
    heap_seg_contexts: 0x100,
    heap_vs_context: 0x200,
    heap_lfh_context: 0x2c0,
    seg_context_size: 0x80,
    seg_segment_mask: f32(0),
    seg_unit_shift: Field::u8(4),
    seg_first_descriptor_index: Field::u8(6),
    seg_segment_list_head: 0x44,
    page_segment_size: 0x1000,
    page_segment_signature: f32(8),
    range_descriptor_size: 0x10,
    range_flags: Field::u8(0xc),
    range_flags_mask: 0x1f,
    range_unit_size: Field::u8(0xf),
    vs_subsegment_size: 0x18,
    vs_subsegment_size_field: Field::u16(0x14),
    vs_subsegment_signature: Field::u16(0x16),
    vs_first_chunk: 0x18,
    vs_chunk_header_size: 8,
    lfh_block_count: Field::u16(0x12),
    lfh_block_offsets: f32(0x18),
    lfh_block_bitmap: 0x20,
    big_threshold: 0xff0,
};
const SEG_X86_19041: SegmentHeapLayout = SegmentHeapLayout {
    special_heap_count: 4,
    ..SEG_X86_18362
};

// ---------------------------------------------------------------- families

const BASE: Family = Family {
    name: "",
    arch: Arch::X86,
    first_build: 0,
    last_build: 0,
    verified_builds: &[],
    header: HeaderFormat::X86,
    era: PoolTypeEra::Nt6,
    protected_tags: false,
    quota_cookie: false,
    tracker: None,
    tracker_tables: TABLES_NONE,
    big_pages: None,
    descriptor: None,
    paged_pool_info: None,
    free_pool_entry: None,
    segment_heap: None,
    sources: "",
};

/// Every known family. Ranges of one architecture do not overlap; builds between two rows' verified builds
/// belong to the earlier row (layouts change at releases, and the first verified build of a row is where the
/// change was seen).
pub const FAMILIES: &[Family] = &[
    // ------------------------------------------------------------ x86
    Family {
        name: "Windows 2000 x86",
        arch: Arch::X86,
        first_build: 2195,
        last_build: 2599,
        verified_builds: &[],
        header: HeaderFormat::Nt50X86,
        era: PoolTypeEra::Nt5,
        protected_tags: true,
        sources: "forensikblog.de POOL_HEADER (2006) for the header; other structures have no public layout",
        ..BASE
    },
    Family {
        name: "Windows XP x86",
        arch: Arch::X86,
        first_build: 2600,
        last_build: 3789,
        verified_builds: &[2600],
        era: PoolTypeEra::Nt5,
        protected_tags: true,
        tracker: Some(TRACKER_X86_1C),
        big_pages: Some(BIG_X86_XP),
        descriptor: Some(DESC_X86_XP),
        paged_pool_info: Some(PPI_X86_XP),
        free_pool_entry: Some(FREE_X86),
        sources: "vol2 xp_sp2_x86, xp_sp3_x86 vtypes",
        ..BASE
    },
    Family {
        name: "Windows Server 2003 x86",
        arch: Arch::X86,
        first_build: 3790,
        last_build: 5999,
        verified_builds: &[3790],
        era: PoolTypeEra::Nt5,
        protected_tags: true,
        tracker: Some(TRACKER_X86_1C),
        big_pages: Some(BIG_X86_2003),
        descriptor: Some(DESC_X86_2003),
        paged_pool_info: Some(PPI_X86_2003),
        free_pool_entry: Some(FREE_X86),
        sources: "vol2 win2003_sp0/sp1/sp2_x86 vtypes",
        ..BASE
    },
    Family {
        name: "Windows Vista / 2008 x86",
        arch: Arch::X86,
        first_build: 6000,
        last_build: 7599,
        verified_builds: &[6000, 6001, 6002],
        protected_tags: true,
        tracker: Some(TRACKER_X86_1C),
        big_pages: Some(BIG_X86_VISTA),
        descriptor: Some(DESC_X86_VISTA),
        paged_pool_info: Some(PPI_X86_VISTA),
        sources: "vol2 vista_sp0/sp1/sp2_x86 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 7 x86",
        arch: Arch::X86,
        first_build: 7600,
        last_build: 9199,
        verified_builds: &[7600, 7601],
        protected_tags: true,
        tracker: Some(TRACKER_X86_1C),
        big_pages: Some(BIG_X86_VISTA),
        descriptor: Some(DESC_X86_7),
        paged_pool_info: Some(PPI_X86_VISTA),
        sources: "vol2 win7_sp0/sp1_x86 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 8 x86",
        arch: Arch::X86,
        first_build: 9200,
        last_build: 9599,
        verified_builds: &[9200],
        tracker: Some(TRACKER_X86_1C),
        big_pages: Some(BIG_X86_VISTA),
        descriptor: Some(DESC_X86_7),
        paged_pool_info: Some(PPI_X86_8),
        sources: "vol2 win8_sp0_x86 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 8.1 x86",
        arch: Arch::X86,
        first_build: 9600,
        last_build: 10239,
        verified_builds: &[9600],
        tracker: Some(TRACKER_X86_1C),
        big_pages: Some(BIG_X86_VISTA),
        descriptor: Some(DESC_X86_7),
        paged_pool_info: Some(PPI_X86_81),
        sources: "vol2 win8_sp1_x86, win81_u1_x86 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 10 1507-1511 x86",
        arch: Arch::X86,
        first_build: 10240,
        last_build: 14392,
        verified_builds: &[10240, 10586],
        tracker: Some(TRACKER_X86_1C),
        big_pages: Some(BIG_X86_10),
        descriptor: Some(DESC_X86_7),
        paged_pool_info: Some(PPI_X86_10),
        sources: "vol2 win10_x86, win10_x86_10240_17770, win10_x86_44B89EEA vtypes",
        ..BASE
    },
    Family {
        name: "Windows 10 1607-1703 x86",
        arch: Arch::X86,
        first_build: 14393,
        last_build: 16298,
        verified_builds: &[14393, 15063],
        tracker: Some(TRACKER_X86_1C),
        big_pages: Some(BIG_X86_10),
        descriptor: Some(DESC_X86_1607),
        paged_pool_info: Some(PPI_X86_10),
        sources: "vol2 win10_x86_9619274A, win10_x86_15063 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 10 1709-1809 x86",
        arch: Arch::X86,
        first_build: 16299,
        last_build: 17763,
        verified_builds: &[16299, 17134, 17763],
        tracker: Some(TRACKER_X86_30),
        big_pages: Some(BIG_X86_10),
        descriptor: Some(DESC_X86_1607),
        paged_pool_info: Some(PPI_X86_10),
        sources: "vol2 win10_x86_16299, 17134, 17763 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 10 1903-1909 x86 (segment heap)",
        arch: Arch::X86,
        first_build: 17764,
        last_build: 18999,
        verified_builds: &[18362],
        era: PoolTypeEra::SegmentHeap,
        tracker: Some(TRACKER_X86_30),
        big_pages: Some(BIG_X86_10),
        descriptor: Some(DESC_X86_18362),
        paged_pool_info: Some(PPI_X86_18362),
        segment_heap: Some(SEG_X86_18362),
        sources: "vol2 win10_x86_18362 vtypes; MemProcFS vmmwinpool.c for the walk constants",
        ..BASE
    },
    Family {
        name: "Windows 10 2004-22H2 x86 (segment heap)",
        arch: Arch::X86,
        first_build: 19000,
        last_build: 19999,
        verified_builds: &[19041],
        era: PoolTypeEra::SegmentHeap,
        tracker: Some(TRACKER_X86_30),
        big_pages: Some(BIG_X86_10),
        descriptor: None,
        paged_pool_info: Some(PPI_X86_18362),
        segment_heap: Some(SEG_X86_19041),
        sources: "vol2 win10_x86_19041 vtypes; MemProcFS vmmwinpool.c for the walk constants",
        ..BASE
    },
    // ------------------------------------------------------------ x64
    Family {
        name: "Windows Server 2003 / XP x64",
        arch: Arch::X64,
        first_build: 3790,
        last_build: 5999,
        verified_builds: &[3790],
        header: HeaderFormat::X64,
        era: PoolTypeEra::Nt5,
        protected_tags: true,
        tracker: Some(TRACKER_X64_28),
        big_pages: Some(BIG_X64_2003),
        descriptor: Some(DESC_X64_2003),
        paged_pool_info: Some(PPI_X64_2003),
        free_pool_entry: Some(FREE_X64),
        sources: "vol2 win2003_sp1_x64, win2003_sp2_x64 vtypes",
        ..BASE
    },
    Family {
        name: "Windows Vista / 2008 x64",
        arch: Arch::X64,
        first_build: 6000,
        last_build: 7599,
        verified_builds: &[6000, 6001, 6002],
        header: HeaderFormat::X64,
        protected_tags: true,
        tracker: Some(TRACKER_X64_28),
        big_pages: Some(BIG_X64_VISTA),
        descriptor: Some(DESC_X64_2003),
        paged_pool_info: Some(PPI_X64_VISTA),
        sources: "vol2 vista_sp0/sp1/sp2_x64 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 7 / 2008 R2 x64",
        arch: Arch::X64,
        first_build: 7600,
        last_build: 9199,
        verified_builds: &[7600, 7601],
        header: HeaderFormat::X64,
        protected_tags: true,
        tracker: Some(TRACKER_X64_28),
        tracker_tables: TABLES_PERCPU_SESSION,
        big_pages: Some(BIG_X64_VISTA),
        descriptor: Some(DESC_X64_7),
        paged_pool_info: Some(PPI_X64_VISTA),
        sources: "ISF 7601.24540; vol2 win7_sp0/sp1_x64 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 8 / 2012 x64",
        arch: Arch::X64,
        first_build: 9200,
        last_build: 9599,
        verified_builds: &[9200],
        header: HeaderFormat::X64,
        quota_cookie: true,
        tracker: Some(TRACKER_X64_28),
        tracker_tables: TABLES_PERCPU_SESSION,
        big_pages: Some(BIG_X64_VISTA),
        descriptor: Some(DESC_X64_7),
        paged_pool_info: Some(PPI_X64_8),
        sources: "vol2 win8_sp0_x64 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 8.1 / 2012 R2 x64",
        arch: Arch::X64,
        first_build: 9600,
        last_build: 10239,
        verified_builds: &[9600],
        header: HeaderFormat::X64,
        quota_cookie: true,
        tracker: Some(TRACKER_X64_28),
        tracker_tables: TABLES_PERCPU_SESSION,
        big_pages: Some(BIG_X64_VISTA),
        descriptor: Some(DESC_X64_7),
        paged_pool_info: Some(PPI_X64_81),
        sources: "ISF 9600.19913/20173/20778/21620; vol2 win8_sp1_x64, win81_u1_x64 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 10 1507-1511 x64",
        arch: Arch::X64,
        first_build: 10240,
        last_build: 14392,
        verified_builds: &[10240, 10586],
        header: HeaderFormat::X64,
        quota_cookie: true,
        tracker: Some(TRACKER_X64_28),
        tracker_tables: TABLES_PERCPU_SESSION,
        big_pages: Some(BIG_X64_10),
        descriptor: Some(DESC_X64_7),
        paged_pool_info: Some(PPI_X64_10),
        sources: "vol2 win10_x64, win10_x64_10240_17770, win10_x64_1AC738FB vtypes",
        ..BASE
    },
    Family {
        name: "Windows 10 1607-1703 / 2016 x64",
        arch: Arch::X64,
        first_build: 14393,
        last_build: 16298,
        verified_builds: &[14393, 15063],
        header: HeaderFormat::X64,
        quota_cookie: true,
        tracker: Some(TRACKER_X64_28),
        tracker_tables: TABLES_PERCPU_SESSION,
        big_pages: Some(BIG_X64_10),
        descriptor: Some(DESC_X64_1607),
        paged_pool_info: Some(PPI_X64_10),
        sources: "ISF 14393.4583/4889/5850/6343; vol2 win10_x64_DD08DD42, win10_x64_15063 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 10 1709-1809 / 2019 x64",
        arch: Arch::X64,
        first_build: 16299,
        last_build: 17763,
        verified_builds: &[16299, 17134, 17763],
        header: HeaderFormat::X64,
        quota_cookie: true,
        tracker: Some(TRACKER_X64_38),
        tracker_tables: TABLES_PERCPU_SESSION,
        big_pages: Some(BIG_X64_10),
        descriptor: Some(DESC_X64_1607),
        paged_pool_info: Some(PPI_X64_10),
        sources: "ISF 17763.379/2366/5458/5933; vol2 win10_x64_16299, 17134, 17763 vtypes",
        ..BASE
    },
    Family {
        name: "Windows 10 1903-1909 x64 (segment heap)",
        arch: Arch::X64,
        first_build: 17764,
        last_build: 18999,
        verified_builds: &[18326, 18362],
        header: HeaderFormat::X64,
        era: PoolTypeEra::SegmentHeap,
        quota_cookie: true,
        tracker: Some(TRACKER_X64_38),
        tracker_tables: TABLES_PERCPU_SESSION,
        big_pages: Some(BIG_X64_10),
        descriptor: Some(DESC_X64_18362),
        paged_pool_info: Some(PPI_X64_18362),
        segment_heap: Some(SEG_X64_18362),
        sources: "ISF 18326.535/778, 18362.30/356/476/836; vol2 win10_x64_18362; MemProcFS vmmwinpool.c walk constants",
        ..BASE
    },
    Family {
        name: "Windows 10 2004-22H2 x64 (segment heap)",
        arch: Arch::X64,
        first_build: 19000,
        last_build: 20347,
        verified_builds: &[19041],
        header: HeaderFormat::X64,
        era: PoolTypeEra::SegmentHeap,
        quota_cookie: true,
        tracker: Some(TRACKER_X64_38),
        tracker_tables: TABLES_PERCPU_SESSION,
        big_pages: Some(BIG_X64_10),
        descriptor: None,
        paged_pool_info: Some(PPI_X64_18362),
        segment_heap: Some(SEG_X64_19041),
        sources: "ISF 19041.329/1165/1237/3570; vol2 win10_x64_19041; MemProcFS vmmwinpool.c walk constants",
        ..BASE
    },
    Family {
        name: "Windows Server 2022 x64 (segment heap)",
        arch: Arch::X64,
        first_build: 20348,
        last_build: 21999,
        verified_builds: &[20348],
        header: HeaderFormat::X64,
        era: PoolTypeEra::SegmentHeap,
        quota_cookie: true,
        tracker: Some(TRACKER_X64_50),
        tracker_tables: TABLES_PERCPU_SESSION,
        big_pages: Some(BIG_X64_20348),
        descriptor: None,
        paged_pool_info: Some(PPI_X64_18362),
        segment_heap: Some(SEG_X64_20348),
        sources: "ISF 20348.288/768/1547/2529; MemProcFS vmmwinpool.c _BIGPOOL64_11",
        ..BASE
    },
    Family {
        name: "Windows 11 21H2-23H2 x64 (segment heap)",
        arch: Arch::X64,
        first_build: 22000,
        last_build: 26099,
        verified_builds: &[22000],
        header: HeaderFormat::X64,
        era: PoolTypeEra::SegmentHeap,
        quota_cookie: true,
        tracker: Some(TRACKER_X64_50),
        tracker_tables: TABLES_PERCPU,
        big_pages: Some(BIG_X64_20348),
        descriptor: None,
        paged_pool_info: Some(PPI_X64_18362),
        segment_heap: Some(SEG_X64_20348),
        sources: "ISF 22000.318/1042/1880/2538",
        ..BASE
    },
];
