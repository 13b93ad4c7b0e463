//! The one segment-heap walker (`poollayout::segheap_walk`), fuzzed two ways. Byte 0 picks the mode:
//!
//! - even: a synthetic image. Byte 1 picks a segment-heap family, bytes 2..10 a key, the rest is a
//!   memory image read cyclically from a base address (so a short input can describe pointers
//!   anywhere). `SegPool::read`, `subsegments`, `locate`, `read_subsegment`, `walk_subsegment`,
//!   `vs_chunks` and `lfh_blocks` run over it; every chunk and block found lies in its subsegment.
//! - odd: a testkit kernel (Windows 10 2004 x64) built once; its segment-heap metadata and every
//!   VS/LFH subsegment are copied into a `MemoryTarget` with the input's patches applied: 6 bytes
//!   each — region index, offset (u32 LE; below 0x100 when its top bit is clear, so headers are hit
//!   often), xor value. Byte 1 picks the probe address and whether `!poolfind` runs; `!pool` rows
//!   stay inside their subsegment.
//!
//! Never panic, never hang. (The seeds of the former `poolcmds_segheap` target are the odd-mode
//! seeds here.)

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use plugin_sdk::{MemoryTarget, Output, Source, Target, TargetExt, TargetInfo};
use poollayout::segheap_walk::{self, SegPool};
use poollayout::table::FAMILIES;
use poollayout::Layout;

const BASE: u64 = 0xffff_a000_0000_0000;

fn image(data: &[u8]) {
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
    let mut read = |va: u64, buf: &mut [u8]| -> Result<(), poollayout::ReadFault> {
        let off = va.wrapping_sub(base);
        if off >= 1 << 24 {
            return Err(poollayout::ReadFault::not_in_dump(va));
        }
        for (i, b) in buf.iter_mut().enumerate() {
            *b = mem[(off as usize + i) % mem.len()];
        }
        Ok(())
    };
    if let Ok(pool) = SegPool::read(layout, base, &mut read) {
        let subs = pool.subsegments(layout, &|_| true, &mut read);
        for sub in subs.subsegments.iter().take(8) {
            if sub.range.length > 0x10000 {
                continue;
            }
            if let Ok(b) = segheap_walk::read_subsegment(layout, &pool.keys, &sub.range, &mut read) {
                assert!(b.bytes.len() as u64 <= sub.range.length);
                if let Ok(w) = segheap_walk::walk_subsegment(layout, &pool.keys, &b) {
                    for blk in &w.blocks {
                        assert!(blk.address >= b.address && blk.address < b.address + sub.range.length);
                    }
                }
                let _ = segheap_walk::vs_chunks(layout, &b.bytes, sub.range.address, key);
                let _ = segheap_walk::lfh_blocks(layout, &b.bytes, sub.range.address, key);
            }
        }
        let _ = pool.locate(layout, base.wrapping_add(key & 0xff_ffff), &mut read);
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
}

struct Base {
    info: TargetInfo,
    state: u64,
    regions: Vec<(u64, Vec<u8>)>,
    probes: Vec<u64>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let p = testkit::profile("win10-2004-x64").expect("profile");
        let k = testkit::KernelBuilder::standard(p).segheap_edges(true).build().expect("kernel");
        let (bytes, _) = testkit::write_vec(&k, testkit::Container::Full, &testkit::WriteOptions::default())
            .expect("dump");
        let s = pooldbg::session::Session::from_dump(dumpfile::Dump::from_vec(bytes).expect("dump"), &Default::default())
            .expect("session");
        let info = s.info();
        let layout = poollayout::Layout::for_build(poollayout::Arch::X64, info.build).expect("layout");
        let sl = layout.segment_heap().expect("segment heap");
        let pool = poolcmds::segheap::read_pool(&s, &layout).expect("pool");
        let mut read = poolcmds::segheap::reader(&s);
        let mut spans = vec![
            (pool.state_address, sl.special_heaps + 8 * sl.special_heap_count),
            (pool.globals, 0x10),
        ];
        for (hi, h) in pool.heaps.iter().enumerate() {
            spans.push((h.address, sl.heap_size));
            for ctx in 0..2 {
                for seg in pool.segments(&layout, hi, ctx, &mut read).0 {
                    spans.push((seg, sl.page_segment_size));
                }
            }
        }
        let sh = k.manifest.segment_heap.as_ref().expect("segment heap manifest");
        // Subsegments as far as they are mapped (a guard page ends some ranges).
        spans.extend(
            sh.vs_subsegments
                .iter()
                .chain(&sh.lfh_subsegments)
                .map(|r| (r.address.0, r.size as usize)),
        );
        let regions = spans
            .into_iter()
            .map(|(a, n)| {
                let mut b = vec![0u8; n];
                s.read_virtual_exact(a, &mut b).expect("read");
                (a, b)
            })
            .collect();
        let probes = sh
            .vs_chunks
            .iter()
            .map(|c| c.pool_header.0 + 0x8)
            .step_by(7)
            .chain(sh.lfh_blocks.iter().map(|b| b.address.0 + 0x8).step_by(11))
            .collect();
        Base { info, state: pool.state_address, regions, probes }
    })
}

fn kernel(data: &[u8]) {
    let Some((&sel, patches)) = data.split_first() else {
        return;
    };
    let b = base();
    let mut regions = b.regions.clone();
    for p in patches.chunks_exact(6) {
        let r = p[0] as usize % regions.len();
        let raw = u32::from_le_bytes([p[1], p[2], p[3], p[4]]) as usize;
        let len = regions[r].1.len();
        let off = if raw & 0x8000_0000 == 0 { raw % len.min(0x100) } else { raw % len };
        regions[r].1[off] ^= p[5];
    }
    let mut t = MemoryTarget::new(b.info.clone()).with_symbol("ExPoolState", b.state, Source::EmbeddedProfile);
    for (a, bytes) in &regions {
        t = t.with_virtual(*a, bytes);
    }
    let probe = b.probes[sel as usize % b.probes.len()];
    for flags in ["", " 1"] {
        let mut out = Output::new();
        if poolcmds::pool::run(&t, &format!("{probe:x}{flags}"), &mut out).is_ok() {
            let sum = out.summary().expect("summary");
            let hex = |v: &serde_json::Value| u64::from_str_radix(v.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16).unwrap_or(0);
            let sub = hex(&sum["subsegment"]);
            let len = sum["subsegment_size"].as_u64().unwrap_or(0);
            for r in out.rows() {
                let a = hex(&r["address"]);
                assert!(a >= sub && a < sub + len, "{a:#x} outside {sub:#x}+{len:#x}");
            }
        }
    }
    if sel & 0x80 != 0 {
        let _ = poolcmds::poolfind::run(&t, if sel & 0x40 != 0 { "* 1" } else { "*" }, &mut Output::new());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        image(rest);
    } else {
        kernel(rest);
    }
});
