//! Finding the kernel in raw memory images (no dump header): the DTB by its self-map entry, the
//! kernel's PDB identity by its `RSDS` record, and the kernel image base by scanning kernel space.
//!
//! The methods are those memflow and Volatility 3 describe (facts only, no code taken):
//! * Volatility 3 `volatility3/framework/automagic/windows.py` (`DtbSelfRef64`: a page-map page
//!   whose entry at an index in 0x100..=0x1FF maps the page itself; `DtbSelfRef32bit`: a page
//!   directory whose entry 0x300 maps itself), and its `PdbSignatureScanner` (physical scan for an
//!   `RSDS` record naming a kernel PDB);
//! * memflow-win32 (`kernel/ntos`): scan kernel space for an `MZ` image whose export name or PDB
//!   names the kernel.

use crate::PdbId;
use crate::memory::{KernelMemory, PhysicalMemory};
use crate::pe;

/// The PDB names of Windows kernels.
pub const KERNEL_PDB_NAMES: &[&str] = &[
    "ntkrnlmp.pdb",
    "ntoskrnl.pdb",
    "ntkrnlpa.pdb",
    "ntkrpamp.pdb",
];

/// Candidates returned by a scan are at most this many.
pub const MAX_CANDIDATES: usize = 64;

/// A DTB candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtbCandidate {
    /// Physical address of the top-level page table.
    pub dtb: u64,
    /// The self-map index.
    pub index: usize,
    /// Present entries in the kernel half (more is more convincing).
    pub kernel_entries: usize,
}

/// The x64 PFN mask of a page-table entry (bits 12..=51).
const PFN_MASK_64: u64 = 0x000F_FFFF_FFFF_F000;

/// Scans physical memory for x64 PML4 pages that map themselves at an index in 0x100..=0x1FF
/// (present and writable, not user, not NX), with at least `min_kernel` other present kernel-half
/// entries. Ordered by the number of kernel-half entries, most first.
pub fn find_dtb_x64(phys: &dyn PhysicalMemory, min_kernel: usize) -> Vec<DtbCandidate> {
    let mut out = Vec::new();
    let mut page = vec![0u8; 0x1000];
    for pfn in phys.present_pages() {
        let Some(pa) = pfn.checked_mul(0x1000) else {
            break;
        };
        if phys.read_physical(pa, &mut page).is_err() {
            continue;
        }
        let e = |i: usize| u64::from_le_bytes(page[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        let self_index = (0x100..0x200).find(|&i| {
            let v = e(i);
            // Present, writable, supervisor; the PFN is the page itself.
            v & 0x7 == 0x3 && v & PFN_MASK_64 == pa
        });
        let Some(index) = self_index else {
            continue;
        };
        let kernel_entries = (0x100..0x200)
            .filter(|&i| i != index && e(i) & 1 == 1)
            .count();
        if kernel_entries >= min_kernel {
            out.push(DtbCandidate {
                dtb: pa,
                index,
                kernel_entries,
            });
            if out.len() >= MAX_CANDIDATES {
                break;
            }
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.kernel_entries));
    out
}

/// Scans physical memory for x86 (non-PAE) page directories whose entry 0x300 maps themselves.
pub fn find_dtb_x86(phys: &dyn PhysicalMemory) -> Vec<DtbCandidate> {
    let mut out = Vec::new();
    let mut page = vec![0u8; 0x1000];
    for pfn in phys.present_pages() {
        let Some(pa) = pfn.checked_mul(0x1000) else {
            break;
        };
        if pa > 0xFFFF_FFFF || phys.read_physical(pa, &mut page).is_err() {
            continue;
        }
        let e = |i: usize| u32::from_le_bytes(page[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4]));
        let v = e(0x300);
        if v & 0x3 == 0x3 && u64::from(v & 0xFFFF_F000) == pa {
            let kernel_entries = (0x200..0x400)
                .filter(|&i| i != 0x300 && e(i) & 1 == 1)
                .count();
            out.push(DtbCandidate {
                dtb: pa,
                index: 0x300,
                kernel_entries,
            });
            if out.len() >= MAX_CANDIDATES {
                break;
            }
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.kernel_entries));
    out
}

/// Scans physical memory for x86-PAE page tables and returns their PDPTs.
///
/// In PAE mode Windows maps its page tables at `0xC0000000` (PTE base) and the four page directories
/// at `0xC0600000` (PDE base): entries 0..=3 of the fourth page directory (the one for
/// `0xC0000000..=0xFFFFFFFF`) point to the four page directories, entry 3 to itself (Intel SDM vol. 3
/// §4.4 for the PAE structures; the bases are the documented PAE values of `!pte`, and testkit builds
/// them the same way). The PDPT itself is not self-mapped: once such a directory is found, a second
/// pass looks for the 32-byte-aligned PDPT below 4 GiB whose four entries are those directories
/// (present, reserved bits clear). The result's `dtb` is that PDPT (the PAE CR3); `index` is 3.
pub fn find_dtb_x86_pae(phys: &dyn PhysicalMemory) -> Vec<DtbCandidate> {
    // PDPTE reserved bits in PAE mode: 1, 2, 5..=8 and 52..=63 (Intel SDM vol. 3 table 4-8).
    const PDPTE_RESERVED: u64 = 0xFFF0_0000_0000_01E6;
    let mut page = vec![0u8; 0x1000];
    // (the four page directories, kernel entries) of each fourth directory found.
    let mut directories: Vec<([u64; 4], usize)> = Vec::new();
    for pfn in phys.present_pages() {
        let Some(pa) = pfn.checked_mul(0x1000) else {
            break;
        };
        if phys.read_physical(pa, &mut page).is_err() {
            continue;
        }
        let e = |i: usize| u64::from_le_bytes(page[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        // Entry 3 maps this very page (present, writable, supervisor).
        if e(3) & 0x7 != 0x3 || e(3) & PFN_MASK_64 != pa {
            continue;
        }
        let pds = [e(0), e(1), e(2), e(3)].map(|v| v & PFN_MASK_64);
        let distinct = (0..4).all(|i| (0..i).all(|j| pds[i] != pds[j]));
        if !distinct || (0..3).any(|i| e(i) & 0x3 != 0x3) {
            continue;
        }
        let kernel_entries = (4..0x200).filter(|&i| e(i) & 1 == 1).count();
        directories.push((pds, kernel_entries));
        if directories.len() >= MAX_CANDIDATES {
            break;
        }
    }
    let mut out = Vec::new();
    if directories.is_empty() {
        return out;
    }
    'pages: for pfn in phys.present_pages() {
        let Some(pa) = pfn.checked_mul(0x1000) else {
            break;
        };
        if pa > 0xFFFF_FFFF || phys.read_physical(pa, &mut page).is_err() {
            continue;
        }
        for at in (0..0x1000).step_by(0x20) {
            let e = |i: usize| {
                u64::from_le_bytes(
                    page[at + i * 8..at + i * 8 + 8]
                        .try_into()
                        .unwrap_or([0; 8]),
                )
            };
            let entries = [e(0), e(1), e(2), e(3)];
            if entries
                .iter()
                .any(|v| v & 1 != 1 || v & PDPTE_RESERVED != 0)
            {
                continue;
            }
            let frames = entries.map(|v| v & PFN_MASK_64);
            if let Some((_, kernel_entries)) = directories.iter().find(|(pds, _)| *pds == frames) {
                out.push(DtbCandidate {
                    dtb: pa + at as u64,
                    index: 3,
                    kernel_entries: *kernel_entries,
                });
                if out.len() >= MAX_CANDIDATES {
                    break 'pages;
                }
            }
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.kernel_entries));
    out
}

/// An `RSDS` record found in physical memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsdsHit {
    /// Physical address of the record.
    pub pa: u64,
    /// What it names.
    pub pdb: PdbId,
}

/// Scans physical memory for `RSDS` records naming a kernel PDB ([`KERNEL_PDB_NAMES`]). Records
/// that straddle a page boundary are found too (each page is read with the next one's first bytes).
pub fn find_kernel_rsds(phys: &dyn PhysicalMemory) -> Vec<RsdsHit> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 0x1000 + 0x200];
    for pfn in phys.present_pages() {
        let Some(pa) = pfn.checked_mul(0x1000) else {
            break;
        };
        if phys.read_physical(pa, &mut buf[..0x1000]).is_err() {
            continue;
        }
        let tail = phys
            .read_physical(pa.wrapping_add(0x1000), &mut buf[0x1000..])
            .is_ok();
        let len = if tail { buf.len() } else { 0x1000 };
        let hay = &buf[..len];
        let mut at = 0;
        while let Some(pos) = hay[at..].windows(4).position(|w| w == b"RSDS") {
            let i = at + pos;
            if i >= 0x1000 {
                break;
            }
            if let Some(pdb) = pe::parse_rsds(&hay[i..])
                && KERNEL_PDB_NAMES.contains(&pdb.name.as_str())
            {
                out.push(RsdsHit {
                    pa: pa.wrapping_add(i as u64),
                    pdb,
                });
                if out.len() >= MAX_CANDIDATES {
                    return out;
                }
            }
            at = i + 4;
        }
    }
    out
}

/// A kernel image found in virtual memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelHit {
    /// Image base.
    pub base: u64,
    /// The PE facts.
    pub image: pe::ImageInfo,
}

/// Scans `[start, end)` of kernel space in `step`-sized strides (0x1000 for x86 and old x64;
/// Windows 10 x64 places the kernel on a 2 MiB boundary) for an image whose export name is
/// `ntoskrnl.exe` or whose PDB is a kernel PDB. Unreadable strides are skipped; at most
/// `max_probes` addresses are tried.
pub fn find_kernel(
    mem: &dyn KernelMemory,
    start: u64,
    end: u64,
    step: u64,
    max_probes: usize,
) -> Option<KernelHit> {
    if step == 0 {
        return None;
    }
    let mut va = start;
    let mut probes = 0;
    let mut head = [0u8; 0x400];
    while va < end && probes < max_probes {
        probes += 1;
        if mem.read_virtual(va, &mut head).is_ok()
            && pe::looks_like_pe(&head)
            && let Ok(image) = pe::read_image(mem, va)
        {
            let by_export = image.export_name.as_deref().is_some_and(|n| {
                n.eq_ignore_ascii_case("ntoskrnl.exe")
                    || n.eq_ignore_ascii_case("ntkrnlmp.exe")
                    || n.eq_ignore_ascii_case("ntkrnlpa.exe")
            });
            let by_pdb = image
                .pdb
                .as_ref()
                .is_ok_and(|p| KERNEL_PDB_NAMES.contains(&p.name.as_str()));
            if by_export || by_pdb {
                return Some(KernelHit { base: va, image });
            }
        }
        va = match va.checked_add(step) {
            Some(v) => v,
            None => break,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::SparseMemory;

    #[test]
    fn finds_an_x64_self_map_and_ignores_look_alikes() {
        let mut m = SparseMemory::new();
        let dtb = 0x1ad000u64;
        // Self map at 0x1ED (old Windows) plus some kernel entries.
        m.write_u64(dtb + 0x1ED * 8, dtb | 0x63);
        for i in [0x1F0usize, 0x1FF] {
            m.write_u64(dtb + i as u64 * 8, 0x5000 | 0x63);
        }
        // A page whose "self map" is in the user half only: not a PML4 by this rule.
        let other = 0x3000u64;
        m.write_u64(other + 0x10 * 8, other | 0x63);
        // A page with a self-reference but not writable.
        let ro = 0x7000u64;
        m.write_u64(ro + 0x1ED * 8, ro | 0x61);
        let c = find_dtb_x64(&m, 1);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].dtb, c[0].index, c[0].kernel_entries), (dtb, 0x1ED, 2));
        assert!(find_dtb_x64(&m, 3).is_empty());
    }

    #[test]
    fn finds_an_x86_page_directory() {
        let mut m = SparseMemory::new();
        m.write_u32(0x39000 + 0x300 * 4, 0x39000 | 0x63);
        m.write_u32(0x4000 + 0x300 * 4, 0x5000 | 0x63);
        let c = find_dtb_x86(&m);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].dtb, 0x39000);
    }

    #[test]
    fn finds_x86_pae_page_tables_by_the_fourth_directory() {
        let mut m = SparseMemory::new();
        let pds = [0x10000u64, 0x11000, 0x12000, 0x13000];
        // The fourth directory maps the four directories at its entries 0..=3, itself at 3.
        for (i, pd) in pds.iter().enumerate() {
            m.write_u64(pds[3] + i as u64 * 8, pd | 0x63);
        }
        m.write_u64(pds[3] + 0x10 * 8, 0x20000 | 0x63); // a kernel page table
        // The PDPT, 32-byte aligned inside a page, entries with only the present bit.
        let pdpt = 0x30000u64 + 0x60;
        for (i, pd) in pds.iter().enumerate() {
            m.write_u64(pdpt + i as u64 * 8, pd | 1);
        }
        // A look-alike with a reserved bit set (bit 1) is not a PDPT.
        for (i, pd) in pds.iter().enumerate() {
            m.write_u64(0x40000 + i as u64 * 8, pd | 3);
        }
        // A directory whose entry 3 maps itself but whose other entries are absent is not one.
        m.write_u64(0x50000 + 3 * 8, 0x50000 | 0x63);
        let c = find_dtb_x86_pae(&m);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!((c[0].dtb, c[0].index, c[0].kernel_entries), (pdpt, 3, 1));
        assert!(find_dtb_x86_pae(&SparseMemory::new()).is_empty());
    }

    #[test]
    fn finds_kernel_rsds_records_even_across_pages() {
        let id = PdbId {
            name: "ntkrnlmp.pdb".into(),
            guid: "BBED7C2955FBE4522AAA23F4B8677AD9".into(),
            age: 1,
        };
        let img = pe::build_test_image(&id, "ntoskrnl.exe", 1, 0x3000);
        let cv = &img[0x2100..0x2100 + 24 + 13];
        let mut m = SparseMemory::new();
        m.write(0x10ff0, cv); // straddles 0x11000
        let mut other = cv.to_vec();
        other[24..36].copy_from_slice(b"notakrnl.pdb");
        m.write(0x20000, &other);
        let hits = find_kernel_rsds(&m);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].pa, 0x10ff0);
        assert_eq!(hits[0].pdb, id);
    }

    #[test]
    fn finds_the_kernel_in_a_virtual_range() {
        let id = PdbId {
            name: "ntkrnlmp.pdb".into(),
            guid: "BBED7C2955FBE4522AAA23F4B8677AD9".into(),
            age: 1,
        };
        let mut m = SparseMemory::new();
        // A driver first (not the kernel), then the kernel on a 2 MiB boundary.
        let drv = PdbId {
            name: "amdppm.pdb".into(),
            ..id.clone()
        };
        m.write(
            0xfffff80000000000,
            &pe::build_test_image(&drv, "amdppm.sys", 1, 0x3000),
        );
        m.write(
            0xfffff80000400000,
            &pe::build_test_image(&id, "ntoskrnl.exe", 2, 0x3000),
        );
        let hit = find_kernel(&m, 0xfffff80000000000, 0xfffff80001000000, 0x200000, 100).unwrap();
        assert_eq!(hit.base, 0xfffff80000400000);
        assert_eq!(hit.image.timestamp, 2);
        assert!(find_kernel(&m, 0xfffff80000000000, 0xfffff80001000000, 0x200000, 2).is_none());
        assert!(find_kernel(&m, 0, 10, 0, 100).is_none());
    }
}

/// Pages of a kernel image searched for a KDBG in clear at most (64 MiB).
const MAX_KDBG_SCAN_PAGES: u64 = 0x4000;

/// Finds a KDBG kept in clear inside the kernel image (raw images carry no header that points at
/// it): a `KDBG` OwnerTag at +0x10 of an 8-byte aligned block whose `KernBase` (+0x18) is the image
/// base. Windows 8+ x64 keeps the block encoded, so this finds nothing there; the encoded block is
/// found through a profile's `KdDebuggerDataBlock` RVA instead. Reads one page at a time and skips
/// unreadable pages; the image size comes from the PE header (`SizeOfImage`), bounded.
pub fn find_kdbg_in_image(mem: &dyn KernelMemory, kernel_base: u64) -> Option<u64> {
    let mut head = [0u8; 0x40];
    mem.read_virtual(kernel_base, &mut head).ok()?;
    let e_lfanew = u64::from(u32::from_le_bytes([
        head[0x3c], head[0x3d], head[0x3e], head[0x3f],
    ]));
    let mut size = [0u8; 4];
    // IMAGE_NT_HEADERS: Signature (4) + IMAGE_FILE_HEADER (0x14), then SizeOfImage at +0x38 of the
    // optional header in both PE32 and PE32+ (Microsoft PE format documentation).
    mem.read_virtual(
        kernel_base.checked_add(e_lfanew)?.checked_add(0x50)?,
        &mut size,
    )
    .ok()?;
    let pages = u64::from(u32::from_le_bytes(size))
        .div_ceil(0x1000)
        .min(MAX_KDBG_SCAN_PAGES);
    let mut page = vec![0u8; 0x1000];
    for i in 0..pages {
        let va = kernel_base.checked_add(i * 0x1000)?;
        if mem.read_virtual(va, &mut page).is_err() {
            continue;
        }
        for off in (0..0x1000 - 0x20).step_by(8) {
            if &page[off + 0x10..off + 0x14] == b"KDBG" {
                let base = u64::from_le_bytes(page[off + 0x18..off + 0x20].try_into().ok()?);
                // x86 blocks sign-extend 32-bit pointers into the 64-bit fields.
                if base == kernel_base || base as u32 as u64 == kernel_base {
                    return Some(va + off as u64);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod kdbg_scan_tests {
    use super::*;
    use crate::memory::SparseMemory;

    fn image(base: u64, size: u32) -> SparseMemory {
        let mut mem = SparseMemory::new();
        let mut head = vec![0u8; 0x1000];
        head[0] = b'M';
        head[1] = b'Z';
        head[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        head[0x80 + 0x50..0x80 + 0x54].copy_from_slice(&size.to_le_bytes());
        mem.write(base, &head);
        for p in 1..u64::from(size / 0x1000) {
            mem.write(base + p * 0x1000, &[0u8; 0x1000]);
        }
        mem
    }

    #[test]
    fn finds_the_block_naming_the_image_base() {
        let base = 0x8040_0000u64;
        let mut mem = image(base, 0x10000);
        // A decoy tag with the wrong KernBase, then the real block.
        mem.write(base + 0x3000 + 0x10, b"KDBG");
        mem.write_u64(base + 0x3000 + 0x18, 0x1234_0000);
        mem.write(base + 0x5020 + 0x10, b"KDBG");
        mem.write_u64(base + 0x5020 + 0x18, 0xffff_ffff_8040_0000);
        assert_eq!(find_kdbg_in_image(&mem, base), Some(base + 0x5020));
    }

    #[test]
    fn nothing_without_a_block_or_an_image() {
        let base = 0xfffff800_02a00000u64;
        let mem = image(base, 0x8000);
        assert_eq!(find_kdbg_in_image(&mem, base), None);
        assert_eq!(find_kdbg_in_image(&SparseMemory::new(), base), None);
    }
}
