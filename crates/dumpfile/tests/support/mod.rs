//! A minimal writer of the containers `dumpfile` reads, for tests and benchmarks.
//!
//! It is written from the format descriptions (docs/DUMP_FORMATS.md), not from the reader's code, so a
//! misreading in one is not copied into the other. The real synthetic-kernel builder is `testkit`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub const PAGE: usize = 0x1000;

/// The byte every page of PFN `pfn` is filled with in these images: distinct per page.
pub fn page_of(pfn: u64) -> Vec<u8> {
    let mut p = vec![0u8; PAGE];
    for (i, chunk) in p.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&(pfn << 16 | i as u64).to_le_bytes());
    }
    p
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// A `DUMP_HEADER64` filled with "PAGE" and the identifying fields set.
pub fn header64(dump_type: u32) -> Vec<u8> {
    let mut h: Vec<u8> = b"PAGE".iter().copied().cycle().take(0x2000).collect();
    h[4..8].copy_from_slice(b"DU64");
    put32(&mut h, 0x8, 15);
    put32(&mut h, 0xc, 19041);
    put64(&mut h, 0x10, 0x1ad000); // DirectoryTableBase
    put64(&mut h, 0x18, 0xfffff8047c6fb3c8); // PfnDataBase
    put64(&mut h, 0x20, 0xfffff8047c62a390); // PsLoadedModuleList
    put64(&mut h, 0x28, 0xfffff8047c61e070); // PsActiveProcessHead
    put32(&mut h, 0x30, 0x8664);
    put32(&mut h, 0x34, 4);
    put32(&mut h, 0x38, 0xd1);
    put64(&mut h, 0x40, 0x11);
    put64(&mut h, 0x48, 0x22);
    put64(&mut h, 0x50, 0x33);
    put64(&mut h, 0x58, 0x44);
    put64(&mut h, 0x80, 0xfffff8047c600b20); // KdDebuggerDataBlock
    // CONTEXT at 0x348: Rsp +0x98, Rip +0xF8
    put64(&mut h, 0x348 + 0x98, 0xffff850429891000);
    put64(&mut h, 0x348 + 0xf8, 0xfffff8047ba01234);
    put32(&mut h, 0xf98, dump_type);
    put64(&mut h, 0xfa8, 132_582_563_029_800_000); // SystemTime
    put64(&mut h, 0x1030, 36_000_000_000); // SystemUpTime: one hour
    put32(&mut h, 0x1040, 1);
    h
}

/// A `DUMP_HEADER32` with `PaeEnabled` as given.
pub fn header32(dump_type: u32, pae: bool) -> Vec<u8> {
    let mut h: Vec<u8> = b"PAGE".iter().copied().cycle().take(0x1000).collect();
    h[4..8].copy_from_slice(b"DUMP");
    put32(&mut h, 0x8, 15);
    put32(&mut h, 0xc, 2600);
    put32(&mut h, 0x10, 0x39000);
    put32(&mut h, 0x14, 0x8055b4c0);
    put32(&mut h, 0x18, 0x8055c620);
    put32(&mut h, 0x1c, 0x8055c638);
    put32(&mut h, 0x20, 0x14c);
    put32(&mut h, 0x24, 1);
    put32(&mut h, 0x28, 0x7f);
    put32(&mut h, 0x2c, 8);
    put32(&mut h, 0x30, 0);
    put32(&mut h, 0x34, 0);
    put32(&mut h, 0x38, 0);
    h[0x5c] = u8::from(pae);
    put32(&mut h, 0x60, 0x80545b60);
    // CONTEXT at 0x320: Eip +0xB8, Esp +0xC4
    put32(&mut h, 0x320 + 0xb8, 0x804e1234);
    put32(&mut h, 0x320 + 0xc4, 0xf8a3bc00);
    h[0x820..0x820 + 9].copy_from_slice(b"a comment");
    h[0x829] = 0;
    put32(&mut h, 0xf88, dump_type);
    put32(&mut h, 0xf94, 1);
    h
}

/// Sets `RequiredDumpSpace`.
pub fn set_required(h: &mut [u8], size: u64) {
    put64(h, 0xfa0, size);
}

/// A full dump (type 1) with these runs of (base PFN, page count); pages from [`page_of`].
pub fn full64(runs: &[(u64, u64)]) -> Vec<u8> {
    let mut h = header64(1);
    let total: u64 = runs.iter().map(|r| r.1).sum();
    put32(&mut h, 0x88, runs.len() as u32);
    put64(&mut h, 0x90, total);
    for (i, (b, n)) in runs.iter().enumerate() {
        put64(&mut h, 0x98 + i * 16, *b);
        put64(&mut h, 0xa0 + i * 16, *n);
    }
    set_required(&mut h, 0x2000 + total * PAGE as u64);
    for (b, n) in runs {
        for pfn in *b..b + n {
            h.extend_from_slice(&page_of(pfn));
        }
    }
    h
}

/// A 32-bit full dump.
pub fn full32(runs: &[(u32, u32)], pae: bool) -> Vec<u8> {
    let mut h = header32(1, pae);
    let total: u32 = runs.iter().map(|r| r.1).sum();
    put32(&mut h, 0x64, runs.len() as u32);
    put32(&mut h, 0x68, total);
    for (i, (b, n)) in runs.iter().enumerate() {
        put32(&mut h, 0x6c + i * 8, *b);
        put32(&mut h, 0x70 + i * 8, *n);
    }
    set_required(&mut h, 0x1000 + u64::from(total) * PAGE as u64);
    for (b, n) in runs {
        for pfn in *b..b + n {
            h.extend_from_slice(&page_of(u64::from(pfn)));
        }
    }
    h
}

/// The bitmap bytes for `bits` bits with `present` set.
pub fn bitmap(bits: u64, present: &[u64]) -> Vec<u8> {
    let mut bm = vec![0u8; bits.div_ceil(8) as usize];
    for &p in present {
        bm[(p / 8) as usize] |= 1 << (p % 8);
    }
    bm
}

/// A bitmap dump (type 5/6) with `sig` ("SDMP"/"FDMP") and these PFNs present.
pub fn bitmap64(dump_type: u32, sig: &[u8; 4], bits: u64, present: &[u64]) -> Vec<u8> {
    let mut d = header64(dump_type);
    let bm = bitmap(bits, present);
    let first_page = (0x2000 + 0x38 + bm.len()).next_multiple_of(PAGE) as u64;
    let mut sub = vec![0u8; 0x38];
    sub[0..4].copy_from_slice(sig);
    sub[4..8].copy_from_slice(b"DUMP");
    put64(&mut sub, 0x20, first_page);
    put64(&mut sub, 0x28, present.len() as u64);
    put64(&mut sub, 0x30, bits);
    let mut sorted = present.to_vec();
    sorted.sort_unstable();
    set_required(&mut d, first_page + sorted.len() as u64 * PAGE as u64);
    d.extend_from_slice(&sub);
    d.extend_from_slice(&bm);
    d.resize(first_page as usize, 0);
    for p in sorted {
        d.extend_from_slice(&page_of(p));
    }
    d
}

/// A 32-bit bitmap dump.
pub fn bitmap32(bits: u64, present: &[u64], pae: bool) -> Vec<u8> {
    let mut d = header32(5, pae);
    let bm = bitmap(bits, present);
    let first_page = (0x1000 + 0x38 + bm.len()).next_multiple_of(PAGE) as u64;
    let mut sub = vec![0u8; 0x38];
    sub[0..4].copy_from_slice(b"FDMP");
    sub[4..8].copy_from_slice(b"DUMP");
    put64(&mut sub, 0x20, first_page);
    put64(&mut sub, 0x28, present.len() as u64);
    put64(&mut sub, 0x30, bits);
    d.extend_from_slice(&sub);
    d.extend_from_slice(&bm);
    d.resize(first_page as usize, 0);
    let mut sorted = present.to_vec();
    sorted.sort_unstable();
    for p in sorted {
        d.extend_from_slice(&page_of(p));
    }
    d
}

/// A pre-Win8 summary dump (type 2): `SUMMARY_DUMP` ("SDMP" "DUMP", HeaderSize, BitmapSize,
/// Pages, then the bitmap at +0x20 (32-bit) or +0x28 (64-bit)).
pub fn summary(wide: bool, bits: u32, present: &[u64]) -> Vec<u8> {
    let mut d = if wide { header64(2) } else { header32(2, true) };
    let hsize = d.len();
    let bm = bitmap(bits.into(), present);
    let bm_at = if wide { 0x28 } else { 0x20 };
    let first_page = (hsize + bm_at + bm.len()).next_multiple_of(PAGE);
    let mut sub = vec![0u8; bm_at];
    sub[0..4].copy_from_slice(b"SDMP");
    sub[4..8].copy_from_slice(b"DUMP");
    put32(&mut sub, 0xc, first_page as u32);
    put32(&mut sub, 0x10, bits);
    put32(&mut sub, 0x14, present.len() as u32);
    put32(&mut sub, 0x18, bits);
    d.extend_from_slice(&sub);
    d.extend_from_slice(&bm);
    d.resize(first_page, 0);
    let mut sorted = present.to_vec();
    sorted.sort_unstable();
    for p in sorted {
        d.extend_from_slice(&page_of(p));
    }
    d
}

/// An RDMP range dump (type 8, 9 or 0xA) with these ranges; `metadata_entries` may overstate
/// the ranges (as real 0xA dumps do), `total` is TotalNumberOfPages for 0xA.
pub fn rdmp(dump_type: u32, ranges: &[(u64, u64)], metadata_entries: u64, total: u64) -> Vec<u8> {
    let mut d = header64(dump_type);
    let metadata_size = metadata_entries * 16;
    let first_page = (0x2030 + metadata_size as usize).next_multiple_of(PAGE);
    let mut sub = vec![0u8; 0x30];
    put32(&mut sub, 0, 0x40);
    sub[4..8].copy_from_slice(b"RDMP");
    sub[8..12].copy_from_slice(b"DUMP");
    put64(&mut sub, 0x10, metadata_size);
    put64(&mut sub, 0x18, first_page as u64);
    if dump_type == 0xa {
        put32(&mut sub, 0x20, ranges.len() as u32);
        put64(&mut sub, 0x28, total);
    }
    d.extend_from_slice(&sub);
    for (b, n) in ranges {
        d.extend_from_slice(&b.to_le_bytes());
        d.extend_from_slice(&n.to_le_bytes());
    }
    // Overstated entries hold garbage that must not be read as ranges.
    while d.len() < 0x2030 + metadata_size as usize {
        d.extend_from_slice(&0x4141_4141u64.to_le_bytes());
        d.extend_from_slice(&0x10u64.to_le_bytes());
    }
    d.resize(first_page, 0);
    let mut left = if dump_type == 0xa { total } else { u64::MAX };
    for (b, n) in ranges {
        for pfn in *b..b + n {
            if left == 0 {
                break;
            }
            d.extend_from_slice(&page_of(pfn));
            left -= 1;
        }
    }
    d
}

/// A small triage dump: two drivers, one data block at `0xfffff80000001000` holding 0x100
/// bytes of 0x5A, and a KDBG copy at the header's KdDebuggerDataBlock.
pub fn triage64() -> Vec<u8> {
    let mut d = header64(4);
    put32(&mut d, 0x1038, 0xcff);
    let mut t = vec![0u8; 0x100];
    let drivers_at = 0x2100usize;
    let pool_at = drivers_at + 2 * 0x90;
    let names = [
        "\\SystemRoot\\system32\\ntoskrnl.exe",
        "\\SystemRoot\\System32\\drivers\\amdppm.sys",
    ];
    let mut pool = Vec::new();
    let mut name_offs = Vec::new();
    for n in names {
        name_offs.push(pool_at + pool.len());
        let units: Vec<u16> = n.encode_utf16().collect();
        pool.extend_from_slice(&(units.len() as u32).to_le_bytes());
        for u in units {
            pool.extend_from_slice(&u.to_le_bytes());
        }
        pool.extend_from_slice(&[0, 0]);
    }
    let kdbg_at = (pool_at + pool.len()).next_multiple_of(16);
    let block_data_at = kdbg_at + 0x380;
    let blocks_at = block_data_at + 0x100;
    let valid_at = blocks_at + 16;
    put32(&mut t, 0x4, (valid_at + 4) as u32);
    put32(&mut t, 0x8, valid_at as u32);
    put32(&mut t, 0xc, 0x348);
    put32(&mut t, 0x30, drivers_at as u32);
    put32(&mut t, 0x34, 2);
    put32(&mut t, 0x38, pool_at as u32);
    put32(&mut t, 0x3c, pool.len() as u32);
    put64(&mut t, 0x48, 0xffff850429891000);
    put32(&mut t, 0x70, kdbg_at as u32);
    put32(&mut t, 0x74, 0x380);
    put32(&mut t, 0x78, blocks_at as u32);
    put32(&mut t, 0x7c, 1);
    d.extend_from_slice(&t);
    let bases = [
        (0xfffff8047ba00000u64, 0x1046000u32),
        (0xfffff8048b580000, 0x3b000),
    ];
    for (i, (base, size)) in bases.iter().enumerate() {
        let mut e = vec![0u8; 0x90];
        put32(&mut e, 0, name_offs[i] as u32);
        put64(&mut e, 8 + 0x30, *base);
        put32(&mut e, 8 + 0x40, *size);
        put32(&mut e, 8 + 0x80, 0x5f00_0000 + i as u32);
        d.extend_from_slice(&e);
    }
    d.extend_from_slice(&pool);
    d.resize(kdbg_at, 0);
    let mut k = vec![0u8; 0x380];
    k[0x10..0x14].copy_from_slice(b"KDBG");
    put32(&mut k, 0x14, 0x380);
    put64(&mut k, 0x18, 0xfffff8047ba00000);
    d.extend_from_slice(&k);
    d.extend_from_slice(&[0x5a; 0x100]);
    d.extend_from_slice(&0xfffff80000001000u64.to_le_bytes());
    d.extend_from_slice(&(block_data_at as u32).to_le_bytes());
    d.extend_from_slice(&0x100u32.to_le_bytes());
    d.extend_from_slice(b"TRGD");
    d
}

/// An ELF64 core file with one `PT_NOTE` and these (physical address, bytes) `PT_LOAD`s, laid
/// out as QEMU's `dump-guest-memory` does (p_paddr = guest physical, p_vaddr = 0).
pub fn elf64_core(loads: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let phnum = loads.len() + 1;
    let mut d = vec![0u8; 64 + 56 * phnum];
    d[0..4].copy_from_slice(b"\x7fELF");
    d[4] = 2; // ELFCLASS64
    d[5] = 1; // little endian
    d[6] = 1; // EV_CURRENT
    d[16..18].copy_from_slice(&4u16.to_le_bytes()); // ET_CORE
    d[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    d[20..24].copy_from_slice(&1u32.to_le_bytes());
    d[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    d[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    d[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    d[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
    // PT_NOTE (empty) first.
    let mut off = d.len() as u64;
    let ph = |d: &mut Vec<u8>, i: usize, ty: u32, offset: u64, paddr: u64, size: u64| {
        let at = 64 + 56 * i;
        d[at..at + 4].copy_from_slice(&ty.to_le_bytes());
        d[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
        d[at + 24..at + 32].copy_from_slice(&paddr.to_le_bytes());
        d[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
        d[at + 40..at + 48].copy_from_slice(&size.to_le_bytes());
    };
    ph(&mut d, 0, 4, off, 0, 0);
    for (i, (pa, bytes)) in loads.iter().enumerate() {
        ph(&mut d, i + 1, 1, off, *pa, bytes.len() as u64);
        off += bytes.len() as u64;
    }
    for (_, bytes) in loads {
        d.extend_from_slice(bytes);
    }
    d
}
