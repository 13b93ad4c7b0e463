//! `!pool` and `!poolfind` on the segment-heap profiles (Windows 10 2004, Server 2022, Windows 11
//! 21H2): every block listed checked field by field against `manifest.segment_heap`, a corrupted VS
//! chunk header, golden files (`POOLDBG_BLESS=1` rewrites them; review the text by reading it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{golden, json_doc, open, run, text};
use poolcmds::{pool, poolfind};
use serde_json::Value;
use testkit::Fault;

fn hexs(v: u64) -> String {
    format!("{v:#x}")
}

fn seg_profiles() -> Vec<&'static str> {
    testkit::PROFILES
        .iter()
        .filter(|p| !matches!(p.pool, testkit::profile::PoolModel::Classic))
        .map(|p| p.name)
        .collect()
}

/// One block of the manifest: (address, size, state, tag, pool type, subsegment, kind).
#[derive(Debug, Clone, PartialEq)]
struct Want {
    address: u64,
    size: u64,
    state: String,
    tag: String,
    pool_type: String,
    subsegment: u64,
    kind: &'static str,
}

fn manifest_blocks(k: &testkit::Kernel) -> BTreeMap<u64, Want> {
    let sh = k.manifest.segment_heap.as_ref().expect("segment_heap");
    let mut out = BTreeMap::new();
    for c in &sh.vs_chunks {
        out.insert(
            c.pool_header.0,
            Want {
                address: c.pool_header.0,
                size: c.size,
                state: c.state.clone(),
                tag: c.tag.clone(),
                pool_type: c.pool_type.clone(),
                subsegment: c.subsegment.0,
                kind: "vs",
            },
        );
    }
    for b in &sh.lfh_blocks {
        out.insert(
            b.address.0,
            Want {
                address: b.address.0,
                size: b.size,
                state: b.state.clone(),
                tag: b.tag.clone(),
                pool_type: b.pool_type.clone(),
                subsegment: b.subsegment.0,
                kind: "lfh",
            },
        );
    }
    out
}

/// Checks one `!pool` row against the manifest block at its address.
fn check_row(name: &str, r: &Value, want: &BTreeMap<u64, Want>) -> u64 {
    let a =
        u64::from_str_radix(r["address"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let w = want
        .get(&a)
        .unwrap_or_else(|| panic!("{name}: {a:#x} listed but not in the manifest"));
    assert_eq!(r["size"], w.size, "{name} {a:#x} size");
    assert_eq!(r["state"], w.state.as_str(), "{name} {a:#x} state");
    assert_eq!(r["kind"], w.kind, "{name} {a:#x} kind");
    assert_eq!(r["previous_size"], 0, "{name} {a:#x} previous size");
    if !w.tag.is_empty() {
        assert_eq!(r["tag"], w.tag.as_str(), "{name} {a:#x} tag");
    }
    if w.state == "allocated" {
        assert_eq!(
            r["pool_type"],
            w.pool_type.as_str(),
            "{name} {a:#x} pool type"
        );
    } else {
        assert!(r["pool_type"].is_null(), "{name} {a:#x}");
    }
    assert!(r["error"].is_null(), "{name} {a:#x}: {}", r["error"]);
    w.subsegment
}

/// The first allocated block of `kind` with `tag`.
fn victim<'a>(want: &'a BTreeMap<u64, Want>, kind: &str, tag: &str) -> &'a Want {
    want.values()
        .find(|w| w.kind == kind && w.tag == tag && w.state == "allocated")
        .unwrap_or_else(|| panic!("an allocated {kind} {tag} block"))
}

/// `!pool` on an address inside a VS block and inside an LFH block: the subsegment's blocks, each
/// as the manifest has it, exactly the manifest's blocks of that subsegment, one marked.
#[test]
fn pool_lists_the_subsegment_as_the_manifest_has_it() {
    for name in seg_profiles() {
        let (k, s) = open(name, &[]);
        let want = manifest_blocks(&k);
        for (kind, tag) in [
            ("vs", "Leak"),
            ("lfh", "Even"),
            ("vs", "Toke"),
            ("lfh", "Irp "),
        ] {
            let v = victim(&want, kind, tag);
            let inside = v.address + 0x18;
            let args = format!("{inside:x}");
            let out = run(pool::run, &s, &args).unwrap_or_else(|e| panic!("{name} {tag}: {e}"));
            let mut subs = Vec::new();
            for r in out.rows() {
                subs.push(check_row(name, r, &want));
                let a = r["address"].as_str().unwrap();
                assert_eq!(r["contains_address"], a == hexs(v.address), "{name} {a}");
            }
            assert!(
                subs.iter().all(|&x| x == v.subsegment),
                "{name} {tag}: one subsegment"
            );
            let listed: Vec<&str> = out
                .rows()
                .iter()
                .map(|r| r["address"].as_str().unwrap())
                .collect();
            let expected: Vec<String> = want
                .values()
                .filter(|w| w.subsegment == v.subsegment)
                .map(|w| hexs(w.address))
                .collect();
            assert_eq!(
                listed, expected,
                "{name} {tag}: every block of the subsegment, in order"
            );
            let sum = out.summary().unwrap();
            assert_eq!(sum["region"], "subsegment");
            assert_eq!(sum["kind"], kind);
            assert_eq!(sum["subsegment"], hexs(v.subsegment));
            assert_eq!(sum["pool_type"], v.pool_type.as_str());
            assert!(sum["first_error"].is_null());
            assert!(out.warnings().is_empty(), "{name}: {:?}", out.warnings());
            let t = text(&out);
            let marked: Vec<&str> = t.lines().filter(|l| l.starts_with('*')).collect();
            assert_eq!(marked.len(), 1, "{name} {tag}\n{t}");
            assert!(
                marked[0].starts_with(&format!(
                    "*{:016x} size: {:4x} previous size:    0  (Allocated) *{tag}",
                    v.address, v.size
                )),
                "{name}: {}",
                marked[0]
            );
            assert!(
                t.lines().nth(1).unwrap().starts_with(&format!(
                    "{} subsegment {:016x}",
                    kind.to_uppercase(),
                    v.subsegment
                )),
                "{t}"
            );
            if matches!(tag, "Leak" | "Even") {
                golden(&format!("{name}-pool-{kind}-{tag}.txt"), &t);
                golden(
                    &format!("{name}-pool-{kind}-{tag}.json"),
                    &json_doc("!pool", &args, &out),
                );
            }
            // Flag 2 with 0x80000000: the header lines and the containing block only.
            let only = run(pool::run, &s, &format!("{inside:x} 80000002")).unwrap();
            let t = text(&only);
            let lines: Vec<&str> = t.lines().collect();
            assert_eq!(lines.len(), 3, "{name}: two header lines + the block\n{t}");
            assert!(lines[2].starts_with('*'), "{name}\n{t}");
            // Flag 1: the block's contents follow it (testkit fills allocated blocks).
            let full = run(pool::run, &s, &format!("{inside:x} 1")).unwrap();
            let t = text(&full);
            let after: Vec<&str> = t.lines().skip_while(|l| !l.starts_with('*')).collect();
            assert!(
                after.len() > 2 && after[2].starts_with(&format!("    {:016x}", v.address + 16)),
                "{name}\n{t}"
            );
        }
    }
}

/// A big allocation on the segment-heap profiles is still answered from the big page table.
#[test]
fn pool_on_a_big_allocation_of_the_segment_heap() {
    for name in seg_profiles() {
        let (k, s) = open(name, &[]);
        let big = k
            .manifest
            .big_allocations
            .iter()
            .find(|b| b.tag == "TcpE" && b.state == "allocated")
            .expect("TcpE big allocation");
        let args = format!("{:x}", big.address.0 + 0x1234);
        let out = run(pool::run, &s, &args).unwrap();
        assert_eq!(out.rows().len(), 1, "{name}");
        let r = &out.rows()[0];
        assert_eq!(r["address"], hexs(big.address.0));
        assert_eq!(r["size"], big.size);
        assert_eq!(r["tag"], "TcpE");
        assert_eq!(r["pool_type"], big.pool_type.as_str());
        assert_eq!(out.summary().unwrap()["region"], "big");
        golden(&format!("{name}-pool-big.txt"), &text(&out));
    }
}

/// An address in no subsegment (the page segment's descriptor array, an unused range, outside the
/// heaps) gets a plain error, never a misread.
#[test]
fn pool_outside_any_subsegment_says_why() {
    let (k, s) = open("win10-2004-x64", &[]);
    let sh = k.manifest.segment_heap.as_ref().unwrap();
    let seg = sh.heaps[0].segments[0].0;
    let e = run(pool::run, &s, &format!("{:x}", seg + 0x100))
        .unwrap_err()
        .to_string();
    assert!(e.contains("none of its ranges"), "{e}");
    let e = run(pool::run, &s, &format!("{:x}", seg + 0xf_f000))
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds no subsegment"), "{e}");
    let e = run(pool::run, &s, "fffff80000001000")
        .unwrap_err()
        .to_string();
    assert!(e.contains("in no page segment"), "{e}");
}

/// `!poolfind` finds exactly the manifest's blocks with the tag (VS and LFH, free ones included,
/// NonPagedPool and NonPagedPoolNx for type 0) plus the live big allocations.
#[test]
fn poolfind_finds_exactly_the_manifest_blocks() {
    for name in seg_profiles() {
        let (k, s) = open(name, &[]);
        let want = manifest_blocks(&k);
        for args in ["Leak", "TcpE", "Even", "Ntfs 1", "CM31 1", "T*"] {
            let paged = args.ends_with(" 1");
            let pat = args.split(' ').next().unwrap();
            let matches = |t: &str| match pat.strip_suffix('*') {
                Some(p) => t.starts_with(p),
                None => t == pat,
            };
            let in_pool = |pt: &str| (pt == "PagedPool") == paged;
            let out = run(poolfind::run, &s, args).unwrap_or_else(|e| panic!("{name} {args}: {e}"));
            let mut expected: BTreeMap<String, (u64, String, &str)> = want
                .values()
                .filter(|w| matches(&w.tag) && in_pool(&w.pool_type))
                .map(|w| (hexs(w.address), (w.size, w.state.clone(), w.kind)))
                .collect();
            for b in &k.manifest.big_allocations {
                if matches(&b.tag) && b.state == "allocated" && in_pool(&b.pool_type) {
                    expected.insert(hexs(b.address.0), (b.size, "allocated".into(), "big"));
                }
            }
            let mut got = BTreeMap::new();
            for r in out.rows() {
                let kind = if r["source"] == "big page table" {
                    "big"
                } else {
                    r["kind"].as_str().unwrap()
                };
                let a = r["address"].as_str().unwrap().to_string();
                if kind != "big" {
                    let w = &want[&u64::from_str_radix(a.trim_start_matches("0x"), 16).unwrap()];
                    assert_eq!(r["tag"], w.tag.as_str(), "{name} {args} {a}");
                    let pt = if w.state == "allocated" {
                        Value::from(w.pool_type.as_str())
                    } else {
                        Value::Null
                    };
                    assert_eq!(r["pool_type"], pt, "{name} {args} {a}");
                }
                let prev = got.insert(
                    a.clone(),
                    (
                        r["size"].as_u64().unwrap(),
                        r["state"].as_str().unwrap().to_string(),
                        kind,
                    ),
                );
                assert!(prev.is_none(), "{name} {args}: {a} listed twice");
            }
            assert_eq!(got, expected, "{name} {args}");
            assert!(!got.is_empty(), "{name} {args}");
            let sum = out.summary().unwrap();
            assert!(sum["pool_pages_scanned"].as_u64().unwrap() > 0);
            assert!(out.warnings().is_empty(), "{name}: {:?}", out.warnings());
            if matches!(args, "TcpE" | "Ntfs 1") {
                golden(&format!("{name}-poolfind-{pat}.txt"), &text(&out));
                golden(
                    &format!("{name}-poolfind-{pat}.json"),
                    &json_doc("!poolfind", args, &out),
                );
            }
        }
    }
}

/// testkit's `corrupt_vs_header` (a chunk header claiming 0x30 bytes more): the corrupt header is
/// named with the proof (the next sound header's previous size), the walk resynchronises and every
/// other block it lists is the manifest's.
#[test]
fn corrupt_vs_header_is_named_and_the_walk_goes_on() {
    for name in seg_profiles() {
        let (k, s) = open(name, &[Fault::CorruptVsHeader { tag: *b"Leak" }]);
        let want = manifest_blocks(&k);
        let sh = k.manifest.segment_heap.as_ref().unwrap();
        let bad = sh
            .vs_chunks
            .iter()
            .find(|c| c.error.is_some())
            .expect("faulted chunk");
        let args = format!("{:x}", bad.pool_header.0 + 0x20);
        let out = run(pool::run, &s, &args).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut errors = 0;
        let mut after = 0;
        for r in out.rows() {
            let a = r["address"].as_str().unwrap();
            if a == hexs(bad.pool_header.0) {
                let e = r["error"]
                    .as_str()
                    .expect("the corrupt chunk's row has an error");
                assert!(
                    e.contains(&format!("previous size of {:#x}", bad.chunk_size)),
                    "{name}: {e}"
                );
                assert_eq!(r["contains_address"], true);
            } else if !r["error"].is_null() {
                errors += 1;
            } else {
                let sub = check_row(name, r, &want);
                assert_eq!(sub, bad.subsegment.0);
                if errors > 0 {
                    after += 1;
                }
            }
        }
        assert_eq!(errors, 1, "{name}: the garbage the bad size led to");
        assert!(
            after >= 10,
            "{name}: the walk went on ({after} blocks after)"
        );
        let t = text(&out);
        assert!(
            t.contains(&format!(
                "Bad VS chunk header @{:016x}: it claims {:#x} bytes",
                bad.chunk.0,
                bad.chunk_size + 0x30
            )),
            "{name}\n{t}"
        );
        assert!(!out.summary().unwrap()["first_error"].is_null());
        assert!(
            out.warnings().iter().any(|w| w.contains("is corrupt")),
            "{name}"
        );
        if name == "win10-2004-x64" {
            golden(&format!("{name}-pool-vs-corrupt.txt"), &t);
        }
        // !poolfind goes on too, inventing nothing.
        let out = run(poolfind::run, &s, "Leak").unwrap();
        let manifest: Vec<String> = want
            .values()
            .filter(|w| w.tag == "Leak")
            .map(|w| hexs(w.address))
            .chain(
                k.manifest
                    .big_allocations
                    .iter()
                    .filter(|b| b.tag == "Leak" && b.state == "allocated")
                    .map(|b| hexs(b.address.0)),
            )
            .collect();
        let got: Vec<&str> = out
            .rows()
            .iter()
            .map(|r| r["address"].as_str().unwrap())
            .collect();
        for g in &got {
            assert!(manifest.iter().any(|m| m == g), "{name}: {g} invented");
        }
        assert!(
            got.len() + 2 >= manifest.len(),
            "{name}: {} of {}",
            got.len(),
            manifest.len()
        );
        assert!(
            out.warnings()
                .iter()
                .any(|w| w.contains("1 subsegment(s) hold a bad block")),
            "{name}: {:?}",
            out.warnings()
        );
    }
}

/// Bytes corrupted in the dump file itself (before `Dump::from_vec`): a VS chunk header whose
/// `Allocated` byte is neither 0 nor 1 is reported at its address with why, and every other block
/// of the subsegment is still listed as the manifest has it.
#[test]
fn undecodable_vs_header_in_the_dump_bytes() {
    for name in seg_profiles() {
        let p = testkit::profile(name).unwrap();
        let k = testkit::KernelBuilder::standard(p).build().unwrap();
        let (mut bytes, _) = testkit::write_vec(
            &k,
            testkit::Container::Full,
            &testkit::WriteOptions::default(),
        )
        .unwrap();
        let sh = k.manifest.segment_heap.as_ref().unwrap();
        let want = manifest_blocks(&k);
        let c = sh
            .vs_chunks
            .iter()
            .filter(|c| c.tag == "Thre" && c.state == "allocated")
            .nth(3)
            .expect("a Thre chunk");
        let bits = (c.chunk_size / 16) << 16 | (c.previous_chunk_size / 16) << 32 | 1 << 48;
        let encoded = (bits ^ c.chunk.0 ^ sh.heap_key.0).to_le_bytes();
        let hits: Vec<usize> = bytes
            .windows(8)
            .enumerate()
            .filter(|(_, w)| *w == encoded)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "{name}: the encoded header is in the file once"
        );
        bytes[hits[0] + 6] ^= 0x5a;
        let dump = dumpfile::Dump::from_vec(bytes).unwrap();
        let s = pooldbg::session::Session::from_dump(dump, &Default::default()).unwrap();
        let victim = want
            .values()
            .find(|w| {
                w.subsegment == c.subsegment.0
                    && w.address > c.pool_header.0
                    && w.state == "allocated"
            })
            .expect("a block after it");
        let out = run(pool::run, &s, &format!("{:x}", victim.address + 0x10)).unwrap();
        let expected = want
            .values()
            .filter(|w| w.subsegment == c.subsegment.0)
            .count();
        assert_eq!(out.rows().len(), expected, "{name}: one row per chunk");
        for r in out.rows() {
            if r["address"] == hexs(c.chunk.0) {
                assert_eq!(
                    r["error"], "VS chunk Allocated field is neither 0 nor 1",
                    "{name}"
                );
            } else {
                check_row(name, r, &want);
            }
        }
        let t = text(&out);
        assert!(
            t.contains(&format!(
                "Bad VS chunk header @{:016x}: VS chunk Allocated field is neither 0 nor 1",
                c.chunk.0
            )),
            "{name}\n{t}"
        );
        assert_eq!(
            out.summary().unwrap()["first_error"]["address"],
            hexs(c.chunk.0)
        );
    }
}

/// The segment-heap metadata and subsegments of a session, as (address, bytes) regions: what the
/// mutation test corrupts.
fn capture(s: &pooldbg::session::Session) -> Vec<(u64, Vec<u8>)> {
    use plugin_sdk::TargetExt;
    let layout =
        poollayout::Layout::for_build(poollayout::Arch::X64, plugin_sdk::Target::info(s).build)
            .unwrap();
    let sl = layout.segment_heap().unwrap();
    let pool = poolcmds::segheap::read_pool(s, &layout).unwrap();
    let mut read = poolcmds::segheap::reader(s);
    let mut spans = vec![
        (
            pool.state_address,
            sl.special_heaps + 8 * sl.special_heap_count,
        ),
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
    let subs = pool.subsegments(&layout, &|_| true, &mut read);
    spans.extend(
        subs.subsegments
            .iter()
            .map(|x| (x.range.address, x.range.length as usize)),
    );
    spans
        .into_iter()
        .map(|(a, n)| {
            let mut b = vec![0u8; n];
            s.read_virtual_exact(a, &mut b).unwrap();
            (a, b)
        })
        .collect()
}

/// Random byte corruption of the segment-heap metadata and subsegments (seeded, reproducible):
/// `!pool` and `!poolfind` never panic or hang, and every block `!pool` lists lies inside the
/// subsegment it names.
#[test]
fn mutated_segment_heap_never_panics() {
    let (k, s) = open("win10-2004-x64", &[]);
    let regions = capture(&s);
    let info = plugin_sdk::Target::info(&s);
    let state = plugin_sdk::Target::symbol_address(&s, "ExPoolState")
        .unwrap()
        .value;
    let want = manifest_blocks(&k);
    let probes: Vec<u64> = want
        .values()
        .step_by(37)
        .map(|w| w.address + 0x10)
        .take(4)
        .collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..150 {
        let mut t = plugin_sdk::MemoryTarget::new(info.clone()).with_symbol(
            "ExPoolState",
            state,
            plugin_sdk::Source::EmbeddedProfile,
        );
        let mut regions = regions.clone();
        for _ in 0..1 + next() % 8 {
            let r = (next() % regions.len() as u64) as usize;
            let len = regions[r].1.len() as u64;
            // Half of the patches hit the first 0x100 bytes: the headers.
            let off = if next() % 2 == 0 {
                next() % len.min(0x100)
            } else {
                next() % len
            };
            regions[r].1[off as usize] ^= (next() % 255 + 1) as u8;
        }
        for (a, b) in &regions {
            t = t.with_virtual(*a, b);
        }
        for p in &probes {
            let mut out = plugin_sdk::Output::new();
            if pool::run(&t, &format!("{p:x}"), &mut out).is_ok() {
                let sum = out.summary().unwrap();
                let sub = u64::from_str_radix(
                    sum["subsegment"].as_str().unwrap().trim_start_matches("0x"),
                    16,
                )
                .unwrap();
                let len = sum["subsegment_size"].as_u64().unwrap();
                for r in out.rows() {
                    let a = u64::from_str_radix(
                        r["address"].as_str().unwrap().trim_start_matches("0x"),
                        16,
                    )
                    .unwrap();
                    assert!(
                        a >= sub && a < sub + len,
                        "{a:#x} outside {sub:#x}+{len:#x}"
                    );
                }
            }
        }
        for args in ["*", "* 1"] {
            let _ = poolfind::run(&t, args, &mut plugin_sdk::Output::new());
        }
    }
}

/// The scan `!poolused` falls back to (scan::scan_pages) walks the segment heap: every VS chunk and
/// LFH block of the manifest once, with its size, state and pool.
#[test]
fn scan_pages_walks_every_subsegment() {
    for name in seg_profiles() {
        let (k, s) = open(name, &[]);
        let want = manifest_blocks(&k);
        let layout = poollayout::Layout::for_build(
            poollayout::Arch::X64,
            plugin_sdk::Target::info(&s).build,
        )
        .unwrap();
        let scan = poolcmds::scan::scan_pages(&s, &layout, &[], &[], &|_| true).unwrap();
        assert_eq!(scan.blocks.len(), want.len(), "{name}");
        assert_eq!(scan.corrupt_pages, 0, "{name}");
        assert_eq!(scan.unreadable_pages, 0, "{name}");
        for b in &scan.blocks {
            let w = &want[&b.block.address];
            assert_eq!(b.block.size as u64, w.size, "{name} {:#x}", w.address);
            assert_eq!(
                b.block.state.as_str().to_lowercase(),
                w.state,
                "{name} {:#x}",
                w.address
            );
            assert_eq!(
                b.paged,
                w.pool_type == "PagedPool",
                "{name} {:#x}",
                w.address
            );
        }
        // Only the paged heaps when only a paged region is asked for.
        let paged = [poolcmds::scan::Region {
            paged: true,
            start: 0,
            end: 0,
            source: "test".into(),
            by_headers: false,
        }];
        let scan = poolcmds::scan::scan_pages(&s, &layout, &paged, &[], &|_| true).unwrap();
        let n = want.values().filter(|w| w.pool_type == "PagedPool").count();
        assert_eq!(scan.blocks.len(), n, "{name}");
    }
}

/// A kernel with testkit's `segheap_edges` on every heap (issue #18 items 1–3): VS and LFH
/// subsegments whose page range ends in a never-mapped guard page, LFH `BlockCount` smaller than
/// the range allows, free VS chunks across pages.
fn open_edges(name: &str) -> (testkit::Kernel, pooldbg::session::Session) {
    let p = testkit::profile(name).unwrap();
    let k = testkit::KernelBuilder::standard(p)
        .segheap_edges(true)
        .build()
        .unwrap();
    let (bytes, _) = testkit::write_vec(
        &k,
        testkit::Container::Full,
        &testkit::WriteOptions::default(),
    )
    .unwrap();
    let dump = dumpfile::Dump::from_vec(bytes).unwrap();
    let s = pooldbg::session::Session::from_dump(dump, &Default::default()).unwrap();
    (k, s)
}

/// The walker reads each edge case exactly, on 19041, 20348 and 22000: `!pool` on every edge
/// subsegment lists exactly the manifest's blocks of it (field by field, no warning: the guard page
/// is not part of the subsegment); an address inside a free VS chunk before the page it crosses has
/// the chunk's row; `!poolfind Edge` and the scan find every `Edge` block once.
#[test]
fn edge_subsegments_are_read_exactly() {
    use plugin_sdk::TargetExt;
    for name in seg_profiles() {
        let (k, s) = open_edges(name);
        let want = manifest_blocks(&k);
        let sh = k.manifest.segment_heap.as_ref().unwrap();
        let edges: Vec<&testkit::manifest::SubsegmentRec> = sh
            .vs_subsegments
            .iter()
            .chain(&sh.lfh_subsegments)
            .filter(|r| r.guard_page.is_some())
            .collect();
        // Each heap has one VS and two LFH edge subsegments, and the cases are there: the guard
        // page is absent from the dump, the LFH BlockCount is below the room of its pages, a free
        // VS chunk crosses a page.
        assert_eq!(edges.len(), 9, "{name}");
        let layout = poollayout::Layout::for_build(
            poollayout::Arch::X64,
            plugin_sdk::Target::info(&s).build,
        )
        .unwrap();
        let sl = layout.segment_heap().unwrap();
        for r in &edges {
            let g = r.guard_page.unwrap().0;
            assert_eq!(g, r.address.0 + r.size, "{name}");
            assert!(
                s.read_virtual_exact(g, &mut [0u8; 8]).is_err(),
                "{name} {g:#x}"
            );
            if r.kind == "lfh" {
                let mut c = [0u8; 2];
                s.read_virtual_exact(r.address.0 + sl.lfh_block_count.offset as u64, &mut c)
                    .unwrap();
                let room = (r.size - r.first_block_offset.unwrap()) / r.block_size.unwrap();
                assert_eq!(u64::from(u16::from_le_bytes(c)), r.blocks, "{name}");
                assert!(r.blocks < room, "{name}");
            }
        }
        let crossing: Vec<&testkit::manifest::VsChunkRec> = sh
            .vs_chunks
            .iter()
            .filter(|c| {
                c.state == "free"
                    && c.pool_header.0 / 0x1000 != (c.pool_header.0 + c.size - 1) / 0x1000
            })
            .collect();
        assert!(
            crossing.len() >= 9,
            "{name}: {} crossing free chunks",
            crossing.len()
        );
        for r in &edges {
            let first = want.values().find(|w| w.subsegment == r.address.0).unwrap();
            let out = run(pool::run, &s, &format!("{:x}", first.address + 0x8)).unwrap();
            assert!(
                out.warnings().is_empty(),
                "{name} {:#x}: {:?}",
                r.address.0,
                out.warnings()
            );
            let listed: Vec<u64> = out
                .rows()
                .iter()
                .map(|row| {
                    assert_eq!(check_row(name, row, &want), r.address.0);
                    u64::from_str_radix(
                        row["address"].as_str().unwrap().trim_start_matches("0x"),
                        16,
                    )
                    .unwrap()
                })
                .collect();
            let expected: Vec<u64> = want
                .values()
                .filter(|w| w.subsegment == r.address.0)
                .map(|w| w.address)
                .collect();
            assert_eq!(listed, expected, "{name} {:#x}", r.address.0);
            assert_eq!(listed.len() as u64, r.blocks, "{name}");
        }
        for c in &crossing {
            let inside = c.pool_header.0 + 0x8;
            assert!(inside / 0x1000 == c.pool_header.0 / 0x1000);
            let out = run(pool::run, &s, &format!("{inside:x} 2")).unwrap();
            let marked: Vec<&Value> = out
                .rows()
                .iter()
                .filter(|r| r["contains_address"] == true)
                .collect();
            assert_eq!(marked.len(), 1, "{name} {inside:#x}");
            assert_eq!(marked[0]["address"], hexs(c.pool_header.0), "{name}");
            assert_eq!(marked[0]["size"], c.size, "{name}");
            assert_eq!(marked[0]["state"], "free", "{name}");
        }
        // !poolfind: every Edge block of the pool asked for, once, as the manifest has it.
        for args in ["Edge", "Edge 1"] {
            let paged = args.ends_with(" 1");
            let out = run(poolfind::run, &s, args).unwrap();
            assert!(
                out.warnings().is_empty(),
                "{name} {args}: {:?}",
                out.warnings()
            );
            let got: BTreeMap<u64, (u64, String)> = out
                .rows()
                .iter()
                .map(|r| {
                    let a = u64::from_str_radix(
                        r["address"].as_str().unwrap().trim_start_matches("0x"),
                        16,
                    )
                    .unwrap();
                    (
                        a,
                        (
                            r["size"].as_u64().unwrap(),
                            r["state"].as_str().unwrap().to_string(),
                        ),
                    )
                })
                .collect();
            assert_eq!(got.len(), out.rows().len(), "{name} {args}: listed twice");
            let expected: BTreeMap<u64, (u64, String)> = want
                .values()
                .filter(|w| w.tag == "Edge" && (w.pool_type == "PagedPool") == paged)
                .map(|w| (w.address, (w.size, w.state.clone())))
                .collect();
            assert!(expected.len() > 100, "{name} {args}");
            assert_eq!(got, expected, "{name} {args}");
        }
        // The scan !poolused falls back to: every block once, nothing unreadable.
        let scan = poolcmds::scan::scan_pages(&s, &layout, &[], &[], &|_| true).unwrap();
        assert_eq!(scan.blocks.len(), want.len(), "{name}");
        assert_eq!(
            (scan.corrupt_pages, scan.unreadable_pages),
            (0, 0),
            "{name}"
        );
        for b in &scan.blocks {
            let w = &want[&b.block.address];
            assert_eq!(b.block.size as u64, w.size, "{name} {:#x}", w.address);
            assert_eq!(
                b.block.state.as_str().to_lowercase(),
                w.state,
                "{name} {:#x}",
                w.address
            );
        }
    }
}

/// A session that counts its virtual reads (each subsegment walk reads its subsegment).
struct CountingReads<'a> {
    inner: &'a pooldbg::session::Session,
    reads: std::sync::atomic::AtomicUsize,
}

impl plugin_sdk::Target for CountingReads<'_> {
    fn read_virtual(&self, r: &mut [plugin_sdk::Read<'_>]) {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.read_virtual(r)
    }
    fn read_physical(&self, r: &mut [plugin_sdk::Read<'_>]) {
        self.inner.read_physical(r)
    }
    fn symbol_address(&self, n: &str) -> Option<plugin_sdk::Sourced<u64>> {
        self.inner.symbol_address(n)
    }
    fn type_size(&self, n: &str) -> Option<plugin_sdk::Sourced<u64>> {
        self.inner.type_size(n)
    }
    fn field_offset(&self, t: &str, f: &str) -> Option<plugin_sdk::FieldOffset> {
        self.inner.field_offset(t, f)
    }
    fn info(&self) -> plugin_sdk::TargetInfo {
        self.inner.info()
    }
    fn pool_tag(&self, t: [u8; 4]) -> Option<plugin_sdk::TagInfo> {
        self.inner.pool_tag(t)
    }
    fn log(&self, l: plugin_sdk::LogLevel, m: &str) {
        self.inner.log(l, m)
    }
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// `!poolfind` on the segment heap streams (issue #21): blocks are handed on as each chunk of
/// subsegments is walked — the first arrives before the last subsegment is read — in the same
/// order whatever the chunk, the same blocks as the collecting scan.
#[test]
fn segment_heap_scan_hands_blocks_on_per_chunk_in_the_same_order() {
    use std::sync::atomic::Ordering::SeqCst;
    for name in seg_profiles() {
        let (k, s) = open(name, &[]);
        let t = CountingReads {
            inner: &s,
            reads: Default::default(),
        };
        let layout = poollayout::Layout::for_build(
            poollayout::Arch::X64,
            plugin_sdk::Target::info(&s).build,
        )
        .unwrap();
        let pool = poolcmds::segheap::read_pool(&t, &layout).unwrap();
        let all = |_: &poolcmds::segheap::Heap| true;
        let collected = poolcmds::segheap::scan(&pool, &t, &layout, &all, &|_| true).unwrap();
        assert_eq!(collected.blocks.len(), manifest_blocks(&k).len(), "{name}");
        let key = |b: &poolcmds::segheap::SegBlock| (b.block.address, b.block.size, b.subsegment);
        let want: Vec<_> = collected.blocks.iter().map(key).collect();
        for chunk in [1, 2, 256] {
            let subs = pool.subsegments(&layout, &all, &mut poolcmds::segheap::reader(&t));
            let n_subs = subs.subsegments.len();
            assert!(n_subs > 2, "{name}: {n_subs} subsegments");
            t.reads.store(0, SeqCst);
            // (block, reads done when it was handed on)
            let mut got = Vec::new();
            let s2 = poolcmds::segheap::scan_each_in_chunks(
                &pool,
                subs,
                &t,
                &layout,
                chunk,
                &|_| true,
                &mut |b| got.push((key(&b), t.reads.load(SeqCst))),
            )
            .unwrap();
            let reads_at_end = t.reads.load(SeqCst);
            assert!(s2.blocks.is_empty(), "{name}: nothing kept");
            assert_eq!(s2.subsegments, n_subs as u64, "{name}");
            assert_eq!(s2.pages, collected.pages, "{name}");
            let order: Vec<_> = got.iter().map(|g| g.0).collect();
            assert_eq!(
                order, want,
                "{name}, chunk {chunk}: same blocks, same order"
            );
            if chunk < n_subs {
                assert!(
                    got[0].1 < reads_at_end,
                    "{name}, chunk {chunk}: the first block came after all {reads_at_end} reads"
                );
            } else {
                assert_eq!(got[0].1, reads_at_end, "{name}: one chunk holds them all");
            }
        }
    }
}
