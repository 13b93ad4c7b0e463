//! An independent, test-only reader of what testkit builds: page-table walks for the three paging
//! modes and tiny container decoders. Written from the formats (docs/DUMP_FORMATS.md), not from the
//! builder's code, so the tests compare two readings of the same facts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test
#![allow(dead_code)]

use pooldbg_testkit::{Arch, Kernel};

pub const PAGE: u64 = 0x1000;

/// Physical reads over a page lookup.
pub trait Phys {
    /// The page at `pfn`, or `None` when the source does not hold it.
    fn page(&self, pfn: u64) -> Option<Vec<u8>>;
}

/// The in-memory image.
pub struct Mem<'a>(pub &'a Kernel);

impl Phys for Mem<'_> {
    fn page(&self, pfn: u64) -> Option<Vec<u8>> {
        let m = &self.0.memory;
        if m.absent().contains(&pfn) || !m.in_runs(pfn) {
            return None;
        }
        Some(
            m.page(pfn)
                .map(|p| p.to_vec())
                .unwrap_or_else(|| vec![0; 4096]),
        )
    }
}

/// A container file decoded to a PFN → file offset map.
pub struct FileImage {
    pub bytes: Vec<u8>,
    pub map: std::collections::BTreeMap<u64, u64>,
}

impl Phys for FileImage {
    fn page(&self, pfn: u64) -> Option<Vec<u8>> {
        let off = *self.map.get(&pfn)? as usize;
        self.bytes.get(off..off + 4096).map(|s| s.to_vec())
    }
}

fn u16_at(b: &[u8], o: usize) -> u64 {
    u16::from_le_bytes([b[o], b[o + 1]]) as u64
}
pub fn u32_at(b: &[u8], o: usize) -> u64 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as u64
}
pub fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// Decodes a crash dump / raw / ELF file into a PFN map (a second, independent reading).
pub fn decode_container(bytes: Vec<u8>) -> FileImage {
    let mut map = std::collections::BTreeMap::new();
    if bytes.starts_with(b"\x7fELF") {
        let x64 = bytes[4] == 2;
        if x64 {
            let phoff = u64_at(&bytes, 32) as usize;
            let n = u16_at(&bytes, 56) as usize;
            for i in 0..n {
                let p = phoff + 56 * i;
                let off = u64_at(&bytes, p + 8);
                let pa = u64_at(&bytes, p + 24);
                let sz = u64_at(&bytes, p + 32);
                for k in 0..sz / PAGE {
                    map.insert(pa / PAGE + k, off + k * PAGE);
                }
            }
        } else {
            let phoff = u32_at(&bytes, 28) as usize;
            let n = u16_at(&bytes, 44) as usize;
            for i in 0..n {
                let p = phoff + 32 * i;
                let off = u32_at(&bytes, p + 4);
                let pa = u32_at(&bytes, p + 12);
                let sz = u32_at(&bytes, p + 16);
                for k in 0..sz / PAGE {
                    map.insert(pa / PAGE + k, off + k * PAGE);
                }
            }
        }
        return FileImage { bytes, map };
    }
    if !bytes.starts_with(b"PAGE") {
        // Raw.
        for pfn in 0..bytes.len() as u64 / PAGE {
            map.insert(pfn, pfn * PAGE);
        }
        return FileImage { bytes, map };
    }
    let x64 = &bytes[4..8] == b"DU64";
    let hsize = if x64 { 0x2000 } else { 0x1000 };
    let dump_type = u32_at(&bytes, if x64 { 0xf98 } else { 0xf88 });
    match dump_type {
        1 => {
            let (d, nruns, run0, rs) = if x64 {
                (0x88, u32_at(&bytes, 0x88), 0x10, 16)
            } else {
                (0x64, u32_at(&bytes, 0x64), 8, 8)
            };
            let mut off = hsize as u64;
            for i in 0..nruns as usize {
                let r = d + run0 + rs * i;
                let (b, c) = if x64 {
                    (u64_at(&bytes, r), u64_at(&bytes, r + 8))
                } else {
                    (u32_at(&bytes, r), u32_at(&bytes, r + 4))
                };
                for k in 0..c {
                    map.insert(b + k, off);
                    off += PAGE;
                }
            }
        }
        5 | 6 => {
            let s = hsize;
            assert!(&bytes[s..s + 4] == b"SDMP" || &bytes[s..s + 4] == b"FDMP");
            let first = u64_at(&bytes, s + 0x20);
            let bits = u64_at(&bytes, s + 0x30);
            let mut off = first;
            for pfn in 0..bits {
                if bytes[s + 0x38 + (pfn / 8) as usize] & (1 << (pfn % 8)) != 0 {
                    map.insert(pfn, off);
                    off += PAGE;
                }
            }
            assert_eq!((off - first) / PAGE, u64_at(&bytes, s + 0x28));
        }
        2 => {
            let s = hsize;
            assert_eq!(&bytes[s..s + 8], b"SDMPDUMP");
            let first = u32_at(&bytes, s + 0xc);
            let bits = u32_at(&bytes, s + 0x10);
            let at = s + if x64 { 0x28 } else { 0x20 };
            let mut off = first;
            for pfn in 0..bits {
                if bytes[at + (pfn / 8) as usize] & (1 << (pfn % 8)) != 0 {
                    map.insert(pfn, off);
                    off += PAGE;
                }
            }
        }
        8..=0xa => {
            let s = hsize;
            assert_eq!(&bytes[s + 4..s + 8], b"RDMP");
            let meta = u64_at(&bytes, s + 0x10);
            let first = u64_at(&bytes, s + 0x18);
            assert_eq!(meta - 0x20, first - 0x2040, "kdmp-parser's RDMP check");
            let mut off = first;
            for i in 0..(meta / 16) as usize {
                let r = s + 0x30 + 16 * i;
                let (b, c) = (u64_at(&bytes, r), u64_at(&bytes, r + 8));
                if b == 0 {
                    break;
                }
                for k in 0..c {
                    map.insert(b + k, off);
                    off += PAGE;
                }
            }
        }
        _ => {}
    }
    FileImage { bytes, map }
}

/// Reads a PFN's bytes at an offset.
fn phys_read(p: &dyn Phys, pa: u64, len: usize) -> Option<Vec<u8>> {
    let page = p.page(pa / PAGE)?;
    let o = (pa % PAGE) as usize;
    Some(page[o..o + len].to_vec())
}

/// Why a translation failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    NotMapped,
    PagedOut(u64),
    Transition(u64),
    NotInDump,
}

/// Virtual → physical for the three paging modes (Intel SDM vol. 3 ch. 4).
pub fn translate(p: &dyn Phys, arch: Arch, dtb: u64, va: u64) -> Result<u64, Miss> {
    let (levels, es): (Vec<(u64, u64)>, usize) = match arch {
        Arch::X64 => (vec![(39, 0x1ff), (30, 0x1ff), (21, 0x1ff), (12, 0x1ff)], 8),
        Arch::X86 => (vec![(22, 0x3ff), (12, 0x3ff)], 4),
        Arch::X86Pae => (vec![(30, 3), (21, 0x1ff), (12, 0x1ff)], 8),
    };
    let mut table = dtb & !0xfff;
    for (i, (shift, mask)) in levels.iter().enumerate() {
        let idx = (va >> shift) & mask;
        let raw = phys_read(p, table + idx * es as u64, es).ok_or(Miss::NotInDump)?;
        let e = if es == 4 {
            u32_at(&raw, 0)
        } else {
            u64_at(&raw, 0)
        };
        let last = i == levels.len() - 1;
        if e & 1 == 0 {
            if last && e != 0 {
                if e & (1 << 11) != 0 && e & (1 << 10) == 0 {
                    return Err(Miss::Transition(e >> 12 & 0xff_ffff_ffff));
                }
                let off = if arch == Arch::X86 { e >> 12 } else { e >> 32 };
                return Err(Miss::PagedOut(off));
            }
            return Err(Miss::NotMapped);
        }
        let next = e & 0x000f_ffff_ffff_f000;
        if last {
            return Ok(next | (va & 0xfff));
        }
        table = next;
    }
    unreachable!()
}

/// Reads virtual memory (valid pages only).
pub fn vread(p: &dyn Phys, arch: Arch, dtb: u64, va: u64, len: usize) -> Result<Vec<u8>, Miss> {
    let mut out = Vec::with_capacity(len);
    let mut a = va;
    while out.len() < len {
        let n = ((PAGE - a % PAGE) as usize).min(len - out.len());
        let pa = translate(p, arch, dtb, a)?;
        out.extend(phys_read(p, pa, n).ok_or(Miss::NotInDump)?);
        a += n as u64;
    }
    Ok(out)
}

pub fn vptr(p: &dyn Phys, arch: Arch, dtb: u64, va: u64) -> u64 {
    let n = if arch == Arch::X64 { 8 } else { 4 };
    let b = vread(p, arch, dtb, va, n).unwrap_or_else(|e| panic!("{va:#x}: {e:?}"));
    if n == 8 { u64_at(&b, 0) } else { u32_at(&b, 0) }
}
