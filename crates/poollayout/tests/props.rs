//! Property tests: encode (test side) then decode round-trips; any bytes decode to a value or an error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod encode;

use pooldbg_poollayout::table::FAMILIES;
use pooldbg_poollayout::{Arch, HeaderFormat, Layout, PoolHeader, SegContext, Tag};
use proptest::prelude::*;

fn any_layout() -> impl Strategy<Value = Layout> {
    (0..FAMILIES.len()).prop_flat_map(|i| {
        let f = &FAMILIES[i];
        (f.first_build..=f.last_build).prop_map(move |b| Layout::for_build(f.arch, b).unwrap())
    })
}

fn seg_layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        (17764u32..26100).prop_map(|b| Layout::for_build(Arch::X64, b).unwrap()),
        (17764u32..20000).prop_map(|b| Layout::for_build(Arch::X86, b).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn header_round_trips(l in any_layout(), prev in any::<u16>(), idx in any::<u8>(), bs in any::<u16>(),
                          ty in any::<u8>(), tag in any::<u32>(), billed in any::<u64>()) {
        let (pm, im, tm) = match l.header_format() {
            HeaderFormat::X86 => (0x1ff, 0x7f, 0x7f),
            _ => (0xff, 0xff, 0xff),
        };
        let h = PoolHeader {
            previous_size: prev & pm,
            pool_index: idx & im,
            block_size: bs & pm,
            pool_type: ty & tm,
            tag: Tag(tag),
            process_billed: (l.header_format() == HeaderFormat::X64).then_some(billed),
        };
        let bytes = encode::header(&l, &h);
        prop_assert_eq!(l.decode_header(&bytes).unwrap(), h);
    }

    #[test]
    fn quota_cookie_round_trips(l in any_layout(), eprocess in any::<u64>(), cookie in any::<u64>(), at in any::<u64>()) {
        prop_assume!(l.arch() == Arch::X64);
        let stored = if l.family().quota_cookie { eprocess ^ cookie ^ at } else { eprocess };
        let h = PoolHeader { pool_type: 0x8 | 2, block_size: 2, process_billed: Some(stored), ..PoolHeader::default() };
        prop_assert_eq!(l.process_billed(&h, at, cookie), Some(eprocess));
        let not_quota = PoolHeader { pool_type: 2, ..h };
        prop_assert_eq!(l.process_billed(&not_quota, at, cookie), None);
    }

    #[test]
    fn whole_pages_walk_cleanly(l in any_layout(), seeds in proptest::collection::vec(1u16..600, 1..80), frees in any::<u64>()) {
        prop_assume!(!l.is_segment_heap());
        let units = encode::fill_units(&l, &seeds);
        let tags: Vec<[u8; 4]> = (0..units.len()).map(|i| [b'A' + (i % 26) as u8, b'b', b'c', b' ']).collect();
        let free: Vec<bool> = (0..units.len()).map(|i| frees >> (i % 64) & 1 == 1).collect();
        let page = encode::page(&l, &units, &tags, &free);
        let w = l.walk_page(&page, 0x8000_0000).unwrap();
        prop_assert!(w.first_error.is_none());
        prop_assert_eq!(w.blocks.len(), units.len());
        prop_assert_eq!(l.check_page(&page), Ok(units.len()));
        prop_assert!(l.starts_like_pool_page(&page));
        for (b, f) in w.blocks.iter().zip(&free) {
            prop_assert_eq!(b.state == pooldbg_poollayout::BlockState::Free, *f);
        }
    }

    /// The scan's first-header test never rejects a page whose whole chain checks out (so the
    /// scan walks every page it walked when it checked the chain first), whole or damaged; and
    /// the block-by-block walk hands on what `walk_page` collects.
    #[test]
    fn pages_whose_chain_checks_out_start_like_pool_pages(l in any_layout(), seeds in proptest::collection::vec(1u16..600, 1..80),
                                                           frees in any::<u64>(), at in 0usize..64, byte in any::<u8>()) {
        prop_assume!(!l.is_segment_heap());
        let units = encode::fill_units(&l, &seeds);
        let tags: Vec<[u8; 4]> = (0..units.len()).map(|i| [b'A' + (i % 26) as u8, b'b', b'c', b' ']).collect();
        let free: Vec<bool> = (0..units.len()).map(|i| frees >> (i % 64) & 1 == 1).collect();
        let mut page = encode::page(&l, &units, &tags, &free);
        // Damage one byte of the first headers (sizes, type, tag).
        page[at % (2 * l.header_size())] = byte;
        if l.check_page(&page).is_ok() {
            prop_assert!(l.starts_like_pool_page(&page));
        }
        let w = l.walk_page(&page, 0x8000_0000).unwrap();
        let mut handed = Vec::new();
        let s = l.walk_page_with(&page, 0x8000_0000, |b| handed.push(b)).unwrap();
        prop_assert_eq!(&handed, &w.blocks);
        prop_assert_eq!((s.blocks, s.first_error, s.resyncs), (w.blocks.len(), w.first_error, w.resyncs));
    }

    #[test]
    fn vs_chunk_round_trips(l in seg_layout(), addr in any::<u64>(), key in any::<u64>(), size in 1usize..0x7fff,
                            prev in 0usize..0x7fff, alloc in any::<bool>(), cost in any::<u16>()) {
        let shift = if l.arch() == Arch::X64 { 4 } else { 3 };
        let addr = if l.arch() == Arch::X86 { addr & 0xffff_ffff } else { addr };
        let c = encode::vs_chunk(l.arch(), addr, key, size << shift, prev << shift, alloc, cost);
        let d = l.decode_vs_chunk(&c, addr, key).unwrap();
        prop_assert_eq!(d.size, size << shift);
        prop_assert_eq!(d.previous_size, prev << shift);
        prop_assert_eq!(d.allocated, alloc);
        prop_assert_eq!(d.memory_cost, if l.arch() == Arch::X64 { cost } else { cost & 1 });
    }

    #[test]
    fn lfh_offsets_round_trip(l in seg_layout(), addr in any::<u64>(), key in any::<u64>(), bs in any::<u16>(), first in any::<u16>()) {
        let s = l.segment_heap().unwrap();
        let mut b = vec![0u8; s.lfh_block_bitmap + 8];
        let o = s.lfh_block_offsets.offset;
        b[o..o + 4].copy_from_slice(&encode::lfh_encoded(addr, key, bs, first).to_le_bytes());
        let d = l.decode_lfh_subsegment(&b, addr, key).unwrap();
        prop_assert_eq!((d.block_size, d.first_block_offset), (bs as usize, first as usize));
    }

    /// Any bytes: every decoder and walker returns a value or an error, never panics.
    #[test]
    fn arbitrary_bytes_never_panic(l in any_layout(), bytes in proptest::collection::vec(any::<u8>(), 0..5000),
                                   addr in any::<u64>(), key in any::<u64>(), shift in any::<u8>(), fdi in any::<u8>()) {
        let _ = l.decode_header(&bytes);
        let _ = l.decode_tracker(&bytes);
        let _ = l.tracker_entries(&bytes).count();
        let _ = l.decode_big_page(&bytes);
        let _ = l.big_page_entries(&bytes).count();
        let _ = l.decode_descriptor(&bytes);
        let _ = l.descriptor_list_heads(&bytes, addr);
        let _ = l.decode_paged_pool_info(&bytes);
        let _ = l.decode_free_pool_entry(&bytes);
        let _ = l.walk_page(&bytes, addr);
        let _ = l.walk_page_with(&bytes, addr, |_| ());
        let _ = l.starts_like_pool_page(&bytes);
        let _ = l.check_page(&bytes);
        let _ = l.next_plausible_header(&bytes, shift as usize);
        let _ = l.decode_pool_state(&bytes, addr);
        let _ = l.decode_heap_keys(&bytes);
        let _ = l.decode_segment_heap(&bytes, addr);
        let _ = l.decode_page_segment_signature(&bytes, addr, key);
        let ctx = SegContext { unit_shift: shift, first_descriptor_index: fdi, ..SegContext::default() };
        let _ = l.page_ranges(&bytes, addr, &ctx);
        let _ = l.decode_vs_chunk(&bytes, addr, key);
        let _ = l.walk_vs_subsegment(&bytes, addr, key);
        let _ = l.walk_lfh_subsegment(&bytes, addr, key);
        let _ = l.check_big_page_table(addr, key);
    }

    /// A page-sized buffer of random bytes (the common case for a scan) under every layout.
    #[test]
    fn random_pages_walk_within_bounds(l in any_layout(), bytes in proptest::collection::vec(any::<u8>(), 4096)) {
        if let Ok(w) = l.walk_page(&bytes, 0x1000) {
            prop_assert!(w.blocks.len() <= 4096 / l.block_unit());
            for b in &w.blocks {
                prop_assert!(b.address >= 0x1000 && b.address < 0x2000);
            }
        }
    }
}

proptest! {
    /// The word-at-a-time plausibility test equals the byte-by-byte definition.
    #[test]
    fn tag_plausibility_matches_its_definition(t in any::<u32>()) {
        let b = Tag(t).masked().bytes();
        let slow = b[0] != b' ' && b.iter().all(|c| (0x20..=0x7e).contains(c));
        prop_assert_eq!(Tag(t).is_plausible(), slow);
    }
}
