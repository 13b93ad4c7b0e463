//! `!frag` on every testkit profile through the host's Session: per free-list index the fragments
//! and bytes equal the manifest's nonpaged free lists, the text equals the committed golden file
//! (`tests/golden/<name>.txt`; regenerate with `POOLDBG_BLESS=1 cargo test -p pooldbg-frag --test
//! golden` and review the diff by reading it). On the segment-heap profiles every LFH bucket's and
//! VS chunk size's free count and bytes equal the manifest's `segment_heap` blocks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expected, expected_segheap, rows, segheap_rows};
use dumpfile::Dump;
use plugin_sdk::{Command, Output};
use pooldbg::session::{Session, SessionOptions};
use pooldbg_frag::{Frag, render_text};
use testkit::{Container, Fault, KernelBuilder, PROFILES, PoolKind, WriteOptions, write_vec};

fn golden(name: &str, text: &str) {
    testkit::golden::check(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
        &format!("{name}.txt"),
        text,
    );
}

fn session(kernel: &testkit::Kernel, container: Container) -> Session {
    let (bytes, _) = write_vec(kernel, container, &WriteOptions::default()).unwrap();
    Session::from_dump(Dump::from_vec(bytes).unwrap(), &SessionOptions::default()).unwrap()
}

#[test]
fn every_profile_matches_its_manifest_and_golden_text() {
    for profile in PROFILES {
        let kernel = KernelBuilder::standard(profile)
            .seed(7)
            .memory_mib(16)
            .build()
            .unwrap();
        let s = session(&kernel, Container::Full);
        let mut out = Output::new();
        if profile.name == "win2000-x86" {
            // testkit lays Windows 2000's descriptor out like XP's (an assumption); poollayout has
            // no source for 2000's `_POOL_DESCRIPTOR` and refuses rather than guess.
            let e = Frag.run(&s, "", &mut out).unwrap_err().to_string();
            assert!(e.contains("does not exist in the Windows 2000"), "{e}");
            golden(profile.name, &format!("error: {e}\n"));
            continue;
        }
        if !matches!(profile.pool, testkit::profile::PoolModel::Classic) {
            Frag.run(&s, "", &mut out)
                .unwrap_or_else(|e| panic!("{}: {e}", profile.name));
            let want = expected_segheap(&kernel);
            assert!(
                want.keys().any(|k| k.0 == "lfh") && want.keys().any(|k| k.0 == "vs"),
                "{}: the standard kernel has free LFH blocks and VS chunks: {want:?}",
                profile.name
            );
            assert_eq!(segheap_rows(&out), want, "{}", profile.name);
            let sum = out.summary().unwrap();
            assert_eq!(
                sum["fragments"].as_u64().unwrap(),
                want.values().map(|v| v.0).sum::<u64>()
            );
            assert_eq!(
                sum["bytes"].as_u64().unwrap(),
                want.values().map(|v| v.1).sum::<u64>()
            );
            let sh = kernel.manifest.segment_heap.as_ref().unwrap();
            let heaps: Vec<String> = sum["heaps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["address"].as_str().unwrap().to_string())
                .collect();
            let want_heaps: Vec<String> = sh
                .heaps
                .iter()
                .filter(|h| h.pool_type != "PagedPool")
                .map(|h| format!("{:#x}", h.address.0))
                .collect();
            assert_eq!(heaps, want_heaps, "{}", profile.name);
            assert_eq!(
                sum["nonpaged_pool_bytes"].as_u64(),
                kernel.manifest.vm.nonpaged_pool_pages.map(|p| p * 4096),
                "{}",
                profile.name
            );
            assert!(
                out.warnings().is_empty(),
                "{}: {:?}",
                profile.name,
                out.warnings()
            );
            golden(profile.name, &render_text(&out));
            continue;
        }
        Frag.run(&s, "", &mut out)
            .unwrap_or_else(|e| panic!("{}: {e}", profile.name));
        let want = expected(&kernel);
        assert!(
            !want.is_empty(),
            "{}: the standard kernel has free blocks",
            profile.name
        );
        assert_eq!(
            rows(&out),
            want,
            "{}; warnings {:?}",
            profile.name,
            out.warnings()
        );
        let sum = out.summary().unwrap();
        assert_eq!(
            sum["fragments"].as_u64().unwrap(),
            want.values().map(|v| v.0).sum::<u64>()
        );
        assert_eq!(
            sum["bytes"].as_u64().unwrap(),
            want.values().map(|v| v.1).sum::<u64>()
        );
        match kernel.manifest.vm.nonpaged_pool_pages {
            Some(p) => assert_eq!(sum["nonpaged_pool_bytes"].as_u64(), Some(p * 4096)),
            None => assert!(sum.get("nonpaged_pool_bytes").is_none()),
        }
        assert!(
            out.warnings().is_empty(),
            "{}: {:?}",
            profile.name,
            out.warnings()
        );
        golden(profile.name, &render_text(&out));
    }
}

#[test]
fn flag_1_lists_every_index() {
    let profile = testkit::profile("xpsp3-x86").unwrap();
    let kernel = KernelBuilder::standard(profile)
        .seed(7)
        .memory_mib(16)
        .build()
        .unwrap();
    let s = session(&kernel, Container::Full);
    let mut out = Output::new();
    Frag.run(&s, "1", &mut out).unwrap();
    // XP x86: 512 ListHeads.
    assert_eq!(out.rows().len(), 512);
    golden("xpsp3-x86-flag1", &render_text(&out));
}

/// Many small frees in nonpaged pool: a fragmented pool, counted exactly.
#[test]
fn fragmented_nonpaged_pool() {
    let profile = testkit::profile("win7sp1-x64").unwrap();
    let mut b = KernelBuilder::new(profile).seed(5).memory_mib(16);
    for i in 0..120u64 {
        let size = 0x20 + (i % 6) * 0x30;
        b = if i % 2 == 0 {
            b.freed(b"Frag", size, PoolKind::NonPaged)
        } else {
            b.alloc(b"Keep", size, PoolKind::NonPaged)
        };
    }
    let kernel = b.build().unwrap();
    let mut out = Output::new();
    Frag.run(&session(&kernel, Container::Full), "", &mut out)
        .unwrap();
    let want = expected(&kernel);
    assert!(want.len() >= 3, "{want:?}");
    assert_eq!(rows(&out), want);
    golden("fragmented-win7sp1-x64", &render_text(&out));
}

/// A broken Flink: the walk stops there with a warning naming the address; other lists count.
#[test]
fn broken_link_is_a_warning() {
    let profile = testkit::profile("win7sp1-x64").unwrap();
    let kernel = KernelBuilder::standard(profile)
        .seed(7)
        .memory_mib(16)
        .fault(Fault::BrokenFreeListLink)
        .build()
        .unwrap();
    let mut out = Output::new();
    Frag.run(&session(&kernel, Container::Full), "", &mut out)
        .unwrap();
    assert!(
        out.warnings()
            .iter()
            .any(|w| w.contains("0x4141414141414130") && w.contains("walk stopped")),
        "{:?} {:?}",
        out.warnings(),
        kernel.manifest.faults
    );
    golden("broken-link-win7sp1-x64", &render_text(&out));
}

/// The real triage dump (19041, segment heap) and a synthetic triage container: clear errors.
#[test]
fn triage_dumps_are_clear_errors() {
    if let Some(path) = testdata::require("data/dumps/triage_x64.dmp") {
        let s = Session::open(&path, &SessionOptions::default()).unwrap();
        let mut out = Output::new();
        let e = Frag.run(&s, "", &mut out).unwrap_err().to_string();
        assert!(e.starts_with("!frag: "), "{e}");
        golden("triage_x64", &format!("error: {e}\n"));
        // With the real symbol files the heaps are located, and the answer is that their memory
        // is not in a triage dump.
        if let Some(isf) = testdata::require("data/isf") {
            let opts = SessionOptions {
                symbols: vec![isf],
                ..SessionOptions::default()
            };
            let s = Session::open(&path, &opts).unwrap();
            let mut out = Output::new();
            let e = Frag.run(&s, "", &mut out).unwrap_err().to_string();
            assert!(e.starts_with("!frag: "), "{e}");
            golden("triage_x64-symbols", &format!("error: {e}\n"));
        }
    }
    let profile = testkit::profile("win7sp1-x64").unwrap();
    let kernel = KernelBuilder::standard(profile)
        .seed(7)
        .memory_mib(16)
        .build()
        .unwrap();
    let mut out = Output::new();
    let e = Frag
        .run(&session(&kernel, Container::Triage), "", &mut out)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no nonpaged pool descriptor could be read"),
        "{e}"
    );
}

/// Segment heap with a corrupted VS chunk header and LFH bitmap bits `10`: each is a warning
/// naming its address, the corrupt chunk and block are not counted, and every other free chunk
/// and block still equals the manifest (the VS walk resynchronises right after the bad header).
#[test]
fn segment_heap_corruption_is_named_and_the_rest_counted() {
    let profile = testkit::profile("win11-21h2-x64").unwrap();
    let kernel = KernelBuilder::standard(profile)
        .seed(11)
        .memory_mib(16)
        .alloc(b"VsNp", 0x700, PoolKind::NonPagedNx)
        .freed(b"VsFr", 0x500, PoolKind::NonPagedNx)
        .alloc(b"VsN2", 0x300, PoolKind::NonPagedNx)
        .alloc(b"LfNp", 0x30, PoolKind::NonPaged)
        .fault(Fault::CorruptVsHeader { tag: *b"VsNp" })
        .fault(Fault::BadLfhBitmap { tag: *b"LfNp" })
        .build()
        .unwrap();
    let mut out = Output::new();
    Frag.run(&session(&kernel, Container::Full), "", &mut out)
        .unwrap();
    let sh = kernel.manifest.segment_heap.as_ref().unwrap();
    let bad_chunk = sh
        .vs_chunks
        .iter()
        .find(|c| c.error.is_some())
        .expect("the fault is recorded");
    let bad_block = sh
        .lfh_blocks
        .iter()
        .find(|b| b.error.is_some())
        .expect("the fault is recorded");
    assert!(bad_chunk.tag == "VsNp" && bad_block.tag == "LfNp");
    assert_eq!(segheap_rows(&out), expected_segheap(&kernel));
    let w = out.warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w.iter()
            .any(|w| w.contains(&format!("VS chunk at {:#x}", bad_chunk.chunk.0))),
        "{w:?}"
    );
    assert!(
        w.iter().any(|w| w.contains(&format!(
            "LFH block at {:#x}: BlockBitmap bits 10",
            bad_block.address.0
        ))),
        "{w:?}"
    );
    golden("segheap-faults-win11-21h2-x64", &render_text(&out));
}

/// `!frag 1` on the segment heap lists every LFH bucket present, full ones (0 free) included.
#[test]
fn segment_heap_flag_1_lists_full_buckets() {
    let profile = testkit::profile("win2022-x64").unwrap();
    // Exactly one LFH subsegment of 0x40-byte blocks (testkit: two pages, the first block at
    // 0x80 after the 0x30-byte header and the bitmap: 126 blocks), every block allocated.
    let mut b = KernelBuilder::new(profile).seed(3).memory_mib(16);
    for _ in 0..126 {
        b = b.alloc(b"Full", 0x20, PoolKind::NonPagedNx);
    }
    let kernel = b.build().unwrap();
    let s = session(&kernel, Container::Full);
    let mut plain = Output::new();
    Frag.run(&s, "", &mut plain).unwrap();
    let mut all = Output::new();
    Frag.run(&s, "1", &mut all).unwrap();
    let sh = kernel.manifest.segment_heap.as_ref().unwrap();
    let buckets: std::collections::BTreeSet<u64> = sh
        .lfh_subsegments
        .iter()
        .filter(|s| s.pool_type != "PagedPool")
        .map(|s| s.block_size.unwrap())
        .collect();
    let listed: std::collections::BTreeSet<u64> = all
        .rows()
        .iter()
        .filter(|r| r["allocator"] == "lfh")
        .map(|r| r["block_size"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, buckets);
    assert!(all.rows().len() > plain.rows().len());
    assert!(all.rows().iter().any(|r| r["fragments"] == 0));
    assert!(plain.rows().iter().all(|r| r["fragments"] != 0));
    assert_eq!(segheap_rows(&all), expected_segheap(&kernel));
    golden("segheap-flag1-win2022-x64", &render_text(&all));
}
