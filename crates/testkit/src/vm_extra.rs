//! The `!vm` figures beyond the basic counters: paging files, free system PTEs and special pool
//! pages, written where each profile's real build keeps them.
//!
//! Every offset and RVA below is taken from the public ntkrnlmp.pdb ISF file of the profile's
//! build (JPCERTCC/Windows-Symbol-Tables, `shared/data/isf`; the GUIDs are the profiles'):
//! - Windows 7 / 8.1: globals `MmNumberOfPagingFiles` (ULONG), `MmPagingFile` (`_MMPAGING_FILE*
//!   [16]`), `MiSystemPteInfo` (`_MI_SYSTEM_PTE_TYPE`; `TotalFreeSystemPtes` is a `long` at 0x34
//!   on 7, a `ULONG_PTR` at 0x58 on 8.1), `MmSpecialPagesInUse` (ULONG_PTR);
//! - Windows 10 / 11: `MiSystemPartition.Vp.NumberOfPagingFiles` (0x18, ULONG) and
//!   `.PagingFile[16]` (0x20); `MiState.Vs` (`_MI_SYSTEM_INFORMATION.Vs`, a `_MI_VISIBLE_STATE`)
//!   `.SystemPteInfo.TotalFreeSystemPtes` and (1607, 1809 only) `.SpecialPagesInUse`.
//!
//! `_MMPAGING_FILE`: `Size` 0, `MaximumSize` 8, `MinimumSize` 0x10, `FreeSpace` 0x18 (ULONG_PTR
//! pages) on every x64 build here; `PageFileName` (`_UNICODE_STRING`) at 0x48 (7), 0x70 (8.1),
//! 0x60 (10/11). The x86 and Server 2003 profiles have synthetic symbols: nothing is written there
//! (no reader could find it without the real PDB), and the manifest leaves the figures out.

use crate::builder::{Build, VmCounters};
use crate::manifest;
use crate::profile::VmSource;

/// Where a profile keeps the extra figures.
struct Extra {
    /// Old globals (RVAs): (MmNumberOfPagingFiles, MmPagingFile, MiSystemPteInfo, MmSpecialPagesInUse).
    globals: Option<(u64, u64, u64, u64)>,
    /// `_MI_SYSTEM_INFORMATION.Vs`, `_MI_VISIBLE_STATE.SystemPteInfo`,
    /// `_MI_VISIBLE_STATE.SpecialPagesInUse`.
    mi_state_vs: Option<(u64, u64, Option<u64>)>,
    /// `_MI_SYSTEM_PTE_TYPE.TotalFreeSystemPtes` and its width.
    total_free: (u64, u8),
    /// `_MMPAGING_FILE.PageFileName`.
    page_file_name: u64,
}

fn extra(profile: &str) -> Option<Extra> {
    Some(match profile {
        "win7sp1-x64" => Extra {
            globals: Some((0x223324, 0x2232a0, 0x221540, 0x223830)),
            mi_state_vs: None,
            total_free: (0x34, 4),
            page_file_name: 0x48,
        },
        "win81-x64" => Extra {
            globals: Some((0x2b31f8, 0x2b30e0, 0x2b2760, 0x2b3048)),
            mi_state_vs: None,
            total_free: (0x58, 8),
            page_file_name: 0x70,
        },
        "win10-1607-x64" => Extra {
            globals: None,
            mi_state_vs: Some((0x1380, 0xb0, Some(0x138))),
            total_free: (0x60, 8),
            page_file_name: 0x60,
        },
        "win10-1809-x64" => Extra {
            globals: None,
            mi_state_vs: Some((0x24c0, 0xa0, Some(0x128))),
            total_free: (0x58, 8),
            page_file_name: 0x60,
        },
        "win10-2004-x64" => Extra {
            globals: None,
            mi_state_vs: Some((0x2600, 0x40, None)),
            total_free: (0x58, 8),
            page_file_name: 0x60,
        },
        "win2022-x64" => Extra {
            globals: None,
            mi_state_vs: Some((0x4200, 0x40, None)),
            total_free: (0x58, 8),
            page_file_name: 0x60,
        },
        "win11-21h2-x64" => Extra {
            globals: None,
            mi_state_vs: Some((0x4400, 0x40, None)),
            total_free: (0x50, 8),
            page_file_name: 0x60,
        },
        _ => return None,
    })
}

/// `_MI_VISIBLE_PARTITION.NumberOfPagingFiles` / `.PagingFile` (every Windows 10/11 ISF here).
const VP_NUMBER_OF_PAGING_FILES: u64 = 0x18;
const VP_PAGING_FILE: u64 = 0x20;
/// The paging file testkit configures: 1 GiB now, 1 GiB minimum, 3 GiB maximum.
const PAGE_FILE_NAME: &str = "\\??\\C:\\pagefile.sys";
const PF_CURRENT: u64 = 0x4_0000;
const PF_MINIMUM: u64 = 0x4_0000;
const PF_MAXIMUM: u64 = 0xc_0000;
/// Default free system PTEs (the seed's `!vm` sample) and special pool pages.
const FREE_PTES: u64 = 45089;
const SPECIAL_PAGES: u64 = 0x1d;

impl Build {
    /// Writes the paging file, free system PTEs and special pool pages where the profile's build
    /// keeps them, and records them in `vm`.
    pub(crate) fn write_vm_extra(&mut self, c: &VmCounters, vm: &mut manifest::Vm) {
        let Some(x) = extra(self.p.name) else {
            return;
        };
        let free_ptes = c.free_system_ptes.unwrap_or(FREE_PTES);
        let special = c.special_pool_pages.unwrap_or(SPECIAL_PAGES);
        // ---- the paging file -----------------------------------------------------------------
        let name: Vec<u8> = PAGE_FILE_NAME
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let buf = self.sys_alloc(name.len() as u64, 16);
        self.s.w(buf, &name);
        let pf = self.sys_alloc(0x200, 16);
        let free = PF_CURRENT - PF_CURRENT / 64;
        self.s.ptr(pf, PF_CURRENT);
        self.s.ptr(pf + 8, PF_MAXIMUM);
        self.s.ptr(pf + 0x10, PF_MINIMUM);
        self.s.ptr(pf + 0x18, free);
        let us = pf + x.page_file_name;
        self.s.wn(us, name.len() as u64, 2);
        self.s.wn(us + 2, name.len() as u64, 2);
        self.s.ptr(us + 8, buf);
        let (count_va, array_va) = match (x.globals, self.p.vm) {
            (Some((n, a, _, _)), _) => (Some(self.kernel_base + n), Some(self.kernel_base + a)),
            (None, VmSource::Partition { vp, .. }) => match self.global("MiSystemPartition") {
                Some(part) => (
                    Some(part + vp + VP_NUMBER_OF_PAGING_FILES),
                    Some(part + vp + VP_PAGING_FILE),
                ),
                None => (None, None),
            },
            _ => (None, None),
        };
        if let (Some(n), Some(a)) = (count_va, array_va) {
            self.s.wn(n, 1, 4);
            self.s.ptr(a, pf);
            vm.page_files = Some(vec![manifest::PageFile {
                name: Some(PAGE_FILE_NAME.into()),
                current_pages: PF_CURRENT,
                free_pages: free,
                minimum_pages: PF_MINIMUM,
                maximum_pages: PF_MAXIMUM,
            }]);
        }
        // ---- free system PTEs and special pool -----------------------------------------------
        let (off, width) = x.total_free;
        if let Some((_, _, pte_info, special_va)) = x.globals {
            self.s
                .wn(self.kernel_base + pte_info + off, free_ptes, width);
            vm.free_system_ptes = Some(free_ptes);
            self.s.ptr(self.kernel_base + special_va, special);
            vm.special_pool_pages = Some(special);
        }
        if let Some((vs, pte_info, special_off)) = x.mi_state_vs
            && let Some(st) = self.global("MiState")
        {
            self.s.wn(st + vs + pte_info + off, free_ptes, width);
            vm.free_system_ptes = Some(free_ptes);
            if let Some(so) = special_off {
                self.s.ptr(st + vs + so, special);
                vm.special_pool_pages = Some(special);
            }
        }
    }
}
