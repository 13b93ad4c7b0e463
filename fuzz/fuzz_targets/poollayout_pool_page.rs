//! Walks a fuzzed pool page (and VS / LFH subsegment) under every layout family.
//!
//! Input: byte 0 picks the family, bytes 1..9 a key, the rest is the page. Besides "never panic", it checks
//! that the allocation-free validator and the walker agree, and that every walked block lies in the page.

#![no_main]

use libfuzzer_sys::fuzz_target;
use poollayout::table::FAMILIES;
use poollayout::{Layout, SegContext};

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let fam = &FAMILIES[data[0] as usize % FAMILIES.len()];
    let Ok(layout) = Layout::for_build(fam.arch, fam.first_build) else {
        return;
    };
    let key = u64::from_le_bytes([data[1], data[2], data[3], data[4], data[5], data[6], data[7], data[8]]);
    let page = &data[9..];
    let va = 0xffff_f8a0_0000_1000u64 & if layout.pointer_size() == 4 { 0xffff_ffff } else { u64::MAX };

    if let Ok(walk) = layout.walk_page(page, va) {
        for b in &walk.blocks {
            assert!(b.address >= va && b.address < va + page.len().max(1) as u64);
        }
        assert!(walk.blocks.len() <= page.len() / layout.block_unit() + 1);
        match layout.check_page(page) {
            Ok(n) => {
                assert_eq!(walk.first_error, None);
                assert_eq!(walk.blocks.len(), n);
            }
            Err((off, e)) => assert_eq!(walk.first_error, Some((va + off as u64, e))),
        }
    }
    let _ = layout.decode_header(page);
    let _ = layout.decode_tracker(page);
    let _ = layout.decode_big_page(page);
    let _ = layout.decode_descriptor(page);
    let _ = layout.decode_paged_pool_info(page);
    if layout.segment_heap().is_ok() {
        if let Ok(w) = layout.walk_vs_subsegment(page, va, key) {
            for b in &w.blocks {
                assert!(b.address >= va && b.address < va + page.len() as u64);
            }
        }
        if let Ok(w) = layout.walk_lfh_subsegment(page, va, key) {
            for b in &w.blocks {
                assert!(b.address >= va && b.address + b.size as u64 <= va + page.len() as u64);
            }
        }
        let ctx = SegContext {
            unit_shift: data[1] & 31,
            first_descriptor_index: data[2],
            ..SegContext::default()
        };
        let _ = layout.page_ranges(page, va, &ctx);
        let _ = layout.decode_pool_state(page, va);
        let _ = layout.decode_segment_heap(page, va);
    }
});
