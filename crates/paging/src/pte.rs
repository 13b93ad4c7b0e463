//! Page-table entry formats: the hardware bits of a valid entry and Windows' software formats of
//! an invalid one.
//!
//! Bit positions of the invalid formats come from the `_MMPTE_SOFTWARE`, `_MMPTE_TRANSITION` and
//! `_MMPTE_PROTOTYPE` types of the public kernel symbols: for x64 the 31 ISF files of
//! JPCERTCC/Windows-Symbol-Tables (`tests/isf_formats.rs` reads them from `../shared/data/isf/`;
//! Windows 7 SP1 .24540 through Windows 11 22000, all alike in the fields used
//! here); for 32-bit and pre-2018 x64 kernels the SDK-style definitions in public headers
//! (PageFileLow at bit 1). A caller with the target's own symbols can build a [`PteFormat`] from them.

/// A bit field: `len` bits from bit `pos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bits {
    /// First bit.
    pub pos: u8,
    /// Number of bits (1..=64).
    pub len: u8,
}

impl Bits {
    /// `len` bits from `pos`.
    pub const fn new(pos: u8, len: u8) -> Self {
        Bits { pos, len }
    }

    /// The field's value in `v`.
    #[inline]
    pub fn get(self, v: u64) -> u64 {
        let shifted = v.checked_shr(u32::from(self.pos)).unwrap_or(0);
        if self.len >= 64 {
            shifted
        } else {
            shifted & ((1u64 << self.len) - 1)
        }
    }
}

/// Where an invalid prototype entry keeps the address of its prototype PTE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoAddress {
    /// The address is the entry shifted right arithmetically by this many bits (x64:
    /// `ProtoAddress : 48` at bit 16, a signed field, so the result is a sign-extended kernel
    /// address).
    SignedHigh(u8),
    /// The address is these bits, unshifted (x86 PAE: `ProtoAddress : 32` at bit 32).
    Field(Bits),
    /// The format splits the address in a way not decoded here; the raw entry is reported.
    Unknown,
}

/// The layout of Windows' invalid (software) page-table entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PteFormat {
    /// `_MMPTE_SOFTWARE.PageFileLow`: which paging file.
    pub page_file_low: Bits,
    /// `_MMPTE_SOFTWARE.PageFileHigh`: the page's index in the paging file.
    pub page_file_high: Bits,
    /// `_MMPTE_SOFTWARE.Protection`.
    pub protection: Bits,
    /// `Prototype` bit.
    pub prototype_bit: u8,
    /// `Transition` bit.
    pub transition_bit: u8,
    /// `_MMPTE_TRANSITION.PageFrameNumber`.
    pub transition_pfn: Bits,
    /// `_MMPTE_PROTOTYPE.ProtoAddress`.
    pub proto_address: ProtoAddress,
}

impl PteFormat {
    /// x64 as in every ISF build of JPCERTCC/Windows-Symbol-Tables (Windows 7 SP1 .24540 and later,
    /// 8.1, 10, 11, Server 2012 R2-2022): PageFileLow 12:4, PageFileHigh 32:32, Protection 5:5,
    /// Prototype 10, Transition 11, transition PFN 12:40 (12:36 before 20348; bits 48-51 are
    /// zero there), ProtoAddress a signed 48-bit field at 16.
    pub const fn x64() -> Self {
        PteFormat {
            page_file_low: Bits::new(12, 4),
            page_file_high: Bits::new(32, 32),
            protection: Bits::new(5, 5),
            prototype_bit: 10,
            transition_bit: 11,
            transition_pfn: Bits::new(12, 40),
            proto_address: ProtoAddress::SignedHigh(16),
        }
    }

    /// x64 kernels from before the 2018 L1TF updates (Vista-Windows 8.1 RTM builds): PageFileLow
    /// at bit 1 (public `_MMPTE_SOFTWARE` of those releases), the rest as [`PteFormat::x64`].
    pub const fn x64_before_l1tf() -> Self {
        let mut f = Self::x64();
        f.page_file_low = Bits::new(1, 4);
        f
    }

    /// 32-bit PAE (8-byte entries): PageFileLow 1:4, Protection 5:5, Prototype 10,
    /// Transition 11, PageFileHigh 32:32, transition PFN 12:26, ProtoAddress 32:32.
    pub const fn x86_pae() -> Self {
        PteFormat {
            page_file_low: Bits::new(1, 4),
            page_file_high: Bits::new(32, 32),
            protection: Bits::new(5, 5),
            prototype_bit: 10,
            transition_bit: 11,
            transition_pfn: Bits::new(12, 26),
            proto_address: ProtoAddress::Field(Bits::new(32, 32)),
        }
    }

    /// 32-bit without PAE (4-byte entries, `_MMPTE_SOFTWARE` of XP/2003): PageFileLow 1:4,
    /// Protection 5:5, Prototype 10, Transition 11, PageFileHigh 12:20, transition PFN 12:20.
    /// The prototype address is split in two fields and not decoded.
    pub const fn x86() -> Self {
        PteFormat {
            page_file_low: Bits::new(1, 4),
            page_file_high: Bits::new(12, 20),
            protection: Bits::new(5, 5),
            prototype_bit: 10,
            transition_bit: 11,
            transition_pfn: Bits::new(12, 20),
            proto_address: ProtoAddress::Unknown,
        }
    }
}

/// Windows 10's L1TF mitigation: invalid entries are stored "swizzled" with a high physical
/// address bit inverted, so that they never name cached memory. The KDBG gives the two indexes
/// (`L1tfHighPhysicalBitIndex`, `L1tfSwizzleBitIndex`; `_MMPTE_*.SwizzleBit` is bit 4 on x64).
///
/// The rule applied: an invalid, non-zero entry whose swizzle bit is clear has had
/// `high_bit` inverted; it is inverted back before decoding. An entry with the swizzle bit set
/// is taken as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swizzle {
    /// `L1tfHighPhysicalBitIndex`.
    pub high_bit: u8,
    /// `L1tfSwizzleBitIndex`.
    pub swizzle_bit: u8,
}

impl Swizzle {
    /// The logical value of a stored invalid entry.
    #[inline]
    pub fn undo(self, stored: u64) -> u64 {
        if stored == 0 || stored & 1 != 0 || self.high_bit >= 64 || self.swizzle_bit >= 64 {
            return stored;
        }
        if stored & (1u64 << self.swizzle_bit) == 0 {
            stored ^ (1u64 << self.high_bit)
        } else {
            stored
        }
    }
}

/// Hardware flags of a valid entry, as `!pte` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// Writable (bit 1).
    pub write: bool,
    /// User-accessible (bit 2).
    pub user: bool,
    /// Write-through (bit 3).
    pub write_through: bool,
    /// Cache disabled (bit 4).
    pub cache_disable: bool,
    /// Accessed (bit 5).
    pub accessed: bool,
    /// Dirty (bit 6).
    pub dirty: bool,
    /// Large page (bit 7, at directory levels).
    pub large: bool,
    /// Global (bit 8).
    pub global: bool,
    /// Windows' copy-on-write (bit 9).
    pub copy_on_write: bool,
    /// No-execute (bit 63, 8-byte entries).
    pub no_execute: bool,
}

impl Flags {
    /// Decodes the hardware bits of `raw`.
    pub fn of(raw: u64) -> Self {
        let b = |n: u32| raw >> n & 1 == 1;
        Flags {
            write: b(1),
            user: b(2),
            write_through: b(3),
            cache_disable: b(4),
            accessed: b(5),
            dirty: b(6),
            large: b(7),
            global: b(8),
            copy_on_write: b(9),
            no_execute: b(63),
        }
    }

    /// WinDbg's flag string (`---DA--KWEV` style): V valid, W/R, E/-, K/U, D, A, G, L, C.
    pub fn windbg(&self) -> String {
        let mut s = String::new();
        s.push(if self.copy_on_write { 'C' } else { '-' });
        s.push(if self.global { 'G' } else { '-' });
        s.push(if self.large { 'L' } else { '-' });
        s.push(if self.dirty { 'D' } else { '-' });
        s.push(if self.accessed { 'A' } else { '-' });
        s.push(if self.cache_disable { 'N' } else { '-' });
        s.push(if self.write_through { 'T' } else { '-' });
        s.push(if self.user { 'U' } else { 'K' });
        s.push(if self.write { 'W' } else { 'R' });
        s.push(if self.no_execute { '-' } else { 'E' });
        s.push('V');
        s
    }
}

/// What an entry says, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Valid: points at a table or (leaf) a page of `pfn`.
    Valid {
        /// Page frame number (of a large page: its first 4 KiB frame).
        pfn: u64,
        /// Hardware flags.
        flags: Flags,
    },
    /// Invalid but still in RAM (transition): WinDbg reads it, and so does this crate.
    Transition {
        /// Page frame number.
        pfn: u64,
        /// Protection.
        protection: u8,
    },
    /// In a paging file.
    PagedOut {
        /// Paging file number.
        page_file: u8,
        /// Byte offset in the paging file.
        offset: u64,
        /// Protection.
        protection: u8,
    },
    /// A prototype PTE governs the page.
    Prototype {
        /// Address of the prototype PTE, when the format says where it is.
        proto_pte: Option<u64>,
    },
    /// Committed, filled with zeros on first touch.
    DemandZero {
        /// Protection.
        protection: u8,
    },
    /// Not present: a zero entry or a reserved one with no protection.
    Zero,
}
