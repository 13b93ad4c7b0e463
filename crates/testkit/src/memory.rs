//! The sparse physical memory of a synthetic machine, and the page tables the builder writes into it.

use std::collections::{BTreeMap, BTreeSet};

use crate::profile::Arch;

/// Page size.
pub const PAGE: u64 = 0x1000;

/// Sparse physical memory: PFN → page, plus the machine's physical runs and the PFNs that are mapped
/// but deliberately absent from every dump.
///
/// A PFN inside a run with no stored page reads as zeros. A PFN outside every run is not in the dump.
#[derive(Debug, Clone, Default)]
pub struct PhysicalMemory {
    pages: BTreeMap<u64, Box<[u8]>>,
    runs: Vec<(u64, u64)>,
    absent: BTreeSet<u64>,
}

impl PhysicalMemory {
    /// Memory with these runs of `(base_pfn, page_count)`.
    pub fn new(runs: Vec<(u64, u64)>) -> Self {
        PhysicalMemory {
            pages: BTreeMap::new(),
            runs,
            absent: BTreeSet::new(),
        }
    }

    /// The physical runs `(base_pfn, page_count)`, ascending, as a full dump describes them.
    pub fn runs(&self) -> &[(u64, u64)] {
        &self.runs
    }

    /// Total pages in the runs.
    pub fn total_pages(&self) -> u64 {
        self.runs.iter().map(|r| r.1).sum()
    }

    /// Highest PFN + 1 of the runs.
    pub fn end_pfn(&self) -> u64 {
        self.runs.iter().map(|r| r.0 + r.1).max().unwrap_or(0)
    }

    /// Whether `pfn` is inside a run (and so in a full dump).
    pub fn in_runs(&self, pfn: u64) -> bool {
        self.runs.iter().any(|&(b, c)| pfn >= b && pfn < b + c)
    }

    /// PFNs the page tables map but no dump holds.
    pub fn absent(&self) -> &BTreeSet<u64> {
        &self.absent
    }

    pub(crate) fn mark_absent(&mut self, pfn: u64) {
        self.absent.insert(pfn);
        self.pages.remove(&pfn);
    }

    /// The stored page, `None` when it is all zeros (or absent).
    pub fn page(&self, pfn: u64) -> Option<&[u8]> {
        self.pages.get(&pfn).map(|p| &p[..])
    }

    /// Every stored (non-zero) page, ascending by PFN.
    pub fn stored(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.pages.iter().map(|(k, v)| (*k, &v[..]))
    }

    /// Number of stored pages.
    pub fn stored_count(&self) -> usize {
        self.pages.len()
    }

    pub(crate) fn page_mut(&mut self, pfn: u64) -> &mut [u8] {
        self.pages
            .entry(pfn)
            .or_insert_with(|| vec![0u8; PAGE as usize].into_boxed_slice())
    }

    /// Reads physical memory (zeros where nothing is stored).
    pub fn read(&self, pa: u64, buf: &mut [u8]) {
        let mut done = 0usize;
        while done < buf.len() {
            let a = pa + done as u64;
            let off = (a % PAGE) as usize;
            let n = (PAGE as usize - off).min(buf.len() - done);
            match self.pages.get(&(a / PAGE)) {
                Some(p) => buf[done..done + n].copy_from_slice(&p[off..off + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
    }

    /// Writes physical memory.
    pub fn write(&mut self, pa: u64, data: &[u8]) {
        let mut done = 0usize;
        while done < data.len() {
            let a = pa + done as u64;
            let off = (a % PAGE) as usize;
            let n = (PAGE as usize - off).min(data.len() - done);
            let page = self.page_mut(a / PAGE);
            page[off..off + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
    }

    /// Drops stored pages that are all zeros (they read the same).
    pub(crate) fn compact(&mut self) {
        self.pages.retain(|_, p| p.iter().any(|&b| b != 0));
    }
}

/// A PTE that is not valid, as the builder writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftPte {
    /// Paged out: page file number (0..15) and page offset in the file.
    PageFile {
        /// PageFileLow.
        file: u64,
        /// PageFileHigh (offset in pages).
        offset: u64,
    },
    /// In transition: the page is still in memory at this PFN.
    Transition {
        /// PFN.
        pfn: u64,
    },
}

/// `MM_READWRITE` protection (4) in bits 5..9 of a software PTE.
const PROT_RW: u64 = 4 << 5;

/// Encodes a software PTE for `arch`; `file_low_bit` is where PageFileLow starts (1 or 12, see
/// [`crate::profile::Profile::page_file_low_bit`]).
///
/// Layout (`_MMPTE_SOFTWARE` / `_MMPTE_TRANSITION`, checked against the ISF files in tests/isf.rs):
/// Valid bit 0 = 0, Protection bits 5..9, Prototype bit 10, Transition bit 11; PageFileHigh at bit 32
/// (x64, PAE) or bit 12 (x86 2-level); transition PFN at bit 12. SwizzleBit (bit 4, L1TF-era builds)
/// stays 0: the synthetic machine's invalid-PTE mask is 0, so nothing is swizzled.
pub fn encode_soft_pte(arch: Arch, pte: SoftPte, file_low_bit: u32) -> u64 {
    match pte {
        SoftPte::PageFile { file, offset } => {
            let high_shift = if arch == Arch::X86 { 12 } else { 32 };
            ((file & 0xf) << file_low_bit) | PROT_RW | (offset << high_shift)
        }
        SoftPte::Transition { pfn } => (pfn << 12) | (1 << 11) | PROT_RW,
    }
}

/// Valid kernel PTE/PDE flags: present, writable, accessed, dirty.
pub const VALID_FLAGS: u64 = 0x63;

/// Page tables under construction, with a physical page allocator.
#[derive(Debug)]
pub(crate) struct Mmu {
    pub arch: Arch,
    pub dtb: u64,
    /// Self-map PML4 index (x64) or PD index 0x300 (x86).
    pub self_map: u64,
    next_pfn: u64,
    limit_pfn: u64,
    /// VA page → PFN for valid mappings.
    pub mapped: BTreeMap<u64, u64>,
    /// Set when allocation ran past the end of memory.
    pub overflow: bool,
    /// Every PFN handed out (page tables included): what a kernel dump holds.
    pub allocated: std::collections::BTreeSet<u64>,
    rng: crate::rng::Rng,
}

impl Mmu {
    pub fn new(
        arch: Arch,
        mem: &mut PhysicalMemory,
        self_map: u64,
        first_pfn: u64,
        limit_pfn: u64,
        rng: crate::rng::Rng,
    ) -> Self {
        let mut mmu = Mmu {
            arch,
            dtb: 0,
            self_map,
            next_pfn: first_pfn,
            limit_pfn,
            mapped: BTreeMap::new(),
            overflow: false,
            allocated: std::collections::BTreeSet::new(),
            rng,
        };
        match arch {
            Arch::X64 => {
                let pml4 = mmu.alloc_pfn(mem);
                mmu.dtb = pml4 * PAGE;
                mmu.write_entry(mem, mmu.dtb, self_map, mmu.dtb | VALID_FLAGS);
            }
            Arch::X86 => {
                let pd = mmu.alloc_pfn(mem);
                mmu.dtb = pd * PAGE;
                mmu.write_entry(mem, mmu.dtb, 0x300, mmu.dtb | VALID_FLAGS);
            }
            Arch::X86Pae => {
                let pdpt = mmu.alloc_pfn(mem);
                mmu.dtb = pdpt * PAGE;
                let mut pds = [0u64; 4];
                for (i, pd) in pds.iter_mut().enumerate() {
                    *pd = mmu.alloc_pfn(mem) * PAGE;
                    // PDPT entries carry only the present bit (other low bits are reserved).
                    mmu.write_entry(mem, mmu.dtb, i as u64, *pd | 1);
                }
                // The self-map: PD3 entries 0..3 (VA 0xC0000000..0xC07FFFFF) map the four PDs.
                for (i, pd) in pds.iter().enumerate() {
                    mmu.write_entry(mem, pds[3], i as u64, pd | VALID_FLAGS);
                }
            }
        }
        mmu
    }

    /// Allocates a fresh physical page (zeroed, stored), spreading pages with small seeded gaps.
    /// Past the end of memory it keeps going and sets `overflow`, which `build()` reports.
    pub fn alloc_pfn(&mut self, mem: &mut PhysicalMemory) -> u64 {
        loop {
            let pfn = self.next_pfn;
            if pfn >= self.limit_pfn {
                self.overflow = true;
                self.next_pfn += 1;
                mem.page_mut(pfn);
                return pfn;
            }
            self.next_pfn += 1 + (self.rng.next_u64() % 3);
            if mem.in_runs(pfn) && mem.page(pfn).is_none() && !mem.absent.contains(&pfn) {
                mem.page_mut(pfn);
                self.allocated.insert(pfn);
                return pfn;
            }
        }
    }

    fn entry_size(&self) -> u64 {
        if self.arch == Arch::X86 { 4 } else { 8 }
    }

    fn write_entry(&self, mem: &mut PhysicalMemory, table: u64, index: u64, value: u64) {
        let es = self.entry_size();
        if es == 4 {
            mem.write(table + index * 4, &(value as u32).to_le_bytes());
        } else {
            mem.write(table + index * 8, &value.to_le_bytes());
        }
    }

    fn read_entry(&self, mem: &PhysicalMemory, table: u64, index: u64) -> u64 {
        let es = self.entry_size();
        let mut b = [0u8; 8];
        mem.read(table + index * es, &mut b[..es as usize]);
        u64::from_le_bytes(b)
    }

    /// Indices from the top level down to the PTE.
    fn indices(&self, va: u64) -> Vec<u64> {
        match self.arch {
            Arch::X64 => vec![
                (va >> 39) & 0x1ff,
                (va >> 30) & 0x1ff,
                (va >> 21) & 0x1ff,
                (va >> 12) & 0x1ff,
            ],
            Arch::X86 => vec![(va >> 22) & 0x3ff, (va >> 12) & 0x3ff],
            Arch::X86Pae => vec![(va >> 30) & 3, (va >> 21) & 0x1ff, (va >> 12) & 0x1ff],
        }
    }

    /// The physical address of the PTE for `va`, creating intermediate tables.
    fn pte_address(&mut self, mem: &mut PhysicalMemory, va: u64) -> u64 {
        let idx = self.indices(va);
        let mut table = self.dtb;
        for (level, &i) in idx.iter().enumerate() {
            if level == idx.len() - 1 {
                return table + i * self.entry_size();
            }
            let e = self.read_entry(mem, table, i);
            let next = if e & 1 == 1 {
                e & 0x000f_ffff_ffff_f000
            } else {
                let pfn = self.alloc_pfn(mem);
                let flags = if self.arch == Arch::X86Pae && level == 0 {
                    1
                } else {
                    VALID_FLAGS
                };
                self.write_entry(mem, table, i, (pfn * PAGE) | flags);
                pfn * PAGE
            };
            table = next;
        }
        table
    }

    /// Maps `va` (page) to `pfn` as a valid page.
    pub fn map(&mut self, mem: &mut PhysicalMemory, va: u64, pfn: u64) {
        let pte = self.pte_address(mem, va);
        let es = self.entry_size();
        let value = (pfn * PAGE) | VALID_FLAGS;
        if es == 4 {
            mem.write(pte, &(value as u32).to_le_bytes());
        } else {
            mem.write(pte, &value.to_le_bytes());
        }
        self.mapped.insert(va & !(PAGE - 1), pfn);
    }

    /// Writes a raw (not valid) PTE for `va`; returns the value written.
    pub fn map_soft(
        &mut self,
        mem: &mut PhysicalMemory,
        va: u64,
        soft: SoftPte,
        file_low_bit: u32,
    ) -> u64 {
        let pte = self.pte_address(mem, va);
        let value = encode_soft_pte(self.arch, soft, file_low_bit);
        if self.entry_size() == 4 {
            mem.write(pte, &(value as u32).to_le_bytes());
        } else {
            mem.write(pte, &value.to_le_bytes());
        }
        self.mapped.remove(&(va & !(PAGE - 1)));
        value
    }

    /// The PFN backing `va`, mapping a fresh page when it is not mapped yet.
    pub fn ensure(&mut self, mem: &mut PhysicalMemory, va: u64) -> u64 {
        let page = va & !(PAGE - 1);
        if let Some(&pfn) = self.mapped.get(&page) {
            return pfn;
        }
        let pfn = self.alloc_pfn(mem);
        self.map(mem, page, pfn);
        pfn
    }

    /// The virtual address of the PTE for `va` through the self-map.
    pub fn pte_va(&self, va: u64) -> u64 {
        match self.arch {
            Arch::X64 => {
                let base = 0xffff_0000_0000_0000 | (self.self_map << 39);
                base + ((va & 0x0000_ffff_ffff_f000) >> 12) * 8
            }
            Arch::X86 => 0xc000_0000 + ((va & 0xffff_f000) >> 12) * 4,
            Arch::X86Pae => 0xc000_0000 + ((va & 0xffff_f000) >> 12) * 8,
        }
    }

    /// The base of the PTE array (KDBG PteBase on 1607+).
    pub fn pte_base(&self) -> u64 {
        self.pte_va(0)
    }
}
