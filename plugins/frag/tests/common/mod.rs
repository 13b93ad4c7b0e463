//! Helpers of the `!frag` tests: the manifest's expected free blocks and the rows `!frag` gave.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use plugin_sdk::Output;

/// (index → (fragments, bytes)) of the manifest's nonpaged free lists.
pub fn expected(kernel: &testkit::Kernel) -> BTreeMap<u64, (u64, u64)> {
    let mut m = BTreeMap::new();
    for l in kernel
        .manifest
        .free_lists
        .iter()
        .filter(|l| l.pool_type == "NonPagedPool")
    {
        let e = m.entry(l.index).or_insert((0, 0));
        e.0 += l.entries.len() as u64;
        e.1 += l.entries.len() as u64 * l.block_size;
    }
    m
}

/// ((allocator, size) → (fragments, bytes)) of the manifest's free LFH blocks and VS chunks in
/// the nonpaged heaps.
pub fn expected_segheap(kernel: &testkit::Kernel) -> BTreeMap<(String, u64), (u64, u64)> {
    let sh = kernel.manifest.segment_heap.as_ref().unwrap();
    let nonpaged = |t: &str| t == "NonPagedPool" || t == "NonPagedPoolNx";
    let mut m = BTreeMap::new();
    for b in sh
        .lfh_blocks
        .iter()
        .filter(|b| b.state == "free" && nonpaged(&b.pool_type))
    {
        let e = m.entry(("lfh".to_string(), b.size)).or_insert((0, 0));
        e.0 += 1;
        e.1 += b.size;
    }
    for c in sh
        .vs_chunks
        .iter()
        .filter(|c| c.state == "free" && nonpaged(&c.pool_type))
    {
        let e = m.entry(("vs".to_string(), c.chunk_size)).or_insert((0, 0));
        e.0 += 1;
        e.1 += c.chunk_size;
    }
    m
}

pub fn segheap_rows(out: &Output) -> BTreeMap<(String, u64), (u64, u64)> {
    out.rows()
        .iter()
        .filter(|r| r["fragments"].as_u64() != Some(0))
        .map(|r| {
            let size = r["block_size"].as_u64().unwrap();
            assert_eq!(r["index"].as_u64().unwrap(), size / 16 - 1);
            (
                (r["allocator"].as_str().unwrap().to_string(), size),
                (
                    r["fragments"].as_u64().unwrap(),
                    r["bytes"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

pub fn rows(out: &Output) -> BTreeMap<u64, (u64, u64)> {
    out.rows()
        .iter()
        .filter(|r| r["fragments"].as_u64() != Some(0))
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                (
                    r["fragments"].as_u64().unwrap(),
                    r["bytes"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}
