//! `!pool ADDRESS` and `!poolfind` over a corrupted segment-heap pool (Windows 10 2004 x64).
//!
//! A testkit kernel is built once; its segment-heap metadata (ExPoolState, RtlpHpHeapGlobals, the
//! `_SEGMENT_HEAP`s, page segments) and every VS/LFH subsegment are copied into a `MemoryTarget`
//! per input, with the input's patches applied: 6 bytes each — region index, offset (u32 LE; below
//! 0x100 when its top bit is clear, so headers are hit often), xor value. Byte 0 picks the probe
//! address and whether `!poolfind` runs. Never panic, never hang; rows stay inside their subsegment.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use plugin_sdk::{MemoryTarget, Output, Source, Target, TargetExt, TargetInfo};
use poolcmds::segheap::SegPool;

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
        let k = testkit::KernelBuilder::standard(p).build().expect("kernel");
        let (bytes, _) = testkit::write_vec(&k, testkit::Container::Full, &testkit::WriteOptions::default())
            .expect("dump");
        let s = pooldbg::session::Session::from_dump(dumpfile::Dump::from_vec(bytes).expect("dump"), &Default::default())
            .expect("session");
        let info = s.info();
        let layout = poollayout::Layout::for_build(poollayout::Arch::X64, info.build).expect("layout");
        let sl = layout.segment_heap().expect("segment heap");
        let pool = SegPool::read(&s, &layout).expect("pool");
        let mut spans = vec![
            (pool.state_address, sl.special_heaps + 8 * sl.special_heap_count),
            (pool.globals, 0x10),
        ];
        for (hi, h) in pool.heaps.iter().enumerate() {
            spans.push((h.address, sl.heap_size));
            for ctx in 0..2 {
                for seg in pool.segments(&s, &layout, hi, ctx).0 {
                    spans.push((seg, sl.page_segment_size));
                }
            }
        }
        let (subs, _, _) = pool.subsegments(&s, &layout, &|_| true);
        spans.extend(subs.iter().map(|(_, r)| (r.address, r.length as usize)));
        let regions = spans
            .into_iter()
            .map(|(a, n)| {
                let mut b = vec![0u8; n];
                s.read_virtual_exact(a, &mut b).expect("read");
                (a, b)
            })
            .collect();
        let sh = k.manifest.segment_heap.as_ref().expect("segment heap manifest");
        let probes = sh
            .vs_chunks
            .iter()
            .map(|c| c.pool_header.0 + 0x10)
            .step_by(7)
            .chain(sh.lfh_blocks.iter().map(|b| b.address.0 + 0x10).step_by(11))
            .collect();
        Base { info, state: pool.state_address, regions, probes }
    })
}

fuzz_target!(|data: &[u8]| {
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
});
