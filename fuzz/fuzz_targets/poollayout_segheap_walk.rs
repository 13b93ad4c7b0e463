//! Walks a fuzzed segment-heap pool through `poollayout::segheap_walk`.
//!
//! Input: byte 0 picks a segment-heap family, bytes 1..9 a key, the rest is a memory image read
//! cyclically from a base address (so a short input can describe pointers anywhere). Besides
//! "never panic, never hang", it checks that every chunk and block found lies in its subsegment.

#![no_main]

use libfuzzer_sys::fuzz_target;
use poollayout::segheap_walk::{self, Slot};
use poollayout::table::FAMILIES;
use poollayout::Layout;

const BASE: u64 = 0xffff_a000_0000_0000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 17 {
        return;
    }
    let fams: Vec<_> = FAMILIES
        .iter()
        .filter_map(|f| Layout::for_build(f.arch, f.first_build).ok())
        .filter(|l| l.is_segment_heap())
        .collect();
    if fams.is_empty() {
        return;
    }
    let layout = &fams[data[0] as usize % fams.len()];
    let key = u64::from_le_bytes(data[1..9].try_into().unwrap_or([0; 8]));
    let mem = &data[9..];
    let base = if layout.pointer_size() == 4 { BASE & 0xffff_ffff } else { BASE };
    let mut read = |va: u64, buf: &mut [u8]| -> Result<(), String> {
        let off = va.wrapping_sub(base);
        if off >= 1 << 24 {
            return Err(format!("{va:#x} outside the image"));
        }
        for (i, b) in buf.iter_mut().enumerate() {
            *b = mem[(off as usize + i) % mem.len()];
        }
        Ok(())
    };
    if let Ok(walk) = segheap_walk::walk_pool(layout, base, &Slot::ALL, &mut read) {
        for sub in walk.subsegments.iter().take(8) {
            if sub.range.length > 0x10000 {
                continue;
            }
            if let Ok(b) = segheap_walk::read_subsegment(sub, &mut read) {
                let _ = segheap_walk::vs_chunks(layout, &b.bytes, sub.range.address, key);
                let _ = segheap_walk::lfh_blocks(layout, &b.bytes, sub.range.address, key);
            }
        }
    }
    let a = base;
    if let Ok(v) = segheap_walk::vs_chunks(layout, mem, a, key) {
        let mut end = a;
        for c in &v.chunks {
            assert!(c.address >= end && c.address + c.size as u64 <= a + mem.len() as u64);
            end = c.address + c.size as u64;
        }
    }
    if let Ok((_, blocks)) = segheap_walk::lfh_blocks(layout, mem, a, key) {
        for b in &blocks {
            assert!(b.address >= a && b.address + b.size as u64 <= a + mem.len() as u64);
        }
    }
});
