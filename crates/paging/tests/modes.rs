//! Every paging mode over hand-built page tables in a raw image.

// Test and benchmark scaffolding: a failed fixture step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dumpfile::Dump;
use pooldbg_paging::*;

/// A raw physical image being filled with tables.
struct Img(Vec<u8>);

impl Img {
    fn new(pages: usize) -> Self {
        Img(vec![0u8; pages * 0x1000])
    }
    fn q(&mut self, pa: u64, v: u64) {
        self.0[pa as usize..pa as usize + 8].copy_from_slice(&v.to_le_bytes());
    }
    fn d(&mut self, pa: u64, v: u32) {
        self.0[pa as usize..pa as usize + 4].copy_from_slice(&v.to_le_bytes());
    }
    /// Fills page `pfn` with its own number in every 8-byte slot.
    fn tag(&mut self, pfn: u64) {
        for i in 0..512 {
            self.q(pfn * 0x1000 + i * 8, pfn << 32 | i);
        }
    }
    fn dump(self) -> Dump {
        Dump::from_vec(self.0).unwrap()
    }
}

const V: u64 = 0x3; // valid + write
const K: u64 = 0xfffff80000000000;

/// x64 tables: PML4 @1, PDPT @2, PD @3, PT @4; VA K+0x1000 -> page 8, K+0x2000 -> page 6 (not
/// contiguous), K+0x3000 transition -> page 7, and a range of invalid PTE kinds after.
fn x64_image() -> Img {
    let mut m = Img::new(16);
    let (pml4, pdpt, pd, pt) = (0x1000u64, 0x2000u64, 0x3000u64, 0x4000u64);
    m.q(pml4 + 0x1f0 * 8, pdpt | V); // K: PML4 index 0x1f0
    m.q(pdpt, pd | V);
    m.q(pd, pt | V);
    m.q(pt + 8, 0x8000 | V | 1 << 63);
    m.q(pt + 2 * 8, 0x6000 | V);
    // Transition: bit 11, PFN 7, protection 4 (read-write) at bits 5..
    m.q(pt + 3 * 8, 1 << 11 | 7 << 12 | 4 << 5);
    // Paged out: page file 2 (bits 12..16), page 0x1234 (bits 32..), protection 4.
    m.q(pt + 4 * 8, 0x1234u64 << 32 | 2 << 12 | 4 << 5);
    // Demand zero: protection only.
    m.q(pt + 5 * 8, 4 << 5);
    // Prototype: bit 10, ProtoAddress (signed 48 bits at 16) = 0xffffc00012345678.
    m.q(pt + 6 * 8, 0xffffc00012345678u64 << 16 | 1 << 10);
    // PT entry 7 stays zero.
    // A 2 MiB page at PD index 1 -> physical 0x40000000 (beyond the image: reading says so).
    m.q(pd + 8, 0x4000_0000 | V | 0x80);
    // A 1 GiB page at PDPT index 1 -> physical 0x80000000.
    m.q(pdpt + 8, 0x8000_0000 | V | 0x80);
    // PDPT index 2: a table beyond the image.
    m.q(pdpt + 16, 0x7_0000_0000 | V);
    // PDPT index 3 points back at the PDPT itself: a loop.
    m.q(pdpt + 24, pdpt | V);
    // PML4 index 0x1f1: large-page bit in a PML4 entry.
    m.q(pml4 + 0x1f1 * 8, pdpt | V | 0x80);
    // Self-map at PML4 index 0x1ed.
    m.q(pml4 + 0x1ed * 8, pml4 | V);
    for p in [6, 7, 8] {
        m.tag(p);
    }
    m
}

fn x64() -> (Dump, PagingConfig) {
    (
        x64_image().dump(),
        PagingConfig::new(Mode::X64, 0x1000).with_pte_base(0xfffff68000000000),
    )
}

#[test]
fn mode_from_a_dump_header() {
    let mut h = Img::new(1).dump().header().cloned();
    assert!(h.is_none(), "a raw image has no header");
    // Build headers through dumpfile itself: a 64-bit and two 32-bit ones.
    let mut hdr: Vec<u8> = b"PAGE".iter().copied().cycle().take(0x2000).collect();
    hdr[4..8].copy_from_slice(b"DU64");
    hdr[0x30..0x34].copy_from_slice(&0x8664u32.to_le_bytes());
    hdr[0xf98..0xf9c].copy_from_slice(&3u32.to_le_bytes());
    h = Dump::from_vec(hdr).unwrap().header().cloned();
    assert_eq!(Mode::from_header(&h.unwrap()), Some(Mode::X64));
    for (pae, mode) in [(0u8, Mode::X86), (1, Mode::X86Pae)] {
        let mut hdr: Vec<u8> = b"PAGE".iter().copied().cycle().take(0x1000).collect();
        hdr[4..8].copy_from_slice(b"DUMP");
        hdr[0x20..0x24].copy_from_slice(&0x14cu32.to_le_bytes());
        hdr[0x5c] = pae;
        hdr[0xf88..0xf8c].copy_from_slice(&3u32.to_le_bytes());
        let h = Dump::from_vec(hdr).unwrap().header().cloned().unwrap();
        assert_eq!(Mode::from_header(&h), Some(mode));
    }
}

#[test]
fn x64_valid_large_and_cross_page_reads() {
    let (d, cfg) = x64();
    let s = AddressSpace::new(&d, cfg);
    let t = s.translate(K + 0x1abc).unwrap();
    assert_eq!((t.pa, t.page_size, t.transition), (0x8abc, 0x1000, false));
    let t = s.translate(K + 0x20_1234).unwrap();
    assert_eq!((t.pa, t.page_size), (0x4000_1234, 0x20_0000));
    let t = s.translate(K + 0x4000_0000 + 0x123_4567).unwrap();
    assert_eq!((t.pa, t.page_size), (0x8123_4567, 0x4000_0000));
    // A read across the page boundary K+0x2000 joins pages 8 and 6.
    let mut buf = [0u8; 16];
    let o = s.read_virtual(K + 0x1ff8, &mut buf);
    assert!(o.is_ok(), "{o:?}");
    assert_eq!(
        u64::from_le_bytes(buf[..8].try_into().unwrap()),
        8 << 32 | 511
    );
    assert_eq!(u64::from_le_bytes(buf[8..].try_into().unwrap()), 6 << 32);
    // The 2 MiB page is mapped but its memory is not in this image.
    let o = s.read_virtual(K + 0x20_0000, &mut buf);
    assert_eq!(
        o.failed[0].reason,
        ReadFailure::Physical {
            pa: 0x4000_0000,
            status: ReadStatus::OutOfRange
        }
    );
}

#[test]
fn x64_invalid_entries_say_why() {
    let (d, cfg) = x64();
    let s = AddressSpace::new(&d, cfg);
    // Transition: translated and readable.
    let t = s.translate(K + 0x3010).unwrap();
    assert_eq!((t.pa, t.transition), (0x7010, true));
    assert_eq!(s.read_u64(K + 0x3010).unwrap(), 7 << 32 | 2);
    assert!(matches!(
        s.translate(K + 0x4000),
        Err(TranslateFault::PagedOut {
            level: 1,
            page_file: 2,
            offset: 0x1234000,
            ..
        })
    ));
    let e = s.translate(K + 0x4000).unwrap_err();
    assert_eq!(e.to_string(), "paged out (page file 2, offset 0x1234000)");
    assert!(matches!(
        s.translate(K + 0x5000),
        Err(TranslateFault::DemandZero { protection: 4, .. })
    ));
    assert_eq!(
        s.translate(K + 0x6000),
        Err(TranslateFault::Prototype {
            level: 1,
            entry: 0xffffc00012345678u64 << 16 | 1 << 10,
            proto_pte: Some(0xffffc00012345678),
        })
    );
    assert!(matches!(
        s.translate(K + 0x7000),
        Err(TranslateFault::NotPresent {
            level: 1,
            level_name: "PTE",
            entry: 0
        })
    ));
    // PML4 entry 0 is zero: not mapped at the top.
    assert!(matches!(
        s.translate(0x1000),
        Err(TranslateFault::NotPresent {
            level: 4,
            level_name: "PXE",
            ..
        })
    ));
    assert_eq!(
        s.translate(0x0000_8000_0000_0000),
        Err(TranslateFault::NonCanonical {
            va: 0x0000_8000_0000_0000
        })
    );
}

#[test]
fn x64_bad_tables_are_bounded_errors() {
    let (d, cfg) = x64();
    let s = AddressSpace::new(&d, cfg);
    // A page directory outside the dump.
    assert_eq!(
        s.translate(K + 0x8000_0000),
        Err(TranslateFault::TableNotInDump {
            level: 2,
            level_name: "PDE",
            entry_pa: 0x7_0000_0000,
            status: ReadStatus::OutOfRange,
        })
    );
    // A PDPT entry pointing at its own table.
    let e = s.translate(K + 0xc000_0000).unwrap_err();
    assert_eq!(
        e,
        TranslateFault::Loop {
            level: 3,
            level_name: "PPE",
            entry_pa: 0x2018,
            table: 0x2000
        }
    );
    assert!(e.to_string().contains("0x2018"));
    // Large-page bit in a PML4 entry.
    assert!(matches!(
        s.translate(0xfffff88000000000),
        Err(TranslateFault::BadEntry {
            level: 4,
            entry_pa: 0x1f88,
            ..
        })
    ));
}

#[test]
fn x64_walk_gives_each_level_with_self_map_addresses() {
    let (d, cfg) = x64();
    let s = AddressSpace::new(&d, cfg);
    let w = s.walk(K + 0x1000);
    let names: Vec<_> = w.entries.iter().map(|e| e.name).collect();
    assert_eq!(names, ["PXE", "PPE", "PDE", "PTE"]);
    // As WinDbg's !pte prints them for fffff800`00001000 with PteBase fffff680`00000000.
    let vas: Vec<_> = w.entries.iter().map(|e| e.entry_va.unwrap()).collect();
    assert_eq!(
        vas,
        [
            0xfffff6fb7dbedf80,
            0xfffff6fb7dbf0000,
            0xfffff6fb7e000000,
            0xfffff6fc00000008
        ]
    );
    assert_eq!(w.entries[3].raw, 0x8000 | V | 1 << 63);
    match w.entries[3].state {
        EntryState::Valid { pfn, flags } => {
            assert_eq!(pfn, 8);
            assert!(flags.write && flags.no_execute && !flags.user);
            assert_eq!(flags.windbg(), "-------KW-V");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.result.unwrap().pa, 0x8000);
    // Through the self-map the PTE's own VA reads the PTE's raw value.
    assert_eq!(
        s.read_u64(0xfffff6fc00000008).unwrap(),
        0x8000 | V | 1 << 63
    );
    // And the walk of a failing address keeps the entries read so far.
    let w = s.walk(K + 0x4000);
    assert_eq!(w.entries.len(), 4);
    assert!(matches!(
        w.entries[3].state,
        EntryState::PagedOut { page_file: 2, .. }
    ));
}

#[test]
fn x64_swizzled_entries_are_undone() {
    // PT entry 3 stored as Windows 10 writes it under the L1TF mitigation: bit 45 inverted,
    // swizzle bit (4) clear.
    let mut m = x64_image();
    m.q(0x4000 + 3 * 8, (1 << 11 | 7 << 12 | 4 << 5) ^ 1 << 45);
    // PT entry 4: the swizzle bit set means "stored as is".
    m.q(0x4000 + 4 * 8, 0x1234u64 << 32 | 2 << 12 | 4 << 5 | 1 << 4);
    let d = m.dump();
    let plain = AddressSpace::new(&d, PagingConfig::new(Mode::X64, 0x1000));
    let t = plain.translate(K + 0x3000).unwrap();
    assert_eq!(
        t.pa, 0x2000_0000_7000,
        "without the indexes the PFN is the swizzled one"
    );
    let s = AddressSpace::new(&d, PagingConfig::new(Mode::X64, 0x1000).with_swizzle(45, 4));
    let t = s.translate(K + 0x3000).unwrap();
    assert_eq!((t.pa, t.transition), (0x7000, true));
    assert!(matches!(
        s.translate(K + 0x4000),
        Err(TranslateFault::PagedOut {
            page_file: 2,
            offset: 0x1234000,
            ..
        })
    ));
}

#[test]
fn x64_five_level() {
    let mut m = Img::new(8);
    // PML5 @1 -> PML4 @2 -> PDPT @3 -> PD @4 -> PT @5 -> page 6
    let va = 0xff00_1234_5678_9000u64 & !0xfff; // canonical in 57 bits
    let mode = Mode::X64La57;
    let mut table = 0x1000u64;
    for (level, next) in [
        (5u8, 0x2000u64),
        (4, 0x3000),
        (3, 0x4000),
        (2, 0x5000),
        (1, 0x6000),
    ] {
        m.q(table + mode.index(va, level) * 8, next | V);
        table = next;
    }
    m.tag(6);
    let d = m.dump();
    let s = AddressSpace::new(&d, PagingConfig::new(mode, 0x1000));
    let t = s.translate(va + 0x18).unwrap();
    assert_eq!(t.pa, 0x6018);
    assert_eq!(s.read_u64(va + 0x18).unwrap(), 6 << 32 | 3);
    let w = s.walk(va);
    assert_eq!(w.entries.len(), 5);
    assert_eq!(w.entries[0].name, "PML5E");
    // 4-level rules would call this address non-canonical.
    let s4 = AddressSpace::new(&d, PagingConfig::new(Mode::X64, 0x1000));
    assert!(matches!(
        s4.translate(va),
        Err(TranslateFault::NonCanonical { .. })
    ));
}

#[test]
fn x86_pae_three_levels_2m_pages_and_self_map() {
    let mut m = Img::new(12);
    // PDPT at 0x20 (32-byte aligned, inside page 0), four PDs at pages 1..4, PT at page 5.
    let dtb = 0x20u64;
    for i in 0..4u64 {
        m.q(dtb + i * 8, (0x1000 * (i + 1)) | 1);
    }
    let pd3 = 0x4000u64;
    // VA 0x80401000: PDPTE 2 -> PD @3, PDE 2 -> PT @5, PTE 1 -> page 9.
    m.q(0x3000 + 2 * 8, 0x5000 | V);
    m.q(0x5000 + 8, 0x9000 | V | 1 << 63);
    // VA 0x80600000: PDE 3 is a 2 MiB page at physical 0x200000.
    m.q(0x3000 + 3 * 8, 0x20_0000 | V | 0x80);
    // Self-map: PD3 entries 0..3 (VA 0xC0000000-0xC07FFFFF) point at the four PDs.
    for i in 0..4u64 {
        m.q(pd3 + i * 8, (0x1000 * (i + 1)) | V);
    }
    // Invalid PAE PTEs: paged out (PageFileLow 1..5, PageFileHigh 32..) and prototype.
    m.q(0x5000 + 2 * 8, 0x77u64 << 32 | 3 << 1 | 4 << 5);
    m.q(0x5000 + 3 * 8, 0xe1234568u64 << 32 | 1 << 10);
    m.tag(9);
    let d = m.dump();
    let s = AddressSpace::new(
        &d,
        PagingConfig::new(Mode::X86Pae, dtb).with_pte_base(0xc000_0000),
    );
    assert_eq!(s.translate(0x8040_1abc).unwrap().pa, 0x9abc);
    let t = s.translate(0x8061_2345).unwrap();
    assert_eq!((t.pa, t.page_size), (0x21_2345, 0x20_0000));
    assert!(matches!(
        s.translate(0x8040_2000),
        Err(TranslateFault::PagedOut {
            page_file: 3,
            offset: 0x77000,
            ..
        })
    ));
    assert!(matches!(
        s.translate(0x8040_3000),
        Err(TranslateFault::Prototype {
            proto_pte: Some(0xe1234568),
            ..
        })
    ));
    assert!(matches!(
        s.translate(0x1_0000_0000),
        Err(TranslateFault::NonCanonical { .. })
    ));
    let w = s.walk(0x8040_1000);
    let names: Vec<_> = w.entries.iter().map(|e| e.name).collect();
    assert_eq!(names, ["PDPTE", "PDE", "PTE"]);
    let pte_va = w.entries[2].entry_va.unwrap();
    assert_eq!(pte_va, 0xc040_2008);
    assert_eq!(w.entries[1].entry_va, Some(0xc060_2010));
    // Reading the PTE through the self-map returns it: no false loop.
    assert_eq!(s.read_u64(pte_va).unwrap(), 0x9000 | V | 1 << 63);
}

#[test]
fn x86_two_levels_4m_pages_with_pse36() {
    let mut m = Img::new(8);
    let pd = 0x1000u64;
    // VA 0x80001000: PDE 0x200 -> PT @2, PTE 1 -> page 3.
    m.d(pd + 0x200 * 4, 0x2000 | 3);
    m.d(0x2000 + 4, 0x3000 | 3);
    // VA 0x80400000: PDE 0x201 is a 4 MiB page at 0x1_00c00000 (PSE-36 bit 13 = PA bit 32).
    m.d(pd + 0x201 * 4, 0x00c0_0000 | 1 << 13 | 0x83);
    // Self-map: PDE 0x300 -> the PD.
    m.d(pd + 0x300 * 4, 0x1000 | 3);
    // Invalid x86 PTEs: paged out (PageFileLow 1..5, PageFileHigh 12..32), transition.
    m.d(0x2000 + 2 * 4, 0x00abc << 12 | 1 << 1 | 4 << 5);
    m.d(0x2000 + 3 * 4, 0x3000 | 1 << 11 | 4 << 5);
    m.tag(3);
    let d = m.dump();
    let s = AddressSpace::new(
        &d,
        PagingConfig::new(Mode::X86, 0x1000).with_pte_base(0xc000_0000),
    );
    assert_eq!(s.translate(0x8000_1004).unwrap().pa, 0x3004);
    let t = s.translate(0x8041_2345).unwrap();
    assert_eq!((t.pa, t.page_size), (0x1_00c1_2345, 0x40_0000));
    assert!(matches!(
        s.translate(0x8000_2000),
        Err(TranslateFault::PagedOut {
            page_file: 1,
            offset: 0xabc000,
            ..
        })
    ));
    let t = s.translate(0x8000_3008).unwrap();
    assert_eq!((t.pa, t.transition), (0x3008, true));
    let mut b = [0u8; 4];
    assert!(s.read_virtual(0x8000_1000, &mut b).is_ok());
    assert_eq!(u32::from_le_bytes(b), 0);
    let w = s.walk(0x8000_1000);
    assert_eq!(w.entries.len(), 2);
    assert_eq!(w.entries[1].entry_va, Some(0xc020_0004));
    assert_eq!(w.entries[0].entry_va, Some(0xc030_0800));
    // Through the self-map.
    let mut e = [0u8; 4];
    assert!(s.read_virtual(0xc020_0004, &mut e).is_ok());
    assert_eq!(u32::from_le_bytes(e), 0x3003);
}

#[test]
fn batched_reads_cross_pages_and_report_each() {
    let (d, cfg) = x64();
    let s = AddressSpace::new(&d, cfg);
    let (mut a, mut b, mut c) = ([0u8; 0x20], [0u8; 0x2000], [0u8; 8]);
    let mut reads = [
        VirtualRead {
            va: K + 0x1ff0,
            buf: &mut a,
        },
        VirtualRead {
            va: K + 0x3000,
            buf: &mut b,
        }, // transition page then paged-out page
        VirtualRead {
            va: K + 0x7000,
            buf: &mut c,
        },
    ];
    let out = s.read_many(&mut reads);
    assert!(out[0].is_ok());
    assert_eq!(out[1].bytes_read, 0x1000);
    assert_eq!(out[1].failed.len(), 1);
    assert_eq!(out[1].failed[0].offset, 0x1000);
    assert!(matches!(
        out[1].failed[0].reason,
        ReadFailure::Translate(TranslateFault::PagedOut { .. })
    ));
    assert_eq!(out[2].bytes_read, 0);
    assert_eq!(a[0x10..0x18], (6u64 << 32).to_le_bytes());
    assert_eq!(b[..8], (7u64 << 32).to_le_bytes());
}

mod fuzzish {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        /// Any page-table image and address: translation ends, with at most one entry per level.
        #[test]
        fn translation_of_garbage_terminates(
            seed in proptest::collection::vec(any::<u64>(), 64),
            va: u64,
            mode in 0usize..4,
        ) {
            let mut m = Img::new(4);
            for (i, v) in seed.iter().enumerate() {
                // Entries point into the image often, so that walks go deep.
                let v = if i % 2 == 0 { (v & 0x3000) | (v & 0x8000_0000_0000_0fff) } else { *v };
                let pa = (i as u64 * 0x1000 / 16 + (v >> 3 & 0x1f8)) % 0x3ff8;
                m.q(pa & !7, v);
            }
            let d = m.dump();
            let mode = [Mode::X86, Mode::X86Pae, Mode::X64, Mode::X64La57][mode];
            let s = AddressSpace::new(&d, PagingConfig::new(mode, 0x1000).with_pte_base(0xfffff68000000000).with_swizzle(45, 4));
            let w = s.walk(va);
            prop_assert!(w.entries.len() <= usize::from(mode.levels()));
            let mut b = [0u8; 0x1800];
            let _ = s.read_virtual(va, &mut b);
        }
    }
}

/// Writes the `paging_translate` fuzz seeds (`cargo test -p pooldbg-paging --test modes -- --ignored`):
/// mode byte, address, then an image whose top table is at 0.
#[test]
#[ignore = "writes fuzz/seeds; run by hand when the images change"]
fn write_fuzz_seeds() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/paging_translate");
    std::fs::create_dir_all(&dir).unwrap();
    // The x64 image with its PML4 moved to 0 (the fuzz target's DTB).
    let mut m = x64_image();
    let pml4: Vec<u8> = m.0[0x1000..0x2000].to_vec();
    m.0[..0x1000].copy_from_slice(&pml4);
    for (name, va) in [
        ("x64_valid", K + 0x1ff8),
        ("x64_transition", K + 0x3000),
        ("x64_loop", K + 0xc000_0000),
    ] {
        let mut seed = vec![2u8 | 4 | 45 << 3];
        seed.extend_from_slice(&va.to_le_bytes());
        seed.extend_from_slice(&m.0[..0x9000]);
        let d = Dump::from_vec(m.0.clone()).unwrap();
        let s = AddressSpace::new(&d, PagingConfig::new(Mode::X64, 0));
        let _ = s.walk(va);
        std::fs::write(dir.join(name), &seed).unwrap();
    }
    // x86: PD at 0, PDE 0x200 -> PT at 0x1000 -> page 2.
    let mut x = Img::new(3);
    x.d(0x200 * 4, 0x1003);
    x.d(0x1000 + 4, 0x2003);
    let mut seed = vec![0u8];
    seed.extend_from_slice(&0x8000_1000u64.to_le_bytes());
    seed.extend_from_slice(&x.0);
    std::fs::write(dir.join("x86_valid"), &seed).unwrap();
    assert!(dir.join("x64_valid").is_file());
}

#[test]
fn virtual_memory_trait_covers_address_spaces_and_triage_dumps() {
    fn read8(m: &dyn VirtualMemory, va: u64) -> VirtualOutcome {
        let mut b = [0u8; 8];
        m.read_virtual(va, &mut b)
    }
    let (d, cfg) = x64();
    let s = AddressSpace::new(&d, cfg);
    assert!(read8(&s, K + 0x1000).is_ok());
    // The real triage dump: the KDBG copy is readable at its address, the PFN database is not.
    let Some(path) = testdata::require("data/dumps/triage_x64.dmp") else {
        return;
    };
    let t = Dump::open(path).unwrap();
    let tm = TriageMemory(&t);
    let mut tag = [0u8; 4];
    assert!(tm.read_virtual(0xfffff8047c600b30, &mut tag).is_ok());
    assert_eq!(&tag, b"KDBG");
    let o = read8(&tm, 0xffff_fa80_0000_0000);
    assert_eq!(o.bytes_read, 0);
    assert_eq!(o.failed.len(), 1);
    assert_eq!(o.failed[0].len, 8);
    assert_eq!(
        o.failed[0].reason,
        ReadFailure::NotCaptured {
            va: 0xffff_fa80_0000_0000
        }
    );
}

#[test]
fn reads_across_a_region_boundary_walk_again() {
    // K+0x1ff000 is the last page of the PT at PD index 0 (PTE 511: zero); K+0x200000 is the
    // 2 MiB page of PD index 1. The walk cache of the first region must not be reused.
    let (d, cfg) = x64();
    let s = AddressSpace::new(&d, cfg);
    let mut buf = vec![0u8; 0x2000];
    let o = s.read_virtual(K + 0x1f_f000, &mut buf);
    assert_eq!(o.bytes_read, 0);
    assert_eq!(o.failed.len(), 2);
    assert!(matches!(
        o.failed[0].reason,
        ReadFailure::Translate(TranslateFault::NotPresent { level: 1, .. })
    ));
    assert_eq!(
        o.failed[1].reason,
        ReadFailure::Physical {
            pa: 0x4000_0000,
            status: ReadStatus::OutOfRange
        }
    );
    // And within one region, each page's own PTE decides (valid, valid, transition).
    let mut three = vec![0u8; 0x3000];
    let o = s.read_virtual(K + 0x1000, &mut three);
    assert!(o.is_ok(), "{o:?}");
    assert_eq!(three[0x2000..0x2008], (7u64 << 32).to_le_bytes());
}

/// The present-page walk over `x64_image` (layout above), classified page by page.
#[test]
fn present_runs_walk_the_tables_and_classify_every_page() {
    let (dump, cfg) = x64();
    let s = AddressSpace::new(&dump, cfg);
    let g = 0x4000_0000u64;
    let w = s.present_runs(K, K + 4 * g, 100);
    assert_eq!(w.next, K + 4 * g);
    assert_eq!(
        w.runs,
        vec![
            PresentRun {
                va: K + 0x1000,
                len: 0x3000
            },
            PresentRun {
                va: K + 0x20_0000,
                len: 0x20_0000
            },
            PresentRun { va: K + g, len: g },
        ]
    );
    let c = w.counts;
    assert_eq!((c.valid, c.transition), (2, 1));
    assert_eq!(c.large, 512 + 262_144);
    assert_eq!((c.paged_out, c.demand_zero, c.prototype), (1, 1, 1));
    assert_eq!(c.absent, 1 + 505 + 510 * 512);
    assert_eq!(c.table_not_in_dump, 262_144, "PDPT index 2's directory");
    assert_eq!(c.bad, 262_144, "PDPT index 3's loop");
    let all = c.present()
        + c.paged_out
        + c.demand_zero
        + c.prototype
        + c.absent
        + c.table_not_in_dump
        + c.bad;
    assert_eq!(all, 4 * g / 0x1000, "every page counted once");
}

#[test]
fn present_runs_agree_with_translate_page_by_page() {
    let (dump, cfg) = x64();
    let s = AddressSpace::new(&dump, cfg);
    let w = s.present_runs(K, K + 0x80_0000, 100);
    for i in 0..0x800u64 {
        let va = K + i * 0x1000;
        let listed = w.runs.iter().any(|r| va >= r.va && va < r.end());
        assert_eq!(listed, s.translate(va).is_ok(), "{va:#x}");
    }
}

#[test]
fn present_runs_resume_at_the_run_budget_and_skip_absent_terabytes_cheaply() {
    let (dump, cfg) = x64();
    let s = AddressSpace::new(&dump, cfg);
    let g = 0x4000_0000u64;
    let first = s.present_runs(K, K + 2 * g, 1);
    assert_eq!(
        first.runs,
        vec![PresentRun {
            va: K + 0x1000,
            len: 0x3000
        }]
    );
    assert_eq!(first.next, K + 0x20_0000);
    let rest = s.present_runs(first.next, K + 2 * g, 10);
    assert_eq!(rest.runs.len(), 2);
    assert_eq!(rest.next, K + 2 * g);
    let mut both = first.counts;
    both.add(&rest.counts);
    assert_eq!(both, s.present_runs(K, K + 2 * g, 10).counts);
    // 4 TiB from PML4 index 0x1f0: index 0x1f1 has a large bit (bad), 0x1f2.. are absent; the
    // walk ends in one call, well under its step budget.
    let tb = 1u64 << 40;
    let w = s.present_runs(K, K + 4 * tb, 10);
    assert_eq!(w.next, K + 4 * tb);
    assert_eq!(w.runs.len(), 3);
    assert_eq!(
        w.counts.bad,
        262_144 + (512u64 << 18),
        "loop 1 GiB + the bad PML4E's 512 GiB"
    );
    // Empty and reversed ranges.
    assert_eq!(s.present_runs(K, K, 10).runs, vec![]);
    assert_eq!(s.present_runs(K + g, K, 10).next, K);
}

#[test]
fn visited_pages_are_lent_as_read_virtual_reads_them() {
    let (d, cfg) = x64();
    let s = AddressSpace::new(&d, cfg);
    let mut seen = Vec::new();
    // K .. K+8 pages: an unmapped page, two valid ones, a transition one, then invalid kinds.
    s.visit_pages(K + 0x0123, 8, |va, page| {
        let mut buf = vec![0u8; 0x1000];
        let ok = s.read_virtual(va, &mut buf).is_ok();
        match page {
            Some(p) => {
                assert!(ok, "{va:#x} lent but not readable");
                assert_eq!(p, &buf[..], "{va:#x}");
            }
            None => assert!(!ok, "{va:#x} readable but not lent"),
        }
        seen.push((va, page.is_some()));
    });
    let lent: Vec<u64> = seen.iter().filter(|s| s.1).map(|s| s.0 - K).collect();
    assert_eq!(seen.len(), 8);
    assert_eq!(seen[0].0, K, "rounded down to the page");
    assert_eq!(lent, [0x1000, 0x2000, 0x3000]);
}
