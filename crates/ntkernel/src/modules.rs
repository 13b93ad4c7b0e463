//! Loaded kernel modules from `PsLoadedModuleList` (a `LIST_ENTRY` of `_KLDR_DATA_TABLE_ENTRY`), or
//! from loader-entry copies such as a triage dump's driver list. Walks are bounded and cycle-safe.

use std::collections::HashSet;

use crate::Arch;
use crate::memory::{KernelMemory, ReadFault, read_ptr, read_u16};
use crate::symbols::SymbolStack;

/// One loaded module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// `BaseDllName` (`ntoskrnl.exe`); empty when unreadable.
    pub name: String,
    /// `FullDllName` (`\SystemRoot\system32\ntoskrnl.exe`); empty when unreadable.
    pub path: String,
    /// `DllBase`.
    pub base: u64,
    /// `SizeOfImage`.
    pub size: u32,
    /// Where the loader entry is.
    pub entry: u64,
}

impl Module {
    /// True when `va` lies inside the module.
    pub fn contains(&self, va: u64) -> bool {
        va >= self.base && va - self.base < u64::from(self.size)
    }
}

/// Where the fields of a loader entry are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderLayout {
    /// `DllBase`.
    pub dll_base: u64,
    /// `SizeOfImage`.
    pub size_of_image: u64,
    /// `FullDllName` (`UNICODE_STRING`).
    pub full_name: u64,
    /// `BaseDllName` (`UNICODE_STRING`).
    pub base_name: u64,
    /// 64-bit pointers.
    pub is_64bit: bool,
}

impl LoaderLayout {
    /// The layout every real x64 ISF (JPCERTCC/Windows-Symbol-Tables) agrees on (Windows 7 to 11:
    /// DllBase 0x30, SizeOfImage 0x40, FullDllName 0x48, BaseDllName 0x58), or the x86 one from
    /// public symbols (Volatility 2 `win7_sp1_x86_vtypes.py` `_LDR_DATA_TABLE_ENTRY`: 0x18, 0x20,
    /// 0x24, 0x2c).
    pub fn default_for(arch: Arch) -> LoaderLayout {
        if arch.is_64bit() {
            LoaderLayout {
                dll_base: 0x30,
                size_of_image: 0x40,
                full_name: 0x48,
                base_name: 0x58,
                is_64bit: true,
            }
        } else {
            LoaderLayout {
                dll_base: 0x18,
                size_of_image: 0x20,
                full_name: 0x24,
                base_name: 0x2c,
                is_64bit: false,
            }
        }
    }

    /// The layout from symbols when they know `_KLDR_DATA_TABLE_ENTRY` (or the older
    /// `_LDR_DATA_TABLE_ENTRY`), else [`LoaderLayout::default_for`].
    pub fn from_symbols(symbols: &SymbolStack, arch: Arch) -> LoaderLayout {
        let d = LoaderLayout::default_for(arch);
        for ty in ["_KLDR_DATA_TABLE_ENTRY", "_LDR_DATA_TABLE_ENTRY"] {
            let f = |n: &str| symbols.field(ty, n).map(|a| a.value.offset);
            if let (Some(b), Some(s), Some(fu), Some(ba)) = (
                f("DllBase"),
                f("SizeOfImage"),
                f("FullDllName"),
                f("BaseDllName"),
            ) {
                return LoaderLayout {
                    dll_base: b,
                    size_of_image: s,
                    full_name: fu,
                    base_name: ba,
                    is_64bit: d.is_64bit,
                };
            }
        }
        d
    }
}

/// Why the walk stopped early (the modules read so far are still returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkEnd {
    /// Back at the head: the list is complete.
    Complete,
    /// A link could not be read.
    Fault(ReadFault),
    /// A link led to an entry already seen (not the head).
    Cycle(u64),
    /// The step limit was reached.
    Limit(usize),
    /// A null link.
    Null(u64),
}

/// The result of a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleList {
    /// The modules, in load order.
    pub modules: Vec<Module>,
    /// How the walk ended.
    pub end: WalkEnd,
}

/// Modules are at most this many (real systems have a few hundred).
pub const MAX_MODULES: usize = 4096;
/// Names longer than this are cut.
const MAX_NAME_BYTES: u16 = 1024;

/// Reads a `UNICODE_STRING` at `va`: Length u16, Buffer at +8 (x64) or +4 (x86).
pub fn read_unicode_string(mem: &dyn KernelMemory, va: u64, is_64bit: bool) -> Option<String> {
    let len = read_u16(mem, va).ok()?.min(MAX_NAME_BYTES) & !1;
    let buf = read_ptr(mem, va.wrapping_add(if is_64bit { 8 } else { 4 }), is_64bit).ok()?;
    if len == 0 {
        return Some(String::new());
    }
    let mut b = vec![0u8; usize::from(len)];
    mem.read_virtual(buf, &mut b).ok()?;
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(String::from_utf16_lossy(&units))
}

/// Reads one loader entry at `entry`.
pub fn read_entry(
    mem: &dyn KernelMemory,
    entry: u64,
    layout: &LoaderLayout,
) -> Result<Module, ReadFault> {
    let base = read_ptr(mem, entry.wrapping_add(layout.dll_base), layout.is_64bit)?;
    let mut s = [0u8; 4];
    mem.read_virtual(entry.wrapping_add(layout.size_of_image), &mut s)?;
    Ok(Module {
        name: read_unicode_string(mem, entry.wrapping_add(layout.base_name), layout.is_64bit)
            .unwrap_or_default(),
        path: read_unicode_string(mem, entry.wrapping_add(layout.full_name), layout.is_64bit)
            .unwrap_or_default(),
        base,
        size: u32::from_le_bytes(s),
        entry,
    })
}

/// `DllBase` and `SizeOfImage` from a copy of a loader entry held in bytes (a triage dump's driver
/// list keeps one per driver, at +8 of each 0x90-byte entry; its names are stored separately).
/// `None` when the bytes are too short.
pub fn parse_entry_bytes(bytes: &[u8], layout: &LoaderLayout) -> Option<(u64, u32)> {
    let at = |off: u64, n: usize| -> Option<&[u8]> {
        let o = usize::try_from(off).ok()?;
        bytes.get(o..o.checked_add(n)?)
    };
    let base = if layout.is_64bit {
        u64::from_le_bytes(at(layout.dll_base, 8)?.try_into().ok()?)
    } else {
        u64::from(u32::from_le_bytes(at(layout.dll_base, 4)?.try_into().ok()?))
    };
    let size = u32::from_le_bytes(at(layout.size_of_image, 4)?.try_into().ok()?);
    Some((base, size))
}

/// Walks the list whose head is at `head` (the address of `PsLoadedModuleList`). `InLoadOrderLinks`
/// is the entry's first field, so a link is the entry's address.
pub fn walk(mem: &dyn KernelMemory, head: u64, layout: &LoaderLayout) -> ModuleList {
    let mut modules = Vec::new();
    let mut seen = HashSet::new();
    let mut link = match read_ptr(mem, head, layout.is_64bit) {
        Ok(l) => l,
        Err(f) => {
            return ModuleList {
                modules,
                end: WalkEnd::Fault(f),
            };
        }
    };
    let end = loop {
        if link == head {
            break WalkEnd::Complete;
        }
        if link == 0 {
            break WalkEnd::Null(head);
        }
        if modules.len() >= MAX_MODULES {
            break WalkEnd::Limit(MAX_MODULES);
        }
        if !seen.insert(link) {
            break WalkEnd::Cycle(link);
        }
        match read_entry(mem, link, layout) {
            Ok(m) => modules.push(m),
            Err(f) => break WalkEnd::Fault(f),
        }
        match read_ptr(mem, link, layout.is_64bit) {
            Ok(next) => link = next,
            Err(f) => break WalkEnd::Fault(f),
        }
    };
    ModuleList { modules, end }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::SparseMemory;

    /// Writes a loader entry at `at` with the x64 layout; returns nothing, links set by caller.
    fn entry(m: &mut SparseMemory, at: u64, base: u64, size: u32, name: &str) {
        let l = LoaderLayout::default_for(Arch::X64);
        m.write_u64(at + l.dll_base, base);
        m.write_u32(at + l.size_of_image, size);
        let units: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let buf = at + 0x800;
        m.write(buf, &units);
        for off in [l.base_name, l.full_name] {
            m.write(at + off, &(units.len() as u16).to_le_bytes());
            m.write(at + off + 2, &(units.len() as u16).to_le_bytes());
            m.write_u64(at + off + 8, buf);
        }
    }

    #[test]
    fn walks_a_list_in_order_and_stops_at_the_head() {
        let mut m = SparseMemory::new();
        let head = 0xffff_f800_0000_1000_u64;
        let a = 0xffff_f800_0010_0000_u64;
        let b = 0xffff_f800_0020_0000_u64;
        entry(&mut m, a, 0xfffff8047ba00000, 0x1046000, "ntoskrnl.exe");
        entry(&mut m, b, 0xfffff8048b580000, 0x3b000, "amdppm.sys");
        m.write_u64(head, a);
        m.write_u64(a, b);
        m.write_u64(b, head);
        let l = walk(&m, head, &LoaderLayout::default_for(Arch::X64));
        assert_eq!(l.end, WalkEnd::Complete);
        let names: Vec<_> = l.modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["ntoskrnl.exe", "amdppm.sys"]);
        assert!(l.modules[1].contains(0xfffff8048b58334c));
        assert!(!l.modules[1].contains(0xfffff8048b5bb000));
    }

    #[test]
    fn entry_copies_in_bytes_give_base_and_size() {
        let l = LoaderLayout::default_for(Arch::X64);
        let mut b = vec![0u8; 0x60];
        b[0x30..0x38].copy_from_slice(&0xfffff8048b580000u64.to_le_bytes());
        b[0x40..0x44].copy_from_slice(&0x3b000u32.to_le_bytes());
        assert_eq!(
            parse_entry_bytes(&b, &l),
            Some((0xfffff8048b580000, 0x3b000))
        );
        assert_eq!(parse_entry_bytes(&b[..0x42], &l), None);
        let x86 = LoaderLayout::default_for(Arch::X86);
        assert_eq!(parse_entry_bytes(&b, &x86).map(|(_, s)| s), Some(0));
    }

    #[test]
    fn cycles_nulls_and_holes_end_the_walk_with_what_was_read() {
        let mut m = SparseMemory::new();
        let head = 0x1000u64;
        let a = 0x10_0000u64;
        let b = 0x20_0000u64;
        entry(&mut m, a, 1, 2, "a");
        entry(&mut m, b, 3, 4, "b");
        m.write_u64(head, a);
        m.write_u64(a, b);
        m.write_u64(b, a); // cycle that never returns to the head
        let l = walk(&m, head, &LoaderLayout::default_for(Arch::X64));
        assert_eq!(l.end, WalkEnd::Cycle(a));
        assert_eq!(l.modules.len(), 2);
        m.write_u64(b, 0);
        assert_eq!(
            walk(&m, head, &LoaderLayout::default_for(Arch::X64)).end,
            WalkEnd::Null(head)
        );
        m.write_u64(b, 0x9999_0000);
        assert!(matches!(
            walk(&m, head, &LoaderLayout::default_for(Arch::X64)).end,
            WalkEnd::Fault(_)
        ));
    }
}
