//! The ground-truth manifest written beside every image: what a correct analyzer must find.
//!
//! Field names follow docs/CONTRACT.md (`info`, `lm`, `!vm`, `!poolused`, `!pool`, `!poolfind`
//! rows). Addresses are lowercase hex strings (`"0xfffff80002a00000"`), counts and sizes are numbers,
//! sizes in bytes unless the name says `_pages`.

use serde::{Serialize, Serializer};

/// Manifest schema version (additive changes only).
pub const SCHEMA: u32 = 1;

/// A pointer-sized value serialised as `"0x…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hex(pub u64);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:#x}", self.0))
    }
}

/// The whole manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// [`SCHEMA`].
    pub schema: u32,
    /// Seed the image was built from.
    pub seed: u64,
    /// CONTRACT.md `info` row (container-dependent fields are filled by the writer's manifest).
    pub info: Info,
    /// Where the profile's facts come from.
    pub profile: ProfileFacts,
    /// CONTRACT.md `lm` rows.
    pub modules: Vec<Module>,
    /// CONTRACT.md `!vm` figures (absent = the target has no source for it).
    pub vm: Vm,
    /// CONTRACT.md `!poolused` rows, sorted by tag: the trackers' counters summed over every table.
    pub poolused: Vec<PoolUsed>,
    /// Each tracker table and the entries it holds.
    pub tracker_tables: Vec<TrackerTable>,
    /// Every small-pool block (headers), in address order.
    pub blocks: Vec<Block>,
    /// Descriptor free lists (non-empty ones).
    pub free_lists: Vec<FreeList>,
    /// Big-page-table entries in use (allocated and freed), in address order.
    pub big_allocations: Vec<BigAllocation>,
    /// The big page table itself.
    pub big_page_table: TableInfo,
    /// Pool descriptors and their counters.
    pub descriptors: Vec<Descriptor>,
    /// The paged-pool allocation bitmap, where the version keeps `MmPagedPoolInfo`.
    pub paged_pool_bitmap: Option<PagedBitmap>,
    /// Nonpaged free page runs on `MmNonPagedPoolFreeListHead` (XP/2003).
    pub nonpaged_free_runs: Vec<FreeRun>,
    /// Pages whose PTE is not valid, or whose frame is absent from the dump.
    pub special_pages: Vec<SpecialPage>,
    /// Faults injected on request.
    pub faults: Vec<FaultRecord>,
    /// Addresses of the kernel globals the builder wrote.
    pub globals: Vec<Global>,
    /// The pool's virtual ranges as the kernel states them, with the state that holds each (a
    /// pool whose range the version keeps nowhere public is absent: Windows 8.1's nonpaged pool).
    pub pool_regions: Vec<PoolRegion>,
    /// Set by the writer: the container this manifest describes.
    pub container: Option<ContainerInfo>,
    /// The segment heap (19H1+ profiles only; absent from classic-pool manifests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_heap: Option<SegmentHeap>,
}

/// A pool region (`pool_regions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolRegion {
    /// `"nonpaged"` or `"paged"`.
    pub pool: &'static str,
    /// First byte.
    pub start: Hex,
    /// One past the last byte.
    pub end: Hex,
    /// What holds it: `MmNonPagedPoolStart..MmNonPagedPoolEnd`, `MiState.Vs.SystemVaRegions[1]`, ...
    pub source: String,
}

/// The segment-heap pool of a 19H1+ kernel: every VS chunk and LFH block with its state.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentHeap {
    /// `nt!ExPoolState`.
    pub pool_state: Hex,
    /// `nt!RtlpHpHeapGlobals` (what `ExPoolState.HeapManager.Globals` points at).
    pub heap_globals: Hex,
    /// `RtlpHpHeapGlobals.HeapKey`.
    pub heap_key: Hex,
    /// `RtlpHpHeapGlobals.LfhKey`.
    pub lfh_key: Hex,
    /// The `_SEGMENT_HEAP`s of pool node 0.
    pub heaps: Vec<SegHeapRec>,
    /// VS subsegments, in heap then address order.
    pub vs_subsegments: Vec<SubsegmentRec>,
    /// LFH subsegments.
    pub lfh_subsegments: Vec<SubsegmentRec>,
    /// Every VS chunk (fillers and tails included), in subsegment order.
    pub vs_chunks: Vec<VsChunkRec>,
    /// Every LFH block (never-allocated ones included), in subsegment order.
    pub lfh_blocks: Vec<LfhBlockRec>,
}

/// One `_SEGMENT_HEAP`.
#[derive(Debug, Clone, Serialize)]
pub struct SegHeapRec {
    /// Address of the `_SEGMENT_HEAP`.
    pub address: Hex,
    /// `NonPagedPool` | `NonPagedPoolNx` | `PagedPool`.
    pub pool_type: String,
    /// Pool node.
    pub node: u32,
    /// Index in `_EX_HEAP_POOL_NODE.Heaps[]`.
    pub slot: u32,
    /// Its 1 MiB page segments (`SegContexts[0]`).
    pub segments: Vec<Hex>,
}

/// A VS or LFH subsegment.
#[derive(Debug, Clone, Serialize)]
pub struct SubsegmentRec {
    /// Address (start of its page range).
    pub address: Hex,
    /// Bytes of the subsegment (VS: its `Size`; LFH: its committed pages), not counting a guard page.
    pub size: u64,
    /// The never-mapped page ending its page range, if it has one (`KernelBuilder::segheap_edges`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard_page: Option<Hex>,
    /// Heap's pool type.
    pub pool_type: String,
    /// `vs` | `lfh`.
    pub kind: String,
    /// LFH block size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u64>,
    /// LFH first block offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_block_offset: Option<u64>,
    /// Chunks or blocks in it.
    pub blocks: u64,
}

/// One VS chunk.
#[derive(Debug, Clone, Serialize)]
pub struct VsChunkRec {
    /// Chunk header address.
    pub chunk: Hex,
    /// Chunk size, chunk header included.
    pub chunk_size: u64,
    /// Previous chunk's size (0 for the first).
    pub previous_chunk_size: u64,
    /// `allocated` | `free`.
    pub state: String,
    /// Where its `_POOL_HEADER` is (docs/POOL_INTERNALS.md §3.3 step 5).
    pub pool_header: Hex,
    /// Pool block size, pool header included.
    pub size: u64,
    /// Tag in the pool header (empty for fillers and tails, whose header is zero).
    pub tag: String,
    /// Heap's pool type.
    pub pool_type: String,
    /// Subsegment address.
    pub subsegment: Hex,
    /// Present when the chunk header was corrupted on purpose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One LFH block.
#[derive(Debug, Clone, Serialize)]
pub struct LfhBlockRec {
    /// Block address (= its `_POOL_HEADER`).
    pub address: Hex,
    /// Block size.
    pub size: u64,
    /// `allocated` | `free`.
    pub state: String,
    /// Tag (empty for never-allocated blocks).
    pub tag: String,
    /// Heap's pool type.
    pub pool_type: String,
    /// Subsegment address.
    pub subsegment: Hex,
    /// Present when the block's bitmap bits were corrupted on purpose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// CONTRACT.md `info`.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    /// `x86`, `x86-pae`, `x64`.
    pub arch: String,
    /// Build number.
    pub build: u32,
    /// `"10.0.14393"`.
    pub version: String,
    /// Kernel image base.
    pub kernel_base: Hex,
    /// KDBG virtual address.
    pub kdbg: Hex,
    /// Directory table base.
    pub dtb: Hex,
    /// `full`, `bitmap kernel`, … (set by the writer).
    pub dump_type: Option<String>,
    /// Processors.
    pub processors: u32,
    /// Bugcheck code written in crash-dump headers.
    pub bugcheck_code: u32,
    /// Bugcheck parameters.
    pub bugcheck_parameters: [Hex; 4],
    /// Kernel PDB identity.
    pub pdb: Pdb,
    /// Pages mapped by the kernel but absent from the dump.
    pub missing_pages: u64,
}

/// PDB identity.
#[derive(Debug, Clone, Serialize)]
pub struct Pdb {
    /// File name.
    pub name: String,
    /// GUID, 32 upper-case hex digits.
    pub guid: String,
    /// Age.
    pub age: u32,
}

/// Facts about the profile.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileFacts {
    /// Profile name.
    pub name: String,
    /// Label.
    pub label: String,
    /// ntoskrnl file version.
    pub file_version: String,
    /// Whether GUID and RVAs are a real build's (x64 ISF builds) or synthetic.
    pub real_symbols: bool,
    /// The exact profile is withheld (`KernelBuilder::withhold_profile`): the PDB GUID is synthetic
    /// and every global moved by `builder::WITHHELD_SHIFT` from the build's RVA.
    #[serde(default)]
    pub withheld: bool,
    /// Self-map index (PML4 index on x64, PD index 0x300 on x86).
    pub self_map_index: u64,
    /// Base of the PTE array through the self-map.
    pub pte_base: Hex,
    /// Whether the in-memory KDBG is encoded (raw images keep it so; crash dumps hold it decoded).
    pub kdbg_encoded_in_memory: bool,
    /// KiWaitNever value (0 when not encoded).
    pub ki_wait_never: Hex,
    /// KiWaitAlways value.
    pub ki_wait_always: Hex,
    /// Address of KdpDataBlockEncoded.
    pub kdp_data_block_encoded: Hex,
    /// PsLoadedModuleList address.
    pub ps_loaded_module_list: Hex,
    /// KUSER_SHARED_DATA address.
    pub kuser_shared_data: Hex,
    /// Nonpaged pool start.
    pub nonpaged_pool_start: Hex,
    /// Paged pool start.
    pub paged_pool_start: Hex,
    /// Physical memory in bytes (sum of runs).
    pub memory_bytes: u64,
    /// Physical runs (base PFN, count).
    pub runs: Vec<(Hex, u64)>,
    /// Pool header size in bytes.
    pub pool_header_size: u64,
    /// Pool block unit in bytes.
    pub pool_block_unit: u64,
}

/// CONTRACT.md `lm` row.
#[derive(Debug, Clone, Serialize)]
pub struct Module {
    /// Base name.
    pub name: String,
    /// Image base.
    pub base: Hex,
    /// Image size.
    pub size: u64,
    /// Full path.
    pub path: String,
    /// Address of its loader entry.
    pub ldr_entry: Hex,
    /// Pool tags planted in its image as code immediates ([`crate::KernelBuilder::driver_tag`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code_tags: Vec<String>,
}

/// CONTRACT.md `!vm` figures.
#[derive(Debug, Clone, Default, Serialize)]
#[allow(missing_docs)]
pub struct Vm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resident_available_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonpaged_pool_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonpaged_pool_max_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paged_pool_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paged_pool_max_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_allocation_failures: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_commit_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_commit_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_system_ptes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_io_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub special_pool_pages: Option<u64>,
    /// The paging files written (absent where the profile has no source for them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_files: Option<Vec<PageFile>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_pf_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_no_write_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_process_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paged_pool_commit_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mdl_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contiguous_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonpaged_pool_commit_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_commit_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pfn_array_commit_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub small_nonpaged_ptes_commit_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slab_allocator_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_page_table_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_locked_file_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pagefile_hash_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_private_pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonpaged_pool_nx_pages: Option<u64>,
    /// The processes on `PsActiveProcessHead`, in list order (absent where the profile has no
    /// `_EPROCESS` layout a reader can locate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<Vec<Process>>,
    /// The sessions the processes point at (`_EPROCESS.Session` → `_MM_SESSION_SPACE`), by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<Session>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_commit_pages: Option<u64>,
}

/// One session of `!vm 4` (`_MM_SESSION_SPACE`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Session {
    /// `SessionId`.
    pub session_id: u32,
    /// `PagedPoolInfo.AllocatedPagedPool` (pages).
    pub paged_pool_pages: u64,
    /// `NonPagablePages`.
    pub nonpaged_pages: u64,
    /// `CommittedPages`.
    pub commit_pages: u64,
}

/// One process of the `!vm` list (`_EPROCESS`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Process {
    /// `UniqueProcessId`.
    pub pid: u64,
    /// `ImageFileName`.
    pub image_name: String,
    /// `CommitCharge` (pages).
    pub commit_pages: u64,
    /// `SharedCommitCharge` (pages; Windows 10 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_commit_pages: Option<u64>,
}

/// One paging file (`_MMPAGING_FILE`), sizes in pages (`!vm` prints them in Kb).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PageFile {
    /// `PageFileName` (`None`: an empty name, WinDbg's "No Name for Paging File").
    pub name: Option<String>,
    /// `Size`.
    pub current_pages: u64,
    /// `FreeSpace`.
    pub free_pages: u64,
    /// `MinimumSize`.
    pub minimum_pages: u64,
    /// `MaximumSize`.
    pub maximum_pages: u64,
}

/// CONTRACT.md `!poolused` row (tracker counters summed over all tables).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub struct PoolUsed {
    pub tag: String,
    pub nonpaged_allocs: u64,
    pub nonpaged_frees: u64,
    pub nonpaged_bytes: u64,
    pub paged_allocs: u64,
    pub paged_frees: u64,
    pub paged_bytes: u64,
}

/// A tracker table.
#[derive(Debug, Clone, Serialize)]
pub struct TrackerTable {
    /// Array address.
    pub address: Hex,
    /// Number of entries (PoolTrackTableSize).
    pub entries: u64,
    /// `None` for the global table, else the processor number.
    pub processor: Option<u32>,
    /// Entries in use: (slot index, counters).
    pub used: Vec<(u64, PoolUsed)>,
}

/// A table's place.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    /// Array address.
    pub address: Hex,
    /// Entries.
    pub entries: u64,
    /// Entry size.
    pub entry_size: u64,
}

/// A small-pool block (CONTRACT.md `!pool` row fields).
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    /// Header address.
    pub address: Hex,
    /// Bytes, header included.
    pub size: u64,
    /// Previous block's size in bytes.
    pub previous_size: u64,
    /// `allocated` | `free`.
    pub state: String,
    /// Tag (four characters).
    pub tag: String,
    /// `NonPagedPool` | `PagedPool` (for free blocks: the pool the page belongs to).
    pub pool_type: String,
    /// Whether the block is on a descriptor free list.
    pub on_free_list: bool,
    /// Present when this header was corrupted on purpose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One descriptor free list.
#[derive(Debug, Clone, Serialize)]
pub struct FreeList {
    /// Descriptor address.
    pub descriptor: Hex,
    /// `NonPagedPool` | `PagedPool`.
    pub pool_type: String,
    /// ListHeads index.
    pub index: u64,
    /// Block size in bytes of the blocks on this list.
    pub block_size: u64,
    /// Header addresses in Flink order.
    pub entries: Vec<Hex>,
}

/// A big-page-table entry.
#[derive(Debug, Clone, Serialize)]
pub struct BigAllocation {
    /// Allocation address (Va without the free bit).
    pub address: Hex,
    /// Bytes (NumberOfBytes, or NumberOfPages × 4096 on XP/2003).
    pub size: u64,
    /// Tag.
    pub tag: String,
    /// `NonPagedPool` | `PagedPool`.
    pub pool_type: String,
    /// `allocated` | `free`.
    pub state: String,
    /// Table slot.
    pub slot: u64,
}

/// A pool descriptor.
#[derive(Debug, Clone, Serialize)]
pub struct Descriptor {
    /// Address.
    pub address: Hex,
    /// `NonPagedPool` | `PagedPool`.
    pub pool_type: String,
    /// PoolIndex.
    pub pool_index: u32,
    /// Allocations made.
    pub running_allocs: u64,
    /// Allocations freed.
    pub running_deallocs: u64,
    /// Small-pool pages in use.
    pub total_pages: u64,
    /// Big pages in use.
    pub total_big_pages: u64,
    /// Bytes in use.
    pub total_bytes: u64,
}

/// The paged-pool allocation bitmap.
#[derive(Debug, Clone, Serialize)]
pub struct PagedBitmap {
    /// `MmPagedPoolInfo` address.
    pub paged_pool_info: Hex,
    /// Bitmap buffer address.
    pub buffer: Hex,
    /// Bits (pages covered from the paged pool start).
    pub bits: u64,
    /// Set bits (pages in use).
    pub set_bits: u64,
    /// Page runs in use: (first page index, pages).
    pub busy_runs: Vec<(u64, u64)>,
}

/// A nonpaged free page run (XP/2003).
#[derive(Debug, Clone, Serialize)]
pub struct FreeRun {
    /// First page of the run.
    pub address: Hex,
    /// Pages.
    pub pages: u64,
    /// `MmNonPagedPoolFreeListHead` index.
    pub list: u64,
}

/// A page whose PTE is not valid, or whose frame is not in the dump.
#[derive(Debug, Clone, Serialize)]
pub struct SpecialPage {
    /// Virtual address.
    pub va: Hex,
    /// `paged_out` | `transition` | `absent`.
    pub state: String,
    /// The raw PTE value.
    pub pte: Hex,
    /// PFN (transition, absent).
    pub pfn: Option<Hex>,
    /// Page file number (paged out).
    pub page_file: Option<u64>,
    /// Byte offset in the page file (paged out).
    pub page_file_offset: Option<Hex>,
}

/// An injected fault.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// `corrupt_pool_header` | `broken_free_list_link` | `truncated_file`.
    pub kind: String,
    /// Where.
    pub address: Option<Hex>,
    /// What was done.
    pub detail: String,
}

/// A global's address.
#[derive(Debug, Clone, Serialize)]
pub struct Global {
    /// Symbol name.
    pub name: String,
    /// Virtual address.
    pub address: Hex,
}

/// The container a manifest copy describes.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerInfo {
    /// Container name (`full64`, `bitmap-sdmp`, `raw`, …).
    pub kind: String,
    /// DumpType, for crash dumps.
    pub dump_type: Option<u32>,
    /// File size in bytes.
    pub file_size: u64,
    /// Whether the file was truncated on purpose.
    pub truncated: bool,
    /// Physical pages the file holds.
    pub pages_in_file: u64,
}

/// Formats a tag as CONTRACT.md says: four characters, trailing spaces kept, non-printable bytes as
/// `\xNN`, the protected bit masked.
pub fn tag_string(tag: u32) -> String {
    let b = (tag & 0x7fff_ffff).to_le_bytes();
    let mut s = String::new();
    for c in b {
        if (0x20..0x7f).contains(&c) {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s
}
