//! The builder: a profile plus drivers, allocations and counters in; a consistent kernel out.

use std::collections::BTreeMap;

use crate::layout::{self, AllocSpec, Placed, PoolTotals};
use crate::manifest::{self, Hex, Manifest, PoolUsed, tag_string};
use crate::memory::{Mmu, PAGE, PhysicalMemory, SoftPte};
use crate::profile::{
    Arch, BigKind, BitmapRef, DescCounters, F, PoolHeaderKind, PoolTypeEncoding, Profile,
    SegHeapLayout, SelfMap, VmSource,
};
use crate::rng::Rng;
use crate::segheap;

/// Which pool an allocation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PoolKind {
    /// NonPagedPool (POOL_TYPE 0).
    NonPaged,
    /// PagedPool (POOL_TYPE 1).
    Paged,
    /// NonPagedPoolNx (POOL_TYPE 0x200): segment-heap profiles only, where it has its own heap.
    NonPagedNx,
}

impl PoolKind {
    /// The `POOL_TYPE` base value.
    pub fn value(self) -> u64 {
        match self {
            PoolKind::NonPaged => 0,
            PoolKind::Paged => 1,
            PoolKind::NonPagedNx => 0x200,
        }
    }
    /// Which pool counts it: 0 nonpaged (NX included), 1 paged.
    pub fn index(self) -> usize {
        match self {
            PoolKind::NonPaged | PoolKind::NonPagedNx => 0,
            PoolKind::Paged => 1,
        }
    }
    /// Manifest spelling.
    pub fn name(self) -> &'static str {
        match self {
            PoolKind::NonPaged => "NonPagedPool",
            PoolKind::Paged => "PagedPool",
            PoolKind::NonPagedNx => "NonPagedPoolNx",
        }
    }
}

/// Packs four tag characters (`b"Ntfs"`) into the little-endian `ULONG` Windows stores.
pub fn tag(t: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*t)
}

/// Memory-manager counters for `!vm`. Unset figures get defaults derived from the machine; pool
/// usage figures are always computed from the pool the builder lays out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VmCounters {
    /// Available pages.
    pub available_pages: Option<u64>,
    /// Resident available pages.
    pub resident_available_pages: Option<u64>,
    /// Modified pages.
    pub modified_pages: Option<u64>,
    /// Shared commit.
    pub shared_commit_pages: Option<u64>,
    /// Driver commit.
    pub driver_commit_pages: Option<u64>,
    /// Committed pages.
    pub committed_pages: Option<u64>,
    /// Commit limit.
    pub commit_limit: Option<u64>,
    /// Pool allocation failures (`ExPoolFailures`).
    pub pool_allocation_failures: Option<u64>,
    /// Free system PTEs (where the profile has a source; see `vm_extra`).
    pub free_system_ptes: Option<u64>,
    /// Special pool pages in use (where the profile has a source).
    pub special_pool_pages: Option<u64>,
}

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Corrupt the BlockSize of the first allocated small block with this tag.
    CorruptPoolHeader {
        /// Tag of the victim.
        tag: [u8; 4],
    },
    /// Overwrite the Flink of the first entry of the first non-empty free list with a bad pointer.
    BrokenFreeListLink,
    /// Segment heap: the chunk header of the first allocated VS chunk with this tag claims a wrong
    /// size (`UnsafeSize` + 0x30 bytes, correctly encoded).
    CorruptVsHeader {
        /// Tag of the victim.
        tag: [u8; 4],
    },
    /// Segment heap: the bitmap bits of the first allocated LFH block with this tag are `10`
    /// (unused bytes on a block whose busy bit is clear: inconsistent).
    BadLfhBitmap {
        /// Tag of the victim.
        tag: [u8; 4],
    },
}

/// Why a build failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The machine is too small for what was asked.
    #[error("memory too small: {asked_mib} MiB cannot hold the kernel (need about {need_mib} MiB)")]
    MemoryTooSmall {
        /// MiB asked.
        asked_mib: u64,
        /// MiB needed.
        need_mib: u64,
    },
    /// A requested fault found nothing to act on.
    #[error("fault {0} found no target")]
    FaultWithoutTarget(String),
    /// A request the profile cannot express.
    #[error("invalid request: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone)]
struct DriverSpec {
    name: String,
    size: u64,
    /// Pool tags the driver's code uses, planted in its image as `mov ecx, 'Tag '` immediates.
    code_tags: Vec<[u8; 4]>,
}

/// Builds a synthetic kernel. See the crate documentation for an example.
#[derive(Debug, Clone)]
pub struct KernelBuilder {
    profile: &'static Profile,
    seed: u64,
    memory_mib: u64,
    processors: u32,
    drivers: Vec<DriverSpec>,
    allocs: Vec<AllocSpec>,
    bigs: Vec<AllocSpec>,
    counters: VmCounters,
    faults: Vec<Fault>,
    special_pages: bool,
    bugcheck: (u32, [u64; 4]),
    segheap_edges: bool,
    /// Nonpaged pool region span over which the small-pool pages are scattered (`None`: packed).
    scatter_nonpaged: Option<u64>,
    withheld: bool,
    heap_keys_withheld: bool,
}

/// What the crash-dump writers need beyond memory.
#[derive(Debug, Clone)]
pub struct DumpFacts {
    /// Directory table base.
    pub dtb: u64,
    /// Address of `MmPfnDatabase` (the variable).
    pub pfn_database_var: u64,
    /// Address of `PsLoadedModuleList`.
    pub ps_loaded_module_list: u64,
    /// Address of `PsActiveProcessHead`.
    pub ps_active_process_head: u64,
    /// KDBG address.
    pub kdbg: u64,
    /// The decoded KDBG, split by physical page: (physical address, bytes). Crash-dump writers put it
    /// over the encoded in-memory copy.
    pub kdbg_decoded: Vec<(u64, Vec<u8>)>,
    /// Processors.
    pub processors: u32,
    /// Bugcheck code and parameters.
    pub bugcheck: (u32, [u64; 4]),
    /// Build number.
    pub build: u32,
    /// Architecture.
    pub arch: Arch,
    /// Kernel base.
    pub kernel_base: u64,
    /// PAE flag for 32-bit headers.
    pub pae: bool,
    /// Physical pages the kernel "owns" (kernel bitmap dumps hold these).
    pub kernel_pages: std::collections::BTreeSet<u64>,
}

/// A built kernel: the physical image, the facts for dump headers and the ground-truth manifest.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The profile it was built for.
    pub profile: &'static Profile,
    /// Physical memory.
    pub memory: PhysicalMemory,
    /// Header facts.
    pub facts: DumpFacts,
    /// The ground truth.
    pub manifest: Manifest,
    /// Every valid mapping the builder made: virtual page → PFN (page tables aside). What
    /// `target::KernelTarget` (feature `target`) reads virtual memory through, so a plugin's
    /// test needs no page-table walker of its own.
    pub mapped: std::collections::BTreeMap<u64, u64>,
}

impl KernelBuilder {
    /// A builder with nothing in it: 64 MiB, 2 processors, seed 1, special pages on.
    pub fn new(profile: &'static Profile) -> Self {
        KernelBuilder {
            profile,
            seed: 1,
            memory_mib: 64,
            processors: 2,
            drivers: Vec::new(),
            allocs: Vec::new(),
            bigs: Vec::new(),
            counters: VmCounters::default(),
            faults: Vec::new(),
            special_pages: true,
            segheap_edges: false,
            scatter_nonpaged: None,
            bugcheck: (0xe2, [0; 4]),
            withheld: false,
            heap_keys_withheld: false,
        }
    }

    /// Withholds the build's exact profile from the analyzer: the kernel names a PDB GUID no symbol
    /// file or embedded profile has (derived from the profile's and the seed), and every global sits
    /// [`WITHHELD_SHIFT`] bytes away from the profile's RVA, as on a new revision of the same build.
    /// Structure layouts stay the build's own (they rarely change within a build). An analyzer must
    /// then find the globals from the data; the manifest records the synthetic GUID and the moved
    /// addresses (`manifest.profile.withheld`).
    pub fn withhold_profile(mut self) -> Self {
        self.withheld = true;
        self
    }

    /// Segment-heap builds: `RtlpHpHeapGlobals` holds zeros where `HeapKey` and `LfhKey` are, as
    /// when the keys cannot be read where the pool state says (a moved or changed
    /// `_RTLP_HP_HEAP_GLOBALS`); the blocks stay encoded with the real keys, which the manifest
    /// records (`segment_heap.heap_key`, `.lfh_key`). An analyzer must recover the keys from known
    /// plaintext or say it cannot. No effect on the classic pool.
    pub fn withhold_heap_keys(mut self) -> Self {
        self.heap_keys_withheld = true;
        self
    }

    /// The builder's standard content: a handful of drivers, a few hundred pool allocations (some
    /// freed), big allocations of both pools, one leaking tag (`Leak`).
    pub fn standard(profile: &'static Profile) -> Self {
        let mut b = KernelBuilder::new(profile);
        for (name, size) in [
            ("ntfs.sys", 0x1_f000u64),
            ("tcpip.sys", 0x2_8000),
            ("disk.sys", 0x8000),
            ("leaky.sys", 0x6000),
        ] {
            b = b.driver(name, size);
        }
        // The leaking driver's code carries its tag, so `!poolused 100` can name it.
        b = b.driver_tag("leaky.sys", *b"Leak");
        let mut rng = Rng::new(0x5747);
        let tags: [(&[u8; 4], PoolKind, u64); 10] = [
            (b"Ntfs", PoolKind::Paged, 0x180),
            (b"Irp ", PoolKind::NonPaged, 0xa0),
            (b"File", PoolKind::NonPaged, 0xd8),
            (b"MmSt", PoolKind::Paged, 0x300),
            (b"Thre", PoolKind::NonPaged, 0x2c0),
            (b"CM31", PoolKind::Paged, 0x120),
            (b"Toke", PoolKind::Paged, 0x400),
            (b"Even", PoolKind::NonPaged, 0x40),
            (b"TcpE", PoolKind::NonPaged, 0x200),
            (b"Leak", PoolKind::NonPaged, 0x600),
        ];
        // Segment-heap builds: drivers' nonpaged allocations mostly come from the NX heap.
        let nx = profile.pool.segment_heap().is_some();
        for i in 0..240u64 {
            let (t, pool, base) = tags[(i % tags.len() as u64) as usize];
            let pool = if nx && pool == PoolKind::NonPaged && (t == b"Even" || t == b"TcpE") {
                PoolKind::NonPagedNx
            } else {
                pool
            };
            let size = (base + rng.below(base / 2 + 1)) & !7;
            let size = size.max(8);
            let freed = t != b"Leak" && rng.below(5) == 0;
            b = if freed {
                b.freed(t, size, pool)
            } else {
                b.alloc(t, size, pool)
            };
        }
        b.big(b"MmSt", 0x3000, PoolKind::Paged)
            .big(b"CM31", 0x5400, PoolKind::Paged)
            .big(b"Leak", 0x2000, PoolKind::NonPaged)
            .big(b"Leak", 0x2000, PoolKind::NonPaged)
            .big(
                b"TcpE",
                0x8000,
                if nx {
                    PoolKind::NonPagedNx
                } else {
                    PoolKind::NonPaged
                },
            )
            .big_freed(b"Tmp ", 0x4000, PoolKind::NonPaged)
    }

    /// The seed (everything random is drawn from it; same seed, same bytes).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Physical memory size in MiB (at least 16).
    pub fn memory_mib(mut self, mib: u64) -> Self {
        self.memory_mib = mib;
        self
    }

    /// Number of processors (1..=64).
    pub fn processors(mut self, n: u32) -> Self {
        self.processors = n.clamp(1, 64);
        self
    }

    /// Adds a loaded driver (`name` like `ntfs.sys`, image size in bytes).
    pub fn driver(mut self, name: &str, size: u64) -> Self {
        self.drivers.push(DriverSpec {
            name: name.to_string(),
            size: size.max(PAGE),
            code_tags: Vec::new(),
        });
        self
    }

    /// Says that the loaded driver `name` (added with [`KernelBuilder::driver`]) allocates with
    /// `tag`: its image carries the tag as an instruction immediate (`b9 <tag>`, `mov ecx, imm32`)
    /// past its PE headers, as a real driver's code does, so a search of driver images for an
    /// unknown tag finds it. The manifest lists it in the module's `code_tags`.
    pub fn driver_tag(mut self, name: &str, tag: [u8; 4]) -> Self {
        if let Some(d) = self.drivers.iter_mut().find(|d| d.name == name) {
            d.code_tags.push(tag);
        }
        self
    }

    /// Adds an allocated block of `size` bytes (header excluded). Sizes too large for a pool page
    /// become big allocations.
    pub fn alloc(mut self, t: &[u8; 4], size: u64, pool: PoolKind) -> Self {
        self.allocs.push(AllocSpec {
            tag: tag(t),
            size,
            pool,
            freed: false,
        });
        self
    }

    /// Adds a block that was allocated and freed (it stays in the page as a free block; the tracker
    /// counts one allocation and one free).
    pub fn freed(mut self, t: &[u8; 4], size: u64, pool: PoolKind) -> Self {
        self.allocs.push(AllocSpec {
            tag: tag(t),
            size,
            pool,
            freed: true,
        });
        self
    }

    /// Adds a big (page-granular) allocation, recorded in the big page table.
    pub fn big(mut self, t: &[u8; 4], bytes: u64, pool: PoolKind) -> Self {
        self.bigs.push(AllocSpec {
            tag: tag(t),
            size: bytes.max(1),
            pool,
            freed: false,
        });
        self
    }

    /// Adds a big allocation that was freed (its table entry keeps the tag with the free bit set).
    pub fn big_freed(mut self, t: &[u8; 4], bytes: u64, pool: PoolKind) -> Self {
        self.bigs.push(AllocSpec {
            tag: tag(t),
            size: bytes.max(1),
            pool,
            freed: true,
        });
        self
    }

    /// Sets memory-manager counters.
    pub fn counters(mut self, c: VmCounters) -> Self {
        self.counters = c;
        self
    }

    /// Injects a fault.
    pub fn fault(mut self, f: Fault) -> Self {
        self.faults.push(f);
        self
    }

    /// Whether to add the paged-out, transition and absent pages (on by default).
    pub fn special_pages(mut self, on: bool) -> Self {
        self.special_pages = on;
        self
    }

    /// Segment-heap builds: add, to every heap, the subsegments the walker must read exactly — a VS
    /// subsegment whose page range ends in a guard page after its `Size`, with free chunks that
    /// cross pages, and two LFH subsegments of four pages and a guard page whose `BlockCount` is
    /// smaller than the range allows (`Edge` allocations in each; testkit `segheap::add_edges`).
    /// Off by default. No effect on the classic pool.
    pub fn segheap_edges(mut self, on: bool) -> Self {
        self.segheap_edges = on;
        self
    }

    /// Scatters the classic nonpaged pool's small-block pages over `span` bytes of its region (the
    /// first page stays at the region's start, the others follow at an equal stride, a multiple of
    /// 2 MiB, each with its own page table), and makes the region that large: the sparse pool of
    /// Windows 10 1607+'s `MiState.Vs.SystemVaRegions`, terabytes of VA with few pages present.
    /// Block offsets within a page are kept; the manifest lists the blocks where they land. No
    /// effect on the segment heap.
    pub fn scatter_nonpaged_pool(mut self, span: u64) -> Self {
        self.scatter_nonpaged = Some(span);
        self
    }

    /// Bugcheck code and parameters for crash-dump headers.
    pub fn bugcheck(mut self, code: u32, params: [u64; 4]) -> Self {
        self.bugcheck = (code, params);
        self
    }

    /// Lays the kernel out.
    pub fn build(self) -> Result<Kernel, BuildError> {
        Build::run(self)
    }
}

// ---------------------------------------------------------------------------------------------
// The build
// ---------------------------------------------------------------------------------------------

/// Virtual-memory writer over the MMU.
pub(crate) struct Space {
    pub(crate) mem: PhysicalMemory,
    pub(crate) mmu: Mmu,
    pub(crate) arch: Arch,
}

impl Space {
    pub(crate) fn w(&mut self, va: u64, data: &[u8]) {
        let mut done = 0usize;
        while done < data.len() {
            let a = va.wrapping_add(done as u64);
            let off = (a % PAGE) as usize;
            let n = (PAGE as usize - off).min(data.len() - done);
            let pfn = self.mmu.ensure(&mut self.mem, a);
            self.mem
                .write(pfn * PAGE + off as u64, &data[done..done + n]);
            done += n;
        }
    }
    pub(crate) fn wn(&mut self, va: u64, value: u64, width: u8) {
        let b = value.to_le_bytes();
        self.w(va, &b[..width as usize]);
    }
    fn wf(&mut self, base: u64, f: F, value: u64) {
        self.wn(base + f.off, value, f.width);
    }
    pub(crate) fn ptr(&mut self, va: u64, value: u64) {
        let w = self.arch.ptr_size() as u8;
        self.wn(va, value, w);
    }
    fn map_page(&mut self, va: u64) {
        self.mmu.ensure(&mut self.mem, va);
    }
    /// Physical address of a mapped VA.
    fn pa(&self, va: u64) -> Option<u64> {
        self.mmu
            .mapped
            .get(&(va & !(PAGE - 1)))
            .map(|pfn| pfn * PAGE + (va % PAGE))
    }
}

pub(crate) struct Build {
    pub(crate) p: &'static Profile,
    pub(crate) s: Space,
    pub(crate) rng: Rng,
    pub(crate) kernel_base: u64,
    sys_next: u64,
    globals: BTreeMap<String, u64>,
    /// Added to every global's RVA ([`KernelBuilder::withhold_profile`]; 0 otherwise).
    rva_shift: u64,
    /// The PDB GUID the kernel's CodeView record names.
    pdb_guid: String,
}

/// How far [`KernelBuilder::withhold_profile`] moves every global (a new revision's data section
/// moves by some pages; 64 KiB keeps every x64 profile's globals inside its `.data`).
pub const WITHHELD_SHIFT: u64 = 0x1_0000;

/// The profiles issue #19 asks withheld-profile tests for: the 8.1, 1607, 19041, 20348 and 22000
/// layouts (x64, real symbols, KDBG encoded in memory).
pub const WITHHELD_PROFILES: &[&str] = &[
    "win81-x64",
    "win10-1607-x64",
    "win10-2004-x64",
    "win2022-x64",
    "win11-21h2-x64",
];

/// The GUID a withheld kernel names: the profile's with its last 8 hex digits replaced by a value
/// drawn from the seed, so it matches no real PDB.
fn withheld_guid(real: &str, seed: u64) -> String {
    let keep = real.len().saturating_sub(8);
    let tail = (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32 ^ 0x5eed_0000;
    format!("{}{tail:08X}", &real[..keep])
}

const LDR_TAG: &[u8; 4] = b"MmLd";

// ---------------------------------------------------------------------------------------------
// The build's phases: what one phase hands the next
// ---------------------------------------------------------------------------------------------

/// Pages of paged pool the layout reserves (the paged-pool bitmap's and `!vm`'s maximum).
const PAGED_MAX_PAGES: u64 = 0x4000;
/// Pages of nonpaged pool the layout reserves (`!vm`'s maximum).
const NONPAGED_MAX_PAGES: u64 = 0x8000;

/// What [`Build::lay_machine`] decided besides the [`Build`] itself.
struct Machine {
    /// The x64 self-map PML4 index (manifest `profile.self_map_index`).
    self_map: u64,
    /// Directory table base (manifest `info.dtb`).
    dtb: u64,
    /// Start of the kernel's system area (drivers' images go above it).
    sys_start: u64,
}

/// A loaded image as the loader list and manifest `modules` describe it.
struct Image {
    name: String,
    base: u64,
    size: u64,
    path: String,
}

/// The allocation list split for the planners ([`plan_allocations`]).
struct Allocations {
    /// Small allocations: one loader entry per image first, then the builder's that fit a pool
    /// page (classic) or a VS block (segment heap).
    specs: Vec<AllocSpec>,
    /// Big allocations: the builder's, the small ones too big for a page, the special-page probes.
    bigs: Vec<AllocSpec>,
    /// Index in `specs` of each image's loader entry, in image order.
    ldr_specs: Vec<usize>,
}

/// The pool plans ([`plan_pool`]): the classic one (layout.rs) and, on segment-heap builds, the
/// heaps' (segheap.rs).
struct PoolPlans {
    seg_layout: Option<SegHeapLayout>,
    seg_plan: Option<segheap::SegPlan>,
    classic: layout::PoolPlan,
}

/// Addresses [`Build::write_fixed_globals`] fixed for later phases and the dump writers.
struct Roots {
    kdbg: u64,
    verblock: Option<u64>,
    /// `PsLoadedModuleList`.
    psl: u64,
    /// `PsActiveProcessHead`.
    pah: u64,
    /// `MmPfnDatabase` (the variable), 0 when the profile has none.
    pfn_var: u64,
}

/// What [`Build::write_big_allocations`] laid down.
struct BigWritten {
    /// `PoolBigPageTable`'s address.
    table: u64,
    /// The special-page probes (manifest `special_pages`).
    special: Vec<manifest::SpecialPage>,
}

/// What [`Build::write_debugger_data`] laid down.
struct DebuggerData {
    never: u64,
    always: u64,
    /// `KdpDataBlockEncoded`'s address (0 when the KDBG is not encoded).
    encoded_flag: u64,
    /// The decoded KDBG by physical page ([`DumpFacts::kdbg_decoded`]).
    kdbg_decoded: Vec<(u64, Vec<u8>)>,
}

/// Every writer phase's output, for [`Build::into_kernel`].
struct Laid {
    roots: Roots,
    modules: Vec<manifest::Module>,
    big: BigWritten,
    tracker_tables: Vec<manifest::TrackerTable>,
    descriptors: Vec<manifest::Descriptor>,
    free_lists: Vec<manifest::FreeList>,
    free_runs: Vec<manifest::FreeRun>,
    paged_bitmap: Option<manifest::PagedBitmap>,
    pool_regions: Vec<manifest::PoolRegion>,
    vm: manifest::Vm,
    debugger: DebuggerData,
    faults: Vec<manifest::FaultRecord>,
    seg_info: Option<manifest::SegmentHeap>,
}

/// Phase 0: rejects requests no profile can lay out (memory too small or too large, a withheld
/// profile without real RVAs or whose moved globals would leave the image).
fn check_request(b: &KernelBuilder) -> Result<(), BuildError> {
    if b.memory_mib < 16 {
        return Err(BuildError::MemoryTooSmall {
            asked_mib: b.memory_mib,
            need_mib: 16,
        });
    }
    if b.memory_mib > 1 << 20 {
        return Err(BuildError::Invalid("at most 1 TiB of memory".into()));
    }
    if b.profile.arch != Arch::X64 && b.memory_mib > 3072 {
        return Err(BuildError::Invalid(
            "32-bit profiles take at most 3072 MiB".into(),
        ));
    }
    let p = b.profile;
    if b.withheld {
        if p.arch != Arch::X64 || !p.real_symbols {
            return Err(BuildError::Invalid(format!(
                "withhold_profile needs an x64 profile with real symbols, not {}",
                p.name
            )));
        }
        if let crate::profile::Globals::Real(list) = p.globals
            && let Some((n, r)) = list
                .iter()
                .find(|(_, r)| r + WITHHELD_SHIFT >= p.image_size)
        {
            return Err(BuildError::Invalid(format!(
                "withhold_profile: {n} at RVA {r:#x} would leave the image of {}",
                p.name
            )));
        }
    }
    Ok(())
}

/// Phase 5 (no writes): the allocation list: a loader entry (tag `MmLd`) per image, the
/// builder's allocations (too big for a pool page or VS block → big), the special-page probes
/// (`TkPo`, `TkAb`) when asked for.
fn plan_allocations(b: &KernelBuilder, images: &[Image]) -> Result<Allocations, BuildError> {
    let p = b.profile;
    let hdr = p.header.header_size();
    let unit = p.header.unit();
    let max_units = PAGE / unit - 1;
    let mut specs: Vec<AllocSpec> = Vec::new();
    let mut bigs: Vec<AllocSpec> = b.bigs.clone();
    let mut ldr_specs = Vec::new();
    for img in images {
        let bytes = p.ldr.size + 2 * (img.name.len() as u64 + 1) + 2 * (img.path.len() as u64 + 1);
        ldr_specs.push(specs.len());
        specs.push(AllocSpec {
            tag: tag(LDR_TAG),
            size: bytes,
            pool: PoolKind::NonPaged,
            freed: false,
        });
    }
    let seg_layout = p.pool.segment_heap();
    for a in &b.allocs {
        if a.pool == PoolKind::NonPagedNx && seg_layout.is_none() {
            return Err(BuildError::Invalid(format!(
                "NonPagedPoolNx needs a segment-heap profile, not {}",
                p.name
            )));
        }
        let units = (a.size + hdr).div_ceil(unit);
        let too_big = match seg_layout {
            Some(_) => units * unit > segheap::VS_MAX,
            None => units > max_units,
        };
        if too_big {
            bigs.push(a.clone());
        } else {
            specs.push(a.clone());
        }
    }
    if b.special_pages {
        bigs.push(AllocSpec {
            tag: tag(b"TkPo"),
            size: 3 * PAGE,
            pool: PoolKind::Paged,
            freed: false,
        });
        bigs.push(AllocSpec {
            tag: tag(b"TkAb"),
            size: 2 * PAGE,
            pool: PoolKind::NonPaged,
            freed: false,
        });
    }
    Ok(Allocations {
        specs,
        bigs,
        ldr_specs,
    })
}

/// Phase 6 (no writes): the pool plan (layout.rs). On segment-heap builds the small allocations
/// go to the heaps (segheap.rs) and the classic plan keeps only big allocations and the
/// accounting; the heaps' pages join the descriptors' small-page totals.
/// Moves the classic nonpaged small-pool pages apart ([`KernelBuilder::scatter_nonpaged_pool`]):
/// page `k` of the packed layout goes to `start + k * stride`, `stride` the span over the page
/// count, rounded down to 2 MiB (at least 2 MiB), so that every page has its own page table and
/// the absent tables between them are what a scan must skip.
fn scatter_nonpaged_pages(b: &KernelBuilder, pool: &mut PoolPlans) {
    let Some(span) = b.scatter_nonpaged else {
        return;
    };
    let base = b.profile.va.nonpaged;
    let small = pool
        .classic
        .placed
        .iter()
        .filter(|blk| blk.pool == PoolKind::NonPaged);
    let pages = small
        .map(|blk| (blk.va - base) / PAGE)
        .max()
        .map_or(0, |m| m + 1);
    if pages < 2 {
        return;
    }
    let stride = ((span.saturating_sub(PAGE) / (pages - 1)) & !0x1f_ffff).max(0x20_0000);
    for blk in pool
        .classic
        .placed
        .iter_mut()
        .filter(|blk| blk.pool == PoolKind::NonPaged)
    {
        let k = (blk.va - base) / PAGE;
        blk.va = base + k * stride + blk.va % PAGE;
    }
}

fn plan_pool(b: &KernelBuilder, allocs: &Allocations) -> PoolPlans {
    let p = b.profile;
    let seg_layout = p.pool.segment_heap().copied();
    let seg_plan = seg_layout.map(|_| {
        let mut sp = segheap::plan(p.va.nonpaged, p.va.paged, &allocs.specs);
        if b.segheap_edges {
            segheap::add_edges(&mut sp, p.va.nonpaged, p.va.paged);
        }
        sp
    });
    let (classic_specs, elsewhere): (&[AllocSpec], &[layout::Accounted]) = match &seg_plan {
        Some(sp) => (&[], &sp.accounting),
        None => (&allocs.specs, &[]),
    };
    let mut classic = layout::plan(p, classic_specs, &allocs.bigs, b.processors, elsewhere);
    if let Some(sp) = &seg_plan {
        classic.totals[0].small_pages += sp.pages[0];
        classic.totals[1].small_pages += sp.pages[1];
    }
    PoolPlans {
        seg_layout,
        seg_plan,
        classic,
    }
}

/// The fill byte of an allocated block's data, derived from its tag.
fn fill_byte(t: u32) -> u8 {
    (t.wrapping_mul(0x9e37_79b1) >> 24) as u8 | 1
}

/// Manifest `poolused`: the tracker tables' counters summed per tag.
fn poolused_totals(per_table: &[BTreeMap<u32, PoolUsed>]) -> Vec<PoolUsed> {
    let mut poolused: BTreeMap<u32, PoolUsed> = BTreeMap::new();
    for table in per_table {
        for (t, c) in table {
            let e = poolused.entry(*t).or_default();
            e.tag = tag_string(*t);
            e.nonpaged_allocs += c.nonpaged_allocs;
            e.nonpaged_frees += c.nonpaged_frees;
            e.nonpaged_bytes += c.nonpaged_bytes;
            e.paged_allocs += c.paged_allocs;
            e.paged_frees += c.paged_frees;
            e.paged_bytes += c.paged_bytes;
        }
    }
    poolused.into_values().collect()
}

/// Manifest `blocks`: every small pool block, classic and (by header address) segment heap.
fn manifest_blocks(pool: &PoolPlans, unit: u64) -> Vec<manifest::Block> {
    let mut blocks: Vec<manifest::Block> = pool
        .classic
        .placed
        .iter()
        .map(|b| manifest::Block {
            address: Hex(b.va),
            size: b.units * unit,
            previous_size: b.prev_units * unit,
            state: if b.free { "free" } else { "allocated" }.into(),
            tag: if b.tag == 0 {
                String::new()
            } else {
                tag_string(b.tag)
            },
            pool_type: b.pool.name().into(),
            on_free_list: b.on_list,
            error: b.error.clone(),
        })
        .collect();
    if let Some(sp) = &pool.seg_plan {
        // Every pool block of the segment heap: the pool header of each VS chunk and LFH block.
        blocks.extend(sp.blocks.iter().map(|b| manifest::Block {
            address: Hex(b.header),
            size: b.size,
            previous_size: 0,
            state: if b.allocated { "allocated" } else { "free" }.into(),
            tag: if b.tag == 0 {
                String::new()
            } else {
                tag_string(b.tag)
            },
            pool_type: segheap::HEAPS[b.heap].name().into(),
            on_free_list: false,
            error: None,
        }));
        blocks.sort_by_key(|b| b.address);
    }
    blocks
}

/// Manifest `big_allocations`, by address.
fn manifest_big_allocations(big_placed: &[layout::BigPlaced]) -> Vec<manifest::BigAllocation> {
    let mut big_allocations: Vec<manifest::BigAllocation> = big_placed
        .iter()
        .map(|b| manifest::BigAllocation {
            address: Hex(b.va),
            size: b.pages * PAGE,
            tag: tag_string(b.tag),
            pool_type: b.pool.name().into(),
            state: if b.freed { "free" } else { "allocated" }.into(),
            slot: b.slot,
        })
        .collect();
    big_allocations.sort_by_key(|b| b.address);
    big_allocations
}

impl Build {
    fn g(&self, name: &str) -> Option<u64> {
        self.p
            .global_rva(name)
            .map(|rva| self.kernel_base + rva + self.rva_shift)
    }

    /// Writes a global if the profile has it; records its address.
    pub(crate) fn global(&mut self, name: &str) -> Option<u64> {
        let va = self.g(name)?;
        self.globals.insert(name.to_string(), va);
        Some(va)
    }

    /// Allocates `bytes` in the kernel's system area (page-aligned when `align_page`).
    pub(crate) fn sys_alloc(&mut self, bytes: u64, align: u64) -> u64 {
        let va = (self.sys_next + align - 1) & !(align - 1);
        self.sys_next = va + bytes;
        // Map every page so zero-filled tables are readable.
        let mut a = va & !(PAGE - 1);
        while a < va + bytes {
            self.s.map_page(a);
            a += PAGE;
        }
        va
    }

    fn sext(&self, v: u64) -> u64 {
        // KDDEBUGGER_DATA64 / DBGKD_GET_VERSION64 hold 32-bit pointers sign-extended.
        if self.p.arch == Arch::X64 {
            v
        } else {
            v as u32 as i32 as i64 as u64
        }
    }

    /// Lays the kernel out, phase by phase. The order of the phases is part of the output: each
    /// draws from the one seeded [`Rng`] and from the system-area bump allocator
    /// ([`Build::sys_alloc`]), so a new phase goes after the ones whose addresses it must not move
    /// (appending before [`Build::inject_requested_faults`] keeps every existing dump byte-identical).
    fn run(b: KernelBuilder) -> Result<Kernel, BuildError> {
        check_request(&b)?;
        let (mut bld, machine) = Build::lay_machine(&b);
        bld.write_kernel_image();
        bld.write_kuser_shared_data(b.processors);
        let (images, drivers) = bld.write_driver_images(&b, machine.sys_start);
        let allocs = plan_allocations(&b, &images)?;
        let mut pool = plan_pool(&b, &allocs);
        scatter_nonpaged_pages(&b, &mut pool);
        let roots = bld.write_fixed_globals(&b);
        let (spec_va, mut seg_info) = bld.write_small_blocks(&pool);
        if b.heap_keys_withheld
            && let (Some(si), Some(l)) = (&seg_info, &pool.seg_layout)
        {
            bld.s.wn(si.heap_globals.0, 0, 8);
            bld.s.wn(si.heap_globals.0 + l.lfh_key, 0, 8);
        }
        let modules =
            bld.write_loader_list(&images, &drivers, &allocs.ldr_specs, &spec_va, roots.psl);
        let big = bld.write_big_allocations(&pool.classic.big_placed, pool.classic.big_entries);
        let tracker_tables =
            bld.write_tracker_tables(&pool.classic.per_table, pool.classic.track_entries);
        let (descriptors, free_lists) =
            bld.write_descriptors(&pool.classic.placed, &pool.classic.totals);
        let free_runs = bld.write_free_page_runs(&pool.classic.free_runs);
        let paged_bitmap = bld.write_paged_bitmap(
            &pool.classic.totals,
            &pool.classic.big_placed,
            PAGED_MAX_PAGES,
        );
        let pool_regions = bld.write_pool_regions(
            PAGED_MAX_PAGES,
            NONPAGED_MAX_PAGES.max(b.scatter_nonpaged.unwrap_or(0) / PAGE),
        );
        let mut vm = bld.write_vm(
            b.counters,
            &pool.classic.totals,
            PAGED_MAX_PAGES,
            NONPAGED_MAX_PAGES,
            paged_bitmap.is_some(),
        );
        bld.record_vm_segment_heap(seg_info.as_ref(), &mut vm);
        let debugger = bld.write_debugger_data(&b, &roots, machine.dtb);
        bld.write_physical_memory_block();
        let faults = bld.inject_requested_faults(&b, &mut pool, &free_lists, &mut seg_info)?;
        if bld.s.mmu.overflow {
            return Err(BuildError::MemoryTooSmall {
                asked_mib: b.memory_mib,
                need_mib: b.memory_mib * 2,
            });
        }
        let laid = Laid {
            roots,
            modules,
            big,
            tracker_tables,
            descriptors,
            free_lists,
            free_runs,
            paged_bitmap,
            pool_regions,
            vm,
            debugger,
            faults,
            seg_info,
        };
        Ok(bld.into_kernel(&b, &machine, &pool, laid))
    }

    /// Phase 1: physical memory (two runs around the legacy VGA/BIOS hole), the kernel base
    /// (randomised where the profile says so), the x64 self-map index, the page tables (MMU) and
    /// the empty [`Build`]. Fills nothing in the manifest yet; [`Machine`] carries `self_map_index`,
    /// `dtb` and the start of the system area to the later phases.
    fn lay_machine(b: &KernelBuilder) -> (Build, Machine) {
        let p = b.profile;
        let mut rng = Rng::new(b.seed);
        let total_pages = b.memory_mib * 256;
        // Two runs with a hole at 0xA0..0x100 (the legacy VGA/BIOS area), like real machines.
        let runs = vec![(1u64, 0x9f), (0x100, total_pages - 0x100)];
        let mut mem = PhysicalMemory::new(runs);

        let mut kernel_base = p.va.kernel_base;
        if p.va.randomise_kernel {
            kernel_base += (0x100 + rng.below(0x1000)) * 0x20_0000;
        }
        let self_map = match (p.arch, p.self_map) {
            (Arch::X64, SelfMap::Fixed(i)) => i,
            (Arch::X64, SelfMap::Randomised) => {
                let used: Vec<u64> = [
                    kernel_base,
                    p.va.kuser,
                    p.va.nonpaged,
                    p.va.paged,
                    p.va.pfn_database,
                ]
                .iter()
                .map(|v| (v >> 39) & 0x1ff)
                .collect();
                loop {
                    let i = 0x100 + rng.below(0xf0);
                    if !used.contains(&i) {
                        break i;
                    }
                }
            }
            _ => 0x300,
        };
        // Where the page tables start. Windows 10 1607+ x64 loads its PML4 at 0x1a0000..0x1b0000
        // (Volatility 3's observation, automagic/windows.py), so those profiles do too.
        let first_pfn = match p.self_map {
            SelfMap::Randomised => 0x1a0 + rng.below(0x10),
            SelfMap::Fixed(_) => 0x100 + rng.below(0x40),
        };
        let end_pfn = mem.end_pfn();
        let mmu = Mmu::new(
            p.arch,
            &mut mem,
            self_map,
            first_pfn,
            end_pfn,
            Rng::new(rng.next_u64()),
        );
        let sys_start = (kernel_base + p.image_size + 0x10_0000) & !0xffff;
        let mut bld = Build {
            p,
            s: Space {
                mem,
                mmu,
                arch: p.arch,
            },
            rng,
            kernel_base,
            sys_next: sys_start,
            globals: BTreeMap::new(),
            rva_shift: 0,
            pdb_guid: p.pdb_guid.to_string(),
        };
        if b.withheld {
            bld.rva_shift = WITHHELD_SHIFT;
            bld.pdb_guid = withheld_guid(p.pdb_guid, b.seed);
        }
        let machine = Machine {
            self_map,
            dtb: bld.s.mmu.dtb,
            sys_start,
        };
        (bld, machine)
    }

    /// Phase 2: the kernel image's PE header and CodeView record at the kernel base (manifest
    /// `info.pdb` names the same PDB).
    fn write_kernel_image(&mut self) {
        let p = self.p;
        self.write_pe(self.kernel_base, p.image_size, true, p.pdb_name);
    }

    /// Phase 3: `KUSER_SHARED_DATA` (offsets: ISF `_KUSER_SHARED_DATA`, the same on every build
    /// here): tick multiplier, system time, `NtSystemRoot`, build number, product type and version.
    /// Fills no manifest field (`profile.kuser_shared_data` is the profile's address).
    fn write_kuser_shared_data(&mut self, processors: u32) {
        let p = self.p;
        let ku = p.va.kuser;
        self.s.wn(ku + 0x4, 0x0fa0_0000, 4); // TickCountMultiplier
        let systime: u64 = 0x01dc_0000_0000_0000 + (self.rng.below(1 << 40));
        self.s.wn(ku + 0x14, systime & 0xffff_ffff, 4);
        self.s.wn(ku + 0x18, systime >> 32, 4);
        self.s.wn(ku + 0x1c, systime >> 32, 4);
        let root: Vec<u8> = p
            .system_root
            .encode_utf16()
            .flat_map(|c| c.to_le_bytes())
            .collect();
        self.s.w(ku + 0x30, &root);
        self.s.wn(ku + 0x260, p.build as u64, 4); // NtBuildNumber
        self.s.wn(ku + 0x264, p.product_type as u64, 4); // NtProductType
        self.s.wn(ku + 0x268, 1, 1); // ProductTypeIsValid
        self.s.wn(ku + 0x26c, p.major as u64, 4);
        self.s.wn(ku + 0x270, p.minor as u64, 4);
        if p.arch == Arch::X64 && p.build >= 7600 {
            // ActiveProcessorCount (ISF _KUSER_SHARED_DATA, +0x3c0 on every x64 build of
            // shared/data/isf, Windows 7 to 11): what a raw image's processor count comes from.
            self.s.wn(ku + 0x3c0, u64::from(processors), 4);
        }
    }

    /// Phase 4: the drivers' images (hal.dll, then the builder's drivers) past the system area's
    /// start, each a PE header page with its code tags planted as `mov ecx, 'Tag '`. Returns the
    /// loaded images (ntoskrnl.exe first) for the loader list and manifest `modules`, and the
    /// driver list whose `code_tags` go to `modules[].code_tags`.
    fn write_driver_images(
        &mut self,
        b: &KernelBuilder,
        sys_start: u64,
    ) -> (Vec<Image>, Vec<DriverSpec>) {
        let p = self.p;
        let mut images = vec![Image {
            name: "ntoskrnl.exe".into(),
            base: self.kernel_base,
            size: p.image_size,
            path: "\\SystemRoot\\system32\\ntoskrnl.exe".into(),
        }];
        let mut drv_va = sys_start + 0x100_0000;
        let mut driver_list = vec![DriverSpec {
            name: "hal.dll".into(),
            size: 0x4_0000,
            code_tags: Vec::new(),
        }];
        driver_list.extend(b.drivers.iter().cloned());
        for d in &driver_list {
            let size = (d.size + 0xfff) & !0xfff;
            self.write_pe(drv_va, size, false, "");
            // `mov ecx, 'Tag '` (b9 imm32) for each pool tag its code uses, in the header page
            // past SizeOfHeaders (0x400): the one page of a synthetic image that is mapped.
            for (i, t) in d.code_tags.iter().take(0x60).enumerate() {
                let at = drv_va + 0x900 + 8 * i as u64;
                self.s.wn(at, 0xb9, 1);
                self.s.wn(at + 1, u64::from(u32::from_le_bytes(*t)), 4);
            }
            let path = if d.name.ends_with(".dll") {
                format!("\\SystemRoot\\system32\\{}", d.name)
            } else {
                format!("\\SystemRoot\\system32\\drivers\\{}", d.name)
            };
            images.push(Image {
                name: d.name.clone(),
                base: drv_va,
                size,
                path,
            });
            drv_va = (drv_va + size + 0xffff) & !0xffff;
        }
        (images, driver_list)
    }

    /// Phase 7: globals that need no pool layout: `PsActiveProcessHead` (an empty list),
    /// `MmPfnDatabase`, `KeNumberProcessors`, `NtBuildNumber`, `KiProcessorBlock`, `PoolHitTag`,
    /// `MmLowest/HighestPhysicalPage`; and the addresses of KDBG, `KdVersionBlock` and
    /// `PsLoadedModuleList` that later phases fill. Each present global goes to manifest `globals`.
    fn write_fixed_globals(&mut self, b: &KernelBuilder) -> Roots {
        let p = self.p;
        let ptr = p.arch.ptr_size();
        let kernel_base = self.kernel_base;
        let kdbg = self
            .global("KdDebuggerDataBlock")
            .unwrap_or(kernel_base + 0x1000);
        let verblock = self.global("KdVersionBlock");
        let psl = self
            .global("PsLoadedModuleList")
            .unwrap_or(kernel_base + 0x2000);
        let pah = self
            .global("PsActiveProcessHead")
            .unwrap_or(kernel_base + 0x3000);
        self.s.ptr(pah, pah);
        self.s.ptr(pah + ptr, pah);
        let pfn_var = self.global("MmPfnDatabase").unwrap_or(0);
        if pfn_var != 0 {
            self.s.ptr(pfn_var, p.va.pfn_database);
        }
        if let Some(va) = self.global("KeNumberProcessors") {
            self.s.wn(va, b.processors as u64, 4);
        }
        if let Some(va) = self.global("NtBuildNumber") {
            self.s.wn(va, 0xf000_0000 | p.build as u64, 4);
        }
        if let Some(va) = self.global("KiProcessorBlock") {
            self.s
                .w(va, &vec![0u8; (b.processors as u64 * ptr) as usize]);
        }
        if let Some(va) = self.global("PoolHitTag") {
            self.s.wn(va, 0x2065_6546, 4); // ' eeF' (no hit tag), as a set variable would read
        }
        for n in ["MmLowestPhysicalPage", "MmHighestPhysicalPage"] {
            if let Some(va) = self.global(n) {
                let v = if n.contains("Lowest") {
                    1
                } else {
                    self.s.mem.end_pfn() - 1
                };
                self.s.ptr(va, v);
            }
        }
        Roots {
            kdbg,
            verblock,
            psl,
            pah,
            pfn_var,
        }
    }

    /// Phase 8: the small pool blocks: classic pool headers and fill (layout.rs's plan) or, on
    /// segment-heap builds, the heaps with their VS and LFH blocks (segheap.rs). Returns where each
    /// small spec's data landed (the loader entries among them) and manifest `segment_heap`.
    fn write_small_blocks(
        &mut self,
        pool: &PoolPlans,
    ) -> (BTreeMap<usize, u64>, Option<manifest::SegmentHeap>) {
        let p = self.p;
        let hdr = p.header.header_size();
        let unit = p.header.unit();
        for blk in &pool.classic.placed {
            self.write_header(blk);
            if !blk.free {
                let data_len = blk.units * unit - hdr;
                let fill = fill_byte(blk.tag);
                self.s.w(blk.va + hdr, &vec![fill; data_len as usize]);
            }
        }
        let mut spec_va: BTreeMap<usize, u64> = pool
            .classic
            .placed
            .iter()
            .filter_map(|b| b.spec.map(|i| (i, b.va + hdr)))
            .collect();
        let mut seg_info = None;
        if let (Some(l), Some(sp)) = (&pool.seg_layout, &pool.seg_plan) {
            let written = self.write_segment_heap(l, sp);
            spec_va.extend(written.spec_va);
            seg_info = Some(written.info);
        }
        (spec_va, seg_info)
    }

    /// Phase 9: `PsLoadedModuleList` and one `KLDR_DATA_TABLE_ENTRY` per image, in the pool blocks
    /// planned for them (tag `MmLd`), with their `UNICODE_STRING` names. Fills manifest `modules`.
    fn write_loader_list(
        &mut self,
        images: &[Image],
        drivers: &[DriverSpec],
        ldr_specs: &[usize],
        spec_va: &BTreeMap<usize, u64>,
        psl: u64,
    ) -> Vec<manifest::Module> {
        let p = self.p;
        let ptr = p.arch.ptr_size();
        let ldr_vas: Vec<u64> = ldr_specs
            .iter()
            .map(|i| spec_va.get(i).copied().unwrap_or(0))
            .collect();
        let mut manifest_modules = Vec::new();
        for (mi, img) in images.iter().enumerate() {
            let (name, base, size, path) = (&img.name, img.base, img.size, &img.path);
            let e = ldr_vas[mi];
            self.s.w(e, &vec![0u8; p.ldr.size as usize]);
            let next = if mi + 1 < ldr_vas.len() {
                ldr_vas[mi + 1]
            } else {
                psl
            };
            let prev = if mi == 0 { psl } else { ldr_vas[mi - 1] };
            self.s.ptr(e, next);
            self.s.ptr(e + ptr, prev);
            // InMemoryOrderLinks / InInitializationOrderLinks: self-linked.
            for l in [2 * ptr, 4 * ptr] {
                self.s.ptr(e + l, e + l);
                self.s.ptr(e + l + ptr, e + l);
            }
            self.s.ptr(e + p.ldr.dll_base, base);
            self.s.ptr(e + p.ldr.entry_point, base + 0x1000);
            self.s.wn(e + p.ldr.size_of_image, size, 4);
            let full_va = e + p.ldr.size;
            let base_va = full_va + 2 * (path.len() as u64 + 1);
            let wstr = |s: &str| -> Vec<u8> {
                s.encode_utf16()
                    .chain(std::iter::once(0))
                    .flat_map(|c| c.to_le_bytes())
                    .collect()
            };
            self.s.w(full_va, &wstr(path));
            self.s.w(base_va, &wstr(name));
            for (off, sva, s) in [
                (p.ldr.full_name, full_va, path.as_str()),
                (p.ldr.base_name, base_va, name.as_str()),
            ] {
                let len = 2 * s.len() as u64;
                self.s.wn(e + off, len, 2);
                self.s.wn(e + off + 2, len + 2, 2);
                self.s.ptr(e + off + if ptr == 8 { 8 } else { 4 }, sva);
            }
            let code_tags = drivers
                .iter()
                .find(|d| &d.name == name)
                .map(|d| {
                    d.code_tags
                        .iter()
                        .map(|t| tag_string(u32::from_le_bytes(*t)))
                        .collect()
                })
                .unwrap_or_default();
            manifest_modules.push(manifest::Module {
                name: name.clone(),
                base: Hex(base),
                size,
                path: path.clone(),
                ldr_entry: Hex(e),
                code_tags,
            });
        }
        self.s.ptr(psl, ldr_vas.first().copied().unwrap_or(psl));
        self.s
            .ptr(psl + ptr, ldr_vas.last().copied().unwrap_or(psl));
        manifest_modules
    }

    /// Phase 10: the big allocations' pages and `PoolBigPageTable` (with `PoolBigPageTableSize`),
    /// including the special-page probes (`TkPo`: one page paged out, one in transition; `TkAb`:
    /// one page absent from the dump). Fills manifest `big_page_table` (via [`BigWritten::table`])
    /// and `special_pages`.
    fn write_big_allocations(
        &mut self,
        big_placed: &[layout::BigPlaced],
        big_entries: u64,
    ) -> BigWritten {
        let p = self.p;
        let big_table = self.sys_alloc(big_entries * p.big.size, PAGE);
        for i in 0..big_entries {
            // Empty entries carry the free bit (Va = 1), Key 0.
            self.s.wf(big_table + i * p.big.size, p.big.va, 1);
        }
        let mut special = Vec::new();
        let mut hole_pfn = 0xa0u64;
        for bp in big_placed {
            let e = big_table + bp.slot * p.big.size;
            self.s.wf(e, p.big.va, bp.va | if bp.freed { 1 } else { 0 });
            self.s.wf(e, p.big.key, bp.tag as u64);
            match p.big.kind {
                BigKind::Pages(f) => self.s.wf(e, f, bp.pages),
                BigKind::TypeBytes(t, n) => {
                    self.s.wf(e, t, bp.pool.value());
                    self.s.wf(e, n, bp.pages * PAGE);
                }
                BigKind::Win10(t, n) => {
                    self.s.wf(e, t, bp.pool.value() << 8);
                    self.s.wf(e, n, bp.pages * PAGE);
                }
            }
            if bp.freed {
                continue;
            }
            let fill = fill_byte(bp.tag);
            for pg in 0..bp.pages {
                let va = bp.va + pg * PAGE;
                let tagname = tag_string(bp.tag);
                if tagname == "TkPo" && pg == 1 {
                    let offset = 0x100 + self.rng.below(0x10000);
                    let pte = self.s.mmu.map_soft(
                        &mut self.s.mem,
                        va,
                        SoftPte::PageFile { file: 0, offset },
                        p.page_file_low_bit,
                    );
                    special.push(manifest::SpecialPage {
                        va: Hex(va),
                        state: "paged_out".into(),
                        pte: Hex(pte),
                        pfn: None,
                        page_file: Some(0),
                        page_file_offset: Some(Hex(offset * PAGE)),
                    });
                    continue;
                }
                if tagname == "TkPo" && pg == 2 {
                    let pfn = self.s.mmu.alloc_pfn(&mut self.s.mem);
                    self.s.mem.write(pfn * PAGE, &vec![fill; PAGE as usize]);
                    let pte = self.s.mmu.map_soft(
                        &mut self.s.mem,
                        va,
                        SoftPte::Transition { pfn },
                        p.page_file_low_bit,
                    );
                    special.push(manifest::SpecialPage {
                        va: Hex(va),
                        state: "transition".into(),
                        pte: Hex(pte),
                        pfn: Some(Hex(pfn)),
                        page_file: None,
                        page_file_offset: None,
                    });
                    continue;
                }
                if tagname == "TkAb" && pg == 1 {
                    let pfn = hole_pfn;
                    hole_pfn += 1;
                    self.s.mmu.map(&mut self.s.mem, va, pfn);
                    self.s.mem.mark_absent(pfn);
                    let pte = (pfn * PAGE) | crate::memory::VALID_FLAGS;
                    special.push(manifest::SpecialPage {
                        va: Hex(va),
                        state: "absent".into(),
                        pte: Hex(pte),
                        pfn: Some(Hex(pfn)),
                        page_file: None,
                        page_file_offset: None,
                    });
                    continue;
                }
                self.s.w(va, &vec![fill; PAGE as usize]);
            }
        }
        if let Some(va) = self.global("PoolBigPageTable") {
            self.s.ptr(va, big_table);
        }
        if let Some(va) = self.global("PoolBigPageTableSize") {
            self.s.ptr(va, big_entries);
        }
        BigWritten {
            table: big_table,
            special,
        }
    }

    /// Phase 11: the pool tracker tables (the global one, then one per processor where the
    /// profile keeps them), hashed and linearly probed, and `PoolTrackTable`,
    /// `PoolTrackTableSize`, `ExPoolTagTables`. Fills manifest `tracker_tables`.
    fn write_tracker_tables(
        &mut self,
        per_table: &[BTreeMap<u32, PoolUsed>],
        track_entries: u64,
    ) -> Vec<manifest::TrackerTable> {
        let p = self.p;
        let ptr = p.arch.ptr_size();
        let mask = track_entries - 1;
        let mut tracker_manifest = Vec::new();
        let mut table_vas = Vec::new();
        for (ti, table) in per_table.iter().enumerate() {
            let tva = self.sys_alloc(track_entries * p.tracker.size, PAGE);
            table_vas.push(tva);
            let mut used = Vec::new();
            let mut taken = std::collections::BTreeSet::new();
            for (t, c) in table {
                // ExpComputeHashForTag (ReactOS expool.c): 40543 * tag, folded, masked; linear probe.
                let h = (*t as u64).wrapping_mul(40543);
                let mut slot = (h ^ (h >> 32)) & mask;
                while taken.contains(&slot) {
                    slot = (slot + 1) & mask;
                }
                taken.insert(slot);
                let e = tva + slot * p.tracker.size;
                let tl = p.tracker;
                self.s.wf(e, tl.key, *t as u64);
                self.s.wf(e, tl.np_allocs, c.nonpaged_allocs);
                self.s.wf(e, tl.np_frees, c.nonpaged_frees);
                self.s.wf(e, tl.np_bytes, c.nonpaged_bytes);
                self.s.wf(e, tl.p_allocs, c.paged_allocs);
                self.s.wf(e, tl.p_frees, c.paged_frees);
                self.s.wf(e, tl.p_bytes, c.paged_bytes);
                let mut c = c.clone();
                c.tag = tag_string(*t);
                used.push((slot, c));
            }
            used.sort_by_key(|u| u.0);
            tracker_manifest.push(manifest::TrackerTable {
                address: Hex(tva),
                entries: track_entries,
                processor: if ti == 0 { None } else { Some(ti as u32 - 1) },
                used,
            });
        }
        if let Some(va) = self.global("PoolTrackTable") {
            self.s.ptr(va, table_vas[0]);
        }
        if let Some(va) = self.global("PoolTrackTableSize") {
            self.s.ptr(va, track_entries);
        }
        if let Some(va) = self.global("ExPoolTagTables") {
            // The array: [0] the global table, then one per processor; zeros after.
            let slots = table_vas.len().max(64) as u64;
            let mut arr = vec![0u8; (slots * ptr) as usize];
            for (i, t) in table_vas.iter().enumerate() {
                arr[(i as u64 * ptr) as usize..((i as u64 + 1) * ptr) as usize]
                    .copy_from_slice(&t.to_le_bytes()[..ptr as usize]);
            }
            self.s.w(va, &arr);
        }
        tracker_manifest
    }

    /// Phase 13: `KdVersionBlock` (`DBGKD_GET_VERSION64`), `KdpDebuggerDataListHead`,
    /// `NtBuildLab`, `CmNtCSDVersion` and the KDBG (`KDDEBUGGER_DATA64`), encoded in memory where
    /// the profile says so (`KiWaitNever`, `KiWaitAlways`, `KdpDataBlockEncoded`). Fills manifest
    /// `profile.ki_wait_*`/`kdp_data_block_encoded` and the decoded KDBG for the dump writers.
    /// `MmPhysicalMemoryBlock` (profiles that name it: the Windows 10+ x64 ones): a pointer to a
    /// `_PHYSICAL_MEMORY_DESCRIPTOR` in the system area describing the machine's physical runs
    /// (x64 layout from the public PDB types in the ISF files: `NumberOfRuns` u32 at 0,
    /// `NumberOfPages` u64 at 8, `Run[]` of `{BasePage, PageCount}` u64 pairs at 0x10); the KDBG's
    /// +0x270 holds the global's address ([`Build::kdbg_bytes`]). After the debugger data so that
    /// no earlier allocation moves.
    fn write_physical_memory_block(&mut self) {
        let Some(var) = self.global("MmPhysicalMemoryBlock") else {
            return;
        };
        let runs = self.s.mem.runs().to_vec();
        let desc = self.sys_alloc(0x10 + 0x10 * runs.len() as u64, 0x10);
        self.s.wn(desc, runs.len() as u64, 4);
        self.s.wn(desc + 8, runs.iter().map(|r| r.1).sum(), 8);
        for (i, &(base, count)) in runs.iter().enumerate() {
            let at = desc + 0x10 + 0x10 * i as u64;
            self.s.wn(at, base, 8);
            self.s.wn(at + 8, count, 8);
        }
        self.s.ptr(var, desc);
    }

    fn write_debugger_data(&mut self, b: &KernelBuilder, roots: &Roots, dtb: u64) -> DebuggerData {
        let p = self.p;
        let ptr = p.arch.ptr_size();
        let kdbg = roots.kdbg;
        let ddl_head = match self.global("KdpDebuggerDataListHead") {
            Some(va) => va,
            None => self.sys_alloc(2 * ptr, 0x10),
        };
        if let Some(va) = self.global("NtBuildLab") {
            // A synthetic lab string (no real build's lab string is claimed).
            let lab = format!(
                "{}.{}.testkit\0",
                p.build,
                p.file_version.rsplit('.').next().unwrap_or("0")
            );
            self.s.w(va, lab.as_bytes());
        }
        if let Some(va) = self.global("CmNtCSDVersion") {
            self.s.wn(va, u64::from(p.csd_version), 4);
        }
        self.s.ptr(ddl_head, kdbg);
        self.s.ptr(ddl_head + ptr, kdbg);
        if let Some(vb) = roots.verblock {
            self.s.wn(vb, 0xf, 2);
            self.s.wn(vb + 2, p.build as u64, 2);
            self.s.wn(vb + 4, 6, 1); // ProtocolVersion
            self.s.wn(vb + 5, 2, 1); // KdSecondaryVersion
            let flags = 1 | 2 | if ptr == 8 { 4 } else { 0 };
            self.s.wn(vb + 6, flags, 2);
            self.s.wn(vb + 8, p.arch.machine() as u64, 2);
            self.s.wn(vb + 0xa, 0x0c, 1);
            self.s.wn(vb + 0xb, 3, 1);
            self.s.wn(vb + 0xc, 0x2f, 1);
            let kb = self.sext(self.kernel_base);
            let pl = self.sext(roots.psl);
            let dd = self.sext(ddl_head);
            self.s.wn(vb + 0x10, kb, 8);
            self.s.wn(vb + 0x18, pl, 8);
            self.s.wn(vb + 0x20, dd, 8);
        }
        let kd = self.kdbg_bytes(kdbg, ddl_head, b.processors, dtb);
        let (never, always, encoded_flag) = if p.kdbg_encoded {
            let never = self.rng.next_u64() | 1;
            let always = self.rng.next_u64();
            let enc = self.global("KdpDataBlockEncoded").unwrap_or(0);
            (never, always, enc)
        } else {
            (0, 0, 0)
        };
        if p.kdbg_encoded {
            let enc = encode_kdbg(&kd, never, always, encoded_flag);
            self.s.w(kdbg, &enc);
            if let Some(va) = self.global("KiWaitNever") {
                self.s.wn(va, never, 8);
            }
            if let Some(va) = self.global("KiWaitAlways") {
                self.s.wn(va, always, 8);
            }
            self.s.wn(encoded_flag, 1, 1);
        } else {
            self.s.w(kdbg, &kd);
        }
        let mut kdbg_decoded = Vec::new();
        let mut done = 0usize;
        while done < kd.len() {
            let va = kdbg + done as u64;
            let n = ((PAGE - va % PAGE) as usize).min(kd.len() - done);
            if let Some(pa) = self.s.pa(va) {
                kdbg_decoded.push((pa, kd[done..done + n].to_vec()));
            }
            done += n;
        }
        DebuggerData {
            never,
            always,
            encoded_flag,
            kdbg_decoded,
        }
    }

    /// Phase 14 (last writer): the builder's faults, classic ones (a corrupt pool header, a broken
    /// free-list link) on the placed blocks, the rest on the segment heap. Fills manifest `faults`
    /// and marks the damaged blocks (`blocks[].error`) and `segment_heap` records.
    fn inject_requested_faults(
        &mut self,
        b: &KernelBuilder,
        pool: &mut PoolPlans,
        free_lists: &[manifest::FreeList],
        seg_info: &mut Option<manifest::SegmentHeap>,
    ) -> Result<Vec<manifest::FaultRecord>, BuildError> {
        let mut faults = Vec::new();
        let classic_faults: Vec<Fault> = b
            .faults
            .iter()
            .copied()
            .filter(|f| {
                matches!(
                    f,
                    Fault::CorruptPoolHeader { .. } | Fault::BrokenFreeListLink
                )
            })
            .collect();
        faults.extend(self.inject_faults(&classic_faults, &mut pool.classic.placed, free_lists)?);
        for f in b.faults.iter().filter(|f| !classic_faults.contains(f)) {
            match (&pool.seg_layout, &pool.seg_plan, seg_info.as_mut()) {
                (Some(l), Some(sp), Some(info)) => {
                    faults.push(self.inject_seg_fault(*f, l, sp, info)?);
                }
                _ => {
                    return Err(BuildError::FaultWithoutTarget(format!(
                        "{f:?}: not a segment-heap profile"
                    )));
                }
            }
        }
        Ok(faults)
    }

    /// Last phase: compacts memory and assembles the [`Kernel`]: the manifest (`info`, `profile`,
    /// `blocks` and `big_allocations` from the plans, `globals` as recorded, the rest from the
    /// writers' [`Laid`]) and the [`DumpFacts`] the dump writers need.
    fn into_kernel(
        self,
        b: &KernelBuilder,
        machine: &Machine,
        pool: &PoolPlans,
        laid: Laid,
    ) -> Kernel {
        let p = self.p;
        let hdr = p.header.header_size();
        let unit = p.header.unit();
        let blocks = manifest_blocks(pool, unit);
        let big_allocations = manifest_big_allocations(&pool.classic.big_placed);
        let kernel_base = self.kernel_base;
        let Laid {
            roots,
            modules,
            big,
            tracker_tables,
            descriptors,
            free_lists,
            free_runs,
            paged_bitmap,
            pool_regions,
            vm,
            debugger,
            faults,
            seg_info,
        } = laid;
        let mut s = self.s;
        s.mem.compact();
        let kernel_pages = s.mmu.allocated.clone();
        let missing = s.mem.absent().len() as u64;
        let globals = self
            .globals
            .iter()
            .map(|(n, a)| manifest::Global {
                name: n.clone(),
                address: Hex(*a),
            })
            .collect();
        let manifest = Manifest {
            schema: manifest::SCHEMA,
            seed: b.seed,
            info: manifest::Info {
                arch: p.arch.name().into(),
                build: p.build,
                version: p.version(),
                kernel_base: Hex(kernel_base),
                kdbg: Hex(roots.kdbg),
                dtb: Hex(machine.dtb),
                dump_type: None,
                processors: b.processors,
                bugcheck_code: b.bugcheck.0,
                bugcheck_parameters: b.bugcheck.1.map(Hex),
                pdb: manifest::Pdb {
                    name: p.pdb_name.into(),
                    guid: self.pdb_guid.clone(),
                    age: p.pdb_age,
                },
                missing_pages: missing,
            },
            profile: manifest::ProfileFacts {
                name: p.name.into(),
                label: p.label.into(),
                file_version: p.file_version.into(),
                real_symbols: p.real_symbols,
                withheld: b.withheld,
                self_map_index: machine.self_map,
                pte_base: Hex(s.mmu.pte_base()),
                kdbg_encoded_in_memory: p.kdbg_encoded,
                ki_wait_never: Hex(debugger.never),
                ki_wait_always: Hex(debugger.always),
                kdp_data_block_encoded: Hex(debugger.encoded_flag),
                ps_loaded_module_list: Hex(roots.psl),
                kuser_shared_data: Hex(p.va.kuser),
                nonpaged_pool_start: Hex(p.va.nonpaged),
                paged_pool_start: Hex(p.va.paged),
                memory_bytes: s.mem.total_pages() * PAGE,
                runs: s.mem.runs().iter().map(|&(b, c)| (Hex(b), c)).collect(),
                pool_header_size: hdr,
                pool_block_unit: unit,
            },
            modules,
            vm,
            poolused: poolused_totals(&pool.classic.per_table),
            tracker_tables,
            blocks,
            free_lists,
            big_allocations,
            big_page_table: manifest::TableInfo {
                address: Hex(big.table),
                entries: pool.classic.big_entries,
                entry_size: p.big.size,
            },
            descriptors,
            paged_pool_bitmap: paged_bitmap,
            nonpaged_free_runs: free_runs,
            special_pages: big.special,
            faults,
            globals,
            pool_regions,
            container: None,
            segment_heap: seg_info,
        };
        Kernel {
            profile: p,
            facts: DumpFacts {
                dtb: machine.dtb,
                pfn_database_var: roots.pfn_var,
                ps_loaded_module_list: roots.psl,
                ps_active_process_head: roots.pah,
                kdbg: roots.kdbg,
                kdbg_decoded: debugger.kdbg_decoded,
                processors: b.processors,
                bugcheck: b.bugcheck,
                build: p.build,
                arch: p.arch,
                kernel_base,
                pae: p.arch == Arch::X86Pae,
                kernel_pages,
            },
            mapped: std::mem::take(&mut s.mmu.mapped),
            memory: s.mem,
            manifest,
        }
    }

    /// Pool descriptors with their counters and ListHeads, the free lists linked through the free
    /// blocks, and the globals that point at the descriptors.
    fn write_descriptors(
        &mut self,
        placed: &[Placed],
        totals: &[PoolTotals; 2],
    ) -> (Vec<manifest::Descriptor>, Vec<manifest::FreeList>) {
        let p = self.p;
        let ptr = p.arch.ptr_size();
        let hdr = p.header.header_size();
        let unit = p.header.unit();
        // ---- descriptors and free lists -------------------------------------------------------
        let Some(d) = p.descriptor else {
            return (Vec::new(), Vec::new());
        };
        let np_desc = match self.global("NonPagedPoolDescriptor") {
            Some(va) => va,
            None => self.sys_alloc(d.size, 0x40),
        };
        let paged_descs = [self.sys_alloc(d.size, 0x40), self.sys_alloc(d.size, 0x40)];
        let mut manifest_desc = Vec::new();
        let mut free_lists = Vec::new();
        for (desc, pool, index) in [
            (np_desc, PoolKind::NonPaged, 0u64),
            (paged_descs[0], PoolKind::Paged, 0),
            (paged_descs[1], PoolKind::Paged, 1),
        ] {
            let used_here = pool == PoolKind::NonPaged || index == 1;
            let t = if used_here {
                totals[pool.index()]
            } else {
                PoolTotals::default()
            };
            self.s.w(desc, &vec![0u8; d.size as usize]);
            self.s.wf(desc, d.pool_type, pool.value());
            self.s.wf(desc, d.pool_index, index);
            match d.counters {
                DescCounters::Classic {
                    running_allocs,
                    running_deallocs,
                    total_pages,
                    total_big_pages,
                    total_bytes,
                } => {
                    self.s.wf(desc, running_allocs, t.allocs);
                    self.s.wf(desc, running_deallocs, t.frees);
                    self.s.wf(desc, total_pages, t.small_pages);
                    self.s.wf(desc, total_big_pages, t.big_pages);
                    if let Some(f) = total_bytes {
                        self.s.wf(desc, f, t.bytes_out);
                    }
                }
                DescCounters::Win10 {
                    running_allocs,
                    pages_allocated,
                    big_pages_allocated,
                    bytes_allocated,
                    running_deallocs,
                    pages_deallocated,
                    big_pages_deallocated,
                    bytes_deallocated,
                } => {
                    self.s.wf(desc, running_allocs, t.allocs);
                    self.s.wf(desc, running_deallocs, t.frees);
                    self.s.wf(desc, pages_allocated, t.small_pages);
                    self.s.wf(desc, pages_deallocated, 0);
                    self.s
                        .wf(desc, big_pages_allocated, t.big_pages + t.freed_big_pages);
                    self.s.wf(desc, big_pages_deallocated, t.freed_big_pages);
                    self.s.wf(desc, bytes_allocated, t.bytes_ever);
                    self.s.wf(desc, bytes_deallocated, t.bytes_freed);
                }
            }
            // ListHeads: empty lists point at themselves; then link this pool's free blocks.
            let lh = desc + d.list_heads;
            for i in 0..d.list_count {
                let h = lh + i * 2 * ptr;
                self.s.ptr(h, h);
                self.s.ptr(h + ptr, h);
            }
            manifest_desc.push(manifest::Descriptor {
                address: Hex(desc),
                pool_type: pool.name().into(),
                pool_index: index as u32,
                running_allocs: t.allocs,
                running_deallocs: t.frees,
                total_pages: t.small_pages,
                total_big_pages: t.big_pages,
                total_bytes: t.bytes_out,
            });
            if !used_here {
                continue;
            }
            let mut lists: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for blk in placed.iter().filter(|b| b.pool == pool && b.on_list) {
                let idx = (blk.units - 1).min(d.list_count - 1);
                lists.entry(idx).or_default().push(blk.va);
            }
            for (idx, entries) in &lists {
                let head = lh + idx * 2 * ptr;
                let links: Vec<u64> = entries.iter().map(|v| v + hdr).collect();
                for (j, l) in links.iter().enumerate() {
                    let next = links.get(j + 1).copied().unwrap_or(head);
                    let prev = if j == 0 { head } else { links[j - 1] };
                    self.s.ptr(*l, next);
                    self.s.ptr(l + ptr, prev);
                }
                self.s.ptr(head, links[0]);
                self.s.ptr(head + ptr, links[links.len() - 1]);
                free_lists.push(manifest::FreeList {
                    descriptor: Hex(desc),
                    pool_type: pool.name().into(),
                    index: *idx,
                    block_size: (idx + 1) * unit,
                    entries: entries.iter().map(|v| Hex(*v)).collect(),
                });
            }
        }
        if let Some(va) = self.global("ExpPagedPoolDescriptor") {
            self.s.ptr(va, paged_descs[0]);
            self.s.ptr(va + ptr, paged_descs[1]);
        }
        if let Some(va) = self.global("ExpNumberOfPagedPools") {
            self.s.wn(va, 1, 4);
        }
        if let Some(va) = self.global("ExpNonPagedPoolDescriptor") {
            self.s.ptr(va, np_desc);
        }
        if let Some(va) = self.global("ExpNumberOfNonPagedPools") {
            self.s.wn(va, 1, 4);
        }
        if let Some(va) = self.global("PoolVector") {
            self.s.ptr(va, np_desc);
            self.s.ptr(va + ptr, paged_descs[0]);
        }
        (manifest_desc, free_lists)
    }

    /// XP/2003 nonpaged free page runs on `MmNonPagedPoolFreeListHead[4]`.
    fn write_free_page_runs(&mut self, free_runs: &[(u64, u64, u64)]) -> Vec<manifest::FreeRun> {
        let p = self.p;
        let ptr = p.arch.ptr_size();
        // ---- nonpaged free page runs ----------------------------------------------------------
        let mut manifest_runs = Vec::new();
        if let (Some(size_f), Some(heads)) =
            (p.free_pool_entry, self.global("MmNonPagedPoolFreeListHead"))
        {
            let (sig_off, owner_off) = if ptr == 8 { (0x18, 0x20) } else { (0xc, 0x10) };
            let mut lists: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for &(va, pages, list) in free_runs {
                for pg in 0..pages {
                    self.s.ptr(va + pg * PAGE + owner_off, va);
                }
                self.s.wf(va, size_f, pages);
                self.s.wn(va + sig_off, 0, 4);
                lists.entry(list).or_default().push(va);
                manifest_runs.push(manifest::FreeRun {
                    address: Hex(va),
                    pages,
                    list,
                });
            }
            for i in 0..4u64 {
                let head = heads + i * 2 * ptr;
                let entries = lists.get(&i).cloned().unwrap_or_default();
                if entries.is_empty() {
                    self.s.ptr(head, head);
                    self.s.ptr(head + ptr, head);
                    continue;
                }
                for (j, e) in entries.iter().enumerate() {
                    let next = entries.get(j + 1).copied().unwrap_or(head);
                    let prev = if j == 0 { head } else { entries[j - 1] };
                    self.s.ptr(*e, next);
                    self.s.ptr(e + ptr, prev);
                }
                self.s.ptr(head, entries[0]);
                self.s.ptr(head + ptr, entries[entries.len() - 1]);
            }
        }
        manifest_runs
    }

    /// The paged-pool allocation bitmap in `MmPagedPoolInfo` and the pool range globals.
    fn write_paged_bitmap(
        &mut self,
        totals: &[PoolTotals; 2],
        big_placed: &[layout::BigPlaced],
        paged_max_pages: u64,
    ) -> Option<manifest::PagedBitmap> {
        let p = self.p;
        let ptr = p.arch.ptr_size();
        let paged_pool_pages = totals[1].small_pages + totals[1].big_pages;
        let mut paged_bitmap = None;
        if let (Some(info), Some(info_va)) = (p.paged_info, self.global("MmPagedPoolInfo")) {
            let mut bits = vec![0u8; (paged_max_pages / 8) as usize];
            let mut end_bits = bits.clone();
            let mut busy_runs = Vec::new();
            let start = p.va.paged;
            for pg in 0..totals[1].small_pages {
                bits[(pg / 8) as usize] |= 1 << (pg % 8);
                end_bits[(pg / 8) as usize] |= 1 << (pg % 8);
                busy_runs.push((pg, 1));
            }
            for bp in big_placed
                .iter()
                .filter(|b| b.pool == PoolKind::Paged && !b.freed)
            {
                let first = (bp.va - start) / PAGE;
                for pg in first..first + bp.pages {
                    bits[(pg / 8) as usize] |= 1 << (pg % 8);
                }
                let last = first + bp.pages - 1;
                end_bits[(last / 8) as usize] |= 1 << (last % 8);
                busy_runs.push((first, bp.pages));
            }
            let buf = self.sys_alloc(bits.len() as u64, PAGE);
            self.s.w(buf, &bits);
            self.s.w(info_va, &vec![0u8; info.size as usize]);
            match info.bitmap {
                BitmapRef::Pointer(off) => {
                    let hdr_va = self.sys_alloc(2 * ptr, 0x10);
                    self.s.wn(hdr_va, paged_max_pages, 4);
                    self.s.ptr(hdr_va + ptr, buf);
                    self.s.ptr(info_va + off, hdr_va);
                }
                BitmapRef::Embedded(off) => {
                    self.s.wn(info_va + off, paged_max_pages, 4);
                    self.s.ptr(info_va + off + ptr, buf);
                }
                BitmapRef::EmbeddedEx(off) => {
                    self.s.wn(info_va + off, paged_max_pages, 8);
                    self.s.ptr(info_va + off + 8, buf);
                }
            }
            if let Some(off) = info.end_bitmap_ptr {
                let ebuf = self.sys_alloc(end_bits.len() as u64, PAGE);
                self.s.w(ebuf, &end_bits);
                let hdr_va = self.sys_alloc(2 * ptr, 0x10);
                self.s.wn(hdr_va, paged_max_pages, 4);
                self.s.ptr(hdr_va + ptr, ebuf);
                self.s.ptr(info_va + off, hdr_va);
            }
            if let Some(f) = info.commit {
                self.s.wf(info_va, f, paged_pool_pages);
            }
            self.s.wf(info_va, info.allocated, paged_pool_pages);
            if let Some(f) = info.maximum_size {
                self.s.wf(info_va, f, paged_max_pages * PAGE);
            }
            let set_bits = bits.iter().map(|b| b.count_ones() as u64).sum();
            paged_bitmap = Some(manifest::PagedBitmap {
                paged_pool_info: Hex(info_va),
                buffer: Hex(buf),
                bits: paged_max_pages,
                set_bits,
                busy_runs,
            });
        }
        paged_bitmap
    }

    /// The pool ranges where the version keeps them (`ntkernel::poolva` reads them back): the
    /// `Mm*Pool{Start,End}` globals, Windows 7's `MiNonPagedPoolEnd` (its paged pool starts at the
    /// fixed 0xFFFFF8A000000000, which `va.paged` is), 8.1's `MiPagedPoolStart`, and on 1607+
    /// `MiState.Vs.SystemVaRegions[]`. Returns the manifest's regions.
    fn write_pool_regions(
        &mut self,
        paged_max_pages: u64,
        nonpaged_max_pages: u64,
    ) -> Vec<manifest::PoolRegion> {
        let p = self.p;
        let ranges = [
            ("nonpaged", p.va.nonpaged, nonpaged_max_pages * PAGE),
            ("paged", p.va.paged, paged_max_pages * PAGE),
        ];
        let mut out = Vec::new();
        if let (Some(sv), Some(st)) = (p.system_va_regions(), self.global("MiState")) {
            for ((pool, start, bytes), index) in ranges.into_iter().zip([sv.nonpaged, sv.paged]) {
                let entry = st + sv.vs + sv.regions + index * 0x10;
                self.s.ptr(entry, start); // BaseAddress
                self.s.ptr(entry + 8, bytes); // NumberOfBytes
                out.push(manifest::PoolRegion {
                    pool,
                    start: Hex(start),
                    end: Hex(start + bytes),
                    source: format!("MiState.Vs.SystemVaRegions[{index}]"),
                });
            }
            return out;
        }
        let written = |b: &mut Self, name: &str, value: u64| -> Option<&'static str> {
            let va = b.global(name)?;
            b.s.ptr(va, value);
            Some(match name {
                "MmNonPagedPoolStart" => "MmNonPagedPoolStart",
                "MmNonPagedPoolEnd" => "MmNonPagedPoolEnd",
                "MiNonPagedPoolEnd" => "MiNonPagedPoolEnd",
                "MmPagedPoolStart" => "MmPagedPoolStart",
                "MiPagedPoolStart" => "MiPagedPoolStart",
                _ => "MmPagedPoolEnd",
            })
        };
        for (pool, start, bytes) in ranges {
            let last = start + bytes - 1;
            let (s, e) = if pool == "nonpaged" {
                (
                    written(self, "MmNonPagedPoolStart", start),
                    written(self, "MmNonPagedPoolEnd", last)
                        .or_else(|| written(self, "MiNonPagedPoolEnd", last)),
                )
            } else {
                let s = written(self, "MmPagedPoolStart", start)
                    .or_else(|| written(self, "MiPagedPoolStart", start))
                    .or_else(|| {
                        // Windows 7 x64: the fixed paged pool start (CodeMachine's layout).
                        (p.arch == Arch::X64 && p.build == 7601 && start == 0xffff_f8a0_0000_0000)
                            .then_some("0xfffff8a000000000")
                    });
                (s, written(self, "MmPagedPoolEnd", last))
            };
            if let (Some(s), Some(e)) = (s, e) {
                out.push(manifest::PoolRegion {
                    pool,
                    start: Hex(start),
                    end: Hex(start + bytes),
                    source: format!("{s}..{e}"),
                });
            }
        }
        out
    }

    /// The `!vm` counters where the profile keeps them; returns the manifest's figures.
    fn write_vm(
        &mut self,
        c: VmCounters,
        totals: &[PoolTotals; 2],
        paged_max_pages: u64,
        nonpaged_max_pages: u64,
        has_paged_bitmap: bool,
    ) -> manifest::Vm {
        let p = self.p;
        let paged_pool_pages = totals[1].small_pages + totals[1].big_pages;
        let nonpaged_pool_pages = totals[0].small_pages + totals[0].big_pages;
        // ---- !vm counters -------------------------------------------------------------------------
        let phys = self.s.mem.total_pages();

        let available = c.available_pages.unwrap_or(phys * 5 / 8);
        let resident = c.resident_available_pages.unwrap_or(phys / 2);
        let modified = c.modified_pages.unwrap_or(0x1a3);
        let shared = c.shared_commit_pages.unwrap_or(0x2b1);
        let driver = c.driver_commit_pages.unwrap_or(0x4c2);
        let committed = c.committed_pages.unwrap_or(phys / 3);
        let limit = c.commit_limit.unwrap_or(phys + 0x1_0000);
        let failures = c.pool_allocation_failures.unwrap_or(0);
        let mut vm = manifest::Vm::default();
        match p.vm {
            VmSource::Globals => {
                let put = |bld: &mut Build, name: &str, v: u64| -> Option<u64> {
                    let va = bld.global(name)?;
                    bld.s.ptr(va, v);
                    Some(v)
                };
                vm.physical_pages = put(&mut *self, "MmNumberOfPhysicalPages", phys);
                vm.available_pages = put(&mut *self, "MmAvailablePages", available);
                vm.resident_available_pages = put(&mut *self, "MmResidentAvailablePages", resident);
                vm.shared_commit_pages = put(&mut *self, "MmSharedCommit", shared);
                vm.driver_commit_pages = put(&mut *self, "MmDriverCommit", driver);
                vm.committed_pages = put(&mut *self, "MmTotalCommittedPages", committed);
                vm.commit_limit = put(&mut *self, "MmTotalCommitLimit", limit);
                vm.shared_process_pages = put(&mut *self, "MmProcessCommit", 0x311);
                vm.paged_pool_commit_pages = put(&mut *self, "MmPagedPoolCommit", paged_pool_pages);
                vm.nonpaged_pool_pages =
                    put(&mut *self, "MmAllocatedNonPagedPool", nonpaged_pool_pages);
                vm.nonpaged_pool_max_pages = put(
                    &mut *self,
                    "MmMaximumNonPagedPoolInBytes",
                    nonpaged_max_pages * PAGE,
                )
                .map(|_| nonpaged_max_pages);
                if let Some(va) = self.global("MmModifiedPageListHead") {
                    self.s.ptr(va, modified);
                    vm.modified_pages = Some(modified);
                }
                if has_paged_bitmap {
                    vm.paged_pool_pages = Some(paged_pool_pages);
                }
            }
            VmSource::Partition {
                vp,
                physical,
                available: av,
                resident: rs,
                modified: md,
                shared_commit,
                committed: cm,
                commit_limit: cl,
                allocated_nonpaged,
            } => {
                if let Some(part) = self.global("MiSystemPartition") {
                    let v = part + vp;
                    // `Vp.LowestPhysicalPage` (0) and `Vp.HighestPhysicalPage` (8): at these
                    // offsets in every Windows 10/11 x64 PDB of shared/data/isf; the values the
                    // old globals get above.
                    self.s.wn(v, 1, 8);
                    self.s.wn(v + 8, self.s.mem.end_pfn() - 1, 8);
                    self.s.wn(v + physical, phys, 8);
                    self.s.wn(v + av, available, 8);
                    self.s.wn(v + rs, resident, 8);
                    self.s.wn(v + md, modified, 8);
                    self.s.wn(v + cm, committed, 8);
                    self.s.wn(v + cl, limit, 8);
                    vm.physical_pages = Some(phys);
                    vm.available_pages = Some(available);
                    vm.resident_available_pages = Some(resident);
                    vm.modified_pages = Some(modified);
                    vm.committed_pages = Some(committed);
                    vm.commit_limit = Some(limit);
                    if let Some(sc) = shared_commit {
                        self.s.wn(v + sc, shared, 8);
                        vm.shared_commit_pages = Some(shared);
                    }
                }
                if let Some(st) = self.global("MiState") {
                    self.s.wn(st + allocated_nonpaged, nonpaged_pool_pages, 8);
                    vm.nonpaged_pool_pages = Some(nonpaged_pool_pages);
                }
            }
        }
        if let Some(va) = self.global("MmSizeOfPagedPoolInBytes") {
            self.s.ptr(va, paged_max_pages * PAGE);
            vm.paged_pool_max_pages = Some(paged_max_pages);
        }
        if let Some(va) = self.global("ExPoolFailures") {
            self.s.wn(va, failures, 4);
            vm.pool_allocation_failures = Some(failures);
        }
        self.write_vm_extra(&c, &mut vm);
        self.write_vm_win10(&c, paged_pool_pages, nonpaged_max_pages, &mut vm);
        self.write_processes(&mut vm);
        vm
    }

    /// Injects the requested faults after everything is written.
    fn inject_faults(
        &mut self,
        requested: &[Fault],
        placed: &mut [Placed],
        free_lists: &[manifest::FreeList],
    ) -> Result<Vec<manifest::FaultRecord>, BuildError> {
        let p = self.p;
        let ptr = p.arch.ptr_size();
        let hdr = p.header.header_size();
        let unit = p.header.unit();
        // ---- faults -----------------------------------------------------------------------------
        let mut faults = Vec::new();
        for f in requested {
            match f {
                Fault::CorruptPoolHeader { tag: t } => {
                    let want = tag(t);
                    let Some(i) = placed.iter().position(|b| !b.free && b.tag == want) else {
                        return Err(BuildError::FaultWithoutTarget(format!(
                            "corrupt_pool_header({})",
                            tag_string(want)
                        )));
                    };
                    let bad_units = placed[i].units + 3;
                    let mut blk = placed[i].clone();
                    blk.units = bad_units;
                    self.write_header(&blk);
                    let msg = format!(
                        "BlockSize says {:#x} bytes; the page layout says {:#x}",
                        bad_units * unit,
                        placed[i].units * unit
                    );
                    placed[i].error = Some(msg.clone());
                    faults.push(manifest::FaultRecord {
                        kind: "corrupt_pool_header".into(),
                        address: Some(Hex(placed[i].va)),
                        detail: msg,
                    });
                }
                Fault::BrokenFreeListLink => {
                    let Some(fl) = free_lists.first() else {
                        return Err(BuildError::FaultWithoutTarget(
                            "broken_free_list_link".into(),
                        ));
                    };
                    let entry = fl.entries[0].0 + hdr;
                    let bad = if ptr == 8 {
                        0x4141_4141_4141_4141
                    } else {
                        0x4141_4141
                    };
                    self.s.ptr(entry, bad);
                    faults.push(manifest::FaultRecord {
                        kind: "broken_free_list_link".into(),
                        address: Some(Hex(entry)),
                        detail: format!(
                            "Flink of the first block on ListHeads[{}] of {} overwritten with {bad:#x}",
                            fl.index, fl.pool_type
                        ),
                    });
                }
                // Segment-heap faults are injected by `inject_seg_fault`.
                Fault::CorruptVsHeader { .. } | Fault::BadLfhBitmap { .. } => {}
            }
        }
        Ok(faults)
    }

    fn write_header(&mut self, blk: &Placed) {
        let p = self.p;
        let pool_type = if blk.free {
            0
        } else {
            match p.pool_type_encoding {
                PoolTypeEncoding::Nt5 => (blk.pool.value() + 1) | 4,
                PoolTypeEncoding::Nt6 => blk.pool.value() | 2,
            }
        };
        let index = blk.pool.index() as u64;
        let mut h = [0u8; 16];
        match p.header {
            PoolHeaderKind::X64 => {
                h[0] = blk.prev_units as u8;
                h[1] = index as u8;
                h[2] = blk.units as u8;
                h[3] = pool_type as u8;
            }
            PoolHeaderKind::X86 => {
                let w0 = (blk.prev_units & 0x1ff) | (index << 9);
                let w1 = (blk.units & 0x1ff) | (pool_type << 9);
                h[0..2].copy_from_slice(&(w0 as u16).to_le_bytes());
                h[2..4].copy_from_slice(&(w1 as u16).to_le_bytes());
            }
            PoolHeaderKind::Nt50 => {
                h[0] = blk.prev_units as u8;
                h[1] = index as u8;
                h[2] = pool_type as u8;
                h[3] = blk.units as u8;
            }
        }
        h[4..8].copy_from_slice(&blk.tag.to_le_bytes());
        let n = p.header.header_size() as usize;
        self.s.w(blk.va, &h[..n]);
    }

    /// A PE image header page (and, for the kernel, a debug directory with an RSDS record).
    fn write_pe(&mut self, base: u64, size: u64, kernel: bool, pdb_name: &str) {
        let p = self.p;
        let x64 = p.arch == Arch::X64;
        let mut pg = vec![0u8; PAGE as usize];
        pg[0..2].copy_from_slice(b"MZ");
        let lfanew = 0xf8u32;
        pg[0x3c..0x40].copy_from_slice(&lfanew.to_le_bytes());
        let nt = lfanew as usize;
        pg[nt..nt + 4].copy_from_slice(b"PE\0\0");
        let fh = nt + 4;
        let opt_size: u16 = if x64 { 0xf0 } else { 0xe0 };
        let put16 =
            |pg: &mut Vec<u8>, o: usize, v: u16| pg[o..o + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |pg: &mut Vec<u8>, o: usize, v: u32| pg[o..o + 4].copy_from_slice(&v.to_le_bytes());
        let put64 =
            |pg: &mut Vec<u8>, o: usize, v: u64| pg[o..o + 8].copy_from_slice(&v.to_le_bytes());
        put16(&mut pg, fh, p.arch.machine());
        put16(&mut pg, fh + 2, 2); // sections
        put32(&mut pg, fh + 4, 0x5a00_0000 + p.build); // TimeDateStamp
        put16(&mut pg, fh + 16, opt_size);
        put16(&mut pg, fh + 18, if x64 { 0x22 } else { 0x102 });
        let oh = fh + 20;
        put16(&mut pg, oh, if x64 { 0x20b } else { 0x10b });
        pg[oh + 2] = 14; // linker
        put32(&mut pg, oh + 4, (size - 0x1000) as u32 / 2); // SizeOfCode
        put32(&mut pg, oh + 16, 0x1000); // AddressOfEntryPoint
        put32(&mut pg, oh + 20, 0x1000); // BaseOfCode
        if x64 {
            put64(&mut pg, oh + 24, base);
        } else {
            put32(&mut pg, oh + 28, base as u32);
        }
        put32(&mut pg, oh + 32, 0x1000); // SectionAlignment
        put32(&mut pg, oh + 36, 0x200); // FileAlignment
        put16(&mut pg, oh + 40, p.major as u16);
        put16(&mut pg, oh + 42, p.minor as u16);
        put16(&mut pg, oh + 48, p.major as u16); // subsystem version
        put16(&mut pg, oh + 50, p.minor as u16);
        put32(&mut pg, oh + 56, size as u32); // SizeOfImage
        put32(&mut pg, oh + 60, 0x400); // SizeOfHeaders
        put16(&mut pg, oh + 68, 1); // Subsystem: native
        let (dd, nrva) = if x64 {
            (oh + 112, oh + 108)
        } else {
            (oh + 96, oh + 92)
        };
        put32(&mut pg, nrva, 16);
        let sec = oh + opt_size as usize;
        // The kernel's `.data` begins at the page of its first global (real ntoskrnl keeps its
        // variables in `.data` and the sections after it); other images split in halves.
        let first_global = match p.globals {
            crate::profile::Globals::Real(list) if kernel => list
                .iter()
                .map(|(_, r)| r + self.rva_shift)
                .filter(|r| (0x2000..size).contains(r))
                .min(),
            _ => None,
        };
        let half = (first_global.unwrap_or(size / 2) & !0xfff) as u32;
        for (i, (name, va, vsz, ch)) in [
            (b".text\0\0\0", 0x1000u32, half - 0x1000, 0x6800_0020u32),
            (b".data\0\0\0", half, size as u32 - half, 0xc800_0040),
        ]
        .iter()
        .enumerate()
        {
            let s = sec + i * 40;
            pg[s..s + 8].copy_from_slice(*name);
            put32(&mut pg, s + 8, *vsz);
            put32(&mut pg, s + 12, *va);
            put32(&mut pg, s + 16, *vsz);
            put32(&mut pg, s + 20, *va);
            put32(&mut pg, s + 36, *ch);
        }
        if kernel {
            // IMAGE_DIRECTORY_ENTRY_DEBUG (6) → one IMAGE_DEBUG_DIRECTORY at 0x300 → RSDS at 0x340.
            put32(&mut pg, dd + 6 * 8, 0x300);
            put32(&mut pg, dd + 6 * 8 + 4, 28);
            let name = pdb_name.as_bytes();
            let cv_len = 24 + name.len() as u32 + 1;
            put32(&mut pg, 0x300 + 4, 0x5a00_0000 + p.build);
            put32(&mut pg, 0x300 + 12, 2); // IMAGE_DEBUG_TYPE_CODEVIEW
            put32(&mut pg, 0x300 + 16, cv_len);
            put32(&mut pg, 0x300 + 20, 0x340);
            put32(&mut pg, 0x300 + 24, 0x340);
            pg[0x340..0x344].copy_from_slice(b"RSDS");
            let g = guid_bytes(&self.pdb_guid);
            pg[0x344..0x354].copy_from_slice(&g);
            put32(&mut pg, 0x354, p.pdb_age);
            pg[0x358..0x358 + name.len()].copy_from_slice(name);
        }
        self.s.w(base, &pg);
    }

    fn kdbg_bytes(&mut self, kdbg: u64, list_head: u64, procs: u32, _dtb: u64) -> Vec<u8> {
        let p = self.p;
        let mut k = vec![0u8; p.kdbg_size as usize];
        let put = |k: &mut Vec<u8>, off: usize, v: u64| {
            if off + 8 <= k.len() {
                k[off..off + 8].copy_from_slice(&v.to_le_bytes());
            }
        };
        let lh = self.sext(list_head);
        put(&mut k, 0, lh);
        put(&mut k, 8, lh);
        k[0x10..0x14].copy_from_slice(b"KDBG");
        k[0x14..0x18].copy_from_slice(&(p.kdbg_size as u32).to_le_bytes());
        put(&mut k, 0x18, self.sext(self.kernel_base));
        if p.arch == Arch::X86Pae {
            k[0x36] = 1; // PaeEnabled
        }
        // Fields holding the address of a global (docs/POOL_INTERNALS.md §6.1; KDDEBUGGER_DATA64).
        let fields: &[(usize, &str)] = &[
            (0x48, "PsLoadedModuleList"),
            (0x50, "PsActiveProcessHead"),
            (0x68, "ExpPagedPoolDescriptor"),
            (0x70, "ExpNumberOfPagedPools"),
            (0xc0, "MmPfnDatabase"),
            (0xe8, "MmLowestPhysicalPage"),
            (0xf0, "MmHighestPhysicalPage"),
            (0xf8, "MmNumberOfPhysicalPages"),
            (0x100, "MmMaximumNonPagedPoolInBytes"),
            (0x110, "MmNonPagedPoolStart"),
            (0x118, "MmNonPagedPoolEnd"),
            (0x120, "MmPagedPoolStart"),
            (0x128, "MmPagedPoolEnd"),
            (0x130, "MmPagedPoolInfo"),
            (0x140, "MmSizeOfPagedPoolInBytes"),
            (0x148, "MmTotalCommitLimit"),
            (0x150, "MmTotalCommittedPages"),
            (0x158, "MmSharedCommit"),
            (0x160, "MmDriverCommit"),
            (0x168, "MmProcessCommit"),
            (0x170, "MmPagedPoolCommit"),
            (0x198, "MmModifiedPageListHead"),
            (0x1a8, "MmAvailablePages"),
            (0x1b0, "MmResidentAvailablePages"),
            (0x1b8, "PoolTrackTable"),
            (0x1c0, "NonPagedPoolDescriptor"),
            (0x208, "NtBuildLab"),
            (0x218, "KiProcessorBlock"),
            (0x250, "MmAllocatedNonPagedPool"),
            (0x268, "CmNtCSDVersion"),
            (0x270, "MmPhysicalMemoryBlock"),
        ];
        for &(off, name) in fields {
            if let Some(va) = self.global(name) {
                let v = self.sext(va);
                put(&mut k, off, v);
            }
        }
        put(&mut k, 0x138, 0x1000); // MmPageSize (a value)
        if p.kdbg_size >= 0x368 {
            put(&mut k, 0x360, self.s.mmu.pte_base()); // PteBase (a value)
        }
        let _ = (kdbg, procs);
        k
    }
}

/// The inverse of the KDBG decode of docs/DUMP_FORMATS.md §1.8 (Volatility 2 `win8_kdbg.py`, QEMU
/// `elf2dmp`): per qword, `decoded = bswap(rol(q ^ never, never & 0xff) ^ block) ^ always`.
pub fn encode_kdbg(plain: &[u8], never: u64, always: u64, block: u64) -> Vec<u8> {
    let mut out = plain.to_vec();
    for chunk in out.chunks_exact_mut(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let p = u64::from_le_bytes(b);
        let q2 = p ^ always;
        let q1 = q2.swap_bytes() ^ block;
        let q = q1.rotate_right((never & 0xff) as u32) ^ never;
        chunk.copy_from_slice(&q.to_le_bytes());
    }
    out
}

/// The KDBG decode of docs/DUMP_FORMATS.md §1.8.
pub fn decode_kdbg(encoded: &[u8], never: u64, always: u64, block: u64) -> Vec<u8> {
    let mut out = encoded.to_vec();
    for chunk in out.chunks_exact_mut(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let q = u64::from_le_bytes(b);
        let q = (q ^ never).rotate_left((never & 0xff) as u32);
        let q = (q ^ block).swap_bytes() ^ always;
        chunk.copy_from_slice(&q.to_le_bytes());
    }
    out
}

/// The 16 bytes of a GUID as stored in an RSDS record (Data1..3 little-endian, Data4 as is), from 32
/// hex digits.
pub fn guid_bytes(hex: &str) -> [u8; 16] {
    let mut raw = [0u8; 16];
    for (i, r) in raw.iter_mut().enumerate() {
        *r = hex
            .get(2 * i..2 * i + 2)
            .and_then(|s| u8::from_str_radix(s, 16).ok())
            .unwrap_or(0);
    }
    let mut out = raw;
    out[0..4].copy_from_slice(&[raw[3], raw[2], raw[1], raw[0]]);
    out[4..6].copy_from_slice(&[raw[5], raw[4]]);
    out[6..8].copy_from_slice(&[raw[7], raw[6]]);
    out
}
