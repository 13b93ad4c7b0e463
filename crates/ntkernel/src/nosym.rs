//! Finding globals without symbols: validated searches of the kernel image's data.
//!
//! A build pooldbg has no profile for still has the structure layouts of a nearby build (they rarely
//! change within a version family, [`crate::fallback`]); what moves are the globals' addresses. The
//! searches here find them from the data alone, and each answer is kept only when the structure it
//! leads to validates. Every answer carries [`Source::Found`] ("found without symbols").
//!
//! * **The KDBG, encoded, without its keys** ([`find_kdbg_without_keys`]). Windows 8+ x64 keeps
//!   `KdDebuggerDataBlock` encoded in memory; per u64 `c` the decoding is
//!   `p = bswap(rol(c ^ KiWaitNever, KiWaitNever & 0xff) ^ &KdpDataBlockEncoded) ^ KiWaitAlways`
//!   (the order given by Volatility 2's `win8_kdbg.py` and QEMU's `contrib/elf2dmp/kdbg.c`;
//!   facts only, this is our own code). Rotation and byte swap distribute over XOR, so with
//!   `f_r(c) = bswap(rol(c, r))` and `r = KiWaitNever & 63` (a rotation by n is one by n mod 64):
//!   `p = f_r(c) ^ K` with `K = f_r(KiWaitNever) ^ bswap(&KdpDataBlockEncoded) ^ KiWaitAlways`, one
//!   constant for the whole block. Two header words are known: `+0x10` holds OwnerTag `KDBG` and
//!   `Header.Size`, `+0x18` holds KernBase (the image base the PE scan found). So for each rotation
//!   guess, `f_r(c10 ^ c18) ^ KernBase` must read `KDBG` in its low half and a plausible size in its
//!   high half; then `K = f_r(c10) ^ plain10` decodes every other word.
//! * A decoded candidate is used only when the lists it names are well formed: the debugger-data
//!   list head (`Header.List.Flink`, inside the image) points back at the block, and
//!   `PsLoadedModuleList` (inside the image) is a list head whose first entry points back at it.
//!   A decoy that passes the arithmetic but not the lists is refused with the reason; two
//!   different blocks that both pass are refused as ambiguous ("not found", never a guess).

use crate::kdbg::{Kdbg, MAX_SIZE, MIN_SIZE, OWNER_TAG};
use crate::memory::KernelMemory;
use crate::symbols::Source;

/// The label every answer found here carries.
pub const LABEL: &str = "found without symbols";

/// The most bytes of the image one search reads (bounds the work on a hostile header).
pub const MAX_SEARCH_BYTES: u64 = 64 * 1024 * 1024;

/// The most candidates whose rejection is reported.
const MAX_REPORTED: usize = 8;

/// `IMAGE_SCN_MEM_WRITE` (PE/COFF specification, section flags).
const SCN_MEM_WRITE: u32 = 0x8000_0000;
/// `IMAGE_SCN_MEM_DISCARDABLE`.
const SCN_MEM_DISCARDABLE: u32 = 0x0200_0000;

/// One section of a PE image in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name (up to 8 bytes, NULs dropped).
    pub name: String,
    /// Its first byte's virtual address.
    pub start: u64,
    /// Its length in memory (`VirtualSize`).
    pub len: u64,
    /// `Characteristics`.
    pub characteristics: u32,
}

impl Section {
    /// Writable and not discardable: where a kernel keeps its global variables.
    pub fn holds_data(&self) -> bool {
        self.characteristics & SCN_MEM_WRITE != 0 && self.characteristics & SCN_MEM_DISCARDABLE == 0
    }
}

/// The section table of the image at `base` (PE/COFF specification: `e_lfanew` at 0x3c, the COFF
/// header's `NumberOfSections` at +6 and `SizeOfOptionalHeader` at +20 past `PE\0\0`, 40-byte
/// section headers after the optional header). At most 96 sections (the format's own limit).
pub fn sections(mem: &dyn KernelMemory, base: u64) -> Result<Vec<Section>, String> {
    let mut page = vec![0u8; 0x1000];
    mem.read_virtual(base, &mut page)
        .map_err(|e| format!("image headers at {base:#x}: {e}"))?;
    if !crate::pe::looks_like_pe(&page) {
        return Err(format!("no MZ/PE signature at {base:#x}"));
    }
    let u16_at = |o: usize| -> Option<u16> {
        Some(u16::from_le_bytes(page.get(o..o + 2)?.try_into().ok()?))
    };
    let u32_at = |o: usize| -> Option<u32> {
        Some(u32::from_le_bytes(page.get(o..o + 4)?.try_into().ok()?))
    };
    let bad = || format!("image at {base:#x}: section table outside its first page");
    let nt = u32_at(0x3c).ok_or_else(bad)? as usize;
    let count = usize::from(u16_at(nt + 6).ok_or_else(bad)?).min(96);
    let opt = usize::from(u16_at(nt + 20).ok_or_else(bad)?);
    let table = nt + 24 + opt;
    let mut out = Vec::new();
    for i in 0..count {
        let s = table + 40 * i;
        let (Some(name), Some(len), Some(rva), Some(ch)) = (
            page.get(s..s + 8),
            u32_at(s + 8),
            u32_at(s + 12),
            u32_at(s + 36),
        ) else {
            return Err(bad());
        };
        let name: String = name
            .iter()
            .take_while(|&&b| b != 0)
            .map(|&b| char::from(b))
            .collect();
        out.push(Section {
            name,
            start: base.saturating_add(u64::from(rva)),
            len: u64::from(len),
            characteristics: ch,
        });
    }
    Ok(out)
}

/// The ranges a search for globals reads: the image's data sections, else (no readable section
/// table) the whole image past its headers; at most [`MAX_SEARCH_BYTES`] in all.
pub fn data_ranges(mem: &dyn KernelMemory, base: u64, size_of_image: u64) -> Vec<(u64, u64)> {
    let end = base.saturating_add(size_of_image);
    let mut ranges: Vec<(u64, u64)> = match sections(mem, base) {
        Ok(s) => s
            .iter()
            .filter(|s| s.holds_data())
            .map(|s| (s.start.max(base), s.start.saturating_add(s.len).min(end)))
            .filter(|(a, b)| a < b)
            .collect(),
        Err(_) => Vec::new(),
    };
    if ranges.is_empty() {
        ranges.push((base.saturating_add(0x1000), end));
    }
    let mut budget = MAX_SEARCH_BYTES;
    for r in &mut ranges {
        let len = (r.1 - r.0).min(budget);
        r.1 = r.0 + len;
        budget -= len;
    }
    ranges.retain(|(a, b)| a < b);
    ranges
}

/// `f_r(c) = bswap(rol(c, r))`: the key-independent part of the KDBG decoding.
pub fn f_r(c: u64, r: u32) -> u64 {
    c.rotate_left(r).swap_bytes()
}

/// A KDBG found without its keys.
#[derive(Debug, Clone)]
pub struct KeylessKdbg {
    /// The decoded block.
    pub kdbg: Kdbg,
    /// The rotation (`KiWaitNever & 63`).
    pub rotation: u32,
    /// The block's constant `K` (see the module documentation).
    pub constant: u64,
    /// Candidates that passed the arithmetic and were refused, with why.
    pub rejected: Vec<String>,
}

/// Why no KDBG was found without keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeylessError {
    /// Nothing in the searched ranges decodes to `KDBG` + this kernel base.
    #[error(
        "no encoded KDBG found without symbols: no 8-byte-aligned block in {bytes:#x} bytes of the kernel's data sections decodes to OwnerTag 'KDBG' and KernBase {base:#x}{}",
        fmt_rejected(.rejected)
    )]
    NotFound {
        /// The kernel base the search looked for.
        base: u64,
        /// Bytes searched.
        bytes: u64,
        /// Candidates refused, with why.
        rejected: Vec<String>,
    },
    /// More than one block validated.
    #[error(
        "no encoded KDBG found without symbols: {} blocks validate ({}); none is used",
        .0.len(),
        .0.iter().map(|v| format!("{v:#x}")).collect::<Vec<_>>().join(", ")
    )]
    Ambiguous(Vec<u64>),
}

fn fmt_rejected(r: &[String]) -> String {
    if r.is_empty() {
        String::new()
    } else {
        format!(" (refused: {})", r.join("; "))
    }
}

/// Reads a u64; `None` when unreadable.
fn read_u64(mem: &dyn KernelMemory, va: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    mem.read_virtual(va, &mut b).ok()?;
    Some(u64::from_le_bytes(b))
}

/// Calls `f(va, bytes)` for every 8-aligned `va` of `ranges` on a readable page, `bytes` being the
/// `window` bytes from `va` (up to 0x100; they may run into the next page when it is readable; a
/// place whose window is not readable is skipped). Returns the bytes of the readable pages.
fn each_word(
    mem: &dyn KernelMemory,
    ranges: &[(u64, u64)],
    window: usize,
    mut f: impl FnMut(u64, &[u8]),
) -> u64 {
    let window = window.clamp(8, 0x100);
    let mut buf = vec![0u8; 0x1000 + window];
    let mut read = 0u64;
    for &(start, end) in ranges {
        let mut page = start & !0xfff;
        while page < end {
            let next = page.saturating_add(0x1000);
            if mem.read_virtual(page, &mut buf[..0x1000]).is_ok() {
                read += 0x1000;
                let tail_ok = mem.read_virtual(next, &mut buf[0x1000..]).is_ok();
                let limit = if tail_ok { 0x1000 } else { 0x1000 - window + 8 };
                for o in (0..limit).step_by(8) {
                    let va = page + o as u64;
                    if va >= start && va < end {
                        f(va, &buf[o..o + window]);
                    }
                }
            }
            if next == page {
                break;
            }
            page = next;
        }
    }
    read
}

/// Searches `ranges` for an x64 KDBG encoded with unknown keys whose KernBase is `base`, and
/// validates it against the image `[base, base + size_of_image)` (module documentation).
pub fn find_kdbg_without_keys(
    mem: &dyn KernelMemory,
    base: u64,
    size_of_image: u64,
    ranges: &[(u64, u64)],
) -> Result<KeylessKdbg, KeylessError> {
    let in_image = |v: u64| v >= base && v < base.saturating_add(size_of_image);
    let mut rejected = Vec::new();
    let mut found: Vec<KeylessKdbg> = Vec::new();
    let word = |w: &[u8], o: usize| u64::from_le_bytes(w[o..o + 8].try_into().unwrap_or([0; 8]));
    let searched = each_word(mem, ranges, 0x20, |va, w| {
        let (c10, c18) = (word(w, 0x10), word(w, 0x18));
        let x = c10 ^ c18;
        if x == 0 {
            return;
        }
        for r in 0..64 {
            let y = f_r(x, r) ^ base;
            let size = (y >> 32) as u32;
            if y as u32 != OWNER_TAG
                || !(MIN_SIZE..=MAX_SIZE).contains(&size)
                || !size.is_multiple_of(8)
            {
                continue;
            }
            let plain10 = u64::from(OWNER_TAG) | (u64::from(size) << 32);
            let k = f_r(c10, r) ^ plain10;
            match decode_and_validate(mem, va, size, r, k, &in_image) {
                Ok(kdbg) => {
                    if !found.iter().any(|f| f.kdbg.va == va) {
                        found.push(KeylessKdbg {
                            kdbg,
                            rotation: r,
                            constant: k,
                            rejected: Vec::new(),
                        });
                    }
                }
                Err(why) => {
                    if rejected.len() < MAX_REPORTED {
                        rejected.push(format!("{va:#x}: {why}"));
                    }
                }
            }
        }
    });
    match found.len() {
        0 => Err(KeylessError::NotFound {
            base,
            bytes: searched,
            rejected,
        }),
        1 => {
            let mut f = found.remove(0);
            f.rejected = rejected;
            Ok(f)
        }
        _ => Err(KeylessError::Ambiguous(
            found.iter().map(|f| f.kdbg.va).collect(),
        )),
    }
}

/// Decodes the block at `va` with rotation `r` and constant `k`, and checks its lists.
fn decode_and_validate(
    mem: &dyn KernelMemory,
    va: u64,
    size: u32,
    r: u32,
    k: u64,
    in_image: &dyn Fn(u64) -> bool,
) -> Result<Kdbg, String> {
    let mut bytes = vec![0u8; size as usize];
    let mut got = 0usize;
    while got < bytes.len() {
        let a = va.wrapping_add(got as u64);
        let n = ((0x1000 - (a & 0xfff)) as usize).min(bytes.len() - got);
        if mem.read_virtual(a, &mut bytes[got..got + n]).is_err() {
            break;
        }
        got += n;
    }
    bytes.truncate(got & !7);
    for chunk in bytes.chunks_exact_mut(8) {
        let c = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        chunk.copy_from_slice(&(f_r(c, r) ^ k).to_le_bytes());
    }
    let kdbg = Kdbg::from_decoded(va, &bytes, true).map_err(|e| e.to_string())?;
    // The debugger-data list: Header.List.Flink is KdpDebuggerDataListHead, in the image, whose
    // Flink is this block.
    let flink = kdbg
        .at(0, 8)
        .ok_or("the block is too short for its list entry")?;
    if !in_image(flink) {
        return Err(format!(
            "Header.List.Flink {flink:#x} is not inside the kernel image"
        ));
    }
    match read_u64(mem, flink) {
        Some(v) if v == va => {}
        Some(v) => {
            return Err(format!(
                "the debugger-data list head at {flink:#x} points at {v:#x}, not at the block"
            ));
        }
        None => {
            return Err(format!(
                "the debugger-data list head at {flink:#x} is unreadable"
            ));
        }
    }
    // PsLoadedModuleList: a list head in the image whose first entry points back at it.
    let head = kdbg
        .field("PsLoadedModuleList")
        .ok_or("the block does not reach PsLoadedModuleList")?;
    if !in_image(head) {
        return Err(format!(
            "PsLoadedModuleList {head:#x} is not inside the kernel image"
        ));
    }
    let first = read_u64(mem, head)
        .ok_or_else(|| format!("PsLoadedModuleList at {head:#x} is unreadable"))?;
    match read_u64(mem, first.wrapping_add(8)) {
        Some(b) if b == head => Ok(kdbg),
        Some(b) => Err(format!(
            "PsLoadedModuleList {head:#x}: its first entry {first:#x} has Blink {b:#x}"
        )),
        None => Err(format!(
            "PsLoadedModuleList {head:#x}: its first entry {first:#x} is unreadable"
        )),
    }
}

/// The [`Source`] of answers found here, naming how (`KDBG decoded without keys`).
pub fn source(how: &str) -> Source {
    Source::Found(how.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdbg::KdbgKeys;
    use crate::memory::SparseMemory;

    const BASE: u64 = 0xfffff804_7ba00000;
    const SIZE: u64 = 0x80_0000;
    const LIST_HEAD: u64 = BASE + 0x40_0100;
    const PSL: u64 = BASE + 0x40_0200;
    const ENTRY: u64 = 0xffffa000_00001000;

    /// A plain KDBG at `va` naming `base`, the list head and PsLoadedModuleList.
    fn plain(base: u64) -> Vec<u8> {
        let mut b = vec![0u8; 0x360];
        b[0..8].copy_from_slice(&LIST_HEAD.to_le_bytes());
        b[8..16].copy_from_slice(&LIST_HEAD.to_le_bytes());
        b[0x10..0x14].copy_from_slice(&OWNER_TAG.to_le_bytes());
        b[0x14..0x18].copy_from_slice(&0x360u32.to_le_bytes());
        b[0x18..0x20].copy_from_slice(&base.to_le_bytes());
        b[0x48..0x50].copy_from_slice(&PSL.to_le_bytes());
        b[0x1b8..0x1c0].copy_from_slice(&(BASE + 0x40_0300).to_le_bytes());
        b
    }

    fn encoded(keys: KdbgKeys, bytes: &[u8]) -> Vec<u8> {
        bytes
            .chunks_exact(8)
            .flat_map(|c| {
                keys.encode(u64::from_le_bytes(c.try_into().unwrap()))
                    .to_le_bytes()
            })
            .collect()
    }

    /// A kernel image with the two lists in place and an encoded KDBG at `va`.
    fn memory(keys: KdbgKeys, va: u64) -> SparseMemory {
        let mut m = SparseMemory::new();
        m.write(BASE + 0x40_0000, &[0u8; 0x1000]);
        m.write(BASE + 0x40_1000, &[0u8; 0x1000]);
        m.write_u64(LIST_HEAD, va);
        m.write_u64(LIST_HEAD + 8, va);
        m.write_u64(PSL, ENTRY);
        m.write_u64(PSL + 8, ENTRY);
        m.write_u64(ENTRY, PSL);
        m.write_u64(ENTRY + 8, PSL);
        m.write(va, &encoded(keys, &plain(BASE)));
        m
    }

    fn keys(seed: u64) -> KdbgKeys {
        let mix = |x: u64| x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29) ^ 0x5bd1_e995;
        KdbgKeys {
            wait_never: mix(seed),
            wait_always: mix(seed ^ 0xabcdef),
            data_block_encoded: BASE + 0x40_0f00,
        }
    }

    const RANGES: &[(u64, u64)] = &[(BASE + 0x40_0000, BASE + 0x40_2000)];

    #[test]
    fn the_linear_form_equals_the_decoding() {
        for seed in 0..200u64 {
            let k = keys(seed);
            let r = (k.wait_never & 0xff) as u32 % 64;
            let konst = f_r(k.wait_never, r) ^ k.data_block_encoded.swap_bytes() ^ k.wait_always;
            for q in [0u64, 1, seed.wrapping_mul(0x1234_5678_9abc_def1), u64::MAX] {
                assert_eq!(f_r(q, r) ^ konst, k.decode(q), "seed {seed} q {q:#x}");
            }
        }
    }

    #[test]
    fn finds_the_block_for_any_keys_and_any_place() {
        // Property: every key set and every 8-aligned place in the range, page-crossing included.
        for seed in 0..64u64 {
            let k = keys(seed);
            let va = BASE
                + 0x40_0400
                + (seed * 0x38) % 0xc00 / 8 * 8
                + if seed % 5 == 0 { 0xbf0 } else { 0 };
            let m = memory(k, va);
            let f = find_kdbg_without_keys(&m, BASE, SIZE, RANGES)
                .unwrap_or_else(|e| panic!("seed {seed} va {va:#x}: {e}"));
            assert_eq!(f.kdbg.va, va);
            assert!(f.kdbg.was_encoded);
            assert_eq!(f.kdbg.kernel_base(), Some(BASE));
            assert_eq!(f.kdbg.field("PsLoadedModuleList"), Some(PSL));
            assert_eq!(f.kdbg.field("PoolTrackTable"), Some(BASE + 0x40_0300));
            assert_eq!(f.rotation, (k.wait_never & 0x3f) as u32);
        }
    }

    #[test]
    fn decoys_are_refused_with_the_reason() {
        let k = keys(7);
        let va = BASE + 0x40_0800;
        // A decoy whose header decodes (tag, size, base) but whose debugger-data list does not
        // lead back to it.
        let mut m = memory(k, va);
        m.write_u64(LIST_HEAD, va + 0x10);
        let e = find_kdbg_without_keys(&m, BASE, SIZE, RANGES).unwrap_err();
        assert!(matches!(e, KeylessError::NotFound { .. }));
        assert!(e.to_string().contains("points at"), "{e}");
        // A decoy whose PsLoadedModuleList is no list.
        let mut m = memory(k, va);
        m.write_u64(ENTRY + 8, 0);
        let e = find_kdbg_without_keys(&m, BASE, SIZE, RANGES).unwrap_err();
        assert!(e.to_string().contains("Blink"), "{e}");
        // A decoy naming another kernel base is not even a candidate.
        let mut m = memory(k, va);
        m.write(va, &encoded(k, &plain(BASE + 0x20_0000)));
        let e = find_kdbg_without_keys(&m, BASE, SIZE, RANGES).unwrap_err();
        assert!(e.to_string().contains("no 8-byte-aligned block"), "{e}");
        // A clear `KDBG` tag is no encoded block (and proves nothing here).
        let mut m = memory(k, va);
        m.write(va, &plain(BASE));
        assert!(find_kdbg_without_keys(&m, BASE, SIZE, RANGES).is_err());
        // A second, well-formed copy elsewhere whose list head points at the other one.
        let mut m = memory(k, va);
        let va2 = BASE + 0x40_1400;
        m.write(va2, &encoded(k, &plain(BASE)));
        m.write_u64(LIST_HEAD, va2);
        m.write_u64(LIST_HEAD + 8, va2);
        // The list head points at only one of them: the other is refused, one is found.
        let f = find_kdbg_without_keys(&m, BASE, SIZE, RANGES).expect("one validates");
        assert_eq!(f.kdbg.va, va2);
        assert_eq!(f.rejected.len(), 1, "{:?}", f.rejected);
    }

    #[test]
    fn garbage_never_panics_and_finds_nothing() {
        let mut m = SparseMemory::new();
        let mut x = 0x1234_5678u64;
        let mut page = vec![0u8; 0x2000];
        for b in &mut page {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        m.write(BASE + 0x40_0000, &page);
        assert!(find_kdbg_without_keys(&m, BASE, SIZE, RANGES).is_err());
        assert!(find_kdbg_without_keys(&m, BASE, SIZE, &[(u64::MAX - 0x10, u64::MAX)]).is_err());
    }

    #[test]
    fn sections_come_from_the_header_and_data_ranges_fall_back_to_the_image() {
        let mut m = SparseMemory::new();
        assert_eq!(
            data_ranges(&m, BASE, 0x3000),
            vec![(BASE + 0x1000, BASE + 0x3000)]
        );
        let mut pg = vec![0u8; 0x1000];
        pg[0..2].copy_from_slice(b"MZ");
        pg[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        pg[0x80..0x84].copy_from_slice(b"PE\0\0");
        pg[0x86..0x88].copy_from_slice(&2u16.to_le_bytes());
        pg[0x94..0x96].copy_from_slice(&0xf0u16.to_le_bytes());
        let t = 0x80 + 24 + 0xf0;
        for (i, (n, rva, len, ch)) in [
            (b".text\0\0\0", 0x1000u32, 0x1000u32, 0x6000_0020u32),
            (b".data\0\0\0", 0x2000, 0x1800, 0xc000_0040),
        ]
        .iter()
        .enumerate()
        {
            let s = t + 40 * i;
            pg[s..s + 8].copy_from_slice(*n);
            pg[s + 8..s + 12].copy_from_slice(&len.to_le_bytes());
            pg[s + 12..s + 16].copy_from_slice(&rva.to_le_bytes());
            pg[s + 36..s + 40].copy_from_slice(&ch.to_le_bytes());
        }
        m.write(BASE, &pg);
        let s = sections(&m, BASE).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].name, ".data");
        assert!(s[1].holds_data() && !s[0].holds_data());
        assert_eq!(
            data_ranges(&m, BASE, 0x4000),
            vec![(BASE + 0x2000, BASE + 0x3800)]
        );
        // A hostile section count or offset is cut, not followed.
        pg[0x3c..0x40].copy_from_slice(&0xff0u32.to_le_bytes());
        pg[0xff0..0xff4].copy_from_slice(b"PE\0\0");
        m.write(BASE, &pg);
        assert!(sections(&m, BASE).is_err());
    }
}

/// A global found by a search: where it is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The global's name.
    pub name: &'static str,
    /// Its address (a word of the kernel's data sections).
    pub va: u64,
    /// The value it holds.
    pub value: u64,
}

/// The entry layouts the pool-table searches need (from the nearest build's layouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolTableLayout {
    /// `sizeof(_POOL_TRACKER_TABLE)`; `Key` (the tag) at +0.
    pub tracker_entry: u64,
    /// `sizeof(_POOL_TRACKER_BIG_PAGES)`; `Va` at +0, `Key` at +pointer size.
    pub big_entry: u64,
    /// Big-page entries are placed by PoolViewer's Windows 10 hash of the page number
    /// (`h = (u32)(Va >> 12) * 0x9E5F; h ^= h >> 32`, linear probing; pool-internals.md §4.3):
    /// checked on builds 10240+, where that source describes it.
    pub big_hash: bool,
}

/// The words of the data sections a pool-table search looks at.
#[derive(Debug, Default)]
pub struct DataWords {
    /// Words holding a power of two in 0x40..=2^24: candidate table sizes.
    pub sizes: Vec<(u64, u64)>,
    /// Words holding a page-aligned kernel-space pointer: candidate table addresses.
    pub pointers: Vec<(u64, u64)>,
}

/// The most candidate words of each kind kept.
const MAX_WORDS: usize = 1 << 20;

impl DataWords {
    /// Collects the candidate words of `ranges` (x64 words, 8-aligned).
    pub fn collect(mem: &dyn KernelMemory, ranges: &[(u64, u64)]) -> DataWords {
        let mut out = DataWords::default();
        each_word(mem, ranges, 8, |va, w| {
            let v = u64::from_le_bytes(w[..8].try_into().unwrap_or([0; 8]));
            if v.is_power_of_two() && (0x40..=1 << 24).contains(&v) {
                if out.sizes.len() < MAX_WORDS {
                    out.sizes.push((va, v));
                }
            } else if v >= 0xFFFF_8000_0000_0000 && v & 0xfff == 0 && out.pointers.len() < MAX_WORDS
            {
                out.pointers.push((va, v));
            }
        });
        out.sizes.sort_unstable();
        out.pointers.sort_unstable();
        out
    }
}

/// The bytes of a table, when every page is readable and the size is at most 64 MiB.
fn read_table(mem: &dyn KernelMemory, va: u64, bytes: u64) -> Option<Vec<u8>> {
    if bytes == 0 || bytes > 64 * 1024 * 1024 {
        return None;
    }
    let mut b = vec![0u8; bytes as usize];
    let mut got = 0usize;
    while got < b.len() {
        let a = va.checked_add(got as u64)?;
        let n = ((0x1000 - (a & 0xfff)) as usize).min(b.len() - got);
        mem.read_virtual(a, &mut b[got..got + n]).ok()?;
        got += n;
    }
    Some(b)
}

/// True when every used slot `i` is reachable from its hash by linear probing over used slots.
fn probes_hold(used: &[bool], hash_of: impl Fn(usize) -> Option<u64>) -> bool {
    let n = used.len();
    let mask = (n - 1) as u64;
    (0..n).filter(|&i| used[i]).all(|i| {
        let Some(h) = hash_of(i) else {
            return true;
        };
        let mut s = (h & mask) as usize;
        let mut steps = 0usize;
        while s != i {
            if !used[s] || steps > n {
                return false;
            }
            s = (s + 1) & mask as usize;
            steps += 1;
        }
        true
    })
}

/// `PoolTrackTableSize` for the tracker table at `table`: the power of two `n` whose table places
/// every used entry where the kernel's tag hash (`ExpComputeHashForTag`, ReactOS `expool.c`:
/// `h = 40543 * Tag; (h ^ (h >> 32)) & (n - 1)`, linear probing; pool-internals.md §4.2) and its
/// probing put it, with at least four entries in use and one in its upper half (a smaller size
/// fits the table's lower part; a larger one over zeros has nothing in its upper half), the largest
/// such; the found word is the one holding that value nearest `ptt_var` (`&PoolTrackTable`).
pub fn find_tracker_size(
    mem: &dyn KernelMemory,
    words: &DataWords,
    ptt_var: u64,
    table: u64,
    entry: u64,
) -> Result<Located, String> {
    if entry < 4 {
        return Err(format!("tracker entry size {entry:#x} is not plausible"));
    }
    let mut values: Vec<u64> = words
        .sizes
        .iter()
        .map(|&(_, v)| v)
        .filter(|&v| v >= 0x100)
        .collect();
    values.sort_unstable();
    values.dedup();
    let fits: Vec<u64> = values
        .into_iter()
        .filter(|&n| tracker_size_fits(mem, table, n, entry))
        .collect();
    let n = match fits.last() {
        Some(n) => *n,
        None => {
            return Err(format!(
                "PoolTrackTableSize not found without symbols: no power-of-two word in the kernel's data sections sizes the tracker table at {table:#x} so that its tags sit where the tag hash puts them"
            ));
        }
    };
    let (va, _) = words
        .sizes
        .iter()
        .filter(|&&(_, v)| v == n)
        .min_by_key(|&&(va, _)| va.abs_diff(ptt_var))
        .copied()
        .ok_or("no word holds the size")?;
    Ok(Located {
        name: "PoolTrackTableSize",
        va,
        value: n,
    })
}

/// True when `n` entries of `entry` bytes at `table` are a tracker table of that size: at least
/// four tags in use, one in its upper half, each where the tag hash and linear probing put it (see
/// [`find_tracker_size`]). `n` must be a power of two of at most 2^24.
pub fn tracker_size_fits(mem: &dyn KernelMemory, table: u64, n: u64, entry: u64) -> bool {
    if !n.is_power_of_two() || n > 1 << 24 || entry < 4 {
        return false;
    }
    let Some(bytes) = read_table(mem, table, n.saturating_mul(entry)) else {
        return false;
    };
    let key = |i: usize| {
        let o = i * entry as usize;
        u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap_or([0; 4]))
    };
    let used: Vec<bool> = (0..n as usize).map(|i| key(i) != 0).collect();
    if used.iter().filter(|&&u| u).count() < 4 {
        return false;
    }
    let hash = |i: usize| {
        let h = u64::from(key(i)).wrapping_mul(40543);
        Some(h ^ (h >> 32))
    };
    // A size twice too large fits when zeros follow the table, but then nothing lies in its
    // upper half; a size too small fits its lower part. So: the size that fits and holds an
    // entry in its upper half.
    probes_hold(&used, hash) && used[n as usize / 2..].iter().any(|&u| u)
}

/// `ExPoolTagTables`, the array of tracker tables (\[0\] the global `PoolTrackTable`, then one per
/// processor; pool-internals.md §4.2): a word of the data sections, other than `ptt_var`, holding
/// `table`, followed by at least one pointer to another table that `n` entries of `entry` bytes
/// size so that its tags sit where the tag hash puts them. Two such arrays: refused.
pub fn find_tag_tables(
    mem: &dyn KernelMemory,
    words: &DataWords,
    ptt_var: u64,
    table: u64,
    n: u64,
    entry: u64,
) -> Result<Located, String> {
    let fits = |t: u64| -> bool {
        let Some(bytes) = read_table(mem, t, n.saturating_mul(entry)) else {
            return false;
        };
        let key = |i: usize| {
            let o = i * entry as usize;
            u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap_or([0; 4]))
        };
        let used: Vec<bool> = (0..n as usize).map(|i| key(i) != 0).collect();
        used.iter().any(|&u| u)
            && probes_hold(&used, |i| {
                let h = u64::from(key(i)).wrapping_mul(40543);
                Some(h ^ (h >> 32))
            })
    };
    let mut hits = Vec::new();
    for &(a, v) in &words.pointers {
        if v != table || a == ptt_var {
            continue;
        }
        let mut per_cpu = 0usize;
        for j in 1..=2048u64 {
            let Some(t) = a.checked_add(8 * j).and_then(|x| read_u64(mem, x)) else {
                break;
            };
            if t == 0 || t == table || !fits(t) {
                break;
            }
            per_cpu += 1;
        }
        if per_cpu > 0 {
            hits.push((a, per_cpu));
        }
    }
    match hits.as_slice() {
        [(a, _)] => Ok(Located {
            name: "ExPoolTagTables",
            va: *a,
            value: table,
        }),
        [] => Err(format!(
            "ExPoolTagTables not found without symbols: no word of the kernel's data sections holds {table:#x} followed by per-processor tracker tables"
        )),
        many => Err(format!(
            "ExPoolTagTables not found without symbols: {} arrays fit ({}); none is used",
            many.len(),
            many.iter()
                .map(|(a, _)| format!("{a:#x}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `PoolBigPageTable` and `PoolBigPageTableSize`: a word of the data sections holding a
/// page-aligned kernel pointer, with a word within 0x100 bytes of it holding a power of two `n`,
/// such that the `n` entries there are all readable and well formed (pool-internals.md §4.3: an
/// entry is empty, `Key` 0 and `Va` 0 or only the free bit 1, or holds a kernel `Va` — bit 0 set
/// when free — whose page offset is zero), with at least two in use, placed by the hash where
/// [`PoolTableLayout::big_hash`] says so. `exclude` (the tracker table) is not a candidate. Two
/// different tables that both pass: refused.
pub fn find_big_page_table(
    mem: &dyn KernelMemory,
    words: &DataWords,
    layout: PoolTableLayout,
    exclude: &[u64],
) -> Result<(Located, Located), String> {
    let e = layout.big_entry;
    if e < 16 {
        return Err(format!("big-page entry size {e:#x} is not plausible"));
    }
    let mut hits: Vec<(Located, Located)> = Vec::new();
    let mut tried = std::collections::HashSet::new();
    for &(pva, table) in &words.pointers {
        if exclude.contains(&table) {
            continue;
        }
        // Size words near the pointer word (sorted by address: a window by binary search).
        let lo = words
            .sizes
            .partition_point(|&(va, _)| va < pva.saturating_sub(0x100));
        for &(sva, n) in words.sizes[lo..]
            .iter()
            .take_while(|&&(va, _)| va <= pva.saturating_add(0x100))
        {
            if !tried.insert((table, n)) {
                continue;
            }
            if big_table_fits(mem, table, n, layout) {
                hits.push((
                    Located {
                        name: "PoolBigPageTable",
                        va: pva,
                        value: table,
                    },
                    Located {
                        name: "PoolBigPageTableSize",
                        va: sva,
                        value: n,
                    },
                ));
            }
        }
    }
    let mut distinct: Vec<(u64, u64)> = hits.iter().map(|(t, s)| (t.value, s.value)).collect();
    distinct.sort_unstable();
    distinct.dedup();
    match distinct.len() {
        0 => Err("PoolBigPageTable not found without symbols: no pointer in the kernel's data sections, with a power-of-two size beside it, leads to a table of well-formed big-page entries".into()),
        1 => hits
            .into_iter()
            .min_by_key(|(t, s)| t.va.abs_diff(s.va))
            .ok_or_else(|| "no hit".to_string()),
        _ => Err(format!(
            "PoolBigPageTable not found without symbols: {} candidate tables fit ({}); none is used",
            distinct.len(),
            distinct
                .iter()
                .map(|(t, n)| format!("{t:#x} x {n:#x}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// True when `n` entries at `table` are a big-page table by the checks of
/// [`find_big_page_table`] (every entry well formed, at least two in use, placed by the hash where
/// the layout says so). `n` must be a power of two of at most 2^24.
pub fn big_table_fits(mem: &dyn KernelMemory, table: u64, n: u64, layout: PoolTableLayout) -> bool {
    if !n.is_power_of_two() || n > 1 << 24 || layout.big_entry < 16 {
        return false;
    }
    let e = layout.big_entry as usize;
    // The first page first: most candidates fail there.
    let first = (0x1000 / e).min(n as usize) * e;
    let Some(head) = read_table(mem, table, first as u64) else {
        return false;
    };
    let well_formed = |b: &[u8]| {
        let va = u64::from_le_bytes(b[0..8].try_into().unwrap_or([0; 8]));
        let key = u32::from_le_bytes(b[8..12].try_into().unwrap_or([0; 4]));
        let kernel_page = va >= 0xFFFF_8000_0000_0000 && va & 0xffe == 0;
        // Empty: Key 0 and Va 0 or just the free bit; in use or freed: a kernel page and a tag.
        kernel_page || (key == 0 && va <= 1)
    };
    if !head.chunks_exact(e).all(well_formed) {
        return false;
    }
    let Some(bytes) = read_table(mem, table, n.saturating_mul(layout.big_entry)) else {
        return false;
    };
    if !bytes.chunks_exact(e).all(well_formed) {
        return false;
    }
    let va_of = |i: usize| u64::from_le_bytes(bytes[i * e..i * e + 8].try_into().unwrap_or([0; 8]));
    let used: Vec<bool> = (0..n as usize).map(|i| va_of(i) > 1).collect();
    if used.iter().filter(|&&u| u).count() < 2 {
        return false;
    }
    !layout.big_hash
        || probes_hold(&used, |i| {
            let h = ((va_of(i) >> 12) & 0xffff_ffff).wrapping_mul(0x9e5f);
            Some(h ^ (h >> 32))
        })
}

/// The `_EX_POOL_HEAP_MANAGER_STATE` facts [`find_pool_state`] checks (from the nearest build's
/// layouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStateLayout {
    /// `NumberOfPools` (u32).
    pub number_of_pools: u64,
    /// `PoolNode[]`.
    pub pool_node: u64,
    /// `_EX_HEAP_POOL_NODE.Heaps[]` within a node.
    pub node_heaps: u64,
    /// `_SEGMENT_HEAP.Signature` (u32).
    pub heap_signature: u64,
}

/// `_SEGMENT_HEAP.Signature` (Yason, "Windows 10 Segment Heap Internals", BH 2016; MemProcFS).
pub const SEGMENT_HEAP_SIGNATURE: u32 = 0xDDEE_DDEE;

fn read_u32(mem: &dyn KernelMemory, va: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    mem.read_virtual(va, &mut b).ok()?;
    Some(u32::from_le_bytes(b))
}

/// `ExPoolState` (19H1+ segment-heap pool; pool-internals.md §3): a place `S` in the data sections
/// where `HeapManager.Globals` (+0) points inside the kernel image (at `RtlpHpHeapGlobals`),
/// `NumberOfPools` is 1..=64, and the four `Heaps[]` of `PoolNode[0]` are each null or a
/// `_SEGMENT_HEAP` whose `Signature` is 0xDDEEDDEE, at least two of them. Two places that pass:
/// refused.
pub fn find_pool_state(
    mem: &dyn KernelMemory,
    ranges: &[(u64, u64)],
    base: u64,
    size_of_image: u64,
    l: PoolStateLayout,
) -> Result<Located, String> {
    let end = base.saturating_add(size_of_image);
    let mut hits = Vec::new();
    let heap_ok = |h: u64| {
        h >= 0xFFFF_8000_0000_0000
            && h.checked_add(l.heap_signature)
                .and_then(|a| read_u32(mem, a))
                == Some(SEGMENT_HEAP_SIGNATURE)
    };
    each_word(mem, ranges, 8, |s, w| {
        let g = u64::from_le_bytes(w[..8].try_into().unwrap_or([0; 8]));
        if g < base || g >= end || g == s {
            return;
        }
        let Some(np) = s
            .checked_add(l.number_of_pools)
            .and_then(|a| read_u32(mem, a))
        else {
            return;
        };
        if !(1..=64).contains(&np) {
            return;
        }
        let Some(heaps) = s.checked_add(l.pool_node + l.node_heaps) else {
            return;
        };
        let mut good = 0;
        let mut bad = false;
        for k in 0..4u64 {
            match read_u64(mem, heaps + 8 * k) {
                Some(0) => {}
                Some(h) if heap_ok(h) => good += 1,
                _ => bad = true,
            }
        }
        if !bad && good >= 2 {
            hits.push(s);
        }
    });
    match hits.as_slice() {
        [s] => Ok(Located {
            name: "ExPoolState",
            va: *s,
            value: *s,
        }),
        [] => Err("ExPoolState not found without symbols: no place in the kernel's data sections holds a HeapManager.Globals pointer into the image, a NumberOfPools of 1..=64 and segment heaps (signature 0xDDEEDDEE) in PoolNode[0].Heaps[]".into()),
        many => Err(format!(
            "ExPoolState not found without symbols: {} places fit ({}); none is used",
            many.len(),
            many.iter().map(|a| format!("{a:#x}")).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The `MiState.Vs.SystemVaRegions[]` facts [`find_mi_state`] checks (from the nearest build's
/// layouts and poollayout's `_MI_ASSIGNED_REGION_TYPES` indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MiStateLayout {
    /// `_MI_SYSTEM_INFORMATION.Vs` + `_MI_VISIBLE_STATE.SystemVaRegions`.
    pub regions: u64,
    /// `sizeof(_MI_SYSTEM_VA_ASSIGNMENT)` (16 on x64: `BaseAddress`, `NumberOfBytes`).
    pub entry: u64,
    /// `_MI_SYSTEM_VA_ASSIGNMENT.BaseAddress`.
    pub base: u64,
    /// `_MI_SYSTEM_VA_ASSIGNMENT.NumberOfBytes`.
    pub bytes: u64,
    /// `AssignedRegionNonPagedPool`.
    pub nonpaged: u64,
    /// `AssignedRegionPagedPool`.
    pub paged: u64,
}

/// The largest region a `_MI_SYSTEM_VA_ASSIGNMENT` may describe here (64 TiB, poollayout's bound).
const MAX_VA_REGION: u64 = 64 << 40;

/// `MiState.Vs.SystemVaRegions[0..=max(nonpaged, paged)]` at `s`, each `(base, bytes)`, when every
/// entry is empty (both words 0) or a page-aligned kernel-space range of 1 page..64 TiB, the two
/// pool entries are not empty, and no two ranges overlap. `None` otherwise.
fn va_regions_at(mem: &dyn KernelMemory, s: u64, l: MiStateLayout) -> Option<Vec<(u64, u64)>> {
    let count = l.nonpaged.max(l.paged) + 1;
    let mut out = Vec::new();
    for i in 0..count {
        let e = s
            .checked_add(l.regions)?
            .checked_add(i.checked_mul(l.entry)?)?;
        let base = read_u64(mem, e.checked_add(l.base)?)?;
        let bytes = read_u64(mem, e.checked_add(l.bytes)?)?;
        if base == 0 && bytes == 0 {
            out.push((0, 0));
            continue;
        }
        let ok = base >= 0xFFFF_8000_0000_0000
            && base & 0xfff == 0
            && bytes & 0xfff == 0
            && (0x1000..=MAX_VA_REGION).contains(&bytes)
            && base.checked_add(bytes - 1).is_some();
        if !ok {
            return None;
        }
        out.push((base, bytes));
    }
    let pool = |i: u64| out.get(i as usize).copied().filter(|&(_, n)| n != 0);
    pool(l.nonpaged)?;
    pool(l.paged)?;
    let mut used: Vec<(u64, u64)> = out.iter().copied().filter(|&(_, n)| n != 0).collect();
    used.sort_unstable();
    if used.windows(2).any(|w| w[0].0 + (w[0].1 - 1) >= w[1].0) {
        return None;
    }
    Some(out)
}

/// `MiState` (`_MI_SYSTEM_INFORMATION`, 1607+): a place `S` of the data sections whose
/// `Vs.SystemVaRegions[]` validates (`va_regions_at`) and whose pool regions hold the pool's big
/// allocations: of the in-use `Va`s of the big-page table (found or named: `big_vas`), at least one,
/// and at least 9 in 10, lie in the nonpaged or paged region (big allocations are pool pages:
/// pool-internals.md §4.3). A place that merely repeats the array shifted by one entry names other
/// regions (system PTEs, the PFN database…) as the pool and fails that check. Two places that pass:
/// refused. Without big-page `Va`s nothing is searched (the regions alone are too weak).
pub fn find_mi_state(
    mem: &dyn KernelMemory,
    ranges: &[(u64, u64)],
    l: MiStateLayout,
    big_vas: &[u64],
) -> Result<Located, String> {
    if l.entry < 16 || l.entry > 0x40 || l.nonpaged.max(l.paged) > 64 {
        return Err(format!(
            "MiState not searched for: _MI_SYSTEM_VA_ASSIGNMENT layout (size {:#x}, pool indexes {}/{}) is not plausible",
            l.entry, l.nonpaged, l.paged
        ));
    }
    if big_vas.is_empty() {
        return Err("MiState not found without symbols: no in-use big pool allocation is known to check the pool regions against".into());
    }
    let mut hits = Vec::new();
    each_word(mem, ranges, 8, |s, _| {
        let Some(regions) = va_regions_at(mem, s, l) else {
            return;
        };
        let (np, pp) = (regions[l.nonpaged as usize], regions[l.paged as usize]);
        let inside = |(b, n): (u64, u64), va: u64| va >= b && va - b < n;
        let held = big_vas
            .iter()
            .filter(|&&va| inside(np, va) || inside(pp, va))
            .count();
        if held >= 1 && held * 10 >= big_vas.len() * 9 {
            hits.push(s);
        }
    });
    match hits.as_slice() {
        [s] => Ok(Located {
            name: "MiState",
            va: *s,
            value: *s,
        }),
        [] => Err("MiState not found without symbols: no place in the kernel's data sections holds a well-formed Vs.SystemVaRegions[] (kernel-space, page-aligned, disjoint ranges) whose pool regions hold the big pool allocations".into()),
        many => Err(format!(
            "MiState not found without symbols: {} places fit ({}); none is used",
            many.len(),
            many.iter()
                .take(MAX_REPORTED)
                .map(|a| format!("{a:#x}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The in-use `Va`s (bit 0 clear, page-aligned, kernel space) of a big-page table of `n` entries of
/// `entry` bytes at `table` (`Va` at +0), at most `max` of them.
pub fn big_page_vas(
    mem: &dyn KernelMemory,
    table: u64,
    n: u64,
    entry: u64,
    max: usize,
) -> Vec<u64> {
    let mut out = Vec::new();
    if entry < 8 || n > 1 << 24 {
        return out;
    }
    for i in 0..n {
        let Some(va) = table.checked_add(i * entry).and_then(|a| read_u64(mem, a)) else {
            continue;
        };
        if va & 1 == 0 && va & 0xfff == 0 && va >= 0xFFFF_8000_0000_0000 {
            out.push(va);
            if out.len() >= max {
                break;
            }
        }
    }
    out
}

/// The `_MI_PARTITION` and `_MI_VISIBLE_PARTITION` offsets [`find_system_partition`] checks (from
/// the nearest build's layouts; every Windows 10/11 x64 PDB of `shared/data/isf` puts
/// `LowestPhysicalPage`, `HighestPhysicalPage`, `NumberOfPhysicalPages`, `NumberOfPagingFiles` and
/// `PagingFile[16]` at 0, 8, 0x10, 0x18 and 0x20 of `Vp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLayout {
    /// `_MI_PARTITION.Vp`.
    pub vp: u64,
    /// `Vp.LowestPhysicalPage` (u64).
    pub lowest: u64,
    /// `Vp.HighestPhysicalPage` (u64).
    pub highest: u64,
    /// `Vp.NumberOfPhysicalPages` (u64).
    pub number: u64,
    /// `Vp.NumberOfPagingFiles` (u32).
    pub paging_files: u64,
    /// `Vp.PagingFile[16]` (pointers).
    pub paging_file: u64,
    /// `Vp.AvailablePages`.
    pub available: u64,
    /// `Vp.ResidentAvailablePages`.
    pub resident: u64,
    /// `Vp.ModifiedPageListHead` + `_MMPFNLIST.Total`.
    pub modified: u64,
    /// `Vp.TotalCommittedPages`.
    pub committed: u64,
    /// `Vp.TotalCommitLimit`.
    pub commit_limit: u64,
}

/// What the dump itself says of the machine's physical memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhysicalFacts {
    /// The pages of the kernel's own physical memory runs, when the dump copies them (a complete
    /// crash dump's `PhysicalMemoryBlock` is `MmPhysicalMemoryBlock`, whose page count is the
    /// kernel's `NumberOfPhysicalPages`).
    pub pages: Option<u64>,
    /// One past the highest page frame the dump describes (a raw image: its length in pages).
    pub end_pfn: u64,
}

/// True when the place `v` (a candidate `MiSystemPartition.Vp`, `head` its first bytes) passes
/// every check of [`find_system_partition`].
fn partition_fits(
    mem: &dyn KernelMemory,
    v: u64,
    head: &[u8],
    l: PartitionLayout,
    phys: PhysicalFacts,
) -> bool {
    let at = |o: u64| -> Option<u64> {
        let o = o as usize;
        Some(u64::from_le_bytes(head.get(o..o + 8)?.try_into().ok()?))
    };
    let (Some(low), Some(high), Some(n)) = (at(l.lowest), at(l.highest), at(l.number)) else {
        return false;
    };
    // The page counts agree with the dump: the exact count of its runs where it copies the
    // kernel's, else within the pages it describes; the highest page inside them.
    if n == 0 || low > high || high >= phys.end_pfn || n > high - low + 1 {
        return false;
    }
    match phys.pages {
        Some(p) if n != p => return false,
        Some(_) => {}
        // Without the kernel's own runs, the holes of the physical address space (firmware and
        // device ranges below 4 GiB) are assumed to take at most half of it.
        None if n.saturating_mul(2) < high - low + 1 => return false,
        None => {}
    }
    let read = |o: u64| v.checked_add(o).and_then(|a| read_u64(mem, a));
    let Some(files) = v.checked_add(l.paging_files).and_then(|a| read_u32(mem, a)) else {
        return false;
    };
    // `PagingFile[16]`: the first NumberOfPagingFiles entries point into kernel space.
    if files > 16
        || !(0..u64::from(files))
            .all(|i| read(l.paging_file + 8 * i).is_some_and(|p| p >= 0xFFFF_8000_0000_0000))
    {
        return false;
    }
    // Page counts of the partition never exceed its physical pages; commit stays within its limit.
    let within = |o: u64| read(o).is_some_and(|x| x <= n);
    within(l.available)
        && within(l.resident)
        && within(l.modified)
        && matches!(
            (read(l.committed), read(l.commit_limit)),
            (Some(c), Some(lim)) if lim > 0 && c <= lim
        )
}

/// `MiSystemPartition` (`_MI_PARTITION`, Windows 10+): a place `S` of the data sections whose
/// `Vp` (`_MI_VISIBLE_PARTITION`) agrees with the dump's physical memory: `NumberOfPhysicalPages`
/// equals the pages of the dump's runs where the dump copies the kernel's (`PhysicalMemoryBlock`
/// of a complete crash dump), else is at least half of `HighestPhysicalPage - LowestPhysicalPage
/// + 1`; `LowestPhysicalPage <= HighestPhysicalPage` < the dump's end; `AvailablePages`,
/// `ResidentAvailablePages` and `ModifiedPageListHead.Total` at most `NumberOfPhysicalPages`;
/// `TotalCommittedPages <= TotalCommitLimit` (not 0); `NumberOfPagingFiles` at most 16 with that
/// many kernel pointers in `PagingFile[]`. Two places that pass: refused.
pub fn find_system_partition(
    mem: &dyn KernelMemory,
    ranges: &[(u64, u64)],
    l: PartitionLayout,
    phys: PhysicalFacts,
) -> Result<Located, String> {
    let head = l.lowest.max(l.highest).max(l.number) + 8;
    if head > 0x100 || l.vp > 0x10_0000 || phys.end_pfn == 0 {
        return Err(format!(
            "MiSystemPartition not searched for: _MI_VISIBLE_PARTITION layout (Vp at {:#x}) or the dump's physical extent ({:#x} pages) is not plausible",
            l.vp, phys.end_pfn
        ));
    }
    let mut hits = Vec::new();
    // Scanned at `Vp` (its first words are the page counts), `S = Vp - vp` inside the ranges.
    let shifted: Vec<(u64, u64)> = ranges
        .iter()
        .map(|&(a, b)| (a.saturating_add(l.vp), b.saturating_add(l.vp)))
        .collect();
    each_word(mem, &shifted, head as usize, |v, w| {
        if partition_fits(mem, v, w, l, phys) {
            hits.push(v - l.vp);
        }
    });
    match hits.as_slice() {
        [s] => Ok(Located {
            name: "MiSystemPartition",
            va: *s,
            value: *s,
        }),
        [] => Err(format!(
            "MiSystemPartition not found without symbols: no place in the kernel's data sections holds a _MI_VISIBLE_PARTITION whose page counts agree with the dump's physical memory ({})",
            match phys.pages {
                Some(p) => format!("{p:#x} pages in its runs"),
                None => format!("{:#x} pages described", phys.end_pfn),
            }
        )),
        many => Err(format!(
            "MiSystemPartition not found without symbols: {} places fit ({}); none is used",
            many.len(),
            many.iter()
                .take(MAX_REPORTED)
                .map(|a| format!("{a:#x}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The most runs a kernel's `_PHYSICAL_MEMORY_DESCRIPTOR` is read with: firmware memory maps have
/// some tens of runs; more is taken for garbage (bounds the read).
pub const MAX_PHYSICAL_RUNS: u32 = 256;

/// One past the highest page frame an x64 machine can have: physical addresses are at most 52 bits
/// (MAXPHYADDR; Intel SDM Vol. 3A §4.1.4, AMD64 APM Vol. 2 §5.3), so page frames below 2^40.
pub const X64_PFN_LIMIT: u64 = 1 << 40;

/// The kernel's own physical memory runs, as [`physical_from_memory_block`] read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBlock {
    /// The descriptor's address (the value of `MmPhysicalMemoryBlock`).
    pub descriptor: u64,
    /// `NumberOfRuns`.
    pub runs: u32,
    /// What they say: `NumberOfPages` exact, the highest run's end.
    pub facts: PhysicalFacts,
}

/// The kernel's physical memory runs through `MmPhysicalMemoryBlock`, whose address `var` the
/// KDBG names (`KDDEBUGGER_DATA64.MmPhysicalMemoryBlock`, +0x270: SDK `wdbgexts.h`). The global
/// holds a pointer to a `_PHYSICAL_MEMORY_DESCRIPTOR` (x64 layout from the public PDB types, e.g.
/// the ISF `ntkrnlmp.pdb/606FF669409B00F7FC8C61A9C1670129-1.json.xz` (10.0.19041.3570) and every
/// Windows 10/11 x64 one under shared/data/isf: `NumberOfRuns` u32 at 0, `NumberOfPages` u64 at 8,
/// `Run[]` at 0x10 of 16-byte `_PHYSICAL_MEMORY_RUN { BasePage u64 at 0, PageCount u64 at 8 }`),
/// the same record a complete crash dump's header copies as its `PhysicalMemoryBlock`.
///
/// Read as untrusted data: the descriptor must be a readable kernel address; `NumberOfRuns`
/// 1..=[`MAX_PHYSICAL_RUNS`], every run readable and not empty, the runs ascending and not
/// overlapping, their `PageCount`s summing to `NumberOfPages` exactly, the last one ending at or
/// below `limit_pfn` (what the dump can describe: a bitmap dump's bits, else
/// [`X64_PFN_LIMIT`]). Anything else: an error naming the check, and no facts.
pub fn physical_from_memory_block(
    mem: &dyn KernelMemory,
    var: u64,
    limit_pfn: u64,
) -> Result<MemoryBlock, String> {
    let what = "MmPhysicalMemoryBlock";
    let desc = read_u64(mem, var)
        .ok_or_else(|| format!("{what} at {var:#x} (KDBG +0x270) is not readable"))?;
    if desc < 0xFFFF_8000_0000_0000 {
        return Err(format!(
            "{what} at {var:#x} holds {desc:#x}, not a kernel address"
        ));
    }
    let mut head = [0u8; 0x10];
    mem.read_virtual(desc, &mut head)
        .map_err(|e| format!("{what}: _PHYSICAL_MEMORY_DESCRIPTOR at {desc:#x}: {e}"))?;
    let runs = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let mut eight = [0u8; 8];
    eight.copy_from_slice(&head[8..16]);
    let pages = u64::from_le_bytes(eight);
    if runs == 0 || runs > MAX_PHYSICAL_RUNS {
        return Err(format!(
            "{what}: NumberOfRuns {runs:#x} at {desc:#x} is outside 1..={MAX_PHYSICAL_RUNS}"
        ));
    }
    let mut table = vec![0u8; 16 * runs as usize];
    desc.checked_add(0x10)
        .ok_or_else(|| format!("{what}: descriptor at {desc:#x} wraps"))
        .and_then(|a| {
            mem.read_virtual(a, &mut table)
                .map_err(|e| format!("{what}: {runs} runs at {a:#x}: {e}"))
        })?;
    let mut sum = 0u64;
    let mut end = 0u64;
    for (i, r) in table.chunks_exact(16).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&r[0..8]);
        let base = u64::from_le_bytes(b);
        b.copy_from_slice(&r[8..16]);
        let count = u64::from_le_bytes(b);
        let run_end = base.checked_add(count);
        match run_end {
            _ if count == 0 => return Err(format!("{what}: run {i} is empty")),
            _ if i > 0 && base < end => {
                return Err(format!(
                    "{what}: run {i} at page {base:#x} is not above the previous run's end {end:#x}"
                ));
            }
            Some(e) if e <= limit_pfn => end = e,
            _ => {
                return Err(format!(
                    "{what}: run {i} ({base:#x}, {count:#x} pages) ends beyond the {limit_pfn:#x} pages the dump can describe"
                ));
            }
        }
        sum = sum.saturating_add(count);
    }
    if sum != pages {
        return Err(format!(
            "{what}: the runs' page counts sum to {sum:#x}, NumberOfPages is {pages:#x}"
        ));
    }
    Ok(MemoryBlock {
        descriptor: desc,
        runs,
        facts: PhysicalFacts {
            pages: Some(pages),
            end_pfn: end,
        },
    })
}

/// Globals found here, as a symbol source ([`Source::Found`]).
#[derive(Debug, Clone, Default)]
pub struct FoundSymbols {
    /// The globals' addresses by name.
    pub globals: std::collections::HashMap<String, u64>,
}

impl crate::symbols::SymbolSource for FoundSymbols {
    fn source(&self) -> Source {
        source("validated search of the kernel's data")
    }
    fn global(&self, name: &str) -> Option<crate::symbols::GlobalAddr> {
        self.globals
            .get(name)
            .map(|&v| crate::symbols::GlobalAddr::Va(v))
    }
    fn type_size(&self, _type_name: &str) -> Option<u64> {
        None
    }
    fn field(&self, _type_name: &str, _field: &str) -> Option<crate::symbols::FieldLoc> {
        None
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;
    use crate::memory::SparseMemory;

    const DATA: u64 = 0xfffff804_7be00000;
    const PTT_VAR: u64 = DATA + 0x100;
    const TABLE: u64 = 0xffffa000_00100000;
    const ENTRY: u64 = 0x28;

    /// Places `tags` in a tracker table of `n` entries by the tag hash and linear probing.
    fn tracker(m: &mut SparseMemory, at: u64, n: u64, tags: &[u32]) {
        m.write(at, &vec![0u8; (n * ENTRY) as usize]);
        let mut taken = std::collections::BTreeSet::new();
        for &t in tags {
            let h = u64::from(t).wrapping_mul(40543);
            let mut s = (h ^ (h >> 32)) & (n - 1);
            while !taken.insert(s) {
                s = (s + 1) & (n - 1);
            }
            m.write_u32(at + s * ENTRY, t);
            m.write_u32(at + s * ENTRY + 4, 1);
        }
    }

    fn tags(k: u32) -> Vec<u32> {
        (0..k)
            .map(|i| u32::from_le_bytes(*b"Tg00") + (i << 16) + i)
            .collect()
    }

    fn data(m: &mut SparseMemory, words: &[(u64, u64)]) -> DataWords {
        m.write(DATA, &[0u8; 0x1000]);
        for &(off, v) in words {
            m.write_u64(DATA + off, v);
        }
        DataWords::collect(m, &[(DATA, DATA + 0x1000)])
    }

    #[test]
    fn the_tracker_size_is_the_one_the_hash_agrees_with() {
        // Property: for several sizes and fillings, exactly the right size is found, even with
        // decoy powers of two (half and double the size, with zero pages after the table).
        for (n, k) in [(0x100u64, 40u32), (0x200, 9), (0x400, 300), (0x800, 5)] {
            let mut m = SparseMemory::new();
            tracker(&mut m, TABLE, n, &tags(k));
            m.write(TABLE + n * ENTRY, &vec![0u8; (n * ENTRY) as usize]);
            let w = data(
                &mut m,
                &[(0x100, TABLE), (0xf8, n), (0x200, n / 2), (0x300, n * 2)],
            );
            let l = find_tracker_size(&m, &w, PTT_VAR, TABLE, ENTRY)
                .unwrap_or_else(|e| panic!("n {n:#x}: {e}"));
            assert_eq!((l.va, l.value), (DATA + 0xf8, n), "n {n:#x}");
        }
    }

    #[test]
    fn a_decoy_tracker_table_gives_not_found() {
        // Tags placed against the hash (every slot from 0): no size fits.
        let mut m = SparseMemory::new();
        m.write(TABLE, &vec![0u8; 0x100 * ENTRY as usize]);
        for i in 0..8u64 {
            m.write_u32(TABLE + (0x80 + i) * ENTRY, 0x4141_4141 + i as u32);
        }
        let w = data(&mut m, &[(0x100, TABLE), (0xf8, 0x100)]);
        let e = find_tracker_size(&m, &w, PTT_VAR, TABLE, ENTRY).unwrap_err();
        assert!(e.contains("not found without symbols"), "{e}");
        // Too few entries to prove anything: not found either.
        let mut m = SparseMemory::new();
        tracker(&mut m, TABLE, 0x100, &tags(2));
        let w = data(&mut m, &[(0x100, TABLE), (0xf8, 0x100)]);
        assert!(find_tracker_size(&m, &w, PTT_VAR, TABLE, ENTRY).is_err());
    }

    #[test]
    fn per_processor_tables_are_found_and_a_lone_copy_is_not() {
        let mut m = SparseMemory::new();
        let n = 0x100;
        tracker(&mut m, TABLE, n, &tags(20));
        tracker(&mut m, TABLE + 0x10000, n, &tags(7));
        tracker(&mut m, TABLE + 0x20000, n, &tags(3));
        let w = data(
            &mut m,
            &[
                (0x100, TABLE),
                (0xf8, n),
                (0x800, TABLE),
                (0x808, TABLE + 0x10000),
                (0x810, TABLE + 0x20000),
                // A decoy copy of the pointer with nothing after it.
                (0x400, TABLE),
            ],
        );
        let l = find_tag_tables(&m, &w, PTT_VAR, TABLE, n, ENTRY).unwrap();
        assert_eq!(l.va, DATA + 0x800);
        // A second array that also fits: ambiguous, refused.
        m.write_u64(DATA + 0xa00, TABLE);
        m.write_u64(DATA + 0xa08, TABLE + 0x10000);
        let w = DataWords::collect(&m, &[(DATA, DATA + 0x1000)]);
        let e = find_tag_tables(&m, &w, PTT_VAR, TABLE, n, ENTRY).unwrap_err();
        assert!(e.contains("2 arrays fit"), "{e}");
    }

    const BIG: u64 = 0xffffa000_00400000;

    fn big_table(m: &mut SparseMemory, n: u64, e: u64, vas: &[u64]) {
        let mut b = vec![0u8; (n * e) as usize];
        for i in 0..n as usize {
            b[i * e as usize] = 1; // free bit on empty entries
        }
        m.write(BIG, &b);
        let mut taken = std::collections::BTreeSet::new();
        for &va in vas {
            let mut h = ((va >> 12) & 0xffff_ffff).wrapping_mul(0x9e5f);
            h ^= h >> 32;
            let mut s = h & (n - 1);
            while !taken.insert(s) {
                s = (s + 1) & (n - 1);
            }
            m.write_u64(BIG + s * e, va);
            m.write_u32(BIG + s * e + 8, 0x6b61_654c);
        }
    }

    fn layout(hash: bool) -> PoolTableLayout {
        PoolTableLayout {
            tracker_entry: ENTRY,
            big_entry: 0x18,
            big_hash: hash,
        }
    }

    #[test]
    fn the_big_page_table_is_found_beside_its_size() {
        let vas: Vec<u64> = (0..6).map(|i| 0xffffb000_00000000 + i * 0x3000).collect();
        let mut m = SparseMemory::new();
        big_table(&mut m, 0x40, 0x18, &vas);
        // Zeros after the table make 0x80 entries well formed too; the hash refuses them.
        m.write(BIG + 0x40 * 0x18, &[0u8; 0x600]);
        let w = data(&mut m, &[(0x500, BIG), (0x508, 0x40), (0x510, 0x80)]);
        let (t, n) = find_big_page_table(&m, &w, layout(true), &[TABLE]).unwrap();
        assert_eq!(
            (t.va, t.value, n.va, n.value),
            (DATA + 0x500, BIG, DATA + 0x508, 0x40)
        );
        // Without the hash (before 10240) both sizes fit: refused as ambiguous, never guessed.
        let e = find_big_page_table(&m, &w, layout(false), &[TABLE]).unwrap_err();
        assert!(e.contains("2 candidate tables"), "{e}");
    }

    #[test]
    fn a_decoy_big_page_table_gives_not_found() {
        let mut m = SparseMemory::new();
        big_table(
            &mut m,
            0x40,
            0x18,
            &[0xffffb000_00000000, 0xffffb000_00005000],
        );
        // One entry with a VA that is no kernel page: the table is not well formed.
        m.write_u64(BIG + 0x18 * 3, 0x1234_5678);
        m.write_u32(BIG + 0x18 * 3 + 8, 0x4141_4141);
        let w = data(&mut m, &[(0x500, BIG), (0x508, 0x40)]);
        let e = find_big_page_table(&m, &w, layout(true), &[]).unwrap_err();
        assert!(e.contains("not found without symbols"), "{e}");
        // The tracker table excluded, even when it would parse.
        let mut m = SparseMemory::new();
        big_table(
            &mut m,
            0x40,
            0x18,
            &[0xffffb000_00000000, 0xffffb000_00005000],
        );
        let w = data(&mut m, &[(0x500, BIG), (0x508, 0x40)]);
        assert!(find_big_page_table(&m, &w, layout(true), &[BIG]).is_err());
    }
}

#[cfg(test)]
mod seed_tests {
    use super::*;
    use crate::memory::SparseMemory;

    fn seed(name: &str) -> Option<Vec<u8>> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds")
            .join(name);
        std::fs::read(p).ok()
    }

    /// The fuzz seeds reach the success paths (the fuzz targets start from a real find).
    #[test]
    fn the_fuzz_seeds_hold_what_they_claim() {
        let k = seed("ntkernel_nosym_kdbg/encoded_kdbg").expect("seed");
        let base = 0xfffff804_7ba00000u64;
        let mut m = SparseMemory::new();
        m.write(base, &k[8..]);
        let size = (k.len() as u64 - 8 + 0xfff) & !0xfff;
        let f = find_kdbg_without_keys(&m, base, size, &data_ranges(&m, base, size)).unwrap();
        assert_eq!(f.kdbg.va, base + 0x1100);
        let t = seed("ntkernel_nosym_tables/tracker_and_big").expect("seed");
        let (data, heap) = (0xfffff804_7be00000u64, 0xffffa000_00000000u64);
        let mut m = SparseMemory::new();
        m.write(data, &t[..0x1000]);
        m.write(heap, &t[0x1000..]);
        let w = DataWords::collect(&m, &[(data, data + 0x1000)]);
        let l = find_tracker_size(&m, &w, data + 0x100, heap, 0x28).unwrap();
        assert_eq!(l.value, 0x100);
        let layout = PoolTableLayout {
            tracker_entry: 0x28,
            big_entry: 0x18,
            big_hash: true,
        };
        let (b, n) = find_big_page_table(&m, &w, layout, &[heap]).unwrap();
        assert_eq!((b.value, n.value), (heap + 0x3000, 0x40));
    }
}

#[cfg(test)]
mod mi_state_tests {
    use super::*;
    use crate::memory::SparseMemory;

    const DATA: u64 = 0xfffff804_7be00000;
    const REGIONS: u64 = 0x1c0;

    fn layout(nonpaged: u64, paged: u64) -> MiStateLayout {
        MiStateLayout {
            regions: REGIONS,
            entry: 0x10,
            base: 0,
            bytes: 8,
            nonpaged,
            paged,
        }
    }

    /// A data page with `SystemVaRegions[]` of `MiState` at `DATA + at` holding `regions`.
    fn mi_state(m: &mut SparseMemory, at: u64, regions: &[(u64, u64)]) {
        for (i, &(b, n)) in regions.iter().enumerate() {
            let e = DATA + at + REGIONS + 0x10 * i as u64;
            m.write_u64(e, b);
            m.write_u64(e + 8, n);
        }
    }

    /// Every region filled (a real kernel's array): region 0 nonpaged, 1 paged, then others.
    fn full() -> Vec<(u64, u64)> {
        let mut v = vec![
            (0xffff_c000_0000_0000, 0x80_0000_0000),
            (0xffff_d000_0000_0000, 0x80_0000_0000),
        ];
        for k in 0..6u64 {
            v.push((0xffff_e000_0000_0000 + (k << 40), 0x10_0000_0000));
        }
        v
    }

    #[test]
    fn mi_state_is_the_place_whose_pool_regions_hold_the_big_allocations() {
        let mut m = SparseMemory::new();
        m.write(DATA, &[0u8; 0x2000]);
        mi_state(&mut m, 0x100, &full());
        // Big allocations in both pools: only the true place names regions 0 and 1 as the pool.
        // Places shifted by whole entries also pass the region checks (every entry is well
        // formed) but name other regions as the pool: refused by the big-page check.
        let big = [
            0xffff_c000_0010_0000,
            0xffff_d000_0020_0000,
            0xffff_c000_0040_0000,
        ];
        let ranges = [(DATA, DATA + 0x2000)];
        let l = find_mi_state(&m, &ranges, layout(0, 1), &big).unwrap();
        assert_eq!((l.name, l.va), ("MiState", DATA + 0x100));
        // Without big allocations nothing is searched; with some outside every pool: not found.
        assert!(find_mi_state(&m, &ranges, layout(0, 1), &[]).is_err());
        let e = find_mi_state(&m, &ranges, layout(0, 1), &[0xffff_e000_0000_0000]).unwrap_err();
        assert!(e.contains("not found"), "{e}");
    }

    #[test]
    fn decoys_are_refused() {
        let big = [0xffff_c000_0010_0000u64, 0xffff_d000_0020_0000];
        let ranges = [(DATA, DATA + 0x2000)];
        // Overlapping pool regions: not an MiState.
        let mut m = SparseMemory::new();
        m.write(DATA, &[0u8; 0x2000]);
        mi_state(
            &mut m,
            0x100,
            &[
                (0xffff_c000_0000_0000, 0x2000_0000_0000),
                (0xffff_d000_0000_0000, 0x1000),
            ],
        );
        assert!(find_mi_state(&m, &ranges, layout(0, 1), &big).is_err());
        // A user-space or unaligned base: refused.
        let mut m = SparseMemory::new();
        m.write(DATA, &[0u8; 0x2000]);
        mi_state(
            &mut m,
            0x100,
            &[(0x7ff0_0000_0000, 0x1000), (0xffff_d000_0000_0000, 0x1000)],
        );
        assert!(find_mi_state(&m, &ranges, layout(0, 1), &big).is_err());
        // Two copies of a valid array: ambiguous, none used.
        let mut m = SparseMemory::new();
        m.write(DATA, &[0u8; 0x2000]);
        mi_state(&mut m, 0x100, &full()[..2]);
        mi_state(&mut m, 0x800, &full()[..2]);
        let e = find_mi_state(&m, &ranges, layout(0, 1), &big).unwrap_err();
        assert!(e.contains("2 places fit"), "{e}");
        // 20348+ indexes (1, 2) with region 0 empty, as testkit writes it: found.
        let mut m = SparseMemory::new();
        m.write(DATA, &[0u8; 0x2000]);
        mi_state(&mut m, 0x100, &[(0, 0), full()[0], full()[1]]);
        let l = find_mi_state(&m, &ranges, layout(1, 2), &big).unwrap();
        assert_eq!(l.va, DATA + 0x100);
    }

    #[test]
    fn big_page_vas_keep_in_use_kernel_pages() {
        let mut m = SparseMemory::new();
        let t = 0xffffa000_00000000u64;
        m.write(t, &[0u8; 0x100]);
        m.write_u64(t, 0xffff_c000_0010_0000);
        m.write_u64(t + 0x18, 0xffff_c000_0020_0001); // free
        m.write_u64(t + 0x30, 1); // empty
        m.write_u64(t + 0x48, 0xffff_d000_0030_0000);
        assert_eq!(
            big_page_vas(&m, t, 8, 0x18, 16),
            vec![0xffff_c000_0010_0000, 0xffff_d000_0030_0000]
        );
        assert_eq!(big_page_vas(&m, t, 8, 0x18, 1).len(), 1);
    }
}

#[cfg(test)]
mod partition_tests {
    use super::*;
    use crate::memory::SparseMemory;

    const DATA: u64 = 0xfffff804_7be00000;
    const VP: u64 = 0x1b00;
    const PF: u64 = 0xffff_a000_0000_3000;

    /// The 19041 offsets (shared/data/isf, `_MI_VISIBLE_PARTITION`).
    fn layout() -> PartitionLayout {
        PartitionLayout {
            vp: VP,
            lowest: 0,
            highest: 8,
            number: 0x10,
            paging_files: 0x18,
            paging_file: 0x20,
            available: 0xc0,
            resident: 0x100,
            modified: 0x240,
            committed: 0x228,
            commit_limit: 0x2a8,
        }
    }

    /// A data area with `MiSystemPartition` at `DATA + at`: 0x2000 pages of 0x2400 described, the
    /// other counts below them, one paging file.
    fn partition(m: &mut SparseMemory, at: u64, n: u64) {
        let v = DATA + at + VP;
        m.write_u64(v, 1);
        m.write_u64(v + 8, 0x23ff);
        m.write_u64(v + 0x10, n);
        m.write(v + 0x18, &1u32.to_le_bytes());
        m.write_u64(v + 0x20, PF);
        m.write_u64(v + 0xc0, n * 5 / 8);
        m.write_u64(v + 0x100, n / 2);
        m.write_u64(v + 0x240, 0x1a3);
        m.write_u64(v + 0x228, n / 3);
        m.write_u64(v + 0x2a8, n + 0x1_0000);
    }

    fn memory() -> SparseMemory {
        let mut m = SparseMemory::new();
        m.write(DATA, &vec![0u8; 0x6000]);
        m
    }

    const RANGES: &[(u64, u64)] = &[(DATA, DATA + 0x2000)];
    const EXACT: PhysicalFacts = PhysicalFacts {
        pages: Some(0x2000),
        end_pfn: 0x2400,
    };
    const EXTENT: PhysicalFacts = PhysicalFacts {
        pages: None,
        end_pfn: 0x2400,
    };

    #[test]
    fn the_partition_whose_page_counts_agree_with_the_dump_is_found() {
        let mut m = memory();
        partition(&mut m, 0x440, 0x2000);
        for phys in [EXACT, EXTENT] {
            let l = find_system_partition(&m, RANGES, layout(), phys).unwrap();
            assert_eq!((l.name, l.va), ("MiSystemPartition", DATA + 0x440));
        }
    }

    #[test]
    fn decoys_give_not_found() {
        // Another physical page count than the dump's runs: refused where they are exact.
        let mut m = memory();
        partition(&mut m, 0x440, 0x1f00);
        let e = find_system_partition(&m, RANGES, layout(), EXACT).unwrap_err();
        assert!(e.contains("0x2000 pages in its runs"), "{e}");
        // One field off each time: more available pages than physical pages, commit above its
        // limit, a paging file that is no kernel pointer, the highest page beyond the dump.
        for (off, v, phys) in [
            (0xc0, 0x2001, EXTENT),
            (0x228, 0x2_0000, EXACT),
            (0x20, 0x1000, EXACT),
            (8, 0x2400, EXTENT),
        ] {
            let mut m = memory();
            partition(&mut m, 0x440, 0x2000);
            m.write_u64(DATA + 0x440 + VP + off, v);
            assert!(
                find_system_partition(&m, RANGES, layout(), phys).is_err(),
                "Vp+{off:#x} = {v:#x}"
            );
        }
        // Without exact runs, fewer pages than half the span: refused.
        let mut m = memory();
        partition(&mut m, 0x440, 0x1000);
        assert!(find_system_partition(&m, RANGES, layout(), EXTENT).is_err());
        // Two copies: ambiguous, none used.
        let mut m = memory();
        partition(&mut m, 0x440, 0x2000);
        partition(&mut m, 0x800, 0x2000);
        let e = find_system_partition(&m, RANGES, layout(), EXACT).unwrap_err();
        assert!(e.contains("2 places fit"), "{e}");
        // Zeros and garbage: nothing.
        let m = memory();
        assert!(find_system_partition(&m, RANGES, layout(), EXTENT).is_err());
        let bad = PhysicalFacts {
            pages: None,
            end_pfn: 0,
        };
        assert!(find_system_partition(&m, RANGES, layout(), bad).is_err());
    }

    /// `MmPhysicalMemoryBlock` at `DATA + 0x5000` pointing at a descriptor at `DATA + 0x5100`.
    const BLOCK_VAR: u64 = DATA + 0x5000;
    const BLOCK: u64 = DATA + 0x5100;

    fn memory_block(m: &mut SparseMemory, runs: u32, pages: u64, list: &[(u64, u64)]) {
        m.write_u64(BLOCK_VAR, BLOCK);
        m.write(BLOCK, &runs.to_le_bytes());
        m.write_u64(BLOCK + 8, pages);
        for (i, &(b, c)) in list.iter().enumerate() {
            m.write_u64(BLOCK + 0x10 + 16 * i as u64, b);
            m.write_u64(BLOCK + 0x18 + 16 * i as u64, c);
        }
    }

    #[test]
    fn the_kernels_own_runs_give_the_exact_page_count() {
        let mut m = memory();
        partition(&mut m, 0x440, 0x2000);
        memory_block(&mut m, 2, 0x2000, &[(0, 0x1000), (0x1400, 0x1000)]);
        let b = physical_from_memory_block(&m, BLOCK_VAR, 0x2400).unwrap();
        assert_eq!((b.descriptor, b.runs, b.facts), (BLOCK, 2, EXACT));
        // What they say finds the partition, and refuses one with another page count.
        let l = find_system_partition(&m, RANGES, layout(), b.facts).unwrap();
        assert_eq!(l.va, DATA + 0x440);
        let mut m2 = memory();
        partition(&mut m2, 0x440, 0x1f00);
        assert!(find_system_partition(&m2, RANGES, layout(), b.facts).is_err());
    }

    #[test]
    fn a_bad_memory_block_gives_no_facts() {
        let good = [(0u64, 0x1000u64), (0x1400, 0x1000)];
        /// (what, `NumberOfRuns`, `NumberOfPages`, the runs, what the error says)
        type Case<'a> = (&'a str, u32, u64, &'a [(u64, u64)], &'a str);
        let cases: &[Case] = &[
            ("not summing", 2, 0x2001, &good, "sum to 0x2000"),
            ("no runs", 0, 0, &[], "outside 1..=256"),
            ("too many runs", 257, 0x2000, &good, "outside 1..=256"),
            (
                "NumberOfRuns of a PAGE pattern",
                0x4547_4150,
                0x2000,
                &good,
                "outside",
            ),
            (
                "overlapping",
                2,
                0x2000,
                &[(0, 0x1000), (0xfff, 0x1000)],
                "not above",
            ),
            (
                "descending",
                2,
                0x2000,
                &[(0x1400, 0x1000), (0, 0x1000)],
                "not above",
            ),
            ("empty run", 2, 0x1000, &[(0, 0x1000), (0x1400, 0)], "empty"),
            (
                "beyond the dump",
                2,
                0x2000,
                &[(0, 0x1000), (0x1401, 0x1000)],
                "beyond",
            ),
            ("wrapping", 1, 0x10, &[(u64::MAX - 4, 0x10)], "beyond"),
        ];
        for &(what, runs, pages, list, says) in cases {
            let mut m = memory();
            memory_block(&mut m, runs, pages, list);
            let e = physical_from_memory_block(&m, BLOCK_VAR, 0x2400).unwrap_err();
            assert!(e.contains(says), "{what}: {e}");
        }
        // More runs than are readable: unreadable, not a short list.
        let mut m = memory();
        memory_block(&mut m, 0xff, 0x2000, &good);
        let e = physical_from_memory_block(&m, BLOCK_VAR, 0x2400).unwrap_err();
        assert!(e.contains("runs at"), "{e}");
        // The global unreadable, a user-space or unmapped descriptor.
        let m = memory();
        assert!(physical_from_memory_block(&m, DATA + 0x10_0000, 0x2400).is_err());
        let mut m = memory();
        m.write_u64(BLOCK_VAR, 0x7ff0_0000);
        let e = physical_from_memory_block(&m, BLOCK_VAR, 0x2400).unwrap_err();
        assert!(e.contains("not a kernel address"), "{e}");
        m.write_u64(BLOCK_VAR, 0xffff_c000_0000_0000);
        assert!(physical_from_memory_block(&m, BLOCK_VAR, 0x2400).is_err());
    }

    /// The seed of the fuzz target `ntkernel_nosym_mi_state` reaches both success paths.
    #[test]
    fn the_mi_state_fuzz_seed_holds_what_it_claims() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds/ntkernel_nosym_mi_state/mi_state_and_partition");
        let d = std::fs::read(p).expect("seed");
        let word = |o: usize| u64::from_le_bytes(d[o..o + 8].try_into().unwrap());
        let mut m = SparseMemory::new();
        m.write(DATA, &d[0x40..]);
        let ranges = [(DATA, DATA + (d.len() - 0x40) as u64)];
        let vas: Vec<u64> = (0..6).map(|i| word(8 * i)).filter(|&v| v != 0).collect();
        let l = MiStateLayout {
            regions: 0x1c0,
            entry: 0x10,
            base: 0,
            bytes: 8,
            nonpaged: 0,
            paged: 1,
        };
        assert_eq!(
            find_mi_state(&m, &ranges, l, &vas).unwrap().va,
            DATA + 0x100
        );
        let phys = PhysicalFacts {
            pages: Some(word(0x30)),
            end_pfn: word(0x38),
        };
        let f = find_system_partition(&m, &ranges, layout(), phys).unwrap();
        assert_eq!(f.va, DATA + 0x440);
    }
}

#[cfg(test)]
mod pool_state_tests {
    use super::*;
    use crate::memory::SparseMemory;

    const BASE: u64 = 0xfffff804_7ba00000;
    const SIZE: u64 = 0x80_0000;
    const DATA: u64 = BASE + 0x40_0000;
    const GLOBALS: u64 = BASE + 0x40_1800;
    const HEAPS: u64 = 0xffff_c000_0000_0000;

    /// The 19041 offsets (`_EX_POOL_HEAP_MANAGER_STATE`, `_EX_HEAP_POOL_NODE`, `_SEGMENT_HEAP`).
    const L: PoolStateLayout = PoolStateLayout {
        number_of_pools: 0x8,
        pool_node: 0xc0,
        node_heaps: 0x20,
        heap_signature: 0x10,
    };

    /// `ExPoolState` at `DATA + at` with one node whose four heaps have `signatures`.
    fn state(m: &mut SparseMemory, at: u64, signatures: [u32; 4]) {
        let s = DATA + at;
        m.write_u64(s, GLOBALS);
        m.write(s + L.number_of_pools, &1u32.to_le_bytes());
        for (k, sig) in signatures.iter().enumerate() {
            let h = HEAPS + 0x10_0000 * k as u64 + (at << 12);
            m.write(h, &[0u8; 0x100]);
            m.write(h + L.heap_signature, &sig.to_le_bytes());
            m.write_u64(s + L.pool_node + L.node_heaps + 8 * k as u64, h);
        }
    }

    fn memory() -> SparseMemory {
        let mut m = SparseMemory::new();
        m.write(DATA, &[0u8; 0x2000]);
        m
    }

    const RANGES: &[(u64, u64)] = &[(DATA, DATA + 0x1000)];
    const SIG: u32 = SEGMENT_HEAP_SIGNATURE;

    #[test]
    fn the_state_whose_heaps_carry_the_signature_is_found() {
        let mut m = memory();
        state(&mut m, 0x200, [SIG; 4]);
        let l = find_pool_state(&m, RANGES, BASE, SIZE, L).unwrap();
        assert_eq!((l.name, l.va), ("ExPoolState", DATA + 0x200));
    }

    #[test]
    fn decoy_heaps_and_states_give_not_found() {
        // Heaps whose signature is one off (a decoy `_SEGMENT_HEAP`): not found.
        let mut m = memory();
        state(&mut m, 0x200, [SIG ^ 1, SIG ^ 1, 0xddee_ddef, SIG]);
        let e = find_pool_state(&m, RANGES, BASE, SIZE, L).unwrap_err();
        assert!(e.contains("not found without symbols"), "{e}");
        // A Globals pointer outside the image.
        let mut m = memory();
        state(&mut m, 0x200, [SIG; 4]);
        m.write_u64(DATA + 0x200, BASE + SIZE);
        assert!(find_pool_state(&m, RANGES, BASE, SIZE, L).is_err());
        // NumberOfPools out of 1..=64.
        let mut m = memory();
        state(&mut m, 0x200, [SIG; 4]);
        m.write(DATA + 0x200 + L.number_of_pools, &65u32.to_le_bytes());
        assert!(find_pool_state(&m, RANGES, BASE, SIZE, L).is_err());
        // A heap pointer that is not null and leads nowhere readable.
        let mut m = memory();
        state(&mut m, 0x200, [SIG; 4]);
        m.write_u64(
            DATA + 0x200 + L.pool_node + L.node_heaps,
            0xffff_d000_0000_0000,
        );
        assert!(find_pool_state(&m, RANGES, BASE, SIZE, L).is_err());
        // Two places that pass: ambiguous, none used.
        let mut m = memory();
        state(&mut m, 0x200, [SIG; 4]);
        state(&mut m, 0x600, [SIG; 4]);
        let e = find_pool_state(&m, RANGES, BASE, SIZE, L).unwrap_err();
        assert!(e.contains("2 places fit"), "{e}");
    }
}
