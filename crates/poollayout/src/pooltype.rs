//! `POOL_TYPE` values and the names WinDbg prints for them.

use core::fmt;

/// A `POOL_TYPE` value as the kernel API takes it (`ExAllocatePoolWithTag`'s first argument, the
/// `PoolType` of `_POOL_TRACKER_BIG_PAGES` and `_POOL_DESCRIPTOR`).
///
/// Values and names: the PDB enum `_POOL_TYPE` (vol2 vtypes; ntdiff `_POOL_DESCRIPTOR.h` for 18362);
/// bit 0 = paged, 0x4 = cache aligned, 0x20 = session, 0x200 = NX.
///
/// ```
/// use pooldbg_poollayout::PoolType;
/// assert_eq!(PoolType(1).name(), "PagedPool");
/// assert_eq!(PoolType(0x200).name(), "NonPagedPoolNx");
/// assert_eq!(PoolType(0x21).region(), "Paged session pool");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PoolType(pub u32);

impl PoolType {
    /// `NonPagedPool` (0).
    pub const NON_PAGED: PoolType = PoolType(0);
    /// `PagedPool` (1).
    pub const PAGED: PoolType = PoolType(1);
    /// `NonPagedPoolSession` (0x20).
    pub const NON_PAGED_SESSION: PoolType = PoolType(0x20);
    /// `PagedPoolSession` (0x21).
    pub const PAGED_SESSION: PoolType = PoolType(0x21);
    /// `NonPagedPoolNx` (0x200).
    pub const NON_PAGED_NX: PoolType = PoolType(0x200);

    /// Bit 0: paged pool.
    pub const fn is_paged(self) -> bool {
        self.0 & 1 != 0
    }
    /// Bit 0x20: session pool.
    pub const fn is_session(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// Bit 0x200: no-execute nonpaged pool (Windows 8+).
    pub const fn is_nx(self) -> bool {
        self.0 & 0x200 != 0
    }

    /// The enum member's name as `dt nt!_POOL_TYPE` prints it (the pre-Windows 10 names; Windows 10
    /// added aliases such as `NonPagedPoolBase` for the same values). Unknown values give `"Unknown"`.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "NonPagedPool",
            1 => "PagedPool",
            2 => "NonPagedPoolMustSucceed",
            3 => "DontUseThisType",
            4 => "NonPagedPoolCacheAligned",
            5 => "PagedPoolCacheAligned",
            6 => "NonPagedPoolCacheAlignedMustS",
            7 => "MaxPoolType",
            0x20 => "NonPagedPoolSession",
            0x21 => "PagedPoolSession",
            0x22 => "NonPagedPoolMustSucceedSession",
            0x23 => "DontUseThisTypeSession",
            0x24 => "NonPagedPoolCacheAlignedSession",
            0x25 => "PagedPoolCacheAlignedSession",
            0x26 => "NonPagedPoolCacheAlignedMustSSession",
            0x200 => "NonPagedPoolNx",
            0x204 => "NonPagedPoolNxCacheAligned",
            0x220 => "NonPagedPoolSessionNx",
            _ => "Unknown",
        }
    }

    /// The region wording of `!pool`'s first line ("Pool page ... region is Nonpaged pool").
    pub const fn region(self) -> &'static str {
        match (self.is_paged(), self.is_session(), self.is_nx()) {
            (true, true, _) => "Paged session pool",
            (true, false, _) => "Paged pool",
            (false, true, _) => "Nonpaged session pool",
            (false, false, true) => "Nonpaged pool (NX)",
            (false, false, false) => "Nonpaged pool",
        }
    }
}

impl fmt::Display for PoolType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
