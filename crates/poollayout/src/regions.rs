//! Where the pool is (pure per-version knowledge, no I/O of its own): the virtual ranges of the nonpaged and paged pool, per Windows version, each
//! with the source it was read from.
//!
//! | Build | Nonpaged pool | Paged pool |
//! |---|---|---|
//! | 2000 … Vista (x86, x64) | `MmNonPagedPoolStart` … `MmNonPagedPoolEnd` | `MmPagedPoolStart` … `MmPagedPoolEnd` |
//! | 7 / 2008 R2 x64 (7600, 7601) | `MmNonPagedPoolStart` … `MiNonPagedPoolEnd` | `0xFFFFF8A0_00000000` … `MmPagedPoolEnd` |
//! | 8.1 / 2012 R2 x64 (9600) | not established | `MiPagedPoolStart` … `MmPagedPoolEnd` |
//! | 10 1607 … 11 x64 (14393+) | `MiState.Vs.SystemVaRegions[NonPaged]` | `MiState.Vs.SystemVaRegions[Paged]` |
//!
//! Sources: the globals are those the Volatility 3 ISF files (made from Microsoft's public
//! `ntkrnlmp.pdb`) list for each build — 7601 has `MmNonPagedPoolStart`, `MiNonPagedPoolEnd` and
//! `MmPagedPoolEnd` but no `MmPagedPoolStart`; 9600 has `MiPagedPoolStart` and `MmPagedPoolEnd`
//! and no nonpaged bound; 14393+ have none of them but `MiState` (`_MI_SYSTEM_INFORMATION`) whose
//! `Vs` (`_MI_VISIBLE_STATE`) holds `SystemVaRegions[]` (`_MI_SYSTEM_VA_ASSIGNMENT` {BaseAddress,
//! NumberOfBytes}), indexed by `_MI_ASSIGNED_REGION_TYPES`: `AssignedRegionNonPagedPool` = 0 and
//! `AssignedRegionPagedPool` = 1 up to 19041, 1 and 2 from 20348 (where `AssignedRegionPfnDatabase`
//! became 0) — the enum as every ISF file of those builds states it (checked by `tests/poolva.rs`).
//! Windows 7 x64's fixed paged pool area `FFFFF8A0'00000000`–`FFFFF8BF'FFFFFFFF` is CodeMachine's
//! "Kernel Virtual Address Layout" for Windows 7 and Server 2008 R2 x64.
//!
//! Where a build's range cannot be established (8.1's nonpaged pool, 8.0 and 10 before 1607
//! without the globals, x86 Windows 7+), [`PoolRegions::warnings`] says so; the pool searches
//! (`poolcmds::scan::search_regions`) then classify pages by `nt!MiSystemVaType` (x86 7+) or by
//! their validated headers ([`crate::Layout::classify_page`]) over the kernel's present pages
//! (docs/POOL_RANGES.md, "Where the range is not established").
//!
//! The functions read through [`PoolVaView`], which the host implements over its symbols and
//! memory (`ntkernel::poolva`), and a plugin over its `Target` (`poolcmds::scan`); so both ask the
//! same question the same way. This is knowledge only: how a region is *scanned* is the pool
//! commands' business (`poolcmds::scan`). A failed read is a typed [`ReadFault`].

use crate::ReadFault;

/// The processor family, as far as the pool's virtual ranges care: 32-bit x86 (with or without
/// PAE), x64 (Windows 7's fixed paged pool start is x64's), or ARM64 (64-bit, no fixed ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VaArch {
    /// 32-bit x86, PAE or not.
    X86,
    /// x86-64.
    X64,
    /// ARM64.
    Arm64,
}

impl VaArch {
    /// 64-bit pointers and a kernel space from `0xFFFF8000_00000000`.
    pub fn is_64bit(self) -> bool {
        !matches!(self, VaArch::X86)
    }
}

/// Windows 7 / Server 2008 R2 x64: the fixed start of the paged pool area (CodeMachine, "Kernel
/// Virtual Address Layout", X64 Windows 7 and Server 2008 R2).
pub const WIN7_X64_PAGED_POOL_START: u64 = 0xFFFF_F8A0_0000_0000;

/// The largest region accepted (64 TiB): a larger one is a bad value, not a pool.
const MAX_REGION: u64 = 64 << 40;

const PAGE: u64 = 0x1000;

/// What a caller offers to read the pool ranges: symbols and pointer-sized reads.
pub trait PoolVaView {
    /// The address of a kernel global (`MmPagedPoolEnd`), when known.
    fn global(&self, name: &str) -> Option<u64>;
    /// A field's offset in a type.
    fn field_offset(&self, type_name: &str, field: &str) -> Option<u64>;
    /// A type's size.
    fn type_size(&self, type_name: &str) -> Option<u64>;
    /// Reads a pointer-sized value; `Err` names the address and what failed.
    fn read_pointer(&self, va: u64) -> Result<u64, ReadFault>;
}

/// Nonpaged or paged pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PoolKind {
    /// Nonpaged pool.
    NonPaged,
    /// Paged pool.
    Paged,
}

impl PoolKind {
    /// `"NonPaged"` or `"Paged"`, as WinDbg names the pools.
    pub fn name(self) -> &'static str {
        match self {
            PoolKind::NonPaged => "NonPaged",
            PoolKind::Paged => "Paged",
        }
    }
}

/// One pool region: its kind, page-aligned range (end exclusive) and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRegion {
    /// Nonpaged or paged.
    pub kind: PoolKind,
    /// First byte (page-aligned).
    pub start: u64,
    /// One past the last byte (page-aligned).
    pub end: u64,
    /// The source, e.g. `nt!MmNonPagedPoolStart..nt!MiNonPagedPoolEnd` or
    /// `nt!MiState.Vs.SystemVaRegions[1]`.
    pub source: String,
}

/// The pool regions of a kernel, and why any is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolRegions {
    /// The regions found (at most one per kind), nonpaged first.
    pub regions: Vec<PoolRegion>,
    /// One line per kind that could not be established, with the reason.
    pub warnings: Vec<String>,
}

impl PoolRegions {
    /// The region of a kind.
    pub fn get(&self, kind: PoolKind) -> Option<&PoolRegion> {
        self.regions.iter().find(|r| r.kind == kind)
    }
}

/// `_MI_ASSIGNED_REGION_TYPES` values of `AssignedRegionNonPagedPool` and `AssignedRegionPagedPool`
/// for a build, from the ISF enums: (0, 1) on 14393 … 19041, (1, 2) from 20348 on. Builds after the
/// newest checked (22000) are assumed to keep 22000's values; the second value says so.
pub fn assigned_region_indexes(build: u32) -> Option<((u64, u64), bool)> {
    match build {
        14393..=19041 => Some(((0, 1), false)),
        20348..=22000 => Some(((1, 2), false)),
        b if b > 22000 => Some(((1, 2), true)),
        _ => None,
    }
}

/// The pool regions of a kernel of `arch` and `build` (0 when unknown), read through `view`.
pub fn pool_regions(view: &dyn PoolVaView, arch: VaArch, build: u32) -> PoolRegions {
    let mut out = PoolRegions::default();
    for kind in [PoolKind::NonPaged, PoolKind::Paged] {
        match region(view, arch, build, kind) {
            Ok(r) => out.regions.push(r),
            Err(why) => out.warnings.push(format!(
                "the {} pool range is unknown for this build: {why}",
                match kind {
                    PoolKind::NonPaged => "nonpaged",
                    PoolKind::Paged => "paged",
                }
            )),
        }
    }
    out
}

fn value(view: &dyn PoolVaView, name: &str) -> Result<Option<u64>, String> {
    match view.global(name) {
        None => Ok(None),
        Some(va) => view
            .read_pointer(va)
            .map(Some)
            .map_err(|e| format!("nt!{name} at {va:#x}: {e}")),
    }
}

/// Builds a region from a start and an end (inclusive as the kernel keeps `*End`; an exclusive,
/// page-aligned end gives the same range), with sanity checks.
fn checked(
    arch: VaArch,
    kind: PoolKind,
    start: u64,
    end_inclusive: u64,
    source: String,
) -> Result<PoolRegion, String> {
    let kernel_space = if arch.is_64bit() {
        start >= 0xFFFF_8000_0000_0000
    } else {
        start >= 0x8000_0000 && end_inclusive <= 0xFFFF_FFFF
    };
    let start_page = start & !(PAGE - 1);
    // The last page of the address space has no exclusive end: refused with the rest.
    let end = end_inclusive
        .checked_add(1)
        .and_then(|e| e.checked_next_multiple_of(PAGE))
        .unwrap_or(0);
    if !kernel_space || end <= start_page || end - start_page > MAX_REGION {
        return Err(format!(
            "{source} gives {start:#x}..{end_inclusive:#x}, which is not a kernel range"
        ));
    }
    Ok(PoolRegion {
        kind,
        start: start_page,
        end,
        source,
    })
}

fn region(
    view: &dyn PoolVaView,
    arch: VaArch,
    build: u32,
    kind: PoolKind,
) -> Result<PoolRegion, String> {
    // The classic globals (2000 … Vista), from symbols or the KDBG; then the names Windows 7 and
    // 8.1 x64 keep instead.
    let (starts, ends): (&'static [&'static str], &'static [&'static str]) = match kind {
        PoolKind::NonPaged => (
            &["MmNonPagedPoolStart"],
            &["MmNonPagedPoolEnd", "MiNonPagedPoolEnd"],
        ),
        PoolKind::Paged => (
            &["MmPagedPoolStart", "MiPagedPoolStart"],
            &["MmPagedPoolEnd"],
        ),
    };
    let first = |names: &'static [&'static str]| -> Result<Option<(u64, &'static str)>, String> {
        for &n in names {
            if let Some(v) = value(view, n)? {
                return Ok(Some((v, n)));
            }
        }
        Ok(None)
    };
    let start = first(starts)?;
    let end = first(ends)?;
    let win7_x64 = arch == VaArch::X64 && matches!(build, 7600 | 7601);
    match (kind, start, end) {
        (_, Some((s, sn)), Some((e, en))) => checked(arch, kind, s, e, format!("nt!{sn}..nt!{en}")),
        (PoolKind::Paged, None, Some((e, en))) if win7_x64 => checked(
            arch,
            kind,
            WIN7_X64_PAGED_POOL_START,
            e,
            format!("0xfffff8a000000000 (Windows 7 x64 fixed)..nt!{en}"),
        ),
        _ if arch.is_64bit() && view.global("MiState").is_some() => {
            system_va_region(view, arch, build, kind)
        }
        (_, s, e) => {
            let missing: Vec<&str> = match (s, e) {
                (None, None) => vec![starts[0], ends[0]],
                (None, _) => vec![starts[0]],
                _ => vec![ends[0]],
            };
            Err(format!(
                "nt!{} not available{}",
                missing.join(" / nt!"),
                if build == 9600 && kind == PoolKind::NonPaged {
                    " (Windows 8.1 keeps no public nonpaged pool bound)"
                } else {
                    ""
                }
            ))
        }
    }
}

/// `MiState.Vs.SystemVaRegions[index]` on 14393+.
fn system_va_region(
    view: &dyn PoolVaView,
    arch: VaArch,
    build: u32,
    kind: PoolKind,
) -> Result<PoolRegion, String> {
    let ((np, pp), assumed) = assigned_region_indexes(build).ok_or_else(|| {
        format!("the _MI_ASSIGNED_REGION_TYPES values of build {build} are not established")
    })?;
    let index = match kind {
        PoolKind::NonPaged => np,
        PoolKind::Paged => pp,
    };
    let mi_state = view.global("MiState").ok_or("nt!MiState not available")?;
    let need = |t: &str, f: &str| {
        view.field_offset(t, f)
            .ok_or_else(|| format!("{t}.{f} not in the symbols"))
    };
    let vs = need("_MI_SYSTEM_INFORMATION", "Vs")?;
    let regions = need("_MI_VISIBLE_STATE", "SystemVaRegions")?;
    let base_off = need("_MI_SYSTEM_VA_ASSIGNMENT", "BaseAddress")?;
    let bytes_off = need("_MI_SYSTEM_VA_ASSIGNMENT", "NumberOfBytes")?;
    let size = view
        .type_size("_MI_SYSTEM_VA_ASSIGNMENT")
        .filter(|&s| s > 0 && s <= 0x40)
        .ok_or("_MI_SYSTEM_VA_ASSIGNMENT's size not in the symbols")?;
    let entry = mi_state
        .checked_add(vs)
        .and_then(|a| a.checked_add(regions))
        .and_then(|a| a.checked_add(index * size))
        .ok_or("MiState.Vs.SystemVaRegions overflows")?;
    let (base_va, bytes_va) = (entry.wrapping_add(base_off), entry.wrapping_add(bytes_off));
    let base = view
        .read_pointer(base_va)
        .map_err(|e| format!("SystemVaRegions[{index}].BaseAddress at {base_va:#x}: {e}"))?;
    let bytes = view
        .read_pointer(bytes_va)
        .map_err(|e| format!("SystemVaRegions[{index}].NumberOfBytes at {bytes_va:#x}: {e}"))?;
    if bytes == 0 {
        return Err(format!("nt!MiState.Vs.SystemVaRegions[{index}] is empty"));
    }
    checked(
        arch,
        kind,
        base,
        base.saturating_add(bytes - 1),
        format!(
            "nt!MiState.Vs.SystemVaRegions[{index}]{}",
            if assumed {
                " (region index assumed as on build 22000)"
            } else {
                ""
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FaultKind, ReadFault};
    use std::collections::HashMap;

    #[derive(Default)]
    struct View {
        globals: HashMap<&'static str, u64>,
        mem: HashMap<u64, u64>,
        fields: HashMap<(&'static str, &'static str), u64>,
        sizes: HashMap<&'static str, u64>,
    }
    impl PoolVaView for View {
        fn global(&self, name: &str) -> Option<u64> {
            self.globals.get(name).copied()
        }
        fn field_offset(&self, t: &str, f: &str) -> Option<u64> {
            self.fields
                .iter()
                .find(|((a, b), _)| *a == t && *b == f)
                .map(|(_, v)| *v)
        }
        fn type_size(&self, t: &str) -> Option<u64> {
            self.sizes.get(t).copied()
        }
        fn read_pointer(&self, va: u64) -> Result<u64, ReadFault> {
            self.mem.get(&va).copied().ok_or_else(|| ReadFault {
                address: va,
                kind: FaultKind::NotMapped,
                message: "not mapped".into(),
            })
        }
    }

    #[test]
    fn classic_globals() {
        let mut v = View::default();
        for (i, (n, val)) in [
            ("MmNonPagedPoolStart", 0x8100_0000u64),
            ("MmNonPagedPoolEnd", 0x81ff_ffff),
            ("MmPagedPoolStart", 0xe100_0000),
            ("MmPagedPoolEnd", 0xe1ff_ffff),
        ]
        .into_iter()
        .enumerate()
        {
            v.globals.insert(n, 0x8050_0000 + i as u64 * 4);
            v.mem.insert(0x8050_0000 + i as u64 * 4, val);
        }
        let r = pool_regions(&v, VaArch::X86, 2600);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let np = r.get(PoolKind::NonPaged).unwrap();
        assert_eq!((np.start, np.end), (0x8100_0000, 0x8200_0000));
        assert_eq!(np.source, "nt!MmNonPagedPoolStart..nt!MmNonPagedPoolEnd");
        let p = r.get(PoolKind::Paged).unwrap();
        assert_eq!((p.start, p.end), (0xe100_0000, 0xe200_0000));
    }

    #[test]
    fn win7_fixed_paged_start_and_mi_end() {
        let mut v = View::default();
        v.globals.insert("MmNonPagedPoolStart", 0x10);
        v.globals.insert("MiNonPagedPoolEnd", 0x18);
        v.globals.insert("MmPagedPoolEnd", 0x20);
        v.mem.insert(0x10, 0xFFFF_FA80_0100_0000);
        v.mem.insert(0x18, 0xFFFF_FA80_40FF_FFFF);
        v.mem.insert(0x20, 0xFFFF_F8A0_3FFF_FFFF);
        let r = pool_regions(&v, VaArch::X64, 7601);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let p = r.get(PoolKind::Paged).unwrap();
        assert_eq!(
            (p.start, p.end),
            (WIN7_X64_PAGED_POOL_START, 0xFFFF_F8A0_4000_0000)
        );
        assert!(p.source.contains("fixed"));
        assert_eq!(
            r.get(PoolKind::NonPaged).unwrap().end,
            0xFFFF_FA80_4100_0000
        );
        // The fixed start is Windows 7's only.
        let r = pool_regions(&v, VaArch::X64, 9600);
        assert!(r.get(PoolKind::Paged).is_none());
        assert!(
            r.warnings[0].contains("MmPagedPoolStart"),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn win81_nonpaged_is_not_established() {
        let mut v = View::default();
        v.globals.insert("MiPagedPoolStart", 0x10);
        v.globals.insert("MmPagedPoolEnd", 0x18);
        v.mem.insert(0x10, 0xFFFF_C000_0000_0000);
        v.mem.insert(0x18, 0xFFFF_C000_FFFF_FFFF);
        let r = pool_regions(&v, VaArch::X64, 9600);
        assert_eq!(r.regions.len(), 1);
        assert_eq!(
            r.regions[0].source,
            "nt!MiPagedPoolStart..nt!MmPagedPoolEnd"
        );
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains("nonpaged") && r.warnings[0].contains("8.1"));
    }

    fn win10(build: u32, index: (u64, u64)) -> View {
        let mut v = View::default();
        v.globals.insert("MiState", 0x1000);
        v.fields.insert(("_MI_SYSTEM_INFORMATION", "Vs"), 0x100);
        v.fields
            .insert(("_MI_VISIBLE_STATE", "SystemVaRegions"), 0x20);
        v.fields
            .insert(("_MI_SYSTEM_VA_ASSIGNMENT", "BaseAddress"), 0);
        v.fields
            .insert(("_MI_SYSTEM_VA_ASSIGNMENT", "NumberOfBytes"), 8);
        v.sizes.insert("_MI_SYSTEM_VA_ASSIGNMENT", 0x10);
        let regions = 0x1000 + 0x100 + 0x20;
        v.mem
            .insert(regions + index.0 * 0x10, 0xFFFF_A580_0000_0000);
        v.mem.insert(regions + index.0 * 0x10 + 8, 0x80_0000_0000);
        v.mem
            .insert(regions + index.1 * 0x10, 0xFFFF_C280_0000_0000);
        v.mem.insert(regions + index.1 * 0x10 + 8, 0x80_0000_0000);
        let _ = build;
        v
    }

    #[test]
    fn system_va_regions_index_per_build() {
        for (build, idx) in [
            (14393, (0, 1)),
            (19041, (0, 1)),
            (20348, (1, 2)),
            (22000, (1, 2)),
        ] {
            let r = pool_regions(&win10(build, idx), VaArch::X64, build);
            assert!(r.warnings.is_empty(), "{build}: {:?}", r.warnings);
            let np = r.get(PoolKind::NonPaged).unwrap();
            assert_eq!(
                (np.start, np.end),
                (0xFFFF_A580_0000_0000, 0xFFFF_A600_0000_0000)
            );
            assert_eq!(
                np.source,
                format!("nt!MiState.Vs.SystemVaRegions[{}]", idx.0)
            );
            assert_eq!(r.get(PoolKind::Paged).unwrap().start, 0xFFFF_C280_0000_0000);
        }
        // The wrong index for the build reads another region (here: unmapped) and says so.
        let r = pool_regions(&win10(20348, (0, 1)), VaArch::X64, 20348);
        assert!(r.get(PoolKind::Paged).is_none());
        // Before 1607: not established.
        let r = pool_regions(&win10(10586, (0, 1)), VaArch::X64, 10586);
        assert_eq!(r.warnings.len(), 2);
        assert!(r.warnings[0].contains("not established"));
        // Later builds: assumed, and said.
        let r = pool_regions(&win10(22621, (1, 2)), VaArch::X64, 22621);
        assert!(r.regions[0].source.contains("assumed"));
    }

    #[test]
    fn a_global_at_the_top_of_the_address_space_does_not_overflow() {
        let mut v = win10(19041, (0, 1));
        v.globals.insert("MiState", u64::MAX - 0x10);
        let r = pool_regions(&v, VaArch::X64, 19041);
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    }

    #[test]
    fn an_end_in_the_last_page_is_refused_not_overflowed() {
        // Found by the ntkernel_poolva fuzz target.
        let mut v = View::default();
        v.globals.insert("MmNonPagedPoolStart", 0x10);
        v.globals.insert("MmNonPagedPoolEnd", 0x18);
        v.mem.insert(0x10, 0xFFFF_FFFF_FFFF_0000);
        v.mem.insert(0x18, 0xFFFF_FFFF_FFFF_FFF0);
        let r = pool_regions(&v, VaArch::X64, 3790);
        assert!(r.regions.is_empty());
        assert!(
            r.warnings[0].contains("not a kernel range"),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let mut v = win10(19041, (0, 1));
        v.mem.insert(0x1000 + 0x120 + 8, 0); // NumberOfBytes 0
        v.mem.insert(0x1000 + 0x130, 0x7fff_0000); // a user address
        let r = pool_regions(&v, VaArch::X64, 19041);
        assert!(r.regions.is_empty());
        assert!(r.warnings[0].contains("empty"), "{:?}", r.warnings);
        assert!(
            r.warnings[1].contains("not a kernel range"),
            "{:?}",
            r.warnings
        );
    }
}
