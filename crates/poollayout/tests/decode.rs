//! Decoders and the layout table, against hand-written bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pooldbg_poollayout::table::FAMILIES;
use pooldbg_poollayout::{Arch, BlockState, Confidence, Error, Layout, PoolType, Tag};

#[test]
fn table_ranges_do_not_overlap_and_hold_their_verified_builds() {
    for (i, a) in FAMILIES.iter().enumerate() {
        assert!(a.first_build <= a.last_build, "{}", a.name);
        assert!(!a.sources.is_empty(), "{} names no source", a.name);
        for v in a.verified_builds {
            assert!(
                (a.first_build..=a.last_build).contains(v),
                "{}: {v}",
                a.name
            );
        }
        for b in &FAMILIES[i + 1..] {
            if a.arch == b.arch {
                assert!(
                    a.last_build < b.first_build || b.last_build < a.first_build,
                    "{} / {}",
                    a.name,
                    b.name
                );
            }
        }
    }
    // Contiguous coverage per architecture.
    for arch in [Arch::X86, Arch::X64] {
        let mut rows: Vec<_> = FAMILIES.iter().filter(|f| f.arch == arch).collect();
        rows.sort_by_key(|f| f.first_build);
        for w in rows.windows(2) {
            assert_eq!(
                w[0].last_build + 1,
                w[1].first_build,
                "gap after {}",
                w[0].name
            );
        }
    }
}

#[test]
fn builds_are_selected_by_range() {
    let l = |a, b| Layout::for_build(a, b).unwrap();
    assert_eq!(l(Arch::X86, 2195).header_size(), 8);
    assert_eq!(l(Arch::X86, 2195).block_unit(), 32);
    assert_eq!(l(Arch::X86, 2600).block_unit(), 8);
    assert_eq!(l(Arch::X64, 3790).block_unit(), 16);
    assert_eq!(l(Arch::X64, 7601).confidence(), Confidence::Verified);
    assert_eq!(l(Arch::X64, 19045).confidence(), Confidence::Inferred);
    assert_eq!(
        l(Arch::X64, 19045).family().name,
        l(Arch::X64, 19041).family().name
    );
    assert_eq!(l(Arch::X64, 22631).tracker().unwrap().size, 0x50);
    assert_eq!(l(Arch::X86, 16299).tracker().unwrap().size, 0x30);
    assert!(l(Arch::X64, 18362).is_segment_heap());
    assert!(!l(Arch::X64, 17763).is_segment_heap());
    assert!(l(Arch::X64, 7601).family().protected_tags);
    assert!(!l(Arch::X64, 9200).family().protected_tags);
    for (arch, build) in [
        (Arch::X64, 26100),
        (Arch::X64, 27000),
        (Arch::X86, 20000),
        (Arch::X86, 1381),
        (Arch::X64, 2600),
    ] {
        let e = Layout::for_build(arch, build).unwrap_err();
        assert!(
            matches!(e, Error::UnsupportedBuild { build: b, .. } if b == build),
            "{e}"
        );
        assert!(e.to_string().contains(&build.to_string()));
    }
    assert!(matches!(
        l(Arch::X64, 19041).descriptor(),
        Err(Error::NotInLayout { .. })
    ));
    assert!(matches!(
        l(Arch::X86, 2195).tracker(),
        Err(Error::NotInLayout { .. })
    ));
}

#[test]
fn pool_type_byte_per_era() {
    let xp = Layout::for_build(Arch::X86, 2600).unwrap();
    let w7 = Layout::for_build(Arch::X64, 7601).unwrap();
    let w10 = Layout::for_build(Arch::X64, 19041).unwrap();
    let h = |t: u8| pooldbg_poollayout::PoolHeader {
        pool_type: t,
        block_size: 1,
        ..Default::default()
    };
    // NT5: (type + 1) | 4 in use; nonpaged odd, paged even.
    assert_eq!(xp.header_state(&h(5)), Some(BlockState::Allocated));
    assert_eq!(xp.header_pool_type(&h(5)), Some(PoolType::NON_PAGED));
    assert_eq!(xp.header_pool_type(&h(6)), Some(PoolType::PAGED));
    assert_eq!(xp.header_state(&h(0)), Some(BlockState::Free));
    // NT6: type | 2.
    assert_eq!(w7.header_state(&h(2)), Some(BlockState::Allocated));
    assert_eq!(w7.header_pool_type(&h(3)), Some(PoolType::PAGED));
    assert_eq!(w7.header_pool_type(&h(0x23)), Some(PoolType::PAGED_SESSION));
    assert_eq!(w7.header_state(&h(0)), Some(BlockState::Free));
    // 19H1+: informational.
    assert_eq!(w10.header_state(&h(2)), None);
    let ca = pooldbg_poollayout::PoolHeader {
        pool_type: 4,
        previous_size: 3,
        ..Default::default()
    };
    assert_eq!(w10.cache_aligned_origin(&ca, 0x1040), Some(0x1010));
    assert_eq!(w7.cache_aligned_origin(&ca, 0x1040), None);
}

#[test]
fn pool_type_names_as_windbg() {
    assert_eq!(PoolType(0).to_string(), "NonPagedPool");
    assert_eq!(PoolType(0x25).name(), "PagedPoolCacheAlignedSession");
    assert_eq!(PoolType(0x220).name(), "NonPagedPoolSessionNx");
    assert_eq!(PoolType(0x99).name(), "Unknown");
    assert_eq!(PoolType(1).region(), "Paged pool");
    assert_eq!(PoolType(0).region(), "Nonpaged pool");
}

#[test]
fn tags_display_as_the_contract_says() {
    assert_eq!(Tag::from_bytes(*b"Mm  ").to_string(), "Mm  ");
    assert_eq!(Tag(0xe5726854).to_string(), "Thre"); // protected 'Thr\xe5'
    assert!(Tag(0xe5726854).is_protected());
    assert_eq!(
        Tag::from_bytes([b'a', 0x01, 0x7f, b'z']).to_string(),
        "a\\x01\\x7fz"
    );
    assert_eq!(Tag::from_bytes(*b"a\\bc").to_string(), "a\\x5cbc");
    assert!(Tag::from_bytes(*b"Irp ").is_plausible());
    assert!(!Tag::from_bytes(*b" abc").is_plausible());
    assert!(!Tag::from_bytes([b'a', 0, b'b', b'c']).is_plausible());
    let w7 = Layout::for_build(Arch::X86, 7601).unwrap();
    let w8 = Layout::for_build(Arch::X86, 9200).unwrap();
    assert!(w7.tag_is_protected(Tag(0xe5726854)));
    assert!(!w8.tag_is_protected(Tag(0xe5726854)));
}

#[test]
fn tracker_entries_decode_per_layout() {
    // x64 0x38 (1709+): Key, NonPagedBytes @8, NonPagedAllocs @0x10, NonPagedFrees @0x18, PagedBytes @0x20...
    let l = Layout::for_build(Arch::X64, 17763).unwrap();
    let mut table = vec![0u8; 3 * 0x38];
    let e = &mut table[0x38..0x70];
    e[..4].copy_from_slice(b"Proc");
    e[8..16].copy_from_slice(&0x1000u64.to_le_bytes());
    e[0x10..0x18].copy_from_slice(&9u64.to_le_bytes());
    e[0x18..0x20].copy_from_slice(&4u64.to_le_bytes());
    e[0x28..0x30].copy_from_slice(&2u64.to_le_bytes());
    let used: Vec<_> = l.tracker_entries(&table).collect::<Result<_, _>>().unwrap();
    assert_eq!(used.len(), 1);
    let t = used[0];
    assert_eq!(t.tag.to_string(), "Proc");
    assert_eq!(
        (t.nonpaged_bytes, t.nonpaged_outstanding(), t.paged_allocs),
        (0x1000, 5, 2)
    );
    // x86 XP 0x1c: all u32.
    let xp = Layout::for_build(Arch::X86, 2600).unwrap();
    let mut e = [0u8; 0x1c];
    e[..4].copy_from_slice(b"Irp ");
    e[0xc..0x10].copy_from_slice(&0x80u32.to_le_bytes());
    e[0x18..0x1c].copy_from_slice(&0x40u32.to_le_bytes());
    let t = xp.decode_tracker(&e).unwrap();
    assert_eq!((t.nonpaged_bytes, t.paged_bytes), (0x80, 0x40));
    // Truncated input names the structure and offsets.
    let err = xp.decode_tracker(&e[..0x10]).unwrap_err().to_string();
    assert!(
        err.contains("_POOL_TRACKER_TABLE") && err.contains("0x1c") | err.contains("28"),
        "{err}"
    );
}

#[test]
fn big_page_entries_decode_per_layout() {
    // Win10 x64: Va, Key @8, {Pattern, PoolType:12, SlushSize:12} @0xc, NumberOfBytes @0x10.
    let l = Layout::for_build(Arch::X64, 19041).unwrap();
    let mut e = [0u8; 0x18];
    e[..8].copy_from_slice(&0xffff_a001_2345_6001u64.to_le_bytes());
    e[8..12].copy_from_slice(b"Gh05");
    e[0xc..0x10].copy_from_slice(&(0x5a | (0x201 << 8) | (0x123 << 20) as u32).to_le_bytes());
    e[0x10..0x18].copy_from_slice(&0x3000u64.to_le_bytes());
    let b = l.decode_big_page(&e).unwrap();
    assert!(b.free);
    assert_eq!(b.va, 0xffff_a001_2345_6000);
    assert_eq!(b.pool_type, Some(PoolType(0x201)));
    assert_eq!(
        (b.pattern, b.slush_size, b.bytes),
        (Some(0x5a), Some(0x123), 0x3000)
    );
    assert!(!b.is_live());
    // 20348: ProcessBilled @0x18, 0x20 bytes.
    let s22 = Layout::for_build(Arch::X64, 20348).unwrap();
    let mut e2 = [0u8; 0x20];
    e2[..0x18].copy_from_slice(&e);
    e2[0] = 0;
    e2[0x18..].copy_from_slice(&0xffff_c000_0000_0080u64.to_le_bytes());
    let b = s22.decode_big_page(&e2).unwrap();
    assert!(b.is_live());
    assert_eq!(b.process_billed, Some(0xffff_c000_0000_0080));
    // XP x86: NumberOfPages.
    let xp = Layout::for_build(Arch::X86, 2600).unwrap();
    let mut e = [0u8; 0xc];
    e[..4].copy_from_slice(&0x8200_0000u32.to_le_bytes());
    e[4..8].copy_from_slice(b"Mdl ");
    e[8..12].copy_from_slice(&3u32.to_le_bytes());
    let b = xp.decode_big_page(&e).unwrap();
    assert_eq!((b.va, b.bytes, b.pool_type), (0x8200_0000, 0x3000, None));
    assert!(
        l.check_big_page_table(0xffff_a000_0000_0000, 0x1000)
            .is_ok()
    );
    assert!(
        l.check_big_page_table(0xffff_a000_0000_0008, 0x1000)
            .is_err()
    );
}

#[test]
fn descriptors_and_list_heads() {
    let l = Layout::for_build(Arch::X64, 7601).unwrap();
    let mut d = vec![0u8; 0x1140];
    d[0..4].copy_from_slice(&1u32.to_le_bytes());
    d[0x80..0x84].copy_from_slice(&2u32.to_le_bytes());
    d[0xc0..0xc4].copy_from_slice(&77u32.to_le_bytes());
    d[0x50..0x58].copy_from_slice(&0x12345u64.to_le_bytes());
    let base = 0xffff_f800_02a0_0000u64;
    for i in 0..256 {
        let head = base + 0x140 + i * 16;
        let o = 0x140 + i as usize * 16;
        // encoded links (low bit set), list 3 non-empty
        let fl = if i == 3 {
            0xffff_f8a0_0000_1011
        } else {
            head | 1
        };
        d[o..o + 8].copy_from_slice(&fl.to_le_bytes());
        d[o + 8..o + 16].copy_from_slice(&(head | 1).to_le_bytes());
    }
    let p = l.decode_descriptor(&d).unwrap();
    assert_eq!(
        (p.pool_type, p.pool_index, p.pages, p.bytes),
        (PoolType::PAGED, 2, 77, Some(0x12345))
    );
    let heads = l.descriptor_list_heads(&d, base).unwrap();
    assert_eq!(heads.len(), 256);
    assert_eq!(heads.iter().filter(|h| !h.is_empty()).count(), 1);
    assert_eq!(heads[3].flink, 0xffff_f8a0_0000_1010);
    assert_eq!(l.free_block_header(heads[3].flink), 0xffff_f8a0_0000_1000);
    assert_eq!(l.list_head_block_bytes(3), 64);
    // 1607+: in use = allocated − deallocated.
    let l = Layout::for_build(Arch::X64, 14393).unwrap();
    let mut d = vec![0u8; 0x140];
    d[0x48..0x50].copy_from_slice(&100u64.to_le_bytes());
    d[0x88..0x90].copy_from_slice(&40u64.to_le_bytes());
    assert_eq!(l.decode_descriptor(&d).unwrap().pages, 60);
    assert!(l.descriptor_list_heads(&d, 0).is_err());
}

#[test]
fn paged_pool_info_and_free_entries() {
    let l = Layout::for_build(Arch::X64, 7601).unwrap();
    let mut b = vec![0u8; 0x68];
    b[0x38..0x3c].copy_from_slice(&0x8000u32.to_le_bytes());
    b[0x40..0x48].copy_from_slice(&0xffff_f8a0_0000_0000u64.to_le_bytes());
    b[0x58..0x60].copy_from_slice(&500u64.to_le_bytes());
    b[0x60..0x68].copy_from_slice(&450u64.to_le_bytes());
    let p = l.decode_paged_pool_info(&b).unwrap();
    assert_eq!(p.allocation_map_bits, Some(0x8000));
    assert_eq!(p.allocation_map_buffer, Some(0xffff_f8a0_0000_0000));
    assert_eq!((p.commit, p.allocated), (Some(500), 450));
    let xp = Layout::for_build(Arch::X86, 2600).unwrap();
    let mut f = [0u8; 0x14];
    f[8..12].copy_from_slice(&12u32.to_le_bytes());
    let e = xp.decode_free_pool_entry(&f).unwrap();
    assert_eq!(e.pages, 12);
    assert!(xp.check_free_run(&e, 0x8100_0000).is_ok());
    assert!(
        Layout::for_build(Arch::X64, 7601)
            .unwrap()
            .decode_free_pool_entry(&f)
            .is_err()
    );
}

#[test]
fn pool_state_and_segment_heap() {
    let l = Layout::for_build(Arch::X64, 19041).unwrap();
    let s = l.segment_heap().unwrap();
    let mut st = vec![0u8; s.state_size];
    st[..8].copy_from_slice(&0xffff_f800_1234_0000u64.to_le_bytes());
    st[0x38d0..0x38d4].copy_from_slice(&2u32.to_le_bytes());
    for n in 0..2 {
        for h in 0..4 {
            let o = 0x3900 + n * 0x20c0 + h * 8;
            st[o..o + 8].copy_from_slice(
                &(0xffff_9000_0000_0000u64 + (n * 4 + h) as u64 * 0x1000).to_le_bytes(),
            );
        }
    }
    let p = l.decode_pool_state(&st, 0xffff_f800_4000_0000).unwrap();
    assert_eq!(p.number_of_pools, 2);
    assert_eq!(p.node_heaps[1][2], 0xffff_9000_0000_6000);
    assert_eq!(p.special_heaps.len(), 4);
    assert_eq!(p.globals, 0xffff_f800_1234_0000);
    st[0x38d0] = 65;
    assert!(
        l.decode_pool_state(&st, 0)
            .unwrap_err()
            .to_string()
            .contains("NumberOfPools")
    );

    let mut h = vec![0u8; 0x800];
    h[0x10..0x14].copy_from_slice(&0xDDEEDDEEu32.to_le_bytes());
    h[0x100..0x108].copy_from_slice(&0xffff_ffff_fff0_0000u64.to_le_bytes());
    h[0x108] = 12;
    h[0x10a] = 2;
    h[0x148..0x150].copy_from_slice(&0xffff_9a00_0000_0000u64.to_le_bytes());
    let sh = l.decode_segment_heap(&h, 0xffff_9000_0000_0000).unwrap();
    assert!(sh.signature_ok);
    assert_eq!(sh.seg_contexts[0].unit_shift, 12);
    assert_eq!(sh.seg_contexts[0].first_descriptor_index, 2);
    assert_eq!(sh.seg_contexts[0].segment_list_head, 0xffff_9000_0000_0148);
    assert_eq!(sh.seg_contexts[0].segment_list_flink, 0xffff_9a00_0000_0000);

    // Page segment signature: Signature ^ HeapKey ^ va ^ 0xA2E64EADA2E64EAD is a kernel address.
    let key = 0x1111_2222_3333_4444u64;
    let va = 0xffff_9a00_0000_0000u64;
    let target = 0xffff_9000_0000_0100u64;
    let sig = target ^ key ^ va ^ 0xA2E6_4EAD_A2E6_4EAD;
    let mut seg = vec![0u8; 0x20];
    seg[0x10..0x18].copy_from_slice(&sig.to_le_bytes());
    let d = l.decode_page_segment_signature(&seg, va, key).unwrap();
    assert_eq!(d, target);
    assert!(l.is_kernel_address(d));
    assert!(
        !l.is_kernel_address(
            l.decode_page_segment_signature(&seg, va, key ^ (1 << 63))
                .unwrap()
        )
    );
    let hk = l
        .decode_heap_keys(&0x0102_0304_0506_0708u64.to_le_bytes().repeat(2))
        .unwrap();
    assert_eq!(hk.lfh_key, 0x0102_0304_0506_0708);
}
