//! Globals derived from another global by a documented distance, where no symbol source names
//! them: the big page table of Windows XP and Server 2003.
//!
//! The KDBG (`KDDEBUGGER_DATA64`) has no field for `PoolBigPageTable` or `PoolBigPageTableSize`,
//! and the x86 profiles of XP/2003 carry layouts only (no RVAs), so on those kernels nothing names
//! the big page table. Volatility 2's `bigpagepools.py` (`distance_map`) locates both from
//! `PoolTrackTable` — which the KDBG does point at — by fixed distances below it: XP x86 8 and 12
//! bytes, Server 2003 x86 24 and 28, Server 2003 x64 48 and 56 (the same table gives Windows 7
//! x64's 40 and 48, which its ISF confirms). The answers are [`Source::Guessed`] and are kept only
//! when the values pass checks like `fallback`'s (a readable kernel pointer; a power-of-two size
//! from 0x10 to 2^24 entries).

use crate::Arch;
use crate::memory::KernelMemory;
use crate::symbols::{FieldLoc, GlobalAddr, Source, SymbolSource};

/// The label these answers carry (`guessed from …`).
pub const LABEL: &str = "PoolTrackTable by Volatility 2's bigpagepools.py distances";

/// The distances below `PoolTrackTable` of `PoolBigPageTable` and `PoolBigPageTableSize`
/// (Volatility 2 `bigpagepools.py`), for the versions no symbol source covers.
pub fn big_page_distances(arch: Arch, build: u32) -> Option<(u64, u64)> {
    match (arch.profile_family(), build) {
        (Arch::X86, 2600) => Some((8, 12)),
        (Arch::X86, 3790) => Some((24, 28)),
        (Arch::X64, 3790) => Some((48, 56)),
        _ => None,
    }
}

/// The derived globals, as a symbol source.
#[derive(Debug, Clone, Default)]
pub struct DerivedSymbols {
    globals: Vec<(&'static str, u64)>,
}

impl DerivedSymbols {
    /// Derives `PoolBigPageTable` and `PoolBigPageTableSize` from the address of `PoolTrackTable`
    /// and checks their values in `mem`. `Err` says why nothing was derived.
    pub fn big_page_table(
        mem: &dyn KernelMemory,
        arch: Arch,
        build: u32,
        pool_track_table: u64,
    ) -> Result<DerivedSymbols, String> {
        let (d_table, d_size) = big_page_distances(arch, build)
            .ok_or_else(|| format!("no distance is known for build {build}"))?;
        let table_va = pool_track_table.wrapping_sub(d_table);
        let size_va = pool_track_table.wrapping_sub(d_size);
        let n = arch.pointer_size();
        let read = |va: u64| -> Result<u64, String> {
            let mut b = [0u8; 8];
            mem.read_virtual(va, &mut b[..n])
                .map_err(|e| e.to_string())?;
            Ok(u64::from_le_bytes(b))
        };
        let kernel_space = |v: u64| {
            if arch.is_64bit() {
                v >= 0xFFFF_8000_0000_0000
            } else {
                (0x8000_0000..=0xFFFF_FFFF).contains(&v)
            }
        };
        let table =
            read(table_va).map_err(|e| format!("PoolBigPageTable at {table_va:#x}: {e}"))?;
        if !kernel_space(table) || read(table).is_err() {
            return Err(format!(
                "PoolBigPageTable at {table_va:#x} holds {table:#x}, not a readable kernel address"
            ));
        }
        let size =
            read(size_va).map_err(|e| format!("PoolBigPageTableSize at {size_va:#x}: {e}"))?;
        if !(size.is_power_of_two() && (0x10..=1 << 24).contains(&size)) {
            return Err(format!(
                "PoolBigPageTableSize at {size_va:#x} holds {size:#x}, not a sane table size"
            ));
        }
        Ok(DerivedSymbols {
            globals: vec![
                ("PoolBigPageTable", table_va),
                ("PoolBigPageTableSize", size_va),
            ],
        })
    }
}

impl SymbolSource for DerivedSymbols {
    fn source(&self) -> Source {
        Source::Guessed(LABEL.into())
    }
    fn global(&self, name: &str) -> Option<GlobalAddr> {
        self.globals
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, va)| GlobalAddr::Va(va))
    }
    fn type_size(&self, _type_name: &str) -> Option<u64> {
        None
    }
    fn field(&self, _type_name: &str, _field: &str) -> Option<FieldLoc> {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::memory::{FaultKind, ReadFault};
    use std::collections::HashMap;

    struct Mem(HashMap<u64, u32>);
    impl KernelMemory for Mem {
        fn read_virtual(&self, va: u64, buf: &mut [u8]) -> Result<(), ReadFault> {
            let v = self.0.get(&va).ok_or(ReadFault {
                address: va,
                kind: FaultKind::NotMapped,
            })?;
            buf.copy_from_slice(&v.to_le_bytes()[..buf.len()]);
            Ok(())
        }
    }

    #[test]
    fn xp_distances_and_checks() {
        let ptt = 0x8055_0000u64;
        let mut m = HashMap::new();
        m.insert(ptt - 8, 0x8900_0000u32); // PoolBigPageTable
        m.insert(ptt - 12, 0x1000u32); // PoolBigPageTableSize
        m.insert(0x8900_0000, 0);
        let d = DerivedSymbols::big_page_table(&Mem(m.clone()), Arch::X86, 2600, ptt).unwrap();
        assert_eq!(d.global("PoolBigPageTable"), Some(GlobalAddr::Va(ptt - 8)));
        assert_eq!(
            d.global("PoolBigPageTableSize"),
            Some(GlobalAddr::Va(ptt - 12))
        );
        assert!(d.source().is_guess());
        // 2003 x86 uses other distances: the same memory does not pass.
        assert!(DerivedSymbols::big_page_table(&Mem(m.clone()), Arch::X86Pae, 3790, ptt).is_err());
        // A size that is no table size is refused.
        m.insert(ptt - 12, 0x1234); // not a power of two
        let e = DerivedSymbols::big_page_table(&Mem(m.clone()), Arch::X86, 2600, ptt).unwrap_err();
        assert!(e.contains("sane"), "{e}");
        // A pointer to nothing readable is refused.
        m.insert(ptt - 12, 0x1000);
        m.remove(&0x8900_0000);
        let e = DerivedSymbols::big_page_table(&Mem(m), Arch::X86, 2600, ptt).unwrap_err();
        assert!(e.contains("readable"), "{e}");
        // No distance for other builds.
        assert!(big_page_distances(Arch::X86, 2195).is_none());
        assert!(big_page_distances(Arch::X64, 7601).is_none());
    }
}
