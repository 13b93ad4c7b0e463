//! Walkers over synthetic pages and subsegments built by the test-side encoder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod encode;

use pooldbg_poollayout::{
    Arch, BlockState, HeaderError, Layout, PoolHeader, PoolType, RangeKind, SegContext, Tag,
};

fn layouts() -> Vec<Layout> {
    [
        (Arch::X86, 2195),
        (Arch::X86, 2600),
        (Arch::X86, 7601),
        (Arch::X86, 17763),
        (Arch::X64, 3790),
        (Arch::X64, 7601),
        (Arch::X64, 17763),
    ]
    .iter()
    .map(|&(a, b)| Layout::for_build(a, b).unwrap())
    .collect()
}

const TAGS: [[u8; 4]; 4] = [*b"MmDT", *b"Mm  ", *b"ObDi", *b"Irp "];

fn sample(l: &Layout) -> (Vec<u16>, Vec<[u8; 4]>, Vec<bool>, Vec<u8>) {
    let units = encode::fill_units(l, &[4, 1, 1, 7, 3, 20, 2]);
    let tags: Vec<_> = (0..units.len()).map(|i| TAGS[i % 4]).collect();
    let free: Vec<_> = (0..units.len()).map(|i| i % 4 == 1).collect();
    let page = encode::page(l, &units, &tags, &free);
    (units, tags, free, page)
}

#[test]
fn a_whole_page_walks_cleanly_in_every_header_format() {
    for l in layouts() {
        let (units, tags, free, page) = sample(&l);
        let va = 0xe100_1000;
        let w = l.walk_page(&page, va).unwrap();
        assert!(
            w.first_error.is_none(),
            "{}: {:?}",
            l.family().name,
            w.first_error
        );
        assert_eq!(w.blocks.len(), units.len(), "{}", l.family().name);
        assert_eq!(l.check_page(&page), Ok(units.len()));
        let mut addr = va;
        let mut prev = 0;
        for (i, b) in w.blocks.iter().enumerate() {
            assert_eq!(b.address, addr);
            assert_eq!(b.size, l.block_bytes(units[i]));
            assert_eq!(b.previous_size, prev);
            assert_eq!(b.tag, Tag::from_bytes(tags[i]));
            let want = if free[i] {
                BlockState::Free
            } else {
                BlockState::Allocated
            };
            assert_eq!(b.state, want, "{} block {i}", l.family().name);
            if !free[i] {
                assert_eq!(
                    b.pool_type.map(PoolType::is_paged),
                    Some(i % 3 == 1),
                    "{} block {i}",
                    l.family().name
                );
            }
            prev = b.size;
            addr += b.size as u64;
        }
        assert_eq!(addr, va + 4096);
        assert!(w.containing(va + 0x20).is_some());
    }
}

#[test]
fn a_corrupt_header_is_reported_and_the_walk_resynchronises() {
    for l in layouts() {
        let (units, _, _, mut page) = sample(&l);
        // Zero the third block's header entirely: BlockSize 0.
        let third = l.block_bytes(units[0]) + l.block_bytes(units[1]);
        page[third..third + l.header_size()].fill(0);
        let w = l.walk_page(&page, 0x1000).unwrap();
        let (addr, err) = w.first_error.unwrap();
        assert_eq!(addr, 0x1000 + third as u64, "{}", l.family().name);
        assert_eq!(err, HeaderError::ZeroBlockSize);
        assert_eq!(
            l.check_page(&page),
            Err((third, HeaderError::ZeroBlockSize))
        );
        assert_eq!(w.resyncs, 1);
        // After the break, the walker finds the fourth block again and reaches the end of the page.
        let fourth = third + l.block_bytes(units[2]);
        assert!(
            w.blocks
                .iter()
                .any(|b| b.address == 0x1000 + fourth as u64 && b.error.is_none()),
            "{}: {:#x?}",
            l.family().name,
            w.blocks
                .iter()
                .map(|b| (b.address, b.size, b.error))
                .collect::<Vec<_>>()
        );
        let last = w.blocks.last().unwrap();
        assert_eq!(last.address + last.size as u64, 0x2000);
    }
}

#[test]
fn previous_size_mismatch_and_bad_tags_are_named() {
    let l = Layout::for_build(Arch::X64, 7601).unwrap();
    let (units, _, _, mut page) = sample(&l);
    let second = l.block_bytes(units[0]);
    page[second] = page[second].wrapping_add(1); // PreviousSize byte
    let w = l.walk_page(&page, 0).unwrap();
    assert_eq!(
        w.first_error,
        Some((
            second as u64,
            HeaderError::PreviousSizeMismatch {
                expected: 64,
                found: 80
            }
        ))
    );
    assert_eq!(
        w.resyncs, 0,
        "a sound header with a wrong PreviousSize is followed"
    );
    assert_eq!(w.blocks.len(), units.len());

    let (_, _, _, mut page) = sample(&l);
    page[4] = 0x01; // first block's tag, allocated
    let w = l.walk_page(&page, 0).unwrap();
    assert_eq!(w.first_error, Some((0, HeaderError::ImplausibleTag)));
    assert_eq!(l.check_page(&page), Err((0, HeaderError::ImplausibleTag)));

    let (_, _, _, mut page) = sample(&l);
    page[0] = 1; // first block with PreviousSize 1
    assert_eq!(
        l.check_page(&page),
        Err((0, HeaderError::FirstPreviousSizeNotZero { found: 16 }))
    );
    // A chain that runs past the end.
    let (units, _, _, mut page) = sample(&l);
    let lastoff = 4096 - l.block_bytes(*units.last().unwrap());
    page[lastoff + 2] = page[lastoff + 2].wrapping_add(1);
    assert!(
        matches!(l.check_page(&page), Err((o, HeaderError::PastPageEnd { .. })) if o == lastoff)
    );
}

#[test]
fn classic_walk_is_refused_on_segment_heap_builds() {
    let l = Layout::for_build(Arch::X64, 19041).unwrap();
    assert!(l.walk_page(&[0u8; 4096], 0).is_err());
}

const HEAP_KEY: u64 = 0x1234_5678_9abc_def1;
const LFH_KEY: u64 = 0x0fed_cba9_8765_4321;

fn vs_subsegment(l: &Layout, base: u64, sizes: &[(usize, bool)], len: usize) -> Vec<u8> {
    let s = l.segment_heap().unwrap();
    let mut b = vec![0u8; len];
    // Size == Signature ^ 0x2BED; Size counts chunk units (16 bytes on x64, 8 on x86) and ends
    // the chunks.
    let unit = if l.arch() == Arch::X64 { 16 } else { 8 };
    let size = (len / unit) as u16;
    let sig = (size ^ 0x2BED) & 0x7fff;
    let so = s.vs_subsegment_size_field.offset;
    b[so..so + 2].copy_from_slice(&size.to_le_bytes());
    b[so + 2..so + 4].copy_from_slice(&sig.to_le_bytes());
    let mut off = s.vs_first_chunk;
    let mut prev = 0;
    for &(sz, alloc) in sizes {
        let c = encode::vs_chunk(l.arch(), base + off as u64, HEAP_KEY, sz, prev, alloc, 0);
        b[off..off + c.len()].copy_from_slice(&c);
        let (h, _) =
            pooldbg_poollayout::vs_pool_header(base + off as u64, sz, s.vs_chunk_header_size);
        let ho = (h - base) as usize;
        let ph = PoolHeader {
            block_size: 1,
            pool_type: 0,
            tag: Tag::from_bytes(*b"VsTg"),
            process_billed: (l.arch() == Arch::X64).then_some(0),
            ..PoolHeader::default()
        };
        let e = encode::header(l, &ph);
        b[ho..ho + e.len()].copy_from_slice(&e);
        off += sz;
        prev = sz;
    }
    b
}

#[test]
fn vs_subsegments_decode_with_the_heap_key() {
    for (arch, build) in [(Arch::X64, 18362), (Arch::X64, 22000), (Arch::X86, 19041)] {
        let l = Layout::for_build(arch, build).unwrap();
        let base = if arch == Arch::X64 {
            0xffff_9a00_0010_0000
        } else {
            0x8a10_0000
        };
        let hs = l.segment_heap().unwrap().vs_chunk_header_size;
        let first = l.segment_heap().unwrap().vs_first_chunk;
        let sizes = [
            (0x200, true),
            (0x100, false),
            (0x400, true),
            (0x2000 - first - 0x700, true),
        ];
        let sub = vs_subsegment(&l, base, &sizes, 0x2000);
        let w = l.walk_vs_subsegment(&sub, base, HEAP_KEY).unwrap();
        assert!(w.first_error.is_none(), "{build}: {:?}", w.first_error);
        assert_eq!(w.blocks.len(), 4);
        assert_eq!(w.blocks[0].address, base + first as u64 + hs as u64);
        assert_eq!(w.blocks[0].size, 0x200 - hs);
        assert_eq!(w.blocks[0].state, BlockState::Allocated);
        assert_eq!(w.blocks[1].state, BlockState::Free);
        assert_eq!(w.blocks[2].tag, Tag::from_bytes(*b"VsTg"));
        // The wrong key gives garbage that the walker rejects rather than misreads.
        let bad = l
            .walk_vs_subsegment(&sub, base, HEAP_KEY ^ 0x5555_0000)
            .unwrap();
        assert!(bad.first_error.is_some());
        // Corrupt the second chunk: the walker reports it and finds the third again.
        let mut sub2 = sub.clone();
        let o = first + 0x200;
        sub2[o..o + 4].copy_from_slice(&[0xff; 4]);
        let w = l.walk_vs_subsegment(&sub2, base, HEAP_KEY).unwrap();
        assert_eq!(w.first_error.map(|e| e.0), Some(base + o as u64), "{build}");
        assert!(
            w.blocks
                .iter()
                .any(|b| b.address == base + (o + 0x100 + hs) as u64 && b.error.is_none())
        );
        // A bad subsegment signature is an error naming the address.
        let mut sub3 = sub.clone();
        sub3[l.segment_heap().unwrap().vs_subsegment_size_field.offset] ^= 1;
        let e = l
            .walk_vs_subsegment(&sub3, base, HEAP_KEY)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2BED") && e.contains(&format!("{base:#x}")),
            "{e}"
        );
    }
}

#[test]
fn vs_pool_header_moves_to_the_next_page_when_the_block_straddles() {
    // MemProcFS rule: block < 0xff0 and (block & 0xfff) + size > 0x1040.
    assert_eq!(
        pooldbg_poollayout::vs_pool_header(0x1f00, 0x200, 0x10),
        (0x2000, 0x1f0 - 0xf0)
    );
    assert_eq!(
        pooldbg_poollayout::vs_pool_header(0x1000, 0x200, 0x10),
        (0x1010, 0x1f0)
    );
    assert_eq!(
        pooldbg_poollayout::vs_pool_header(0x1fe0, 0x60, 0x10),
        (0x1ff0, 0x50)
    );
}

#[test]
fn lfh_subsegments_decode_with_the_lfh_key_and_bitmap() {
    for (arch, build) in [(Arch::X64, 19041), (Arch::X86, 18362)] {
        let l = Layout::for_build(arch, build).unwrap();
        let s = l.segment_heap().unwrap();
        let base = if arch == Arch::X64 {
            0xffff_9a00_0020_0000u64
        } else {
            0x8a20_0000
        };
        let mut b = vec![0u8; 0x2000];
        let bs: u16 = 0x60;
        let first: u16 = 0x60;
        let o = s.lfh_block_offsets.offset;
        b[o..o + 4].copy_from_slice(&encode::lfh_encoded(base, LFH_KEY, bs, first).to_le_bytes());
        let count = (0x2000 - first as usize) / bs as usize;
        let c = s.lfh_block_count.offset;
        b[c..c + 2].copy_from_slice(&(count as u16).to_le_bytes());
        // blocks 0 and 2 allocated (01), 1 free (00), 3 "10" (not busy, inconsistent);
        // block 4 "11" (allocated with unused bytes)
        b[s.lfh_block_bitmap] = 0b10_01_00_01;
        b[s.lfh_block_bitmap + 1] = 0b11;
        for i in 0..count {
            let off = first as usize + i * bs as usize;
            if (off & 0xfff) + bs as usize > 0x1000 {
                continue;
            }
            let ph = PoolHeader {
                block_size: 6,
                pool_type: 0,
                tag: Tag::from_bytes(*b"Lfh1"),
                process_billed: (arch == Arch::X64).then_some(0),
                ..PoolHeader::default()
            };
            let e = encode::header(&l, &ph);
            b[off..off + e.len()].copy_from_slice(&e);
        }
        let sub = l.decode_lfh_subsegment(&b, base, LFH_KEY).unwrap();
        assert_eq!((sub.block_size, sub.first_block_offset), (0x60, 0x60));
        let w = l.walk_lfh_subsegment(&b, base, LFH_KEY).unwrap();
        let straddling = (0..count)
            .filter(|i| ((first as usize + i * bs as usize) & 0xfff) + bs as usize > 0x1000)
            .count();
        assert_eq!(w.blocks.len(), count - straddling);
        assert_eq!(w.blocks[0].state, BlockState::Allocated);
        assert_eq!(w.blocks[1].state, BlockState::Free);
        assert_eq!(w.blocks[2].state, BlockState::Allocated);
        assert_eq!(w.blocks[3].state, BlockState::Free);
        assert!(w.blocks[3].error.is_some());
        assert_eq!(w.blocks[4].state, BlockState::Allocated);
        assert!(w.blocks[4].error.is_none());
        assert_eq!(w.blocks[0].address, base + 0x60);
        assert_eq!(w.blocks[0].tag.to_string(), "Lfh1");
        assert!(
            w.blocks
                .iter()
                .all(|b| (b.address & 0xfff) as usize + b.size <= 0x1000)
        );
        // Wrong key: rejected with an error naming the subsegment.
        let e = l
            .walk_lfh_subsegment(&b, base, LFH_KEY ^ 0x8000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("_HEAP_LFH_SUBSEGMENT"), "{e}");
    }
}

#[test]
fn page_ranges_follow_unit_sizes() {
    let l = Layout::for_build(Arch::X64, 19041).unwrap();
    let s = l.segment_heap().unwrap();
    let mut seg = vec![0u8; s.page_segment_size];
    let set = |seg: &mut Vec<u8>, i: usize, flags: u8, units: u8| {
        let b = i * s.range_descriptor_size;
        seg[b + s.range_flags.offset] = flags;
        seg[b + s.range_unit_size.offset] = units;
    };
    set(&mut seg, 2, 11, 4);
    set(&mut seg, 6, 15, 10);
    set(&mut seg, 16, 3, 240);
    let ctx = SegContext {
        unit_shift: 12,
        first_descriptor_index: 2,
        ..SegContext::default()
    };
    let r = l.page_ranges(&seg, 0xffff_9a00_0000_0000, &ctx).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].kind, RangeKind::Lfh);
    assert_eq!(r[1].kind, RangeKind::Vs);
    assert_eq!(r[1].address, 0xffff_9a00_0000_6000);
    assert_eq!(r[1].length, 0xa000);
    assert_eq!(r[2].kind, RangeKind::Large);
    let ctx2 = SegContext {
        segment_mask: 0xffff_ffff_fff0_0000,
        ..ctx
    };
    assert_eq!(
        ctx2.segment_of(0xffff_9a00_0000_7123),
        0xffff_9a00_0000_0000
    );
    let hit = pooldbg_poollayout::range_containing(&r, 0xffff_9a00_0000_7123).unwrap();
    assert_eq!(hit.kind, RangeKind::Vs);
    assert!(pooldbg_poollayout::range_containing(&r, 0xffff_9a00_0000_0100).is_none());
    set(&mut seg, 6, 15, 0);
    assert!(l.page_ranges(&seg, 0, &ctx).is_err());
}

/// A page of one pool (`paged`) from block sizes in units; `free[i]` marks free blocks.
fn one_pool_page(l: &Layout, units: &[u16], paged: bool, free: &[bool]) -> Vec<u8> {
    let mut p = vec![0u8; l.page_size()];
    let (mut off, mut prev) = (0usize, 0u16);
    for (i, &u) in units.iter().enumerate() {
        let h = PoolHeader {
            previous_size: prev,
            pool_index: 0,
            block_size: u,
            pool_type: encode::pool_type_byte(l, paged, !free[i]),
            tag: Tag::from_bytes(if free[i] { *b"Free" } else { TAGS[i % 4] }),
            process_billed: (l.arch() == Arch::X64).then_some(0),
        };
        let b = encode::header(l, &h);
        p[off..off + b.len()].copy_from_slice(&b);
        off += l.block_bytes(u);
        prev = u;
    }
    assert_eq!(off, p.len());
    p
}

/// Issue #18: pages outside an established pool range count as pool only when their whole
/// chain validates, free headers hold PoolType 0 and the allocated ones agree on one pool.
#[test]
fn classify_page_keeps_only_whole_chains_of_one_pool() {
    use pooldbg_poollayout::regions::PoolKind;
    for l in layouts().into_iter().filter(|l| !l.is_segment_heap()) {
        let units = encode::fill_units(&l, &[4, 1, 1, 7, 3, 20, 2]);
        let free: Vec<bool> = (0..units.len()).map(|i| i % 4 == 1).collect();
        let np = one_pool_page(&l, &units, false, &free);
        let pp = one_pool_page(&l, &units, true, &free);
        let name = l.family().name;
        assert_eq!(l.classify_page(&np), Some(PoolKind::NonPaged), "{name}");
        assert_eq!(l.classify_page(&pp), Some(PoolKind::Paged), "{name}");
        // Mixed pools on one page (the walkers' sample page): not one pool's page.
        assert_eq!(l.classify_page(&sample(&l).3), None, "{name}");
        // A lone plausible header (PreviousSize 0, block fits, printable tag) on a page whose
        // other bytes are code: not a chain.
        let mut lone = vec![0xccu8; l.page_size()];
        lone[..l.header_size()].copy_from_slice(&np[..l.header_size()]);
        assert_eq!(l.classify_page(&lone), None, "{name}");
        // ... nor followed by zeros (BlockSize 0 next).
        let mut lone0 = vec![0u8; l.page_size()];
        lone0[..l.header_size()].copy_from_slice(&np[..l.header_size()]);
        assert_eq!(l.classify_page(&lone0), None, "{name}");
        // Zero pages, PE headers, page tables.
        assert_eq!(l.classify_page(&vec![0u8; l.page_size()]), None, "{name}");
        let mut mz = vec![0u8; l.page_size()];
        mz[..4].copy_from_slice(b"MZ\x90\x00");
        assert_eq!(l.classify_page(&mz), None, "{name}");
        let ptes: Vec<u8> = (0..l.page_size() / 8)
            .flat_map(|i| (0x1000_0063u64 + (i as u64) * 0x1000).to_le_bytes())
            .collect();
        assert_eq!(l.classify_page(&ptes), None, "{name}");
        // A free header with a nonzero PoolType byte.
        let mut bad_free = np.clone();
        let first_free = l.block_bytes(units[0]);
        let type_at = match l.header_format() {
            pooldbg_poollayout::HeaderFormat::X64 => first_free + 3,
            pooldbg_poollayout::HeaderFormat::Nt50X86 => first_free + 2,
            pooldbg_poollayout::HeaderFormat::X86 => first_free + 3,
        };
        // Bit 3 of the PoolType (x86: bit 12 of the second u16): in use on no era.
        bad_free[type_at] |= 0x10;
        assert_eq!(l.classify_page(&bad_free), None, "{name}");
        // A broken chain (one PreviousSize off).
        let mut broken = np.clone();
        let second = l.block_bytes(units[0]);
        broken[second] ^= 1;
        assert_eq!(l.classify_page(&broken), None, "{name}");
        // Only free blocks: no pool to classify by.
        let all_free = one_pool_page(&l, &units, false, &vec![true; units.len()]);
        assert_eq!(l.classify_page(&all_free), None, "{name}");
    }
    // Session pool (0x20) is not global pool.
    let l = Layout::for_build(Arch::X64, 9600).unwrap();
    let units = encode::fill_units(&l, &[4, 1, 1, 7, 3, 20, 2]);
    let mut page = one_pool_page(&l, &units, true, &vec![false; units.len()]);
    page[3] |= 0x20;
    assert_eq!(l.classify_page(&page), None);
    // The segment heap is never classified by range.
    let l = Layout::for_build(Arch::X64, 19041).unwrap();
    assert_eq!(l.classify_page(&vec![0u8; 4096]), None);
}
