//! Virtual-to-physical translation over any [`PhysicalMemory`]: x86 (2-level, 4 MiB pages),
//! x86-PAE (3-level, 2 MiB pages), x64 with 4 or 5 levels (2 MiB and 1 GiB pages).
//!
//! A failed translation says why ([`TranslateFault`]): not present, demand zero, paged out (with
//! the paging file and offset), prototype PTE, a page table not in the dump, a bad entry, or a
//! page-table loop. A transition entry is still in RAM and is read, as WinDbg does. Windows 10's
//! L1TF swizzling of invalid entries is undone when configured ([`Swizzle`]).
//!
//! ```
//! use dumpfile::Dump;
//! use pooldbg_paging::{AddressSpace, Mode, PagingConfig};
//! // A 4-page raw image holding x64 tables: PML4 at 0x0, PDPT 0x1000, PD 0x2000, PT 0x3000 whose
//! // entry 0 maps VA 0 onto the PT page itself.
//! let mut img = vec![0u8; 0x4000];
//! for (at, next) in [(0x0, 0x1000u64), (0x1000, 0x2000), (0x2000, 0x3000), (0x3000, 0x3000)] {
//!     img[at..at + 8].copy_from_slice(&(next | 3).to_le_bytes());
//! }
//! let dump = Dump::from_vec(img).unwrap();
//! let space = AddressSpace::new(&dump, PagingConfig::new(Mode::X64, 0));
//! assert_eq!(space.translate(0x10).unwrap().pa, 0x3010);
//! let mut buf = [0u8; 8];
//! assert!(space.read_virtual(0, &mut buf).is_ok());
//! assert_eq!(u64::from_le_bytes(buf), 0x3003);
//! ```

#![forbid(unsafe_code)]

mod present;
mod pte;

pub use dumpfile::{PhysicalMemory, ReadStatus};
pub use present::{MAX_STEPS, PageCounts, PresentRun, RangeWalk};
pub use pte::{Bits, EntryState, Flags, ProtoAddress, PteFormat, Swizzle};

/// Paging modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// 32-bit, 2 levels of 4-byte entries, 4 MiB large pages.
    X86,
    /// 32-bit PAE, 3 levels of 8-byte entries, 2 MiB large pages.
    X86Pae,
    /// x64, 4 levels, 2 MiB and 1 GiB pages.
    X64,
    /// x64 with 5-level paging (LA57).
    X64La57,
}

impl Mode {
    /// The mode a crash-dump header implies: x86 with or without PAE (its `PaeEnabled` flag), or
    /// 4-level x64. `None` for other machines (ARM64) or when the header does not say. 5-level
    /// paging is not recorded in the header; a caller that knows (CR4.LA57) picks
    /// [`Mode::X64La57`] itself.
    pub fn from_header(h: &dumpfile::HeaderInfo) -> Option<Mode> {
        match h.machine? {
            dumpfile::header::MACHINE_I386 => Some(if h.pae_enabled? {
                Mode::X86Pae
            } else {
                Mode::X86
            }),
            dumpfile::header::MACHINE_AMD64 => Some(Mode::X64),
            _ => None,
        }
    }

    /// Number of table levels.
    pub fn levels(self) -> u8 {
        match self {
            Mode::X86 => 2,
            Mode::X86Pae => 3,
            Mode::X64 => 4,
            Mode::X64La57 => 5,
        }
    }

    /// Size of one entry in bytes.
    pub fn entry_size(self) -> u64 {
        if self == Mode::X86 { 4 } else { 8 }
    }

    /// Width of a virtual address in bits.
    pub fn va_bits(self) -> u32 {
        match self {
            Mode::X86 | Mode::X86Pae => 32,
            Mode::X64 => 48,
            Mode::X64La57 => 57,
        }
    }

    /// The table index `va` uses at `level` (1 = page table).
    pub fn index(self, va: u64, level: u8) -> u64 {
        match self {
            Mode::X86 => (va >> (12 + 10 * (u32::from(level) - 1))) & 0x3ff,
            Mode::X86Pae if level == 3 => (va >> 30) & 3,
            _ => (va >> (12 + 9 * (u32::from(level) - 1))) & 0x1ff,
        }
    }

    /// The size of a page mapped at `level` (1 = 4 KiB), or `None` where the level cannot map one.
    pub fn page_size_at(self, level: u8) -> Option<u64> {
        match (self, level) {
            (_, 1) => Some(0x1000),
            (Mode::X86, 2) => Some(0x40_0000),
            (_, 2) => Some(0x20_0000),
            (Mode::X64 | Mode::X64La57, 3) => Some(0x4000_0000),
            _ => None,
        }
    }

    /// WinDbg's name of the entry at `level` (`PXE`, `PPE`, `PDE`, `PTE`; `PML5E`, `PDPTE`).
    pub fn level_name(self, level: u8) -> &'static str {
        match (self, level) {
            (_, 1) => "PTE",
            (_, 2) => "PDE",
            (Mode::X86Pae, 3) => "PDPTE",
            (_, 3) => "PPE",
            (_, 4) => "PXE",
            _ => "PML5E",
        }
    }

    /// The physical-address mask of a table or page frame in an entry.
    fn frame_mask(self) -> u64 {
        match self {
            Mode::X86 => 0xffff_f000,
            _ => 0x000f_ffff_ffff_f000,
        }
    }
}

/// How to translate: the mode, the top table, and how Windows encodes invalid entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagingConfig {
    /// Paging mode.
    pub mode: Mode,
    /// Directory table base (CR3; low bits such as the PCID are masked off).
    pub dtb: u64,
    /// Layout of invalid entries.
    pub format: PteFormat,
    /// L1TF swizzling, when the kernel uses it.
    pub swizzle: Option<Swizzle>,
    /// Base of the self-mapped page tables (`PteBase` in the KDBG; 0xC0000000 on 32-bit), which
    /// gives each entry's virtual address in a walk.
    pub pte_base: Option<u64>,
}

impl PagingConfig {
    /// A configuration with the default invalid-entry format of `mode`, no swizzling, and no
    /// self-map.
    pub fn new(mode: Mode, dtb: u64) -> Self {
        let format = match mode {
            Mode::X86 => PteFormat::x86(),
            Mode::X86Pae => PteFormat::x86_pae(),
            Mode::X64 | Mode::X64La57 => PteFormat::x64(),
        };
        PagingConfig {
            mode,
            dtb,
            format,
            swizzle: None,
            pte_base: None,
        }
    }

    /// With L1TF swizzling undone using these bit indexes (from the KDBG).
    pub fn with_swizzle(mut self, high_bit: u8, swizzle_bit: u8) -> Self {
        self.swizzle = Some(Swizzle {
            high_bit,
            swizzle_bit,
        });
        self
    }

    /// With the self-map base.
    pub fn with_pte_base(mut self, pte_base: u64) -> Self {
        self.pte_base = Some(pte_base);
        self
    }

    /// With another invalid-entry format.
    pub fn with_format(mut self, format: PteFormat) -> Self {
        self.format = format;
        self
    }

    fn top_table(&self) -> u64 {
        match self.mode {
            Mode::X86 => self.dtb & 0xffff_f000,
            // The PAE PDPT is 32-byte aligned.
            Mode::X86Pae => self.dtb & 0xffff_ffe0,
            _ => self.dtb & 0x000f_ffff_ffff_f000,
        }
    }
}

/// A successful translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// The virtual address translated.
    pub va: u64,
    /// Its physical address.
    pub pa: u64,
    /// Size of the page that maps it (0x1000, 0x200000, 0x400000 or 0x40000000).
    pub page_size: u64,
    /// The leaf entry was a transition entry (invalid but in RAM).
    pub transition: bool,
    /// The leaf entry's raw value.
    pub entry: u64,
}

/// Why a virtual address has no physical page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TranslateFault {
    /// The address is not canonical (or beyond 4 GiB on 32-bit).
    #[error("{va:#x} is not a canonical address")]
    NonCanonical {
        /// The address.
        va: u64,
    },
    /// The entry is zero or reserved without protection: nothing is mapped.
    #[error("not mapped ({level_name} {entry:#x})")]
    NotPresent {
        /// Level of the entry (1 = PTE).
        level: u8,
        /// WinDbg's name of that level.
        level_name: &'static str,
        /// Raw entry.
        entry: u64,
    },
    /// Committed, zero-filled on first touch.
    #[error("demand zero (protection {protection})")]
    DemandZero {
        /// Level of the entry.
        level: u8,
        /// Raw entry.
        entry: u64,
        /// Protection.
        protection: u8,
    },
    /// In a paging file.
    #[error("paged out (page file {page_file}, offset {offset:#x})")]
    PagedOut {
        /// Level of the entry.
        level: u8,
        /// Raw entry.
        entry: u64,
        /// Paging file number.
        page_file: u8,
        /// Byte offset in the paging file.
        offset: u64,
    },
    /// Governed by a prototype PTE.
    #[error("prototype PTE{}", match .proto_pte { Some(p) => format!(" at {p:#x}"), None => String::new() })]
    Prototype {
        /// Level of the entry.
        level: u8,
        /// Raw entry.
        entry: u64,
        /// Address of the prototype PTE, when known.
        proto_pte: Option<u64>,
    },
    /// A page table the walk needs is not in the dump (or out of its range).
    #[error("{level_name} at physical {entry_pa:#x} is {status}")]
    TableNotInDump {
        /// Level of the entry that could not be read.
        level: u8,
        /// WinDbg's name of that level.
        level_name: &'static str,
        /// Physical address of the entry.
        entry_pa: u64,
        /// Why it could not be read.
        status: ReadStatus,
    },
    /// An entry that cannot be right (a large-page bit where the level has none).
    #[error("bad {level_name} {entry:#x} at physical {entry_pa:#x}: {reason}")]
    BadEntry {
        /// Level.
        level: u8,
        /// WinDbg's name of that level.
        level_name: &'static str,
        /// Raw entry.
        entry: u64,
        /// Physical address of the entry.
        entry_pa: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// An entry points back at a table the walk already used (other than the self-map).
    #[error(
        "page-table loop: {level_name} at physical {entry_pa:#x} points back at table {table:#x}"
    )]
    Loop {
        /// Level.
        level: u8,
        /// WinDbg's name of that level.
        level_name: &'static str,
        /// Physical address of the entry.
        entry_pa: u64,
        /// The table it points at.
        table: u64,
    },
}

/// One level of a `!pte`-style walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkEntry {
    /// Level (the top is `mode.levels()`, 1 = PTE).
    pub level: u8,
    /// WinDbg's name (`PXE`, `PPE`, `PDE`, `PTE`).
    pub name: &'static str,
    /// Physical address of the entry.
    pub entry_pa: u64,
    /// Virtual address of the entry through the self-map, when the configuration has one.
    pub entry_va: Option<u64>,
    /// Raw value as stored.
    pub raw: u64,
    /// Decoded (after undoing swizzling).
    pub state: EntryState,
}

/// A `!pte`-style walk: each level's entry, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// The address walked.
    pub va: u64,
    /// The entries read, top level first.
    pub entries: Vec<WalkEntry>,
    /// The translation, or why there is none.
    pub result: Result<Translation, TranslateFault>,
}

/// Why part of a virtual read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadFailure {
    /// The address did not translate.
    #[error("{0}")]
    Translate(TranslateFault),
    /// A triage dump did not capture this address.
    #[error("{va:#x} is not in dump (not captured by the triage dump)")]
    NotCaptured {
        /// First address of the stretch.
        va: u64,
    },
    /// It translated, but the physical page could not be read.
    #[error("physical {pa:#x} is {status}")]
    Physical {
        /// Physical address.
        pa: u64,
        /// Why.
        status: ReadStatus,
    },
}

/// Virtual memory: an [`AddressSpace`] over physical memory, or a triage dump's captured blocks
/// ([`TriageMemory`]). Layers above read through this without caring which.
pub trait VirtualMemory {
    /// Reads `buf.len()` bytes at `va`; failed stretches are zero-filled and listed.
    fn read_virtual(&self, va: u64, buf: &mut [u8]) -> VirtualOutcome;
}

impl<M: PhysicalMemory> VirtualMemory for AddressSpace<M> {
    fn read_virtual(&self, va: u64, buf: &mut [u8]) -> VirtualOutcome {
        AddressSpace::read_virtual(self, va, buf)
    }
}

/// The virtual memory a triage dump holds: its data blocks, stack, data page and KDBG copy.
#[derive(Debug, Clone, Copy)]
pub struct TriageMemory<'d>(pub &'d dumpfile::Dump);

impl VirtualMemory for TriageMemory<'_> {
    fn read_virtual(&self, va: u64, buf: &mut [u8]) -> VirtualOutcome {
        let (o, spans) = self.0.read_triage_virtual_spans(va, buf);
        let failed = spans
            .into_iter()
            .filter(|s| s.status != ReadStatus::Ok)
            .map(|s| FailedSpan {
                offset: s.offset,
                len: s.len,
                reason: ReadFailure::NotCaptured {
                    va: va.wrapping_add(s.offset as u64),
                },
            })
            .collect();
        VirtualOutcome {
            bytes_read: o.bytes_read,
            failed,
        }
    }
}

/// A stretch of a virtual read that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedSpan {
    /// Offset in the buffer.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// Why.
    pub reason: ReadFailure,
}

/// The result of a virtual read: how much was read, and each failed stretch (zero-filled).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VirtualOutcome {
    /// Bytes read.
    pub bytes_read: usize,
    /// Failed stretches, in order (empty when everything was read).
    pub failed: Vec<FailedSpan>,
}

impl VirtualOutcome {
    /// Whether every byte was read.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }

    /// The first failure, if any.
    pub fn first_failure(&self) -> Option<&FailedSpan> {
        self.failed.first()
    }
}

/// One request of a batched read.
#[derive(Debug)]
pub struct VirtualRead<'b> {
    /// Where to read.
    pub va: u64,
    /// Where to put the bytes.
    pub buf: &'b mut [u8],
}

/// Translation and reads over physical memory `M` (a `&Dump`, a `&dyn PhysicalMemory`, ...).
#[derive(Debug, Clone)]
pub struct AddressSpace<M> {
    mem: M,
    cfg: PagingConfig,
}

/// What the walk's loop needs to know about the table it is on.
struct Step {
    entry_pa: u64,
    raw: u64,
    state: EntryState,
}

impl<M: PhysicalMemory> AddressSpace<M> {
    /// An address space over `mem`.
    pub fn new(mem: M, cfg: PagingConfig) -> Self {
        AddressSpace { mem, cfg }
    }

    /// The configuration.
    pub fn config(&self) -> &PagingConfig {
        &self.cfg
    }

    /// The physical memory.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    fn canonical(&self, va: u64) -> bool {
        match self.cfg.mode {
            Mode::X86 | Mode::X86Pae => va >> 32 == 0,
            m => {
                let bits = m.va_bits();
                let top = (va as i64) >> (bits - 1);
                top == 0 || top == -1
            }
        }
    }

    #[inline]
    fn read_entry(&self, pa: u64) -> Result<u64, ReadStatus> {
        let size = self.cfg.mode.entry_size() as usize;
        if let Ok(page) = self.mem.page(pa >> 12) {
            let o = (pa & 0xfff) as usize;
            if let Some(b) = page.get(o..o + size) {
                let mut a = [0u8; 8];
                a[..size].copy_from_slice(b);
                return Ok(u64::from_le_bytes(a));
            }
        }
        let mut a = [0u8; 8];
        let o = self.mem.read_physical(pa, &mut a[..size]);
        if o.is_ok() {
            Ok(u64::from_le_bytes(a))
        } else {
            Err(o.status)
        }
    }

    /// Decodes an entry as stored at `level`.
    pub fn decode(&self, raw: u64, level: u8) -> EntryState {
        let mode = self.cfg.mode;
        if raw & 1 == 1 {
            let mut flags = Flags::of(raw);
            if mode == Mode::X86 {
                flags.no_execute = false;
            }
            // Bit 7 is PAT, not "large", in a page-table entry.
            if level == 1 {
                flags.large = false;
            }
            let frame = raw & mode.frame_mask();
            return EntryState::Valid {
                pfn: frame >> 12,
                flags,
            };
        }
        let v = match self.cfg.swizzle {
            Some(s) => s.undo(raw),
            None => raw,
        };
        if v == 0 {
            return EntryState::Zero;
        }
        let f = &self.cfg.format;
        let protection = f.protection.get(v) as u8;
        if v >> f.prototype_bit & 1 == 1 {
            let proto_pte = match f.proto_address {
                ProtoAddress::SignedHigh(s) => Some(((v as i64) >> s) as u64),
                ProtoAddress::Field(b) => Some(b.get(v)),
                ProtoAddress::Unknown => None,
            };
            return EntryState::Prototype { proto_pte };
        }
        if v >> f.transition_bit & 1 == 1 {
            return EntryState::Transition {
                pfn: f.transition_pfn.get(v),
                protection,
            };
        }
        let high = f.page_file_high.get(v);
        if high == 0 {
            if protection == 0 {
                EntryState::Zero
            } else {
                EntryState::DemandZero { protection }
            }
        } else {
            EntryState::PagedOut {
                page_file: f.page_file_low.get(v) as u8,
                offset: high << 12,
                protection,
            }
        }
    }

    /// The virtual address of the entry that maps `va` at `level`, through the self-map.
    pub fn entry_va(&self, va: u64, level: u8) -> Option<u64> {
        let base = self.cfg.pte_base?;
        let mode = self.cfg.mode;
        let mask = if mode.va_bits() >= 64 {
            u64::MAX
        } else {
            (1u64 << mode.va_bits()) - 1
        };
        let mut a = va;
        for _ in 0..level {
            a = base.wrapping_add(((a & mask) >> 12) * mode.entry_size());
            if mode.va_bits() == 32 {
                a &= 0xffff_ffff;
            }
        }
        Some(a)
    }

    /// Translates `va`.
    pub fn translate(&self, va: u64) -> Result<Translation, TranslateFault> {
        self.walk_inner(va, None, None, &mut None)
    }

    /// Translates `va` and returns every level's entry, as `!pte` shows them.
    pub fn walk(&self, va: u64) -> Walk {
        let mut entries = Vec::with_capacity(5);
        let result = self.walk_inner(va, Some(&mut entries), None, &mut None);
        Walk {
            va,
            entries,
            result,
        }
    }

    /// Walks from the top table, or (with `leaf_table`) from the page table found by an earlier
    /// walk of the same 2/4 MiB region. Sets `reached` to the page table the walk used at level 1.
    fn walk_inner(
        &self,
        va: u64,
        mut record: Option<&mut Vec<WalkEntry>>,
        leaf_table: Option<u64>,
        reached: &mut Option<u64>,
    ) -> Result<Translation, TranslateFault> {
        if !self.canonical(va) {
            return Err(TranslateFault::NonCanonical { va });
        }
        let mode = self.cfg.mode;
        let top = self.cfg.top_table();
        let (mut table, first_level) = match leaf_table {
            Some(pt) => (pt, 1),
            None => (top, mode.levels()),
        };
        // Tables used so far, to detect loops (bounded by the level count).
        let mut visited = [u64::MAX; 5];
        visited[0] = top;
        let mut pae_pd = u64::MAX;
        for level in (1..=first_level).rev() {
            if level == 1 {
                *reached = Some(table);
            }
            let name = mode.level_name(level);
            let entry_pa = table + mode.index(va, level) * mode.entry_size();
            let raw =
                self.read_entry(entry_pa)
                    .map_err(|status| TranslateFault::TableNotInDump {
                        level,
                        level_name: name,
                        entry_pa,
                        status,
                    })?;
            let step = Step {
                entry_pa,
                raw,
                state: self.decode(raw, level),
            };
            if let Some(rec) = record.as_deref_mut() {
                rec.push(WalkEntry {
                    level,
                    name,
                    entry_pa: step.entry_pa,
                    entry_va: self.entry_va(va, level),
                    raw: step.raw,
                    state: step.state,
                });
            }
            let (pfn, transition) = match step.state {
                EntryState::Valid { pfn, flags } => {
                    if flags.large && level > 1 {
                        let Some(size) = mode.page_size_at(level) else {
                            return Err(TranslateFault::BadEntry {
                                level,
                                level_name: name,
                                entry: raw,
                                entry_pa,
                                reason: "large-page bit set at a level that has no large pages",
                            });
                        };
                        let base = match mode {
                            // PSE-36: bits 13-20 hold physical address bits 32-39.
                            Mode::X86 => (raw & 0xffc0_0000) | ((raw >> 13) & 0xff) << 32,
                            _ => (pfn << 12) & !(size - 1),
                        };
                        return Ok(Translation {
                            va,
                            pa: base | (va & (size - 1)),
                            page_size: size,
                            transition: false,
                            entry: raw,
                        });
                    }
                    (pfn, false)
                }
                EntryState::Transition { pfn, .. } => (pfn, true),
                EntryState::Zero => {
                    return Err(TranslateFault::NotPresent {
                        level,
                        level_name: name,
                        entry: raw,
                    });
                }
                EntryState::DemandZero { protection } => {
                    return Err(TranslateFault::DemandZero {
                        level,
                        entry: raw,
                        protection,
                    });
                }
                EntryState::PagedOut {
                    page_file, offset, ..
                } => {
                    return Err(TranslateFault::PagedOut {
                        level,
                        entry: raw,
                        page_file,
                        offset,
                    });
                }
                EntryState::Prototype { proto_pte } => {
                    return Err(TranslateFault::Prototype {
                        level,
                        entry: raw,
                        proto_pte,
                    });
                }
            };
            if level == 1 {
                return Ok(Translation {
                    va,
                    pa: (pfn << 12) | (va & 0xfff),
                    page_size: 0x1000,
                    transition,
                    entry: raw,
                });
            }
            let next = (pfn << 12) & mode.frame_mask();
            // The self-map points back at the top table (x64, x86) or, on PAE, a page directory
            // is mapped as a page table; any other repeat is a loop.
            let depth = usize::from(mode.levels() - level) + 1;
            let self_map = next == top || (mode == Mode::X86Pae && level == 2 && next == pae_pd);
            if !self_map && visited[..depth].contains(&next) {
                return Err(TranslateFault::Loop {
                    level,
                    level_name: name,
                    entry_pa,
                    table: next,
                });
            }
            if depth < visited.len() {
                visited[depth] = next;
            }
            if mode == Mode::X86Pae && level == 3 {
                pae_pd = next;
            }
            table = next;
        }
        // Unreachable in practice: level 1 always returns above.
        Err(TranslateFault::NonCanonical { va })
    }

    /// Reads `buf.len()` bytes at `va`, crossing page boundaries; failed stretches are zero-filled
    /// and listed with their reason.
    pub fn read_virtual(&self, va: u64, buf: &mut [u8]) -> VirtualOutcome {
        let mut out = VirtualOutcome::default();
        let mut off = 0usize;
        // The page table of the last region walked: consecutive pages share it, so only their
        // PTE is read (a walk cache, valid for this call only).
        let region_shift = if self.cfg.mode == Mode::X86 { 22 } else { 21 };
        let mut cache: Option<(u64, u64)> = None;
        while off < buf.len() {
            let a = va.wrapping_add(off as u64);
            let in_page = (0x1000 - (a & 0xfff)) as usize;
            let n = in_page.min(buf.len() - off);
            let dst = &mut buf[off..off + n];
            let region = a >> region_shift;
            let mut reached = None;
            let result = match cache {
                Some((r, pt)) if r == region => self.walk_inner(a, None, Some(pt), &mut reached),
                _ => self.walk_inner(a, None, None, &mut reached),
            };
            cache = reached.map(|pt| (region, pt));
            match result {
                Ok(t) => {
                    let (got, reason) = self.copy_physical(t.pa, dst);
                    out.bytes_read += got;
                    if let Some(status) = reason {
                        dst[got..].fill(0);
                        push_failed(
                            &mut out.failed,
                            off + got,
                            n - got,
                            ReadFailure::Physical {
                                pa: t.pa.wrapping_add(got as u64),
                                status,
                            },
                        );
                    }
                }
                Err(fault) => {
                    dst.fill(0);
                    push_failed(&mut out.failed, off, n, ReadFailure::Translate(fault));
                }
            }
            off += n;
        }
        out
    }

    /// Hands `each` the `pages` 4 KiB pages from `start` (rounded down to a page) in address
    /// order: each page's address and its bytes lent in place by the memory ([`PhysicalMemory::page`],
    /// no copy), or `None` when the page does not translate or its frame is not lent (read it with
    /// [`AddressSpace::read_virtual`] to get the bytes or the reason). Consecutive pages share the
    /// walk of their page table, as in one [`AddressSpace::read_virtual`] call.
    pub fn visit_pages<'s>(
        &'s self,
        start: u64,
        pages: u64,
        mut each: impl FnMut(u64, Option<&'s [u8]>),
    ) {
        let region_shift = if self.cfg.mode == Mode::X86 { 22 } else { 21 };
        let mut cache: Option<(u64, u64)> = None;
        let mut a = start & !0xfff;
        for _ in 0..pages {
            let region = a >> region_shift;
            let mut reached = None;
            let result = match cache {
                Some((r, pt)) if r == region => self.walk_inner(a, None, Some(pt), &mut reached),
                _ => self.walk_inner(a, None, None, &mut reached),
            };
            cache = reached.map(|pt| (region, pt));
            let page = match result {
                Ok(t) => self.mem.page(t.pa >> 12).ok().filter(|p| p.len() == 0x1000),
                Err(_) => None,
            };
            each(a, page);
            a = a.wrapping_add(0x1000);
        }
    }

    /// Copies physical memory at `pa` into `dst` (which lies in one page); returns the bytes read
    /// and, when short, why.
    #[inline]
    fn copy_physical(&self, pa: u64, dst: &mut [u8]) -> (usize, Option<ReadStatus>) {
        if let Ok(page) = self.mem.page(pa >> 12) {
            let o = (pa & 0xfff) as usize;
            if let Some(src) = page.get(o..o + dst.len()) {
                dst.copy_from_slice(src);
                return (dst.len(), None);
            }
        }
        let o = self.mem.read_physical(pa, dst);
        if o.is_ok() {
            (dst.len(), None)
        } else {
            (o.first_failure.unwrap_or(0), Some(o.status))
        }
    }

    /// Reads many ranges in one call; each gets its own outcome.
    pub fn read_many(&self, reads: &mut [VirtualRead<'_>]) -> Vec<VirtualOutcome> {
        reads
            .iter_mut()
            .map(|r| self.read_virtual(r.va, r.buf))
            .collect()
    }

    /// Reads a little-endian `u64` at `va`.
    pub fn read_u64(&self, va: u64) -> Result<u64, ReadFailure> {
        let mut b = [0u8; 8];
        let o = self.read_virtual(va, &mut b);
        match o.failed.first() {
            None => Ok(u64::from_le_bytes(b)),
            Some(f) => Err(f.reason),
        }
    }
}

/// Appends a failed stretch, merging it with the previous one when contiguous with the same reason
/// kind (the same fault at the same level, or the same physical status).
fn push_failed(failed: &mut Vec<FailedSpan>, offset: usize, len: usize, reason: ReadFailure) {
    if len == 0 {
        return;
    }
    if let Some(last) = failed.last_mut()
        && last.offset + last.len == offset
        && same_kind(&last.reason, &reason)
    {
        last.len += len;
        return;
    }
    failed.push(FailedSpan {
        offset,
        len,
        reason,
    });
}

fn same_kind(a: &ReadFailure, b: &ReadFailure) -> bool {
    match (a, b) {
        (ReadFailure::Physical { status: x, .. }, ReadFailure::Physical { status: y, .. }) => {
            x == y
        }
        (ReadFailure::Translate(x), ReadFailure::Translate(y)) => {
            std::mem::discriminant(x) == std::mem::discriminant(y)
                && !matches!(x, TranslateFault::PagedOut { .. })
        }
        _ => false,
    }
}

/// The README's examples, compiled as doctests so that they stay true to the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
