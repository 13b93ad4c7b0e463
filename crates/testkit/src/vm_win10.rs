//! The `!vm` counters WinDbg prints on Windows 10/11 beyond the basic ones, written where each
//! profile's real build keeps them, and `Modified PF Pages` on Windows 7 / 8.1.
//!
//! Every offset below is taken from the public ntkrnlmp.pdb ISF file of the profile's build
//! (JPCERTCC/Windows-Symbol-Tables, `shared/data/isf`; the GUIDs are the profiles'), copied by hand
//! from the ISF type dumps — not from pooldbg's generated profiles, so that a misreading of those
//! would show as a mismatch:
//! - `_MI_VISIBLE_PARTITION` (`MiSystemPartition.Vp`): `TotalPagesForPagingFile`,
//!   `ModifiedNoWritePageListHead` (`_MMPFNLIST`, `Total` at 0), `ProcessLockedFilePages`,
//!   `SlabAllocatorPages` (1809 on);
//! - `_MI_VISIBLE_STATE` (`MiState.Vs`): `MaximumNonPagedPoolInPages`, `SizeOfPagedPoolInPages`,
//!   `PagedPoolInfo` (`_MM_PAGED_POOL_INFO`, `AllocatedPagedPool` at 0x30 on 1607/1809, 0x10
//!   from 2004), `NonPagedPoolCommit`, `SmallNonPagedPtesCommit` (1809 on), `BootCommit`,
//!   `MdlPagesAllocated`, `ContiguousPagesAllocated` (20348 on), `SystemPageTableCommit`,
//!   `DriverCommit` (a `long`), `PfnDatabaseCommit` (1809 on), `PagefileHashPages`,
//!   `SharedCommit` (1607 only; `Vp.SharedCommit` from 1703);
//! - Windows 7 / 8.1: the global `MmTotalPagesForPagingFile` (ULONG_PTR), RVAs in the profiles'
//!   global lists.

use crate::builder::{Build, VmCounters};
use crate::manifest;
use crate::profile::VmSource;

/// `_MI_VISIBLE_PARTITION` offsets: (TotalPagesForPagingFile, ModifiedNoWritePageListHead,
/// ProcessLockedFilePages, SlabAllocatorPages).
type VpOffsets = (u64, u64, u64, Option<u64>);

/// `_MI_VISIBLE_STATE` offsets, one per counter (None: the build's type has no such field).
struct VsOffsets {
    max_nonpaged: u64,
    size_paged: u64,
    /// `PagedPoolInfo` + `_MM_PAGED_POOL_INFO.AllocatedPagedPool`.
    paged_allocated: u64,
    nonpaged_commit: u64,
    small_nonpaged_ptes: Option<u64>,
    boot: u64,
    mdl: u64,
    contiguous: Option<u64>,
    system_page_tables: u64,
    driver: u64,
    pfn: Option<u64>,
    pagefile_hash: u64,
    shared_commit: Option<u64>,
}

/// (`_MI_SYSTEM_INFORMATION.Vs`, Vp offsets, Vs offsets) per Windows 10/11 profile.
fn win10(profile: &str) -> Option<(u64, VpOffsets, VsOffsets)> {
    Some(match profile {
        "win10-1607-x64" => (
            0x1380,
            (0x430, 0x400, 0x440, None),
            VsOffsets {
                max_nonpaged: 0xa0,
                size_paged: 0xa8,
                paged_allocated: 0x68 + 0x30,
                nonpaged_commit: 0x118,
                small_nonpaged_ptes: None,
                boot: 0x120,
                mdl: 0x128,
                contiguous: None,
                system_page_tables: 0x130,
                driver: 0x160,
                pfn: None,
                pagefile_hash: 0x5c8,
                shared_commit: Some(0x158),
            },
        ),
        "win10-1809-x64" => (
            0x24c0,
            (0x2b0, 0x280, 0x2c0, Some(0x2d0)),
            VsOffsets {
                max_nonpaged: 0x90,
                size_paged: 0x98,
                paged_allocated: 0x58 + 0x30,
                nonpaged_commit: 0x100,
                small_nonpaged_ptes: Some(0x108),
                boot: 0x110,
                mdl: 0x118,
                contiguous: None,
                system_page_tables: 0x120,
                driver: 0x138,
                pfn: Some(0x140),
                pagefile_hash: 0x8a8,
                shared_commit: None,
            },
        ),
        "win10-2004-x64" => (
            0x2600,
            (0x2b0, 0x280, 0x2c0, Some(0x2d0)),
            VsOffsets {
                max_nonpaged: 0x30,
                size_paged: 0x38,
                paged_allocated: 0x18 + 0x10,
                nonpaged_commit: 0xa0,
                small_nonpaged_ptes: Some(0xa8),
                boot: 0xb0,
                mdl: 0xb8,
                contiguous: None,
                system_page_tables: 0xc0,
                driver: 0xd0,
                pfn: Some(0xd8),
                pagefile_hash: 0x928,
                shared_commit: None,
            },
        ),
        "win2022-x64" => (
            0x4200,
            (0x320, 0x2c0, 0x330, Some(0x340)),
            VsOffsets {
                max_nonpaged: 0x30,
                size_paged: 0x38,
                paged_allocated: 0x18 + 0x10,
                nonpaged_commit: 0xa0,
                small_nonpaged_ptes: Some(0xa8),
                boot: 0xb0,
                mdl: 0xb8,
                contiguous: Some(0xc0),
                system_page_tables: 0xc8,
                driver: 0xd8,
                pfn: Some(0xe0),
                pagefile_hash: 0x928,
                shared_commit: None,
            },
        ),
        "win11-21h2-x64" => (
            0x4400,
            (0x320, 0x2c0, 0x330, Some(0x340)),
            VsOffsets {
                max_nonpaged: 0x30,
                size_paged: 0x38,
                paged_allocated: 0x18 + 0x10,
                nonpaged_commit: 0x98,
                small_nonpaged_ptes: Some(0xa0),
                boot: 0xa8,
                mdl: 0xb0,
                contiguous: Some(0xb8),
                system_page_tables: 0xc0,
                driver: 0xd0,
                pfn: Some(0xd8),
                pagefile_hash: 0x928,
                shared_commit: None,
            },
        ),
        _ => return None,
    })
}

/// The figures written (pages): distinct values so that a line read from the wrong field shows.
const MODIFIED_PF: u64 = 0x19e;
const MODIFIED_NO_WRITE: u64 = 0x1c;
const LOCKED_FILE: u64 = 0xf;
const SLAB: u64 = 0x1200;
const NONPAGED_COMMIT: u64 = 0x2f73;
const SMALL_NP_PTES: u64 = 0x2fe;
const BOOT: u64 = 0x877;
const MDL: u64 = 0x562;
const CONTIGUOUS: u64 = 0x6;
const SYSTEM_PAGE_TABLES: u64 = 0x1be;
const PFN: u64 = 0x1a1f;
const PAGEFILE_HASH: u64 = 0x3;

impl Build {
    /// Writes the Windows 10/11 counters (and Windows 7/8.1's `MmTotalPagesForPagingFile`) and
    /// records them in `vm`.
    pub(crate) fn write_vm_win10(
        &mut self,
        c: &VmCounters,
        paged_pool_pages: u64,
        nonpaged_max_pages: u64,
        vm: &mut manifest::Vm,
    ) {
        if let Some(va) = self.global("MmTotalPagesForPagingFile") {
            self.s.ptr(va, MODIFIED_PF);
            vm.modified_pf_pages = Some(MODIFIED_PF);
        }
        let (Some((vs_off, vp_offs, vs)), VmSource::Partition { vp, .. }) =
            (win10(self.p.name), self.p.vm)
        else {
            return;
        };
        if let Some(part) = self.global("MiSystemPartition") {
            let v = part + vp;
            let (pf, nowrite, locked, slab) = vp_offs;
            self.s.wn(v + pf, MODIFIED_PF, 8);
            self.s.wn(v + nowrite, MODIFIED_NO_WRITE, 8);
            self.s.wn(v + locked, LOCKED_FILE, 8);
            vm.modified_pf_pages = Some(MODIFIED_PF);
            vm.modified_no_write_pages = Some(MODIFIED_NO_WRITE);
            vm.process_locked_file_pages = Some(LOCKED_FILE);
            if let Some(o) = slab {
                self.s.wn(v + o, SLAB, 8);
                vm.slab_allocator_pages = Some(SLAB);
            }
        }
        let Some(st) = self.global("MiState") else {
            return;
        };
        let base = st + vs_off;
        let driver = c.driver_commit_pages.unwrap_or(0x4c2);
        let shared = c.shared_commit_pages.unwrap_or(0x2b1);
        let mut put = |o: u64, v: u64, width: u8| self.s.wn(base + o, v, width);
        put(vs.max_nonpaged, nonpaged_max_pages, 8);
        // The old globals, where the profile has them too, hold the same maxima.
        vm.nonpaged_pool_max_pages = Some(nonpaged_max_pages);
        put(vs.size_paged, vm.paged_pool_max_pages.unwrap_or(0x4000), 8);
        vm.paged_pool_max_pages = Some(vm.paged_pool_max_pages.unwrap_or(0x4000));
        put(vs.paged_allocated, paged_pool_pages, 8);
        vm.paged_pool_pages = Some(paged_pool_pages);
        put(vs.nonpaged_commit, NONPAGED_COMMIT, 8);
        vm.nonpaged_pool_commit_pages = Some(NONPAGED_COMMIT);
        put(vs.boot, BOOT, 8);
        vm.boot_commit_pages = Some(BOOT);
        put(vs.mdl, MDL, 8);
        vm.mdl_pages = Some(MDL);
        put(vs.system_page_tables, SYSTEM_PAGE_TABLES, 8);
        vm.system_page_table_pages = Some(SYSTEM_PAGE_TABLES);
        put(vs.driver, driver, 4);
        vm.driver_commit_pages = Some(driver);
        put(vs.pagefile_hash, PAGEFILE_HASH, 8);
        vm.pagefile_hash_pages = Some(PAGEFILE_HASH);
        if let Some(o) = vs.small_nonpaged_ptes {
            put(o, SMALL_NP_PTES, 8);
            vm.small_nonpaged_ptes_commit_pages = Some(SMALL_NP_PTES);
        }
        if let Some(o) = vs.contiguous {
            put(o, CONTIGUOUS, 8);
            vm.contiguous_pages = Some(CONTIGUOUS);
        }
        if let Some(o) = vs.pfn {
            put(o, PFN, 8);
            vm.pfn_array_commit_pages = Some(PFN);
        }
        if let Some(o) = vs.shared_commit {
            put(o, shared, 8);
            vm.shared_commit_pages = Some(shared);
        }
    }
}

/// `_SEGMENT_HEAP.MemStats` (`_HEAP_RUNTIME_MEMORY_STATS`) + `TotalCommittedPages` (+8): 0x80 + 8 on
/// 19041 (docs/POOL_INTERNALS.md §3.2, checked against the ISFs), 0x80 + 8 on 20348 / 22000.
const HEAP_TOTAL_COMMITTED: u64 = 0x80 + 8;

impl Build {
    /// `NonPagedPoolNx Usage` on the segment heap, derived as `!vm` derives it: the NX heaps'
    /// (`Heaps[1]`) committed pages as segheap.rs wrote them into `MemStats.TotalCommittedPages`.
    pub(crate) fn record_vm_segment_heap(
        &mut self,
        seg: Option<&manifest::SegmentHeap>,
        vm: &mut manifest::Vm,
    ) {
        let Some(seg) = seg else {
            return;
        };
        let mut total = 0u64;
        for h in seg.heaps.iter().filter(|h| h.pool_type == "NonPagedPoolNx") {
            // The 8 bytes lie in one page (the heap is page-aligned); the page is mapped already.
            let va = h.address.0 + HEAP_TOTAL_COMMITTED;
            let pfn = self.s.mmu.ensure(&mut self.s.mem, va);
            let mut b = [0u8; 8];
            self.s.mem.read(pfn * 0x1000 + va % 0x1000, &mut b);
            total += u64::from_le_bytes(b);
        }
        vm.nonpaged_pool_nx_pages = Some(total);
    }
}
